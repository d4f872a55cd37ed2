"""`make data`'s offline check: what is missing, found from local files only, reported without a traceback."""

import io
import json
import shutil
import time
from pathlib import Path

import pytest

from xstilts.benchmarks.registry import REGISTRY
from xstilts.data import hub_cache as cache
from xstilts.data.lock import read_lock, write_lock

FIX = Path(__file__).parent / "fixtures" / "hub"


@pytest.fixture
def empty_machine(tmp_path, monkeypatch):
    """No lock entries, empty caches, no releases, no CCGbank, offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XSTILTS_LOCK", str(tmp_path / "lock.json"))
    monkeypatch.setenv("XSTILTS_RELEASES", str(tmp_path / "releases"))
    monkeypatch.delenv("XSTILTS_CCGBANK", raising=False)
    monkeypatch.setattr(cache, "_datasets_cache", lambda: tmp_path / "datasets")
    monkeypatch.setattr(cache, "_hub_cache", lambda: tmp_path / "hub")
    return tmp_path


def test_offline_paper_profile_reports_everything_fast(empty_machine):
    t0 = time.perf_counter()
    items = cache.missing(list(REGISTRY), ["FacebookAI/xlm-roberta-large", "facebook/xlm-roberta-xl"])
    elapsed = time.perf_counter() - t0
    assert elapsed < 30
    kinds = {i.kind for i in items}
    assert kinds == {"dataset", "release", "model", "licence"}
    names = {i.name for i in items}
    assert "facebook/xnli (sw)" in names and "nyu-mll/glue (mnli)" in names
    assert "bucc2018/zh-en/zh-en.training.gold" in names and "lareqa/xquad-r/th.json" in names
    assert "mewsli-x/candidate_set_entities.jsonl" in names and "facebook/xlm-roberta-xl" in names
    report = cache.report_missing(items)
    assert "make data PROFILE=paper" in report and "HF_HUB_OFFLINE=1" in report and "XSTILTS_CCGBANK" in report


def test_prepare_offline_returns_2_without_a_traceback(empty_machine):
    err = io.StringIO()
    t0 = time.perf_counter()
    code = cache.prepare(["xtreme.xnli", "xtreme.tatoeba"], ["FacebookAI/xlm-roberta-base"], stream=err)
    assert code == 2 and time.perf_counter() - t0 < 60
    text = err.getvalue()
    assert text.startswith("Offline") and "facebook/xnli (ar)" in text and "google/xtreme (tatoeba.pes)" in text
    assert "FacebookAI/xlm-roberta-base" in text and "Traceback" not in text


def test_cached_and_locked_items_are_not_reported(empty_machine, monkeypatch):
    rev = "0123456789abcdef0123456789abcdef01234567"  # a test-local revision, not a real hub commit
    write_lock({"datasets": {"facebook/xnli": rev, "nyu-mll/glue": rev}, "models": {"org/tiny": rev}})
    assert read_lock()["datasets"]["facebook/xnli"] == rev
    for cfg in ["mnli", *REGISTRY["xtreme.xnli"].languages]:
        folder = "nyu-mll___glue" if cfg == "mnli" else "facebook___xnli"
        prepared = empty_machine / "datasets" / folder / cfg / "0.0.0" / rev
        prepared.mkdir(parents=True)
        (prepared / "dataset_info.json").write_text("{}")
    snap = empty_machine / "hub" / "models--org--tiny" / "snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    assert cache.missing(["xtreme.xnli"], ["org/tiny"]) == []
    assert cache.prepare(["xtreme.xnli"], ["org/tiny"], stream=io.StringIO()) == 0
    shutil.rmtree(empty_machine / "datasets" / "facebook___xnli" / "sw" / "0.0.0" / rev)
    (item,) = cache.missing(["xtreme.xnli"], ["org/tiny"])
    assert item.name == "facebook/xnli (sw)" and rev[:12] in item.detail


def test_resolve_model_offline(empty_machine, monkeypatch):
    with pytest.raises(RuntimeError, match="(?s)org/absent.*no locked revision.*make data PROFILE=paper"):
        cache.resolve_model("org/absent")
    with pytest.raises(RuntimeError, match="org/absent.*no snapshot 0123456789ab"):
        cache.resolve_model("org/absent", "0123456789abcdef0123456789abcdef01234567")


def test_parquet_export_sources_are_found_as_parquet_files_in_the_hub_cache(empty_machine):
    rev = "fedcba9876543210fedcba9876543210fedcba98"  # a test-local revision, not a real hub commit
    write_lock({"datasets": {"allenai/social_i_qa": rev}})
    assert any(i.name.startswith("allenai/social_i_qa") for i in cache.missing(["xtreme-r.xcopa"], []))
    snap = empty_machine / "hub" / "datasets--allenai--social_i_qa" / "snapshots" / rev / "default" / "train"
    snap.mkdir(parents=True)
    assert not cache.export_cached("allenai/social_i_qa", None, "train", rev)
    (snap / "0000.parquet").write_bytes(b"")
    assert cache.export_cached("allenai/social_i_qa", None, "train", rev)
    assert not cache.export_cached("allenai/social_i_qa", None, "validation", rev)
    assert not any(i.name.startswith("allenai/social_i_qa") for i in cache.missing(["xtreme-r.xcopa"], []))
    assert cache._script_only(["social_i_qa.py", "README.md"]) and not cache._script_only(["x.py", "d/train.parquet"])


def test_model_downloads_fetch_only_what_the_loaders_read():
    repo = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"]
    repo += ["onnx/model.onnx", "sentencepiece.bpe.model", "tokenizer.json", "README.md", ".gitattributes"]
    files, note = cache.model_files(repo)
    assert files == ["config.json", "sentencepiece.bpe.model", "tokenizer.json", "model.safetensors"]
    assert note == "safetensors"
    files, note = cache.model_files(["config.json", "pytorch_model.bin", "tokenizer.json", "tf_model.h5"])
    assert files == ["config.json", "tokenizer.json", "pytorch_model.bin"] and note.startswith("no safetensors")
    with pytest.raises(FileNotFoundError, match="neither safetensors nor PyTorch"):
        cache.model_files(["config.json", "tf_model.h5"])


def test_release_files_are_checked_per_file(empty_machine, monkeypatch):
    monkeypatch.setenv("XSTILTS_RELEASES", str(FIX))  # fixtures hold the ru BUCC files only
    names = {i.name for i in cache.missing(["xtreme.bucc2018"])}
    assert not any(n.startswith("bucc2018/ru-en") for n in names)
    assert "bucc2018/de-en/de-en.sample.de" in names and "bucc2018/fr-en/fr-en.training.en" in names
    assert not any(n.startswith("bucc2018/en-en") for n in names)


def test_ccgbank_present_is_not_missing(empty_machine, monkeypatch):
    monkeypatch.setenv("XSTILTS_CCGBANK", str(FIX / "ccgbank"))
    assert cache.missing(["intermediate.ccg"]) == []
    monkeypatch.delenv("XSTILTS_CCGBANK")
    (item,) = cache.missing(["intermediate.ccg"])
    assert item.kind == "licence" and "licence-gated" in item.detail


def test_lock_file_is_sorted_and_merged(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_LOCK", str(tmp_path / "lock.json"))
    write_lock({"datasets": {"b/x": "2"}})
    write_lock({"datasets": {"a/y": "1"}, "releases": {"f": "sha256:00"}})
    data = json.loads((tmp_path / "lock.json").read_text())
    assert list(data["datasets"]) == ["a/y", "b/x"] and data["releases"] == {"f": "sha256:00"}
    with pytest.raises(KeyError, match="unknown lock section"):
        write_lock({"weights": {}})
