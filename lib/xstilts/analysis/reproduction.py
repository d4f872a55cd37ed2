"""Our side of the reproduction check (docs/recipe.md §10): the study's results in the form the published
numbers take (xstilts.benchmarks.published), from the target runs' scores, per-example statistics and
English dev scores.

- `xlmr`: the `none` arm of the `large` size; `xlmr_fairseq`: the `none` arm of large, XL and XXL (MLQA).
- `xstilts`: per target, the single intermediate arm whose target runs have the best mean English dev score
  at the `large` size (Phang et al. 2020 report their best intermediate task per target), scored on test.
- `xstilts_effect`: the mean over XTREME's targets of each arm's gain over `none` at `large`, and of the gain
  of the best arm per target.

A score is the benchmark's average over its languages (XTREME's aggregation), averaged over seeds; its 95% CI
is Student's t over the seeds (the published numbers are single runs, so seed noise is what separates them
from ours; test-set sampling is ignored, much smaller on these test sets). QA gives F1 and EM separately, as
published. One seed gives a CI of zero width: the tolerance alone then decides a flag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from xstilts.benchmarks.metrics import QA as QA_KIND
from xstilts.benchmarks.metrics import STATS_COLUMNS
from xstilts.benchmarks.published import published

NONE, MULTITASK, LARGE = "none", "multitask", "large"
OURS = ["system", "model", "task", "metric", "score", "ci_low", "ci_high", "arm", "seeds"]
EFFECTS = ["effect", "ours", "published", "same_direction", "verified", "source"]
QA_TASKS = ("xquad", "mlqa", "tydiqa")


def _per_seed(scores: pd.DataFrame, examples: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """(model, arm, task, metric, seed) -> the score averaged over the benchmark's languages, in points."""
    scores = scores[scores["benchmark"] == benchmark]
    model_of = dict(zip(scores["params"], scores["model"], strict=False))
    headline = scores[~scores["task"].isin(QA_TASKS)].assign(metric=lambda d: d["metric"].map(_published_metric))
    rows = [headline[["model", "arm", "task", "metric", "seed", "language", "score"]]]
    qa = examples[(examples["benchmark"] == benchmark) & examples["task"].isin(QA_TASKS)]
    if len(qa):
        cells = qa.groupby(["params", "arm", "task", "seed", "language"])[list(STATS_COLUMNS[QA_KIND])].mean() * 100
        cells = cells.reset_index().melt(
            id_vars=["params", "arm", "task", "seed", "language"], var_name="metric", value_name="score"
        )
        rows.append(cells.assign(model=cells["params"].map(model_of)).drop(columns="params"))
    table = pd.concat(rows, ignore_index=True)
    return table.groupby(["model", "arm", "task", "metric", "seed"], as_index=False)["score"].mean()


def _published_metric(ours: str) -> str:
    """Our metric name as the published tables name it (accuracy; F1 for span F1 and POS)."""
    return "accuracy" if "acc" in str(ours) else "f1" if "f1" in str(ours) else str(ours)


def _summary(values: pd.Series) -> tuple[float, float, float]:
    """Mean over seeds and its 95% Student-t interval (zero width for one seed)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def best_arms(dev: pd.DataFrame, model: str = LARGE) -> dict[str, str]:
    """Per target task, the single intermediate arm with the best mean English dev score at `model`."""
    single = dev[(dev["model"] == model) & ~dev["arm"].isin([NONE, MULTITASK])]
    means = single.groupby(["task", "arm"])["dev_score"].mean().reset_index()
    return {
        task: g.sort_values(["dev_score", "arm"], ascending=[False, True]).iloc[0]["arm"]
        for task, g in means.groupby("task")
    }


def our_results(
    scores: pd.DataFrame, examples: pd.DataFrame, dev: pd.DataFrame, benchmark: str = "xtreme"
) -> pd.DataFrame:
    """Our numbers for every system of the published table: system, model, task, metric, score, ci_low,
    ci_high, arm (the arm they come from), seeds."""
    per_seed = _per_seed(scores, examples, benchmark)
    best = best_arms(dev)
    wanted = [("xlmr", LARGE, None), ("xstilts", LARGE, best)] + [
        ("xlmr_fairseq", m, None) for m in ("large", "xl", "xxl")
    ]
    rows = []
    for system, model, arms in wanted:
        for (task, metric), group in per_seed[per_seed["model"] == model].groupby(["task", "metric"]):
            arm = NONE if arms is None else arms.get(task)
            seeds = group[group["arm"] == arm]["score"]
            if arm is None or seeds.empty:
                continue
            score, low, high = _summary(seeds)
            rows.append(
                dict(
                    system=system,
                    model=model,
                    task=task,
                    metric=metric,
                    score=score,
                    ci_low=low,
                    ci_high=high,
                    arm=arm,
                    seeds=len(seeds),
                )
            )
    return pd.DataFrame(rows, columns=OURS)


def effects(scores: pd.DataFrame, dev: pd.DataFrame, benchmark: str = "xtreme") -> pd.DataFrame:
    """X-STILTs' headline effects beside ours at `large`: the mean over the benchmark's targets of each arm's
    gain over `none` (mean over seeds and languages), and of the best-on-dev arm's; same direction or not."""
    cells = scores[(scores["benchmark"] == benchmark) & (scores["model"] == LARGE)]
    means = cells.groupby(["task", "arm"])["score"].mean().unstack("arm")
    if NONE not in means:
        return pd.DataFrame(columns=EFFECTS)
    gains = means.sub(means[NONE], axis=0).drop(columns=NONE)
    ours = gains.mean().to_dict()
    best = best_arms(dev)
    picked = [gains.loc[t, a] for t, a in best.items() if t in gains.index and a in gains.columns]
    if picked:
        ours["best_per_target"] = float(np.mean(picked))
    ref = published()
    ref = ref[ref["system"] == "xstilts_effect"]
    rows = []
    for r in ref.itertuples():
        value = ours.get(r.task)
        same = None if value is None else bool(np.sign(value) == np.sign(r.value))
        rows.append(
            dict(
                effect=r.task, ours=value, published=r.value, same_direction=same, verified=r.verified, source=r.source
            )
        )
    return pd.DataFrame(rows, columns=EFFECTS)
