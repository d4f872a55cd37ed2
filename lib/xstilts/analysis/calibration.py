"""Is the joint bootstrap calibrated? A simulation study over a grid of designs with a known γ.

Each simulated study (xstilts.analysis.simulate) is analysed exactly as real data are: cells ->
confirmatory estimands (β_XTREME, β_XTREME-R, γ and its parts for mean_single and multitask) ->
joint bootstrap -> 95% percentile CI and inverted p-value. Over many studies per design we count how
often the CI covers the true γ (target 95%) and how often γ = 0 is rejected at α = 0.05 when the true
γ is 0 (target 5%) or when it is not (power), each with its exact binomial 95% interval.

The grid (`design_grid`, docs/statistics-calibration.md §2) crosses the seeds per arm (2-9), the size
of each noise level relative to the others (seed, seed x language, example), shared and unique tasks,
added languages, small and large gains and two outcome models. Its "tuning" designs were used to find
and fix the method's small-seed problem (docs/statistics-calibration.md §3); its "check" designs (a
different outcome model, the logit scale, with other layouts) were written down before any of them was
run and were never used to change the method. The "plugin" scheme is the method before that fix, read
off the same replicates (`BootstrapResult.plugin_replicates`); "naive", "examples" and "seeds" are the
one-level and double-counting schemes of docs/statistics.md §7, each a bootstrap of its own.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from xstilts.analysis import figures, inference
from xstilts.analysis.bootstrap import SCHEMES, joint_bootstrap
from xstilts.analysis.estimands import EstimandBuilder, weight_matrix
from xstilts.analysis.simulate import (
    SimDesign,
    cells_to_table,
    paper_tasks,
    simulate_cells,
    small_design,
    truth_vector,
    unique_tasks_only,
    without_added_languages,
)
from xstilts.progress import bar

COVERAGE_TARGET = (0.93, 0.97)  # acceptable coverage of the 95% interval of γ
TYPE_I_TARGET = (0.03, 0.07)  # acceptable rejection rate of γ = 0 at α = 0.05 when γ = 0
ALPHA = 0.05
# the analysis package's source as loaded: a scenario kept by another version of the code is not reused
_SOURCE = b"".join(p.read_bytes() for p in sorted(Path(__file__).parent.glob("*.py")))


@dataclass(frozen=True)
class GridDesign:
    """One design of the calibration grid: the simulated design, the γ of its non-null scenario."""

    name: str
    role: str  # "tuning": used to fix the method; "check": held out, never used to change it
    design: SimDesign
    gamma: float  # true γ of the non-null scenario, points per decade of parameters
    varies: str  # what the design stresses, in a few words


def design_grid() -> tuple[GridDesign, ...]:
    """The designs of `make calibrate` (docs/statistics-calibration.md §2 gives the reasons)."""
    het = dict(sigma_seed=2.0, seed_sd_task=(("lareqa", 4.0), ("pawsx", 3.0)), seed_sd_size=(1.0, 1.0, 1.5, 2.5))
    logit = dict(scale="logit", difficulty=1.0, heterogeneity=0.3, base_spread=0.2, slope_spread=0.5)
    G, small = GridDesign, small_design
    # fmt: off
    return (
        # tuning: the probability-scale generator on the small layout
        G("t1-seeds3-5", "tuning", small(n_examples=60, seeds_none=5), 1.0, "3 seeds per arm, 5 none"),
        G("t2-seeds2-2-het", "tuning", small(n_examples=60, seeds_arm=2, seeds_none=2, **het), 1.0,
          "2 seeds; seed SD x3-4 on two tasks, x2.5 at XXL"),
        G("t3-one-task-seeds", "tuning",
          small(n_examples=200, seeds_none=5, sigma_seed=1.0, sigma_seed_lang=0.3, seed_sd_task=(("lareqa", 8.0),),
                seed_sd_size=(1.0, 1.0, 1.0, 3.0)),
          1.0, "seed variance concentrated in one XTREME-R-only task"),
        G("t4-seed-dominant", "tuning", small(n_examples=200, sigma_seed=4.0, sigma_seed_lang=1.0), 1.0,
          "3/9 seeds; seed noise >> example noise"),
        G("t5-lang-dominant", "tuning",
          small(n_examples=100, seeds_arm=5, seeds_none=5, sigma_seed=0.3, sigma_seed_lang=3.0), 1.0,
          "5/5 seeds; seed x language noise dominant"),
        G("t6-example-large-gains", "tuning",
          small(n_examples=40, seeds_none=5, sigma_seed=0.3, sigma_seed_lang=0.2, heterogeneity=0.15,
                gain_spread=10.0, slope_spread=1.0),
          3.0, "example noise dominant; large gains, γ = 3"),
        # check: the logit-scale generator, other layouts and noise mixes (never used to change the method)
        G("c1-paper-shape", "check",
          SimDesign(tasks=paper_tasks(0.25), arms=("mnli", "squad", "hellaswag", "multitask"), n_examples=80,
                    sigma_seed=1.5, seed_sd_task=(("xquad", 2.0), ("mlqa", 2.0), ("tydiqa", 2.0)),
                    seed_sd_size=(1.0, 1.0, 1.5, 2.0), gain_spread=4.0, **logit),
          1.0, "the paper's 12 tasks (1/4 of the languages), 3/9 seeds"),
        G("c2-logit-seeds3-5", "check",
          small(n_examples=100, seeds_none=5, sigma_seed=2.0, seed_sd_task=(("xquad", 2.0), ("xcopa", 2.0)),
                seed_sd_size=(1.0, 1.2, 1.5, 2.0), **logit),
          1.0, "3/5 seeds; seed SD varies by task and size"),
        G("c3-seeds2-3-no-added", "check",
          without_added_languages(small(n_examples=60, seeds_arm=2, seeds_none=3, sigma_seed=2.5, **logit)),
          1.0, "2/3 seeds; no added languages"),
        G("c4-seeds9-unique-only", "check",
          unique_tasks_only(small(n_examples=60, seeds_arm=9, seeds_none=9, sigma_seed=1.0, sigma_seed_lang=1.5,
                                  **logit)),
          1.0, "9/9 seeds; no shared tasks"),
        G("c5-ceiling-seeds4-6", "check",
          small(n_examples=150, seeds_arm=4, seeds_none=6, base_level=0.75, **{**logit, "base_spread": 0.13},
                gain_spread=5.0),
          2.0, "4/6 seeds; scores near the ceiling, γ = 2"),
        G("c6-seeds2-2-one-task", "check",
          small(n_examples=60, seeds_arm=2, seeds_none=2, sigma_seed=0.5, seed_sd_task=(("pawsx", 10.0),),
                seed_sd_size=(3.0, 1.0, 1.0, 1.0), **logit),
          1.0, "2 seeds; seed variance in one XTREME-only task at base size"),
    )
    # fmt: on


def one_study(
    design: SimDesign, gamma: float, rng: np.random.Generator, n_boot: int, boot_seed: int, schemes=("calibrated",)
) -> list[dict]:
    """Simulate one study and return, per scheme and confirmatory estimand, truth, estimate, CI, p, SE, df."""
    cells = simulate_cells(design, gamma, rng)
    table = cells_to_table(cells)
    builder = EstimandBuilder(table)
    ests = builder.build(confirmatory_only=True)
    W = weight_matrix(ests, builder.layout.n_columns)
    truth = truth_vector(cells, table) @ W
    rows = []
    boots = {}
    if "calibrated" in schemes or "plugin" in schemes:
        boot = joint_bootstrap(table, W, n_boot=n_boot, seed=boot_seed, progress=False, scheme="calibrated")
        boots["calibrated"] = (boot, boot.replicates)
        boots["plugin"] = (boot, boot.plugin_replicates())
    for scheme in schemes:
        if scheme not in boots:
            boot = joint_bootstrap(table, W, n_boot=n_boot, seed=boot_seed, progress=False, scheme=scheme)
            boots[scheme] = (boot, boot.replicates)
        boot, reps = boots[scheme]
        lo, hi = inference.percentile_ci(reps)
        p = inference.bootstrap_p_value(reps)
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
    design: SimDesign, n_sims: int, n_boot: int, *, gamma=0.0, seed=0, schemes=("calibrated",), progress=True, desc=""
) -> pd.DataFrame:
    """`n_sims` independent studies at one true γ; one row per study x scheme x estimand."""
    bad = [s for s in schemes if s not in SCHEMES]
    if bad:
        raise ValueError(f"unknown scheme(s) {bad}; expected some of {SCHEMES}")
    rng = np.random.default_rng(seed)
    rows = []
    for sim in bar(range(n_sims), desc=desc or f"studies (γ={gamma:g})", enabled=progress, leave=False):
        for r in one_study(design, gamma, rng, n_boot, boot_seed=seed * 1_000_003 + sim, schemes=schemes):
            rows.append({"sim": sim, "gamma": gamma, **r})
    df = pd.DataFrame(rows)
    df["covered"] = (df.ci_low <= df.truth) & (df.truth <= df.ci_high)
    df["rejected"] = df.p_value < ALPHA
    return df


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Coverage, rejection rate and bootstrap-SE / empirical-SD ratio per scenario, scheme, estimand, arm."""
    keys = [k for k in ("design", "gamma", "scheme", "estimand", "arm") if k in df.columns]
    g = df.groupby(keys, sort=False)
    out = g.agg(
        n=("covered", "size"),
        coverage=("covered", "mean"),
        rejection_rate=("rejected", "mean"),
        truth=("truth", "mean"),
        mean_estimate=("estimate", "mean"),
        empirical_sd=("estimate", "std"),
        mean_boot_se=("boot_se", "mean"),
        median_df=("df", "median"),
    ).reset_index()
    out["se_ratio"] = out.mean_boot_se / out.empirical_sd
    out["mc_se_coverage"] = np.sqrt(out.coverage * (1 - out.coverage) / out.n)
    return out


def binomial_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a proportion k / n, scipy's `binomtest(...).proportion_ci`."""
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def design_table(sims: pd.DataFrame, grid: dict[str, GridDesign]) -> pd.DataFrame:
    """One row per design, arm and scheme: γ coverage at the design's γ and at 0, type-I error at α, power,
    each with its exact binomial 95% interval; SE ratio; median df; whether both targets are met."""
    rows = []
    gam = sims[sims.estimand == "interaction"]
    for (name, arm, scheme), g in gam.groupby(["design", "arm", "scheme"], sort=False):
        gd = grid[name]
        null, alt = g[g.gamma == 0.0], g[g.gamma != 0.0]
        row = {
            "design": name,
            "role": gd.role,
            "varies": gd.varies,
            "seeds_arm": gd.design.seeds_arm,
            "seeds_none": gd.design.seeds_none,
            "scale": gd.design.scale,
            "n_examples": gd.design.n_examples,
            "tasks": len(gd.design.tasks),
            "gamma": gd.gamma,
            "arm": arm,
            "scheme": scheme,
            "n_studies": len(alt),
        }
        for label, part, col in (("coverage", alt, "covered"), ("coverage_null", null, "covered")):
            k, n = int(part[col].sum()), len(part)
            row[label], (row[f"{label}_low"], row[f"{label}_high"]) = k / n, binomial_ci(k, n)
        k, n = int(null.rejected.sum()), len(null)
        row["n_null"] = n
        row["type_i"], (row["type_i_low"], row["type_i_high"]) = k / n, binomial_ci(k, n)
        k, n = int(alt.rejected.sum()), len(alt)
        row["power"], (row["power_low"], row["power_high"]) = k / n, binomial_ci(k, n)
        both = pd.concat([null, alt])
        err = both.estimate - both.truth
        row["se_ratio"] = float(np.sqrt((both.boot_se**2).mean()) / err.std()) if len(both) > 2 else np.nan
        row["median_df"] = float(both.df.median())
        row["meets_targets"] = bool(
            COVERAGE_TARGET[0] <= row["coverage"] <= COVERAGE_TARGET[1]
            and TYPE_I_TARGET[0] <= row["type_i"] <= TYPE_I_TARGET[1]
        )
        rows.append(row)
    return pd.DataFrame(rows)


def calibrate(
    out_dir: Path | str = "calibration",
    designs: list[str] | None = None,
    n_sims: int = 1000,
    n_boot: int = 1000,
    seed: int = 0,
    schemes=("calibrated", "plugin"),
    progress: bool = True,
    jobs: int = 1,
) -> pd.DataFrame:
    """The calibration study: every design of `design_grid` (or those named) at γ = 0 (coverage, type-I
    error) and at its γ (coverage, power), `n_sims` studies each, the schemes on the same studies, in
    `jobs` processes (the results do not depend on it). Writes calibration.csv (`design_table`),
    calibration_estimands.csv (`summarise`, every confirmatory estimand), calibration_sims.csv.gz (the γ
    rows of every study) and calibration.png to `out_dir`, prints the table, and returns it. Each scenario's
    studies are kept in `out_dir`/scenarios, so a rerun with the same settings and code resumes (`_scenario`)."""
    grid = {g.name: g for g in design_grid()}
    names = list(grid) if not designs else list(designs)
    unknown = [n for n in names if n not in grid]
    if unknown:
        raise ValueError(f"unknown design(s) {unknown}; the grid has {list(grid)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # a scenario's studies depend on its design's name and the seed only, not on the other designs
    tasks = [
        (grid[name], gamma, 2 * (seed + zlib.crc32(name.encode()) % 2**20) + k, n_sims, n_boot, tuple(schemes))
        for name in names
        for k, gamma in enumerate((0.0, grid[name].gamma))
    ]
    cache = out_dir / "scenarios"
    t0 = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_scenario, *t, False, cache) for t in tasks]
            results = [f.result() for f in bar(futures, desc="scenarios", enabled=progress)]
    else:
        results = [_scenario(*t, progress, cache) for t in bar(tasks, desc="scenarios", enabled=progress)]
    elapsed = time.perf_counter() - t0
    sims = pd.concat([df for df, _s, _c in results], ignore_index=True)
    seconds: dict[str, float] = {}
    for (gd, *_), (_, sec, _c) in zip(tasks, results):
        seconds[gd.name] = seconds.get(gd.name, 0.0) + sec
    cached = sum(c for _d, _s, c in results)
    table = design_table(sims, grid)
    table["seconds"] = table.design.map(seconds).round(1)
    table.to_csv(out_dir / "calibration.csv", index=False)
    summarise(sims).to_csv(out_dir / "calibration_estimands.csv", index=False)
    sims[sims.estimand == "interaction"].to_csv(out_dir / "calibration_sims.csv.gz", index=False)
    figures.calibration_plot(table, out_dir / "calibration.png", COVERAGE_TARGET, TYPE_I_TARGET)
    print(
        f"Calibration of the joint bootstrap: {len(names)} designs x (γ = 0, the design's γ) x {n_sims} studies, "
        f"{n_boot} replicates each, schemes {', '.join(schemes)}; {elapsed / 60:.1f} min wall, {jobs} process(es), "
        f"{cached} of {len(tasks)} scenarios from {cache}; {sum(seconds.values()) / 60:.1f} min of computing in all, "
        f"{sum(seconds.values()) / (2 * n_sims * len(names)):.2f} s per study."
    )
    print(format_table(table))
    main = table[table.scheme == "calibrated"]
    if len(main):
        print(
            f"calibrated: {int(main.meets_targets.sum())} of {len(main)} (design, arm) rows within coverage "
            f"{COVERAGE_TARGET[0]:.0%}-{COVERAGE_TARGET[1]:.0%} and type-I {TYPE_I_TARGET[0]:.0%}-{TYPE_I_TARGET[1]:.0%}"
        )
    return table


def _scenario(
    gd: GridDesign, gamma, seed, n_sims, n_boot, schemes, progress, cache: Path | None = None
) -> tuple[pd.DataFrame, float, bool]:
    """One design at one true γ: the studies' rows, the seconds they took and whether they came from `cache`. With `cache`, the rows are kept
    there under a key of everything they depend on (the design, the run's settings and the source of the
    analysis package), so an interrupted `make calibrate` resumes where it stopped."""
    path = None
    if cache is not None:
        h = hashlib.blake2b(digest_size=8)
        h.update(repr((gd, gamma, seed, n_sims, n_boot, schemes)).encode())
        h.update(_SOURCE)
        path = cache / f"{gd.name}-gamma{gamma:g}-{h.hexdigest()}.csv.gz"
        if path.is_file():
            meta = json.loads(path.with_suffix(".json").read_text())
            return pd.read_csv(path), float(meta["seconds"]), True
    t = time.perf_counter()
    df = coverage_study(
        gd.design,
        n_sims,
        n_boot,
        gamma=gamma,
        seed=seed,
        schemes=schemes,
        progress=progress,
        desc=f"{gd.name} γ={gamma:g}",
    )
    df = df.assign(design=gd.name)
    seconds = time.perf_counter() - t
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False)
        path.with_suffix(".json").write_text(json.dumps({"seconds": seconds}))
    return df, seconds, False


def format_table(table: pd.DataFrame) -> str:
    """The design table as printed: rates with their binomial 95% intervals, in percent."""

    def pct(r, col):
        return f"{100 * r[col]:5.1f} [{100 * r[col + '_low']:4.1f}, {100 * r[col + '_high']:4.1f}]"

    shown = pd.DataFrame(
        {
            "design": table.design,
            "role": table.role,
            "seeds": table.seeds_arm.astype(str) + "/" + table.seeds_none.astype(str),
            "γ": table.gamma,
            "arm": table.arm,
            "scheme": table.scheme,
            "n": table.n_studies,
            "coverage % [95% CI]": [pct(r, "coverage") for _, r in table.iterrows()],
            "type-I % [95% CI]": [pct(r, "type_i") for _, r in table.iterrows()],
            "power %": (100 * table.power).round(1),
            "SE ratio": table.se_ratio.round(3),
            "df": table.median_df.round(1),
            "ok": np.where(table.meets_targets, "yes", "NO"),
        }
    )
    return shown.to_string(index=False)
