"""A local stand-in for the Hugging Face hub: repositories written to a folder, served over HTTP on 127.0.0.1.

The rehearsal (docs/rehearsal.md) fills a real `HF_HOME` the way a connected machine does: `make data`
runs the project's own fetch (`xstilts.data.hub_cache.fetch`: `HfApi.dataset_info`, `datasets.load_dataset`,
`snapshot_download`) with `HF_ENDPOINT` pointing here. Everything the clients keep (the hub cache's
`refs/`, `snapshots/<commit>/`, `blobs/`; the `datasets` Arrow cache) is then written by `huggingface_hub`
and `datasets` themselves, never by this module, so an offline run reads exactly what it would read after
`make data` against huggingface.co.

Storage: `<root>/<datasets|models>/<org>/<name>/refs.json` maps branch names (`main`,
`refs/convert/parquet`) to commit ids; `<root>/.../<name>/<commit>/` holds that commit's files. A commit id
is the sha1 of its branch name and its files' git blob ids, so regenerating the same content gives the same
commits (and the same revision lock).

The server answers the requests these clients make (huggingface_hub 2.4 `hf_api.py`, `file_download.py`,
`hf_file_system.py`; datasets 5.2 `load.py`): `GET /api/{datasets|models}/{repo}[/revision/{rev}]`,
`GET /api/.../tree/{rev}[/{path}]`, `POST /api/.../paths-info/{rev}`, `HEAD|GET /[datasets/]{repo}/resolve/
{rev}/{path}` with the `X-Repo-Commit`, `ETag`/`X-Linked-Etag` and size headers, and the hub's `X-Error-Code`
on a missing repo, revision or file. Large-file (LFS) entries are those the hub stores in LFS: parquet,
safetensors, PyTorch and other binary weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml
from datasets import Dataset, DatasetInfo, disable_progress_bars

from xstilts.benchmarks.languages import get_language
from xstilts.benchmarks.official import LAREQA_LANGUAGES
from xstilts.benchmarks.registry import get_task
from xstilts.benchmarks.sources import HUB, SOURCES
from xstilts.data import fixture_rows
from xstilts.data.contract import DEFAULT_CONFIG, PARQUET_EXPORT, config_families, config_splits, repo_entry
from xstilts.data.schemas import config_features
from xstilts.data.writers import write_source

REFS = "refs.json"
LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".h5", ".msgpack", ".onnx", ".model", ".arrow")
REPO_TYPES = {"datasets": "dataset", "models": "model"}


def git_blob_id(data: bytes) -> str:
    """The git object id of a file (`git hash-object`): what the hub reports as a file's `oid`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def repo_dir(root: Path | str, repo_type: str, repo_id: str) -> Path:
    return Path(root) / f"{repo_type}s" / repo_id


def write_repo(root: Path | str, repo_type: str, repo_id: str, branches: dict[str, dict[str, bytes]]) -> dict[str, str]:
    """Write one repository: `branches` maps a branch name to its files (path -> bytes). Returns the commit
    id of each branch. An existing repository of that id is replaced."""
    base = repo_dir(root, repo_type, repo_id)
    if base.exists():
        shutil.rmtree(base)
    refs = {}
    for branch, files in branches.items():
        digest = hashlib.sha1(branch.encode())
        for path in sorted(files):
            digest.update(f"{path}\0{git_blob_id(files[path])}\n".encode())
        commit = digest.hexdigest()
        refs[branch] = commit
        for path, data in files.items():
            out = base / commit / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
    base.mkdir(parents=True, exist_ok=True)
    (base / REFS).write_text(json.dumps(refs, indent=1, sort_keys=True) + "\n")
    return refs


class _Repo:
    def __init__(self, path: Path, repo_type: str, repo_id: str):
        self.path, self.repo_type, self.repo_id = path, repo_type, repo_id
        self.refs = json.loads((path / REFS).read_text())

    def commit(self, revision: str) -> str | None:
        revision = unquote(revision)
        if revision in self.refs:
            return self.refs[revision]
        return revision if len(revision) == 40 and (self.path / revision).is_dir() else None

    def files(self, commit: str) -> list[str]:
        base = self.path / commit
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    def entry(self, commit: str, path: str) -> dict | None:
        full = self.path / commit / path
        if full.is_dir():
            return {"type": "directory", "path": path, "oid": git_blob_id(path.encode()), "size": 0}
        if not full.is_file():
            return None
        data = full.read_bytes()
        out = {"type": "file", "path": path, "oid": git_blob_id(data), "size": len(data)}
        if _is_lfs(path):
            out["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return out


class _Handler(BaseHTTPRequestHandler):
    server_version = "xstilts-fixture-hub/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the clients report what matters
        pass

    # --- helpers -------------------------------------------------------------------------------------

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, obj, head: bool = False) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"}, head)

    def _error(self, code: int, error: str, message: str, head: bool = False) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(
            code, body, {"X-Error-Code": error, "X-Error-Message": message, "Content-Type": "application/json"}, head
        )

    def _repo(self, kind: str, parts: list[str]) -> tuple[_Repo | None, list[str]]:
        """The repository named by the first one or two path parts (org/name, or a bare name)."""
        root: Path = self.server.root  # type: ignore[attr-defined]
        for n in (2, 1):
            if len(parts) >= n:
                repo_id = "/".join(parts[:n])
                path = root / kind / repo_id
                if (path / REFS).is_file():
                    return _Repo(path, REPO_TYPES[kind], repo_id), parts[n:]
        return None, parts

    # --- routes --------------------------------------------------------------------------------------

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if len(parts) > 3 and parts[0] == "api" and parts[1] in REPO_TYPES and "paths-info" in parts:
            i = parts.index("paths-info")
            repo, _ = self._repo(parts[1], parts[2:i])
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            commit = repo.commit("/".join(parts[i + 1 :]))
            if commit is None:
                return self._error(404, "RevisionNotFound", "Revision not found")
            if self.headers.get("Content-Type", "").startswith("application/json"):
                paths = json.loads(body or "{}").get("paths", [])
            else:
                paths = parse_qs(body).get("paths", [])
            entries = [e for e in (repo.entry(commit, p.strip("/")) for p in paths) if e]
            return self._json(entries)
        self._error(404, "RepoNotFound", "Not found")

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        if parts and parts[0] == "api" and len(parts) > 2 and parts[1] in REPO_TYPES:
            return self._api(parts[1], parts[2:], parse_qs(url.query), head)
        kind = "datasets" if parts and parts[0] == "datasets" else "models"
        rest = parts[1:] if kind == "datasets" else parts
        if "resolve" in rest:
            i = rest.index("resolve")
            repo, _ = self._repo(kind, rest[:i])
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found", head)
            return self._resolve(repo, rest[i + 1 :], head)
        self._error(404, "RepoNotFound", "Not found", head)

    def _api(self, kind: str, parts: list[str], query: dict, head: bool) -> None:
        repo, rest = self._repo(kind, parts)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found", head)
        if not rest or rest[0] == "revision":
            commit = repo.commit("/".join(rest[1:]) if rest else "main")
            if commit is None:
                return self._error(404, "RevisionNotFound", "Revision not found", head)
            siblings = []
            for path in repo.files(commit):
                entry = repo.entry(commit, path)
                sib = {"rfilename": path, "size": entry["size"], "blobId": entry["oid"]}
                if "lfs" in entry:
                    sib["lfs"] = {"size": entry["size"], "sha256": entry["lfs"]["oid"], "pointerSize": 134}
                siblings.append(sib)
            return self._json(
                {
                    "id": repo.repo_id,
                    "sha": commit,
                    "private": False,
                    "gated": False,
                    "disabled": False,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                    "siblings": siblings,
                },
                head,
            )
        if rest[0] == "tree":
            # /tree/{rev}[/{path}]: the revision is URL-quoted as one segment (refs%2Fconvert%2Fparquet)
            commit = repo.commit(rest[1]) if len(rest) > 1 else None
            if commit is None:
                return self._error(404, "RevisionNotFound", "Revision not found", head)
            prefix = "/".join(rest[2:]).strip("/")
            base = repo.path / commit / prefix
            if not base.is_dir():
                return self._error(404, "EntryNotFound", f"{prefix} does not exist", head)
            recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
            children = sorted(base.rglob("*") if recursive else base.iterdir())
            rel = [c.relative_to(repo.path / commit).as_posix() for c in children]
            return self._json([repo.entry(commit, p) for p in rel], head)
        self._error(404, "RepoNotFound", "Not found", head)

    def _resolve(self, repo: _Repo, rest: list[str], head: bool) -> None:
        if not rest:
            return self._error(404, "EntryNotFound", "no file", head)
        # the revision is one quoted segment; a branch name with slashes arrives already split: try each prefix
        for n in range(len(rest) - 1, 0, -1):
            commit = repo.commit("/".join(rest[:n]))
            if commit is not None:
                path = "/".join(rest[n:])
                break
        else:
            return self._error(404, "RevisionNotFound", "Revision not found", head)
        entry = repo.entry(commit, path)
        if entry is None or entry["type"] != "file":
            return self._error(404, "EntryNotFound", f"{path} does not exist at {commit}", head)
        data = (repo.path / commit / path).read_bytes()
        headers = {"X-Repo-Commit": commit, "ETag": f'"{entry["oid"]}"', "Accept-Ranges": "bytes"}
        if "lfs" in entry:
            headers["X-Linked-Etag"] = f'"{entry["lfs"]["oid"]}"'
            headers["X-Linked-Size"] = str(len(data))
        code, body = 200, data
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            lo, _, hi = rng[6:].partition("-")
            start = int(lo) if lo else max(0, len(data) - int(hi))
            end = int(hi) if (hi and lo) else len(data) - 1
            body = data[start : end + 1]
            code = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        self._send(code, body, headers, head)


@contextlib.contextmanager
def serve(root: Path | str):
    """Serve the repositories under `root` on 127.0.0.1 (a free port); yields the endpoint URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.root = Path(root)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="fixture-hub", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- the rehearsal's hub: every source of the registry, four tiny checkpoints, the release files -----------

ORG = "xstilts-rehearsal"
# Size slot -> (hub id, shape, pre-LayerNorm XL class?, weights): one tiny checkpoint per slot of the paper's
# ladder, widths rising so the parameter counts do; the XL slots on the XLMRobertaXL classes. The xxl repo
# holds PyTorch weights only, so `make data` takes its fallback path (hub_cache.model_files).
MODELS = {
    "base": (f"{ORG}/xlm-roberta-base-tiny", {"layers": 2, "hidden": 16, "heads": 2, "ffn": 32}, False, "both"),
    "large": (f"{ORG}/xlm-roberta-large-tiny", {"layers": 3, "hidden": 24, "heads": 2, "ffn": 48}, False, "both"),
    "xl": (f"{ORG}/xlm-roberta-xl-tiny", {"layers": 3, "hidden": 32, "heads": 4, "ffn": 64}, True, "both"),
    "xxl": (f"{ORG}/xlm-roberta-xxl-tiny", {"layers": 4, "hidden": 48, "heads": 4, "ffn": 96}, True, "pytorch"),
}
TOKENIZER_VOCAB = 2000
# Other frameworks' copies the real XLM-R repositories also hold: `make data` must not fetch them.
DECOYS = {
    "tf_model.h5": b"TensorFlow weights: never read by the loaders\n",
    "flax_model.msgpack": b"Flax weights: never read by the loaders\n",
    "onnx/model.onnx": b"ONNX export: never read by the loaders\n",
}
WRITTEN = "written.json"  # {dataset: {config: {split: rows}}}: what the fixture repos hold, for read-back tests
MANIFEST = "manifest.json"


def _parquet(rows: list[dict], features) -> tuple[bytes, int]:
    """The parquet file of `rows` as datasets writes it (the features in the schema metadata), and the
    split's size in Arrow bytes (the card's `num_bytes`)."""
    buf = io.BytesIO()
    ds = Dataset.from_list(rows, features=features)
    ds.to_parquet(buf)
    return buf.getvalue(), ds.data.nbytes


def _card(infos: list[dict], configs: list[dict] | None) -> bytes:
    meta = {}
    if configs:
        meta["configs"] = configs
    meta["dataset_info"] = infos if len(infos) > 1 else {k: v for k, v in infos[0].items() if k != "config_name"}
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return (
        f"---\n{head}---\n\n# Fixture repository\n\nGenerated by xstilts.data.fixture_hub for the rehearsal.\n".encode()
    )


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def build_datasets(root: Path) -> dict:
    """Write every hub repository the sources read, as the contract describes it; returns the rows written."""
    written: dict = {}
    for dataset in sorted({s.dataset for s in SOURCES.values() if s.kind == HUB}):
        entry = repo_entry(dataset)
        data_files, infos, configs = {}, [], []
        for config, family in config_families(dataset).items():
            if not family.get("schema"):
                continue
            features = config_features(dataset, config)
            splits = config_splits(dataset, config)
            per_split, sizes = {}, {}
            for split in splits:
                per_split[split] = fixture_rows.rows(
                    family["schema"], dataset, None if config == DEFAULT_CONFIG else config, split
                )
                folder = config if config != DEFAULT_CONFIG or entry["branch"] == PARQUET_EXPORT else "data"
                if entry["branch"] == PARQUET_EXPORT:
                    path = f"{folder}/{split}/0000.parquet"
                else:
                    path = f"{folder}/{split}-00000-of-00001.parquet"
                data_files[path], sizes[split] = _parquet(per_split[split], features)
            written.setdefault(dataset, {})[config] = per_split
            info = DatasetInfo(features=features)._to_yaml_dict()
            info = {
                "config_name": config,
                **info,
                "splits": [{"name": s, "num_bytes": sizes[s], "num_examples": len(per_split[s])} for s in splits],
            }
            infos.append(info)
            folder = config if config != DEFAULT_CONFIG else "data"
            configs.append(
                {"config_name": config, "data_files": [{"split": s, "path": f"{folder}/{s}-*"} for s in splits]}
            )
        if entry["branch"] == PARQUET_EXPORT:  # main: a loading script; the data on the export branch
            script = dataset.split("/")[-1] + ".py"
            main = {
                "README.md": _card(infos, None),
                script: b"# A loading script (fixture stand-in): datasets>=4 refuses to run it.\n",
            }
            export = {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", **data_files}
            write_repo(root, "dataset", dataset, {"main": main, PARQUET_EXPORT: export})
        else:
            write_repo(root, "dataset", dataset, {"main": {"README.md": _card(infos, configs), **data_files}})
    return written


def build_releases(out: Path) -> list[str]:
    """The release files under `out/releases` (as `release_root()` lays them out) and the CCGbank stand-in
    under `out/ccgbank` (`{train,dev,test}.tsv`); returns their text (the tokenizer's corpus)."""
    texts: list[str] = []
    releases = out / "releases"
    for code in get_task("xtreme.bucc2018").languages:
        for split in SOURCES["bucc2018"].splits:
            rec = fixture_rows.bucc_records(code, split)
            write_source(releases, "bucc2018", f"{code}-en", split, rec)
            texts += [s for _, s in rec["source"] + rec["target"]]
    tatoeba = get_task("xtreme-r.tatoeba")
    for code in tatoeba.languages:
        if any(r.source == "tatoeba-laser" for r in tatoeba.refs("test", code)):
            rec = fixture_rows.tatoeba_records(get_language(code).iso3)
            write_source(releases, "tatoeba-laser", get_language(code).iso3, "test", rec)
            texts += list(_strings(rec))
    for code in LAREQA_LANGUAGES:
        articles = fixture_rows.xquad_r_articles(code)
        write_source(releases, "xquad-r", code, "test", articles)
        texts += list(_strings(articles))
    for (config, split), records in fixture_rows.mewslix_records(get_task("xtreme-r.mewslix").languages).items():
        write_source(releases, "mewsli-x", config, split, records)
        texts += list(_strings(records))
    for split in SOURCES["ccgbank"].splits:
        records = fixture_rows.ccgbank_records(split)
        write_source(out, "ccgbank", None, split, records)  # -> out/ccgbank/<split>.tsv
        texts += list(_strings(records))
    return texts


def build_models(root: Path, corpus: Path, work: Path) -> dict:
    """The four tiny checkpoints, with one XLM-R-format tokenizer trained on the fixture text."""
    from xstilts.engine.tokenizer import train_tokenizer
    from xstilts.engine.toydata import make_hub_checkpoint

    train_tokenizer([corpus], TOKENIZER_VOCAB, work / "tokenizer", model="unigram")
    out = {}
    for slot, (repo_id, arch, xl, weights) in MODELS.items():
        folder = work / slot
        info = make_hub_checkpoint(
            folder, arch, work / "tokenizer", xl=xl, seed=len(out), safetensors=weights != "pytorch", pytorch=True
        )
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        if weights != "pytorch":
            files.update(DECOYS)
        files["README.md"] = f"# {repo_id}\n\nA randomly initialised {info['class']} for the rehearsal.\n".encode()
        out[slot] = {"hub": repo_id, **info, "commit": write_repo(root, "model", repo_id, {"main": files})["main"]}
    return out


def build(out: Path | str) -> dict:
    """The whole fixture hub under `out`: `hub/` (the repositories `serve` answers for), `releases/` (the
    release root), `ccgbank/` (the licence-gated stand-in), `written.json` and `manifest.json`."""
    disable_progress_bars()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = build_datasets(out / "hub")
    texts = list(_strings(written)) + build_releases(out)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(t.strip() for t in texts if t.strip()) + "\n", encoding="utf-8")
        models = build_models(out / "hub", corpus, Path(tmp))
    (out / WRITTEN).write_text(json.dumps(written, ensure_ascii=False))
    manifest = {"models": models, "datasets": sorted(written)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def serve_and_run(hub: Path | str, command: list[str]) -> int:
    """Run `command` (e.g. `xstilts data rehearsal`) against the fixture hub served at a local endpoint: the
    child sees HF_ENDPOINT pointing here and the hub online; everything else of its environment is kept."""
    with serve(hub) as endpoint:
        env = {
            **os.environ,
            "HF_ENDPOINT": endpoint,
            "HF_HUB_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
            "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets would otherwise ping its S3 bucket
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        return subprocess.call(command, env=env)
