"""Multi-task intermediate training (jiant's recipe): shared encoder, one head per head key (ANLI+
sub-tasks share one), size-proportional task sampling, one task per optimiser step."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from safetensors.torch import load_file

from xstilts.engine import toydata
from xstilts.engine.sampling import ProportionalTaskSampler, batch_stream
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.trainer import finetune, total_steps
from xstilts.engine.types import TaskData

pytestmark = pytest.mark.usefixtures("feature_cache")  # encoder, feature_cache: tests/conftest.py


def test_multitask_heads_sampling_and_selection(encoder, tmp_path):
    nli = ["entailment", "neutral", "contradiction"]
    anli_r1 = toydata.task("anli_r1", "classification", nli, head="nli")
    snli = toydata.task("snli", "classification", nli, head="nli")
    mc = toydata.task("intermediate.hellaswag", "multiple_choice", num_choices=3)  # registry-style key
    tag = toydata.task("ccg", "tagging", toydata.TAGS, metric="token_accuracy")
    tasks = [
        TaskData(anli_r1, toydata.classification_set(300, 1), toydata.classification_set(40, 2)),
        TaskData(snli, toydata.classification_set(100, 3), toydata.classification_set(40, 4)),
        TaskData(mc, toydata.multiple_choice_set(100, 5), toydata.multiple_choice_set(40, 6)),
        TaskData(tag, toydata.tagging_set(100, 7), toydata.tagging_set(40, 8)),
    ]
    hp = TrainConfig(
        lr=2e-3,
        max_steps=120,
        batch_size=8,
        grad_accum=2,
        max_seq_len=48,
        eval_every_steps=40,
        log_every_steps=1,
        num_threads=1,
        progress=False,
    )
    res = finetune(encoder, tasks, hp, seed=0, out_dir=tmp_path / "mt")
    out = tmp_path / "mt"
    meta = json.loads((out / "heads.json").read_text())
    assert sorted(meta) == ["ccg", "intermediate__hellaswag", "nli"]  # ANLI+ sub-tasks share the "nli" head
    assert meta["nli"]["num_labels"] == 3 and meta["ccg"]["format"] == "tagging"
    keys = {k.split("/")[0] for k in load_file(str(out / "heads.safetensors"))}
    assert keys == {"ccg", "intermediate__hellaswag", "nli"}
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 121))  # one record, hence one task, per optimiser step
    counts = Counter(r["task"] for r in steps)
    assert set(counts) == {"anli_r1", "snli", "intermediate.hellaswag", "ccg"}
    assert counts["anli_r1"] > counts["snli"]  # sizes 300 vs 100: p = 0.5 vs 0.17
    evals = [r for r in log if "eval" in r]
    assert [r["step"] for r in evals] == [40, 80, 120]
    for r in evals:  # selection metric: the mean of the tasks' English dev metrics
        assert set(r["eval"]) == {"anli_r1", "snli", "intermediate.hellaswag", "ccg"}
        assert r["score"] == pytest.approx(np.mean(list(r["eval"].values())))
    assert res.best_score == pytest.approx(max(r["score"] for r in evals))


def test_proportional_sampler_matches_sizes():
    s = ProportionalTaskSampler({"a": 600, "b": 300, "c": 100}, seed=3)
    draws = Counter(s() for _ in range(20000))
    assert draws["a"] / 20000 == pytest.approx(0.6, abs=0.02)
    assert draws["c"] / 20000 == pytest.approx(0.1, abs=0.01)


def test_steps_follow_jiant_formula():
    data = [TaskData(None, list(range(100))), TaskData(None, list(range(33)))]
    hp = TrainConfig(epochs=2, batch_size=4, grad_accum=2)
    assert total_steps(data, hp) == 2 * 13 + 2 * 5


def test_length_grouped_batches_cover_epoch_and_group_lengths():
    lengths = np.random.default_rng(0).integers(5, 200, size=1000)
    stream = batch_stream(lengths, 10, seed=1, group_by_length=True)
    epoch = [next(stream) for _ in range(100)]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in epoch)
    rand = batch_stream(lengths, 10, seed=1, group_by_length=False)
    padded_random = sum(len(b) * lengths[b].max() for b in (next(rand) for _ in range(100)))
    assert padded < 0.7 * padded_random
