"""Data access: from a source's own schema to the canonical formats of `xstilts.benchmarks.formats`.

`loaders.load(task, split, language, world_dir=None)` reads the hub (`datasets.load_dataset` at the locked
revision) or official release files from the local cache, or -- with `world_dir` -- the same sources
written as local files by the miniature (`writers.write_source`). `loaders.source_for` says exactly which
source splits a (task, split, language) reads; `hub_cache` checks and fetches what a profile needs;
`lock` pins the revisions.
"""
