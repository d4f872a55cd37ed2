"""`xstilts submit`: job plan, dry-run sbatch scripts, submitit workers, local execution and resumption.

The local-executor tests run the smoke grid's real run ids through submitit with a light stand-in for
the phase steps (`fake_run_phase`: each run sleeps and writes metrics through the run store), so they
test what submit owns - arrays, ordering, requeue on preemption, resume from the run store - in
seconds. `test_submit_smoke_end_to_end` runs the real smoke study (slow).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts.compute.submit import (
    PhaseJob,
    PhaseWorker,
    SlurmOptions,
    WideJob,
    host_memory_gb,
    job_plan,
    phase_status,
    run_local,
    submit_phase,
    write_dry_run,
)
from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile
from xstilts.study.runstore import MARKER, RunStore

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FAKE_RUNNER = "test_submit:fake_run_phase"
DELAY_S = float(os.environ.get("XSTILTS_FAKE_RUN_DELAY", "0.6"))


def fake_run_phase(profile: str, phase: str, shard: int = 0, num_shards: int = 1) -> None:
    """Stand-in for xstilts.study.steps.run_phase: the phase's real runs of this shard, each a short sleep."""
    prof = load_profile(profile)
    store = RunStore(prof.name)
    for run in plan_runs(prof)[phase]:
        if run.shard(num_shards) != shard:
            continue

        def work(run_dir, run=run):
            time.sleep(float(os.environ.get("XSTILTS_FAKE_RUN_DELAY", DELAY_S)))
            (run_dir / "pid.txt").write_text(str(os.getpid()))
            return {"run": run.id, "shard": shard, "pid": os.getpid()}

        store.execute(run, work)


@pytest.fixture
def fake_env(outputs, monkeypatch):
    """Workers (submitit subprocesses) import this module as the runner and write under `outputs`."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("XSTILTS_ROOT", str(ROOT))
    return outputs


def markers(phase: str, profile: str = "smoke") -> dict[str, str]:
    store = RunStore(profile)
    out = {}
    for run in plan_runs(load_profile(profile))[phase]:
        path = store.path(run) / MARKER
        if path.exists():
            out[run.id] = path.read_text()
    return out


def test_job_plan_shards_each_phase_by_its_run_count():
    jobs = {j.phase: j for j in job_plan("smoke", max_parallel=3)}
    runs = {p: len(r) for p, r in plan_runs(load_profile("smoke")).items()}
    assert list(jobs) == ["data", "pretrained", "intermediate", "target", "analysis"]
    for phase, job in jobs.items():
        assert job.runs == runs[phase]
        assert job.shards == max(1, min(3, runs[phase]))
        assert job.final_pass == (job.shards > 1)
        assert job.gpus == 0  # the miniature runs on CPU
    with pytest.raises(ValueError, match="max-parallel"):
        job_plan("smoke", 0)


def test_dry_run_writes_inspectable_sbatch_scripts_with_array_dependency_and_requeue(outputs):
    jobs = [PhaseJob("data", 1, 1, 0), PhaseJob("intermediate", 40, 4, 1), PhaseJob("target", 1804, 8, 1)]
    out = outputs / "submit"
    paths = write_dry_run(
        "mini", jobs, SlurmOptions(partition="gpu", timeout_min=600, setup=("module load cuda",)), out
    )
    names = [p.name for p in paths]
    assert names == [
        "0_data.sbatch",
        "1_intermediate.sbatch",
        "1_intermediate_final.sbatch",
        "2_target.sbatch",
        "2_target_final.sbatch",
        "submit.sh",
    ]
    target = (out / "2_target.sbatch").read_text()
    assert "#SBATCH --array=0-7%8" in target
    assert "#SBATCH --requeue" in target
    assert "#SBATCH --signal=USR1@" in target  # the engine saves on it, then submitit requeues
    assert "#SBATCH --gpus-per-node=1" in target and "#SBATCH --partition=gpu" in target
    assert "#SBATCH --time=600" in target
    assert "module load cuda" in target
    assert "phase mini target --shard $SLURM_ARRAY_TASK_ID --num-shards 8" in target
    assert "# dependency: jid_intermediate_final - set by submit.sh" in target
    final = (out / "2_target_final.sbatch").read_text()
    assert "--array" not in final and "--shard 0 --num-shards 1" in final
    assert "--gpus-per-node" not in (out / "0_data.sbatch").read_text()
    chain = (out / "submit.sh").read_text().splitlines()
    sbatch = [line for line in chain if "sbatch --parsable" in line]
    assert sbatch[0] == "jid_data=$(sbatch --parsable 0_data.sbatch)"
    assert "--dependency=afterok:${jid_data} 1_intermediate.sbatch" in sbatch[1]
    assert "--dependency=afterok:${jid_intermediate} 1_intermediate_final.sbatch" in sbatch[2]
    assert "--dependency=afterok:${jid_intermediate_final} 2_target.sbatch" in sbatch[3]
    assert "--dependency=afterok:${jid_target} 2_target_final.sbatch" in sbatch[4]
    subprocess.run(["bash", "-n", str(out / "submit.sh")], check=True)
    for path in paths[:-1]:
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_runs_sharded_over_several_gpus_get_arrays_of_wide_workers_before_the_final_pass(outputs):
    wide = [WideJob(4, 351, 8, 30), WideJob(8, 351, 8, 84)]
    jobs = [PhaseJob("intermediate", 40, 4, 1), PhaseJob("target", 1492, 8, 1, wide)]
    out = outputs / "submit"
    names = [p.name for p in write_dry_run("paper", jobs, SlurmOptions(mem_gb=64), out)]
    assert names[2:6] == ["1_target.sbatch", "1_target_r4.sbatch", "1_target_r8.sbatch", "1_target_final.sbatch"]
    xxl = (out / "1_target_r8.sbatch").read_text()
    assert "#SBATCH --gpus-per-node=8" in xxl and "#SBATCH --mem=84GB" in xxl and "#SBATCH --array=0-7%8" in xxl
    assert "--num-shards 8 --ranks 8" in xxl
    assert "#SBATCH --mem=64GB" in (out / "1_target_r4.sbatch").read_text()  # the larger of the two
    chain = [line for line in (out / "submit.sh").read_text().splitlines() if "sbatch --parsable" in line]
    assert chain[-1] == (
        "jid_target_final=$(sbatch --parsable --dependency=afterok:${jid_target}:${jid_target_r4}:${jid_target_r8} "
        "1_target_final.sbatch)"
    )
    assert "--dependency=afterok:${jid_intermediate_final} 1_target_r8.sbatch" in chain[-2]


def test_job_plan_gives_the_paper_sizes_their_ranks_and_host_memory(monkeypatch, tmp_path):
    ccg = tmp_path / "ccg"
    ccg.mkdir()
    monkeypatch.setenv("XSTILTS_CCGBANK", str(ccg))
    jobs = {j.phase: j for j in job_plan("paper", max_parallel=8)}
    target = jobs["target"]
    assert [(w.ranks, w.workers) for w in target.wide] == [(2, 8), (4, 8)]  # paper.yaml: xl on 2, xxl on 4
    assert target.wide[0].runs == target.wide[1].runs and target.final_pass
    assert target.wide[1].mem_gb == host_memory_gb(10_700_000_000, 4) == 72  # 1.2 x 42.8 GB fp32 on rank 0 + 4 x 3 + 8
    assert jobs["data"].wide == [] and not jobs["data"].final_pass


def test_submit_cli_dry_run_for_the_paper_profile(outputs, tmp_path):
    ccg = tmp_path / "ccg"
    ccg.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (ccg / name).write_text("")
    env = {**os.environ, "XSTILTS_OUTPUTS": str(outputs), "XSTILTS_CCGBANK": str(ccg), "XSTILTS_ROOT": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "submit", "paper", "--dry-run", "--max-parallel", "16"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    sub = outputs / "paper" / "submit"
    target = (sub / "3_target.sbatch").read_text()
    assert "#SBATCH --array=0-15%16" in target and "#SBATCH --gpus-per-node=1" in target
    assert "export HF_HUB_OFFLINE=1" in target  # compute nodes read the `make data` cache
    assert "1492 runs" in target
    assert not (sub / "logs").exists() or not any((sub / "logs").glob("*.pkl"))  # nothing submitted


def test_worker_checkpoint_resubmits_the_same_worker():
    worker = PhaseWorker("smoke", "target", 1, 4, runner=FAKE_RUNNER)
    delayed = worker.checkpoint()
    clone = delayed.function
    assert isinstance(clone, PhaseWorker) and clone is not worker
    assert (clone.profile, clone.phase, clone.shard, clone.num_shards, clone.runner) == (
        "smoke",
        "target",
        1,
        4,
        FAKE_RUNNER,
    )
    assert pickle.loads(pickle.dumps(delayed.function)).shard == 1
    with pytest.raises(ValueError, match="shard"):
        PhaseWorker("smoke", "target", 4, 4)
    with pytest.raises(ValueError, match="unknown phase"):
        PhaseWorker("smoke", "finetune", 0, 1)


def test_local_executor_runs_phases_in_order_across_shards(fake_env):
    jobs = [j for j in job_plan("smoke", max_parallel=2) if j.phase in ("intermediate", "target")]
    results = run_local("smoke", jobs, fake_env / "submit", runner=FAKE_RUNNER, timeout_min=10, log=lambda *_: None)
    assert [r["phase"] for r in results] == [
        "intermediate",
        "intermediate",
        "intermediate",
        "target",
        "target",
        "target",
    ]
    assert results[-1] == {**results[-1], "complete": 8, "planned": 8}
    # every run done exactly once, by the shard that owns it (the final pass found nothing left to do)
    store = RunStore("smoke")
    for run in plan_runs(load_profile("smoke"))["target"]:
        metrics = json.loads((store.path(run) / "metrics.json").read_text())
        assert metrics["shard"] == run.shard(2)
    first_target = min(json.loads(m)["finished"] for m in markers("target").values())
    assert max(json.loads(m)["finished"] for m in markers("intermediate").values()) <= first_target


def test_preempted_worker_is_requeued_and_resumes_without_redoing_finished_runs(fake_env):
    import submitit

    planned = len(plan_runs(load_profile("smoke"))["target"])
    executor = submitit.LocalExecutor(folder=str(fake_env / "submit"))
    executor.update_parameters(timeout_min=10, tasks_per_node=1, gpus_per_node=0)
    job = submit_phase(executor, "smoke", PhaseJob("target", planned, 1, 0), runner=FAKE_RUNNER)[0]
    deadline = time.time() + 60
    while len(markers("target")) < 2 and time.time() < deadline:
        time.sleep(0.2)
    before = markers("target")
    assert 2 <= len(before) < planned, "the worker finished before it could be preempted: raise the delay"
    job._interrupt()  # what Slurm's USR2 does before a preemption/time limit
    result = job.result()
    after = markers("target")
    assert len(after) == planned and result["complete"] == planned
    for run_id, marker in before.items():  # finished runs were not redone: same COMPLETE marker
        assert after[run_id] == marker
    log = Path(job.paths.stderr).read_text() + Path(job.paths.stdout).read_text()
    assert "Requeued" in log or "preempted" in log
    assert phase_status("smoke", "target") == {"complete": planned, "planned": planned}


def test_killed_job_is_resumed_by_resubmitting(fake_env):
    import submitit

    planned = len(plan_runs(load_profile("smoke"))["target"])
    executor = submitit.LocalExecutor(folder=str(fake_env / "submit"))
    executor.update_parameters(timeout_min=10, tasks_per_node=1, gpus_per_node=0)
    job = submit_phase(executor, "smoke", PhaseJob("target", planned, 1, 0), runner=FAKE_RUNNER)[0]
    deadline = time.time() + 60
    while len(markers("target")) < 2 and time.time() < deadline:
        time.sleep(0.2)
    job.cancel()  # SIGINT to the controller, which kills the worker
    deadline = time.time() + 20
    while not job.done() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)
    before = markers("target")
    assert 2 <= len(before) < planned
    again = submit_phase(executor, "smoke", PhaseJob("target", planned, 1, 0), runner=FAKE_RUNNER)[0]
    assert again.result()["complete"] == planned
    after = markers("target")
    for run_id, marker in before.items():
        assert after[run_id] == marker


@pytest.mark.slow
def test_submit_smoke_end_to_end(outputs):
    """The real smoke study through submitit's local executor (needs the whole chain: xstilts.study.steps)."""
    env = {**os.environ, "XSTILTS_OUTPUTS": str(outputs), "XSTILTS_ROOT": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "submit", "smoke", "--executor", "local"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for phase, runs in plan_runs(load_profile("smoke")).items():
        assert RunStore("smoke").status(runs)[phase] == (len(runs), len(runs))


def test_slurm_submission_chains_phase_arrays_with_afterok(outputs, tmp_path, monkeypatch):
    """Against a stand-in `sbatch` on PATH that records each script and answers with a job id."""
    from xstilts.compute.submit import run_slurm

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "submitted"
    record.mkdir()
    (bin_dir / "srun").write_text("#!/bin/bash\nexit 0\n")
    (bin_dir / "sbatch").write_text(
        "#!/bin/bash\n"
        f'n=$(ls {record} | wc -l); id=$((1000 + n)); cp "$1" {record}/$id.sh; echo "Submitted batch job $id"\n'
    )
    for exe in ("srun", "sbatch"):
        (bin_dir / exe).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    jobs = job_plan("smoke", max_parallel=2)
    submitted = run_slurm(
        "smoke", jobs, SlurmOptions(partition="p", setup=("cd /repo",)), outputs / "logs", log=lambda *_: None
    )
    assert [(s["phase"], s["final"]) for s in submitted] == [
        ("data", False),
        ("pretrained", False),
        ("pretrained", True),
        ("intermediate", False),
        ("intermediate", True),
        ("target", False),
        ("target", True),
        ("analysis", False),
    ]
    scripts = {int(p.stem): p.read_text() for p in record.glob("*.sh")}
    ids = sorted(scripts)
    assert len(ids) == len(submitted)
    assert submitted[0]["depends_on"] is None
    for prev, cur, sub in zip(ids, ids[1:], submitted[1:]):
        assert sub["depends_on"] == f"afterok:{prev}"
        assert f"#SBATCH --dependency=afterok:{prev}" in scripts[cur]
    assert "#SBATCH --array=0-1%2" in scripts[ids[1]] and "--array" not in scripts[ids[2]]
    assert all("#SBATCH --requeue" in s and "#SBATCH --partition=p" in s for s in scripts.values())
    assert all("submitit.core._submit" in s for s in scripts.values())  # workers are submitit's pickled jobs
