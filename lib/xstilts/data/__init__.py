"""Data access: one path from a source's schema to the canonical formats of `xstilts.benchmarks.formats`.

`load(task, split, language, world_dir=None)` reads the hub (`datasets.load_dataset` at the locked
revision) or official release files from the local cache, or -- with `world_dir` -- the same sources
written as local files by the miniature (`write_source`). `source_for` says exactly which source
splits a (task, split, language) reads. Imports are lazy so `xstilts.benchmarks.registry` can import `.sources`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load(task, split: str, language: str = "en", world_dir: Path | str | None = None, *, part: str | None = None,
         ccgbank: str | Path | None = None):
    """Canonical `datasets.Dataset` (flat formats, train pairs of retrieval tasks) or `RetrievalSet`."""
    from xstilts.data.loaders import load as _load

    return _load(task, split, language, world_dir, part=part, ccgbank=ccgbank)


def load_parts(task, split: str, language: str = "en", world_dir: Path | str | None = None, *,
               ccgbank: str | Path | None = None) -> dict[str, Any]:
    """Each part of a mixture (ANLI+) or sequence (XCOPA: siqa then copa) separately, in order."""
    from xstilts.data.loaders import load_parts as _load_parts

    return _load_parts(task, split, language, world_dir, ccgbank=ccgbank)


def source_for(task, split: str, language: str = "en", *, strict_languages: bool = True):
    """The concrete source splits (`SourceSpec`s: dataset, config, split, revision, schema) behind a load;
    `strict_languages=False` accepts any registered language as a test language (a miniature world's)."""
    from xstilts.data.loaders import source_for as _source_for

    return _source_for(task, split, language, strict_languages=strict_languages)


def write_source(world_dir: Path | str, task_or_source, config: str | None, split: str | None, records) -> Path:
    """Write records in a source's exact schema under `world_dir` (deterministic bytes); returns the path."""
    from xstilts.data.writers import write_source as _write

    return _write(world_dir, task_or_source, config, split, records)


def describe(tasks, world_dir: Path | str | None = None, **kw) -> dict:
    """Phase-0 tables: languages, tasks (sizes via `load`), parallel examples, notes (xstilts.reports.data_summary)."""
    from xstilts.reports.data_summary import describe as _describe

    return _describe(tasks, world_dir, **kw)


__all__ = ["describe", "load", "load_parts", "source_for", "write_source"]
