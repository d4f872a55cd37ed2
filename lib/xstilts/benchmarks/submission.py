"""The official XTREME submission layout: `<folder>/<task>/test-<lang>.<ext>`, written and read.

Model runs write their test predictions here, so that any run can be scored both by `xstilts score`
and by the official `evaluate.py` (google-research/xtreme). Gold labels (for self-scoring with the
hub's labelled test sets) are written in the layout of the official `mock_test_data/labels`.

| task                 | ext   | prediction file                               | label file                      |
|----------------------|-------|-----------------------------------------------|---------------------------------|
| pawsx, xnli          | tsv   | one label string per line                     | same                            |
| udpos, panx          | tsv   | one tag per line per word, blank line between sentences | same                  |
| xquad, mlqa, tydiqa  | json  | `{qid: answer_text}`                          | SQuAD v1.1 `{"data": [...]}`    |
| bucc2018             | tsv   | `src_id\\ttgt_id` per line (threshold applied) | same (gold pairs)               |
| tatoeba              | tsv   | one integer index per line                    | same                            |
| xcopa                | jsonl | `{"label": int}` per line                      | same                            |
| mewslix              | json  | `{example_id: [up to 20 ranked QIDs]}`         | `{example_id: [gold QID]}`      |
| lareqa (ours)        | json  | `{question_id: [up to 20 ranked candidate ids]}` | `{question_id: [relevant candidate ids]}` |

LAReQA has no layout in `evaluate.py`; ours is the Mewsli-X one with a list of relevant ids:
question ids `"{xling_id}_{lang}"` and candidate ids `"{lang}_{paragraph}_{sentence}"`, as
`third_party/utils_lareqa` builds them (`Question.uid`, `Candidate.uid`).

The readers are those of `evaluate.py` (`read_label`, `read_tag`, `read_squad`, `read_xcopa`), with
the same line handling (iterate the text file, strip each line), reading UTF-8 explicitly.
JSON is written ASCII-escaped so the official script reads it under any locale.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xstilts.benchmarks.metrics import TOP_K
from xstilts.files import atomic_write_text

TASK_SUFFIX = {
    "pawsx": "tsv",
    "xnli": "tsv",
    "udpos": "tsv",
    "panx": "tsv",
    "bucc2018": "tsv",
    "tatoeba": "tsv",
    "xquad": "json",
    "mlqa": "json",
    "tydiqa": "json",
    "mewslix": "json",
    "xcopa": "jsonl",
    "lareqa": "json",  # ours; evaluate.get_suffix would say tsv, but it never reads a LAReQA file
}
TASKS = tuple(TASK_SUFFIX)


def _check_task(task: str) -> None:
    if task not in TASK_SUFFIX:
        raise ValueError(f"unknown XTREME task {task!r}; expected one of {', '.join(TASKS)}")


def submission_path(folder: str | os.PathLike, task: str, lang: str) -> Path:
    """`<folder>/<task>/test-<lang>.<ext>`, as `evaluate.evaluate()` looks it up."""
    _check_task(task)
    return Path(folder) / task / f"test-{lang}.{TASK_SUFFIX[task]}"


# --------------------------------------------------------------------------------------------------
# Readers (evaluate.py)


def read_label(path: str | os.PathLike) -> list[str]:
    """`evaluate.read_label`: every line, stripped (pawsx, xnli, tatoeba, bucc2018)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f]


def read_tag(path: str | os.PathLike) -> list[list[str]]:
    """`evaluate.read_tag`: stripped lines grouped into sentences at blank lines (udpos, panx).

    As in the official reader, each blank line closes a sentence, so two blank lines in a row make
    an empty sentence, and a final sentence without a trailing blank line is kept.
    """
    labels: list[list[str]] = []
    example: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                example.append(line)
            else:
                labels.append(example)
                example = []
    if example:
        labels.append(example)
    return labels


def read_squad(path: str | os.PathLike) -> Any:
    """`evaluate.read_squad`: the JSON, or its `data` member when there is one (QA, mewslix)."""
    with open(path, encoding="utf-8") as f:
        dataset_json = json.load(f)
    if "data" in dataset_json:
        return dataset_json["data"]
    return dataset_json


def read_xcopa(path: str | os.PathLike) -> list[Any]:
    """`evaluate.read_xcopa`: the `label` value of each JSON line (not coerced: "1" is not 1)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(row)["label"] for row in f]


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


READERS = {
    "pawsx": read_label,
    "xnli": read_label,
    "bucc2018": read_label,
    "tatoeba": read_label,
    "udpos": read_tag,
    "panx": read_tag,
    "xquad": read_squad,
    "mlqa": read_squad,
    "tydiqa": read_squad,
    "mewslix": read_squad,
    "xcopa": read_xcopa,
    "lareqa": read_json,
}


def read_file(task: str, path: str | os.PathLike) -> Any:
    """Read one prediction or label file of `task` the way `evaluate.evaluate_one_task` does."""
    _check_task(task)
    return READERS[task](path)


def read_predictions(folder: str | os.PathLike, task: str, lang: str) -> Any:
    return read_file(task, submission_path(folder, task, lang))


def read_labels(folder: str | os.PathLike, task: str, lang: str) -> Any:
    return read_file(task, submission_path(folder, task, lang))


# --------------------------------------------------------------------------------------------------
# Writers


def _line(value: Any, what: str) -> str:
    text = str(value)
    if "\n" in text or "\r" in text or text != text.strip():
        raise ValueError(f"{what}: {text!r} would not survive the official reader (newline or outer whitespace)")
    return text


def _label_lines(values: Iterable[Any], what: str) -> str:
    return "".join(_line(v, what) + "\n" for v in values)


def _tag_lines(sentences: Iterable[Sequence[str]], what: str) -> str:
    out = []
    for sent in sentences:
        if isinstance(sent, str):
            raise TypeError(f"{what}: each sentence must be a list of tags, got a string")
        for tag in sent:
            if not str(tag).strip():
                raise ValueError(f"{what}: an empty tag would be read as a sentence break")
            out.append(_line(tag, what) + "\n")
        out.append("\n")
    return "".join(out)


def _pair_line(pair: Any, what: str) -> str:
    if isinstance(pair, str):
        src, sep, tgt = pair.partition("\t")
        if not sep:
            raise ValueError(f"{what}: {pair!r} is not a 'src_id\\ttgt_id' pair")
    else:
        src, tgt = pair
    return _line(src, what) + "\t" + _line(tgt, what) + "\n"


def _dump_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, indent=1) + "\n"


def _ranked_ids(mapping: Mapping[str, Sequence[str]], top_k: int | None, what: str) -> dict[str, list[str]]:
    out = {}
    for key, ids in mapping.items():
        if isinstance(ids, str):
            raise TypeError(f"{what}: the value for {key!r} must be a list of ids, not a string")
        ids = [str(i) for i in ids]
        out[str(key)] = ids[:top_k] if top_k else ids
    return out


def squad_gold(examples: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """SQuAD v1.1 gold JSON from canonical QA examples (`formats.COLUMNS[QA]`: id, context, question,
    answers {text: [...], answer_start: [...]}); consecutive examples sharing a context share a paragraph."""
    paragraphs: list[dict[str, Any]] = []
    for ex in examples:
        answers = ex["answers"]
        qa = {
            "id": str(ex["id"]),
            "question": ex.get("question", ""),
            "answers": [{"text": t, "answer_start": int(s)} for t, s in zip(answers["text"], answers["answer_start"])],
        }
        if not qa["answers"]:
            raise ValueError(f"QA gold: example {ex['id']!r} has no answer")
        context = ex.get("context", "")
        if paragraphs and paragraphs[-1]["context"] == context:
            paragraphs[-1]["qas"].append(qa)
        else:
            paragraphs.append({"context": context, "qas": [qa]})
    return {"version": "1.1", "data": [{"title": "", "paragraphs": paragraphs}]}


def _is_index(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def official_predictions(
    task_name: str, predictions: Any, *, task: Any = None, ids: Sequence[str] | None = None
) -> Any:
    """Engine-shaped predictions in the python shape of the official files (module table).

    - classification (pawsx, xnli) and tagging: label **indices** become names through `task.labels`
      (the registry entry); names pass through;
    - QA, mewslix, lareqa: a list in example order becomes `{id: prediction}` with `ids` (same order);
      a mapping passes through. Without `ids` a list is an error (the file is keyed by example id).
    """
    _check_task(task_name)
    labels = tuple(getattr(task, "labels", ()) or ())

    def name(value: Any) -> Any:
        if not _is_index(value):
            return value
        if not labels:
            raise TypeError(
                f"{task_name} predictions: label index {value} needs the registry entry (task=...) "
                "to become a label name"
            )
        return labels[int(value)]

    if task_name in ("pawsx", "xnli"):
        return [name(p) for p in predictions]
    if task_name in ("udpos", "panx"):
        return [[name(t) for t in sent] for sent in predictions]
    if task_name in ("xquad", "mlqa", "tydiqa", "mewslix", "lareqa") and not isinstance(predictions, Mapping):
        predictions = list(predictions)
        if ids is None:
            raise TypeError(
                f"{task_name} predictions: a list needs the example ids (ids=...) in the same order; "
                "the official file is keyed by example id"
            )
        ids = [str(i) for i in ids]
        if len(ids) != len(predictions):
            raise ValueError(f"{task_name} predictions: {len(predictions)} predictions for {len(ids)} ids")
        return dict(zip(ids, predictions))
    return predictions


def format_predictions(task: str, predictions: Any) -> str:
    """The text of a prediction file of `task` (see the module table for the expected python types)."""
    _check_task(task)
    what = f"{task} predictions"
    if task in ("pawsx", "xnli"):
        return _label_lines(predictions, what)
    if task == "tatoeba":
        return _label_lines((int(i) for i in predictions), what)
    if task in ("udpos", "panx"):
        return _tag_lines(predictions, what)
    if task == "bucc2018":
        return "".join(_pair_line(p, what) for p in predictions)
    if task == "xcopa":
        return "".join(json.dumps({"label": int(p)}) + "\n" for p in predictions)
    if task in ("xquad", "mlqa", "tydiqa"):
        bad = [k for k, v in predictions.items() if not isinstance(v, str)]
        if bad:
            raise TypeError(f"{what}: answers must be strings; not for {bad[:3]}")
        return _dump_json({str(k): v for k, v in predictions.items()})
    # mewslix, lareqa: ranked id lists, only the top 20 are ever scored
    return _dump_json(_ranked_ids(predictions, TOP_K, what))


def format_labels(task: str, labels: Any) -> str:
    """The text of a gold label file of `task`. QA takes canonical QA examples or a SQuAD dict."""
    _check_task(task)
    what = f"{task} labels"
    if task in ("xquad", "mlqa", "tydiqa"):
        gold = labels if isinstance(labels, Mapping) and "data" in labels else squad_gold(labels)
        return _dump_json(gold)
    if task == "mewslix":
        gold = _ranked_ids(labels, None, what)
        bad = [k for k, v in gold.items() if len(v) != 1]
        if bad:
            raise ValueError(f"{what}: each example has exactly one gold QID; not {bad[:3]}")
        return _dump_json(gold)
    if task == "lareqa":
        gold = _ranked_ids(labels, None, what)
        bad = [k for k, v in gold.items() if not v]
        if bad:
            raise ValueError(f"{what}: every question needs at least one relevant candidate; not {bad[:3]}")
        return _dump_json(gold)
    return format_predictions(task, labels)


def write_predictions(
    folder: str | os.PathLike,
    task_name: str,
    lang: str,
    predictions: Any,
    *,
    task: Any = None,
    ids: Sequence[str] | None = None,
) -> Path:
    """Write one `test-<lang>` prediction file of the official layout (atomically).

    `task_name` is the official task id (`xnli`, `panx`, ..., the registry's `Task.name`). `task` (the
    registry entry) and `ids` let engine-shaped predictions through (`official_predictions`).
    """
    official = official_predictions(task_name, predictions, task=task, ids=ids)
    return atomic_write_text(submission_path(folder, task_name, lang), format_predictions(task_name, official))


def write_labels(folder: str | os.PathLike, task: str, lang: str, labels: Any) -> Path:
    """Write one `test-<lang>` gold file of the official layout (atomically)."""
    return atomic_write_text(submission_path(folder, task, lang), format_labels(task, labels))
