"""Our intervals, p-values and test adapters against their scipy/statsmodels twins."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from xstilts.analysis import inference
from xstilts.analysis.cells import F1, MEAN, f1_points, within_run_variance


def test_percentile_ci_equals_scipy_percentile_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    res = stats.bootstrap((x,), np.mean, n_resamples=4999, method="percentile", rng=rng)
    lo, hi = inference.percentile_ci(res.bootstrap_distribution[:, None])
    assert lo[0] == pytest.approx(res.confidence_interval.low, rel=1e-12)
    assert hi[0] == pytest.approx(res.confidence_interval.high, rel=1e-12)


def test_bootstrap_p_value_inverts_the_interval():
    rng = np.random.default_rng(1)
    reps = np.column_stack([rng.normal(3, 1, 9999), rng.normal(0.2, 1, 9999)])
    p = inference.bootstrap_p_value(reps)
    lo, hi = inference.percentile_ci(reps)
    assert p[0] < 0.05 and lo[0] > 0
    assert p[1] > 0.05 and lo[1] < 0 < hi[1]
    assert p[0] >= 2 / 10000


def test_within_run_variance_equals_statsmodels_anova_residual_ms():
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(2)
    R, n = 4, 30
    z = rng.normal(size=(R, 1)) + rng.normal(size=(1, n)) + rng.normal(size=(R, n))
    df = pd.DataFrame({"y": z.ravel(), "run": np.repeat(np.arange(R), n), "ex": np.tile(np.arange(n), R)})
    table = anova_lm(smf.ols("y ~ C(run) + C(ex)", df).fit())
    ms_resid = table.loc["Residual", "mean_sq"]
    assert within_run_variance(z, MEAN) == pytest.approx(ms_resid / n, rel=1e-10)


def test_holm_and_bh_against_statsmodels_and_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    reject, adj = inference.holm(p)
    order = np.argsort(p)
    manual = np.maximum.accumulate(np.minimum(1, (len(p) - np.arange(len(p))) * p[order]))
    np.testing.assert_allclose(adj[order], manual)
    np.testing.assert_allclose(inference.fdr(p, "bh"), multipletests(p, method="fdr_bh")[1])
    np.testing.assert_allclose(inference.fdr(p, "by"), multipletests(p, method="fdr_by")[1])


def test_mean_cell_permutation_equals_sign_flip_on_differences():
    rng = np.random.default_rng(3)
    a, b = rng.binomial(1, 0.6, 12) * 100.0, rng.binomial(1, 0.4, 12) * 100.0
    r1 = inference.cell_permutation_test(a, b, MEAN, n_resamples=np.inf)
    r2 = inference.sign_flip_test(a - b)
    assert r1.pvalue == pytest.approx(r2.pvalue)
    assert r1.statistic == pytest.approx((a - b).mean())


def test_f1_cell_permutation_matches_full_enumeration():
    rng = np.random.default_rng(4)
    n = 8
    k = rng.integers(1, 4, n)
    a = np.stack([rng.binomial(k, 0.8), k, k], axis=1).astype(float)
    b = np.stack([rng.binomial(k, 0.4), k + 1, k], axis=1).astype(float)

    def f1d(x, y):
        sx, sy = x.sum(0), y.sum(0)
        return f1_points(*sx) - f1_points(*sy)

    obs = f1d(a, b)
    null = []
    for flips in itertools.product([False, True], repeat=n):
        f = np.array(flips)[:, None]
        null.append(f1d(np.where(f, b, a), np.where(f, a, b)))
    null = np.array(null)
    eps = 1e-12 * max(1, abs(obs))
    p_manual = min(1.0, 2 * min((null >= obs - eps).mean(), (null <= obs + eps).mean()))
    res = inference.cell_permutation_test(a, b, F1, n_resamples=np.inf)
    assert res.statistic == pytest.approx(obs)
    assert res.pvalue == pytest.approx(p_manual)


def test_page_wilcoxon_and_mixedlm_run_through_scipy_statsmodels():
    rng = np.random.default_rng(5)
    blocks = np.array([[4, 3, 2, 1]] * 8, float) + rng.normal(0, 0.3, (8, 4))
    assert inference.page_trend(blocks, decreasing=True).pvalue < 0.01
    assert inference.page_trend(blocks, decreasing=False).pvalue > 0.5
    d = np.array([1.0, 2.0, -0.5, 3.0, 1.5, 2.5])
    w = inference.wilcoxon_signed_rank(d)
    assert w["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert w["rank_biserial"] == pytest.approx((20 - 1) / 21)
    cells = pd.DataFrame(
        [
            {"delta": 2 - 0.8 * x + rng.normal(0, 0.2), "x": x, "target": t, "cell": f"{t}:{l}"}
            for t in ("a", "b")
            for l in range(5)
            for x in (8.4, 8.7, 9.5, 10.0)
        ]
    )
    m = inference.mixedlm_slope(cells)
    assert m["ci_low"] < -0.8 < m["ci_high"] and m["p_value"] < 0.01


def test_adjustments_leave_untestable_p_values_out_of_the_family():
    import numpy as np
    from scipy import stats as sps

    from xstilts.analysis import inference

    p = np.array([0.01, np.nan, 0.04, 0.03])
    bh = inference.fdr(p, "bh")
    assert np.isnan(bh[1]) and np.allclose(bh[[0, 2, 3]], sps.false_discovery_control(p[[0, 2, 3]]))
    reject, adj = inference.holm(p)
    assert np.isnan(adj[1]) and not reject[1]
