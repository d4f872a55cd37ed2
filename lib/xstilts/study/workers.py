"""Local worker processes for one phase: N processes that claim runs from the run store.

CPU profiles set `workers: N` (tiny models barely use a second thread; two processes with one thread each
roughly double throughput). Each worker is the command `xstilts phase PROFILE PHASE --worker`: it walks
the phase's runs largest model first (the grid lists sizes smallest first) and takes any run no other
worker holds (the run store's lock), so the workers finish together however unequal the runs are. Every
run still goes through the run store: the result is the one a single process would give. A worker's
output goes to `outputs/<profile>/logs/<phase>-worker<i>.log` (every run also keeps its own `log.txt`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from xstilts.paths import outputs_dir, profile_name


def worker_command(profile: str, phase: str) -> list[str]:
    return [sys.executable, "-m", "xstilts.cli", "phase", profile, phase, "--worker"]


RUNS_FAILED = 3  # a worker's exit status when it finished the phase but some of its runs failed


def run_workers(profile: str, phase: str, workers: int, since: float, poll: float = 1.0) -> None:
    """Start `workers` worker processes for a phase and wait for all of them. `profile`: its file (a profile
    given as a path is not in params/, so a worker must not look it up by name). A worker whose runs failed
    (exit RUNS_FAILED) is not an error here: the caller finds those runs failed since `since` and reports
    them; a worker that crashed otherwise raises."""
    logs = outputs_dir(profile) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs, files = [], []
    for i in range(workers):
        log = open(logs / f"{phase}-worker{i}.log", "w")
        files.append(log)
        procs.append(
            subprocess.Popen(
                worker_command(profile, phase),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "XSTILTS_SINCE": repr(since)},
            )
        )
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(poll)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for f in files:
            f.close()
    failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode not in (0, RUNS_FAILED)]
    if failed:
        where = ", ".join(f"logs/{phase}-worker{i}.log (exit {code})" for i, code in failed)
        raise RuntimeError(
            f"{phase}: {len(failed)} of {workers} worker processes failed; see {where} under "
            f"outputs/{profile_name(profile)}/ and the log.txt of the incomplete runs"
        )
