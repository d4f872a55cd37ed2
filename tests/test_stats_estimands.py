"""Estimands as linear maps: XTREME-style aggregation, slopes, γ and its exact decomposition."""

import numpy as np
import pytest
from scipy import stats

from xstilts.analysis.estimands import EstimandBuilder, slope_coefficients, weight_matrix
from xstilts.analysis.simulate import cells_to_table, simulate_cells, small_design, truth_vector


@pytest.fixture(scope="module")
def study():
    design = small_design(n_examples=30)
    cells = simulate_cells(design, 0.7, np.random.default_rng(5))
    table = cells_to_table(cells)
    b = EstimandBuilder(table)
    ests = b.build()
    W = weight_matrix(ests, b.layout.n_columns)
    return design, cells, table, b, ests, W


def _get(ests, values, name, arm, params=None):
    for e, v in zip(ests, values):
        if e.name == name and e.arm == arm and (params is None or e.params == params):
            return v
    raise KeyError((name, arm, params))


def test_slope_coefficients_match_scipy_linregress():
    x = np.log10([270e6, 550e6, 3.5e9, 10.7e9])
    y = np.array([3.0, 2.1, 1.7, 0.2])
    assert slope_coefficients(x) @ y == pytest.approx(stats.linregress(x, y).slope)


def test_benchmark_gain_is_language_mean_then_task_mean(study):
    _, _, table, b, ests, W = study
    ybar = b.layout.score_vector()
    est = ybar @ W
    s = table.sizes[1]
    idx = table.system_index()
    manual = []
    for task, langs in table.bench_tasks["xtreme-r"].items():
        per_lang = []
        for l in langs:
            c = table.cells[table.lookup[("xtreme-r", task, l)]]
            pos = {int(j): k for k, j in enumerate(c.systems)}
            per_lang.append(c.mean_scores[pos[idx[(s, "multitask")]]] - c.mean_scores[pos[idx[(s, "none")]]])
        manual.append(np.mean(per_lang))
    assert _get(ests, est, "benchmark_gain_xtreme-r", "multitask", s) == pytest.approx(np.mean(manual))


def test_decomposition_sums_to_gamma_and_truth_matches_design(study):
    design, cells, _, b, ests, W = study
    est = b.layout.score_vector() @ W
    truth = truth_vector(cells, b.table) @ W
    for vec in (est, truth):
        for arm in ("mean_single", "multitask", "mnli"):
            g = _get(ests, vec, "interaction", arm)
            parts = sum(
                _get(ests, vec, n, arm)
                for n in ("interaction_unique_tasks", "interaction_added_languages", "interaction_task_weights")
            )
            assert parts == pytest.approx(g, abs=1e-9)
            assert g == pytest.approx(_get(ests, vec, "slope_xtreme-r", arm) - _get(ests, vec, "slope_xtreme", arm))
    assert _get(ests, truth, "interaction", "mean_single") == pytest.approx(0.7)
    assert _get(ests, truth, "slope_xtreme", "multitask") == pytest.approx(design.slope0)


def test_tatoeba_counts_as_unique_on_both_sides(study):
    _, _, table, b, _, _ = study
    assert "tatoeba" not in b.shared_tasks()
    assert {"xnli", "udpos", "xquad"} == set(b.shared_tasks())


def test_one_size_or_one_benchmark_says_what_cannot_be_computed(study):
    _, _, table, _, _, _ = study
    from xstilts.analysis.cells import CellTable

    one_size = table.sizes[0]
    keep = [j for j, s in enumerate(table.systems) if s[0] == one_size]
    b = EstimandBuilder(_restrict(table, keep))
    names = {e.name for e in b.build()}
    assert "benchmark_gain_xtreme" in names and "interaction" not in names
    assert any("need >= 2" in n for n in b.notes)
    only_x = CellTable(
        table.systems,
        table.cells,
        {k: v for k, v in table.lookup.items() if k[0] == "xtreme"},
        {"xtreme": table.bench_tasks["xtreme"]},
    )
    b = EstimandBuilder(only_x)
    names = {e.name for e in b.build()}
    assert "slope_xtreme" in names and "interaction" not in names
    assert any("one benchmark" in n for n in b.notes)


def _restrict(table, keep):
    """The table with only the systems in `keep` (re-indexed)."""
    from dataclasses import replace

    from xstilts.analysis.cells import CellTable

    new_index = {j: k for k, j in enumerate(keep)}
    cells = []
    for c in table.cells:
        sel = [k for k, j in enumerate(c.systems) if int(j) in new_index]
        cells.append(
            replace(
                c,
                systems=np.array([new_index[int(c.systems[k])] for k in sel]),
                stats=c.stats[:, sel],
                run_scores=[c.run_scores[k] for k in sel],
                seeds=[c.seeds[k] for k in sel],
                within_var=c.within_var[sel],
            )
        )
    return CellTable([table.systems[j] for j in keep], cells, table.lookup, table.bench_tasks)


def test_size_contrasts_are_differences_of_benchmark_gains(study):
    _, _, table, b, ests, W = study
    est = b.layout.score_vector() @ W
    s = table.sizes
    g = [_get(ests, est, "benchmark_gain_xtreme", "mean_single", p) for p in s]
    assert _get(ests, est, "size_contrast_xtreme", "mean_single", s[2]) == pytest.approx(g[2] - g[1])
    assert _get(ests, est, "endpoint_contrast_xtreme", "mean_single", s[-1]) == pytest.approx(g[-1] - g[0])


def test_protocol_part_appears_when_shared_cells_differ_and_keeps_the_identity():

    from xstilts.analysis.cells import cells_from_table
    from xstilts.analysis.simulate import simulate_table

    df = simulate_table(small_design(n_examples=20), gamma=0.0, seed=2)
    m = (df.benchmark == "xtreme-r") & (df.task == "udpos")
    df.loc[m, "tp"] = (df.loc[m, "tp"] - 1).clip(lower=0)  # XTREME-R scores udpos differently
    for frame, expect in ((df, True), (simulate_table(small_design(n_examples=20), gamma=0.0, seed=2), False)):
        b = EstimandBuilder(cells_from_table(frame))
        ests = b.build(confirmatory_only=True)
        est = b.layout.score_vector() @ weight_matrix(ests, b.layout.n_columns)
        names = {e.name for e in ests}
        assert ("interaction_protocol" in names) is expect
        parts = [n for n in names if n.startswith("interaction_")]
        g = _get(ests, est, "interaction", "mean_single")
        assert sum(_get(ests, est, n, "mean_single") for n in parts) == pytest.approx(g, abs=1e-9)
