"""One run, N processes: the ranks of a sharded run, launched and watched by the worker that claimed it.

A training run of a model size with `ranks: N > 1` in the profile is trained by N processes together (FSDP2
for XL/XXL, DDP for the others: xstilts.engine.distributed). The worker that claimed the run holds its lock
in the run store, so no other worker starts it; it launches `xstilts rank PROFILE PHASE RUN_ID` N times with
the variables torch's `env://` rendezvous reads (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), as
torchrun would, but keeps the processes its own, so that it can:

- pass SIGTERM and SIGUSR1 (Slurm's signal before the time limit) on to every rank as SIGTERM (NCCL may
  take SIGUSR1 for itself in a GPU process): the ranks agree on a step, save a resumable checkpoint and exit
  with INTERRUPTED; the run stays incomplete and a requeued worker resumes it;
- fail the run when any rank fails: the others are killed at once (a rank waiting in a collective for a dead
  peer would otherwise hang until the backend's timeout), and the first failing rank's error and traceback
  become the run's FAILED record;
- take the run's result from rank 0, the only rank that writes files (checkpoints, evaluation, tables).

Every rank trains; evaluation runs once, on rank 0, after the others have returned. The run store then
marks the run complete in the claiming worker, as for a one-process run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

from xstilts.files import atomic_write_json
from xstilts.interrupt import Interrupted

RESULT = "rank0-result.json"  # rank 0's metrics, read by the launcher (removed once read)
ERROR = "rank{rank}-error.json"  # a failing rank's error, read by the launcher
LOG = "ranks.log"  # every rank's output
INTERRUPTED = 75  # a rank's exit status after saving a resumable checkpoint on a signal (EX_TEMPFAIL)
FORWARDED = (signal.SIGTERM, signal.SIGUSR1)


class RanksFailed(RuntimeError):
    """A rank of a sharded run failed; `details` holds that rank's traceback."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class RunInterrupted(Interrupted):
    """The ranks saved a resumable checkpoint on a signal and stopped: the run is incomplete, not failed."""


def rank() -> int | None:
    """This process's rank when it is one of a sharded run's ranks, else None."""
    return int(os.environ["RANK"]) if "RANK" in os.environ and "WORLD_SIZE" in os.environ else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rank_command(profile: str, phase: str, run_id: str) -> list[str]:
    return [sys.executable, "-m", "xstilts.cli", "rank", profile, phase, run_id]


def launch(profile: str, phase: str, run_id: str, ranks: int, run_dir: Path, poll: float = 0.5) -> dict:
    """Run `ranks` processes of one run and wait for them; returns rank 0's metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in [run_dir / RESULT, *run_dir.glob(ERROR.format(rank="*"))]:
        stale.unlink(missing_ok=True)
    base = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": str(ranks),
        "LOCAL_WORLD_SIZE": str(ranks),
        "PYTHONUNBUFFERED": "1",
    }
    procs: list[subprocess.Popen] = []
    received: list[int] = []

    def forward(signum, _frame):
        received.append(signum)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        with open(run_dir / LOG, "a") as log:
            for r in range(ranks):
                env = {**base, "RANK": str(r), "LOCAL_RANK": str(r)}
                procs.append(
                    subprocess.Popen(
                        rank_command(profile, phase, run_id), stdout=log, stderr=subprocess.STDOUT, env=env
                    )
                )
            codes = _wait(procs, poll)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if all(code == 0 for code in codes):
        result = json.loads((run_dir / RESULT).read_text())
        (run_dir / RESULT).unlink()
        return result
    if received or all(code in (0, INTERRUPTED) for code in codes):
        raise RunInterrupted(f"run {run_id}: saved a resumable checkpoint and stopped on a signal")
    raise _failure(run_dir, codes)


def _wait(procs: list[subprocess.Popen], poll: float) -> list[int]:
    """Wait for every rank; when one fails, kill the others (they would wait for it in a collective)."""
    while True:
        codes = [proc.poll() for proc in procs]
        if all(code is not None for code in codes):
            return codes
        if any(code not in (None, 0, INTERRUPTED) for code in codes):
            time.sleep(poll)  # let a failing peer's error reach its file before the others go
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            return [proc.wait() for proc in procs]
        time.sleep(poll)


def _failure(run_dir: Path, codes: list[int]) -> RanksFailed:
    for r in range(len(codes)):
        path = run_dir / ERROR.format(rank=r)
        if path.is_file():
            info = json.loads(path.read_text())
            return RanksFailed(f"rank {r} of {len(codes)}: {info['error']}", info.get("traceback", ""))
    first = next(r for r, code in enumerate(codes) if code not in (0, INTERRUPTED))
    return RanksFailed(
        f"rank {first} of {len(codes)} exited with status {codes[first]} (killed, or out of memory?); see "
        f"{run_dir / LOG}"
    )


def record_error(run_dir: Path, err: BaseException) -> None:
    """A rank's error for the launcher: its first line and traceback."""
    lines = str(err).strip().splitlines()
    atomic_write_json(
        run_dir / ERROR.format(rank=rank()),
        {
            "error": f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__,
            "traceback": "".join(traceback.format_exception(err)),
        },
    )


def record_result(run_dir: Path, metrics: dict) -> None:
    atomic_write_json(run_dir / RESULT, metrics)
