"""The run store: content-addressed ids, completion markers, crash safety, locks and shards."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xstilts.study.runstore import MARKER, Run, RunStore

ROOT = Path(__file__).resolve().parents[1]


def test_id_is_readable_prefix_plus_hash_of_the_spec():
    a = Run("target", "xs-none-xnli-s0", {"lr": 1e-3, "seed": 0})
    same = Run("target", "xs-none-xnli-s0", {"seed": 0, "lr": 1e-3})
    other = Run("target", "xs-none-xnli-s0", {"lr": 2e-3, "seed": 0})
    assert a.id.startswith("xs-none-xnli-s0-") and len(a.id.split("-")[-1]) == 10
    assert a.id == same.id and a.id != other.id


def test_completed_runs_are_reused_and_results_read_back(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("data", "world", {"seed": 1})
    calls = []

    def work(run_dir):
        calls.append(run_dir)
        (run_dir / "payload.txt").write_text("hello")
        return {"score": 1.5}

    assert store.execute(run, work) == {"score": 1.5}
    assert store.execute(run, work) == {"score": 1.5}
    assert len(calls) == 1
    run_dir = store.path(run)
    assert json.loads((run_dir / "spec.json").read_text())["spec"] == {"seed": 1}
    assert (run_dir / MARKER).exists() and (run_dir / "log.txt").exists()


def test_a_failed_run_leaves_no_marker_and_is_redone(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("target", "r", {"x": 1})

    def crash(run_dir):
        (run_dir / "partial.bin").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.execute(run, crash)
    assert not store.is_complete(run)
    with pytest.raises(FileNotFoundError):
        store.result(run)
    assert store.execute(run, lambda d: {"ok": not (d / "partial.bin").exists()}) == {"ok": True}


SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from xstilts.study.runstore import Run, RunStore
    store = RunStore("t", root=Path(sys.argv[1]))
    log = Path(sys.argv[2])
    for i in range(int(sys.argv[3])):
        run = Run("target", f"r{i}", {"i": i})
        def work(run_dir, i=i):
            with log.open("a") as fh:
                fh.write(f"start {i}\\n")
            time.sleep(float(sys.argv[4]))
            return {"i": i}
        store.execute(run, work)
""")


def test_kill_9_loses_at_most_the_run_in_flight(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    root, log = tmp_path / "runs", tmp_path / "log.txt"
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(log), "6", "0.4"], start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline and (not log.exists() or log.read_text().count("start") < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = RunStore("t", root=root)
    runs = [Run("target", f"r{i}", {"i": i}) for i in range(6)]
    done_before = [r for r in runs if store.is_complete(r)]
    assert 1 <= len(done_before) <= 3
    subprocess.run([sys.executable, str(script), str(root), str(log), "6", "0.0"], check=True, timeout=60)
    assert all(store.is_complete(r) for r in runs)
    starts = [line.split()[1] for line in log.read_text().splitlines()]
    for run in done_before:  # no completed run was done twice
        assert starts.count(run.prefix[1:]) == 1
    assert max(starts.count(str(i)) for i in range(6)) <= 2  # only the run in flight repeats


def test_two_workers_on_the_same_run_do_it_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    root, log = tmp_path / "runs", tmp_path / "log.txt"
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(log), "2", "0.5"]) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    starts = [line.split()[1] for line in log.read_text().splitlines()]
    assert sorted(starts) == ["0", "1"]


def test_shards_partition_the_runs_deterministically():
    runs = [Run("target", f"r{i}", {"i": i}) for i in range(200)]
    shards = [[r.id for r in runs if r.shard(3) == k] for k in range(3)]
    assert sorted(sum(shards, [])) == sorted(r.id for r in runs)
    assert all(len(s) > 30 for s in shards)
    assert shards == [[r.id for r in runs if r.shard(3) == k] for k in range(3)]


CLAIM_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from xstilts.study.runstore import Run, RunStore
    store = RunStore("t", root=Path(sys.argv[1]))
    log = Path(sys.argv[2])
    for i in range(int(sys.argv[3])):
        def work(run_dir, i=i):
            with log.open("a") as fh:
                fh.write(f"start {i} {os.getpid()}\\n")
            time.sleep(0.3)
            return {"i": i}
        store.execute(Run("target", f"r{i}", {"i": i}), work, wait=False)
""")


def test_claiming_workers_share_the_runs_without_waiting_or_repeating(tmp_path):
    """`execute(wait=False)` (local `workers:`) skips a run another live worker holds, so two workers
    walking the same list split it between them instead of queueing behind each other."""
    script = tmp_path / "worker.py"
    script.write_text(CLAIM_SCRIPT)
    root, log = tmp_path / "runs", tmp_path / "log.txt"
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(log), "8"]) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    starts = [line.split() for line in log.read_text().splitlines()]
    assert sorted(int(s[1]) for s in starts) == list(range(8))  # every run once
    assert len({s[2] for s in starts}) == 2  # both workers did some


def test_a_run_held_by_a_live_worker_is_skipped_when_not_waiting(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("target", "r", {"x": 1})
    lock = store.path(run).with_name(store.path(run).name + ".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{__import__('socket').gethostname()} {os.getpid()}\n")  # this live process holds it
    assert store.execute(run, lambda d: {"done": True}, wait=False) is None
    assert not store.is_complete(run)
    lock.unlink()
    assert store.execute(run, lambda d: {"done": True}, wait=False) == {"done": True}


@pytest.mark.slow
def test_a_profile_given_as_a_path_runs_its_phases_on_local_workers(tmp_path):
    """`make reproduce PROFILE=~/studies/x.yaml` with `workers: 2` (every mini-derived profile): the worker
    processes load the profile from its file, not by its name from params/ (where it is not)."""
    profile = tmp_path / "elsewhere.yaml"
    profile.write_text("extends: smoke\ndescription: smoke on two local workers\nworkers: 2\n")
    env = {**os.environ, "XSTILTS_OUTPUTS": str(tmp_path / "outputs"), "OMP_NUM_THREADS": "1"}
    for phase in ("data", "pretrained"):
        cmd = [sys.executable, "-m", "xstilts.cli", "phase", str(profile), phase]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logs = sorted((tmp_path / "outputs" / "elsewhere" / "logs").glob("pretrained-worker*.log"))
    assert len(logs) == 2 and not any("no profile" in log.read_text() for log in logs)
    assert len(list((tmp_path / "outputs" / "elsewhere" / "runs" / "pretrained").glob("*/COMPLETE"))) == 3
