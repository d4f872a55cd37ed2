"""Write records in a source's exact schema under a world dir, so the miniature goes through the real loaders.

Hub sources: `<world_dir>/<hub id>/<config or "default">/<split>.jsonl`, one JSON object per line with the
fields in the declared `Features` order; every record is validated first. Release sources are written in
their official file formats (see `xstilts.data.readers` for the layout and the record shapes below).
Output bytes depend only on the records: identical records give byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

from xstilts.benchmarks.registry import REGISTRY
from xstilts.benchmarks.sources import HUB, SOURCES, Source, get_source
from xstilts.data import readers
from xstilts.data.contract import DEFAULT_CONFIG
from xstilts.data.loaders import SourceSpec
from xstilts.data.schemas import HUB_FEATURES, SchemaError, validate_record
from xstilts.files import atomic_write_text


def _resolve(task_or_source) -> Source:
    if isinstance(task_or_source, Source):
        return task_or_source
    if isinstance(task_or_source, SourceSpec):
        return SOURCES[task_or_source.source]
    if isinstance(task_or_source, str):
        if task_or_source in SOURCES:
            return SOURCES[task_or_source]
        if task_or_source not in REGISTRY:
            return get_source(task_or_source)  # raises with the nearest source key
        task_or_source = REGISTRY[task_or_source]
    sources = getattr(task_or_source, "sources", None)
    if sources is None:
        raise TypeError(f"write_source: expected a source key, Source, SourceSpec or Task, got {task_or_source!r}")
    if len(sources) != 1:
        raise ValueError(
            f"task {task_or_source.key} reads several sources {list(sources)}; pass the source key "
            "(or a SourceSpec from xstilts.data.source_for)"
        )
    return SOURCES[sources[0]]


def _ordered(record: dict, features) -> dict:
    if isinstance(features, dict):
        return {k: _ordered(record[k], features[k]) if isinstance(features[k], dict) else record[k] for k in features}
    return record


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_source(world_dir: Path | str, task_or_source, config: str | None, split: str | None, records) -> Path:
    """Write `records` as split `split` of `config` of a source; returns the (main) file written.

    Record shapes for release sources:
    - bucc2018 (config `<xx>-en` or `<xx>`, split sample|training): a mapping with `source` and `target`
      lists of (id, sentence) and `gold` list of (source_id, target_id);
    - tatoeba-laser (config = ISO 639-3 code): dicts {"source": xx sentence, "target": English sentence};
    - xquad-r (config = 2-letter code): the SQuAD `data` list of articles, paragraphs with `sentence_breaks`;
    - mewsli-x (config candidate_set_entities | wikipedia_pairs | wikinews_mentions): the official JSONL objects;
    - ccgbank (split train|dev|test): dicts {"tokens": [...], "tags": [...]}.
    """
    world_dir = Path(world_dir)
    src = _resolve(task_or_source)
    if src.kind == HUB:
        if split not in src.splits:
            raise KeyError(f"source {src.key}: no split {split!r}; expected one of {src.splits}")
        features = HUB_FEATURES[src.schema]
        lines = []
        for i, rec in enumerate(records):
            validate_record(rec, src.schema, f"{src.dataset} (record {i} to write)")
            lines.append(_dump(_ordered(rec, features)) + "\n")
        path = world_dir / src.dataset / (config or DEFAULT_CONFIG) / f"{split}.jsonl"
        return atomic_write_text(path, "".join(lines))
    writer = _RELEASE_WRITERS.get(src.schema)
    if writer is None:
        raise KeyError(f"source {src.key}: no writer for release schema {src.schema!r}")
    return writer(world_dir, config, split, records)


def _write_bucc(world_dir: Path, config, split, records) -> Path:
    code = (config or "").split("-")[0]
    if split not in SOURCES["bucc2018"].splits:
        raise KeyError(f"bucc2018: no split {split!r}; expected one of {SOURCES['bucc2018'].splits}")
    if not isinstance(records, dict) or set(records) != {"source", "target", "gold"}:
        raise SchemaError("bucc2018 records: expected a mapping with exactly 'source', 'target', 'gold'")
    paths = readers.bucc_paths(world_dir, code, split)
    for side, key in ((code, "source"), ("en", "target")):
        rows = []
        for i, row in enumerate(records[key]):
            if len(row) != 2 or "\t" in row[0] or "\t" in row[1] or "\n" in row[1]:
                raise SchemaError(f"bucc2018 {key}[{i}]: expected (id, sentence) without tabs/newlines, got {row!r}")
            rows.append(f"{row[0]}\t{row[1]}\n")
        atomic_write_text(paths[side], "".join(rows))
    atomic_write_text(paths["gold"], "".join(f"{s}\t{t}\n" for s, t in records["gold"]))
    readers.read_bucc(world_dir, code, split)  # validates ids
    return paths["gold"]


def _write_tatoeba(world_dir: Path, config, split, records) -> Path:
    paths = readers.tatoeba_paths(world_dir, config)
    src, tgt = [], []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or set(rec) != {"source", "target"}:
            raise SchemaError(f"tatoeba-laser record {i}: expected {{'source': str, 'target': str}}, got {rec!r}")
        for k in ("source", "target"):
            if not isinstance(rec[k], str) or "\n" in rec[k]:
                raise SchemaError(f"tatoeba-laser record {i} field {k!r}: expected a one-line string")
        src.append(rec["source"] + "\n")
        tgt.append(rec["target"] + "\n")
    atomic_write_text(paths["source"], "".join(src))
    return atomic_write_text(paths["target"], "".join(tgt))


def _write_xquad_r(world_dir: Path, config, split, records) -> Path:
    path = readers.xquad_r_path(world_dir, config)
    atomic_write_text(path, _dump({"data": list(records), "version": "1.1"}) + "\n")
    readers.read_xquad_r(world_dir, config)
    return path


def _write_mewslix(world_dir: Path, config, split, records) -> Path:
    path = readers.mewslix_path(world_dir, config, None if config == "candidate_set_entities" else split)
    atomic_write_text(path, "".join(_dump(r) + "\n" for r in records))
    if config == "candidate_set_entities":
        readers.read_mewslix_entities(world_dir)
    elif config == "wikipedia_pairs":
        readers.read_mewslix_pairs(world_dir, split)
    else:
        readers.read_mewslix_mentions(world_dir, split, None)
    return path


def _write_ccgbank(world_dir: Path, config, split, records) -> Path:
    lines = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or set(rec) != {"tokens", "tags"} or len(rec["tokens"]) != len(rec["tags"]):
            raise SchemaError(f"ccgbank record {i}: expected {{'tokens': [...], 'tags': [...]}} of equal length")
        if any(" " in t or "\t" in t for t in (*rec["tokens"], *rec["tags"])):
            raise SchemaError(f"ccgbank record {i}: tokens and tags must not contain spaces or tabs")
        lines.append(" ".join(rec["tokens"]) + "\t" + " ".join(rec["tags"]) + "\n")
    return atomic_write_text(world_dir / "ccgbank" / f"{split}.tsv", "".join(lines))


_RELEASE_WRITERS = {
    "bucc2018": _write_bucc,
    "tatoeba-laser": _write_tatoeba,
    "xquad-r": _write_xquad_r,
    "mewsli-x": _write_mewslix,
    "ccgbank": _write_ccgbank,
}
