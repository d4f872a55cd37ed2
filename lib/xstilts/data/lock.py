"""The revision lock: which hub commit of every dataset and model, and which bytes of every release file.

Like a package lock: `make data` (xstilts.data.hub_cache.prepare) on a connected machine resolves the hub
commit of each dataset/model it fetches and the sha256 of each release file, and writes them here; every
later hub load passes the locked commit as `revision=` and fails clearly when a source is not locked.
Never an invented hash: entries are only ever written from what the hub or the file returned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from xstilts.benchmarks.sources import LOCKED, Source
from xstilts.files import atomic_write_text

LOCK_ENV = "XSTILTS_LOCK"
_DEFAULT = Path(__file__).with_name("revisions.lock.json")
SECTIONS = ("datasets", "models", "releases")


class RevisionNotLocked(RuntimeError):
    """A hub source or model has no locked revision yet."""


def lock_path() -> Path:
    """$XSTILTS_LOCK (tests, alternative locks), else lib/xstilts/data/revisions.lock.json."""
    env = os.environ.get(LOCK_ENV)
    return Path(env) if env else _DEFAULT


def read_lock(path: Path | None = None) -> dict:
    path = path or lock_path()
    if not path.is_file():
        return {s: {} for s in SECTIONS}
    data = json.loads(path.read_text(encoding="utf-8"))
    for s in SECTIONS:
        data.setdefault(s, {})
    return data


def write_lock(updates: dict[str, dict[str, str]], path: Path | None = None) -> Path:
    """Merge `updates` ({section: {name: revision}}) into the lock and write it sorted (stable diffs)."""
    path = path or lock_path()
    data = read_lock(path)
    for section, entries in updates.items():
        if section not in SECTIONS:
            raise KeyError(f"unknown lock section {section!r}; expected one of {SECTIONS}")
        data[section].update(entries)
    out = {
        "comment": "written by `make data` (xstilts.data.hub_cache.prepare); do not edit by hand",
        **{s: dict(sorted(data[s].items())) for s in SECTIONS},
    }
    return atomic_write_text(path, json.dumps(out, indent=2, ensure_ascii=False) + "\n")


def dataset_revision(source: Source, lock: dict | None = None) -> str | None:
    """The pinned or locked hub commit of a source; None when it still has to be locked."""
    if source.revision != LOCKED:
        return source.revision
    return (lock if lock is not None else read_lock())["datasets"].get(source.dataset)


def model_revision(model_id: str, lock: dict | None = None) -> str | None:
    return (lock if lock is not None else read_lock())["models"].get(model_id)


def require_dataset_revision(source: Source) -> str:
    rev = dataset_revision(source)
    if rev is None:
        raise RevisionNotLocked(
            f"hub dataset {source.dataset} (source {source.key!r}) has no locked revision in {lock_path()}; "
            "run `make data PROFILE=paper` on a connected machine to resolve and lock it"
        )
    return rev
