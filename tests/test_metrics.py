"""The official XTREME metrics (xstilts.benchmarks.metrics): exact behaviour, quirks, and per-example statistics.

The numbers of the official code on our own inputs are in tests/fixtures/scoring/expected_official.json
(recorded by make_fixtures.py from google-research/xtreme); no official code is imported here.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xstilts.benchmarks import aggregation
from xstilts.benchmarks import metrics as m
from xstilts.benchmarks import official as tables

FIXTURES = Path(__file__).parent / "fixtures" / "scoring"


@pytest.fixture(scope="module")
def functions():
    inputs = json.loads((FIXTURES / "messy_inputs.json").read_text(encoding="utf-8"))["functions"]
    expected = json.loads((FIXTURES / "expected_official.json").read_text(encoding="utf-8"))["functions"]
    return inputs, expected


def assert_stats_reproduce(result: m.MetricResult) -> None:
    """The cell score recomputed from the per-example statistics is the metric, bit for bit."""
    assert list(result.stats.columns) == ["id", *m.STATS_COLUMNS[result.kind]]
    assert m.cell_score(result.stats, result.kind) == result.scores
    as_dict = {c: result.stats[c].tolist() for c in result.stats.columns}
    assert m.cell_score(as_dict, result.kind) == result.scores


# ------------------------------------------------------------------------------------------ accuracy
def test_accuracy_compares_stripped_strings():
    r = m.accuracy(["entailment", "neutral", "contradiction", "1"], ["entailment", "Neutral", "contradiction", "1.0"])
    assert r.scores == {"accuracy": 50.0}
    assert r.stats["correct"].tolist() == [1, 0, 1, 0]
    assert_stats_reproduce(r)


def test_accuracy_length_mismatch_and_empty_raise():
    with pytest.raises(ValueError, match="same number of lines"):
        m.accuracy(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no examples"):
        m.accuracy([], [])


def test_xcopa_compares_raw_json_values():
    r = m.xcopa_accuracy([1, 0, 1, 1], [1, 0, "1", True])  # "1" != 1, True == 1 (as in evaluate.py)
    assert r.scores == {"accuracy": 75.0}
    assert_stats_reproduce(r)


def test_tatoeba_indices_as_strings():
    r = m.tatoeba_accuracy([3, 1, 2, 0], ["3", " 1 ", "02", 0], ids=["a", "b", "c", "d"])
    assert r.scores["accuracy"] == 75.0
    assert r.stats["id"].tolist() == ["a", "b", "c", "d"]
    assert_stats_reproduce(r)


# ------------------------------------------------------------------------------------------- seqeval
def _seqeval_reference(y_true, y_pred):
    from seqeval.metrics import f1_score, precision_score, recall_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "f1": f1_score(y_true, y_pred) * 100,
            "precision": precision_score(y_true, y_pred) * 100,
            "recall": recall_score(y_true, y_pred) * 100,
        }


def test_seqeval_ner():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["O", "I-ORG", "I-ORG"]]  # I- without B- starts a chunk
    r = m.seqeval_f1(gold, pred)
    assert r.scores == _seqeval_reference(gold, pred)
    assert r.scores["precision"] == 100.0 and r.scores["recall"] == pytest.approx(200 / 3)
    assert r.stats[["tp", "n_pred", "n_gold"]].values.tolist() == [[1, 1, 2], [1, 1, 1]]
    assert_stats_reproduce(r)


def test_seqeval_pos_quirks():
    # NOUN NOUN is one chunk; SCONJ/SYM start with S (singletons); INTJ starts with I; CCONJ/SCONJ share "CONJ"
    gold = [["NOUN", "NOUN", "SCONJ", "SYM", "INTJ", "CCONJ"]]
    pred = [["NOUN", "NOUN", "SCONJ", "SYM", "INTJ", "SCONJ"]]
    r = m.seqeval_f1(gold, pred)
    assert r.scores == _seqeval_reference(gold, pred)
    assert_stats_reproduce(r)


def test_seqeval_stale_chunk_across_sentences_goes_to_its_last_sentence():
    # seqeval does not start a chunk for `X` (type "_") after the O separator: the chunk starts in sentence 0
    gold = [["NOUN", "VERB"], ["X", "NOUN"]]
    pred = [["NOUN", "NOUN"], ["X", "NOUN"]]
    r = m.seqeval_f1(gold, pred)
    assert r.scores == _seqeval_reference(gold, pred)
    assert r.stats[["tp", "n_pred", "n_gold"]].values.tolist() == [[0, 1, 2], [1, 2, 2]]
    assert_stats_reproduce(r)


def test_seqeval_random_matches_seqeval_and_counts():
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "NOUN", "X", "SCONJ", "INTJ", "E-ORG", "S-ORG", "."]
    for _ in range(50):
        gold = [[rng.choice(tags) for _ in range(rng.randint(0, 7))] for _ in range(rng.randint(1, 8))]
        pred = [[rng.choice(tags) if rng.random() < 0.4 else t for t in s] for s in gold]
        r = m.seqeval_f1(gold, pred)
        assert r.scores == _seqeval_reference(gold, pred)
        assert_stats_reproduce(r)


def test_seqeval_nothing_to_find_or_predict():
    r = m.seqeval_f1([["O", "O"]], [["O", "O"]])
    assert r.scores == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert_stats_reproduce(r)


def test_seqeval_length_mismatch_raises():
    with pytest.raises(ValueError, match="sentence 1 has 1 predicted tags for 2"):
        m.seqeval_f1([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="predicted sentences"):
        m.seqeval_f1([["O"], ["O"]], [["O"]])


# ------------------------------------------------------------------------------------------------ QA
def test_squad_normalisation_is_ascii_only():
    assert m.squad_normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    # only ASCII punctuation goes: curly quotes stay (the article still goes: \b matches after “)
    assert m.squad_normalize_answer("“the Eiffel Tower”") == "“ eiffel tower”"
    assert m.squad_normalize_answer("北京大学。") == "北京大学。"


def test_squad_em_f1_missing_extra_and_several_answers():
    gold = {
        "data": [
            {
                "paragraphs": [
                    {
                        "qas": [
                            {"id": "q1", "answers": [{"text": "the Eiffel Tower"}, {"text": "Tower"}]},
                            {"id": "q2", "answers": [{"text": "308"}]},
                            {"id": "q3", "answers": [{"text": "Denver Broncos"}]},
                        ]
                    }
                ]
            }
        ]
    }
    r = m.squad_em_f1(gold, {"q1": "Eiffel Tower.", "q3": "the Broncos", "extra": "x"})
    assert r.stats["em"].tolist() == [1, 0, 0]
    assert r.stats["f1"].tolist() == [1.0, 0.0, pytest.approx(2 / 3)]
    assert r.scores == {"exact_match": 100.0 / 3, "f1": 100.0 * (1 + 2 / 3) / 3}
    assert r.info == {"missing": 1, "unexpected": 1}
    assert_stats_reproduce(r)
    # the same gold as a {qid: answers} mapping
    flat = {"q1": ["the Eiffel Tower", "Tower"], "q2": ["308"], "q3": ["Denver Broncos"]}
    assert m.squad_em_f1(flat, {"q1": "Eiffel Tower.", "q3": "the Broncos"}).scores == r.scores


def test_squad_bad_inputs_raise():
    gold = {"q1": ["a b"]}
    with pytest.raises(TypeError, match="must be a string"):
        m.squad_em_f1(gold, {"q1": ["a"]})
    with pytest.raises(ValueError, match="no answers"):
        m.squad_em_f1({"q1": []}, {"q1": "a"})
    with pytest.raises(ValueError, match="no questions"):
        m.squad_em_f1({}, {})


@pytest.mark.parametrize(
    "lang,pred,gold,expected",
    [
        ("en", "“The Eiffel Tower”", "eiffel tower", "eiffel tower"),
        ("es", "¿El río Amazonas?", "río amazonas", "río amazonas"),
        ("de", "„Die Bundesrepublik“", "Bundesrepublik", "bundesrepublik"),
        ("vi", "những người dân", "người dân", "người dân"),
        ("hi", "ताजमहल।", "ताजमहल", "ताजमहल"),
    ],
)
def test_mlqa_normalisation(lang, pred, gold, expected):
    assert m.mlqa_normalize_answer(pred, lang) == expected
    assert m.mlqa_em_f1({"q": [gold]}, {"q": pred}, lang).scores == {"exact_match": 100.0, "f1": 100.0}


def test_mlqa_arabic_al_is_removed_everywhere():
    # '\sال^|ال': the first branch never matches, so every ال goes, mid-word too
    assert m.mlqa_normalize_answer("القاهرة", "ar") == "قاهرة"
    assert m.mlqa_normalize_answer("مدينة السلام،", "ar") == "مدينة سلام"
    assert m.mlqa_normalize_answer("جمال", "ar") == "جم"


def test_mlqa_chinese_mixed_segmentation():
    assert m.mlqa_mixed_segmentation("2008年奥运会 ok") == ["2008", "年", "奥", "运", "会", "ok"]
    assert m.mlqa_normalize_answer("iPhone手机，", "zh") == "iphone 手 机"
    r = m.mlqa_em_f1({"q": ["北京大学"]}, {"q": "北京 大学。"}, "zh")
    assert r.scores == {"exact_match": 100.0, "f1": 100.0}
    partial = m.mlqa_em_f1({"q": ["北京大学"]}, {"q": "北京"}, "zh")
    assert partial.scores["f1"] == pytest.approx(100 * 2 * (1.0 * 0.5) / 1.5)
    # the SQuAD script has no segmentation: one token, no partial credit
    assert m.squad_em_f1({"q": ["北京大学"]}, {"q": "北京"}).scores["f1"] == 0.0


def test_mlqa_unknown_language_raises():
    with pytest.raises(ValueError, match="MLQA normalisation is defined only for"):
        m.mlqa_em_f1({"q": ["x"]}, {}, "th")
    with pytest.raises(ValueError, match="got language 'ja'"):
        m.mlqa_normalize_answer("x", "ja")


def test_mlqa_punct_is_unicode_punctuation():
    punct = m.mlqa_punct()
    assert {"，", "。", "«", "»", "¿", "؟", "،", "।", "„", "—"} <= punct
    assert "$" in punct and "+" in punct  # string.punctuation, though not Unicode P*
    assert "a" not in punct and "年" not in punct


# ---------------------------------------------------------------------------------------------- BUCC
def test_bucc_f1_sets_and_stats():
    gold = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3", "de-1\ten-1"]
    pred = ["de-1\ten-1", "de-2\ten-9", "de-2\ten-9", "de-4\ten-4", "", "de-3\ten-3\t0.9"]
    r = m.bucc_f1(gold, pred)
    p, rec = 1 / 5, 1 / 3
    assert r.scores == {"f1": 2 * p * rec / (p + rec) * 100, "precision": p * 100, "recall": rec * 100}
    assert r.stats["id"].tolist() == ["de-1", "de-2", "de-3", "de-4", ""]
    assert r.stats[["tp", "n_pred", "n_gold"]].sum().tolist() == [1, 5, 3]
    assert_stats_reproduce(r)


def test_bucc_f1_no_overlap_is_zero():
    r = m.bucc_f1(["a\tb"], ["a\tc"])
    assert r.scores == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert_stats_reproduce(r)
    assert_stats_reproduce(m.bucc_f1([("a", "b")], []))


def test_bucc_optimize_threshold_matches_official(functions):
    inputs, expected = functions
    for case, want in zip(inputs["bucc_optimize"], expected["bucc_optimize"]):
        c2s = {(s, t): score for s, t, score in case["candidates"]}
        got = m.bucc_optimize_threshold(c2s, case["gold"])
        if "threshold" in want:
            assert got == want["threshold"]
        else:  # official IndexError: best F1 at the last candidate -> keep every candidate
            assert want["error"].startswith("IndexError")
            best_last = sorted(c2s.values())[0]
            assert got == best_last
            assert len(m.bucc_extract(c2s, got)) == len(c2s)


def test_bucc_threshold_then_extract():
    c2s = {("a", "x"): 1.3, ("b", "y"): 1.2, ("c", "z"): 1.0, ("d", "w"): 0.9}
    th = m.bucc_optimize_threshold(c2s, ["a\tx", "b\ty"])
    assert th == pytest.approx(1.1)
    assert m.bucc_extract(c2s, th) == ["a\tx", "b\ty"]
    assert m.bucc_optimize_threshold(c2s, [("q", "r")]) == 0


# ------------------------------------------------------------------------------------------ ranking
def test_mewslix_mrr_at_20():
    gold = {"e1": [" Q1 "], "e2": ["Q2"], "e3": ["Q3"], "e4": ["Q4"], "e5": ["Q5"], "e6": ["Q6"]}
    others = [f"Q{100 + i}" for i in range(25)]
    pred = {
        "e1": ["Q9", "Q1", "Q1"],  # rank 2
        "e2": others[:20] + ["Q2"],  # rank 21: beyond the top 20
        "e3": [],  # empty list
        "e5": ["Q5 "],  # predictions are not stripped
        "e6": ["Q7", "Q7", "Q7", "Q6"],  # duplicates count as ranks
        "zz": ["Q1"],  # not a gold example
    }
    r = m.mewslix_map20(gold, pred)
    assert r.stats["ap"].tolist() == [0.5, 0.0, 0.0, 0.0, 0.0, 0.25]
    assert r.scores == {"map@20": (0.5 + 0.25) / 6 * 100}
    assert r.info == {"missing": 1, "unexpected": 1}
    assert_stats_reproduce(r)
    assert m.mewslix_map20({}, {}).scores == {"map@20": 0.0}


def test_mewslix_bad_inputs_raise():
    with pytest.raises(TypeError, match="list of ids"):
        m.mewslix_map20({"e": ["Q1"]}, {"e": "Q1"})
    with pytest.raises(ValueError, match="empty label list"):
        m.mewslix_map20({"e": []}, {})


def test_lareqa_ap_matches_official(functions):
    inputs, expected = functions
    for case, want in zip(inputs["average_precision_at_k"], expected["average_precision_at_k"]):
        assert m.average_precision_at_k(set(case["targets"]), case["ranked"], case["k"]) == want


def test_lareqa_map20_matches_official_mean_avg_prec_at_k(functions):
    """Rank the pooled candidates as utils_lareqa.mean_avg_prec_at_k does (dot product, argsort()[::-1])."""
    inputs, expected = functions
    data = inputs["mean_avg_prec_at_k"]
    cand_ids = [f"{c['context_id']}_{c['sent_pos']}" for c in data["candidates"]]
    matrix = np.array([c["encoding"] for c in data["candidates"]])
    relevant: dict[str, list[str]] = {}
    for link in data["links"]:
        relevant.setdefault(link["xling_id"], []).append(link["candidate"])
    gold, pred = {}, {}
    for q in data["questions"]:
        uid = f"{q['xling_id']}_{q['lang']}"
        scores = np.expand_dims(np.array(q["encoding"]), 0).dot(matrix.T)
        pred[uid] = [cand_ids[i] for i in np.squeeze(scores).argsort()[::-1]]
        gold[uid] = relevant[q["xling_id"]]
    r = m.lareqa_map20(gold, pred, k=data["k"])
    assert r.scores["map@20"] == pytest.approx(expected["mean_avg_prec_at_k"] * 100, abs=1e-9)
    assert_stats_reproduce(r)


def test_lareqa_duplicates_missing_and_divisor():
    gold = {"q_en": ["en_1_0", "de_1_2", "zh_2_1"], "q_de": ["en_1_0"], "q_zh": ["x"]}
    pred = {"q_en": ["de_1_2", "de_1_2", "y", "en_1_0"], "q_de": ["en_1_0"] * 3}
    r = m.lareqa_map20(gold, pred)
    assert r.stats["ap"].tolist() == [(1 / 1 + 2 / 4) / 3, 1.0, 0.0]
    assert_stats_reproduce(r)
    with pytest.raises(ValueError, match="no relevant candidate"):
        m.lareqa_map20({"q": []}, {})


# --------------------------------------------------------------------------------------- cell_score
def test_cell_score_input_checks():
    with pytest.raises(ValueError, match="unknown statistics kind"):
        m.cell_score({"correct": [1]}, "bleu")
    with pytest.raises(KeyError, match="need column 'n_gold'"):
        m.cell_score(pd.DataFrame({"tp": [1], "n_pred": [1]}), "f1")
    assert m.cell_score({"tp": [], "n_pred": [], "n_gold": []}, "f1")["f1"] == 0.0


def test_cell_score_resampled_rows_give_the_resampled_metric():
    """What the bootstrap does: rescoring a subset of rows = scoring that subset of examples."""
    gold = [["B-PER", "I-PER", "O"], ["B-LOC"], ["O", "B-ORG"], ["B-PER"]]
    pred = [["B-PER", "I-PER", "O"], ["O"], ["B-ORG", "B-ORG"], ["B-LOC"]]
    r = m.seqeval_f1(gold, pred)
    rows = [0, 2, 2]
    assert (
        m.cell_score(r.stats.iloc[rows], "f1") == m.seqeval_f1([gold[i] for i in rows], [pred[i] for i in rows]).scores
    )


# -------------------------------------------------------------------------------------- aggregation
def test_language_lists_are_the_official_ones():
    x, xr = tables.TASK2LANGS["xtreme"], tables.TASK2LANGS["xtreme-r"]
    assert len(x) == 9 and len(xr) == 10
    assert len(set().union(*x.values())) == 40
    assert len(set().union(*xr.values())) == 50
    assert xr["lareqa"] == () and len(tables.LAREQA_LANGUAGES) == 11
    assert [len(x[t]) for t in ("panx", "udpos", "tatoeba", "xquad")] == [40, 33, 36, 11]
    assert [len(xr[t]) for t in ("panx", "udpos", "tatoeba", "xquad", "xcopa", "mewslix")] == [48, 38, 41, 12, 11, 11]
    assert tables.scored_languages("lareqa", "xtreme-r", extensions=False) == []
    with pytest.raises(ValueError, match="not part of xtreme"):
        tables.scored_languages("xcopa", "xtreme")


def _per_lang(task, version, value):
    kind = m.TASK_KIND[task]
    langs = tables.scored_languages(task, version)
    if kind == "qa":
        return {lg: {"exact_match": value, "f1": value + 10} for lg in langs}
    if kind == "f1":
        return {lg: {"f1": value, "precision": value, "recall": value} for lg in langs}
    return {lg: {("accuracy" if kind == "accuracy" else "map@20"): value} for lg in langs}


def test_task_scores_avg_metric_rules():
    qa = aggregation.task_scores(_per_lang("mlqa", "xtreme", 50.0), "mlqa", "xtreme")
    assert list(qa) == ["exact_match", "f1", "avg_exact_match", "avg_f1", "avg_metric"]
    assert qa["avg_metric"] == 55.0
    assert aggregation.task_scores(_per_lang("panx", "xtreme", 40.0), "panx", "xtreme")["avg_metric"] == 40.0
    assert aggregation.task_scores(_per_lang("mewslix", "xtreme-r", 7.0), "mewslix", "xtreme-r")["avg_metric"] == 7.0
    per = _per_lang("xnli", "xtreme", 0.0)
    per["en"] = {"accuracy": 150.0}  # English counts like every other language
    assert aggregation.task_scores(per, "xnli", "xtreme")["avg_accuracy"] == 10.0
    del per["sw"]
    with pytest.raises(KeyError, match="no scores for sw"):
        aggregation.task_scores(per, "xnli", "xtreme")


def test_overall_scores_xtreme_and_xtreme_r():
    values = {t: float(10 * i) for i, t in enumerate(tables.TASK2LANGS["xtreme-r"], start=1)}
    detailed = {t: aggregation.task_scores(_per_lang(t, "xtreme-r", v), t, "xtreme-r") for t, v in values.items()}
    metric = {t: d["avg_metric"] for t, d in detailed.items()}
    out = aggregation.overall_scores(detailed, "xtreme-r")
    assert out["all_task"] == pytest.approx(sum(metric.values()) / 10)
    assert out["retrieval"] == pytest.approx((metric["tatoeba"] + metric["mewslix"]) / 2)  # official: no LAReQA
    assert out["multi_choice"] == metric["xcopa"]
    cats = {name: sum(metric[t] for t in ts) / len(ts) for name, ts in tables.XTREME_R_CATEGORIES.items()}
    assert out["category_retrieval"] == pytest.approx(cats["retrieval"])
    assert out["all_task_category_mean"] == pytest.approx(sum(cats.values()) / 4)
    assert out["all_task"] != pytest.approx(out["all_task_category_mean"])
    # official keys only: LAReQA has no language, so evaluate.py crashes computing all_task
    official = {
        t: aggregation.task_scores(_per_lang(t, "xtreme-r", v), t, "xtreme-r", extensions=False)
        for t, v in values.items()
        if t != "lareqa"
    }
    official["lareqa"] = aggregation.task_scores({}, "lareqa", "xtreme-r", extensions=False)
    assert official["lareqa"] == {}
    with pytest.raises(aggregation.OfficialScriptWouldCrash, match="KeyError 'avg_metric'"):
        aggregation.overall_scores(official, "xtreme-r", extensions=False)
    del official["lareqa"]
    partial = aggregation.overall_scores(official, "xtreme-r", extensions=False)
    assert "all_task" not in partial and list(partial) == [
        "classification",
        "tagging",
        "qa",
        "retrieval",
        "multi_choice",
    ]
    # XTREME: 9 tasks, no extension keys
    x = {t: aggregation.task_scores(_per_lang(t, "xtreme", 20.0), t, "xtreme") for t in tables.TASK2LANGS["xtreme"]}
    out = aggregation.overall_scores(x, "xtreme")
    assert list(out) == ["all_task", "classification", "tagging", "qa", "retrieval"]
    assert out["all_task"] == pytest.approx((20.0 * 6 + 25.0 * 3) / 9)
