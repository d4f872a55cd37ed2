"""Shared test setup: outputs go to a temporary folder, the hub is never contacted."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Redirect `outputs/` to a temporary folder for the duration of a test."""
    out = tmp_path / "outputs"
    monkeypatch.setenv("XSTILTS_OUTPUTS", str(out))
    return out


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """A tiny random XLM-R checkpoint (2 x 32) with its tokenizer, for engine tests."""
    from xstilts.engine import toydata

    return toydata.make_tiny_encoder(tmp_path_factory.mktemp("enc"), layers=2, hidden=32, seed=0)


@pytest.fixture
def feature_cache(tmp_path, monkeypatch):
    """A fresh tokenized-feature cache (disk and memory) for one test."""
    from xstilts.engine.feature_cache import _MEMORY

    monkeypatch.setenv("XSTILTS_FEATURE_CACHE", str(tmp_path / "cache"))
    _MEMORY.clear()
