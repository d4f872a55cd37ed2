"""The ranks of sharded runs: started once and given one run after another (each run's output in its own
ranks.log), rank 0's result is the run's, one failing rank fails the run (the others are killed, not left
waiting) and the next run gets fresh ranks, and a signal is forwarded so the ranks checkpoint and the run
stays incomplete. The ranks here are small scripts around `ranks.serve` whose work is chosen by the run id
(the real ranks: tests/test_sharded_study.py and tests/test_rehearsal.py)."""

import os
import signal
import sys
import textwrap
import threading
import time

import pytest

from xstilts.study import ranks
from xstilts.study.runstore import FAILED, Run, RunFailed, RunStore

RANK_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from xstilts.study import ranks
    r = int(os.environ["RANK"])
    assert os.environ["WORLD_SIZE"] == "2" and os.environ["MASTER_PORT"]

    def work(run_id, run_dir):
        mode = run_id.split("-")[0]
        (run_dir / f"pid{r}").write_text(str(os.getpid()))
        print(f"rank {r} doing {run_id}")
        if mode == "unknown":
            raise KeyError(f"no training run {run_id}")
        if mode == "fail" and r == 1:
            raise FloatingPointError("loss is NaN at step 7")
        if mode == "fail":
            time.sleep(600)  # rank 0 waits in a collective for its dead peer
        if mode == "signal":
            got = []
            signal.signal(signal.SIGTERM, lambda *a: got.append(1))
            (run_dir / f"ready{r}").write_text("")
            while not got:
                time.sleep(0.05)
            (run_dir / f"saved{r}").write_text("checkpoint")
            raise ranks.RunInterrupted("checkpoint saved")
        return {"world_size": int(os.environ["WORLD_SIZE"]), "run": run_id}

    print(f"rank {r} started")
    ranks.serve(work)
""")


@pytest.fixture
def group(tmp_path, monkeypatch):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setattr(ranks, "rank_command", lambda *a: [sys.executable, str(script)])
    with ranks.RankGroup("p", "target", 2, poll=0.02) as g:
        g.root = root
        yield g


def pids(run_dir):
    return [int((run_dir / f"pid{r}").read_text()) for r in (0, 1)]


def dead(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_rank_zero_result_is_the_runs_and_the_ranks_serve_the_next_run(group):
    first, second = group.root / "ok-1", group.root / "ok-2"
    assert group.run("ok-1", first) == {"world_size": 2, "run": "ok-1"}
    assert group.run("ok-2", second) == {"world_size": 2, "run": "ok-2"}
    assert group.started == 1 and pids(first) == pids(second)  # the same two processes did both runs
    for run_dir in (first, second):
        assert not list(run_dir.glob("rank[0-9]*")), "the launcher's files are removed once read"
        log = (run_dir / ranks.LOG).read_text()
        assert f"rank 0 doing {run_dir.name}" in log and f"rank 1 doing {run_dir.name}" in log
    assert "ok-1" not in (second / ranks.LOG).read_text()  # each run's output in its own log
    group.close()
    assert all(dead(pid) for pid in pids(first))  # closing their input ends the ranks


def test_one_failing_rank_fails_the_run_the_other_is_killed_and_the_next_run_gets_fresh_ranks(group):
    run_dir = group.root / "fail-1"
    started = time.time()
    with pytest.raises(ranks.RanksFailed, match="rank 1 of 2: FloatingPointError: loss is NaN at step 7") as err:
        group.run("fail-1", run_dir)
    assert time.time() - started < 30
    assert "Traceback" in err.value.details
    assert all(dead(pid) for pid in pids(run_dir))
    assert group.run("ok-3", group.root / "ok-3") == {"world_size": 2, "run": "ok-3"}
    assert group.started == 2


def test_the_run_store_records_a_rank_failure_with_that_ranks_traceback(group, tmp_path):
    store = RunStore("t", root=tmp_path / "store")
    run = Run("target", "xl-none-xnli-s0", {"x": 1})
    with pytest.raises(RunFailed, match="loss is NaN"):
        store.execute(run, lambda d: group.run("fail-2", group.root / "fail-2"))
    failure = store.failure(run)
    assert failure["error"].startswith("RanksFailed: rank 1 of 2: FloatingPointError")
    assert "raise FloatingPointError" in failure["traceback"]
    assert (store.path(run) / FAILED).exists() and not store.is_complete(run)


def test_a_signal_is_forwarded_and_leaves_the_run_incomplete_not_failed(group, tmp_path):
    run_dir = group.root / "signal-1"
    store = RunStore("t", root=tmp_path / "store")
    run = Run("target", "xl-none-xnli-s0", {"x": 2})

    def send_when_ready():
        deadline = time.time() + 60
        while time.time() < deadline and not all((run_dir / f"ready{r}").exists() for r in (0, 1)):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)  # as Slurm signals the job before its time limit

    before = signal.getsignal(signal.SIGUSR1)
    threading.Thread(target=send_when_ready, daemon=True).start()
    with pytest.raises(ranks.RunInterrupted):
        store.execute(run, lambda d: group.run("signal-1", run_dir))
    assert (run_dir / "saved0").exists() and (run_dir / "saved1").exists()
    assert not store.is_complete(run) and not store.is_failed(run)
    assert signal.getsignal(signal.SIGUSR1) == before  # the launcher restored the handler it replaced
    assert not group.procs  # stopped ranks are not reused


def test_a_rank_that_cannot_start_fails_the_run_pointing_at_its_log(group, monkeypatch):
    monkeypatch.setattr(ranks, "rank_command", lambda *a: [sys.executable, "-c", "raise SystemExit(2)"])
    run_dir = group.root / "ok-4"
    with pytest.raises(ranks.RanksFailed, match=r"rank 0 of 2 exited with status 2 .*ranks.log"):
        group.run("ok-4", run_dir)


def test_an_error_before_the_work_is_the_runs_failure_in_its_own_folder(group):
    run_dir = group.root / "unknown-1"
    with pytest.raises(ranks.RanksFailed, match="KeyError: 'no training run unknown-1'"):
        group.run("unknown-1", run_dir)
    assert (run_dir / ranks.ERROR.format(rank=0)).exists()  # recorded where the run's failure is looked for
