"""The joint bootstrap is calibrated: simulated studies with a known γ (docs/statistics-calibration.md).

The full study is `make calibrate` (every design of the grid, 1000 studies per design and scenario). Here a
reduced version: 300 studies at γ = 0 of the grid's tuning design "t2-seeds2-2-het" (2 seeds per arm and for
`none`, seed SD three to four times larger on two tasks and 2.5 times at the largest size), on which the
method without the small-sample factor (scheme "plugin") covered γ in about 92% of studies. Both
confirmatory arms are checked (600 intervals, correlated through the shared `none` runs: Monte-Carlo SE of
the coverage about 1 point), the slopes over 1200 intervals, and the bootstrap SE against the spread of the
estimates across studies. The seed of the simulation is fixed; it was not chosen by looking at the outcome.
The small-sample factor itself is checked against scipy's Welch t-test where the two coincide.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xstilts.analysis.bootstrap import joint_bootstrap, satterthwaite_df, student_factor
from xstilts.analysis.calibration import binomial_ci, coverage_study, design_grid, summarise
from xstilts.analysis.cells import cells_from_table
from xstilts.analysis.estimands import Estimand, EstimandBuilder, weight_matrix
from xstilts.analysis.simulate import (
    cells_to_table,
    expit_mean,
    expit_mean_inverse,
    simulate_cells,
    small_design,
    truth_vector,
)

N_SIMS, N_BOOT = 300, 500


def test_joint_bootstrap_coverage_and_type_one_error_with_two_seeds():
    design = {g.name: g for g in design_grid()}["t2-seeds2-2-het"].design
    df = coverage_study(design, N_SIMS, N_BOOT, gamma=0.0, seed=0, schemes=("calibrated", "plugin"), progress=False)
    cal = df[df.scheme == "calibrated"]
    gamma = cal[cal.estimand == "interaction"]
    assert len(gamma) == 2 * N_SIMS
    assert np.allclose(gamma.truth, 0.0)
    assert 0.93 <= gamma.covered.mean() <= 0.97, gamma.covered.mean()
    assert 0.03 <= gamma.rejected.mean() <= 0.07, gamma.rejected.mean()
    slopes = cal[cal.estimand.str.startswith("slope_")]
    assert 0.93 <= slopes.covered.mean() <= 0.97, slopes.covered.mean()
    s = summarise(cal)
    ratio = s[s.estimand == "interaction"].se_ratio
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio.tolist()
    # the same replicates without the small-sample factor: narrower on average, covering less often
    plug = df[(df.scheme == "plugin") & (df.estimand == "interaction")]
    assert plug.covered.mean() < gamma.covered.mean()


def _seed_only_table(runs: dict[tuple[float, str], np.ndarray]) -> pd.DataFrame:
    """One QA cell whose per-example values are constant within a run: no example-level variance at all."""
    rows = []
    for (params, arm), ys in runs.items():
        for s, y in enumerate(ys):
            for e in range(30):
                rows.append(
                    dict(
                        benchmark="xtreme",
                        task="xquad",
                        language="en",
                        params=params,
                        arm=arm,
                        seed=s,
                        example_id=f"q{e}",
                        em=y / 100,
                        f1=y / 100,
                    )
                )
    return pd.DataFrame(rows)


def _contrast(runs, first, second, n_boot=100_000):
    table = cells_from_table(_seed_only_table(runs))
    builder = EstimandBuilder(table)
    w = builder.cell_score("xtreme", "xquad", "en", first[0], {first[1]: 1.0})
    for c, v in builder.cell_score("xtreme", "xquad", "en", second[0], {second[1]: 1.0}).items():
        w[c] = w.get(c, 0.0) - v
    W = weight_matrix([Estimand("contrast", first[1], None, w)], builder.layout.n_columns)
    return joint_bootstrap(table, W, n_boot=n_boot, seed=1, progress=False)


def test_small_sample_factor_reproduces_welchs_t_test():
    """Two run groups of different sizes and only seed variance: Welch's two-sample problem. The degrees of
    freedom and SE are Welch's exactly (scipy.stats.ttest_ind, equal_var=False), and the interval matches up
    to the discreteness of resampling 4 and 6 runs."""
    rng = np.random.default_rng(0)
    a, b = 60 + 3 * rng.standard_normal(4), 58 + rng.standard_normal(6)
    boot = _contrast({(1e8, "mnli"): a, (2e8, "none"): b}, (1e8, "mnli"), (2e8, "none"))
    ref = stats.ttest_ind(a, b, equal_var=False)
    se = np.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 6)
    assert boot.estimate[0] == pytest.approx(a.mean() - b.mean())
    assert boot.df[0] == pytest.approx(ref.df, rel=1e-9)
    assert boot.se[0] == pytest.approx(se, rel=1e-6)
    lo, hi = np.quantile(boot.replicates[:, 0], [0.025, 0.975])
    ci = ref.confidence_interval(0.95)
    assert lo == pytest.approx(ci.low, abs=0.15 * se)
    assert hi == pytest.approx(ci.high, abs=0.15 * se)
    plug = boot.plugin_replicates()[:, 0]  # without the factor: the narrower normal-theory interval
    assert np.quantile(plug, 0.975) - np.quantile(plug, 0.025) < 0.85 * (hi - lo)


def test_degrees_of_freedom_pool_the_seed_variance_of_one_size():
    """Runs of one (task, size) share a working-model seed variance for the degrees of freedom (not for the
    SE): the gain's df is Satterthwaite's at the pooled variance, (1/4 + 1/6)² / ((1/4)²/3 + (1/6)²/5)."""
    rng = np.random.default_rng(1)
    a, b = 60 + 3 * rng.standard_normal(4), 58 + rng.standard_normal(6)
    boot = _contrast({(1e8, "mnli"): a, (1e8, "none"): b}, (1e8, "mnli"), (1e8, "none"), n_boot=100)
    assert boot.se[0] == pytest.approx(np.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 6), rel=1e-6)
    assert boot.df[0] == pytest.approx((1 / 4 + 1 / 6) ** 2 / ((1 / 4) ** 2 / 3 + (1 / 6) ** 2 / 5), rel=1e-9)


def test_student_factor_gives_students_t():
    u = (np.arange(200_000) + 0.5) / 200_000
    z = np.random.default_rng(0).standard_normal(u.size)
    for nu in (1.5, 4.0, 30.0):
        t = z * student_factor(u, np.array([nu]))[:, 0]
        assert np.quantile(t, 0.975) == pytest.approx(stats.t.ppf(0.975, nu), rel=0.02)
    assert (student_factor(u[:10], np.array([np.inf])) == 1.0).all()
    # Satterthwaite: a sum of k equal mean squares with d degrees of freedom each has k d
    assert satterthwaite_df(np.array([4.0]), np.array([4 * 2 * 1.0**2 / 2]))[0] == pytest.approx(8.0)


def test_binomial_ci_is_clopper_pearson():
    lo, hi = binomial_ci(33, 480)
    assert (lo, hi) == pytest.approx((0.0478, 0.0951), abs=5e-4)


def test_logit_scale_truth_and_null():
    """The logit-scale generator: η solved so the population score is the intended one, and γ = 0 exactly for
    every arm with per-(arm, task) slope deviations and seed SDs that vary by task and size."""
    p, tau = np.array([0.1, 0.5, 0.93]), np.array([0.3, 1.0, 2.0])
    assert expit_mean(expit_mean_inverse(p, tau), tau) == pytest.approx(p, abs=1e-10)
    z = np.random.default_rng(0).standard_normal(400_000)
    eta = expit_mean_inverse(p, tau)
    assert [np.mean(1 / (1 + np.exp(-(e + t * z)))) for e, t in zip(eta, tau)] == pytest.approx(p, abs=2e-3)
    design = small_design(
        n_examples=3000,
        scale="logit",
        difficulty=1.0,
        heterogeneity=0.3,
        slope_spread=1.0,
        seeds_arm=20,
        seeds_none=20,
        seed_sd_task=(("xcopa", 2.0),),
        seed_sd_size=(1.0, 1.0, 1.5, 2.0),
    )
    cells = simulate_cells(design, 0.0, np.random.default_rng(3))
    table = cells_to_table(cells)
    builder = EstimandBuilder(table)
    ests = builder.build(confirmatory_only=True)
    truth = truth_vector(cells, table) @ weight_matrix(ests, builder.layout.n_columns)
    gam = [t for e, t in zip(ests, truth) if e.name == "interaction"]
    assert len(gam) == 2 and np.allclose(gam, 0.0, atol=1e-9)
    # observed seed-mean cell scores scatter around the truth without bias
    err = np.concatenate([c.mean_scores for c in table.cells]) - truth_vector(cells, table)
    assert abs(err.mean()) < 0.3 and err.std() < 5
