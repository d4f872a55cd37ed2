"""The learning-rate pilot's selection rule (docs/recipe.md §9.1), preregistered before any paper run.

For each size, the pilot fine-tunes the `none` arm on a few target protocols at each lr of the size's grid
(`models[].lr_grid`), `lr_pilot.seeds` times, and scores each run once on the protocol's **English** dev set
(zero-shot transfer stays zero-shot: no target-language data is read). The rule:

1. an lr's score is the mean over the protocols of its mean over seeds (points);
2. the seed-SD is the standard deviation over seeds of one seed's protocol-mean, pooled over the grid
   (degrees of freedom: the sum over lrs of seeds - 1); it needs two seeds;
3. take the lr with the highest score; if others are within one seed-SD of it (or tie it exactly, with one
   seed), take whichever of them is closest to the anchor (1e-5, jiant's lr) on a log scale, the higher
   score when two are as close.

This module is pure (pandas): the pilot's runs are planned by xstilts.study.grid and done by the
pretrained phase (xstilts.study.steps.lr_pilot).
"""

from __future__ import annotations

import math

import pandas as pd

PILOT_COLUMNS = ["model", "grid_lr", "lr", "protocol", "seed", "metric", "dev_score"]


def seed_sd(scores: pd.DataFrame) -> tuple[float | None, int]:
    """(pooled SD over seeds of the protocol-mean score, its degrees of freedom); (None, 0) with one seed."""
    per_seed = scores.groupby(["grid_lr", "seed"])["dev_score"].mean()
    ss, df = 0.0, 0
    for _, values in per_seed.groupby(level="grid_lr"):
        if len(values) > 1:
            ss += float(((values - values.mean()) ** 2).sum())
            df += len(values) - 1
    return (math.sqrt(ss / df) if df else None), df


def select_lr(scores: pd.DataFrame, anchor: float) -> dict:
    """The rule of the module docstring on one size's pilot scores (columns grid_lr, protocol, seed,
    dev_score). Returns the chosen grid lr, every lr's score, the seed-SD and the reason in words."""
    if scores.empty:
        raise ValueError("the lr pilot has no scores to select from")
    per_protocol = scores.groupby(["grid_lr", "protocol"])["dev_score"].mean()
    means = per_protocol.groupby(level="grid_lr").mean().dropna().sort_values(ascending=False, kind="stable")
    if means.empty:
        raise ValueError("every lr of the pilot scored NaN on English dev")
    sd, df = seed_sd(scores)
    best, top = float(means.index[0]), float(means.iloc[0])
    near = means[(means == top) | (top - means < (sd or 0.0))]  # the best, and any within one seed-SD of it
    distance = {float(lr): abs(math.log(float(lr) / anchor)) for lr in near.index}
    chosen = min(distance, key=lambda lr: (distance[lr], -means[lr]))  # closest to the anchor, then the higher
    if len(near) == 1:
        reason = f"highest English-dev mean ({top:.2f})"
        if len(means) > 1:
            second, gap = float(means.index[1]), float(top - means.iloc[1])
            reason += (
                "; one seed, so no seed-SD for the tie rule"
                if sd is None
                else f", {gap:.2f} above {second:g}: more than one seed-SD ({sd:.2f}, {df} df)"
            )
    else:
        within = f"within one seed-SD ({sd:.2f}, {df} df)" if sd is not None else "tied (one seed: no seed-SD)"
        reason = (
            f"{', '.join(f'{float(lr):g}' for lr in near.index)} are {within} of the highest mean ({top:.2f}): "
            f"{chosen:g}, the closest to {anchor:g}"
        )
        if sorted(distance.values()).count(distance[chosen]) > 1:
            reason += " (as close as another: the higher mean)"
    return {
        "lr": chosen,
        "best_mean_lr": best,
        "means": {f"{lr:g}": round(float(m), 4) for lr, m in means.items()},
        "seed_sd": None if sd is None else round(sd, 4),
        "seed_sd_df": df,
        "reason": reason,
    }
