"""`xstilts score`: the official XTREME `evaluate.py`, reimplemented with per-example statistics.

    xstilts score --prediction_folder P --label_folder L --xtreme_version {xtreme,xtreme-r} --output_file F

writes the JSON `evaluate.py` writes for the same arguments (google-research/xtreme, commit 838c13b):
`all_task` (when every task of the version is present), one key per complete group, then one entry
per scored task `{metric: {lang: value}, avg_<metric>: ..., avg_metric: ...}`, in the official key
order. The numbers agree with the official script to 1e-6 (`tests/test_scoring.py`).

How the official script picks what to score, kept here:
- a task is scored only when a sub-folder of that name exists in **both** folders, and only if it is
  a task of the chosen version (`official.TASK2LANGS[version]`); other folders are ignored;
- for a scored task, every language of the version's list must have a file in both folders, else
  `FileNotFoundError` (here: one error listing every missing file); files of other languages are ignored;
- `all_task` only when all tasks of the version were scored; a group only when all its tasks were.

Documented extensions (absent with `--official_keys_only` / `extensions=False`):
- LAReQA: `evaluate.py` lists `lareqa` with no language and has no reader or metric for it; a
  `lareqa/` folder gives `"lareqa": {}` there, and with all ten XTREME-R tasks present the official
  script crashes (KeyError 'avg_metric'). Here `lareqa/test-<lang>.json` (layout in `submission`) is
  scored with mAP@20 on the 11 XQuAD-R languages, and XTREME-R `all_task` is the 10-task mean.
- XTREME-R paper categories: `category_<name>` per complete category and `all_task_category_mean`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xstilts.benchmarks import aggregation, metrics, submission
from xstilts.benchmarks.official import BENCHMARKS, TASK2LANGS, XTREME, scored_languages

EXTENSION_TASKS = ("lareqa",)


def score_file_pair(
    task: str, prediction_file: str | os.PathLike, label_file: str | os.PathLike, lang: str
) -> metrics.MetricResult:
    """`evaluate.evaluate_one_task` for one (task, language): read both files, apply the task's metric."""
    files = {}
    for side, path in (("prediction", prediction_file), ("label", label_file)):
        try:
            files[side] = submission.read_file(task, path)
        except (ValueError, KeyError) as err:  # bad JSON, a JSON line without "label", undecodable bytes
            raise ValueError(f"cannot read {side} file {str(path)!r} as {task}: {err!r}") from err
    where = f"{task}/{Path(label_file).name}"
    try:
        return score_cell(task, files["label"], files["prediction"], lang)
    except (ValueError, TypeError, KeyError) as err:
        if type(err) in (ValueError, TypeError, KeyError):
            raise type(err)(f"{where}: {err}") from err
        raise


def score_cell(task: str, labels: Any, predictions: Any, lang: str) -> metrics.MetricResult:
    """Apply the metric of `task` (evaluate.METRIC_FUNCTION, plus LAReQA) to in-memory labels and predictions
    in the shapes the `submission` readers return."""
    if task in ("pawsx", "xnli"):
        return metrics.accuracy(labels, predictions)
    if task == "tatoeba":
        return metrics.tatoeba_accuracy(labels, predictions)
    if task == "xcopa":
        return metrics.xcopa_accuracy(labels, predictions)
    if task in ("udpos", "panx"):
        return metrics.seqeval_f1(labels, predictions)
    if task == "bucc2018":
        return metrics.bucc_f1(labels, predictions)
    if task in ("xquad", "tydiqa"):
        return metrics.squad_em_f1(labels, _mapping(predictions, task))
    if task == "mlqa":
        return metrics.mlqa_em_f1(labels, _mapping(predictions, task), lang)
    if task == "mewslix":
        return metrics.mewslix_map20(_mapping(labels, task), _mapping(predictions, task))
    if task == "lareqa":
        return metrics.lareqa_map20(_mapping(labels, task), _mapping(predictions, task))
    raise ValueError(f"unknown XTREME task {task!r}")


def _mapping(obj: Any, task: str) -> Mapping:
    if not isinstance(obj, Mapping):
        raise TypeError(f"{task}: expected a JSON object keyed by example id, got {type(obj).__name__}")
    return obj


def _subfolders(folder: str | os.PathLike, what: str) -> set[str]:
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {str(folder)!r} is not a folder")
    return {p.name for p in path.iterdir() if p.is_dir()}


def evaluate_folders(
    prediction_folder: str | os.PathLike,
    label_folder: str | os.PathLike,
    xtreme_version: str = XTREME,
    *,
    extensions: bool = True,
    verbose: bool = False,
) -> tuple[dict, dict, dict]:
    """`evaluate.evaluate()`: (overall_scores, detailed_scores, results).

    `results[(task, lang)]` is the `MetricResult` of each scored cell, with its per-example statistics.
    With `extensions=False` the two dicts hold exactly the official keys (LAReQA gives `{}`), and
    `aggregation.OfficialScriptWouldCrash` is raised where `evaluate.py` crashes.
    """
    if xtreme_version not in BENCHMARKS:
        raise ValueError(f"unknown XTREME version {xtreme_version!r}; expected one of {', '.join(BENCHMARKS)}")
    prediction_tasks = _subfolders(prediction_folder, "prediction folder")
    label_tasks = _subfolders(label_folder, "label folder")
    task2langs = TASK2LANGS[xtreme_version]

    tasks = [t for t in task2langs if t in prediction_tasks and t in label_tasks]
    missing = []
    for task in tasks:
        for lg in scored_languages(task, xtreme_version, extensions):
            for folder in (prediction_folder, label_folder):
                path = submission.submission_path(folder, task, lg)
                if not path.exists():
                    missing.append(str(path))
    if missing:
        shown = "\n  ".join(missing[:20]) + ("\n  ..." if len(missing) > 20 else "")
        raise FileNotFoundError(
            f"{len(missing)} file(s) of the {xtreme_version} layout are not available "
            f"(evaluate.py stops at the first):\n  {shown}"
        )

    detailed: dict[str, dict] = {}
    results: dict[tuple[str, str], metrics.MetricResult] = {}
    for task in tasks:
        per_lang = {}
        for lg in scored_languages(task, xtreme_version, extensions):
            result = score_file_pair(
                task,
                submission.submission_path(prediction_folder, task, lg),
                submission.submission_path(label_folder, task, lg),
                lg,
            )
            results[(task, lg)] = result
            per_lang[lg] = result.scores
        detailed[task] = aggregation.task_scores(per_lang, task, xtreme_version, extensions)
        if verbose:
            avg = ", ".join(f"{k}={v:.1f}" for k, v in detailed[task].items() if k.startswith("avg"))
            print(f"- Evaluate {task}:\t{avg}")
    overall = aggregation.overall_scores(detailed, xtreme_version, extensions)
    return overall, detailed, results


def report(detailed: Mapping[str, Mapping[str, Any]]) -> str:
    """The per-language tables `evaluate.py` prints after writing its output file."""
    lines = []
    for task_name, task_dict in detailed.items():
        lines.append(f"\n====== {task_name} ======")
        metric_names = []
        for metric_name, metric_dict in task_dict.items():
            if metric_name.startswith("avg"):
                continue
            lines.append(f"------ {metric_name} ------")
            lines.append(", ".join(metric_dict))
            lines.append(", ".join(f"{v:.2f}" for v in metric_dict.values()))
            metric_names.append(metric_name)
        if "avg_metric" in task_dict:
            metric_names.append("metric")
        for metric_name in metric_names:
            lines.append(f"{metric_name}: {task_dict['avg_' + metric_name]:.2f}")
    return "\n".join(lines)


def score(
    prediction_folder: str | os.PathLike,
    label_folder: str | os.PathLike,
    xtreme_version: str,
    output_file: str | os.PathLike | None = None,
    *,
    extensions: bool = True,
    verbose: bool = False,
) -> dict:
    """Score a submission folder; write (and return) the official JSON: group scores, then tasks."""
    overall, detailed, _ = evaluate_folders(
        prediction_folder, label_folder, xtreme_version, extensions=extensions, verbose=verbose
    )
    out = dict(overall)
    out.update(detailed)
    if output_file is not None:
        path = Path(output_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return out
