"""`xstilts analyze` / `analyze()`: the estimates table contract, figures, the answer, the CLI, subsets."""

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from xstilts import cli
from xstilts.analysis import analyze as analysis
from xstilts.analysis.simulate import simulate_table, small_design


@pytest.fixture(scope="module")
def table():
    return simulate_table(small_design(n_examples=40), gamma=1.0, seed=11)


@pytest.fixture(scope="module")
def result(table, tmp_path_factory):
    return analysis.analyze(table, tmp_path_factory.mktemp("ana"), n_boot=400, seed=0, progress=False)


def test_estimates_contract(result):
    est = result.estimates
    assert list(est.columns) == ["estimand", "arm", "estimate", "ci_low", "ci_high", "p_value", "params", "benchmark"]
    names = set(est.estimand)
    assert set(est[est.estimand == "benchmark_gain"].benchmark) == {"xtreme", "xtreme-r"}
    for n in (
        "benchmark_gain",
        "slope_xtreme",
        "slope_xtreme-r",
        "interaction",
        "interaction_unique_tasks",
        "interaction_added_languages",
        "interaction_task_weights",
    ):
        assert n in names
    for arm in ("mean_single", "multitask", "mnli", "squad"):
        assert ((est.estimand == "interaction") & (est.arm == arm)).sum() == 1
    bg = est[(est.estimand == "benchmark_gain") & (est.benchmark == "xtreme")]
    assert bg.params.notna().all() and len(bg) == 4 * 4  # sizes x (2 single + multitask + mean_single)
    assert est[est.estimand.str.startswith(("slope_", "interaction"))].params.isna().all()
    assert (est.ci_low <= est.estimate + 1e-9).all() and (est.estimate <= est.ci_high + 1e-9).all()
    on_disk = pd.read_csv(result.figures["forest"].parent / "estimates.csv")
    assert list(on_disk.columns) == list(est.columns) and len(on_disk) == len(est)


def test_tests_figures_and_answer(result):
    conf = result.confirmatory
    assert len(conf) == 6 and (conf.p_holm >= conf.p_value - 1e-12).all()
    assert result.task_slopes.p_bh.between(0, 1).all()
    assert {
        "page_trend_decreasing",
        "wilcoxon_task_slopes",
        "sign_flip_task_slopes",
        "mixedlm_pooled_slope",
        "cell_permutation",
    } <= set(result.secondary.test)
    assert set(result.figures) == {"forest", "scaling", "heatmap", "languages", "decomposition"}
    for path in result.figures.values():
        img = mpimg.imread(path)
        assert img.shape[0] > 100 and img.shape[1] > 100
    g = result.estimates.query("estimand == 'interaction' and arm == 'mean_single'").iloc[0]
    assert f"{g.estimate:+.2f}" in result.answer
    assert "Tatoeba" in result.answer and "conditional on one intermediate checkpoint" in result.answer
    assert "describe" in result.answer


def test_gain_table_is_every_benchmark_gain_by_size(result):
    est = result.estimates
    bg = est[est.estimand == "benchmark_gain"]
    sizes = sorted(bg.params.unique())
    table = analysis.gain_table(est, {p: f"size{i}" for i, p in enumerate(sizes)})
    assert list(table.columns) == ["arm", "benchmark"] + [f"size{i}" for i in range(len(sizes))]
    assert len(table) == bg.groupby(["arm", "benchmark"]).ngroups
    for r in bg.itertuples():
        cell = table[(table.arm == r.arm) & (table.benchmark == r.benchmark)][f"size{sizes.index(r.params)}"].item()
        assert cell.startswith(f"{r.estimate:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
        assert cell.endswith(" *") == (r.ci_low > 0 or r.ci_high < 0)


def test_cli_analyze(table, tmp_path):
    csv = tmp_path / "scores.csv"
    table[table.arm.isin(["none", "mnli", "multitask"])].to_csv(csv, index=False)
    assert cli.main(["analyze", "--table", str(csv), "--out", str(tmp_path / "out"), "--n-boot", "200"]) == 0
    est = pd.read_csv(tmp_path / "out" / "estimates.csv")
    assert "interaction" in set(est.estimand)
    assert cli.main(["analyze", "--table", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o2")]) == 2


def test_subsets_say_what_cannot_be_computed(table, tmp_path):
    one_size = table[table.params == table.params.min()]
    res = analysis.analyze(one_size, tmp_path / "one", n_boot=100, progress=False, max_cell_tests=0)
    assert "slope_xtreme" not in set(res.estimates.estimand)
    assert "benchmark_gain" in set(res.estimates.estimand)
    assert "need >= 2" in res.answer
    only_x = table[(table.benchmark == "xtreme") & table.arm.isin(["none", "mnli"])]
    res = analysis.analyze(only_x, tmp_path / "x", n_boot=100, progress=False, max_cell_tests=0)
    assert "slope_xtreme" in set(res.estimates.estimand) and "interaction" not in set(res.estimates.estimand)
    assert "one benchmark" in res.answer
    with pytest.raises(ValueError, match="nothing to estimate"):
        analysis.analyze(table[table.arm != "none"], tmp_path / "none", n_boot=10, progress=False)


def test_calibrate_and_bench_helpers(tmp_path, capsys):
    from xstilts.analysis.calibration import calibrate

    schemes = ("calibrated", "plugin", "naive", "examples", "seeds")
    table = calibrate(
        tmp_path, designs=["t1-seeds3-5", "c4-seeds9-unique-only"], n_sims=3, n_boot=50, schemes=schemes, progress=False
    )
    assert {"coverage", "coverage_low", "type_i", "type_i_high", "power", "se_ratio", "meets_targets"} <= set(table)
    assert set(table.scheme) == set(schemes) and set(table.arm) == {"mean_single", "multitask"}
    assert len(table) == 2 * 2 * len(schemes) and (table.n_studies == 3).all()
    for name in ("calibration.csv", "calibration_estimands.csv", "calibration_sims.csv.gz", "calibration.png"):
        assert (tmp_path / name).is_file()
    assert "coverage" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown design"):
        calibrate(tmp_path, designs=["nope"], n_sims=1, progress=False)
    from xstilts.compute.bench import bench_paper_shape

    res = bench_paper_shape(n_boot=20, examples_total=3000, progress=False)
    assert res["examples"] >= 2000 and res["systems"] == 44 and res["peak_rss_gib"] > 0
    assert res["rows_represented"] == res["examples"] * 4 * (9 + 10 * 3)  # sizes x (none seeds + arms x seeds)
    assert np.isfinite(res["bootstrap_s"])
