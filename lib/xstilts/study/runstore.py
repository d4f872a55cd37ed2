"""The run store: every unit of work is a run with a content-addressed id, resumable and crash-safe.

`outputs/<profile>/runs/<phase>/<run-id>/` holds `spec.json`, the run's files (metrics, predictions,
per-example statistics, checkpoint), `log.txt`, and last of all the completion marker `COMPLETE`,
written atomically (temp file + rename). The marker holds a manifest of every file the run wrote (size
and sha256), so a completed run can be verified: `check` finds a file deleted, truncated or changed. A
directory without the marker is incomplete: it is never read as a result and is redone, resuming from
its `resume/` checkpoint when the run left one (a requeued or interrupted training run). A run that
raised leaves `FAILED` (its error and traceback) and is retried on the next execution. The id is a
readable prefix plus a short hash of the canonical spec, which holds every input that determines the
result (the ids of the runs it reads, the data fingerprint, parameters, seed), so a changed parameter gives
a new id and a stale result is never reused. Killing the process at any moment loses at most the runs in
flight. Runs are assigned to shards by their id, so N workers split a phase deterministically without
talking to each other (jiant's "rerun the same command and it continues").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.files import atomic_write_json, sha256
from xstilts.paths import outputs_dir

PHASES = ("data", "pretrained", "intermediate", "target", "analysis")
MARKER = "COMPLETE"
FAILED = "FAILED"  # a run that raised: its error, kept until the run is redone
RESUME = "resume"  # a training run's resumable checkpoint, kept when an incomplete run is redone
READ_KEYS = ("data", "tokenizer", "parent", "lr_pilot")  # spec keys naming one run the run reads
LIST_READ_KEYS = ("targets", "pilots")  # spec keys naming many
log = logging.getLogger("xstilts")


def notebook_of(phase: str) -> str:
    """The notebook of a phase: `0_data` ... `4_analysis` (notebooks/<name>.ipynb)."""
    return f"{PHASES.index(phase)}_{phase}"


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def spec_hash(spec: dict, length: int = 10) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Run:
    """One unit of work. `spec` determines the result; `reads` are the ids of the runs it consumes."""

    phase: str
    prefix: str
    spec: dict = field(hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.prefix}-{spec_hash({'phase': self.phase, **self.spec})}"

    @property
    def reads(self) -> list[str]:
        """The ids of the runs whose files this run reads (its spec names them all)."""
        ids = [self.spec[k] for k in READ_KEYS if isinstance(self.spec.get(k), str)]
        return ids + [rid for k in LIST_READ_KEYS for rid in self.spec.get(k, [])]

    def shard(self, num_shards: int) -> int:
        return int(hashlib.sha256(self.id.encode()).hexdigest()[:8], 16) % max(num_shards, 1)


class RunFailed(RuntimeError):
    """A run raised; its FAILED file holds the error and the traceback."""

    def __init__(self, run: Run, error: str):
        super().__init__(f"run {run.phase}/{run.id} failed: {error}")
        self.run, self.error = run, error


class StudyNotReady(RuntimeError):
    """A step's inputs are not all complete and intact; the message names the phase to run first."""


class PhaseFailed(RuntimeError):
    """Some runs of a phase failed (each recorded in its FAILED file); the others completed and are kept."""

    def __init__(self, profile: str, phase: str, failed: list[Run], planned: int, first_error: str):
        super().__init__(
            f"{phase}: {len(failed)} of {planned} runs failed (first: {failed[0].id}: {first_error}); the others "
            f"are complete and kept. `xstilts runs {profile}` lists the failures; the next `make reproduce "
            f"PROFILE={profile}` retries only them"
        )
        self.failed = failed


def manifest(run_dir: Path) -> dict[str, list]:
    """{relative path: [size, sha256]} of every file a run wrote (its markers excluded)."""
    out = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name not in (MARKER, FAILED):
            out[path.relative_to(run_dir).as_posix()] = [path.stat().st_size, sha256(path)]
    return out


class RunStore:
    """Runs of one profile under `outputs/<profile>/runs/`."""

    def __init__(self, profile: str, root: Path | None = None):
        self.profile = profile
        self.root = Path(root) if root else outputs_dir(profile) / "runs"

    def path(self, run: Run | tuple[str, str]) -> Path:
        phase, run_id = (run.phase, run.id) if isinstance(run, Run) else run
        return self.root / phase / run_id

    def is_complete(self, run: Run | tuple[str, str]) -> bool:
        return (self.path(run) / MARKER).exists()

    def is_failed(self, run: Run) -> bool:
        return (self.path(run) / FAILED).exists() and not self.is_complete(run)

    def failure(self, run: Run) -> dict | None:
        """What a failed run left: {"error": first line, "type", "traceback", "finished"}; None otherwise."""
        if not self.is_failed(run):
            return None
        try:
            return json.loads((self.path(run) / FAILED).read_text())
        except (OSError, json.JSONDecodeError):
            return {"error": "(unreadable FAILED file)"}

    def failed_since(self, run: Run, since: float) -> bool:
        """Whether the run failed at or after `since` (a time.time()): in this execution, not to be retried in it."""
        try:
            return not self.is_complete(run) and (self.path(run) / FAILED).stat().st_mtime >= since
        except FileNotFoundError:
            return False

    def result(self, run: Run | tuple[str, str]) -> dict:
        """The metrics a completed run wrote (`metrics.json`); `run` may be (phase, id)."""
        if not self.is_complete(run):
            raise FileNotFoundError(f"run {'/'.join(self.path(run).parts[-2:])} is not complete")
        return json.loads((self.path(run) / "metrics.json").read_text())

    def execute(self, run: Run, work: Callable[[Path], dict], wait: bool = True) -> dict | None:
        """Run `work(run_dir) -> metrics` unless the run is complete; resumable and atomic.

        An incomplete directory left by a crash is cleared and redone (its `resume/` checkpoint kept).
        Another live process holding the run's lock makes this call wait for it instead of doing the run
        twice (and raise `RunFailed` if that process's attempt failed); with `wait=False` it returns None at
        once (a local worker then takes the next run: work claiming). A run that raises is recorded as failed (`FAILED`) and `RunFailed` is raised; an
        interruption (KeyboardInterrupt, SystemExit: a signal) leaves the run incomplete and resumable.
        """
        if self.is_complete(run):
            return self.result(run)
        run_dir = self.path(run)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with RunLock(run_dir.with_name(run_dir.name + ".lock")) as lock:
            if not lock.acquired:  # a live worker is on it: wait, then reuse its result (or move on)
                if not wait:
                    return None
                lock.wait()
                if self.is_complete(run):
                    return self.result(run)
                if self.is_failed(run):
                    raise RunFailed(run, self.failure(run)["error"])
                return self.execute(run, work)
            if self.is_complete(run):
                return self.result(run)
            return self.run_claimed(run, work)

    def begin(self, run: Run) -> Path:
        """Prepare the folder of a claimed run: a fresh one, or the one holding a `resume/` checkpoint."""
        run_dir = self.path(run)
        if run_dir.exists() and not (run_dir / RESUME).is_dir():
            log.info("redoing incomplete run %s/%s", run.phase, run.id)
            shutil.rmtree(run_dir)
        elif run_dir.exists():
            log.info("resuming run %s/%s from its checkpoint", run.phase, run.id)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / FAILED).unlink(missing_ok=True)
        atomic_write_json(run_dir / "spec.json", {"id": run.id, "phase": run.phase, "spec": run.spec})
        return run_dir

    def run_claimed(self, run: Run, work: Callable[[Path], dict]) -> dict:
        """`work` for a run this process holds the lock of (or whose launcher holds it)."""
        run_dir = self.begin(run)
        handler = logging.FileHandler(run_dir / "log.txt")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root_logger = logging.getLogger()
        root_logger.addHandler(handler)
        started = time.time()
        try:
            metrics = work(run_dir)
        except Exception as err:
            self.fail(run, err)
            raise RunFailed(run, _first_line(err)) from err
        finally:
            root_logger.removeHandler(handler)
            handler.close()
        return self.finish(run, metrics, started)

    def finish(self, run: Run, metrics: dict | None, started: float) -> dict:
        """Write the run's metrics, drop its resume checkpoint, and mark it complete with a manifest."""
        run_dir = self.path(run)
        metrics = dict(metrics or {})
        atomic_write_json(run_dir / "metrics.json", metrics)
        shutil.rmtree(run_dir / RESUME, ignore_errors=True)
        atomic_write_json(
            run_dir / MARKER,
            {
                "run": run.id,
                "seconds": round(time.time() - started, 3),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "host": socket.gethostname(),
                "files": manifest(run_dir),
            },
        )
        return metrics

    def fail(self, run: Run, err: BaseException | str, trace: str | None = None) -> None:
        """Record a failed run: its error's first line, its type and its traceback (or a log's tail)."""
        if isinstance(err, BaseException):  # `details`: the traceback of a failing rank of a sharded run
            info = {
                "error": _first_line(err),
                "type": type(err).__name__,
                "traceback": "".join(traceback.format_exception(err)) + getattr(err, "details", ""),
            }
        else:
            info = {"error": err, "type": "failure", "traceback": trace or ""}
        self.path(run).mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path(run) / FAILED, {**info, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        log.error("run %s/%s failed: %s", run.phase, run.id, info["error"])

    def check(self, run: Run, deep: bool = False) -> list[str]:
        """What is wrong with a completed run's files: missing, another size, or (`deep`) other bytes than
        its manifest records. An empty list for an intact run (and for a run that is not complete)."""
        if not self.is_complete(run):
            return []
        run_dir = self.path(run)
        try:
            files = json.loads((run_dir / MARKER).read_text()).get("files")
        except (OSError, json.JSONDecodeError):
            return ["its COMPLETE marker is unreadable"]
        if files is None:
            return []  # completed before manifests were kept: nothing to check against
        problems = []
        for rel, (size, digest) in files.items():
            path = run_dir / rel
            if not path.is_file():
                problems.append(f"{rel} is missing")
            elif path.stat().st_size != size:
                problems.append(f"{rel} has {path.stat().st_size} bytes, {size} expected")
            elif deep and sha256(path) != digest:
                problems.append(f"{rel} has other content than when the run completed")
        return problems

    def prune(self, run: Run, paths: Iterable[str]) -> list[str]:
        """Delete files of a completed run that no planned run needs any more (a checkpoint, once every run
        loading it is complete); its marker's manifest drops them and lists them as `pruned`, so the run stays
        complete and intact. Returns what was deleted. Done under the run's lock: where another worker holds
        it (pruning the same run at the end of its phase), this one leaves the run to it and returns []."""
        run_dir = self.path(run)
        with RunLock(run_dir.with_name(run_dir.name + ".lock")) as lock:
            if not lock.acquired or not self.is_complete(run):
                return []
            gone = [rel for rel in paths if (run_dir / rel).exists()]
            if not gone:
                return []
            for rel in gone:
                target = run_dir / rel
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            info = json.loads((run_dir / MARKER).read_text())
            files = info.get("files") or {}
            info["files"] = {k: v for k, v in files.items() if not any(k == g or k.startswith(g + "/") for g in gone)}
            info["pruned"] = sorted(set(info.get("pruned", [])) | set(gone))
            atomic_write_json(run_dir / MARKER, info)
            return gone

    def is_pruned(self, run: Run) -> bool:
        """Whether files of this completed run were deleted after use (`prune`)."""
        try:
            return bool(json.loads((self.path(run) / MARKER).read_text()).get("pruned"))
        except (OSError, json.JSONDecodeError):
            return False

    def invalidate(self, run: Run) -> None:
        """Make a completed run incomplete, so the next execution redoes it (its files are not read)."""
        (self.path(run) / MARKER).unlink(missing_ok=True)

    def status(self, runs: Iterable[Run]) -> dict[str, tuple[int, int]]:
        """Per phase: (complete, planned)."""
        counts: dict[str, list[int]] = {}
        for run in runs:
            done, total = counts.setdefault(run.phase, [0, 0])
            counts[run.phase] = [done + self.is_complete(run), total + 1]
        return {phase: tuple(counts[phase]) for phase in PHASES if phase in counts}


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class RunLock:
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
