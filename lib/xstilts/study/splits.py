"""The examples a run reads, memoised per process, and each target's test languages.

Many runs of a phase read the same splits: `load_split` keeps them (the data layer's `load`, once per
(task, split, language, world, cap)); `load_split_parts` the parts of a mixture or sequence. `limit` is the
profile's `max_examples` (examples per task, language and split; None: all). `test_languages` is a registry
entry's official list, or, on a miniature profile, the world's analogue of it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from xstilts.benchmarks.registry import get_task
from xstilts.data.loaders import load, load_parts


@functools.lru_cache(maxsize=512)
def _load_cached(task_key: str, split: str, language: str, world: str | None, limit: int | None):
    return load(get_task(task_key), split, language, Path(world) if world else None, limit=limit)


def load_split(task, split: str, language: str, world_dir: Path | None, limit: int | None = None):
    """`xstilts.data.loaders.load`, memoised per process."""
    return _load_cached(task.key, split, language, str(world_dir) if world_dir else None, limit)


def load_split_parts(task, split: str, language: str, world_dir: Path | None, limit: int | None = None) -> dict:
    """`xstilts.data.loaders.load_parts` (a sequence's stages, a mixture's parts), capped like `load_split`."""
    return load_parts(task, split, language, world_dir, limit=limit)


@functools.lru_cache(maxsize=8)
def _world_manifest(world: str) -> dict:
    from xstilts.miniworld.build import load_world  # miniature profiles only

    return load_world(world)


def test_languages(task, world_dir: Path | None, only: list[str] | None = None) -> list[str]:
    """The test languages of a registry entry: the official list, or the miniature world's analogue."""
    if world_dir is not None:
        from xstilts.miniworld.build import world_task

        task = world_task(task, _world_manifest(str(world_dir)))
    return [lang for lang in task.languages if only is None or lang in only]
