"""Intervals, p-values, multiplicity and the secondary tests (docs/statistics.md §6), through scipy/statsmodels.

Nothing here re-implements a test scipy or statsmodels has: Holm is statsmodels `multipletests`
(method passed explicitly: its default is Holm-Šidák), BH/BY are scipy `false_discovery_control`,
Page's L is `page_trend_test`, Wilcoxon is `wilcoxon`, sign-flip and paired permutation tests are
`permutation_test(permutation_type='samples')`, the mixed model is statsmodels `mixedlm`. What is ours
is the bootstrap percentile interval and its inverted p-value, and the adapters that feed span-F1
sufficient statistics to `permutation_test`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from xstilts.analysis.cells import MEAN, f1_points


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval per column of (B, K) replicates (scipy's method='percentile')."""
    a = (1 - level) / 2
    lo, hi = np.quantile(np.asarray(replicates, dtype=np.float64), [a, 1 - a], axis=0)
    return lo, hi


def bootstrap_p_value(replicates: np.ndarray, null: float = 0.0) -> np.ndarray:
    """Two-sided p-value from inverting the percentile interval: the smallest α whose (1-α) interval
    excludes `null`, with the +1 correction so p >= 2/(B+1) (docs/statistics.md §6.3 and §6.5)."""
    r = np.asarray(replicates, dtype=np.float64)
    B = r.shape[0]
    below = (r <= null).sum(axis=0)
    above = (r >= null).sum(axis=0)
    return np.minimum(1.0, 2.0 * (np.minimum(below, above) + 1) / (B + 1))


def holm(p_values, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm step-down over the confirmatory family: (reject, adjusted p)."""
    p = np.asarray(p_values, float)
    reject, p_adj = np.zeros(p.shape, bool), np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        reject[ok], p_adj[ok], _, _ = multipletests(p[ok], alpha=alpha, method="holm")
    return reject, p_adj


def fdr(p_values, method: str = "bh") -> np.ndarray:
    """Benjamini-Hochberg ('bh') or Benjamini-Yekutieli ('by') adjusted p-values.

    Untestable entries (NaN p-values, e.g. a cell whose two systems agree on every example) stay NaN
    and do not count in the family."""
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method=method)
    return out


def page_trend(blocks: np.ndarray, decreasing: bool = True):
    """Page's L test of a monotone trend across ordered sizes; rows are blocks ((arm, task) cells,
    languages averaged), columns the sizes from smallest to largest. `decreasing` tests a gain that
    shrinks with size (the a-priori hypothesis, docs/statistics.md §1.3); needs >= 3 sizes and >= 2 blocks."""
    data = np.asarray(blocks, float)
    k = data.shape[1]
    ranks = np.arange(k, 0, -1) if decreasing else np.arange(1, k + 1)
    return stats.page_trend_test(data, predicted_ranks=ranks)


def wilcoxon_signed_rank(d) -> dict:
    """Task-level Wilcoxon signed-rank test with the matched-pairs rank-biserial effect size."""
    d = np.asarray(d, float)
    res = stats.wilcoxon(d)
    nz = d[d != 0]
    ranks = stats.rankdata(np.abs(nz))
    wp, wm = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    return {
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "rank_biserial": float((wp - wm) / (wp + wm)) if wp + wm > 0 else 0.0,
    }


def sign_flip_test(d, n_resamples: int | float = np.inf, seed: int = 0):
    """Exact (or Monte-Carlo) sign-flip test of mean(d) = 0: one-sample `permutation_test`."""
    d = np.asarray(d, float)
    if not np.isfinite(n_resamples) and d.size > 20:
        n_resamples = 99_999
    return stats.permutation_test(
        (d,),
        np.mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )


def cell_permutation_test(a: np.ndarray, b: np.ndarray, kind: str, n_resamples: int = 9999, seed: int = 0):
    """Paired approximate-randomisation test of score(a) - score(b) on one test set, seeds fixed (docs/statistics.md §6.1).

    `a`, `b`: seed-averaged per-example statistics of two systems, (n,) points for MEAN cells or (n, 3)
    (tp, n_pred, n_gold) for span F1. For span F1, swapping a pair must swap whole count vectors, so the
    test is run as a one-sample sign-flip over example indices (sign -> which system gets which counts)
    and the statistic recomputes corpus F1; scipy does the resampling in both cases."""
    rng = np.random.default_rng(seed)
    if kind == MEAN:

        def diff(x, y, axis=-1):
            return x.mean(axis=axis) - y.mean(axis=axis)

        return stats.permutation_test(
            (np.asarray(a, float), np.asarray(b, float)),
            diff,
            permutation_type="samples",
            vectorized=True,
            n_resamples=n_resamples,
            alternative="two-sided",
            rng=rng,
        )
    a, b = np.asarray(a, float), np.asarray(b, float)
    signed = np.arange(1, len(a) + 1, dtype=float)

    def f1_diff(s, axis=-1):
        s = np.moveaxis(np.asarray(s), axis, -1)
        keep = (s > 0)[..., None]
        idx = np.abs(s).astype(int) - 1
        xa = np.where(keep, a[idx], b[idx]).sum(axis=-2)
        xb = np.where(keep, b[idx], a[idx]).sum(axis=-2)
        return f1_points(xa[..., 0], xa[..., 1], xa[..., 2]) - f1_points(xb[..., 0], xb[..., 1], xb[..., 2])

    return stats.permutation_test(
        (signed,),
        f1_diff,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=rng,
    )


def mixedlm_slope(cells: pd.DataFrame) -> dict:
    """Pooled slope of gains over log10 params from a mixed model (docs/statistics.md §6.4, secondary).

    `cells`: one row per (target, language, size) with columns delta, x, target, cell. Model:
    delta ~ x + C(target), random intercept and slope in x per (target, language) cell. statsmodels
    MixedLM has no observation weights (issue #9342), so this is a sensitivity check only."""
    import statsmodels.formula.api as smf

    df = cells.dropna(subset=["delta"])
    formula = "delta ~ x + C(target)" if df["target"].nunique() > 1 else "delta ~ x"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = smf.mixedlm(formula, df, groups=df["cell"], re_formula="~x").fit(reml=True)
        except (np.linalg.LinAlgError, ValueError):
            fit = smf.mixedlm(formula, df, groups=df["cell"]).fit(reml=True)
    lo, hi = fit.conf_int().loc["x"]
    return {
        "estimate": float(fit.params["x"]),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p_value": float(fit.pvalues["x"]),
        "converged": bool(fit.converged),
    }
