"""The multi-process path on CPU: 2 gloo processes give the 1-process result up to float tolerance
(same global batch, split evenly; dropout off so both runs compute the same function)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch
from safetensors.torch import load_file

from xstilts.engine import toydata
from xstilts.engine.distributed import fsdp_plugin_for
from xstilts.engine.launch import finetune_multiprocess_cpu
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.trainer import finetune
from xstilts.engine.types import TaskData


def test_two_processes_match_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_FEATURE_CACHE", str(tmp_path / "cache"))
    enc = toydata.make_tiny_encoder(tmp_path / "enc", layers=2, hidden=32, dropout=0.0, seed=0)
    task = toydata.task("sst2", "classification", ["n", "p"])
    data = [TaskData(task, toydata.classification_set(96, 1), toydata.classification_set(30, 2))]
    hp = TrainConfig(
        lr=3e-3,
        max_steps=8,
        batch_size=8,
        grad_accum=2,
        max_seq_len=48,
        eval_every_steps=4,
        num_threads=1,
        progress=False,
    )
    finetune(enc, data, hp, seed=0, out_dir=tmp_path / "one")
    finetune_multiprocess_cpu(2, encoder=enc, tasks=data, hp=hp, seed=0, out_dir=tmp_path / "two")
    log_one = [json.loads(l) for l in (tmp_path / "one" / "train_log.jsonl").read_text().splitlines()]
    log_two = [json.loads(l) for l in (tmp_path / "two" / "train_log.jsonl").read_text().splitlines()]
    assert log_two[0]["processes"] == 2 and log_one[0]["processes"] == 1
    ev1, ev2 = [r for r in log_one if "eval" in r], [r for r in log_two if "eval" in r]
    assert [r["eval"] for r in ev1] == [r["eval"] for r in ev2]
    for f in ["encoder/model.safetensors", "heads.safetensors"]:
        a, b = load_file(str(tmp_path / "one" / f)), load_file(str(tmp_path / "two" / f))
        assert set(a) == set(b)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=f"{f}:{k}")
    base = load_file(str(enc / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "encoder/model.safetensors"))
    assert any(not torch.equal(base[k], b[k]) for k in base)  # it trained


def test_fsdp_plugin_only_for_xl_sizes():
    assert fsdp_plugin_for("base") is None and fsdp_plugin_for("large") is None
    plugin = fsdp_plugin_for("xxl")
    assert plugin is not None and plugin.transformer_cls_names_to_wrap == ["XLMRobertaXLLayer"]
