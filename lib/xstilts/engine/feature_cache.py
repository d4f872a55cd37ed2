"""Tokenized features cached on disk and reused across runs, arms, seeds and sizes.

Key = (task key, format, featurizer version, tokenizer fingerprint, max_seq_len, train/eval, data
fingerprint): every arm and seed of one model family featurizes a task once (docs/miniworld.md §6: "Tokenize
once per (task, tokenizer)"; jiant tokenizes and caches as its own step).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import datasets

from xstilts.engine.adapters import FormatAdapter, call_featurize
from xstilts.files import atomic_write_dir
from xstilts.paths import repo_root

FEATURIZER_VERSION = 1  # bump when a featurizer's output changes
_MEMORY: dict[str, datasets.Dataset] = {}


def default_cache_dir() -> Path:
    """$XSTILTS_FEATURE_CACHE, else `outputs/cache/features` of the repository (a temp folder outside one)."""
    env = os.environ.get("XSTILTS_FEATURE_CACHE")
    if env:
        return Path(env)
    try:
        return repo_root() / "outputs" / "cache" / "features"
    except FileNotFoundError:
        return Path(tempfile.gettempdir()) / "xstilts_feature_cache"


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of the tokenizer's full serialized state (vocab, normalizer, templates, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    special = json.dumps(
        {"special": tokenizer.all_special_tokens, "cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id}
    )
    if backend is not None:
        return _backend_fingerprint(backend.to_str(), special)
    return hashlib.sha256((json.dumps(tokenizer.get_vocab(), sort_keys=True) + special).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=16)
def _backend_fingerprint(serialized: str, extra: str) -> str:
    """Memoised per process: every run of a phase loads the same tokenizer anew, and parsing its vocabulary
    costs more than a tiny model's fine-tuning step."""
    state = json.loads(serialized)
    state.pop("truncation", None)  # set as a side effect of each call, not part of the tokenizer
    state.pop("padding", None)
    return hashlib.sha256((json.dumps(state, sort_keys=True) + extra).encode()).hexdigest()[:16]


def data_fingerprint(examples: datasets.Dataset) -> str:
    """Content hash of an in-memory dataset; the datasets fingerprint for a file-backed one (it is derived
    from the files and the transforms, so it is stable across processes)."""
    if examples.cache_files:
        return "fp-" + examples._fingerprint
    import pyarrow as pa

    digest = hashlib.sha256()
    tables = [examples.data]
    if examples._indices is not None:  # a select()/shuffle() view: the rows it shows, not the whole table
        tables.append(examples._indices)
    for t in tables:
        table = t.table if hasattr(t, "table") else t
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue())
    return digest.hexdigest()[:16]


def cache_key(task_key: str, adapter: FormatAdapter, tokenizer, max_seq_len: int, train: bool, examples) -> str:
    # an adapter may carry ``featurizer_version`` (bump it when its features change) and ``featurizer_options``
    version = (
        f"{FEATURIZER_VERSION}.{getattr(adapter, 'featurizer_version', 0)}:{getattr(adapter, 'featurizer_options', '')}"
    )
    parts = [
        str(task_key),
        adapter.format,
        version,
        tokenizer_fingerprint(tokenizer),
        str(max_seq_len),
        "train" if train else "eval",
        data_fingerprint(examples),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def cached_featurize(
    adapter: FormatAdapter,
    examples,
    tokenizer,
    max_seq_len: int,
    train: bool,
    task,
    cache_dir: str | Path | None = None,
) -> datasets.Dataset:
    """``adapter.featurize`` memoised in memory and on disk (atomic write: temp folder, then rename)."""
    key = cache_key(task.key, adapter, tokenizer, max_seq_len, train, examples)
    if key in _MEMORY:
        return _MEMORY[key]
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    path = root / f"{task.key}-{key}"
    if not (path / "dataset_info.json").is_file():
        features = call_featurize(adapter, examples, tokenizer, max_seq_len, train, task=task)
        atomic_write_dir(path, lambda tmp: features.save_to_disk(str(tmp)))
    features = datasets.load_from_disk(str(path))
    _MEMORY[key] = features
    return features
