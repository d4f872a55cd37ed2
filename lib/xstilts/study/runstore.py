"""The run store: every unit of work is a run with a content-addressed id, resumable and crash-safe.

`outputs/<profile>/runs/<phase>/<run-id>/` holds `spec.json`, the run's files (metrics, predictions,
per-example statistics, checkpoint), `log.txt`, and last of all the completion marker `COMPLETE`,
written atomically (temp file + rename). A directory without the marker is incomplete: it is never
read as a result and is redone. The id is a readable prefix plus a short hash of the canonical spec,
which holds every input that determines the result (parent run ids, data fingerprint, parameters,
seed), so a changed parameter gives a new id and a stale result is never reused. Killing the process
at any moment loses at most the runs in flight. Runs are assigned to shards by their id, so N
workers split a phase deterministically without talking to each other (jiant's "rerun the same
command and it continues").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.files import atomic_write_json
from xstilts.paths import outputs_dir

PHASES = ("data", "pretrained", "intermediate", "target", "analysis")
MARKER = "COMPLETE"
FAILED = "FAILED"  # a run that raised: its error, kept until the run is redone
log = logging.getLogger("xstilts")


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def spec_hash(spec: dict, length: int = 10) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Run:
    """One unit of work. `spec` determines the result; `parents` are run ids it consumes (in spec)."""

    phase: str
    prefix: str
    spec: dict = field(hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.prefix}-{spec_hash({'phase': self.phase, **self.spec})}"

    def shard(self, num_shards: int) -> int:
        return int(hashlib.sha256(self.id.encode()).hexdigest()[:8], 16) % max(num_shards, 1)


class RunStore:
    """Runs of one profile under `outputs/<profile>/runs/`."""

    def __init__(self, profile: str, root: Path | None = None):
        self.profile = profile
        self.root = Path(root) if root else outputs_dir(profile) / "runs"

    def path(self, run: Run | tuple[str, str]) -> Path:
        phase, run_id = (run.phase, run.id) if isinstance(run, Run) else run
        return self.root / phase / run_id

    def is_complete(self, run: Run) -> bool:
        return (self.path(run) / MARKER).exists()

    def is_failed(self, run: Run) -> bool:
        return (self.path(run) / FAILED).exists() and not self.is_complete(run)

    def result(self, run: Run) -> dict:
        """The metrics a completed run wrote (`metrics.json`)."""
        if not self.is_complete(run):
            raise FileNotFoundError(f"run {run.phase}/{run.id} is not complete")
        return json.loads((self.path(run) / "metrics.json").read_text())

    def execute(self, run: Run, work: Callable[[Path], dict], wait: bool = True) -> dict | None:
        """Run `work(run_dir) -> metrics` unless the run is complete; resumable and atomic.

        An incomplete directory left by a crash is cleared and redone. Another live process holding
        the run's lock makes this call wait for it instead of doing the run twice; with `wait=False`
        it returns None at once (a local worker then takes the next run: work claiming).
        """
        if self.is_complete(run):
            return self.result(run)
        run_dir = self.path(run)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with _RunLock(run_dir.with_name(run_dir.name + ".lock")) as lock:
            if not lock.acquired:  # a live worker is on it: wait, then reuse its result (or move on)
                if not wait:
                    return None
                lock.wait()
                if self.is_complete(run):
                    return self.result(run)
                return self.execute(run, work)
            if self.is_complete(run):
                return self.result(run)
            if run_dir.exists():
                log.info("redoing incomplete run %s/%s", run.phase, run.id)
                shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True)
            atomic_write_json(run_dir / "spec.json", {"id": run.id, "phase": run.phase, "spec": run.spec})
            handler = logging.FileHandler(run_dir / "log.txt")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root_logger = logging.getLogger()
            root_logger.addHandler(handler)
            started = time.time()
            try:
                metrics = work(run_dir)
            finally:
                root_logger.removeHandler(handler)
                handler.close()
            metrics = dict(metrics or {})
            atomic_write_json(run_dir / "metrics.json", metrics)
            atomic_write_json(
                run_dir / MARKER,
                {
                    "run": run.id,
                    "seconds": round(time.time() - started, 3),
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "host": socket.gethostname(),
                },
            )
            return metrics

    def status(self, runs: Iterable[Run]) -> dict[str, tuple[int, int]]:
        """Per phase: (complete, planned)."""
        counts: dict[str, list[int]] = {}
        for run in runs:
            done, total = counts.setdefault(run.phase, [0, 0])
            counts[run.phase] = [done + self.is_complete(run), total + 1]
        return {phase: tuple(counts[phase]) for phase in PHASES if phase in counts}


class _RunLock:
    """An exclusive lock file holding the owner's pid; a lock whose owner is dead is stale and taken over."""

    def __init__(self, path: Path):
        self.path = path
        self.acquired = False

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._owner_alive():
                    return self
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{socket.gethostname()} {os.getpid()}\n")
            self.acquired = True
            return self
        return self

    def _owner_alive(self) -> bool:
        try:
            host, pid = self.path.read_text().split()
            if host != socket.gethostname():
                return True  # another machine's worker: trust it
            os.kill(int(pid), 0)
            return True
        except FileNotFoundError:
            return False
        except ValueError:  # created but not yet written by its owner (O_EXCL, then the pid): fresh means alive
            try:
                return time.time() - self.path.stat().st_mtime < 10
            except FileNotFoundError:
                return False
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def wait(self, poll: float = 2.0) -> None:
        while self.path.exists() and self._owner_alive():
            time.sleep(poll)

    def __exit__(self, *exc):
        if self.acquired:
            self.path.unlink(missing_ok=True)
        return False
