"""What the data of a profile is: the tables phase 0 (notebooks/0_data.ipynb) shows.

`describe(tasks, world_dir)` reads every task through the same `load` path as training and evaluation
(miniature world or hub cache) and returns: the languages (with each one's tasks and benchmarks), the
tasks (format, metric, training data, English train/dev sizes, test languages and size), a table of
parallel examples (the first test example of a parallel task, XNLI, in every language) and notes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.languages import get_language
from xstilts.data.loaders import load
from xstilts.progress import bar


def _size(obj) -> int:
    return len(obj.queries) if isinstance(obj, F.RetrievalSet) else len(obj)


def _world(tasks, world_dir):
    """Tasks with the world's languages (a miniature registers its languages); unchanged on the hub."""
    if world_dir is None or not (Path(world_dir) / "manifest.json").is_file():
        return list(tasks), None

    from xstilts.miniworld.build import load_world, world_task  # miniature profiles only

    manifest = load_world(world_dir)
    return [world_task(t, manifest) for t in tasks], manifest


def _text(row: dict, fmt: str) -> str:
    if fmt == F.CLASSIFICATION:
        return row["text_a"] + (f" ||| {row['text_b']}" if row.get("text_b") else "")
    if fmt == F.MULTIPLE_CHOICE:
        return row["prompt"]
    if fmt == F.TAGGING:
        return " ".join(row["tokens"])
    if fmt == F.QA:
        return row["question"]
    return ""


def describe(tasks, world_dir: Path | str | None = None, *, ccgbank=None, limit: int | None = None) -> dict:
    """{"languages", "tasks", "examples": DataFrames, "notes": markdown str} for these registry tasks, the
    sizes as the study reads them (`limit`: the profile's `max_examples`)."""

    tasks, manifest = _world(tasks, world_dir)
    task_rows, lang_tasks = [], {}
    for task in bar(tasks, desc="describe data", leave=False):
        row = {
            "task": task.key,
            "benchmark": task.benchmark,
            "format": task.format,
            "metric": task.metric,
            "train_data": task.train_name or "-",
            "languages": len(task.languages),
        }
        for split in ("train", "dev"):
            refs = task.refs(split, "en")
            if not refs or (split == "dev" and task.format == F.BITEXT_MINING):
                row[f"n_{split}"] = None
                continue
            row[f"n_{split}"] = _size(load(task, split, "en", world_dir, ccgbank=ccgbank, limit=limit))
        if task.benchmark != "intermediate":
            sizes = [_size(load(task, "test", lang, world_dir, limit=limit)) for lang in task.languages]
            row["n_test_total"], row["n_test_min"] = sum(sizes), min(sizes)
        task_rows.append(row)
        for lang in task.languages:
            lang_tasks.setdefault(lang, []).append(task)
    lang_info = {x["code"]: x for x in (manifest or {}).get("languages", [])}
    lang_rows = []
    for code in sorted(lang_tasks, key=lambda c: (lang_info.get(c, {}).get("distance_rank", 0), c)):
        lang = get_language(code)
        row = {
            "code": code,
            "name": lang.name,
            "iso3": lang.iso3,
            "script": lang.script,
            "benchmarks": ", ".join(sorted({t.benchmark for t in lang_tasks[code]})),
            "tasks": len(lang_tasks[code]),
        }
        if code in lang_info:
            row["tier"] = lang_info[code].get("tier")
            row["distance"] = lang_info[code].get("distance")
        lang_rows.append(row)
    return {
        "languages": pd.DataFrame(lang_rows),
        "tasks": pd.DataFrame(task_rows),
        "examples": _parallel_examples(tasks, world_dir, limit),
        "notes": _notes(tasks, manifest),
    }


def _parallel_examples(tasks, world_dir, limit: int | None = None) -> pd.DataFrame:
    """The first test example of the first parallel classification target (XNLI) in each language."""

    parallel = [t for t in tasks if t.name == "xnli"] or [
        t for t in tasks if t.format == F.CLASSIFICATION and t.benchmark != "intermediate"
    ]
    if not parallel:
        return pd.DataFrame(columns=["task", "language", "text", "label"])
    task = parallel[0]
    rows = []
    for lang in task.languages:
        ds = load(task, "test", lang, world_dir, limit=limit)
        if len(ds):
            ex = ds[0]
            rows.append(
                {
                    "task": task.key,
                    "language": lang,
                    "text": _text(ex, task.format),
                    "label": task.labels[ex["label"]] if task.labels and ex["label"] >= 0 else ex["label"],
                }
            )
    return pd.DataFrame(rows)


def _notes(tasks, manifest) -> str:
    if manifest is not None:
        notes = manifest.get("notes") or manifest.get("config", {}).get("notes")
        head = (
            notes
            if isinstance(notes, str) and notes
            else ("A seeded synthetic world: every number below describes the miniature, not XLM-R or real languages.")
        )
        langs = sorted(
            (x for x in manifest.get("languages", []) if x["code"] != "en"), key=lambda x: x.get("distance_rank", 0)
        )
        lines = [head, "", "Derived languages, nearest first:"]
        lines += [
            f"- `{x['code']}` ({x.get('name', '')}, {x.get('script', '')}): distance {x.get('distance')}, "
            f"tier {x.get('tier')}"
            for x in langs
        ]

        return "\n".join(
            lines
            + [
                "",
                "What made transfer emerge in this world, and what did not, is written up in "
                "`docs/miniworld.md §5` (the findings, with their measurements).",
            ]
        )
    lines = ["Hub data at the revisions in `lib/xstilts/data/revisions.lock.json`; protocol notes per task:", ""]
    lines += [f"- **{t.key}**: {t.notes}" for t in tasks]
    return "\n".join(lines)
