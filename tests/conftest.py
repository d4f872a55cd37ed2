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
