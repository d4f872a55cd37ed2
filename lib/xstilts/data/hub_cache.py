"""What a profile needs on disk, checked offline in seconds, and fetched (and locked) on a connected machine.

`missing(task_keys, model_ids)` looks only at local files: the revision lock, the `datasets` cache (a
hub dataset loaded at revision R lives in `<HF_DATASETS_CACHE>/<ns>___<name>/<config>/<version>/<R>/`,
datasets.builder `_relative_data_dir`), the hub snapshot cache for parquet-export sources and models
(`<HF_HUB_CACHE>/{datasets,models}--<ns>--<name>/snapshots/<R>/`), the release files under
`release_root()` and the CCGbank folder. `report_missing` turns the list into the message a user sees: what
is missing and the command that fetches it on a connected machine.

`prepare` is that command's body (`make data`): per source it resolves the hub commit of the branch the hub
contract names, downloads at that commit, reads every split back through the loaders' own hub path (so a
schema that drifted from the contract is caught here, not on a compute node), hashes release files, and
writes the lock. One source that fails does not stop the others; the end prints one line per source (`ok`,
`missing` with the reason, `mismatch` with the field, what the contract expects and what the hub has) and
the exit status is non-zero if any failed. Models fetch only what the loaders read: `config.json`, the
tokenizer files and the safetensors weights, or the PyTorch weights of a repository without safetensors
(said in its status line).
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from xstilts.benchmarks.languages import get_language
from xstilts.benchmarks.official import LAREQA_LANGUAGES
from xstilts.benchmarks.registry import LicenceGatedError, ccgbank_dir, check_available, get_task
from xstilts.benchmarks.sources import HUB, RELEASE, SOURCES
from xstilts.data import readers
from xstilts.data.contract import DEFAULT_CONFIG
from xstilts.data.loaders import SourceSpec, check_hub_split, export_files, export_pattern, read_hub, source_for
from xstilts.data.lock import dataset_revision, model_revision, read_lock, write_lock
from xstilts.data.schemas import SchemaError
from xstilts.files import sha256
from xstilts.progress import bar

log = logging.getLogger(__name__)
FETCH_COMMAND = "make data PROFILE=paper"


@dataclass(frozen=True)
class MissingItem:
    """One thing a profile needs that is not on this machine. `kind`: dataset, release, model, licence."""

    kind: str
    name: str
    detail: str


def _datasets_cache() -> Path:
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE)


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def needed_specs(task_keys) -> list[SourceSpec]:
    """Every source split the tasks read: English train/dev, every test language (deduplicated, in order)."""

    out: dict[tuple, SourceSpec] = {}
    for key in task_keys:
        task = get_task(key)
        wanted = [("train", "en")] + [("test", lang) for lang in task.languages]
        if task.format == "bitext_mining":  # BUCC: a sample (dev) set per language pair
            wanted += [("dev", lang) for lang in task.languages]
        else:
            wanted.append(("dev", "en"))
        for split, lang in wanted:
            if not task.refs(split, lang):
                continue
            for spec in source_for(task, split, lang):
                out.setdefault(
                    (spec.source, spec.config, spec.split, spec.language if spec.kind == RELEASE else ""), spec
                )
    return list(out.values())


def dataset_cached(dataset: str, config: str | None, revision: str) -> bool:
    """Whether `datasets.load_dataset(dataset, config, revision=revision)` can run offline from the Arrow cache
    (`<HF_DATASETS_CACHE>/<ns>___<name>/<config>/<version>/<revision>/`)."""
    ns, _, name = dataset.rpartition("/")
    folder = f"{ns}___{name}" if ns else name
    root = _datasets_cache()
    if not root.is_dir():
        return False
    want = config or DEFAULT_CONFIG
    for entry in root.iterdir():
        if entry.name.lower() != folder.lower() or not entry.is_dir():
            continue
        cfg = entry / want
        if cfg.is_dir() and any((v / revision / "dataset_info.json").is_file() for v in cfg.iterdir() if v.is_dir()):
            return True
    return False


def export_cached(dataset: str, config: str | None, split: str, revision: str) -> bool:
    """Whether the parquet files of one split of a parquet-export source are in the hub cache at `revision`."""
    snap = _hub_cache() / f"datasets--{dataset.replace('/', '--')}" / "snapshots" / revision
    return snap.is_dir() and any(snap.glob(export_pattern(config, split)))


def model_cached(model_id: str, revision: str | None) -> bool:
    snap = _hub_cache() / f"models--{model_id.replace('/', '--')}" / "snapshots"
    if revision is None or not snap.is_dir():
        return False
    return (snap / revision / "config.json").is_file()


def release_files(spec: SourceSpec, root: Path) -> list[Path]:
    """The files one release spec reads under `root`."""

    if spec.schema == "bucc2018":
        return list(readers.bucc_paths(root, spec.language, spec.split).values())
    if spec.schema == "tatoeba-laser":
        return list(readers.tatoeba_paths(root, get_language(spec.language).iso3).values())
    if spec.schema == "xquad-r":
        return [readers.xquad_r_path(root, lang) for lang in LAREQA_LANGUAGES]
    if spec.schema == "mewsli-x":
        files = [readers.mewslix_path(root, spec.config, spec.split)]
        if spec.config == "wikinews_mentions":
            files.append(readers.mewslix_path(root, "candidate_set_entities"))
        return files
    raise KeyError(f"no release layout for schema {spec.schema!r}")


def missing(task_keys, model_ids=(), *, ccgbank=None) -> list[MissingItem]:
    """Everything the tasks and models need that is not on this machine (local checks only, no network)."""

    lock = read_lock()
    items: dict[tuple[str, str], MissingItem] = {}
    for key in task_keys:
        try:
            check_available(get_task(key), ccgbank)
        except LicenceGatedError as err:
            items[("licence", key)] = MissingItem("licence", key, str(err))
    root = readers.release_root()
    for spec in needed_specs([k for k in task_keys if not get_task(k).licence_gated]):
        if spec.kind == HUB:
            name = f"{spec.dataset}" + (f" ({spec.config})" if spec.config else "")
            rev = dataset_revision(SOURCES[spec.source], lock)
            if rev is None:
                items[("dataset", name)] = MissingItem("dataset", name, "no locked revision (revisions.lock.json)")
            elif not (
                export_cached(spec.dataset, spec.config, spec.split, rev)
                if SOURCES[spec.source].parquet_export
                else dataset_cached(spec.dataset, spec.config, rev)
            ):
                where = "hub cache (parquet export)" if SOURCES[spec.source].parquet_export else "datasets cache"
                items.setdefault(("dataset", name), MissingItem("dataset", name, f"not in the {where} at {rev[:12]}"))
        elif spec.kind == RELEASE:
            for path in release_files(spec, root):
                if not path.is_file():
                    rel = str(path.relative_to(root))
                    items[("release", rel)] = MissingItem(
                        "release", rel, f"{SOURCES[spec.source].dataset} file absent under {root}"
                    )
    for model_id in model_ids:
        rev = model_revision(model_id, lock)
        if rev is None:
            items[("model", model_id)] = MissingItem("model", model_id, "no locked revision (revisions.lock.json)")
        elif not model_cached(model_id, rev):
            items[("model", model_id)] = MissingItem("model", model_id, f"no snapshot {rev[:12]} in the hub cache")
    return list(items.values())


def report_missing(items: list[MissingItem], command: str = FETCH_COMMAND) -> str:
    """The user-facing message: what is missing, grouped, and how to fetch it."""
    if not items:
        return "All data and model checkpoints the profile needs are on this machine."
    lines = [f"{len(items)} item(s) this profile needs are not on this machine:"]
    for kind in ("dataset", "release", "model", "licence"):
        group = [i for i in items if i.kind == kind]
        if group:
            lines.append(f"  {kind}s:")
            lines += [f"    - {i.name}: {i.detail}" for i in group]
    fetchable = [i for i in items if i.kind != "licence"]
    if fetchable:
        lines.append(f"Fetch them on a machine with internet access:  {command}")
        lines.append(
            "(it downloads to the Hugging Face cache and "
            f"{readers.release_root()}, and writes the revision lock); "
            "then run compute nodes with HF_HUB_OFFLINE=1."
        )
    if any(i.kind == "release" and i.name.startswith("mewsli-x") for i in items):
        lines.append(
            f"Mewsli-X has no direct download: {SOURCES['mewsli-x'].notes}; place the files under "
            f"{readers.release_root() / 'mewsli-x'}."
        )
    if any(i.kind == "licence" for i in items):
        lines.append("Licence-gated data cannot be fetched by the command above; see the licence lines.")
    return "\n".join(lines)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ).lower() in ("1", "true", "yes")


def check(task_keys, model_ids=(), *, ccgbank=None, stream=None) -> int:
    """Print the report; 0 when nothing is missing, 2 otherwise (for `make data` / phase preflight)."""
    import sys

    items = missing(task_keys, model_ids, ccgbank=ccgbank)
    print(report_missing(items), file=stream or (sys.stderr if items else sys.stdout))
    return 0 if not items else 2


# --- fetching (connected machine) -------------------------------------------------------------------------


def _download(url: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    tmp.replace(dest)
    return dest


def _fetch_release(spec: SourceSpec, root: Path) -> None:

    src = SOURCES[spec.source]
    if spec.schema == "bucc2018":
        paths = readers.bucc_paths(root, spec.language, spec.split)
        if all(p.is_file() for p in paths.values()):
            return
        archive = _download(
            src.url.format(code=spec.language, split=spec.split),
            root / "bucc2018" / f"bucc2018-{spec.language}-en.{spec.split}-gold.tar.bz2",
        )
        with tarfile.open(archive, "r:bz2") as tar:  # unpacks to bucc2018/<xx>-en/<xx>-en.<split>.*
            tar.extractall(root, filter="data")
    elif spec.schema == "tatoeba-laser":
        iso3 = get_language(spec.language).iso3
        for side, path in zip((iso3, "eng"), readers.tatoeba_paths(root, iso3).values()):
            if not path.is_file():
                _download(src.url.format(iso3=iso3, side=side), path)
    elif spec.schema == "xquad-r":
        for lang in LAREQA_LANGUAGES:
            path = readers.xquad_r_path(root, lang)
            if not path.is_file():
                _download(src.url.format(code=lang), path)
    # mewsli-x: no direct download (get-mewsli-x.sh rebuilds text from dumps); reported by `missing`.


_DATA_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".jsonl.gz", ".csv", ".tsv", ".txt", ".json.gz", ".zip", ".tar.gz")


def _script_only(files: list[str]) -> bool:
    """A hub repo whose data is produced by a top-level loading script (no data files in the repo)."""
    has_script = any(f.endswith(".py") and "/" not in f for f in files)
    has_data = any(f.endswith(_DATA_SUFFIXES) for f in files)
    return has_script and not has_data


# What the loaders read of a model repository (transformers `from_pretrained` of the config, the weights and
# the XLM-R tokenizer: tokenizer.json, or sentencepiece.bpe.model where a repository has no tokenizer.json).
MODEL_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
)
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_INDEX = "pytorch_model.bin.index.json"


def model_files(files: list[str]) -> tuple[list[str], str]:
    """The files of a model repository the loaders read (the `allow_patterns` of its download), and a note:
    the safetensors weights, or -- in a repository without them -- the PyTorch weights. Never the other
    frameworks' copies (TensorFlow, Flax, ONNX) a repository may also hold."""
    top = [f for f in files if "/" not in f]
    keep = [f for f in top if f in MODEL_FILES]
    safetensors = [f for f in top if f.endswith(".safetensors") or f == SAFETENSORS_INDEX]
    if safetensors:
        return keep + safetensors, "safetensors"
    pytorch = [f for f in top if (f.startswith("pytorch_model") and f.endswith(".bin")) or f == PYTORCH_INDEX]
    if pytorch:
        return keep + pytorch, "no safetensors in the repository: PyTorch weights " + ", ".join(pytorch)
    raise FileNotFoundError("the repository holds neither safetensors nor PyTorch weights")


OK, MISSING, MISMATCH = "ok", "missing", "mismatch"


@dataclass(frozen=True)
class SourceStatus:
    """The outcome of `make data` for one source (a `SOURCES` key), model or licence-gated task."""

    kind: str  # dataset | release | model | licence
    name: str
    status: str  # ok | missing | mismatch
    detail: str


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def _fetch_hub_source(src, specs, lock, api, resolved: dict[str, str]) -> str:
    import datasets

    rev = dataset_revision(src, lock) or resolved.get(src.dataset)
    if rev is None:
        info = api.dataset_info(src.dataset, revision=src.branch)
        if not src.parquet_export and _script_only([f.rfilename for f in info.siblings or []]):
            raise RuntimeError(
                f"{src.dataset}: its {src.branch} branch holds only a loading script, which datasets>=4 cannot "
                "run; give it `branch: refs/convert/parquet` in xstilts/data/hub_contract.yaml"
            )
        rev = resolved[src.dataset] = info.sha
        write_lock({"datasets": {src.dataset: rev}})  # locked once resolved: a later failure keeps it
    loaded: dict = {}  # one load per config prepares all its splits
    for spec in specs:
        if src.parquet_export:
            export_files(spec.dataset, spec.config, spec.split, rev, download=True)
            read_hub(spec, rev)  # the loaders' own path: features checked against the hub contract
            continue
        if spec.config not in loaded:
            loaded[spec.config] = datasets.load_dataset(spec.dataset, spec.config, revision=rev)
        check_hub_split(loaded[spec.config][spec.split], spec, rev)  # as `read_hub` checks what it loads
    configs = {s.config for s in specs}
    return f"{src.dataset}@{rev[:12]}{' (' + src.branch + ')' if src.parquet_export else ''}: {len(configs)} config(s), {len(specs)} split(s)"


def _fetch_release_source(src, specs, lock, root: Path) -> str:
    for spec in specs:
        _fetch_release(spec, root)
    files = list(dict.fromkeys(p for spec in specs for p in release_files(spec, root)))
    absent = [str(p.relative_to(root)) for p in files if not p.is_file()]
    if absent:
        hint = f"; {src.notes}" if src.key == "mewsli-x" else ""
        raise FileNotFoundError(f"{len(absent)} file(s) absent under {root}, e.g. {absent[0]}{hint}")
    hashes = {str(p.relative_to(root)): f"sha256:{sha256(p)}" for p in files}
    changed = sorted(k for k, v in hashes.items() if lock["releases"].get(k, v) != v)
    if changed:
        raise SchemaError(
            f"{len(changed)} file(s) differ from the lock (sha256), e.g. {changed[0]}: delete them to refetch, "
            "or update the lock deliberately",
            field=changed[0],
            expected=lock["releases"][changed[0]],
            found=hashes[changed[0]],
        )
    write_lock({"releases": hashes})
    return f"{len(files)} file(s) under {root}"


def _fetch_model(model_id: str, lock, api) -> str:
    from huggingface_hub import snapshot_download

    rev = model_revision(model_id, lock)
    info = api.model_info(model_id, revision=rev or "main")
    rev = rev or info.sha
    wanted, note = model_files([s.rfilename for s in info.siblings or []])
    snapshot_download(model_id, revision=rev, allow_patterns=wanted)
    write_lock({"models": {model_id: rev}})
    return f"{model_id}@{rev[:12]}: {note} ({', '.join(wanted)})"


def fetch(task_keys, model_ids=(), *, ccgbank=None) -> list[SourceStatus]:
    """Download and cache everything the tasks and models need at locked (or newly resolved and locked)
    revisions, one source at a time; returns each source's status. Needs the network."""
    from huggingface_hub import HfApi

    api = HfApi()
    root = readers.release_root()
    by_source: dict[str, list[SourceSpec]] = {}
    for spec in needed_specs([k for k in task_keys if not get_task(k).licence_gated]):
        by_source.setdefault(spec.source, []).append(spec)
    statuses, resolved = [], {}
    for key, specs in bar(list(by_source.items()), desc="sources"):
        src = SOURCES[key]
        kind = "dataset" if src.kind == HUB else "release"
        try:
            lock = read_lock()
            if src.kind == HUB:
                detail = _fetch_hub_source(src, specs, lock, api, resolved)
            else:
                detail = _fetch_release_source(src, specs, lock, root)
            statuses.append(SourceStatus(kind, key, OK, detail))
        except SchemaError as err:
            statuses.append(SourceStatus(kind, key, MISMATCH, err.summary()))
        except Exception as err:  # one source's failure (network, missing branch, ...) never stops the others
            statuses.append(SourceStatus(kind, key, MISSING, f"{src.dataset}: {_one_line(err)}"))
    for key in task_keys:
        task = get_task(key)
        if task.licence_gated:
            try:
                check_available(task, ccgbank)
                statuses.append(SourceStatus("licence", key, OK, f"local folder {ccgbank_dir(ccgbank)}"))
            except LicenceGatedError as err:
                statuses.append(SourceStatus("licence", key, MISSING, _one_line(err)))
    for model_id in bar(list(model_ids), desc="models"):
        try:
            statuses.append(SourceStatus("model", model_id, OK, _fetch_model(model_id, read_lock(), api)))
        except Exception as err:
            statuses.append(SourceStatus("model", model_id, MISSING, _one_line(err)))
    return statuses


def report_statuses(statuses: list[SourceStatus]) -> str:
    """One line per source: `ok`, `missing` (why) or `mismatch` (field: expected vs found); then the tally."""
    width = max((len(s.name) for s in statuses), default=0)
    lines = [f"make data: {len(statuses)} source(s) and model(s)"]
    lines += [f"  {s.status:<8}  {s.kind:<7}  {s.name:<{width}}  {s.detail}" for s in statuses]
    failed = [s for s in statuses if s.status != OK]
    lines.append(
        f"{len(failed)} of {len(statuses)} failed: {', '.join(s.name for s in failed)}" if failed else "all ok"
    )
    return "\n".join(lines)


def hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the hub endpoint answers at all (a TCP connect, a few seconds at most); False under
    HF_HUB_OFFLINE. The endpoint is `HF_ENDPOINT` (huggingface.co, a mirror, or the rehearsal's fixture hub)."""
    if offline():
        return False
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def prepare(task_keys, model_ids=(), *, ccgbank=None, stream=None) -> int:
    """The body of `make data PROFILE=...`: fetch and lock when the hub is reachable, one source at a time,
    then print each source's status; offline, report exactly what is missing and how to fetch it. Returns 0
    when every source is ok and nothing is missing, else 2; never raises for a missing network."""
    import sys

    out = stream or sys.stderr
    if not hub_reachable():
        items = missing(task_keys, model_ids, ccgbank=ccgbank)
        if items:
            print("Offline (HF_HUB_OFFLINE=1 or the hub is unreachable): nothing can be fetched here.", file=out)
        print(report_missing(items), file=out if items else (stream or sys.stdout))
        return 2 if items else 0
    statuses = fetch(task_keys, model_ids, ccgbank=ccgbank)
    failed = any(s.status != OK for s in statuses)
    print(report_statuses(statuses), file=out if failed else (stream or sys.stdout))
    items = missing(task_keys, model_ids, ccgbank=ccgbank)
    if items and failed:
        print(report_missing(items), file=out)
    return 2 if failed or items else 0


def resolve_model(model_id: str, revision: str | None = None) -> Path:
    """The local snapshot folder of a hub model at its pinned (profile) or locked revision, offline.
    Absent or unlocked: a RuntimeError whose message is `report_missing`'s (what, and how to fetch it).

    `make data` fetched only `model_files` of the repository; offline, huggingface_hub 2.4 compares a snapshot
    with the repository's tree it cached at download and calls it incomplete unless the same `allow_patterns`
    are asked for (huggingface_hub _snapshot_download.py `_raise_if_incomplete_snapshot`), so they are."""
    rev = revision or model_revision(model_id)
    if rev is None:
        raise RuntimeError(report_missing([MissingItem("model", model_id, "no locked revision (revisions.lock.json)")]))
    from huggingface_hub import get_cached_repo_tree, snapshot_download

    try:
        patterns, _ = model_files([f.path for f in get_cached_repo_tree(model_id, revision=rev)])
    except Exception:  # no tree cached (a snapshot not written by huggingface_hub >= 2.4): take it as it is
        patterns = None
    try:
        return Path(snapshot_download(model_id, revision=rev, allow_patterns=patterns, local_files_only=True))
    except Exception as err:  # LocalEntryNotFoundError and friends: not in the cache
        raise RuntimeError(
            report_missing(
                [MissingItem("model", model_id, f"no snapshot {rev[:12]} in the hub cache ({type(err).__name__})")]
            )
        ) from None
