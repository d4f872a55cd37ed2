"""`xstilts analyze`: the study's answer from any per-example score table (docs/statistics.md §0).

`analyze(table, out_dir)` computes every estimand of docs/statistics.md §3 (gains, benchmark gains, slopes per decade of
parameters, the interaction γ and its decomposition) with CIs and p-values from the calibrated joint
bootstrap (xstilts.analysis.bootstrap), Holm over the confirmatory family, BH over the per-(arm, task)
slopes, the secondary tests, the figures of docs/statistics.md §8 and a paragraph stating the answer. The analysis notebook
calls the same function on the study's runs; `xstilts calibrate` (xstilts.analysis.calibration) runs the
simulation study that shows the bootstrap is calibrated.

estimates.csv: estimand, arm, estimate, ci_low, ci_high, p_value, params (params filled for per-size
rows). Scores in points (0-100), slopes in points per decade of parameters. Estimand values:
  baseline_{B}                 `none` score of benchmark B per size (no test)
  benchmark_gain               G_B(s, i) per size, arm and benchmark (column `benchmark`: xtreme | xtreme-r)
  core_gain, slope_core        the common core (shared tasks, common languages; docs/statistics.md §4)
  slope_{B}                    β_B(i), per arm
  size_contrast_{B}            G(s_k) - G(s_k-1), params = the larger size; endpoint_contrast_{B}: largest - smallest
  interaction                  γ(i) = β_xtreme-r(i) - β_xtreme(i), per arm
  interaction_unique_tasks, interaction_added_languages, interaction_task_weights   its exact parts (docs/statistics.md §3.5);
  interaction_protocol         the fourth part, only where a shared task's XTREME and XTREME-R cells differ
  task_gain_{B}:{task}, task_slope_{B}:{task}   per target (B's language list), per size / per arm
  language_gain:{target}:{language}   per (task, language) cell, confirmatory arms only (no test)
Arms: each intermediate arm present, `multitask`, and `mean_single` (mean of the single arms present).
Also written: confirmatory.csv (Holm), task_slopes.csv (BH, BY), secondary_tests.csv, answer.md, figures.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts.analysis import figures as plots
from xstilts.analysis import inference
from xstilts.analysis.bootstrap import joint_bootstrap
from xstilts.analysis.cells import BASELINE_ARM, CellTable, cells_from_table
from xstilts.analysis.estimands import CONFIRMATORY_ARMS, MEAN_SINGLE, SINGLE_ARMS, EstimandBuilder, weight_matrix
from xstilts.benchmarks.official import BENCHMARKS

log = logging.getLogger(__name__)

ESTIMATE_COLUMNS = ["estimand", "arm", "estimate", "ci_low", "ci_high", "p_value", "params", "benchmark"]
CONFIRMATORY_ESTIMANDS = ("slope_xtreme", "slope_xtreme-r", "interaction")


def _benchmark_of(name: str) -> str | None:
    """The benchmark an estimand belongs to (`slope_xtreme-r` -> xtreme-r), None for cross-benchmark ones."""
    stem = name.split(":", 1)[0]
    for bench in reversed(BENCHMARKS):
        if stem.endswith(f"_{bench}"):
            return bench
    return None


@dataclass
class AnalysisResult:
    """What `analyze` returns: the estimates table (as estimates.csv), the test tables, the figure
    paths, the answer paragraph and notes on what could not be computed."""

    estimates: pd.DataFrame
    figures: dict[str, Path]
    answer: str
    confirmatory: pd.DataFrame = field(default_factory=pd.DataFrame)
    task_slopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    secondary: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def estimate_table(cells: CellTable, n_boot: int = 10_000, seed: int = 0, progress: bool = True):
    """Every estimand with its percentile CI and bootstrap p-value; returns (estimates, builder notes, bootstrap)."""
    builder = EstimandBuilder(cells)
    ests = builder.build()
    if not ests:
        raise ValueError("nothing to estimate: " + "; ".join(builder.notes or ["the table has no cells"]))
    W = weight_matrix(ests, builder.layout.n_columns)
    boot = joint_bootstrap(cells, W, n_boot=n_boot, seed=seed, progress=progress)
    lo, hi = inference.percentile_ci(boot.replicates)
    p = inference.bootstrap_p_value(boot.replicates)
    tested = np.array([e.tested for e in ests])
    df = pd.DataFrame(
        {
            "estimand": [e.name for e in ests],
            "arm": [e.arm for e in ests],
            "estimate": boot.estimate,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": np.where(tested, p, np.nan),
            "params": [e.params if e.params is not None else np.nan for e in ests],
        }
    )
    # The contract: per-size benchmark gains are the estimand `benchmark_gain`, one row per
    # (size, arm, benchmark); the `benchmark` column says which (also for every per-benchmark estimand).
    df["benchmark"] = [_benchmark_of(n) for n in df["estimand"]]
    df.loc[df["estimand"].str.startswith("benchmark_gain_"), "estimand"] = "benchmark_gain"
    return df[ESTIMATE_COLUMNS], builder.notes, boot


def confirmatory_tests(est: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The confirmatory family (β_X, β_R, γ for mean_single and multitask) with Holm-adjusted p."""
    d = est[est.estimand.isin(CONFIRMATORY_ESTIMANDS) & est.arm.isin(CONFIRMATORY_ARMS)].copy()
    if d.empty:
        return d.assign(p_holm=[], reject_holm=[])
    reject, p_adj = inference.holm(d.p_value.to_numpy(), alpha=alpha)
    return d.assign(p_holm=p_adj, reject_holm=reject).drop(columns="params")


def task_slope_tests(est: pd.DataFrame) -> pd.DataFrame:
    """Per-(arm, target) slopes with BH (and BY, sensitivity) adjusted p. A shared task enters once,
    with XTREME-R's language list; the two Tatoebas enter separately (different protocols)."""
    d = est[est.estimand.str.startswith("task_slope_") & (est.arm != MEAN_SINGLE)].copy()
    if d.empty:
        return d
    parts = [plots._split_task(n) for n in d.estimand]
    d["benchmark"] = [b for b, _ in parts]
    d["task"] = [t for _, t in parts]
    both = d.groupby("task").benchmark.nunique()
    d = d[~((d.task.map(both) == 2) & (d.task != "tatoeba") & (d.benchmark == "xtreme"))]
    d["target"] = [plots._target_label(b, t) for b, t in zip(d.benchmark, d.task)]
    d["p_bh"] = inference.fdr(d.p_value.to_numpy(), "bh")
    d["p_by"] = inference.fdr(d.p_value.to_numpy(), "by")
    return d[["arm", "target", "benchmark", "task", "estimate", "ci_low", "ci_high", "p_value", "p_bh", "p_by"]]


def _test_row(test: str, benchmark: str, arm: str, statistic, p_value, n: int, note: str, **extra) -> dict:
    """One row of secondary_tests.csv."""
    return {
        "test": test,
        "benchmark": benchmark,
        "arm": arm,
        "statistic": statistic,
        "p_value": p_value,
        "n": n,
        **extra,
        "note": note,
    }


def secondary_tests(
    est: pd.DataFrame, cells: CellTable, max_cell_tests: int = 120, n_permutations: int = 999, seed: int = 0
) -> pd.DataFrame:
    """Page's L over sizes, task-level Wilcoxon and sign-flip tests of the slopes, a mixed model, and
    paired permutation tests of the largest-size gain per (task, language) cell (seeds fixed; BH)."""
    rows = []
    sizes = sorted(est.params.dropna().unique())
    tg = est[est.estimand.str.startswith("task_gain_") & (est.arm != MEAN_SINGLE)]
    if len(sizes) >= 3 and not tg.empty:
        for bench in BENCHMARKS:
            d = tg[tg.estimand.str.startswith(f"task_gain_{bench}:")]
            blocks = d.pivot_table(index=["arm", "estimand"], columns="params", values="estimate").dropna()
            if len(blocks) >= 2:
                r = inference.page_trend(blocks.to_numpy(), decreasing=True)
                note = "blocks = (arm, task), languages averaged; blocks share the baseline runs"
                rows.append(
                    _test_row(
                        "page_trend_decreasing",
                        bench,
                        "all intermediate arms",
                        r.statistic,
                        r.pvalue,
                        len(blocks),
                        note,
                    )
                )
    ts = est[est.estimand.str.startswith("task_slope_")]
    for arm in CONFIRMATORY_ARMS:
        for bench in BENCHMARKS:
            d = ts[(ts.arm == arm) & ts.estimand.str.startswith(f"task_slope_{bench}:")].estimate.to_numpy()
            if len(d) >= 2 and np.any(d != 0):
                w = inference.wilcoxon_signed_rank(d)
                rows.append(
                    _test_row(
                        "wilcoxon_task_slopes",
                        bench,
                        arm,
                        w["statistic"],
                        w["p_value"],
                        len(d),
                        "per-task slopes; effect = matched-pairs rank-biserial r",
                        effect=w["rank_biserial"],
                    )
                )
                sf = inference.sign_flip_test(d, seed=seed)
                rows.append(
                    _test_row(
                        "sign_flip_task_slopes",
                        bench,
                        arm,
                        sf.statistic,
                        sf.pvalue,
                        len(d),
                        "mean per-task slope, exact sign-flip",
                    )
                )
    lg = est[est.estimand.str.startswith("language_gain:")]
    for arm in CONFIRMATORY_ARMS:
        d = lg[lg.arm == arm]
        if d.params.nunique() >= 2 and len(d) >= 6:
            parts = d.estimand.str.split(":", n=2, expand=True)
            frame = pd.DataFrame(
                {
                    "delta": d.estimate.to_numpy(),
                    "x": np.log10(d.params.to_numpy(float)),
                    "target": parts[1].to_numpy(),
                    "cell": (parts[1] + ":" + parts[2]).to_numpy(),
                }
            )
            try:
                m = inference.mixedlm_slope(frame)
                note = f"delta ~ x + C(target), random intercept+slope per cell; converged={m['converged']}"
                rows.append(
                    _test_row(
                        "mixedlm_pooled_slope",
                        "both",
                        arm,
                        m["estimate"],
                        m["p_value"],
                        len(frame),
                        note,
                        ci_low=m["ci_low"],
                        ci_high=m["ci_high"],
                    )
                )
            except Exception as err:  # a sensitivity model must not sink the analysis
                rows.append({"test": "mixedlm_pooled_slope", "arm": arm, "note": f"did not fit: {err}"})
    rows.extend(_cell_permutation_rows(cells, max_cell_tests, n_permutations, seed))
    out = pd.DataFrame(rows)
    cell = out.test.eq("cell_permutation") if not out.empty else pd.Series(dtype=bool)
    if cell.any():
        out.loc[cell, "p_bh"] = inference.fdr(out.loc[cell, "p_value"].to_numpy(), "bh")
    return out


def _cell_permutation_rows(cells: CellTable, max_tests: int, n_resamples: int, seed: int) -> list[dict]:
    if not cells.sizes or max_tests <= 0:
        return []
    top = cells.sizes[-1]
    idx = cells.system_index()
    base = idx.get((top, BASELINE_ARM))
    out = []
    todo = [(c, arm) for arm in CONFIRMATORY_ARMS for c in cells.cells]
    if base is None or len(todo) > max_tests:
        return (
            [{"test": "cell_permutation", "note": f"skipped: {len(todo)} cells exceed max_cell_tests={max_tests}"}]
            if todo
            else []
        )
    singles = [a for a in SINGLE_ARMS if (top, a) in idx]
    for c, arm in todo:
        pos = {int(j): k for k, j in enumerate(c.systems)}
        arms = singles if arm == MEAN_SINGLE else [arm]
        ks = [pos.get(idx.get((top, a))) for a in arms]
        if not arms or base not in pos or any(k is None for k in ks):
            continue
        a = c.stats[:, ks].mean(axis=1)
        b = c.stats[:, pos[base]]
        r = inference.cell_permutation_test(a, b, c.kind, n_resamples=n_resamples, seed=seed)
        out.append(
            {
                "test": "cell_permutation",
                "benchmark": "/".join(c.benchmarks),
                "arm": arm,
                "statistic": r.statistic,
                "p_value": r.pvalue,
                "n": c.n,
                "note": f"{c.task}/{c.language} at {plots.size_label(top)}: seed-averaged examples, seeds fixed",
            }
        )
    return out


def interval_text(r) -> str:
    """An estimate and its 95% CI as the reports write it: +1.23 [+0.45, +2.01]."""
    return f"{r.estimate:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"


def gain_table(est: pd.DataFrame, size_names: dict | None = None) -> pd.DataFrame:
    """What each arm buys: the benchmark gain G_B(s, i) (estimand `benchmark_gain`) per arm and benchmark
    (rows) and model size (columns, smallest first, named by `size_names` {params: name}), as `estimate
    [95% CI]` in points, with `*` where the interval excludes zero."""
    g = est[est["estimand"] == "benchmark_gain"]
    cells = [interval_text(r) + (" *" if r.ci_low > 0 or r.ci_high < 0 else "") for r in g.itertuples()]
    wide = g.assign(cell=cells).pivot_table(
        index=["arm", "benchmark"], columns="params", values="cell", aggfunc="first", sort=False
    )
    names = size_names or {}
    wide = wide[sorted(wide.columns)].rename(columns=lambda p: names.get(p, f"{p:.3g} params"))
    wide.columns.name = None
    return wide.reset_index()


def answer_paragraph(est: pd.DataFrame, conf: pd.DataFrame, notes: list[str], n_boot: int, source: str) -> str:
    """The answer in words: γ and the slopes with CIs, what could not be computed, and the caveats."""
    parts = []
    for arm in CONFIRMATORY_ARMS:

        def get(name, arm=arm):
            d = est[(est.estimand == name) & (est.arm == arm)]
            return d.iloc[0] if not d.empty else None

        g, bx, br = get("interaction"), get("slope_xtreme"), get("slope_xtreme-r")
        if g is None and bx is None and br is None:
            continue
        s = f"For {arm.replace('_', ' ')} intermediate training"
        bits = []
        if bx is not None:
            bits.append(f"the XTREME gain changes by {interval_text(bx)} points per decade of parameters")
        if br is not None:
            bits.append(f"the XTREME-R gain by {interval_text(br)}")
        if bits:
            s += ", " + " and ".join(bits)
        if g is not None:
            c = conf[(conf.estimand == "interaction") & (conf.arm == arm)]
            ph = f", Holm-adjusted p = {c.iloc[0].p_holm:.3g}" if not c.empty else ""
            s += f"; the difference γ = {interval_text(g)} points per decade{ph}"
            comp = {
                n: get(n)
                for n in ("interaction_unique_tasks", "interaction_added_languages", "interaction_task_weights")
            }
            if all(v is not None for v in comp.values()):
                prot = get("interaction_protocol")
                s += (
                    f" (unique tasks {interval_text(comp['interaction_unique_tasks'])}, added languages "
                    f"{interval_text(comp['interaction_added_languages'])}, task weights {interval_text(comp['interaction_task_weights'])}"
                    + (f", protocol/data version of shared tasks {interval_text(prot)}" if prot is not None else "")
                    + ")"
                )
            verdict = (
                "the CI excludes 0"
                if (g.ci_low > 0 or g.ci_high < 0)
                else "the CI includes 0, which is not evidence of no difference"
            )
            s += f": {verdict}"
        parts.append(s + ".")
    if not parts:
        parts.append("No slope or interaction could be computed from this table.")
    text = " ".join(parts)
    text += (
        f" Intervals are 95% percentile intervals of {n_boot} replicates of a joint bootstrap that resamples test "
        "examples within each (task, language) and fine-tuning seeds within each run group, both benchmarks from "
        "the same draw, with the seed component net of within-run sampling noise and widened for the few seeds "
        "that estimate it (Student-t with Welch-Satterthwaite degrees of freedom)."
    )
    if notes:
        text += " Could not be computed from this table: " + "; ".join(dict.fromkeys(notes)) + "."
    text += (
        " Caveats (docs/statistics.md §0.7): XTREME-R Tatoeba is treated as a different target from XTREME Tatoeba "
        "because its baseline is already SQuAD-fine-tuned; same-data pairs (MNLI→XNLI, SQuAD→XQuAD/MLQA/"
        "Tatoeba-R/LAReQA) measure more training on the target's own data rather than transfer; inference is "
        "conditional on one intermediate checkpoint per (size, arm); model size is confounded with architecture "
        "and training details across the ladder; four sizes do not pin down a curve shape; a shrinking gain in "
        "raw points can be a ceiling effect (see the baseline panel); any best-intermediate choice must be made "
        "on dev, never on test."
    )
    text += f" These numbers describe {source} and nothing beyond it."
    return text


def analyze(
    table: pd.DataFrame,
    out_dir: Path,
    n_boot: int = 10_000,
    seed: int = 0,
    progress: bool = True,
    source: str | None = None,
    max_cell_tests: int = 120,
) -> AnalysisResult:
    """Run the whole analysis on a score table; write estimates.csv, the test tables and the figures."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cells = cells_from_table(table)
    t1 = time.perf_counter()
    est, notes, boot = estimate_table(cells, n_boot=n_boot, seed=seed, progress=progress)
    t2 = time.perf_counter()
    notes = list(notes)
    conf = confirmatory_tests(est)
    slopes = task_slope_tests(est)
    secondary = secondary_tests(est, cells, max_cell_tests=max_cell_tests, seed=seed)
    t3 = time.perf_counter()
    est.to_csv(out_dir / "estimates.csv", index=False)
    conf.to_csv(out_dir / "confirmatory.csv", index=False)
    slopes.to_csv(out_dir / "task_slopes.csv", index=False)
    secondary.to_csv(out_dir / "secondary_tests.csv", index=False)
    figures = {
        "forest": plots.forest_plot(est, out_dir / "forest_gains.png"),
        "scaling": plots.scaling_plot(est, out_dir / "scaling_curves.png"),
        "heatmap": plots.gain_heatmaps(est, out_dir / "intermediate_target_heatmap.png", slopes),
        "languages": plots.language_heatmap(est, out_dir / "language_heatmap.png"),
        "decomposition": plots.decomposition_plot(est, out_dir / "interaction_decomposition.png"),
    }
    t4 = time.perf_counter()
    source = source or f"the score table given ({len(table)} rows; {len(cells.sizes)} sizes, {len(cells.arms)} arms)"
    answer = answer_paragraph(est, conf, notes, n_boot, source)
    (out_dir / "answer.md").write_text(answer + "\n")
    timings = {"cells_s": t1 - t0, "bootstrap_s": t2 - t1, "tests_s": t3 - t2, "figures_s": t4 - t3}
    log.info("analysis timings: %s", timings)
    return AnalysisResult(est, figures, answer, conf, slopes, secondary, list(cells.notes) + notes, timings)
