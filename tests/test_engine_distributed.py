"""The multi-process path on CPU and the layout of a step (docs/design.md §13): 2 gloo DDP processes give
the 1-process result up to float tolerance (same global batches, split evenly; dropout off so both runs
compute the same function), whatever the micro-batch; the recipe's effective batch is cut into micro-steps
only where it divides evenly. The FSDP2 path is tested in tests/test_engine_resume.py."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch
from safetensors.torch import load_file

from xstilts.engine import toydata
from xstilts.engine.launch import finetune_torchrun
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.trainer import finetune
from xstilts.engine.types import TaskData


def hp(**kw):
    base = dict(
        lr=3e-3,
        max_steps=8,
        batch_size=8,
        grad_accum=2,
        max_seq_len=48,
        eval_every_steps=4,
        num_threads=1,
        progress=False,
    )
    return TrainConfig(**{**base, **kw})


def log(run_dir):
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


def assert_close_models(a, b):
    for f in ["encoder/model.safetensors", "heads.safetensors"]:
        x, y = load_file(str(a / f)), load_file(str(b / f))
        assert set(x) == set(y)
        for k in x:
            torch.testing.assert_close(x[k], y[k], rtol=1e-4, atol=1e-5, msg=f"{f}:{k}")


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    return toydata.make_tiny_encoder(tmp_path_factory.mktemp("enc"), layers=2, hidden=32, dropout=0.0, seed=0)


@pytest.fixture(scope="module")
def data():
    task = toydata.task("sst2", "classification", ["n", "p"])
    return [TaskData(task, toydata.classification_set(96, 1), toydata.classification_set(30, 2))]


def test_two_processes_match_one(enc, data, feature_cache, tmp_path):
    """The 2-process run cuts each step into 4 micro-steps of 2 x 2 examples (DDP all-reduces on the last
    one only); the 1-process run into the recipe's 2 batches of 8. feature_cache: tests/conftest.py."""
    one = finetune(enc, data, hp(), seed=0, out_dir=tmp_path / "one")
    finetune_torchrun(2, encoder=enc, tasks=data, hp=hp(micro_batch=2), seed=0, out_dir=tmp_path / "two")
    log_one, log_two = log(tmp_path / "one"), log(tmp_path / "two")
    assert (log_one[0]["processes"], log_one[0]["micro_steps"]) == (1, 2)
    assert (log_two[0]["processes"], log_two[0]["micro_steps"], log_two[0]["sharded"]) == (2, 4, False)
    assert [r["eval"] for r in log_one if "eval" in r] == [r["eval"] for r in log_two if "eval" in r]
    assert_close_models(tmp_path / "one", tmp_path / "two")
    assert one.world_size == 1 and json.loads((tmp_path / "two" / "finetune.json").read_text())["processes"] == 2
    base = load_file(str(enc / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "encoder/model.safetensors"))
    assert any(not torch.equal(base[k], b[k]) for k in base)  # it trained


def test_micro_batch_changes_the_layout_not_the_recipe(enc, data, feature_cache, tmp_path):
    """One process, 4 micro-steps of 4 instead of 2 of 8: the same gradients up to summation order."""
    finetune(enc, data, hp(eval_every_steps=0), seed=0, out_dir=tmp_path / "recipe")
    finetune(enc, data, hp(eval_every_steps=0, micro_batch=4), seed=0, out_dir=tmp_path / "micro")
    assert log(tmp_path / "micro")[0]["micro_steps"] == 4
    assert_close_models(tmp_path / "recipe", tmp_path / "micro")


def test_micro_steps_cut_the_effective_batch():
    assert hp().micro_steps(1) == (8, 2)  # the recipe's own cut: bitwise the trainer before micro_batch
    assert hp(micro_batch=8).micro_steps(1) == (8, 2)
    assert hp().micro_steps(2) == (4, 2)
    assert hp(micro_batch=2).micro_steps(2) == (2, 4)
    assert hp(batch_size=6, grad_accum=2, micro_batch=3).micro_steps(4) == (3, 1)
    assert hp(micro_batch=16).micro_steps(1) == (16, 1)  # a micro-step may span the recipe's batches
    for cfg, world in [(hp(micro_batch=3), 2), (hp(batch_size=8, grad_accum=1), 16), (hp(micro_batch=5), 1)]:
        with pytest.raises(ValueError) as err:
            cfg.micro_steps(world)
        assert all(name in str(err.value) for name in ("batch_size", "grad_accum", "world", "micro_batch"))
    with pytest.raises(ValueError):
        hp(micro_batch=0)
