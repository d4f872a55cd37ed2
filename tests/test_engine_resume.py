"""Requeue-safe and sharded training on tiny models (docs/design.md §13): a run killed with SIGKILL after a
periodic checkpoint, or stopped by SIGTERM / SIGUSR1, and then run again with the same arguments ends with
bitwise the model and dev scores of an uninterrupted run, on one process and on two FSDP2 ranks of a tiny
XL-class encoder; and two FSDP2 ranks give one rank's model."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch
from safetensors.torch import load_file

from xstilts.engine import checkpoint, launch, toydata
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.trainer import finetune
from xstilts.engine.types import TaskData, TrainingInterrupted

SELECTED = ["encoder/model.safetensors", "heads.safetensors"]

# One attempt of a run that dies at a chosen optimiser step: once at least `kill_at` steps are done and a
# resumable checkpoint is complete, rank 0 sends SIGKILL to every rank of the run (to itself last).
KILLED_ATTEMPT = """
import os, pickle, signal, sys
from pathlib import Path

import torch

from xstilts.engine import checkpoint, launch

arguments, kill_at, pids = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
resume_dir = pickle.loads(Path(arguments).read_bytes())["resume_dir"]
(pids / str(os.getpid())).touch()
adamw_step, done = torch.optim.AdamW.step, [0]


def step_then_die(self, *args, **kwargs):
    out = adamw_step(self, *args, **kwargs)
    done[0] += 1
    if os.environ.get("RANK", "0") == "0" and done[0] >= kill_at and checkpoint.latest(resume_dir):
        ranks = sorted((int(p.name) for p in pids.iterdir()), key=lambda pid: pid == os.getpid())
        for pid in ranks:
            os.kill(pid, signal.SIGKILL)
    return out


torch.optim.AdamW.step = step_then_die
launch.main([arguments])
"""


def tiny_xl_encoder(path, base, dropout: float):
    """The tiny XLM-R checkpoint `base` as an XL-class (pre-LayerNorm XLMRobertaXLModel) one."""
    from transformers import AutoConfig, XLMRobertaXLConfig, XLMRobertaXLModel

    cfg = AutoConfig.from_pretrained(base).to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        cfg.pop(key, None)
    cfg.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    torch.manual_seed(0)
    XLMRobertaXLModel(XLMRobertaXLConfig(**cfg), add_pooling_layer=False).save_pretrained(str(path))
    for f in base.glob("tokenizer*"):
        shutil.copy(f, path / f.name)
    return path


def sst2():
    task = toydata.task("sst2", "classification", ["n", "p"])
    return [
        TaskData(task, toydata.classification_set(160, 1, pair=False), toydata.classification_set(40, 2, pair=False))
    ]


def hp(cache, **kw):
    base = dict(
        cache_dir=cache,
        lr=3e-3,
        max_steps=30,
        batch_size=8,
        grad_accum=2,
        max_seq_len=48,
        eval_every_steps=3,
        num_threads=1,
        progress=False,
        checkpoint_minutes=0.001,  # every 60 ms: several checkpoints in a run of a few seconds
    )
    return TrainConfig(**{**base, **kw})


def log(run_dir):
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


def evals(run_dir):
    return [(r["step"], r["eval"]) for r in log(run_dir) if "eval" in r]


def assert_same_model(a, b):
    for f in SELECTED:
        x, y = load_file(str(a / f)), load_file(str(b / f))
        assert set(x) == set(y)
        assert all(torch.equal(x[k], y[k]) for k in x), f"{f} differs"


def killed_attempt(tmp_path, processes: int, kill_at: int, **finetune_kwargs):
    """Run the attempt that dies; return the step of the checkpoint it left."""
    script = tmp_path / "killed_attempt.py"
    script.write_text(KILLED_ATTEMPT)
    arguments = launch.write_arguments(tmp_path / "killed.pkl", **finetune_kwargs)
    pids = tmp_path / "pids"
    pids.mkdir()
    argv = [str(script), str(arguments), str(kill_at), str(pids)]
    command = launch.torchrun(processes, *argv) if processes > 1 else [sys.executable, *argv]
    done = subprocess.run(command, env=launch.environment(), capture_output=True, text=True)
    assert done.returncode != 0, f"the attempt was not killed:\n{done.stderr[-3000:]}"
    saved = checkpoint.latest(finetune_kwargs["resume_dir"])
    assert saved is not None, done.stderr[-3000:]
    assert not any(r.get("event") == "end" for r in log(finetune_kwargs["out_dir"]))
    return int(saved.name.split("-")[1])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="module")
def data():
    return sst2()


@pytest.fixture(scope="module")
def uninterrupted(encoder, data, cache, tmp_path_factory):  # encoder: tests/conftest.py (dropout 0.1)
    return finetune(encoder, data, hp(cache), seed=0, out_dir=tmp_path_factory.mktemp("uninterrupted"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_a_signal_saves_stops_and_the_same_call_resumes(
    encoder, data, cache, uninterrupted, tmp_path, monkeypatch, sig
):
    got = []

    def handler(signum, frame):
        got.append(signum)

    previous = signal.signal(sig, handler)  # the trainer's handler replaces it during the run only
    run, resume_dir, at = tmp_path / "run", tmp_path / "resume", 11
    adamw_step, done = torch.optim.AdamW.step, [0]

    def step_then_signal(self, *args, **kwargs):
        out = adamw_step(self, *args, **kwargs)
        done[0] += 1
        if done[0] == at:
            os.kill(os.getpid(), sig)
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_signal)
    cfg = hp(cache)
    try:
        with pytest.raises(TrainingInterrupted) as stopped:
            finetune(encoder, data, cfg, seed=0, out_dir=run, resume_dir=resume_dir)
        assert got == [] and signal.getsignal(sig) is handler  # the trainer took the signal, then left
    finally:
        signal.signal(sig, previous)
    monkeypatch.undo()
    assert stopped.value.step == at and not isinstance(stopped.value, Exception)
    assert checkpoint.latest(resume_dir).name == f"step-{at:08d}"
    with pytest.raises(ValueError, match="another run"):
        finetune(encoder, data, cfg, seed=1, out_dir=tmp_path / "other", resume_dir=resume_dir)
    res = finetune(encoder, data, cfg, seed=0, out_dir=run, resume_dir=resume_dir)
    assert res.resumed_from_step == at and res.world_size == 1 and uninterrupted.resumed_from_step is None
    assert not resume_dir.exists()  # removed at the successful end
    assert_same_model(uninterrupted.out_dir, run)
    assert evals(run) == evals(uninterrupted.out_dir)
    assert (res.best_step, res.best_scores) == (uninterrupted.best_step, uninterrupted.best_scores)
    records = log(run)
    assert {"event": "resume", "step": at} in records
    drop = ("seconds", "train_seconds", "examples_per_second")
    same = [{k: v for k, v in r.items() if k not in drop} for r in records if r.get("event") != "resume"]
    assert same == [{k: v for k, v in r.items() if k not in drop} for r in log(uninterrupted.out_dir)]


def test_a_killed_process_resumes_bitwise(encoder, data, cache, uninterrupted, tmp_path):
    run, resume_dir = tmp_path / "run", tmp_path / "resume"
    kwargs = dict(encoder=encoder, tasks=data, hp=hp(cache), seed=0, out_dir=run, resume_dir=resume_dir)
    saved_at = killed_attempt(tmp_path, 1, random.Random(1).randint(12, 22), **kwargs)
    res = finetune(**kwargs)
    assert res.resumed_from_step == saved_at
    assert_same_model(uninterrupted.out_dir, run)
    assert evals(run) == evals(uninterrupted.out_dir)
    assert res.best_scores == uninterrupted.best_scores


@pytest.fixture(scope="module")
def xl_runs(tmp_path_factory, encoder, data, cache):
    """A tiny XL-class encoder fine-tuned without dropout on one process and on two FSDP2 ranks."""
    tmp = tmp_path_factory.mktemp("xl")
    kwargs = dict(encoder=tiny_xl_encoder(tmp / "enc", encoder, dropout=0.0), tasks=data, hp=hp(cache), seed=0)
    one = finetune(**kwargs, out_dir=tmp / "one")
    launch.finetune_torchrun(2, **kwargs, out_dir=tmp / "two")
    return kwargs, one.out_dir, tmp / "two"


def test_two_fsdp2_ranks_give_one_process_model(xl_runs):
    """Same batches, dropout off: the two runs compute the same function. FSDP2 averages the two ranks'
    gradients (each the mean over its half of a micro-step) where one process takes the mean over the whole
    micro-step, so results agree up to float32 summation order; AdamW's normalisation magnifies such
    differences in parameters with tiny gradients, hence the tolerance on weights after 30 steps:
    |a - b| <= 1e-5 + 1e-4 |b|. The dev accuracies (40 examples) are identical."""
    _, one, two = xl_runs
    start = log(two)[0]
    assert start["processes"] == 2 and start["sharded"] and log(one)[0]["processes"] == 1
    assert evals(one) == evals(two)
    for f in SELECTED:
        a, b = load_file(str(one / f)), load_file(str(two / f))
        assert set(a) == set(b)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=f"{f}:{k}")
    base = load_file(str(xl_runs[0]["encoder"] / "model.safetensors"))
    assert any(not torch.equal(base[k], load_file(str(two / SELECTED[0]))[k]) for k in base)  # it trained


@pytest.mark.slow  # three launches of two ranks: about a minute of CPU time in imports alone
def test_killed_fsdp2_ranks_resume_bitwise(encoder, data, cache, tmp_path):
    """With dropout, so each rank's RNG state has to come back too."""
    xl = tiny_xl_encoder(tmp_path / "enc", encoder, dropout=0.1)
    kwargs = dict(encoder=xl, tasks=data, hp=hp(cache), seed=0)
    two = tmp_path / "uninterrupted"
    launch.finetune_torchrun(2, **kwargs, out_dir=two)
    run, resume_dir = tmp_path / "run", tmp_path / "resume"
    kwargs = dict(kwargs, out_dir=run, resume_dir=resume_dir)
    saved_at = killed_attempt(tmp_path, 2, random.Random(2).randint(12, 22), **kwargs)
    assert (checkpoint.latest(resume_dir) / "dcp").is_dir()  # sharded: model and optimiser through DCP
    launch.finetune_torchrun(2, **kwargs)
    assert json.loads((run / "finetune.json").read_text())["resumed_from_step"] == saved_at
    assert not resume_dir.exists()
    assert_same_model(two, run)
    assert evals(run) == evals(two)


def test_only_a_complete_checkpoint_is_resumed(tmp_path):
    for name, complete in [("step-00000003", True), ("step-00000004", False), ("step-00000005.partial", True)]:
        (tmp_path / name).mkdir()
        if complete:
            (tmp_path / name / "COMPLETE").write_text("")
    assert checkpoint.latest(tmp_path) == tmp_path / "step-00000003"
    assert checkpoint.latest(tmp_path / "missing") is None


def test_the_selected_model_is_replaced_whole(tmp_path):
    def version(name):
        def write(folder):
            (folder / "encoder").mkdir()
            (folder / "encoder" / "model.safetensors").write_text(name)
            (folder / "heads.safetensors").write_text(name)

        return write

    checkpoint.publish_selected(tmp_path, version("a"))
    checkpoint.publish_selected(tmp_path, version("b"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder", "heads.safetensors"]
    assert (
        (tmp_path / "encoder" / "model.safetensors").read_text() == "b" == (tmp_path / "heads.safetensors").read_text()
    )
    # a kill between moving the old encoder/ aside and renaming the new one in: resuming puts the old one back
    (tmp_path / ".selected.previous").mkdir()
    os.replace(tmp_path / "encoder", tmp_path / ".selected.previous" / "encoder")
    checkpoint.recover_selected(tmp_path)
    assert (tmp_path / "encoder" / "model.safetensors").read_text() == "b"
