"""The reproduction check against the published numbers: the data file, the comparison on synthetic results,
and our side of it (xstilts.analysis.reproduction) on a synthetic study with known answers."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xstilts.analysis.reproduction import best_arms, effects, our_results
from xstilts.benchmarks.published import describe_check, published, reproduction_check
from xstilts.benchmarks.registry import TARGET_NAMES


def test_published_file_has_a_source_for_every_number():
    table = published()
    assert set(table["system"]) == {"xlmr", "xstilts", "xlmr_fairseq", "xstilts_effect"}
    assert table["source"].str.len().min() > 10 and set(table["verified"]) == {"yes", "no"}
    numbers = table[table.system != "xstilts_effect"]
    assert set(numbers["task"]) <= set(TARGET_NAMES)
    assert set(numbers["metric"]) <= {"accuracy", "f1", "em"}
    assert (numbers["verified"] == "yes").all()  # only numbers read in their source are compared
    assert table["value"].between(0, 100).all()
    # QA as published: F1 and EM separately for XLM-R Large and X-STILTs on all three QA tasks
    for system in ("xlmr", "xstilts"):
        qa = numbers[(numbers.system == system) & numbers.task.isin(["xquad", "mlqa", "tydiqa"])]
        assert set(zip(qa.task, qa.metric, strict=True)) == {
            (t, m) for t in ("xquad", "mlqa", "tydiqa") for m in ("f1", "em")
        }
    # X-STILTs's headline effect on TyDiQA (docs/statistics.md §1.3: +10.9)
    row = numbers[(numbers.system == "xstilts") & (numbers.task == "tydiqa") & (numbers.metric == "f1")].iloc[0]
    xlmr = numbers[(numbers.system == "xlmr") & (numbers.task == "tydiqa") & (numbers.metric == "f1")].iloc[0]["value"]
    assert row["value"] - xlmr == pytest.approx(10.9)
    assert set(numbers[numbers.system == "xlmr_fairseq"]["model"]) == {"large", "xl", "xxl"}
    effect = table[(table.system == "xstilts_effect") & (table.task == "best_per_target")].iloc[0]
    assert effect["value"] == 5.4 and effect["verified"] == "yes"


def synthetic(shift: dict[tuple[str, str], float], half_width: float = 0.5) -> pd.DataFrame:
    """Our results = the published numbers + a per-(system, task) shift, with a +-half_width CI."""
    ref = published().query("system != 'xstilts_effect'")
    rows = []
    for r in ref.itertuples():
        score = r.value + shift.get((r.system, r.task), 0.0)
        rows.append(
            {
                "system": r.system,
                "model": r.model,
                "task": r.task,
                "metric": r.metric,
                "score": score,
                "ci_low": score - half_width,
                "ci_high": score + half_width,
            }
        )
    return pd.DataFrame(rows)


def test_check_flags_only_numbers_beyond_ci_plus_tolerance():
    results = synthetic({("xlmr", "xnli"): -3.0, ("xstilts", "mlqa"): 1.4, ("xstilts", "tydiqa"): 1.6})
    check = reproduction_check(results, tolerance=1.0)
    flagged = {(r.system, r.task, r.metric) for r in check[check.flag].itertuples()}
    assert flagged == {("xlmr", "xnli", "accuracy"), ("xstilts", "tydiqa", "f1"), ("xstilts", "tydiqa", "em")}
    xnli = check[(check.system == "xlmr") & (check.task == "xnli")].iloc[0]
    assert xnli["diff"] == pytest.approx(-3.0) and xnli["status"] == "differs"
    assert (check.loc[~check.flag, "status"] == "ok").all()
    assert "xlmr large xnli (accuracy)" in describe_check(check)
    assert "xstilts_effect" not in set(check["system"])  # effects are compared in direction, elsewhere
    assert not reproduction_check(results, tolerance=3.5)["flag"].any()
    assert describe_check(reproduction_check(results, tolerance=3.5)).startswith(f"All {len(results)} compared")


def test_check_keeps_unmatched_rows_and_validates_input():
    results = synthetic({}).query("task != 'pawsx'")
    extra = pd.DataFrame(
        [
            {
                "system": "xlmr",
                "model": "large",
                "task": "bucc2018",
                "metric": "f1",
                "score": 75.0,
                "ci_low": 74.0,
                "ci_high": 76.0,
            }
        ]
    )
    check = reproduction_check(pd.concat([results, extra]), tolerance=0.0)
    status = {(r.system, r.task): r.status for r in check.itertuples()}
    assert status["xlmr", "pawsx"] == "not run" and status["xstilts", "pawsx"] == "not run"
    assert status["xlmr", "bucc2018"] == "no published number"
    assert not check["flag"].any()
    with pytest.raises(ValueError, match="lacks columns"):
        reproduction_check(results.drop(columns=["ci_low"]), 1.0)
    with pytest.raises(ValueError, match="tolerance"):
        reproduction_check(results, -1.0)
    broken = results.copy()
    broken.loc[broken.index[0], "ci_low"] = broken.loc[broken.index[0], "score"] + 1
    with pytest.raises(ValueError, match="CI does not contain"):
        reproduction_check(broken, 1.0)


# --- our side, on a synthetic study whose answers are known -------------------------------------------

LANGS = ["en", "de", "sw"]
ARM_SHIFT = {"none": 0.0, "mnli": 2.0, "squad": 4.0, "multitask": 3.0}  # test-score gain of each arm
SEEDS = 3


def _study():
    """XNLI (accuracy) and XQuAD (EM, F1 per example) at large and xl; seed s adds s - 1 points."""
    score_rows, example_rows = [], []
    for model, params in (("large", 550), ("xl", 3500)):
        for arm, shift in ARM_SHIFT.items():
            for seed in range(SEEDS):
                for i, lang in enumerate(LANGS):
                    score = 70.0 + shift + (seed - 1) + i  # languages 70, 71, 72 (+ shifts)
                    score_rows.append(
                        dict(
                            benchmark="xtreme",
                            task="xnli",
                            language=lang,
                            model=model,
                            params=params,
                            arm=arm,
                            seed=seed,
                            metric="accuracy",
                            score=score,
                            chance=33.3,
                            run="r",
                        )
                    )
                    for k in range(4):  # EM 0.5 everywhere; F1 = 0.6 + (shift + seed) / 100
                        example_rows.append(
                            dict(
                                benchmark="xtreme",
                                task="xquad",
                                language=lang,
                                params=params,
                                arm=arm,
                                seed=seed,
                                example_id=str(k),
                                em=float(k % 2),
                                f1=0.6 + (shift + seed) / 100,
                            )
                        )
    dev = pd.DataFrame(
        [
            dict(task=task, model="large", arm=arm, dev_score=dev)
            for task, devs in {"xnli": {"mnli": 80.0, "squad": 79.0}, "xquad": {"mnli": 60.0, "squad": 65.0}}.items()
            for arm, dev in {**devs, "none": 99.0, "multitask": 99.0}.items()  # none, multitask never chosen
        ]
    )
    return pd.DataFrame(score_rows), pd.DataFrame(example_rows), dev


def test_our_results_average_languages_then_seeds_with_a_t_interval():
    scores, examples, dev = _study()
    assert best_arms(dev) == {"xnli": "mnli", "xquad": "squad"}
    ours = our_results(scores, examples, dev).set_index(["system", "model", "task", "metric"])
    xnli = ours.loc[("xlmr", "large", "xnli", "accuracy")]
    half = stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3)  # seeds 70, 71, 72 (+1 for the languages): SD 1
    assert xnli["score"] == pytest.approx(71.0) and xnli["ci_high"] - xnli["score"] == pytest.approx(half)
    assert ours.loc[("xstilts", "large", "xnli", "accuracy")]["score"] == pytest.approx(73.0)  # mnli: +2
    assert ours.loc[("xstilts", "large", "xnli", "accuracy")]["arm"] == "mnli"
    assert ours.loc[("xstilts", "large", "xquad", "f1")]["score"] == pytest.approx(65.0)  # squad: 60 + 4 + 1
    assert ours.loc[("xlmr", "large", "xquad", "em")]["score"] == pytest.approx(50.0)
    assert ours.loc[("xlmr_fairseq", "xl", "xquad", "f1")]["score"] == pytest.approx(61.0)
    check = reproduction_check(ours.reset_index(), tolerance=1.0)
    assert {"ok", "differs", "not run"} >= set(check["status"]) - {"no published number"}


def test_effects_compare_direction():
    scores, _, dev = _study()
    table = effects(scores, dev).set_index("effect")
    assert table.loc["mnli", "ours"] == pytest.approx(2.0) and table.loc["squad", "ours"] == pytest.approx(4.0)
    assert table.loc["best_per_target", "ours"] == pytest.approx(2.0)  # only XNLI has test scores: mnli
    assert table["same_direction"].all()
    flipped = scores.assign(score=np.where(scores["arm"] == "none", scores["score"] + 10, scores["score"]))
    assert not effects(flipped, dev)["same_direction"].any()
