"""Execute a phase notebook with papermill and tell the console how the phase is going.

`make reproduce` runs each notebook through `xstilts execute`: one line as the phase starts (runs planned,
reused, to do), one progress line with the runs done and failed and an estimate of the time left (redrawn
in place on a terminal; in a log, printed at most once a minute and once a tenth of the runs), and one line
with the phase's wall time. The notebook itself runs with progress bars off (the report is not a terminal) and writes to a temporary
file that is renamed over the output only on success; on failure the console names the cell's error and
the notebook that holds its traceback. `--verbose` brings back papermill's per-cell bar and its logging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

from xstilts.paths import outputs_dir
from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile
from xstilts.study.runstore import PHASES, RunStore, notebook_of

PHASE_OF = {notebook_of(phase): phase for phase in PHASES}  # 0_data -> data, ...
# errors a cell raises that tell the user what to do (exit 2), and a phase whose runs failed (exit 3)
EXPECTED_IN_CELL = ("ProfileError", "ProfileChanged", "StudyNotReady", "LicenceGatedError", "RevisionNotLocked")
FAILED_IN_CELL = ("PhaseFailed", "RunFailed")
# what the kernel's environment turns off: progress bars are for terminals, not for reports
QUIET_KERNEL = {
    "TQDM_DISABLE": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}
# when the console is not a terminal (a log), a progress line at most once a minute and only when another
# tenth of the phase's runs is done: at most ten lines a phase, however slow the machine
LOG_INTERVAL = 60.0


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Counts a phase's runs in the run store and prints how far it is."""

    def __init__(self, profile: str, phase: str, stream=None):
        prof = load_profile(profile, check_licences=False)
        self.phase, self.runs, self.store = phase, plan_runs(prof)[phase], RunStore(prof.name)
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.reused = self.done()
        self.last_line, self.last_print, self.last_tenth = "", self.started, self.tenth(self.reused)

    def tenth(self, done: int) -> int:
        return 10 * done // max(len(self.runs), 1)

    def done(self) -> int:
        return sum(self.store.is_complete(r) for r in self.runs)

    def failed(self) -> int:
        return sum(self.store.is_failed(r) for r in self.runs)

    def start_line(self) -> str:
        todo = len(self.runs) - self.reused
        return f"{self.phase}: {len(self.runs)} runs, {self.reused} reused, {todo} to do"

    def line(self, done: int) -> str:
        elapsed = time.monotonic() - self.started
        new, left = done - self.reused, len(self.runs) - done
        eta = f", about {duration(left * elapsed / new)} left" if new and left else ""
        return f"{self.phase}: {done}/{len(self.runs)} done, {self.failed()} failed, {duration(elapsed)}{eta}"

    def tick(self) -> None:
        done = self.done()
        line = self.line(done)
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self.last_line)))
            self.stream.flush()
            self.last_line = line
        elif time.monotonic() - self.last_print >= LOG_INTERVAL and self.tenth(done) > self.last_tenth:
            print(line, file=self.stream, flush=True)
            self.last_line, self.last_print, self.last_tenth = line, time.monotonic(), self.tenth(done)

    def finish(self, ok: bool) -> str:
        if self.tty and self.last_line:
            self.stream.write("\r" + " " * len(self.last_line) + "\r")
        elapsed = duration(time.monotonic() - self.started)
        done = self.done()
        return (
            f"{self.phase}: {done}/{len(self.runs)} complete, {self.failed()} failed, in {elapsed}"
            if ok
            else f"{self.phase}: stopped after {elapsed} with {done}/{len(self.runs)} complete"
        )


@contextlib.contextmanager
def kernel_stderr(log_file: Path | None):
    """Send this process's standard error (which the kernel inherits: its start-up notices, C-level library
    warnings) to `log_file` while the notebook runs; None leaves it on the console."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_file, "ab") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def execute(notebook: Path, output: Path, profile: str, *, shard=0, num_shards=1, verbose=False, progress=True) -> int:
    """Run one phase notebook into `output`: 0 on success; 2 when a cell stopped with an expected error (a
    profile to fix, an earlier phase to run first), 3 when runs failed, 1 for any other error in a cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook, output = Path(notebook), Path(output)
    if notebook.stem not in PHASE_OF or not notebook.is_file():
        raise FileNotFoundError(
            f"{notebook} is not a phase notebook: expected notebooks/<name>.ipynb, name one of {', '.join(PHASE_OF)}"
        )
    load_profile(profile)  # a profile that cannot run (licence-gated data included) stops here, in one line
    tracker = Progress(profile, PHASE_OF[notebook.stem]) if progress else None
    if tracker:
        print(tracker.start_line(), flush=True)
    if not verbose:
        os.environ.update(QUIET_KERNEL)  # the kernel inherits this process's environment
        for name in ("papermill", "traitlets", "nbclient", "jupyter_client", "asyncio"):
            logging.getLogger(name).setLevel(logging.ERROR)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.stem + (f".shard{shard}" if num_shards > 1 else "") + ".tmp.ipynb")
    outcome: dict = {}

    def run():
        try:
            papermill.execute_notebook(
                str(notebook),
                str(tmp),
                kernel_name="python3",
                progress_bar=verbose,
                log_output=verbose,
                parameters={"profile": profile, "shard": shard, "num_shards": num_shards},
            )
        except BaseException as err:  # reported below, in this thread
            outcome["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    with kernel_stderr(None if verbose else outputs_dir(profile) / "logs" / f"{notebook.stem}.kernel.log"):
        worker.start()
        while worker.is_alive():
            worker.join(timeout=1.0)
            if tracker:
                tracker.tick()
    error = outcome.get("error")
    if tracker:
        print(tracker.finish(error is None), flush=True)
    if error is None:
        if num_shards > 1:
            tmp.unlink(missing_ok=True)  # a shard worker's notebook is not a report
        else:
            os.replace(tmp, output)
        return 0
    if isinstance(error, PapermillExecutionError) and error.ename in EXPECTED_IN_CELL:
        tmp.unlink(missing_ok=True)  # nothing ran: the message says what to do
        print(f"xstilts execute: {notebook.name}: {error.ename}: {error.evalue}", file=sys.stderr)
        return 2
    if isinstance(error, PapermillExecutionError):
        print(f"{notebook.name}: cell {error.exec_count} raised {error.ename}: {error.evalue}", file=sys.stderr)
        print(f"the executed notebook, with the traceback: {os.path.relpath(tmp)}", file=sys.stderr)
        return 3 if error.ename in FAILED_IN_CELL else 1
    print(f"{notebook.name}: {type(error).__name__}: {error}", file=sys.stderr)
    return 1
