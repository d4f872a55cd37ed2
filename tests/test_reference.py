"""The reproduction check against the published XLM-R Large and X-STILTs numbers, on synthetic results."""

import pandas as pd
import pytest

from xstilts.benchmarks.published import describe_check, published, reproduction_check
from xstilts.benchmarks.registry import TARGET_NAMES


def test_published_file_has_a_source_for_every_number():
    table = published()
    assert set(table["system"]) == {"xlmr", "xstilts"}
    assert table["source"].str.len().min() > 10
    assert set(table["task"]) <= set(TARGET_NAMES)
    assert set(table["metric"]) <= {"accuracy", "f1", "em"}
    assert table["value"].between(0, 100).all()
    row = table[(table.system == "xstilts") & (table.task == "tydiqa")].iloc[0]
    assert row["value"] == 76.0 and row["metric"] == "f1"
    # X-STILTs's headline effect on TyDiQA (statistics.md §1.3: +10.9)
    xlmr = table[(table.system == "xlmr") & (table.task == "tydiqa")].iloc[0]["value"]
    assert row["value"] - xlmr == pytest.approx(10.9)


def synthetic(shift: dict[tuple[str, str], float], half_width: float = 0.5) -> pd.DataFrame:
    """Our results = the published numbers + a per-(system, task) shift, with a +-half_width CI."""
    ref = published()
    rows = []
    for r in ref.itertuples():
        score = r.value + shift.get((r.system, r.task), 0.0)
        rows.append(
            {
                "system": r.system,
                "task": r.task,
                "metric": r.metric,
                "score": score,
                "ci_low": score - half_width,
                "ci_high": score + half_width,
            }
        )
    return pd.DataFrame(rows)


def test_check_flags_only_tasks_beyond_ci_plus_tolerance():
    results = synthetic(
        {
            ("xlmr", "xnli"): -3.0,  # outside 0.5 + 1.0: flagged
            ("xstilts", "mlqa"): 1.4,  # inside 0.5 + 1.0: not flagged
            ("xstilts", "tydiqa"): 1.6,
        }
    )  # just outside: flagged
    check = reproduction_check(results, tolerance=1.0)
    flagged = {(r.system, r.task) for r in check[check.flag].itertuples()}
    assert flagged == {("xlmr", "xnli"), ("xstilts", "tydiqa")}
    xnli = check[(check.system == "xlmr") & (check.task == "xnli")].iloc[0]
    assert xnli["diff"] == pytest.approx(-3.0) and xnli["status"] == "differs"
    assert (check.loc[~check.flag, "status"] == "ok").all()
    assert "xlmr xnli (accuracy)" in describe_check(check)
    # a wider tolerance absorbs both differences
    assert not reproduction_check(results, tolerance=3.5)["flag"].any()
    assert describe_check(reproduction_check(results, tolerance=3.5)).startswith("All 12 compared")


def test_check_keeps_unmatched_rows_and_validates_input():
    results = synthetic({}).query("task != 'pawsx'")
    extra = pd.DataFrame(
        [{"system": "xlmr", "task": "udpos", "metric": "f1", "score": 75.0, "ci_low": 74.0, "ci_high": 76.0}]
    )
    check = reproduction_check(pd.concat([results, extra]), tolerance=0.0)
    status = {(r.system, r.task): r.status for r in check.itertuples()}
    assert status["xlmr", "pawsx"] == "not run" and status["xstilts", "pawsx"] == "not run"
    assert status["xlmr", "udpos"] == "no published number"
    assert not check["flag"].any()
    with pytest.raises(ValueError, match="lacks columns"):
        reproduction_check(results.drop(columns=["ci_low"]), 1.0)
    with pytest.raises(ValueError, match="tolerance"):
        reproduction_check(results, -1.0)
    broken = results.copy()
    broken.loc[broken.index[0], "ci_low"] = broken.loc[broken.index[0], "score"] + 1
    with pytest.raises(ValueError, match="CI does not contain"):
        reproduction_check(broken, 1.0)


def test_metric_must_match_to_compare():
    """Our QA cell score is (EM+F1)/2; the published QA numbers are F1: a different metric is not compared."""
    results = synthetic({})
    results.loc[results.task == "xquad", "metric"] = "em_f1"
    check = reproduction_check(results, tolerance=1.0)
    xquad = check[check.task == "xquad"]
    assert set(xquad["status"]) == {"not run", "no published number"}
