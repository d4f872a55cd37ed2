"""What a profile needs on disk, checked offline in seconds, and fetched (and locked) on a connected machine.

`missing(task_keys, model_ids)` looks only at local files: the revision lock, the `datasets` cache (a
hub dataset loaded at revision R lives in `<HF_DATASETS_CACHE>/<ns>___<name>/<config>/<version>/<R>/`,
datasets.builder `_relative_data_dir`), the hub snapshot cache for models
(`<HF_HUB_CACHE>/models--<ns>--<name>/snapshots/<R>/`), the release files under `release_root()` and
the CCGbank folder. `report_missing` turns the list into the message a user sees: what is missing and the
command that fetches it on a connected machine. `prepare` is that command's body: it resolves each hub
commit, downloads at that commit, hashes release files, and writes the lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from xstilts.benchmarks.languages import get_language
from xstilts.benchmarks.official import LAREQA_LANGUAGES
from xstilts.benchmarks.registry import LicenceGatedError, check_available, get_task
from xstilts.benchmarks.sources import HUB, LOCAL, RELEASE, SOURCES
from xstilts.data import readers
from xstilts.data.loaders import DEFAULT_CONFIG, SourceSpec, source_for
from xstilts.data.lock import dataset_revision, model_revision, read_lock, write_lock
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


def dataset_cached(dataset: str, config: str | None, revision: str, *, data_dir: bool = False) -> bool:
    """Whether `datasets.load_dataset` of this config at `revision` can run offline from the cache. A
    parquet-export load (`data_dir=<config>`) caches under a config id suffixed `data_dir=<config>`."""
    from urllib.parse import quote_plus

    ns, _, name = dataset.rpartition("/")
    folder = f"{ns}___{name}" if ns else name
    root = _datasets_cache()
    if not root.is_dir():
        return False
    want = config or DEFAULT_CONFIG
    for entry in root.iterdir():
        if entry.name.lower() != folder.lower() or not entry.is_dir():
            continue
        for cfg in entry.iterdir():
            match = (f"data_dir={quote_plus(want)}" in cfg.name) if data_dir else cfg.name == want
            if match and cfg.is_dir() and any((v / revision).is_dir() for v in cfg.iterdir() if v.is_dir()):
                return True
    return False


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
            elif not dataset_cached(spec.dataset, spec.config, rev, data_dir=SOURCES[spec.source].parquet_export):
                items.setdefault(
                    ("dataset", name), MissingItem("dataset", name, f"not in the datasets cache at revision {rev[:12]}")
                )
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


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


def fetch(task_keys, model_ids=(), *, ccgbank=None) -> list[MissingItem]:
    """Download and cache everything the tasks and models need, at locked (or newly resolved and locked)
    revisions; returns what is still missing afterwards (licence-gated data, Mewsli-X). Needs the network."""
    import datasets
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi()
    lock = read_lock()
    new: dict[str, dict[str, str]] = {"datasets": {}, "models": {}, "releases": {}}
    root = readers.release_root()
    specs = needed_specs([k for k in task_keys if not get_task(k).licence_gated])
    for spec in bar(specs, desc="datasets"):
        if spec.kind == HUB:
            src = SOURCES[spec.source]
            rev = dataset_revision(src, lock) or new["datasets"].get(src.dataset)
            if rev is None:
                info = api.dataset_info(src.dataset, revision=src.branch)
                if not src.parquet_export and _script_only([f.rfilename for f in info.siblings or []]):
                    raise RuntimeError(
                        f"{src.dataset}: its {src.branch} branch holds only a loading script, which datasets>=4 "
                        f"cannot run; set branch=PARQUET_EXPORT for source {src.key!r} in xstilts/data/sources.py"
                    )
                rev = info.sha
                new["datasets"][src.dataset] = rev
            if src.parquet_export:
                datasets.load_dataset(
                    spec.dataset, data_dir=spec.config or DEFAULT_CONFIG, split=spec.split, revision=rev
                )
            else:
                datasets.load_dataset(spec.dataset, spec.config, split=spec.split, revision=rev)
        elif spec.kind == RELEASE:
            _fetch_release(spec, root)
            for path in release_files(spec, root):
                if path.is_file():
                    new["releases"][str(path.relative_to(root))] = _sha256(path)
        elif spec.kind == LOCAL:
            continue
    for model_id in bar(list(model_ids), desc="models"):
        rev = model_revision(model_id, lock) or api.model_info(model_id).sha
        new["models"][model_id] = rev
        snapshot_download(model_id, revision=rev)
    locked_releases = lock["releases"]
    changed = {k: v for k, v in new["releases"].items() if k in locked_releases and locked_releases[k] != v}
    if changed:
        raise RuntimeError(
            f"release files differ from the lock (sha256): {sorted(changed)}; delete them to refetch "
            "or update the lock deliberately"
        )
    write_lock(new)
    return missing(task_keys, model_ids, ccgbank=ccgbank)


def hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the hub answers at all (a TCP connect, a few seconds at most); False under HF_HUB_OFFLINE."""
    if offline():
        return False
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the network failed" across urllib, requests, httpx and huggingface_hub."""
    errors: list[type[BaseException]] = [OSError]
    try:
        import httpx

        errors.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover
        pass
    from huggingface_hub import errors as hf_errors

    errors += [hf_errors.HfHubHTTPError, hf_errors.OfflineModeIsEnabled]
    return tuple(errors)


def prepare(task_keys, model_ids=(), *, ccgbank=None, stream=None) -> int:
    """The body of `make data PROFILE=...`: fetch and lock when the hub is reachable, otherwise (or when a
    download fails) report exactly what is missing and how to fetch it. Returns 0 when complete, else 2;
    never raises for a missing network."""
    import sys

    out = stream or sys.stderr
    if not hub_reachable():
        items = missing(task_keys, model_ids, ccgbank=ccgbank)
        if items:
            print("Offline (HF_HUB_OFFLINE=1 or the hub is unreachable): nothing can be fetched here.", file=out)
        print(report_missing(items), file=out if items else (stream or sys.stdout))
        return 2 if items else 0
    try:
        items = fetch(task_keys, model_ids, ccgbank=ccgbank)
    except _network_errors() as err:  # network dropped mid-way
        items = missing(task_keys, model_ids, ccgbank=ccgbank)
        print(f"Fetching stopped: {err}", file=out)
    print(report_missing(items), file=out if items else (stream or sys.stdout))
    return 2 if items else 0


def resolve_model(model_id: str, revision: str | None = None) -> Path:
    """The local snapshot folder of a hub model at its pinned (profile) or locked revision, offline.
    Absent or unlocked: a RuntimeError whose message is `report_missing`'s (what, and how to fetch it)."""
    rev = revision or model_revision(model_id)
    if rev is None:
        raise RuntimeError(report_missing([MissingItem("model", model_id, "no locked revision (revisions.lock.json)")]))
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, revision=rev, local_files_only=True))
    except Exception as err:  # LocalEntryNotFoundError and friends: not in the cache
        raise RuntimeError(
            report_missing(
                [MissingItem("model", model_id, f"no snapshot {rev[:12]} in the hub cache ({type(err).__name__})")]
            )
        ) from None
