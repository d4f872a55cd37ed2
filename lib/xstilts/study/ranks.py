"""One run, N processes: the ranks of sharded runs, started once per worker and given one run after another.

A training run of a model size with `ranks: N > 1` in the profile is trained by N processes together (FSDP2
for XL/XXL, DDP for the others: xstilts.engine.distributed). The worker that claimed the run holds its lock
in the run store, so no other worker starts it. The worker keeps a `RankGroup`: N processes `xstilts rank
PROFILE PHASE`, started with the variables torch's `env://` rendezvous reads (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT), as torchrun would, and kept as its own, so that it can:

- start them once and give them one run after another (the run's id and folder on every rank's standard
  input): a process start, its imports and the process group cost seconds, which a short run would pay
  every time; each rank writes its output to the run's `ranks.log` while it does that run, and a
  `rank<r>.done` file when it has finished it;
- pass SIGTERM and SIGUSR1 (Slurm's signal before the time limit) on to every rank as SIGTERM (NCCL may
  take SIGUSR1 for itself in a GPU process): the ranks agree on a step, save a resumable checkpoint and exit
  with INTERRUPTED; the run stays incomplete and a requeued worker resumes it;
- fail the run when any rank fails: the others are killed at once (a rank waiting in a collective for a dead
  peer would otherwise hang until the backend's timeout), and the first failing rank's error and traceback
  become the run's FAILED record. A rank that failed or stopped ends its process, and the group with it: the
  next run starts a fresh group (the state of a group after a failure is not trusted);
- take the run's result from rank 0, the only rank that writes files (checkpoints, evaluation, tables).

Every rank trains; evaluation runs once, on rank 0, after the others have returned. The run store then
marks the run complete in the claiming worker, as for a one-process run. The ranks exit when the worker
closes their input (the end of its phase, or its own end).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from xstilts.files import atomic_write_json
from xstilts.interrupt import Interrupted

RESULT = "rank0-result.json"  # rank 0's metrics, read by the launcher (removed once read)
ERROR = "rank{rank}-error.json"  # a failing rank's error, read by the launcher
DONE = "rank{rank}.done"  # a rank has finished the run (removed once every rank has)
LOG = "ranks.log"  # every rank's output while it does the run
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


def rank_command(profile: str, phase: str) -> list[str]:
    return [sys.executable, "-m", "xstilts.cli", "rank", profile, phase]


class RankGroup:
    """`ranks` processes of one phase's sharded runs, started at the first run and kept for the next ones."""

    def __init__(self, profile: str, phase: str, ranks: int, poll: float = 0.05):
        self.profile, self.phase, self.ranks, self.poll = profile, phase, ranks, poll
        self.procs: list[subprocess.Popen] = []
        self.started = 0  # how many times the processes were started (a failed run ends them)

    def __enter__(self) -> RankGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self, log_path: Path) -> None:
        base = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
            "WORLD_SIZE": str(self.ranks),
            "LOCAL_WORLD_SIZE": str(self.ranks),
            "PYTHONUNBUFFERED": "1",
        }
        # what a rank prints outside a run (its start, its end) goes to the log of the run it started for
        with open(log_path, "a") as log:
            self.procs = [
                subprocess.Popen(
                    rank_command(self.profile, self.phase),
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
                    text=True,
                )
                for r in range(self.ranks)
            ]
        self.started += 1

    def run(self, run_id: str, run_dir: Path) -> dict:
        """Do one run on the ranks and wait for them; returns rank 0's metrics."""
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in [run_dir / RESULT, *run_dir.glob(ERROR.format(rank="*")), *run_dir.glob(DONE.format(rank="*"))]:
            stale.unlink(missing_ok=True)
        if not self.procs:
            self._start(run_dir / LOG)
        received: list[int] = []

        def forward(signum, _frame):
            received.append(signum)
            for proc in self.procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

        previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
        try:
            request = json.dumps({"run": run_id, "dir": str(run_dir)}) + "\n"
            for proc in self.procs:
                with contextlib.suppress(BrokenPipeError, OSError):  # a rank that died: _wait sees its status
                    proc.stdin.write(request)
                    proc.stdin.flush()
            codes = self._wait(run_dir)
        finally:
            if received or any(proc.poll() is not None for proc in self.procs):
                self.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if codes is None:  # every rank finished the run
            result = json.loads((run_dir / RESULT).read_text())
            for path in [run_dir / RESULT, *run_dir.glob(DONE.format(rank="*"))]:
                path.unlink()
            return result
        if received or all(code in (0, INTERRUPTED) for code in codes):
            raise RunInterrupted(f"run {run_id}: saved a resumable checkpoint and stopped on a signal")
        raise _failure(run_dir, codes)

    def _wait(self, run_dir: Path) -> list[int] | None:
        """None when every rank has finished the run; else every rank's exit status, once a rank ended: when
        one failed, the others are killed (they would wait for it in a collective)."""
        while True:
            if all((run_dir / DONE.format(rank=r)).exists() for r in range(self.ranks)):
                return None
            codes = [proc.poll() for proc in self.procs]
            if all(code is not None for code in codes):
                return codes
            if any(code not in (None, 0, INTERRUPTED) for code in codes):
                time.sleep(max(self.poll, 0.5))  # let a failing peer's error reach its file before the others go
                for proc in self.procs:
                    if proc.poll() is None:
                        proc.kill()
                return [proc.wait() for proc in self.procs]
            time.sleep(self.poll)

    def close(self, timeout: float = 60) -> None:
        """End the ranks: their input closed, they leave the process group and exit (killed after `timeout`)."""
        for proc in self.procs:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.close()
        deadline = time.time() + timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


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


@contextlib.contextmanager
def _output_to(path: Path):
    """This process's standard output and error (file descriptors 1 and 2: libraries' output too) into `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def serve(work: Callable[[str, Path], dict], requests=None) -> None:
    """A rank's life: for each run the launcher sends (`requests`: standard input, one JSON line with the
    run's id and folder), `work(run_id, run_dir)` with this process's output in the run's `ranks.log`; then
    rank 0 records the result and every rank its DONE file. An error is recorded for the launcher and ends
    the process with status 1; a signal's resumable checkpoint ends it with INTERRUPTED. At the end of the
    input the process leaves the process group."""
    requests = sys.stdin if requests is None else requests
    for line in iter(requests.readline, ""):
        request = json.loads(line)
        run_dir = Path(request["dir"])
        with _output_to(run_dir / LOG):
            try:
                metrics = work(request["run"], run_dir)
            except Interrupted:  # a resumable checkpoint was saved on a signal
                raise SystemExit(INTERRUPTED) from None
            except Exception as err:
                record_error(run_dir, err)
                raise SystemExit(1) from None
        if rank() == 0:
            atomic_write_json(run_dir / RESULT, metrics)
        del metrics
        _release_memory()
        (run_dir / DONE.format(rank=rank())).touch()
    _leave_process_group()


def _release_memory() -> None:
    """What a run left behind, before the next one loads its model (freed on the device too)."""
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _leave_process_group() -> None:
    if "torch" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
