"""`xstilts submit PROFILE`: the study on a cluster through its own scheduler (Slurm via submitit).

Each phase becomes a job array of shard workers: worker i runs the phase's steps for shard i of N
through the run store (xstilts.study.steps.run_phase), then exits; one final single-worker pass per phase
then finds every run complete and writes the phase's tables, as the Makefile's `SHARDS=N` does. Each
phase's array waits for the previous phase's final pass (`--dependency=afterok:<id>`). No scheduler of
our own: Slurm orders, places and requeues the jobs; locally, submitit's LocalExecutor runs them and
each phase is waited for before the next is submitted.

Preemption and time limits: the sbatch scripts carry `--requeue` and `--signal=USR1@120`, and every
worker is a submitit `Checkpointable` whose `checkpoint()` resubmits the same worker. On the signal the
training run in flight saves a resumable checkpoint (the engine, or the ranks of a sharded run through
their launcher) and stops; submitit's handler then requeues the worker. The run store is the rest of the
checkpoint: a restarted worker skips every run with a COMPLETE marker and resumes the one in flight.

Runs sharded over several GPUs (a size's `ranks: R > 1`) are left by the array's workers (one GPU each) to
the phase's final pass, which gets R GPUs and the host memory of rank-0 loading (`host_memory_gb`).

`--dry-run` writes, under outputs/<profile>/submit/, one sbatch script per phase array and final pass,
built with submitit's own sbatch writer (submitit.slurm.slurm._make_sbatch_string) and the same
parameters a real submission uses, with a plain `xstilts phase` command instead of submitit's pickle
loader so a person can read them and, if they like, submit them with the `submit.sh` written beside them.
"""

from __future__ import annotations

import importlib
import math
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.interrupt import Interrupted
from xstilts.paths import outputs_dir, repo_root
from xstilts.paths import profile_name as profile_stem
from xstilts.study.grid import model_of, plan_runs, ranks_of
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


# Slurm's signal before the time limit: SIGUSR1, which the training engine and the launcher of a sharded run's
# ranks take to save a resumable checkpoint; submitit reads this variable when it is imported, and the jobs'
# setup exports it, so submitit's own handler (requeue) is called after the save (PhaseWorker.__call__).
os.environ.setdefault("SUBMITIT_PREEMPT_SIGNAL", "USR1")
PREEMPT_SIGNAL = getattr(signal, "SIG" + os.environ["SUBMITIT_PREEMPT_SIGNAL"])

try:  # submitit is a pinned dependency; the import stays lazy-tolerant so `xstilts plan` never needs it
    from submitit.helpers import Checkpointable, DelayedSubmission
except ImportError:  # pragma: no cover
    Checkpointable = object
    DelayedSubmission = None


class PhaseWorker(Checkpointable):
    """One shard worker of one phase: `run_phase(profile, phase, shard, num_shards)`, resumable. With `ranks`
    it is a wide worker: its shard of the runs sharded over `ranks` processes, whose ranks it launches.

    Preempted or timed out, submitit calls `checkpoint()`, which resubmits this same worker; the run
    store makes the rerun skip finished runs. The result is the run store's count for the phase.
    """

    def __init__(
        self, profile: str, phase: str, shard: int, num_shards: int, runner: str = RUNNER, ranks: int | None = None
    ):
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
        if not 0 <= shard < num_shards:
            raise ValueError(f"shard must satisfy 0 <= shard < num_shards, got {shard}/{num_shards}")
        self.profile, self.phase, self.shard, self.num_shards, self.runner = profile, phase, shard, num_shards, runner
        self.ranks = ranks

    def __call__(self) -> dict:
        started = time.time()
        wide = {"ranks": self.ranks} if self.ranks else {}
        try:
            resolve(self.runner)(self.profile, self.phase, self.shard, self.num_shards, **wide)
        except Interrupted:  # the run in flight saved a resumable checkpoint on Slurm's signal
            handler = signal.getsignal(PREEMPT_SIGNAL)
            if callable(handler):  # submitit's: checkpoint() below, requeue, exit
                handler(PREEMPT_SIGNAL, None)
            raise
        return {
            "phase": self.phase,
            "shard": self.shard,
            "num_shards": self.num_shards,
            **wide,
            "seconds": round(time.time() - started, 2),
            **phase_status(self.profile, self.phase),
        }

    def checkpoint(self, *args, **kwargs):
        """Requeue the same worker: completed runs are skipped, the one in flight resumes."""
        return DelayedSubmission(
            PhaseWorker(self.profile, self.phase, self.shard, self.num_shards, self.runner, self.ranks)
        )

    def __repr__(self) -> str:
        wide = f", runs over {self.ranks} ranks" if self.ranks else ""
        return f"PhaseWorker({self.profile!r}, {self.phase!r}, shard {self.shard}/{self.num_shards}{wide})"


def phase_status(profile: str, phase: str) -> dict:
    """{'complete': n, 'planned': m} for one phase of a profile, from the run store."""
    prof = load_profile(profile, check_licences=False)
    runs = plan_runs(prof)[phase]
    done, total = RunStore(prof.name).status(runs).get(phase, (0, len(runs)))
    return {"complete": done, "planned": total}


@dataclass
class WideJob:
    """The runs of one phase sharded over `ranks` processes: an array of `workers` wide workers, each with
    `ranks` GPUs (on a GPU profile) and the host memory of rank-0 loading (`mem_gb`)."""

    ranks: int
    runs: int
    workers: int
    mem_gb: int | None = None


@dataclass
class PhaseJob:
    """How one phase is submitted: an array of `shards` workers of `gpus` GPUs each for its one-process runs
    (none when it has none), an array of wide workers per width of its sharded runs, and, after them, a
    final single-worker pass that finds every run complete and writes the phase's tables."""

    phase: str
    runs: int
    shards: int
    gpus: int
    wide: list[WideJob] = field(default_factory=list)

    @property
    def final_pass(self) -> bool:
        return self.shards > 1 or bool(self.wide)


def host_memory_gb(params: int, ranks: int) -> int:
    """Host RAM of a node running one sharded run: rank 0 reads the fp32 checkpoint once (the other ranks
    build the model on the meta device and receive their shards), 20% headroom, ~3 GB per rank process
    (interpreter, CUDA context, data) and 8 GB for the rest."""
    return math.ceil(1.2 * params * 4 / 1e9 + 3 * ranks + 8)


def job_plan(profile_name: str, max_parallel: int) -> list[PhaseJob]:
    """Per phase: shards = min(max_parallel, one-process runs), one GPU each (none for data and analysis,
    nor on CPU profiles); for each width R of its sharded runs, min(max_parallel, such runs) wide workers."""
    if max_parallel < 1:
        raise ValueError(f"--max-parallel must be >= 1, got {max_parallel}")
    profile = load_profile(profile_name, check_licences=False)  # planning needs no data
    runs = plan_runs(profile)
    gpu = 0 if (profile.is_miniature or profile["device"] == "cpu") else 1
    params = {m["name"]: m.get("params") or 0 for m in profile["models"]}
    jobs = []
    for phase in PHASES:
        gpus = gpu if phase in GPU_PHASES else 0
        width = {r.id: ranks_of(profile.cfg, r) for r in runs[phase]}
        single = sum(w == 1 for w in width.values())
        wide = []
        for n in sorted({w for w in width.values() if w > 1}):
            these = [r for r in runs[phase] if width[r.id] == n]
            mem = max(host_memory_gb(params[model_of(r)], n) for r in these) if gpus else None
            wide.append(WideJob(n, len(these), min(max_parallel, len(these)), mem))
        shards = min(max_parallel, single) if single else 0
        jobs.append(PhaseJob(phase, len(runs[phase]), shards, gpus, wide))
    return jobs


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

    def sbatch_parameters(self, job: PhaseJob, name: str, wide: WideJob | None = None) -> dict:
        """Keyword arguments of submitit's sbatch writer / SlurmExecutor.update_parameters. A wide worker gets
        its runs' GPUs, a CPU per rank at least, and their host memory."""
        params = {
            "job_name": name,
            "time": self.timeout_min,
            "nodes": 1,
            "ntasks_per_node": 1,
            "cpus_per_task": max(self.cpus_per_task, wide.ranks) if wide else self.cpus_per_task,
            "mem": f"{max(self.mem_gb, (wide.mem_gb or 0) if wide else 0)}GB",
            "signal_delay_s": self.signal_delay_s,
            "additional_parameters": {"requeue": True},
        }
        gpus = self.gpus_per_worker if (self.gpus_per_worker and job.gpus) else job.gpus
        if wide:
            gpus = job.gpus * wide.ranks
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
    lines = [
        f"cd {shlex.quote(str(repo_root()))}",
        f"export XSTILTS_ROOT={shlex.quote(str(repo_root()))}",
        f"export SUBMITIT_PREEMPT_SIGNAL={os.environ['SUBMITIT_PREEMPT_SIGNAL']}",
    ]
    for var in ("XSTILTS_OUTPUTS", "XSTILTS_CCGBANK", "XSTILTS_LOCK", "HF_HOME", "HF_DATASETS_CACHE"):
        if os.environ.get(var):
            lines.append(f"export {var}={shlex.quote(os.environ[var])}")
    if not profile.is_miniature:
        lines += ["export HF_HUB_OFFLINE=1", "export HF_DATASETS_OFFLINE=1"]
    return lines


def submit_dir(profile: str) -> Path:
    return outputs_dir(profile) / "submit"


# --- dry run: sbatch scripts a person reads ---------------------------------------------------------


def _arrays(job: PhaseJob) -> list[tuple[str, int, WideJob | None]]:
    """The arrays of a phase, in submission order: (name suffix, workers, wide job or None)."""
    out = [("", job.shards, None)] if job.shards else []
    return out + [(f"_r{w.ranks}", w.workers, w) for w in job.wide]


def write_dry_run(
    profile_name: str,
    jobs: list[PhaseJob],
    options: SlurmOptions,
    out_dir: Path | None = None,
    python: str | None = None,
) -> list[Path]:
    """Write `<k>_<phase>.sbatch` (the one-process runs' array), `<k>_<phase>_r<R>.sbatch` (the arrays of
    wide workers), `<k>_<phase>_final.sbatch` per phase, and `submit.sh`, which chains them."""
    from submitit.slurm.slurm import _make_sbatch_string

    out_dir = Path(out_dir) if out_dir else submit_dir(profile_name)
    logs = out_dir / "logs"
    out_dir.mkdir(parents=True, exist_ok=True)
    python = python or shlex.quote(sys.executable)
    chain = [
        "#!/bin/bash",
        f"# Submit the '{profile_name}' study: a phase's arrays wait for the previous phase's last job; its "
        "final pass waits for its arrays (afterok).",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "",
    ]
    written, previous = [], []  # previous: the shell variables of the jobs the next phase waits for
    for k, job in enumerate(jobs):
        stem = f"{k}_{job.phase}"
        variants = [(stem + suffix, workers, wide) for suffix, workers, wide in _arrays(job)]
        if job.final_pass:
            variants.append((f"{stem}_final", None, None))
        arrays = []
        for name, workers, wide in variants:
            final = workers is None
            command = f"{python} -m xstilts.cli phase {shlex.quote(profile_name)} {job.phase} " + (
                "--shard 0 --num-shards 1"
                if final
                else f"--shard $SLURM_ARRAY_TASK_ID --num-shards {workers}" + (f" --ranks {wide.ranks}" if wide else "")
            )
            params = options.sbatch_parameters(job, f"xstilts-{profile_stem(profile_name)}-{name}", wide)
            text = _make_sbatch_string(command=command, folder=str(logs), map_count=workers, **params)
            waits = arrays if final else previous
            what = (
                "final single-worker pass"
                if final
                else f"{workers} wide workers, {wide.ranks} ranks each ({wide.runs} runs)"
                if wide
                else f"{workers} shard workers (array)"
            )
            header = (
                f"# xstilts dry run: phase '{job.phase}' of profile '{profile_name}', {what}, {job.runs} runs in "
                f"the phase.\n# dependency: {', '.join(waits) or 'none (first phase)'} - set by submit.sh\n"
                "# time limit: USR1 before it saves the training run in flight; --requeue restarts a worker, "
                "which skips every run with a COMPLETE marker\n"
            )
            text = text.replace("#!/bin/bash\n", "#!/bin/bash\n" + header, 1)
            path = out_dir / f"{name}.sbatch"
            path.write_text(text)
            written.append(path)
            var = "jid_" + name.split("_", 1)[1]
            after = "".join(f":${{{v}}}" for v in waits)
            chain.append(f"{var}=$(sbatch --parsable {f'--dependency=afterok{after} ' if after else ''}{path.name})")
            chain.append(f'echo "{name}: job ${{{var}}}"')
            (arrays if not final else []).append(var)
        previous = [f"jid_{stem.split('_', 1)[1]}_final"] if job.final_pass else arrays
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


def submit_phase(
    executor, profile: str, job: PhaseJob, runner: str = RUNNER, final: bool = False, wide: WideJob | None = None
) -> list:
    """Submit one of a phase's arrays (the one-process runs', or the wide workers' of `wide`) or its final pass
    to a configured executor."""
    if final:
        return [executor.submit(PhaseWorker(profile, job.phase, 0, 1, runner))]
    n, ranks = (wide.workers, wide.ranks) if wide else (job.shards, None)
    with executor.batch():
        return [executor.submit(PhaseWorker(profile, job.phase, i, n, runner, ranks)) for i in range(n)]


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
    afterok): a phase's arrays run in parallel processes, then its final pass; a failed worker stops the chain."""
    executor = _executor("local", folder)
    executor.update_parameters(timeout_min=timeout_min, tasks_per_node=1, gpus_per_node=0)
    results = []
    for job in jobs:
        if phases and job.phase not in phases:
            continue
        running = []
        for suffix, _, wide in _arrays(job):
            submitted = submit_phase(executor, profile, job, runner, wide=wide)
            log(f"{job.phase}{suffix}: {len(submitted)} local job(s) {', '.join(j.job_id for j in submitted)}")
            running += submitted
        results += [j.result() for j in running]  # raises with the worker's traceback if it failed
        if job.final_pass:
            final = submit_phase(executor, profile, job, runner, final=True)[0]
            log(f"{job.phase} (final pass): local job {final.job_id}")
            results.append(final.result())
    return results


def run_slurm(
    profile: str, jobs: list[PhaseJob], options: SlurmOptions, folder: Path, runner: str = RUNNER, log=print
) -> list[dict]:
    """Submit every phase at once, chained with afterok dependencies; returns the job ids."""
    executor = _executor("slurm", folder)
    previous, submitted = [], []
    for job in jobs:
        arrays = []
        steps = [(suffix, wide, False) for suffix, _, wide in _arrays(job)]
        steps += [("-final", None, True)] if job.final_pass else []
        for suffix, wide, final in steps:
            name = f"xstilts-{profile_stem(profile)}-{job.phase}{suffix.replace('_', '-')}"
            params = options.sbatch_parameters(job, name, wide)
            waits = arrays if final else previous
            if waits:
                params["dependency"] = "afterok:" + ":".join(waits)
            executor.update_parameters(**params)
            ids = [j.job_id for j in submit_phase(executor, profile, job, runner, final=final, wide=wide)]
            arrays.append(ids[0].split("_")[0])  # the array's id: afterok waits for all its tasks
            submitted.append(
                {"phase": job.phase, "final": final, "ranks": wide.ranks if wide else 1, "jobs": ids}
                | {"depends_on": params.get("dependency")}
            )
            log(
                f"{name}: {arrays[-1]} ({len(ids)} task{'s' if len(ids) > 1 else ''})"
                + (f", after {params['dependency']}" if "dependency" in params else "")
            )
        previous = arrays[-1:] if job.final_pass else arrays
    return submitted
