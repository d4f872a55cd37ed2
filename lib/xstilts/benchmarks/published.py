"""The reproduction check: our results beside the published ones, task by task (docs/recipe.md §10).

The paper profile's analysis (and the rehearsal's, as a dry run on tiny models) puts our XLM-R `none` arm
(system `xlmr`, Hu et al. 2020; `xlmr_fairseq` for the fairseq README's MLQA at large, XL and XXL) and our
best intermediate task per target, chosen on English dev (system `xstilts`, Phang et al. 2020), beside the
published numbers in published.csv (each with its source), and flags every number that lies outside our 95%
CI widened by a stated tolerance. The tolerance absorbs what is known to differ and is not sampling noise
(data versions of the hub loaders, docs/benchmarks.md §6; the published recipes, docs/recipe.md). A flag
is a question to answer in the report, not a verdict. X-STILTs' average gains per intermediate task
(system `xstilts_effect`) are compared in direction and rough size (xstilts.analysis.reproduction).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PUBLISHED = Path(__file__).with_name("published.csv")
SYSTEMS = ("xlmr", "xstilts", "xlmr_fairseq", "xstilts_effect")
KEY = ["system", "model", "task", "metric"]
RESULT_COLUMNS = ("system", "model", "task", "metric", "score", "ci_low", "ci_high")
DEFAULT_TOLERANCE = 1.0  # points


def published(path: str | Path = PUBLISHED) -> pd.DataFrame:
    """The published numbers with their sources, one row per (system, model, task, metric)."""
    table = pd.read_csv(path, comment="#")
    missing = {"system", "model", "task", "metric", "value", "source", "verified"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    bad = sorted(set(table["system"]) - set(SYSTEMS))
    if bad:
        raise ValueError(f"{path}: unknown system(s) {bad}; expected {SYSTEMS}")
    dup = table.duplicated(KEY)
    if dup.any():
        raise ValueError(f"{path}: repeated {tuple(KEY)}: {table.loc[dup, KEY].values.tolist()}")
    return table


def reproduction_check(
    results_table: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE, reference: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Compare our results with the published ones; one row per published (system, task, metric).

    `results_table` has columns system (`xlmr` | `xstilts` | `xlmr_fairseq`), model (size slot), task (target
    name: xnli, pawsx, panx, xquad, mlqa, tydiqa, ...), metric (as published: `accuracy`, `f1`, `em`), score and its 95% CI
    (ci_low, ci_high), all in points 0-100. A row is flagged when the published value lies outside
    [ci_low - tolerance, ci_high + tolerance]. Published rows we have no result for are kept with
    status `not run`; our rows without a published number are listed with status `no published number`.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 points, got {tolerance}")
    missing = [c for c in RESULT_COLUMNS if c not in results_table.columns]
    if missing:
        raise ValueError(
            f"results_table lacks columns {missing}; expected {list(RESULT_COLUMNS)} (scores and 95% CI in points)"
        )
    ours = results_table[list(RESULT_COLUMNS)].copy()
    bad = ours[(ours["ci_low"] > ours["score"]) | (ours["ci_high"] < ours["score"])]
    if len(bad):
        raise ValueError(f"results_table: CI does not contain the score for {bad[KEY].values.tolist()}")
    ref = reference if reference is not None else published()
    ref = ref[ref["system"] != "xstilts_effect"][[*KEY, "value", "source"]]
    table = ref.merge(ours, on=KEY, how="outer", indicator=True)
    table = table.rename(columns={"value": "published", "score": "ours"})
    table["diff"] = table["ours"] - table["published"]
    table["allowed_low"] = table["ci_low"] - tolerance
    table["allowed_high"] = table["ci_high"] + tolerance
    table["flag"] = (table["_merge"] == "both") & (
        (table["published"] < table["allowed_low"]) | (table["published"] > table["allowed_high"])
    )
    table["status"] = (
        table["_merge"].astype(str).map({"both": "ok", "left_only": "not run", "right_only": "no published number"})
    )
    table.loc[table["flag"], "status"] = "differs"
    table["tolerance"] = float(tolerance)
    order = [
        "system",
        "model",
        "task",
        "metric",
        "ours",
        "ci_low",
        "ci_high",
        "published",
        "diff",
        "tolerance",
        "flag",
        "status",
        "source",
    ]
    return table[order].sort_values(KEY, ignore_index=True)


def describe_check(check: pd.DataFrame) -> str:
    """One sentence per flagged task, for the analysis notebook."""
    flagged = check[check["flag"]]
    if flagged.empty:
        compared = int((check["status"] == "ok").sum())
        return f"All {compared} compared task scores agree with the published ones within CI + tolerance."
    lines = []
    for r in flagged.itertuples():
        lines.append(
            f"{r.system} {r.model} {r.task} ({r.metric}): ours {r.ours:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}] vs "
            f"published {r.published:.1f} ({r.diff:+.1f}; tolerance {r.tolerance:g}) - {r.source}"
        )
    return "\n".join(lines)
