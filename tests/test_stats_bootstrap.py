"""The joint bootstrap: shared draws, parity with scipy's bootstrap, the calibrated seed component."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xstilts.analysis.bootstrap import _POISSON_LUT, example_weights, joint_bootstrap
from xstilts.analysis.cells import cells_from_table
from xstilts.analysis.estimands import Estimand, EstimandBuilder, weight_matrix
from xstilts.analysis.simulate import cells_to_table, simulate_cells, small_design


def _paired_table(n=400, seed=0):
    """One cell, one run per system: the bootstrap reduces to scipy's paired bootstrap of a mean difference."""
    rng = np.random.default_rng(seed)
    a = rng.binomial(1, 0.6, n)
    b = np.where(rng.random(n) < 0.8, a, 1 - a)
    rows = [
        {
            "benchmark": "xtreme",
            "task": "xnli",
            "language": "de",
            "params": 1e8,
            "arm": arm,
            "seed": 0,
            "example_id": f"e{k:04d}",
            "correct": int(v),
        }
        for arm, vals in (("none", a), ("mnli", b))
        for k, v in enumerate(vals)
    ]
    return pd.DataFrame(rows), a, b


def test_single_cell_matches_scipy_paired_bootstrap():
    df, a, b = _paired_table()
    table = cells_from_table(df)
    builder = EstimandBuilder(table)
    est = [e for e in builder.build() if e.name == "task_gain_xtreme:xnli" and e.arm == "mnli"]
    W = weight_matrix(est, builder.layout.n_columns)
    ours = joint_bootstrap(table, W, n_boot=20000, seed=1, progress=False)
    ref = stats.bootstrap(
        (100.0 * b, 100.0 * a),
        lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
        paired=True,
        vectorized=True,
        n_resamples=20000,
        method="percentile",
        rng=np.random.default_rng(2),
    )
    assert ours.estimate[0] == pytest.approx(100 * (b.mean() - a.mean()))
    assert ours.replicates[:, 0].std() == pytest.approx(ref.standard_error, rel=0.04)
    lo, hi = np.quantile(ours.replicates[:, 0], [0.025, 0.975])
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.35)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.35)


def test_reproducible_and_shared_tasks_drawn_once_for_both_benchmarks():
    design = small_design(n_examples=40)
    cells = simulate_cells(design, 0.0, np.random.default_rng(0))
    table = cells_to_table(cells)
    b = EstimandBuilder(table)
    ests = b.build()
    # the XTREME and XTREME-R task gains of a shared task on the common languages are the same
    # quantity: with one example draw and one seed draw for both, every replicate must agree
    xnli_x = b.lang_mean("xtreme", "xnli", ["aa", "bb"], table.sizes[0], b.arm_contrast("mnli"))
    xnli_r = b.lang_mean("xtreme-r", "xnli", ["aa", "bb"], table.sizes[0], b.arm_contrast("mnli"))
    extra = [Estimand("x", "mnli", None, xnli_x), Estimand("r", "mnli", None, xnli_r)]
    W = weight_matrix(ests + extra, b.layout.n_columns)
    r1 = joint_bootstrap(table, W, n_boot=300, seed=3, progress=False)
    r2 = joint_bootstrap(table, W, n_boot=300, seed=3, progress=False)
    np.testing.assert_array_equal(r1.replicates, r2.replicates)
    np.testing.assert_allclose(r1.replicates[:, -1], r1.replicates[:, -2], atol=1e-4)
    assert r1.replicates[:, -1].std() > 0.1


def test_seed_component_is_net_of_within_run_noise():
    """No seed effect at all: the between-seed spread is pure within-run noise, so the calibrated scheme
    must give (about) the example-only width, while the naive scheme counts that noise twice."""
    design = small_design(n_examples=60, sigma_seed=0.0, sigma_seed_lang=0.0)
    cells = simulate_cells(design, 0.0, np.random.default_rng(1))
    table = cells_to_table(cells)
    b = EstimandBuilder(table)
    ests = b.build(confirmatory_only=True)
    W = weight_matrix(ests, b.layout.n_columns)
    k = [i for i, e in enumerate(ests) if e.name == "interaction" and e.arm == "mean_single"][0]
    sd = {
        s: joint_bootstrap(table, W, n_boot=2000, seed=0, progress=False, scheme=s).replicates[:, k].std()
        for s in ("calibrated", "naive", "examples")
    }
    assert sd["naive"] > 1.15 * sd["examples"]
    assert sd["calibrated"] < 1.1 * sd["examples"]


def test_example_weights_are_bootstrap_weights():
    rng = np.random.default_rng(0)
    w = example_weights(rng, 200, 50, exact_max_n=100)
    assert (w.sum(axis=1) == 50).all()  # multinomial counts
    w = example_weights(rng, 200, 5000, exact_max_n=100)  # Poisson(1) weights
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)
    assert _POISSON_LUT.mean() == pytest.approx(1.0, abs=1e-4)


def test_bad_arguments_are_named():
    df, _, _ = _paired_table(n=20)
    table = cells_from_table(df)
    b = EstimandBuilder(table)
    W = weight_matrix(b.build(), b.layout.n_columns)
    with pytest.raises(ValueError, match="scheme"):
        joint_bootstrap(table, W, n_boot=10, scheme="wild")
    with pytest.raises(ValueError, match="rows"):
        joint_bootstrap(table, W[:-1], n_boot=10)
