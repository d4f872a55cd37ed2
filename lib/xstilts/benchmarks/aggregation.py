"""The aggregation of `evaluate.evaluate()`: language averages per task, `avg_metric`, group scores and
`all_task` (google-research/xtreme `evaluate.py`, commit 838c13b), plus the XTREME-R paper's category
view as a documented extension (docs/benchmarks.md §2.8)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from xstilts.benchmarks.official import GROUP2TASK, TASK2LANGS, XTREME_R, XTREME_R_CATEGORIES, scored_languages

CATEGORY_PREFIX = "category_"  # e.g. "category_structured_prediction"
ALL_TASK_CATEGORY_MEAN = "all_task_category_mean"


class OfficialScriptWouldCrash(RuntimeError):
    """Raised in official-keys-only mode where `evaluate.py` itself raises."""


def task_scores(
    per_language: Mapping[str, Mapping[str, float]], task: str, version: str, extensions: bool = True
) -> dict[str, Any]:
    """One task's entry of `evaluate.evaluate()`: `{metric: {lang: v}}`, `avg_<metric>`, `avg_metric`.

    Languages are those of `scored_languages` in the official order (English included wherever it
    is a test language); each metric is averaged with equal weight. `avg_metric` is (EM + F1)/2 for
    QA tasks, else `avg_f1`, else `avg_accuracy`, else `avg_map@20`. Raises `KeyError` naming the
    languages missing from `per_language`.
    """
    langs = scored_languages(task, version, extensions)
    missing = [lg for lg in langs if lg not in per_language]
    if missing:
        raise KeyError(f"{task} ({version}): no scores for {', '.join(missing)}")
    score: dict[str, Any] = defaultdict(dict)
    for lg in langs:
        for metric, value in per_language[lg].items():
            score[metric][lg] = value
    avg_score = {f"avg_{m}": sum(score[m].values()) / len(score[m]) for m in score}
    score.update(avg_score)
    if task in GROUP2TASK[version]["qa"]:
        score["avg_metric"] = (score["avg_exact_match"] + score["avg_f1"]) / 2
    elif "avg_f1" in score:
        score["avg_metric"] = score["avg_f1"]
    elif "avg_accuracy" in score:
        score["avg_metric"] = score["avg_accuracy"]
    elif "avg_map@20" in score:
        score["avg_metric"] = score["avg_map@20"]
    return dict(score)


def overall_scores(
    detailed: Mapping[str, Mapping[str, Any]], version: str, extensions: bool = True
) -> dict[str, float]:
    """The overall part of `evaluate.evaluate()`: `all_task` and the group scores.

    - `all_task`: mean of `avg_metric` over **all** tasks of the version, only when every one of them
      was scored (9 for XTREME, 10 for XTREME-R).
    - one key per group of `GROUP2TASK[version]` whose tasks were all scored (mean of `avg_metric`).

    XTREME-R: `evaluate.py` lists `lareqa` with no languages, so a scored-everything folder makes it
    crash (KeyError 'avg_metric' while computing `all_task`). With `extensions` (default) LAReQA is
    scored and `all_task` is the 10-task mean; the paper's 4-category view is added as
    `category_<name>` for each complete category and `all_task_category_mean` (mean of the 4
    category means) when all ten tasks are present. Without `extensions` the output has exactly the
    official keys and `OfficialScriptWouldCrash` is raised where `evaluate.py` crashes.
    """
    task2langs = TASK2LANGS[version]
    group2task = GROUP2TASK[version]
    out: dict[str, float] = {}
    available = [t for t in task2langs if t in detailed]
    if set(task2langs) == set(available):
        broken = [t for t in task2langs if "avg_metric" not in detailed[t]]
        if broken:
            raise OfficialScriptWouldCrash(
                f"evaluate.py crashes here (KeyError 'avg_metric'): {', '.join(broken)} has no scored language "
                f"in {version}; score with extensions to include LAReQA"
            )
        out["all_task"] = sum(detailed[t]["avg_metric"] for t in task2langs) / len(task2langs)
    for group, group_tasks in group2task.items():
        if not set(group_tasks) - set(available):
            out[group] = sum(detailed[t]["avg_metric"] for t in group_tasks) / len(group_tasks)
    if extensions and version == XTREME_R:
        categories = {}
        for name, cat_tasks in XTREME_R_CATEGORIES.items():
            if all(t in detailed and "avg_metric" in detailed[t] for t in cat_tasks):
                categories[name] = sum(detailed[t]["avg_metric"] for t in cat_tasks) / len(cat_tasks)
                out[CATEGORY_PREFIX + name] = categories[name]
        if len(categories) == len(XTREME_R_CATEGORIES):
            out[ALL_TASK_CATEGORY_MEAN] = sum(categories.values()) / len(categories)
    return out
