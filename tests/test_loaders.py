"""Every task loads through the real `load` path from fixtures in each source's exact schema; broken
schemas fail with errors naming dataset, field and expectation; the hub path calls `load_dataset` right."""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import datasets
import pytest

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.registry import REGISTRY, get_task
from xstilts.data import loaders
from xstilts.data.loaders import load, load_parts, source_for
from xstilts.data.lock import RevisionNotLocked
from xstilts.data.schemas import SchemaError
from xstilts.data.writers import write_source

FIX = Path(__file__).parent / "fixtures" / "hub"

CASES = {
    "xtreme.xnli": [("train", "en"), ("dev", "en"), ("test", "ar"), ("test", "zh"), ("test", "th")],
    "xtreme-r.xnli": [("test", "ar")],
    "xtreme.pawsx": [("train", "en"), ("dev", "en"), ("test", "zh"), ("test", "ko")],
    "xtreme.udpos": [("train", "en"), ("dev", "en"), ("test", "hi"), ("test", "th"), ("test", "ru")],
    "xtreme-r.udpos": [("test", "uk"), ("test", "pl"), ("test", "hi")],
    "xtreme.panx": [("train", "en"), ("dev", "en"), ("test", "ar"), ("test", "zh"), ("test", "hi")],
    "xtreme-r.panx": [("test", "uk"), ("test", "ar")],
    "xtreme.xquad": [("train", "en"), ("dev", "en"), ("test", "th"), ("test", "zh")],
    "xtreme-r.xquad": [("test", "ro")],
    "xtreme.mlqa": [("test", "hi"), ("test", "zh"), ("test", "ar")],
    "xtreme-r.mlqa": [("test", "zh")],
    "xtreme.tydiqa": [("train", "en"), ("dev", "en"), ("test", "ru"), ("test", "te")],
    "xtreme-r.tydiqa": [("test", "ru")],
    "xtreme.bucc2018": [("dev", "ru"), ("test", "ru")],
    "xtreme.tatoeba": [("test", "zh"), ("test", "ar")],
    "xtreme-r.tatoeba": [("test", "uk"), ("test", "zh")],
    "xtreme-r.xcopa": [("train", "en"), ("dev", "en"), ("test", "zh"), ("test", "th")],
    "xtreme-r.mewslix": [("train", "en"), ("dev", "en"), ("test", "ja"), ("test", "uk"), ("test", "ar")],
    "xtreme-r.lareqa": [("train", "en"), ("dev", "en"), ("test", "ar"), ("test", "all")],
    **{t.key: [("train", "en"), ("dev", "en")] for t in REGISTRY.values() if "intermediate" in t.benchmarks},
}
PY = {"str": str, "int": int}


def test_every_task_has_a_fixture_case():
    assert set(CASES) == set(REGISTRY)


def _check_flat(task, ds):
    if task.format in (F.CLASSIFICATION, F.MULTIPLE_CHOICE, F.TAGGING, F.QA) and "query" not in ds.column_names:
        assert list(ds.column_names) == list(F.COLUMNS[task.format]), task.key
    assert len(ds) > 0
    for row in ds:
        assert isinstance(row["id"], str) and row["id"]
        if task.format == F.CLASSIFICATION:
            assert 0 <= row["label"] < len(task.labels) and isinstance(row["text_a"], str)
        elif task.format == F.MULTIPLE_CHOICE:
            assert 0 <= row["label"] < len(row["choices"]) and all(isinstance(c, str) for c in row["choices"])
        elif task.format == F.TAGGING:
            assert len(row["tokens"]) == len(row["tags"]) > 0
            assert not task.labels or set(row["tags"]) <= set(task.labels)
        elif task.format == F.QA:
            for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"]):
                assert row["context"][start : start + len(text)] == text


@pytest.mark.parametrize("key", sorted(CASES))
def test_load_every_task_from_fixtures(key):
    task = get_task(key)
    for split, lang in CASES[key]:
        out = load(task, split, lang, world_dir=FIX)
        if isinstance(out, F.RetrievalSet):
            assert out.queries and out.candidates and len(out.query_ids) == len(out.queries)
            if task.format == F.BITEXT_MINING:  # unpaired sentences are distractors: no gold entry
                assert set(out.gold) < set(out.query_ids)
            else:
                assert set(out.gold) == set(out.query_ids)
            cands = set(out.candidate_ids)
            assert all(g and set(g) <= cands for g in out.gold.values())
            assert not any(s.endswith("\n") for s in (*out.queries, *out.candidates))
        else:
            if task.format in F.RETRIEVAL_FORMATS:  # dual-encoder training pairs
                assert list(out.column_names) == list(F.PAIR_COLUMNS)
            else:
                _check_flat(task, out)


def test_field_mappings_follow_each_source():
    ar = load("xtreme.xnli", "test", "ar", FIX)
    assert ar[1]["label"] == get_task("xtreme.xnli").labels.index("contradiction")
    siqa, copa = load_parts("xtreme-r.xcopa", "train", "en", FIX).values()
    assert siqa[1]["label"] == 1 and len(siqa[0]["choices"]) == 3  # SIQA "2" -> index 1
    assert copa[0]["prompt"].endswith("What was the cause?") and len(copa[0]["choices"]) == 2
    csqa = load("intermediate.commonsenseqa", "train", "en", FIX)
    assert csqa[0]["label"] == 0 and len(csqa[0]["choices"]) == 5
    pl = load("xtreme-r.udpos", "test", "pl", FIX)
    assert len(pl) == 3 and pl[0]["tokens"] == ["Gdzie", "ś", "był", "?"]  # range line "Gdzieś" (upos _) dropped
    assert [r["id"].split("-")[0] for r in load("xtreme.tydiqa", "test", "ru", FIX)] == ["russian"]
    tat = load("xtreme.tatoeba", "test", "zh", FIX)
    assert tat.queries[0] == "I love you." and tat.gold["eng-0"] == ["zh-0"]  # en->xx, newline stripped
    parts = load_parts("intermediate.anli_plus", "train", "en", FIX)
    assert list(parts) == ["mnli", "snli", "anli_r1", "anli_r2", "anli_r3"]
    assert len(parts["snli"]) == 2  # label -1 dropped
    lareqa = load("xtreme-r.lareqa", "test", "zh", FIX)
    assert len(lareqa.candidates) == 22 and len(lareqa.gold["xqr-q1_zh"]) == 11  # pooled over 11 languages
    three = dataclasses.replace(get_task("xtreme-r.lareqa"), languages=("ar", "th", "zh"))  # a world's own pool
    small = load(three, "test", "all", FIX)
    assert len(small.candidates) == 6 and small.query_languages == ["ar", "th", "zh"]
    mention = load("xtreme-r.mewslix", "test", "uk", FIX)
    assert mention.queries[0].startswith("Москви: ") and "{ Москви }" in mention.queries[0]
    assert "(вчора)" in mention.queries[0]


def test_alternative_hub_schemas_quirks():
    """google/xtreme variants: XNLI with a language column, PAWS-X string labels, bucc18 ids in *_lang."""
    spec = loaders.SourceSpec("xtreme.paws-x", "google/xtreme", "PAWS-X.en", "train", "xtreme.paws-x", "hub", "en")
    ds = loaders._to_classification(get_task("xtreme.pawsx"), spec, loaders.read_source(spec, FIX))
    assert ds["label"] == [1, 0]
    spec = loaders.SourceSpec("xtreme.xnli", "google/xtreme", "XNLI", "test", "xtreme.xnli", "hub", "hi")
    ds = loaders._to_classification(get_task("xtreme.xnli"), spec, loaders.read_source(spec, FIX))
    assert len(ds) == 1 and ds[0]["label"] == 2
    spec = loaders.SourceSpec("xtreme.bucc18", "google/xtreme", "bucc18.de", "validation", "xtreme.bucc18", "hub", "de")
    rs = loaders._bucc(spec, FIX)
    assert rs.gold == {"de-000000001": ["en-000000007"], "de-000000002": ["en-000000003"]}
    assert rs.queries[0] == "Der Hund schläft."


def _broken(tmp_path, rel, edit):
    root = tmp_path / "world"
    shutil.copytree(FIX, root)
    path = root / rel
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    edit(rows[0])
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return root


def test_renamed_field_is_named(tmp_path):
    root = _broken(
        tmp_path,
        "google-research-datasets/paws-x/zh/test.jsonl",
        lambda r: r.__setitem__("sentence_1", r.pop("sentence1")),
    )
    with pytest.raises(
        SchemaError,
        match=r"google-research-datasets/paws-x.*missing field\(s\) \['sentence1'\].*"
        r"unexpected field\(s\) \['sentence_1'\]",
    ):
        load("xtreme.pawsx", "test", "zh", root)


def test_string_label_where_classlabel_expected(tmp_path):
    root = _broken(tmp_path, "facebook/xnli/ar/test.jsonl", lambda r: r.__setitem__("label", "entailment"))
    with pytest.raises(
        SchemaError,
        match=r"facebook/xnli.*field 'label' expected a ClassLabel int index into "
        r"\['entailment', 'neutral', 'contradiction'\], got str",
    ):
        load("xtreme.xnli", "test", "ar", root)


def test_wrong_nesting_is_named(tmp_path):
    root = _broken(
        tmp_path,
        "google/xquad/xquad.th/validation.jsonl",
        lambda r: r.__setitem__("answers", [{"text": "x", "answer_start": 0}]),
    )
    with pytest.raises(SchemaError, match=r"google/xquad.*field 'answers' expected a dict with fields"):
        load("xtreme.xquad", "test", "th", root)


def test_siqa_int_label_and_release_breaks(tmp_path):
    root = _broken(tmp_path, "allenai/social_i_qa/default/train.jsonl", lambda r: r.__setitem__("label", 1))
    with pytest.raises(SchemaError, match=r"allenai/social_i_qa.*field 'label' expected Value\('string'\), got int"):
        load("xtreme-r.xcopa", "train", "en", root)
    (root / "tatoeba-laser" / "tatoeba.ukr-eng.eng").write_text("only one line\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="tatoeba-laser ukr.*line-aligned"):
        load("xtreme-r.tatoeba", "test", "uk", root)


def test_source_for_names_exactly_what_is_read():
    (mnli,) = source_for("xtreme.xnli", "train", "en")
    assert (mnli.dataset, mnli.config, mnli.split) == ("nyu-mll/glue", "mnli", "train")
    assert [s.config for s in source_for("xtreme-r.udpos", "test", "pl")] == ["pl_lfg", "pl_pdb", "pl_pud"]
    assert [s.dataset for s in source_for("xtreme-r.xcopa", "train", "en")] == ["allenai/social_i_qa", "aps/super_glue"]
    assert source_for("xtreme.tatoeba", "test", "fa")[0].config == "tatoeba.pes"
    assert source_for("xtreme-r.panx", "test", "qu")[0].dataset == "unimelb-nlp/wikiann"
    with pytest.raises(KeyError, match="English only"):
        source_for("xtreme.xnli", "train", "de")
    with pytest.raises(KeyError, match="not a test language"):
        source_for("xtreme.xnli", "test", "lt")
    with pytest.raises(KeyError, match="not a test language"):
        source_for("xtreme.tatoeba", "test", "en")
    with pytest.raises(KeyError, match="per language pair"):
        source_for("xtreme.bucc2018", "dev", "en")
    with pytest.raises(KeyError, match="no 'train' data"):
        source_for("xtreme.bucc2018", "train", "en")


def _source_of(path: Path) -> str:
    """The source key a hub fixture file belongs to: dataset id + config template match."""
    rel = path.relative_to(FIX)
    dataset, config = "/".join(rel.parts[:-2]), rel.parts[-2]
    for key, src in loaders.SOURCES.items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(src.config or "default"))
        if src.kind == "hub" and src.dataset == dataset and re.fullmatch(pattern, config):
            return key
    raise AssertionError(f"fixture {rel} matches no source")


def test_write_source_reproduces_fixture_bytes(tmp_path):
    """The miniature's writer emits the hub schema byte for byte; identical records, identical bytes."""
    hub_files = [p for p in sorted(FIX.rglob("*.jsonl")) if not p.relative_to(FIX).parts[0] == "mewsli-x"]
    for path in hub_files:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        config = path.parent.name
        out = write_source(tmp_path, _source_of(path), None if config == "default" else config, path.stem, records)
        assert out.read_bytes() == path.read_bytes(), path
    assert len(hub_files) >= 60
    recs = [
        {"source": "Я тебе кохаю.", "target": "I love you."},
        {"source": "Де вокзал?", "target": "Where is the station?"},
    ]
    write_source(tmp_path, "tatoeba-laser", "ukr", "test", recs)
    for name in ("tatoeba.ukr-eng.ukr", "tatoeba.ukr-eng.eng"):
        assert (tmp_path / "tatoeba-laser" / name).read_bytes() == (FIX / "tatoeba-laser" / name).read_bytes()
    rows = [
        dict(zip(("tokens", "tags"), (p.split(" ") for p in line.split("\t"))))
        for line in (FIX / "ccgbank" / "train.tsv").read_text(encoding="utf-8").splitlines()
    ]
    assert (
        write_source(tmp_path, "ccgbank", None, "train", rows).read_bytes()
        == (FIX / "ccgbank" / "train.tsv").read_bytes()
    )
    articles = json.loads((FIX / "lareqa" / "xquad-r" / "zh.json").read_text(encoding="utf-8"))["data"]
    out = write_source(tmp_path, "xquad-r", "zh", "test", articles)
    assert out.read_bytes() == (FIX / "lareqa" / "xquad-r" / "zh.json").read_bytes()
    with pytest.raises(SchemaError, match="facebook/xnli.*field 'label'"):
        write_source(tmp_path, "xnli", "en", "test", [{"premise": "a", "hypothesis": "b", "label": "neutral"}])


def test_world_dirs_accept_registered_languages_through_the_registry_entry(tmp_path):
    """The miniature reads its own languages through registry entries (strict lists are for the hub)."""
    from xstilts.benchmarks.languages import Language, register, unregister

    register(Language("q7", "Quuxian", "qqq", "Latn"))
    try:
        (spec,) = source_for("xtreme.xnli", "test", "q7", strict_languages=False)
        write_source(tmp_path, spec, spec.config, spec.split, [{"premise": "a", "hypothesis": "b", "label": 2}])
        assert load("xtreme.xnli", "test", "q7", tmp_path)[0]["label"] == 2
        with pytest.raises(KeyError, match="not a test language"):
            source_for("xtreme.xnli", "test", "q7")
        pool = tmp_path / "lareqa" / "xquad-r"
        pool.mkdir(parents=True)
        for lang in ("en", "q7"):
            shutil.copy(FIX / "lareqa" / "xquad-r" / "zh.json", pool / f"{lang}.json")
        pooled = load("xtreme-r.lareqa", "test", "q7", tmp_path)
        assert len(pooled.candidates) == 4 and pooled.query_languages == ["q7"]
    finally:
        unregister("q7")


def test_miniature_world_round_trip(tmp_path):
    """What the miniature does: ask source_for what to write, write it, load it back through `load`."""
    recs = {"bg": [{"premise": "Котката спи.", "hypothesis": "Животно почива.", "label": 0}]}
    (spec,) = source_for("xtreme.xnli", "test", "bg")
    write_source(tmp_path, spec, spec.config, spec.split, recs["bg"])
    ds = load("xtreme.xnli", "test", "bg", tmp_path)
    assert ds[0]["text_a"] == "Котката спи." and ds[0]["label"] == 0
    gold = {
        "source": [("zh-000000001", "狗在睡觉。")],
        "target": [("en-000000001", "The dog sleeps."), ("en-000000002", "Noise.")],
        "gold": [("zh-000000001", "en-000000001")],
    }
    write_source(tmp_path, "bucc2018", "zh-en", "training", gold)
    rs = load("xtreme.bucc2018", "test", "zh", tmp_path)
    assert rs.gold == {"zh-000000001": ["en-000000001"]} and len(rs.candidates) == 2


def test_hub_path_calls_load_dataset_at_the_locked_revision(tmp_path, monkeypatch):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"datasets": {"facebook/xnli": "rev-from-test-lock", "nyu-mll/glue": "rev-glue"}}))
    monkeypatch.setenv("XSTILTS_LOCK", str(lock))
    calls = []

    def fake_load_dataset(path, name=None, split=None, revision=None, **kw):
        calls.append((path, name, split, revision))
        return loaders.read_jsonl(
            FIX / path / name / f"{split}.jsonl", {"facebook/xnli": "xnli", "nyu-mll/glue": "glue.mnli"}[path], path
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load("xtreme.xnli", "test", "zh")
    assert calls == [("facebook/xnli", "zh", "test", "rev-from-test-lock")] and len(ds) == 2
    load("xtreme.xnli", "train", "en")
    assert calls[-1] == ("nyu-mll/glue", "mnli", "train", "rev-glue")
    with pytest.raises(RevisionNotLocked, match="google-research-datasets/paws-x.*make data PROFILE=paper"):
        load("xtreme.pawsx", "test", "zh")


def test_hub_path_reads_script_only_repos_from_their_parquet_export(tmp_path, monkeypatch):
    """A parquet-export source is read from the hub cache's snapshot of the locked export commit, offline:
    `<config>/<split>/*.parquet` with the hub features in the parquet schema."""
    from huggingface_hub import constants

    rev = "c0ffee0123456789abcdefc0ffee0123456789ab"  # a test-local commit id
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"datasets": {"universal-dependencies/universal_dependencies": rev}}))
    monkeypatch.setenv("XSTILTS_LOCK", str(lock))
    repo = "universal-dependencies/universal_dependencies"
    snap = tmp_path / "hub" / f"datasets--{repo.replace('/', '--')}" / "snapshots" / rev
    for tb in ("pl_lfg", "pl_pdb", "pl_pud"):
        ds = loaders.read_jsonl(FIX / repo / tb / "test.jsonl", "universal_dependencies", repo)
        (snap / tb / "test").mkdir(parents=True)
        ds.to_parquet(str(snap / tb / "test" / "0000.parquet"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    pl = load("xtreme-r.udpos", "test", "pl")
    assert len(pl) == 3 and pl[0]["tokens"] == ["Gdzie", "ś", "był", "?"]
    with pytest.raises(FileNotFoundError, match="no pl_lfg/train/\\*.parquet"):
        loaders.export_files(repo, "pl_lfg", "train", rev)


def test_hub_features_that_drift_are_rejected(tmp_path, monkeypatch):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"datasets": {"google-research-datasets/paws-x": "r1"}}))
    monkeypatch.setenv("XSTILTS_LOCK", str(lock))
    drifted = datasets.Dataset.from_dict({"id": [1], "sentence1": ["a"], "sentence2": ["b"], "label": ["1"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: drifted)
    with pytest.raises(
        SchemaError,
        match=r"paws-x/zh \[test\]: field 'label' expected ClassLabel\(\['0', '1'\]\), "
        r"hub has Value\('string'\)",
    ):
        load("xtreme.pawsx", "test", "zh")


def test_describe_reports_sizes_languages_and_parallel_examples(monkeypatch):
    from xstilts.reports.data_summary import describe

    monkeypatch.setenv("XSTILTS_CCGBANK", str(FIX / "ccgbank"))
    xnli = dataclasses.replace(get_task("xtreme.xnli"), languages=("ar", "zh", "th"))
    info = describe([xnli, get_task("intermediate.ccg")], FIX)
    tasks = info["tasks"].set_index("task")
    assert tasks.loc["xtreme.xnli", "n_train"] == 3 and tasks.loc["xtreme.xnli", "n_test_total"] == 6
    assert tasks.loc["intermediate.ccg", "n_dev"] == 1
    assert set(info["languages"]["code"]) == {"ar", "zh", "th", "en"}
    assert list(info["examples"]["language"]) == ["ar", "zh", "th"]
    assert info["examples"]["label"].tolist() == ["entailment", "neutral", "contradiction"]
    assert "xtreme.xnli" in info["notes"]
