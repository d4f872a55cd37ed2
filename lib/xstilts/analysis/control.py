"""The positive control (docs/miniworld.md §7): the effect a profile plants beside what the analysis
recovers. A profile's `planted: {arm, sign, mechanism}` declares the sign of the interaction γ = β_XTREME-R −
β_XTREME of one arm; the control is recovered when the estimate has that sign and its 95% CI excludes zero."""

from __future__ import annotations

import pandas as pd

from xstilts.analysis.analyze import interval_text

# (estimand in estimates.csv, what it is): γ itself, then its part from the tasks only one benchmark has
QUANTITIES = (
    ("interaction", "γ = β_XTREME-R − β_XTREME (points per decade)"),
    ("interaction_unique_tasks", "γ's part from the tasks only one benchmark has"),
)
COLUMNS = ["quantity", "estimand", "arm", "planted", "estimate", "ci_low", "ci_high", "recovered"]


def planted_vs_recovered(estimates: pd.DataFrame, planted: dict) -> pd.DataFrame:
    """One row per quantity of QUANTITIES for the planted arm: the planted sign, the estimate and its CI, and
    whether it is recovered (same sign, CI excluding zero)."""
    positive = planted["sign"] == "positive"  # or "negative": the profile checks (study.profile.PLANTED_SIGNS)
    rows = []
    for estimand, quantity in QUANTITIES:
        hit = estimates[(estimates.estimand == estimand) & (estimates.arm == planted["arm"])]
        if hit.empty:
            raise KeyError(f"estimates have no {estimand!r} for the planted arm {planted['arm']!r}")
        est = hit.iloc[0]
        low, high = float(est.ci_low), float(est.ci_high)
        rows.append(
            {
                "quantity": quantity,
                "estimand": estimand,
                "arm": planted["arm"],
                "planted": "> 0" if positive else "< 0",
                "estimate": float(est.estimate),
                "ci_low": low,
                "ci_high": high,
                "recovered": bool(low > 0 if positive else high < 0),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict(table: pd.DataFrame, planted: dict) -> str:
    """One line on γ: recovered or not, with the estimate and its interval."""
    g = table.iloc[0]
    word = "recovered" if g.recovered else "NOT recovered"
    return f"planted γ({planted['arm']}) {g.planted}; estimated {interval_text(g)} points per decade: {word}"
