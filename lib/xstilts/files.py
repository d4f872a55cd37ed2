"""Atomic file writes (a reader sees the old file or the new one, never half of one) and file hashes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to a temporary file beside `path`, then rename it over `path` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def atomic_write_json(path: str | os.PathLike, obj, **dump_kw) -> Path:
    """`obj` as indented, key-sorted JSON (ASCII-safe defaults for anything not serialisable)."""
    dump_kw = {"indent": 2, "sort_keys": True, "default": str, **dump_kw}
    return atomic_write_text(path, json.dumps(obj, **dump_kw) + "\n")


def atomic_write_dir(path: str | os.PathLike, fill) -> Path:
    """Build a folder with `fill(tmp_dir)` in a temporary folder beside `path`, then rename it into place.

    If another process put `path` in place first, its folder is kept and ours is discarded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        fill(tmp)
        try:
            os.replace(tmp, path)
        except OSError:  # a non-empty folder is already there: another writer won
            pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
