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
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

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
