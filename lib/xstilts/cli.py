"""The `xstilts` command: every subcommand of the study, defined in this one place.

Each subcommand is a thin function that loads the module doing the work only when it runs (so `xstilts
validate` stays a matter of seconds and never imports torch). Expected failures -- a bad profile, data that
is missing or licence-gated, a file that does not exist, runs of an earlier phase not yet done -- end in one
line naming what to do, with exit status 2, never a traceback; runs that failed (each recorded in the run
store) end the command with exit status 3 after the others are done.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xstilts.benchmarks.official import BENCHMARKS, INTERMEDIATE, XTREME
from xstilts.benchmarks.registry import LicenceGatedError
from xstilts.data.lock import RevisionNotLocked
from xstilts.interrupt import Interrupted
from xstilts.study.profile import ProfileError
from xstilts.study.ranks import INTERRUPTED
from xstilts.study.runstore import PHASES, PhaseFailed, RunFailed, StudyNotReady
from xstilts.study.workers import RUNS_FAILED

EXPECTED_ERRORS = (ProfileError, LicenceGatedError, RevisionNotLocked, StudyNotReady, FileNotFoundError)


def at_least(low: float, kind=int):
    """An argparse type: a number of `kind` >= `low` (a bad value is a usage error, exit 2, not a traceback)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return value

    parse.__name__ = f"{kind.__name__} >= {low}"
    return parse


POSITIVE, COUNT = at_least(1), at_least(0)


def share(text: str) -> float:
    """An argparse type: a float in (0, 1]."""
    value = at_least(0.0, float)(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def options(args, *names) -> dict:
    """The parsed options `names` as keyword arguments."""
    return {name: getattr(args, name) for name in names}


# --- the study ---------------------------------------------------------------------------------------


def cmd_validate(args) -> int:
    from xstilts.study.grid import plan_runs
    from xstilts.study.profile import load_profile

    profile = load_profile(args.profile)
    plan = plan_runs(profile)
    print(f"profile {profile.name}: valid; " + ", ".join(f"{k} {len(v)}" for k, v in plan.items()) + " runs")
    return 0


def cmd_runs(args) -> int:
    from xstilts.study.grid import plan_runs
    from xstilts.study.integrity import inspect
    from xstilts.study.profile import load_profile
    from xstilts.study.runstore import RunStore

    profile = load_profile(args.profile, check_licences=False)
    store = RunStore(profile.name)
    report = inspect(store, plan_runs(profile), deep=args.verify)
    width = max(len(p) for p in PHASES)
    for phase, (done, total) in report.status.items():
        print(f"{phase:<{width}}  {done:>5}/{total:<5} complete")
    for run, error in report.failed:
        print(f"failed   {run.phase}/{run.id}: {error}  ({store.path(run) / 'FAILED'})")
    for run, problems in report.damaged:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        print(f"damaged  {run.phase}/{run.id}: {problems[0]}{more}")
    if report.damaged:
        print(f"{len(report.damaged)} damaged: `make reproduce PROFILE={profile.name}` redoes them and what reads them")
    if report.planned and report.complete == report.planned:
        print(_disk_line(profile))
    print(f"runs: {report.complete}/{report.planned} complete")
    return 1 if report.failed or report.damaged else 0


def _disk_line(profile) -> str:
    """What a finished profile holds under its outputs folder, beside the plan's figure for it."""
    from xstilts.compute.disk import measure, planned
    from xstilts.compute.plan import build_plan, si
    from xstilts.paths import outputs_dir

    used = measure(outputs_dir(profile.name))
    plan = planned(build_plan(profile).disk, profile.cfg["world"] is not None)
    off = f"{100 * (used['priced'] / plan - 1):+.0f}%" if plan else "n/a"
    return (
        f"disk: {si(used['priced'], 'B')} of runs and caches (plan: {si(plan, 'B')}, {off}), "
        f"{si(used['total'], 'B')} in all under outputs/{profile.name} (file sizes)"
    )


def cmd_repair(args) -> int:
    from xstilts.study.grid import plan_runs
    from xstilts.study.integrity import repair
    from xstilts.study.profile import load_profile
    from xstilts.study.runstore import RunStore

    profile = load_profile(args.profile, check_licences=False)
    redo = repair(RunStore(profile.name), plan_runs(profile), deep=args.verify)
    if redo:
        phases = sorted({r.phase for r in redo}, key=PHASES.index)
        print(f"repair: {len(redo)} runs to redo (damaged, or reading a damaged run) in {', '.join(phases)}")
    return 0


def cmd_phase(args) -> int:
    from xstilts.study.steps import run_phase

    run_phase(args.profile, args.phase, args.shard, args.num_shards, claim=args.worker, ranks=args.ranks)
    return 0


def cmd_rank(args) -> int:
    from xstilts.study.steps import run_rank

    run_rank(args.profile, args.phase)
    return 0


def cmd_execute(args) -> int:
    from xstilts.study.notebooks import execute

    return execute(
        args.notebook,
        args.output,
        args.profile,
        shard=args.shard,
        num_shards=args.num_shards,
        verbose=args.verbose,
        progress=not args.no_progress,
    )


def cmd_data(args) -> int:
    from xstilts.data.hub_cache import missing, prepare, report_missing
    from xstilts.study.grid import data_run
    from xstilts.study.profile import load_profile
    from xstilts.study.session import quiet_library_progress

    profile = load_profile(args.profile, check_licences=False)  # missing licensed data is listed below
    if profile.is_miniature:
        print(
            f"profile {profile.name} is a miniature: its data is generated by `make reproduce` (phase 0); "
            "nothing to fetch"
        )
        return 0
    run = data_run(profile.cfg)
    tasks, models = run.spec["tasks"], [hub for hub, _ in run.spec["models"]]
    quiet_library_progress(models=True)  # one line per source, not a bar per file and split
    if args.check:
        absent = missing(tasks, models, ccgbank=profile["ccgbank"])
        print(report_missing(absent) if absent else "everything is cached")
        return 1 if absent else 0
    return prepare(tasks, models, ccgbank=profile["ccgbank"])


def cmd_fixture_hub(args) -> int:
    from xstilts.data import fixture_hub
    from xstilts.study.session import quiet_library_progress

    if args.action == "build":
        quiet_library_progress(models=True)
        manifest = fixture_hub.build(args.dir)
        models = ", ".join(f"{m['hub']} ({m['class']})" for m in manifest["models"].values())
        print(f"fixture hub under {args.dir}: {len(manifest['datasets'])} dataset repositories; models {models}")
        return 0
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        print("xstilts fixture-hub serve: give the command to run after --", file=sys.stderr)
        return 2
    return fixture_hub.serve_and_run(Path(args.dir) / "hub", command)


def cmd_index(args) -> int:
    from xstilts.reports.index import write_index
    from xstilts.study.profile import load_profile

    profile = load_profile(args.profile, check_licences=False)
    print(f"index: {write_index(profile.name, profile.is_miniature)}")
    return 0


def cmd_tasks(args) -> int:
    import json

    from xstilts.benchmarks.registry import REGISTRY, format_table

    tasks = [t for t in REGISTRY.values() if not args.benchmark or args.benchmark in t.benchmarks]
    if args.json:
        print(json.dumps([t.to_json() for t in tasks], ensure_ascii=False, indent=1))
    else:
        print(format_table(tasks))
    return 0


# --- scoring and analysis ----------------------------------------------------------------------------


def cmd_score(args) -> int:
    from xstilts.benchmarks.scoring import report, score

    print(f"Evaluating on {args.xtreme_version}.")
    out = score(
        args.prediction_folder,
        args.label_folder,
        args.xtreme_version,
        args.output_file,
        extensions=not args.official_keys_only,
        verbose=args.verbose,
    )
    print(report({k: v for k, v in out.items() if isinstance(v, dict)}))
    return 0


def cmd_analyze(args) -> int:
    import pandas as pd

    from xstilts.analysis.analyze import CONFIRMATORY_ESTIMANDS, analyze

    if not args.table.is_file():
        print(f"xstilts analyze: --table {args.table} does not exist", file=sys.stderr)
        return 2
    res = analyze(
        pd.read_csv(args.table), args.out, n_boot=args.n_boot, seed=args.seed, source=f"the table {args.table}"
    )
    print(res.estimates[res.estimates.estimand.isin(CONFIRMATORY_ESTIMANDS)].to_string(index=False))
    print()
    print(res.answer)
    print(f"\nwrote {args.out / 'estimates.csv'} and {len(res.figures)} figures")
    return 0


def cmd_calibrate(args) -> int:
    from xstilts.analysis.calibration import calibrate, design_grid

    if args.list:
        for g in design_grid():
            print(f"{g.name:24s} {g.role:7s} γ={g.gamma:g}  {g.varies}")
        return 0
    if args.out is None:
        print("xstilts calibrate: --out is required (unless --list)", file=sys.stderr)
        return 2
    unknown = sorted(set(args.designs or ()) - {g.name for g in design_grid()})
    if unknown:
        print(f"xstilts calibrate: unknown design(s) {unknown}; `xstilts calibrate --list` names them", file=sys.stderr)
        return 2
    calibrate(
        args.out,
        designs=args.designs,
        n_sims=args.n_sims,
        n_boot=args.n_boot,
        seed=args.seed,
        schemes=tuple(args.schemes),
        jobs=args.jobs,
    )
    return 0


# --- compute -----------------------------------------------------------------------------------------


def cmd_plan(args) -> int:
    from xstilts.compute.memory import profile_fsdp
    from xstilts.compute.plan import Assumptions, assumptions_from, build_plan, format_plan, update_readme, write_csv
    from xstilts.paths import outputs_dir
    from xstilts.study.profile import load_profile

    profile = load_profile(args.profile, check_licences=False)
    if args.readme:  # the README quotes the bill at the stated defaults, never at a local measurement
        plan = build_plan(profile, Assumptions())
        changed = update_readme(Path(args.readme), plan)
        print(f"{args.readme}: bill of '{profile.name}' {'rewritten' if changed else 'already current'}")
        return 0
    names = ("mfu", "gpu", "peak_tflops", "gpu_memory_gb", "shards", "bench", "time_limit_h", "ranks", "gpu_check")
    assumptions = assumptions_from(**options(args, *names), interconnect_gb_s=args.interconnect_gb_s)
    plan = build_plan(profile, assumptions)
    out_dir = outputs_dir(profile.name) / "plan"
    write_csv(plan, out_dir / "plan.csv")
    if args.csv:
        write_csv(plan, Path(args.csv))
    a = plan.assumptions
    profile_fsdp(profile, out_dir, a.gpu_memory_gb, a.usable_memory, a.ranks)
    print(format_plan(plan))
    print(f"written: {out_dir / 'plan.csv'} (+ plan_runs.csv, plan_summary.json{', fsdp-*.yaml' if plan.fsdp else ''})")
    return 0


def cmd_submit(args) -> int:
    import json
    from dataclasses import asdict

    from xstilts.compute import submit
    from xstilts.study.profile import load_profile

    max_parallel = args.max_parallel or (2 if args.executor == "local" else 8)
    profile = load_profile(args.profile, check_licences=False)  # the plan and the scripts need no data
    try:
        load_profile(args.profile)
        needs = None
    except ProfileError as err:  # licence-gated data this machine lacks
        if not args.dry_run:
            raise
        needs = str(err)
    jobs = submit.job_plan(args.profile, max_parallel)  # a name or a YAML path, as the workers get it
    names = ("partition", "account", "qos", "timeout_min", "cpus_per_task", "mem_gb", "gpus_per_worker")
    slurm = submit.SlurmOptions(**options(args, *names), setup=tuple(submit.default_setup(profile) + list(args.setup)))
    out = submit.submit_dir(profile.name)
    out.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        unit = "GPU(s)" if job.gpus else "process(es)"
        parts = [f"{job.shards:>3} worker(s) x {job.gpus or 1} {unit}"] if job.shards else []
        parts += [
            f"{w.workers} worker(s) x {w.ranks * (job.gpus or 1)} {unit} for {w.runs} sharded runs" for w in job.wide
        ]
        print(
            f"{job.phase:<12} {job.runs:>6} runs  " + "  + ".join(parts) + ("  + final pass" if job.final_pass else "")
        )
    if args.dry_run:
        paths = submit.write_dry_run(args.profile, jobs, slurm, out)
        print(f"dry run: wrote {len(paths) - 1} sbatch scripts and {paths[-1]} (nothing submitted)")
        if needs:
            print(f"to run it, this machine still needs: {needs}")
        return 0
    if args.executor == "local":
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            results = submit.run_local(
                args.profile, jobs, out / "logs", args.runner, args.timeout_min, tuple(args.phase or ())
            )
        except (FailedJobError, UncompletedJobError) as err:  # a worker raised / was killed
            print(
                f"a worker failed; completed runs are kept, rerun the same command to resume:\n{err}", file=sys.stderr
            )
            return 1
        (out / "local_results.json").write_text(json.dumps(results, indent=2) + "\n")
        last = {r["phase"]: r for r in results}
        print("; ".join(f"{p}: {r['complete']}/{r['planned']} complete" for p, r in last.items()))
        return 0 if all(r["complete"] == r["planned"] for r in last.values()) else 1
    submitted = submit.run_slurm(args.profile, jobs, slurm, out / "logs", args.runner)
    (out / "jobs.json").write_text(
        json.dumps({"profile": profile.name, "jobs": submitted, "plan": [asdict(j) for j in jobs]}, indent=2) + "\n"
    )
    print(f"submitted; job ids in {out / 'jobs.json'}; progress: xstilts runs {args.profile}")
    return 0


def cmd_bench(args) -> int:
    import time

    from xstilts.compute.bench import HEADLINE, bench

    t0 = time.perf_counter()
    res, out = bench(
        args.out,
        steps=args.steps,
        rounds=args.rounds,
        threads=args.threads or None,
        timer=args.timer,
        analysis=not args.skip_analysis,
        hf_rounds=args.hf_rounds,
    )
    for key in HEADLINE:
        if res.get(key) is not None:
            goal = res["goals"].get(key)
            print(f"{key}: {res[key]:.3f}" + (f"  (goal >= {goal})" if goal else ""))
            if key == "trainer_vs_bare":
                s = res["trainer_vs_bare_spread"]
                print(
                    f"  over {s['n']} ABBA pairs: IQR {s['q1']:.3f}-{s['q3']:.3f}, range {s['min']:.3f}-{s['max']:.3f}"
                )
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_gpu_check(args) -> int:
    from xstilts.compute.gpucheck import NoGPU, gpu_check, summary
    from xstilts.paths import outputs_dir

    out = Path(args.out) if args.out else outputs_dir("gpu-check") / "report.json"
    try:
        report = gpu_check(out, args.work)
    except NoGPU as err:
        print(err, file=sys.stderr)
        return 2
    print(summary(report))
    print(f"wrote {out}" + ("" if report["ok"] else " (a check FAILED: its error and traceback are in the report)"))
    return 0 if report["ok"] else 1


def cmd_bench_analysis(args) -> int:
    from xstilts.compute.bench import bench_paper_shape

    for key, value in bench_paper_shape(n_boot=args.n_boot, examples_total=args.examples).items():
        print(f"{key}: {value}")
    return 0


# --- the parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xstilts",
        description="X-STILTs at scale: the study's runs, tasks, scoring, analysis, planning and cluster submission",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, func, help, **kw):
        p = sub.add_parser(name, help=help, **kw)
        p.set_defaults(func=func)
        return p

    p = command("validate", cmd_validate, "check a profile before any work starts")
    p.add_argument("profile", help="profile name (params/<profile>.yaml) or a path to a YAML file")
    p = command("runs", cmd_runs, "complete runs per phase, failed and damaged runs; last line `runs: N/M complete`")
    p.add_argument("profile", help="profile name (params/<profile>.yaml)")
    p.add_argument(
        "--verify", action="store_true", help="check every completed run's files against its manifest (checksums)"
    )
    p = command("repair", cmd_repair, "make damaged runs and the runs reading them incomplete (make reproduce runs it)")
    p.add_argument("profile", help="profile name (params/<profile>.yaml)")
    p.add_argument("--verify", action="store_true", help="compare checksums too, not only sizes")
    p = command("phase", cmd_phase, "run one phase for one shard outside the notebooks")
    p.add_argument("profile")
    p.add_argument("phase", choices=PHASES)
    p.add_argument("--shard", type=COUNT, default=0)
    p.add_argument("--num-shards", type=POSITIVE, default=1)
    p.add_argument("--worker", action="store_true", help="as a local worker: claim any run no other worker holds")
    p.add_argument("--ranks", type=at_least(2), help="as a wide worker: only the runs sharded over this many ranks")
    p = command(
        "rank", cmd_rank, "one rank of a worker's sharded runs (started by the worker; run ids on standard input)"
    )
    p.add_argument("profile")
    p.add_argument("phase", choices=("pretrained", "intermediate", "target"))
    p = command("execute", cmd_execute, "run a phase notebook with papermill, telling progress on the console")
    p.add_argument("notebook", type=Path, help="notebooks/<phase>.ipynb")
    p.add_argument("output", type=Path, help="the executed notebook (written on success)")
    p.add_argument("--profile", required=True)
    p.add_argument("--shard", type=COUNT, default=0)
    p.add_argument("--num-shards", type=POSITIVE, default=1)
    p.add_argument("--verbose", action="store_true", help="papermill's per-cell progress and logging")
    p.add_argument("--no-progress", action="store_true", help="no console progress (shard workers)")
    p = command("data", cmd_data, "cache what a profile needs (connected machine); offline: list what is missing")
    p.add_argument("profile")
    p.add_argument("--check", action="store_true", help="only report what is missing, download nothing")
    p = command(
        "fixture-hub",
        cmd_fixture_hub,
        "the rehearsal's generated hub: build it, or serve it to one command (docs/rehearsal.md)",
        description="build DIR: write the fixture repositories (every hub source, tiny checkpoints), the release "
        "files and the CCGbank stand-in under DIR. serve DIR -- CMD...: run CMD with HF_ENDPOINT pointing at "
        "DIR/hub served on 127.0.0.1 (how `make data PROFILE=rehearsal` fills its HF_HOME).",
    )
    p.add_argument("action", choices=("build", "serve"))
    p.add_argument("dir", type=Path, help="the fixture folder (outputs/rehearsal/fixtures)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="serve: the command to run, after --")
    p = command("index", cmd_index, "write outputs/<profile>/index.html linking every report and figure")
    p.add_argument("profile")
    p = command("tasks", cmd_tasks, "list the task registry (targets of both benchmarks, intermediate tasks)")
    p.add_argument("--json", action="store_true", help="print a JSON list of task objects")
    p.add_argument("--benchmark", choices=(*BENCHMARKS, INTERMEDIATE), help="only this benchmark")

    p = command(
        "score",
        cmd_score,
        "score a submission folder like the official XTREME evaluate.py",
        description="The official XTREME evaluate.py, reimplemented with per-example statistics. Writes "
        "the official evaluate.py JSON.",
    )
    p.add_argument("--prediction_folder", required=True, help="<task>/test-<lang>.<ext> predictions of one model")
    p.add_argument("--label_folder", required=True, help="the gold labels in the same layout")
    p.add_argument(
        "--xtreme_version",
        default=XTREME,
        choices=list(BENCHMARKS),
        help="the benchmark whose tasks and languages are scored (default: xtreme)",
    )
    p.add_argument("--output_file", required=True, help="where the JSON report is written")
    p.add_argument("--verbose", action="store_true", help="print each task's averages while scoring")
    p.add_argument(
        "--official_keys_only",
        action="store_true",
        help="no extensions (LAReQA, XTREME-R categories); fail where evaluate.py fails",
    )
    p = command("analyze", cmd_analyze, "estimates, CIs, tests and figures from a per-example score table")
    p.add_argument(
        "--table", required=True, type=Path, help="CSV: benchmark,task,language,params,arm,seed,example_id + statistics"
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (estimates.csv, figures)")
    p.add_argument("--n-boot", type=POSITIVE, default=10_000, help="bootstrap replicates (default 10000)")
    p.add_argument("--seed", type=COUNT, default=0, help="RNG seed of the bootstrap")
    p = command(
        "calibrate", cmd_calibrate, "simulation study over a grid of designs: coverage, type-I error and power of γ"
    )
    p.add_argument("--out", type=Path, help="output folder (calibration.csv, calibration.png, ...)")
    p.add_argument("--designs", nargs="+", help="only these designs of the grid (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the designs of the grid and exit")
    p.add_argument(
        "--n-sims", type=POSITIVE, default=1000, help="simulated studies per design and scenario (default 1000)"
    )
    p.add_argument("--n-boot", type=POSITIVE, default=1000, help="bootstrap replicates per study (default 1000)")
    p.add_argument(
        "--schemes",
        nargs="+",
        default=["calibrated", "plugin"],
        choices=("calibrated", "plugin", "naive", "examples", "seeds"),
        help="bootstrap schemes (default: calibrated plugin; also naive, examples, seeds)",
    )
    p.add_argument("--seed", type=COUNT, default=0)
    p.add_argument("--jobs", type=POSITIVE, default=1, help="worker processes (results do not depend on it; default 1)")

    from xstilts.compute.plan import Assumptions  # light: the defaults of the plan's options

    p = command(
        "plan", cmd_plan, "the cost of a profile before compute: runs, tokens, FLOPs, GPU-hours, disk (offline)"
    )
    p.add_argument("profile", help="profile name (params/<profile>.yaml)")
    p.add_argument("--csv", help="also write the table here (always written to outputs/<profile>/plan/plan.csv)")
    p.add_argument("--mfu", type=share, help="model FLOPs utilisation to assume (default 0.40, or the bench's)")
    p.add_argument("--gpu", default=Assumptions.gpu, help="GPU name for the report")
    p.add_argument(
        "--peak-tflops", type=at_least(1e-9, float), default=Assumptions.peak_tflops, help="bf16 dense peak of that GPU"
    )
    p.add_argument("--gpu-memory-gb", type=at_least(1e-9, float), default=Assumptions.gpu_memory_gb)
    p.add_argument("--shards", type=POSITIVE, default=1, help="concurrent workers (checkpoints in flight)")
    p.add_argument("--bench", help="measured throughput JSON (default outputs/bench/bench.json when present)")
    p.add_argument(
        "--time-limit-h",
        type=at_least(1e-9, float),
        default=Assumptions.time_limit_h,
        help="a job's time limit (flags requeues)",
    )
    p.add_argument(
        "--ranks", action="append", metavar="MODEL=GPUS", help="GPUs per run of a model, e.g. xxl=8 (repeatable)"
    )
    p.add_argument("--gpu-check", help="a gpu-check report.json: its measured MFU, launch floor and bandwidth")
    p.add_argument(
        "--interconnect-gb-s", type=at_least(1e-9, float), help="collective bandwidth per GPU within a node (GB/s)"
    )
    p.add_argument("--readme", help="rewrite the bill block of this README (stated defaults; nothing else)")
    p = command("submit", cmd_submit, "run a profile's phases as Slurm job arrays through submitit (or locally)")
    p.add_argument("profile", help="profile name (params/<profile>.yaml)")
    p.add_argument("--executor", choices=("slurm", "local"), default="slurm")
    p.add_argument(
        "--dry-run", action="store_true", help="write the sbatch scripts to outputs/<profile>/submit/, submit nothing"
    )
    p.add_argument("--max-parallel", type=POSITIVE, help="shard workers per phase (default: 8 on slurm, 2 locally)")
    p.add_argument("--phase", action="append", choices=PHASES, help="only these phases (local executor)")
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--qos")
    p.add_argument(
        "--time",
        dest="timeout_min",
        type=POSITIVE,
        default=24 * 60,
        help="minutes per worker before submitit requeues it",
    )
    p.add_argument("--cpus", dest="cpus_per_task", type=POSITIVE, default=8, help="CPUs per worker")
    p.add_argument("--mem-gb", type=POSITIVE, default=64, help="memory per worker")
    p.add_argument("--gpus-per-worker", type=COUNT, help="GPUs per worker of the GPU phases (default 1)")
    p.add_argument("--setup", action="append", default=[], help="shell line run before each worker (module load ...)")
    p.add_argument("--runner", default="xstilts.study.steps:run_phase", help=argparse.SUPPRESS)  # tests
    p = command(
        "bench", cmd_bench, "measured speed ratios of the engine (and the analysis) -> outputs/bench/bench.json"
    )
    p.add_argument("--out", default=None, help="bench.json path (default outputs/bench/bench.json)")
    p.add_argument("--steps", type=POSITIVE, default=60, help="optimiser steps per timed training run")
    p.add_argument("--rounds", type=POSITIVE, default=12, help="ABBA pairs of our trainer and the bare loop")
    p.add_argument("--hf-rounds", type=POSITIVE, default=3, help="rounds of the Hugging Face and evaluation contenders")
    p.add_argument("--threads", type=COUNT, default=1, help="torch threads (0: torch's default)")
    p.add_argument(
        "--timer",
        choices=["cpu", "wall"],
        default="cpu",
        help="headline ratios from process CPU time (robust on a shared machine) or wall time",
    )
    p.add_argument(
        "--skip-analysis",
        action="store_true",
        help="skip timing the analysis on a synthetic table of the paper's shape (several minutes)",
    )
    p = command(
        "gpu-check",
        cmd_gpu_check,
        "on a GPU node: bf16 rehearsal sizes, MFU, launch floor, 2-rank FSDP -> outputs/gpu-check/report.json",
    )
    p.add_argument("--out", default=None, help="report path (default outputs/gpu-check/report.json)")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    p = command("bench-analysis", cmd_bench_analysis, "time the analysis on a synthetic table of the paper's shape")
    p.add_argument("--n-boot", type=POSITIVE, default=10_000)
    p.add_argument("--examples", type=POSITIVE, default=2_000_000)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as err:
        print(f"xstilts {args.command}: {err}", file=sys.stderr)
        return 2
    except (PhaseFailed, RunFailed) as err:  # the failures are recorded in the run store
        print(f"xstilts {args.command}: {err}", file=sys.stderr)
        return RUNS_FAILED
    except Interrupted as err:  # a resumable checkpoint was saved: the same command resumes
        print(f"xstilts {args.command}: interrupted ({err}); run the same command again to resume", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
