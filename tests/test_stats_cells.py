"""Score table -> cell summaries: metric families, shared cells, validation errors."""

import numpy as np
import pandas as pd
import pytest

from xstilts.analysis.cells import F1, MEAN, cells_from_table, f1_points, pseudo_values, run_score


def _rows(bench, task, lang, params, arm, seed, stats_per_example):
    return [
        {
            "benchmark": bench,
            "task": task,
            "language": lang,
            "params": params,
            "arm": arm,
            "seed": seed,
            "example_id": f"e{k}",
            **s,
        }
        for k, s in enumerate(stats_per_example)
    ]


def test_metric_families_and_cell_scores():
    rows = []
    rows += _rows(
        "xtreme", "xnli", "de", 1e8, "none", 0, [{"correct": 1}, {"correct": 0}, {"correct": 1}, {"correct": 1}]
    )
    rows += _rows("xtreme", "xquad", "de", 1e8, "none", 0, [{"em": 1.0, "f1": 1.0}, {"em": 0.0, "f1": 0.5}])
    rows += _rows(
        "xtreme",
        "udpos",
        "de",
        1e8,
        "none",
        0,
        [{"tp": 2, "n_pred": 3, "n_gold": 2}, {"tp": 0, "n_pred": 0, "n_gold": 1}],
    )
    rows += _rows("xtreme-r", "mewslix", "de", 1e8, "none", 0, [{"ap": 0.5}, {"ap": 1.0}])
    ct = cells_from_table(pd.DataFrame(rows))
    score = {c.task: c.mean_scores[0] for c in ct.cells}
    assert score["xnli"] == pytest.approx(75.0)
    assert score["xquad"] == pytest.approx(100 * (0.5 + 0.75) / 2)  # (EM + F1) / 2
    assert score["udpos"] == pytest.approx(100 * 2 * 2 / (3 + 3))  # corpus span F1
    assert score["mewslix"] == pytest.approx(75.0)
    kinds = {c.task: c.kind for c in ct.cells}
    assert kinds["udpos"] == F1 and kinds["xnli"] == MEAN


def test_shared_identical_cells_merge_and_tatoeba_stays_a_target_per_benchmark():
    rows = []
    for bench in ("xtreme", "xtreme-r"):
        for arm in ("none", "mnli"):
            for seed in (0, 1):
                rows += _rows(bench, "xnli", "de", 1e8, arm, seed, [{"correct": (seed + k) % 2} for k in range(4)])
                # Tatoeba: same sentences, different runs per benchmark
                rows += _rows(
                    bench,
                    "tatoeba",
                    "de",
                    1e8,
                    arm,
                    seed,
                    [{"correct": int(bench == "xtreme" or k < seed + 2)} for k in range(4)],
                )
    ct = cells_from_table(pd.DataFrame(rows))
    assert ct.lookup[("xtreme", "xnli", "de")] == ct.lookup[("xtreme-r", "xnli", "de")]
    assert ct.lookup[("xtreme", "tatoeba", "de")] != ct.lookup[("xtreme-r", "tatoeba", "de")]
    tx, tr = ct.cells[ct.lookup[("xtreme", "tatoeba", "de")]], ct.cells[ct.lookup[("xtreme-r", "tatoeba", "de")]]
    assert tx.example_key == tr.example_key  # drawn jointly by the bootstrap
    assert ct.bench_tasks["xtreme"]["tatoeba"] == ["de"]


def test_validation_errors_name_the_problem():
    good = _rows("xtreme", "xnli", "de", 1e8, "none", 0, [{"correct": 1}, {"correct": 0}])
    with pytest.raises(ValueError, match="lacks column"):
        cells_from_table(pd.DataFrame(good).drop(columns="seed"))
    with pytest.raises(ValueError, match="benchmark"):
        cells_from_table(pd.DataFrame(good).assign(benchmark="glue"))
    dup = good + _rows("xtreme", "xnli", "de", 1e8, "none", 0, [{"correct": 1}])
    with pytest.raises(ValueError, match="more than once"):
        cells_from_table(pd.DataFrame(dup))
    short = good + _rows("xtreme", "xnli", "de", 1e8, "mnli", 0, [{"correct": 1}])
    with pytest.raises(ValueError, match="lacks example_id 'e1'"):
        cells_from_table(pd.DataFrame(short))
    with pytest.raises(ValueError, match="cannot tell the metric"):
        cells_from_table(pd.DataFrame(good).assign(correct=np.nan))


def test_f1_pseudo_values_average_to_the_run_score():
    rng = np.random.default_rng(0)
    k = rng.integers(0, 4, size=(3, 50))
    runs = np.stack([rng.binomial(k, 0.6), k + rng.integers(0, 2, size=k.shape), k], axis=-1).astype(float)
    z = pseudo_values(runs, F1)
    np.testing.assert_allclose(z.mean(axis=1), run_score(runs, F1))
    assert f1_points(0, 0, 0) == 0.0
