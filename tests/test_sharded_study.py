"""A study whose larger size trains over 2 processes (docs/design.md §13), through `xstilts phase` as a
worker runs it: the sharded runs record `world_size` 2, score as the same runs on one process do, and a
worker stopped by SIGTERM mid-training (Slurm's requeue) leaves resumable checkpoints that the next launch
resumes from (`resumed_from_step` > 0), ending with the scores of an uninterrupted run.

Tolerance: the miniature trains without dropout, so one and two processes compute the same function on the
same global batches; they differ only in the order of floating-point sums (DDP averages gradients across
ranks). Over 20 steps this moves weights by ~1e-6 (tests/test_engine_distributed.py), which can flip a
prediction that sits on a decision boundary: dev and test scores must agree within 1 point (one example in
100 of the smoke world's dev set).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TOLERANCE = 1.0  # points

PROFILE = """extends: smoke
description: smoke, its size s trained over {ranks} process(es)
purpose: pipeline
checkpoint_minutes: 0.0001     # a resumable checkpoint at every step: a signal always finds one
models:
  - {{name: xs, arch: {{layers: 1, hidden: 16, heads: 2, ffn: 32}}}}
  - {{name: s, arch: {{layers: 2, hidden: 32, heads: 2, ffn: 64}}, ranks: {ranks}}}
"""


def _xstilts(*args, env):
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *args], cwd=ROOT, env=env, text=True, capture_output=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _metrics(out: Path, phase: str) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "runs" / phase).glob("*/metrics.json")}


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(XSTILTS_OUTPUTS=str(root / "outputs"), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    found = {}
    for name, ranks in (("single", 1), ("sharded", 2)):
        profile = root / f"{name}.yaml"
        profile.write_text(PROFILE.format(ranks=ranks))
        for phase in ("data", "pretrained"):
            _xstilts("phase", str(profile), phase, env=env)
        found[name] = {"profile": profile, "out": root / "outputs" / name}
    _xstilts("phase", str(found["single"]["profile"]), "intermediate", env=env)
    _xstilts("phase", str(found["single"]["profile"]), "target", env=env)

    # the sharded study: its intermediate phase stopped by SIGTERM once a sharded run has a checkpoint
    sharded = found["sharded"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "xstilts.cli", "phase", str(sharded["profile"]), "intermediate"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    runs = sharded["out"] / "runs" / "intermediate"
    deadline = time.time() + 600
    while time.time() < deadline and not list(runs.glob("s-*/resume/step-*/COMPLETE")):
        assert worker.poll() is None, "the intermediate phase ended before it could be stopped"
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)  # the worker forwards it to the run's ranks, which checkpoint and stop
    output, _ = worker.communicate(timeout=300)
    stopped = {"returncode": worker.returncode, "output": output}
    _xstilts("phase", str(sharded["profile"]), "intermediate", env=env)
    _xstilts("phase", str(sharded["profile"]), "target", env=env)
    return {**found, "stopped": stopped}


def test_a_stopped_worker_exits_interrupted_not_failed(studies):
    assert studies["stopped"]["returncode"] == 75, studies["stopped"]["output"][-3000:]  # EX_TEMPFAIL: requeue
    assert not list((studies["sharded"]["out"] / "runs").glob("*/*/FAILED"))


def test_sharded_runs_record_two_processes_and_one_resumed(studies):
    for phase in ("intermediate", "target"):
        metrics = _metrics(studies["sharded"]["out"], phase)
        trained = {run: m for run, m in metrics.items() if "world_size" in m}
        assert {m["world_size"] for run, m in trained.items() if run.startswith("s-")} == {2}, phase
        assert {m["world_size"] for run, m in trained.items() if run.startswith("xs-")} == {1}, phase
    resumed = [m["resumed_from_step"] for m in _metrics(studies["sharded"]["out"], "intermediate").values()]
    assert any(step and step > 0 for step in resumed), resumed
    assert all(m["resumed_from_step"] is None for m in _metrics(studies["single"]["out"], "intermediate").values())


def test_sharded_and_resumed_runs_score_as_one_process(studies):
    for phase, key in (("intermediate", "dev_score"), ("target", "mean_score")):
        one = _metrics(studies["single"]["out"], phase)
        two = _metrics(studies["sharded"]["out"], phase)
        assert one.keys() == two.keys() and one, phase  # the layout is not part of a run's id
        for run in one:
            assert abs(one[run][key] - two[run][key]) <= TOLERANCE, (phase, run, one[run][key], two[run][key])


def test_submit_runs_a_sharded_study_through_wide_workers(tmp_path):
    """`xstilts submit --executor local` on the same study: its larger size's runs go to a job array of
    2-process workers (submitit's local executor), which launch each run's ranks; every phase completes."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(XSTILTS_OUTPUTS=str(tmp_path / "outputs"), XSTILTS_ROOT=str(ROOT), OMP_NUM_THREADS="1")
    profile = tmp_path / "submitted.yaml"
    profile.write_text(PROFILE.format(ranks=2).replace("purpose: pipeline", "purpose: study"))
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "submit", str(profile), "--executor", "local"],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "outputs" / "submitted"
    for phase in ("intermediate", "target"):
        trained = {run: m for run, m in _metrics(out, phase).items() if "world_size" in m}
        assert {m["world_size"] for run, m in trained.items() if run.startswith("s-")} == {2}, phase
    assert (out / "runs" / "analysis").is_dir() and list((out / "runs" / "analysis").glob("*/COMPLETE"))
