"""Is the joint bootstrap calibrated? A simulation study with a known γ (issue 6, item 5).

Each simulated study (xstilts.analysis.simulate) is analysed exactly as real data are: cells ->
confirmatory estimands (β_XTREME, β_XTREME-R, γ and its parts for mean_single and multitask) ->
joint bootstrap -> 95% percentile CI and inverted p-value. Over many studies we count how often the CI
covers the true value (target 95%) and how often γ = 0 is rejected at α = 0.05 when the true γ is 0
(target 5%) or when it is not (power). The naive two-level, example-only and seed-only schemes are run
on the same studies for comparison (statistics.md §7.4's warning).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xstilts.analysis import figures, inference
from xstilts.analysis.bootstrap import joint_bootstrap
from xstilts.analysis.estimands import EstimandBuilder, weight_matrix
from xstilts.analysis.simulate import (
    SimDesign,
    cells_to_table,
    planned_design,
    simulate_cells,
    small_design,
    truth_vector,
)


def one_study(
    design: SimDesign, gamma: float, rng: np.random.Generator, n_boot: int, boot_seed: int, schemes=("calibrated",)
) -> list[dict]:
    """Simulate one study and return, per scheme and confirmatory estimand, truth, estimate, CI, p, SE."""
    cells = simulate_cells(design, gamma, rng)
    table = cells_to_table(cells)
    builder = EstimandBuilder(table)
    ests = builder.build(confirmatory_only=True)
    W = weight_matrix(ests, builder.layout.n_columns)
    truth = truth_vector(cells, table) @ W
    rows = []
    for scheme in schemes:
        boot = joint_bootstrap(table, W, n_boot=n_boot, seed=boot_seed, progress=False, scheme=scheme)
        lo, hi = inference.percentile_ci(boot.replicates)
        p = inference.bootstrap_p_value(boot.replicates)
        for k, e in enumerate(ests):
            rows.append(
                {
                    "scheme": scheme,
                    "estimand": e.name,
                    "arm": e.arm,
                    "truth": truth[k],
                    "estimate": boot.estimate[k],
                    "ci_low": lo[k],
                    "ci_high": hi[k],
                    "p_value": p[k],
                    "boot_se": boot.se[k],
                    "df": boot.df[k],
                }
            )
    return rows


def coverage_study(
    design: SimDesign,
    n_sims: int,
    n_boot: int,
    gamma: float = 0.0,
    seed: int = 0,
    schemes=("calibrated",),
    progress: bool = True,
) -> pd.DataFrame:
    """`n_sims` independent studies at one true γ; one row per study x scheme x estimand."""
    rng = np.random.default_rng(seed)
    rows = []
    for sim in tqdm(range(n_sims), desc=f"studies (γ={gamma:g})", disable=not progress):
        for r in one_study(design, gamma, rng, n_boot, boot_seed=seed * 1_000_003 + sim, schemes=schemes):
            rows.append({"sim": sim, "gamma": gamma, **r})
    df = pd.DataFrame(rows)
    df["covered"] = (df.ci_low <= df.truth) & (df.truth <= df.ci_high)
    df["rejected"] = df.p_value < 0.05
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Coverage, rejection rate and bootstrap-SE / empirical-SD ratio per scenario, scheme, estimand, arm."""
    g = df.groupby(["gamma", "scheme", "estimand", "arm"], sort=False)
    out = g.agg(
        n=("covered", "size"),
        coverage=("covered", "mean"),
        rejection_rate=("rejected", "mean"),
        truth=("truth", "mean"),
        mean_estimate=("estimate", "mean"),
        empirical_sd=("estimate", "std"),
        mean_boot_se=("boot_se", "mean"),
    ).reset_index()
    out["se_ratio"] = out.mean_boot_se / out.empirical_sd
    out["mc_se_coverage"] = np.sqrt(out.coverage * (1 - out.coverage) / out.n)
    return out


def calibrate(
    n_sims: int = 200,
    n_boot: int = 1000,
    out_dir: Path | str = "calibration",
    design: str | SimDesign = "planned",
    gamma: float = 1.0,
    seed: int = 0,
    schemes=("calibrated", "naive", "examples", "seeds"),
    n_examples: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """The calibration study at a design: γ = 0 (coverage, type-I error) and γ = `gamma` (coverage,
    power), every scheme on the same studies. Writes calibration.csv (summary), calibration_sims.csv
    and calibration.png to `out_dir`, prints the γ rows, and returns the summary."""

    if isinstance(design, str):
        if design not in ("planned", "small"):
            raise ValueError(f"design={design!r}; expected 'planned' or 'small'")
        kw = {} if n_examples is None else {"n_examples": n_examples}
        design = planned_design(**kw) if design == "planned" else small_design(**kw)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sims = pd.concat(
        [
            coverage_study(design, n_sims, n_boot, 0.0, seed, schemes, progress),
            coverage_study(design, n_sims, n_boot, gamma, seed + 1, schemes, progress),
        ],
        ignore_index=True,
    )
    summary = summarise(sims)
    elapsed = time.perf_counter() - t0
    sims.to_csv(out_dir / "calibration_sims.csv", index=False)
    summary.to_csv(out_dir / "calibration.csv", index=False)
    gam = summary[summary.estimand == "interaction"].copy()
    gam["scenario"] = np.where(gam.gamma == 0, "γ = 0 (type-I)", f"γ = {gamma:g} (power)")
    figures.calibration_plot(gam.assign(scheme=gam.scheme + "\n" + gam.arm), out_dir / "calibration.png")
    cols = ["gamma", "scheme", "arm", "n", "coverage", "rejection_rate", "se_ratio"]
    print(
        f"Calibration of the joint bootstrap: {n_sims} studies per scenario, {n_boot} replicates each, "
        f"{len(design.sizes)} sizes, {len(design.arms)} intermediate arms, seeds {design.seeds_arm} per arm / "
        f"{design.seeds_none} for none, {design.n_examples} examples per (task, language); "
        f"{elapsed:.0f} s ({elapsed / (2 * n_sims):.1f} s per study, {len(schemes)} schemes)."
    )
    print("γ rows (coverage target 0.95; rejection target 0.05 at γ = 0, power otherwise):")
    print(gam[cols].to_string(index=False))
    return summary
