"""The launcher of a sharded run's ranks: rank 0's result, one failing rank fails the run (the others are
killed, not left waiting), and a signal is forwarded so the ranks checkpoint and the run stays incomplete.
The ranks here are small scripts standing in for `xstilts rank` (the real ranks: test_sharded_runs.py)."""

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
    run_dir, mode = Path(sys.argv[1]), sys.argv[2]
    r = int(os.environ["RANK"])
    assert os.environ["WORLD_SIZE"] == "2" and os.environ["MASTER_PORT"]
    (run_dir / f"pid{r}").write_text(str(os.getpid()))
    if mode == "ok":
        if r == 0:
            ranks.record_result(run_dir, {"world_size": int(os.environ["WORLD_SIZE"])})
    elif mode == "fail":
        if r == 1:
            try:
                raise FloatingPointError("loss is NaN at step 7")
            except FloatingPointError as err:
                ranks.record_error(run_dir, err)
            sys.exit(1)
        time.sleep(600)  # rank 0 waits in a collective for its dead peer
    elif mode == "signal":
        got = []
        signal.signal(signal.SIGTERM, lambda *a: got.append(1))
        (run_dir / f"ready{r}").write_text("")
        while not got:
            time.sleep(0.05)
        (run_dir / f"saved{r}").write_text("checkpoint")
        sys.exit(ranks.INTERRUPTED)
""")


@pytest.fixture
def fake_ranks(tmp_path, monkeypatch):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    def use(mode):
        monkeypatch.setattr(ranks, "rank_command", lambda *a: [sys.executable, str(script), str(run_dir), mode])
        return run_dir

    return use


def test_rank_zero_result_is_the_runs(fake_ranks):
    run_dir = fake_ranks("ok")
    assert ranks.launch("p", "target", "r-1", 2, run_dir, poll=0.05) == {"world_size": 2}
    assert not (run_dir / ranks.RESULT).exists() and (run_dir / "pid0").exists() and (run_dir / "pid1").exists()


def test_one_failing_rank_fails_the_run_and_the_other_is_killed_not_left_waiting(fake_ranks):
    run_dir = fake_ranks("fail")
    started = time.time()
    with pytest.raises(ranks.RanksFailed, match="rank 1 of 2: FloatingPointError: loss is NaN at step 7") as err:
        ranks.launch("p", "target", "r-1", 2, run_dir, poll=0.05)
    assert time.time() - started < 30
    assert "Traceback" in err.value.details
    pid0 = int((run_dir / "pid0").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid0, 0)


def test_the_run_store_records_a_rank_failure_with_that_ranks_traceback(fake_ranks, tmp_path):
    run_dir = fake_ranks("fail")
    store = RunStore("t", root=tmp_path / "runs")
    run = Run("target", "xl-none-xnli-s0", {"x": 1})
    with pytest.raises(RunFailed, match="loss is NaN"):
        store.execute(run, lambda d: ranks.launch("p", "target", run.id, 2, run_dir, poll=0.05))
    failure = store.failure(run)
    assert failure["error"].startswith("RanksFailed: rank 1 of 2: FloatingPointError")
    assert "raise FloatingPointError" in failure["traceback"]
    assert (store.path(run) / FAILED).exists() and not store.is_complete(run)


def test_a_signal_is_forwarded_and_leaves_the_run_incomplete_not_failed(fake_ranks, tmp_path):
    run_dir = fake_ranks("signal")
    store = RunStore("t", root=tmp_path / "runs")
    run = Run("target", "xl-none-xnli-s0", {"x": 2})

    def send_when_ready():
        deadline = time.time() + 60
        while time.time() < deadline and not all((run_dir / f"ready{r}").exists() for r in (0, 1)):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)  # as Slurm signals the job before its time limit

    before = signal.getsignal(signal.SIGUSR1)
    threading.Thread(target=send_when_ready, daemon=True).start()
    with pytest.raises(ranks.RunInterrupted):
        store.execute(run, lambda d: ranks.launch("p", "target", run.id, 2, run_dir, poll=0.05))
    assert (run_dir / "saved0").exists() and (run_dir / "saved1").exists()
    assert not store.is_complete(run) and not store.is_failed(run)
    assert signal.getsignal(signal.SIGUSR1) == before  # the launcher restored the handler it replaced
