"""`xstilts submit PROFILE`: the study on a cluster through its own scheduler (Slurm via submitit).

Each phase becomes a job array of shard workers: worker i runs the phase's steps for shard i of N
through the run store (xstilts.study.steps.run_phase), then exits; one final single-worker pass per phase
then finds every run complete and writes the phase's tables, as the Makefile's `SHARDS=N` does. Each
phase's array waits for the previous phase's final pass (`--dependency=afterok:<id>`). No scheduler of
our own: Slurm orders, places and requeues the jobs; locally, submitit's LocalExecutor runs them and
each phase is waited for before the next is submitted.

Preemption: the sbatch scripts carry `--requeue`, and every worker is a submitit `Checkpointable`
whose `checkpoint()` resubmits the same worker (submitit requeues on its USR2 signal before the time
limit or on preemption). The run store is the checkpoint: a restarted worker skips every run with a
COMPLETE marker and redoes only the run that was in flight (its directory has no marker).

`--dry-run` writes, under outputs/<profile>/submit/, one sbatch script per phase array and final pass,
built with submitit's own sbatch writer (submitit.slurm.slurm._make_sbatch_string) and the same
parameters a real submission uses, with a plain `xstilts phase` command instead of submitit's pickle
loader so a person can read them and, if they like, submit them with the `submit.sh` written beside them.
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from xstilts.paths import outputs_dir, repo_root
from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile
from xstilts.study.runstore import PHASES, RunStore

RUNNER = "xstilts.study.steps:run_phase"
GPU_PHASES = ("pretrained", "intermediate", "target")


def resolve(spec: str):
    """'package.module:function' -> the function (the phase runner; tests pass their own)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"runner must look like 'package.module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


try:  # submitit is a pinned dependency; the import stays lazy-tolerant so `xstilts plan` never needs it
    from submitit.helpers import Checkpointable, DelayedSubmission
except ImportError:  # pragma: no cover
    Checkpointable = object
    DelayedSubmission = None


class PhaseWorker(Checkpointable):
    """One shard worker of one phase: `run_phase(profile, phase, shard, num_shards)`, resumable.

    Preempted or timed out, submitit calls `checkpoint()`, which resubmits this same worker; the run
    store makes the rerun skip finished runs. The result is the run store's count for the phase.
    """

    def __init__(self, profile: str, phase: str, shard: int, num_shards: int, runner: str = RUNNER):
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
        if not 0 <= shard < num_shards:
            raise ValueError(f"shard must satisfy 0 <= shard < num_shards, got {shard}/{num_shards}")
        self.profile, self.phase, self.shard, self.num_shards, self.runner = profile, phase, shard, num_shards, runner

    def __call__(self) -> dict:
        started = time.time()
        resolve(self.runner)(self.profile, self.phase, self.shard, self.num_shards)
        return {
            "phase": self.phase,
            "shard": self.shard,
            "num_shards": self.num_shards,
            "seconds": round(time.time() - started, 2),
            **phase_status(self.profile, self.phase),
        }

    def checkpoint(self, *args, **kwargs):
        """Requeue the same worker: completed runs are skipped, the one in flight is redone."""
        return DelayedSubmission(PhaseWorker(self.profile, self.phase, self.shard, self.num_shards, self.runner))

    def __repr__(self) -> str:
        return f"PhaseWorker({self.profile!r}, {self.phase!r}, shard {self.shard}/{self.num_shards})"


def phase_status(profile: str, phase: str) -> dict:
    """{'complete': n, 'planned': m} for one phase of a profile, from the run store."""
    prof = load_profile(profile, check_licences=False)
    runs = plan_runs(prof)[phase]
    done, total = RunStore(prof.name).status(runs).get(phase, (0, len(runs)))
    return {"complete": done, "planned": total}


@dataclass
class PhaseJob:
    """How one phase is submitted: an array of `shards` workers (+ a final pass when shards > 1)."""

    phase: str
    runs: int
    shards: int
    gpus: int

    @property
    def final_pass(self) -> bool:
        return self.shards > 1


def job_plan(profile_name: str, max_parallel: int) -> list[PhaseJob]:
    """Per phase: shards = min(max_parallel, runs in the phase); GPUs per worker from the profile
    (0 for data and analysis, and for a miniature profile, which runs on CPU)."""
    if max_parallel < 1:
        raise ValueError(f"--max-parallel must be >= 1, got {max_parallel}")
    profile = load_profile(profile_name)
    runs = plan_runs(profile)
    gpu = 0 if (profile.is_miniature or profile["device"] == "cpu") else 1
    return [
        PhaseJob(
            phase, len(runs[phase]), max(1, min(max_parallel, len(runs[phase]))), gpu if phase in GPU_PHASES else 0
        )
        for phase in PHASES
    ]


@dataclass
class SlurmOptions:
    """sbatch resources of every worker; per-phase GPUs come from the job plan."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    timeout_min: int = 24 * 60
    cpus_per_task: int = 8
    mem_gb: int = 64
    signal_delay_s: int = 120
    setup: tuple[str, ...] = ()
    gpus_per_worker: int | None = None  # override the job plan's GPUs for the GPU phases

    def sbatch_parameters(self, job: PhaseJob, name: str) -> dict:
        """Keyword arguments of submitit's sbatch writer / SlurmExecutor.update_parameters."""
        params = {
            "job_name": name,
            "time": self.timeout_min,
            "nodes": 1,
            "ntasks_per_node": 1,
            "cpus_per_task": self.cpus_per_task,
            "mem": f"{self.mem_gb}GB",
            "signal_delay_s": self.signal_delay_s,
            "additional_parameters": {"requeue": True},
        }
        gpus = self.gpus_per_worker if (self.gpus_per_worker and job.gpus) else job.gpus
        if gpus:
            params["gpus_per_node"] = gpus
        for key in ("partition", "account", "qos"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        if self.setup:
            params["setup"] = list(self.setup)
        return params


def default_setup(profile) -> list[str]:
    """Shell lines every worker runs first: the repository as working directory, and for real data the
    offline switches (compute nodes read what `make data` cached; docs/design.md §6)."""
    lines = [f"cd {shlex.quote(str(repo_root()))}", f"export XSTILTS_ROOT={shlex.quote(str(repo_root()))}"]
    for var in ("XSTILTS_OUTPUTS", "XSTILTS_CCGBANK", "XSTILTS_LOCK", "HF_HOME", "HF_DATASETS_CACHE"):
        if os.environ.get(var):
            lines.append(f"export {var}={shlex.quote(os.environ[var])}")
    if not profile.is_miniature:
        lines += ["export HF_HUB_OFFLINE=1", "export HF_DATASETS_OFFLINE=1"]
    return lines


def submit_dir(profile: str) -> Path:
    return outputs_dir(profile) / "submit"


# --- dry run: sbatch scripts a person reads ---------------------------------------------------------


def write_dry_run(
    profile_name: str,
    jobs: list[PhaseJob],
    options: SlurmOptions,
    out_dir: Path | None = None,
    python: str | None = None,
) -> list[Path]:
    """Write `<k>_<phase>.sbatch` (array) and `<k>_<phase>_final.sbatch` per phase and `submit.sh`."""
    from submitit.slurm.slurm import _make_sbatch_string

    out_dir = Path(out_dir) if out_dir else submit_dir(profile_name)
    logs = out_dir / "logs"
    out_dir.mkdir(parents=True, exist_ok=True)
    python = python or shlex.quote(sys.executable)
    written, chain = (
        [],
        [
            "#!/bin/bash",
            f"# Submit the '{profile_name}' study: each phase's array waits for the "
            "previous phase's final pass (afterok).",
            "set -euo pipefail",
            'cd "$(dirname "$0")"',
            "",
        ],
    )
    previous = previous_var = None
    for k, job in enumerate(jobs):
        stem = f"{k}_{job.phase}"
        variants = [(stem, job.shards, "$SLURM_ARRAY_TASK_ID")]
        if job.final_pass:
            variants.append((f"{stem}_final", None, "0"))
        for name, array, shard in variants:
            num_shards = job.shards if array else 1
            command = (
                f"{python} -m xstilts.cli phase {shlex.quote(profile_name)} {job.phase} "
                f"--shard {shard} --num-shards {num_shards}"
            )
            params = options.sbatch_parameters(job, f"xstilts-{profile_name}-{name}")
            text = _make_sbatch_string(command=command, folder=str(logs), map_count=array, **params)
            dep = f"afterok:<job id of {previous}>" if previous else "none (first phase)"
            header = (
                f"# xstilts dry run: phase '{job.phase}' of profile '{profile_name}', "
                + (f"{job.shards} shard workers (array)" if array else "final single-worker pass")
                + f", {job.runs} runs.\n# dependency: {dep} - set by submit.sh as --dependency\n"
                "# preemption: --requeue restarts a worker, which skips every run with a COMPLETE marker\n"
            )
            text = text.replace("#!/bin/bash\n", "#!/bin/bash\n" + header, 1)
            path = out_dir / f"{name}.sbatch"
            path.write_text(text)
            written.append(path)
            var = "jid_" + name.split("_", 1)[1]
            dep_flag = f"--dependency=afterok:${{{previous_var}}} " if previous else ""
            chain.append(f"{var}=$(sbatch --parsable {dep_flag}{path.name})")
            chain.append(f'echo "{name}: job ${{{var}}}"')
            previous, previous_var = name, var
    script = out_dir / "submit.sh"
    script.write_text("\n".join(chain) + "\n")
    script.chmod(0o755)
    return written + [script]


# --- real submission ---------------------------------------------------------------------------------


def _executor(kind: str, folder: Path):
    import submitit

    if kind == "local":
        return submitit.LocalExecutor(folder=str(folder))
    if kind == "slurm":
        try:
            return submitit.SlurmExecutor(folder=str(folder))
        except RuntimeError as err:
            raise RuntimeError(
                f"--executor slurm: {err} (run on a Slurm login node, or use --dry-run to write "
                f"the sbatch scripts, or --executor local)"
            ) from None
    raise ValueError(f"--executor must be slurm or local, got {kind!r}")


def submit_phase(executor, profile: str, job: PhaseJob, runner: str = RUNNER, final: bool = False) -> list:
    """Submit one phase's array of shard workers (or its final pass) to a configured executor."""
    if final:
        return [executor.submit(PhaseWorker(profile, job.phase, 0, 1, runner))]
    with executor.batch():
        jobs = [executor.submit(PhaseWorker(profile, job.phase, i, job.shards, runner)) for i in range(job.shards)]
    return jobs


def run_local(
    profile: str,
    jobs: list[PhaseJob],
    folder: Path,
    runner: str = RUNNER,
    timeout_min: int = 24 * 60,
    phases: tuple[str, ...] | None = None,
    log=print,
) -> list[dict]:
    """Run the phases through submitit's LocalExecutor, one after another (the local stand-in for
    afterok): each phase's workers run in parallel processes; a failed worker stops the chain."""
    executor = _executor("local", folder)
    executor.update_parameters(timeout_min=timeout_min, tasks_per_node=1, gpus_per_node=0)
    results = []
    for job in jobs:
        if phases and job.phase not in phases:
            continue
        for final in (False, True) if job.final_pass else (False,):
            submitted = submit_phase(executor, profile, job, runner, final=final)
            log(
                f"{job.phase}{' (final pass)' if final else ''}: {len(submitted)} local job(s) "
                f"{', '.join(j.job_id for j in submitted)}"
            )
            for j in submitted:
                results.append(j.result())  # raises with the worker's traceback if it failed
    return results


def run_slurm(
    profile: str, jobs: list[PhaseJob], options: SlurmOptions, folder: Path, runner: str = RUNNER, log=print
) -> list[dict]:
    """Submit every phase at once, chained with afterok dependencies; returns the job ids."""
    executor = _executor("slurm", folder)
    previous, submitted = None, []
    for job in jobs:
        for final in (False, True) if job.final_pass else (False,):
            name = f"xstilts-{profile}-{job.phase}{'-final' if final else ''}"
            params = options.sbatch_parameters(job, name)
            if previous:
                params["dependency"] = f"afterok:{previous}"
            executor.update_parameters(**params)
            ids = [j.job_id for j in submit_phase(executor, profile, job, runner, final=final)]
            previous = ids[0].split("_")[0]  # the array's id: afterok waits for all its tasks
            submitted.append({"phase": job.phase, "final": final, "jobs": ids, "depends_on": params.get("dependency")})
            log(
                f"{name}: {ids[0].split('_')[0]} ({len(ids)} task{'s' if len(ids) > 1 else ''})"
                + (f", after {params['dependency']}" if "dependency" in params else "")
            )
    return submitted
