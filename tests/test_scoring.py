"""`xstilts score` against the official XTREME evaluate.py, and the submission layout.

Offline, the comparison uses the official outputs recorded in tests/fixtures/scoring/expected_official.json
(on our own messy inputs, messy_inputs.json). With XTREME_REPO pointing to a checkout of
google-research/xtreme (seqeval installed), the official script is also run live on the same inputs,
and on its own mock_test_data.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from xstilts import cli
from xstilts.benchmarks import aggregation, metrics, scoring, submission
from xstilts.benchmarks import official as tables

FIXTURES = Path(__file__).parent / "fixtures" / "scoring"
TOL = 1e-6


def _load_make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mf = _load_make_fixtures()


@pytest.fixture(scope="module")
def bundle():
    return json.loads((FIXTURES / "messy_inputs.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURES / "expected_official.json").read_text(encoding="utf-8"))


def assert_same_report(official: dict, ours: dict, tol: float = TOL) -> None:
    """Same keys in the same order at every level, numbers within tol."""
    assert list(ours) == list(official)
    for key, want in official.items():
        got = ours[key]
        if isinstance(want, dict):
            assert isinstance(got, dict), key
            assert_same_report(want, got, tol)
        else:
            assert abs(got - want) <= tol, (key, got, want)


def test_fixture_bundle_is_what_the_generator_makes(bundle):
    assert mf.build_messy(bundle["seed"]) == bundle


OFFICIAL_RUNS = [name for name in mf.SCENARIOS if not name.startswith("messy/xtreme-r")]


@pytest.mark.parametrize("name", OFFICIAL_RUNS)
def test_messy_official_keys_match_recorded_official_output(name, bundle, expected, tmp_path):
    version, tasks = mf.SCENARIOS[name]
    pred, labels = mf.materialize(bundle, tmp_path, tasks)
    ours = scoring.score(pred, labels, version, extensions=False)
    assert_same_report(expected["scenarios"][name]["output"], ours)


@pytest.mark.parametrize("name", OFFICIAL_RUNS)
def test_messy_extensions_only_add_documented_keys(name, bundle, expected, tmp_path):
    version, tasks = mf.SCENARIOS[name]
    pred, labels = mf.materialize(bundle, tmp_path, tasks)
    ours = scoring.score(pred, labels, version)
    official = expected["scenarios"][name]["output"]
    for key, want in official.items():
        if key == "lareqa":  # official: {} (no language); ours: scored
            assert want == {} and ours["lareqa"]["avg_metric"] >= 0
        elif isinstance(want, dict):
            assert_same_report(want, ours[key])
        else:
            assert abs(ours[key] - want) <= TOL
    extra = set(ours) - set(official)
    allowed = {aggregation.ALL_TASK_CATEGORY_MEAN} | {
        aggregation.CATEGORY_PREFIX + c for c in tables.XTREME_R_CATEGORIES
    }
    assert extra <= allowed
    if version == "xtreme":
        assert not extra


def test_xtreme_r_with_lareqa_official_crashes_ours_scores_all(bundle, expected, tmp_path):
    assert expected["scenarios"]["messy/xtreme-r"]["error"] == "KeyError: 'avg_metric'"
    pred, labels = mf.materialize(bundle, tmp_path)
    with pytest.raises(aggregation.OfficialScriptWouldCrash):
        scoring.score(pred, labels, "xtreme-r", extensions=False)
    ours = scoring.score(pred, labels, "xtreme-r")
    tasks = tables.TASK2LANGS["xtreme-r"]
    assert ours["all_task"] == pytest.approx(sum(ours[t]["avg_metric"] for t in tasks) / 10)
    cats = [ours[aggregation.CATEGORY_PREFIX + c] for c in tables.XTREME_R_CATEGORIES]
    assert ours[aggregation.ALL_TASK_CATEGORY_MEAN] == pytest.approx(sum(cats) / 4)
    assert list(ours["lareqa"]["map@20"]) == list(tables.LAREQA_LANGUAGES)
    # the other nine tasks are exactly those of the official run without lareqa/
    no_lareqa = expected["scenarios"]["messy-no-lareqa/xtreme-r"]["output"]
    for task in tasks:
        if task != "lareqa":
            assert_same_report(no_lareqa[task], ours[task])


def test_every_cell_statistics_reproduce_the_cell(bundle, tmp_path):
    pred, labels = mf.materialize(bundle, tmp_path)
    for version in tables.BENCHMARKS:
        _, detailed, results = scoring.evaluate_folders(pred, labels, version)
        assert {t for t, _ in results} == set(detailed)
        for (task, lang), result in results.items():
            assert result.kind == metrics.TASK_KIND[task]
            assert metrics.cell_score(result.stats, result.kind) == result.scores, (task, lang)
            for metric, value in result.scores.items():
                assert detailed[task][metric][lang] == value


def test_missing_language_file_is_an_error_listing_all(bundle, tmp_path):
    pred, labels = mf.materialize(bundle, tmp_path, ["xnli", "mlqa"])
    (pred / "xnli" / "test-sw.tsv").unlink()
    (labels / "mlqa" / "test-zh.json").unlink()
    with pytest.raises(FileNotFoundError) as err:
        scoring.score(pred, labels, "xtreme")
    assert "2 file(s)" in str(err.value) and "test-sw.tsv" in str(err.value) and "test-zh.json" in str(err.value)


def test_bad_cell_errors_name_the_file(bundle, tmp_path):
    pred, labels = mf.materialize(bundle, tmp_path, ["pawsx"])
    path = pred / "pawsx" / "test-ko.tsv"
    path.write_text(path.read_text() + "1\n")
    with pytest.raises(ValueError, match="pawsx/test-ko.tsv: accuracy"):
        scoring.score(pred, labels, "xtreme")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        scoring.score(tmp_path / "nope", labels, "xtreme")
    (pred / "pawsx").rename(pred / "pawsx_")
    (pred / "mlqa").mkdir()
    (labels / "mlqa").mkdir()
    for lg in tables.scored_languages("mlqa", "xtreme"):
        (pred / "mlqa" / f"test-{lg}.json").write_text("{}")
        (labels / "mlqa" / f"test-{lg}.json").write_text('{"data": [}')
    with pytest.raises(ValueError, match="cannot read label file .*test-en.json' as mlqa"):
        scoring.score(pred, labels, "xtreme")


def test_cli_writes_the_report(bundle, tmp_path, capsys):
    pred, labels = mf.materialize(bundle, tmp_path, ["xquad", "mlqa", "tydiqa", "lareqa"])
    out = tmp_path / "report" / "scores.json"
    rc = cli.main(
        [
            "score",
            "--prediction_folder",
            str(pred),
            "--label_folder",
            str(labels),
            "--xtreme_version",
            "xtreme-r",
            "--output_file",
            str(out),
        ]
    )
    assert rc == 0
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(scoring.score(pred, labels, "xtreme-r")))
    assert list(written)[:2] == ["qa", "category_qa"]
    printed = capsys.readouterr().out
    assert "====== mlqa ======" in printed and "metric: " in printed
    rc = cli.main(
        [
            "score",
            "--prediction_folder",
            str(pred),
            "--label_folder",
            str(labels),
            "--xtreme_version",
            "xtreme-r",
            "--output_file",
            str(out),
            "--official_keys_only",
        ]
    )
    assert json.loads(out.read_text())["lareqa"] == {}


# -------------------------------------------------------------------------------- submission layout
ROUNDTRIP = {
    "xnli": ["entailment", "neutral", "contradiction"],
    "pawsx": ["0", "1"],
    "tatoeba": [3, 0, 12],
    "udpos": [["NOUN", "VERB"], [], ["X"]],
    "panx": [["B-PER", "I-PER", "O"]],
    "bucc2018": [("de-1", "en-2"), "de-3\ten-4"],
    "xcopa": [0, 1, 1],
    "xquad": {"q1": "«Ιλιάδα»", "q2": ""},
    "mewslix": {"e1": [f"Q{i}" for i in range(25)], "e2": []},
    "lareqa": {"x_en": ["en_1_0", "de_2_1"]},
}


@pytest.mark.parametrize("task", list(ROUNDTRIP))
def test_predictions_roundtrip(task, tmp_path):
    path = submission.write_predictions(tmp_path, task, "el", ROUNDTRIP[task])
    assert path == tmp_path / task / f"test-el.{submission.TASK_SUFFIX[task]}"
    back = submission.read_predictions(tmp_path, task, "el")
    want = ROUNDTRIP[task]
    if task == "tatoeba":
        want = [str(i) for i in want]
    elif task == "bucc2018":
        want = ["de-1\ten-2", "de-3\ten-4"]
    elif task in ("mewslix", "lareqa"):
        want = {k: v[:20] for k, v in want.items()}
    assert back == want


def test_engine_shaped_predictions(tmp_path):
    """What a target run hands over: label indices with the registry entry, answer lists with ids."""
    import numpy as np

    from xstilts.benchmarks.registry import get_task

    xnli = get_task("xtreme.xnli")
    submission.write_predictions(tmp_path, "xnli", "de", [0, np.int64(2), "neutral"], task=xnli)
    assert submission.read_predictions(tmp_path, "xnli", "de") == ["entailment", "contradiction", "neutral"]
    panx = get_task("xtreme.panx")
    submission.write_predictions(tmp_path, "panx", "de", [[1, 2, 0]], task=panx)
    assert submission.read_predictions(tmp_path, "panx", "de") == [[panx.labels[1], panx.labels[2], panx.labels[0]]]
    submission.write_predictions(tmp_path, "mlqa", "de", ["der Rhein", ""], ids=["q1", "q2"])
    assert submission.read_predictions(tmp_path, "mlqa", "de") == {"q1": "der Rhein", "q2": ""}
    submission.write_predictions(tmp_path, "mewslix", "de", [["Q1", "Q2"]], ids=["e1"])
    assert submission.read_predictions(tmp_path, "mewslix", "de") == {"e1": ["Q1", "Q2"]}
    with pytest.raises(TypeError, match="needs the example ids"):
        submission.write_predictions(tmp_path, "xquad", "de", ["a"])
    with pytest.raises(ValueError, match="2 predictions for 1 ids"):
        submission.write_predictions(tmp_path, "lareqa", "de", [["a"], ["b"]], ids=["q"])
    with pytest.raises(TypeError, match="needs the registry entry"):
        submission.write_predictions(tmp_path, "xnli", "de", [1])


def test_writers_reject_what_the_official_reader_would_mangle(tmp_path):
    with pytest.raises(ValueError, match="newline or outer whitespace"):
        submission.write_predictions(tmp_path, "xnli", "en", ["neutral\n"])
    with pytest.raises(ValueError, match="sentence break"):
        submission.write_predictions(tmp_path, "panx", "en", [["O", ""]])
    with pytest.raises(TypeError, match="list of ids"):
        submission.write_predictions(tmp_path, "mewslix", "en", {"e": "Q1"})
    with pytest.raises(TypeError, match="must be strings"):
        submission.write_predictions(tmp_path, "mlqa", "en", {"q": None})
    with pytest.raises(ValueError, match="exactly one gold QID"):
        submission.write_labels(tmp_path, "mewslix", "en", {"e": ["Q1", "Q2"]})
    with pytest.raises(ValueError, match="unknown XTREME task"):
        submission.submission_path(tmp_path, "xquad_r", "en")


def test_written_labels_and_predictions_score(tmp_path):
    examples = [
        {"id": "q1", "context": "C", "question": "?", "answers": {"text": ["Москва"], "answer_start": [0]}},
        {
            "id": "q2",
            "context": "C",
            "question": "?",
            "answers": {"text": ["Лев Толстой", "Толстой"], "answer_start": [0, 4]},
        },
        {"id": "q3", "context": "D", "question": "?", "answers": {"text": ["1812 год"], "answer_start": [0]}},
    ]
    submission.write_labels(tmp_path / "labels", "xquad", "ru", examples)
    gold = submission.read_labels(tmp_path / "labels", "xquad", "ru")
    assert [len(p["qas"]) for p in gold[0]["paragraphs"]] == [2, 1]
    submission.write_predictions(tmp_path / "pred", "xquad", "ru", {"q1": "москва!", "q2": "Толстой"})
    result = scoring.score_file_pair(
        "xquad",
        submission.submission_path(tmp_path / "pred", "xquad", "ru"),
        submission.submission_path(tmp_path / "labels", "xquad", "ru"),
        "ru",
    )
    assert result.scores == {"exact_match": 200 / 3, "f1": 200 / 3}
    assert (tmp_path / "labels" / "xquad" / "test-ru.json").read_text().isascii()


# ------------------------------------------------------------------------------ the official script
XTREME_REPO = os.environ.get("XTREME_REPO")
needs_repo = pytest.mark.skipif(
    not XTREME_REPO or not (Path(XTREME_REPO or ".") / "evaluate.py").exists(),
    reason="set XTREME_REPO to a checkout of google-research/xtreme",
)


@needs_repo
@pytest.mark.parametrize("name", list(mf.SCENARIOS))
def test_official_evaluate_py_live(name, bundle, tmp_path):
    """Run the official evaluate.py on the same inputs as ours and compare (or see it crash)."""
    version, tasks = mf.SCENARIOS[name]
    pred, labels = mf.materialize(bundle, tmp_path, tasks)
    record = mf.run_official_evaluate(Path(XTREME_REPO), pred, labels, version, tmp_path / "official.json")
    if "output" not in record:
        assert record["error"] == "KeyError: 'avg_metric'"
        with pytest.raises(aggregation.OfficialScriptWouldCrash):
            scoring.score(pred, labels, version, extensions=False)
        return
    assert_same_report(record["output"], scoring.score(pred, labels, version, extensions=False))


@needs_repo
def test_official_mock_test_data(expected, tmp_path):
    mock = Path(XTREME_REPO) / "mock_test_data"
    if not mock.is_dir():
        pytest.skip("the checkout has no mock_test_data/")
    pred, labels = mock / "predictions", mock / "labels"
    ours = scoring.score(pred, labels, "xtreme", extensions=False)
    assert_same_report(expected["scenarios"]["mock/xtreme"]["output"], ours)
    live = mf.run_official_evaluate(Path(XTREME_REPO), pred, labels, "xtreme", tmp_path / "official.json")
    assert_same_report(live["output"], ours)
    # XTREME-R: the mock data lacks the added languages; both stop on the missing files
    assert expected["scenarios"]["mock/xtreme-r"]["error"].startswith("FileNotFoundError")
    with pytest.raises(FileNotFoundError, match="panx/test-qu.tsv"):
        scoring.score(pred, labels, "xtreme-r")
    # the XTREME-R tasks the mock data does cover (evaluate_test.py's XTREME_R_TASK2AVG_SCORES)
    for task, avg in {
        "xnli": {"avg_accuracy": 30.666666666666668},
        "mewslix": {"avg_map@20": 14.39025156130419},
        "mlqa": {"avg_exact_match": 57.142857142857146, "avg_f1": 81.76870748299321},
        "tydiqa": {"avg_exact_match": 88.88888888888889, "avg_f1": 97.22222222222223},
    }.items():
        per_lang = {
            lg: scoring.score_file_pair(
                task, submission.submission_path(pred, task, lg), submission.submission_path(labels, task, lg), lg
            ).scores
            for lg in tables.scored_languages(task, "xtreme-r")
        }
        got = aggregation.task_scores(per_lang, task, "xtreme-r")
        for key, value in avg.items():
            assert got[key] == pytest.approx(value, abs=TOL)


def test_xtreme_commit_recorded(expected):
    assert len(expected["xtreme_commit"]) == 40
    assert sys.version_info >= (3, 11)
