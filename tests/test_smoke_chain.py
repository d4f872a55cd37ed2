"""The whole chain on the smoke profile through papermill, as `make reproduce PROFILE=smoke` runs it.

One module-scoped study: the first three phases through `xstilts phase`, the target phase killed with
SIGKILL mid-way, then `make reproduce`, which resumes it and executes the five notebooks. The tests
assert on what the notebooks and runs wrote.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["0_data", "1_pretrained", "2_intermediate", "3_target", "4_analysis"]
pytestmark = pytest.mark.slow


def _xstilts(*args, env, **kw):
    return subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *args], cwd=ROOT, env=env, text=True, capture_output=True, **kw
    )


def _markers(out: Path) -> dict[str, float]:
    """When each complete run wrote its metrics: a run done again writes them again. (Not the COMPLETE
    marker's time: disk hygiene rewrites an intermediate run's marker when it prunes its checkpoint.)"""
    return {p.parent.name: (p.parent / "metrics.json").stat().st_mtime_ns for p in (out / "runs").glob("*/*/COMPLETE")}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # as a user runs it
    env.update(XSTILTS_OUTPUTS=str(outputs), PYTHONUNBUFFERED="1")
    out = outputs / "smoke"
    for phase in ["data", "pretrained", "intermediate"]:
        proc = _xstilts("phase", "smoke", phase, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    worker = subprocess.Popen(
        [sys.executable, "-m", "xstilts.cli", "phase", "smoke", "target"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "runs" / "target").glob("*/COMPLETE")):
        assert worker.poll() is None, "the target phase ended before it could be killed"
        time.sleep(0.1)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    before_kill = _markers(out)
    started = time.time()
    make = subprocess.run(["make", "reproduce", "PROFILE=smoke"], cwd=ROOT, env=env, text=True, capture_output=True)
    assert make.returncode == 0, make.stdout[-4000:] + make.stderr[-4000:]
    return {"out": out, "env": env, "make": make, "before_kill": before_kill, "seconds": time.time() - started}


def test_five_executed_notebooks_and_their_html(study):
    for name in NOTEBOOKS:
        assert (study["out"] / "notebooks" / f"{name}.ipynb").exists()
        assert (study["out"] / "notebooks" / f"{name}.html").stat().st_size > 10_000
    assert not list((study["out"] / "notebooks").glob("*.tmp.ipynb"))


def test_reports_hold_no_warning_traceback_widget_or_machine_path(study):
    """What a reader opens: no red warnings, no tracebacks, no progress widgets, no path of this machine."""
    machine = {str(ROOT), str(study["out"].parent), str(Path.home()), "/tmp/"}
    for name in NOTEBOOKS:
        page = (study["out"] / "notebooks" / f"{name}.html").read_text()
        for word in ("Warning", "Traceback", "application/vnd.jupyter.widget-view+json"):
            assert word not in page, f"{name}.html shows {word!r}"
        for path in machine:
            assert path not in page, f"{name}.html names the machine path {path}"
        assert "<img src='data:image/png;base64," not in page or " alt='" in page  # figures carry alt text


def test_console_tells_each_phase_in_a_few_lines(study):
    lines = study["make"].stdout.strip().splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    for phase in ("data", "pretrained", "intermediate", "target", "analysis"):
        assert any(line.startswith(f"{phase}: ") and " to do" in line for line in lines), phase
        assert any(line.startswith(f"{phase}: ") and " complete, " in line and " in " in line for line in lines), phase
    assert "IPKernelApp" not in study["make"].stdout + study["make"].stderr


def test_killed_target_phase_resumes_without_redoing_finished_runs(study):
    after = _markers(study["out"])
    for run_id, mtime in study["before_kill"].items():
        assert after[run_id] == mtime, f"{run_id} was done twice"
    last = study["make"].stdout.strip().splitlines()[-1]
    done, total = last.removeprefix("runs: ").removesuffix(" complete").split("/")
    assert last.startswith("runs: ") and done == total
    proc = _xstilts("runs", "smoke", env=study["env"])
    assert proc.stdout.strip().splitlines()[-1] == last


def test_scores_table_has_both_benchmarks_every_language_and_chance(study):
    scores = pd.read_csv(study["out"] / "results" / "scores.csv")
    assert list(scores.columns[:10]) == [
        "benchmark",
        "task",
        "language",
        "model",
        "params",
        "arm",
        "seed",
        "metric",
        "score",
        "chance",
    ]
    assert set(scores["benchmark"]) == {"xtreme", "xtreme-r"}
    assert set(scores["arm"]) == {"none", "mnli"}
    assert scores["score"].between(0, 100).all() and scores["chance"].between(0, 100).all()
    assert scores.groupby("arm")["seed"].nunique().to_dict() == {"none": 2, "mnli": 2}
    assert scores["params"].nunique() == 2
    languages = scores.groupby("benchmark")["language"].nunique()
    assert languages["xtreme-r"] >= 3  # English and at least two derived languages
    examples = pd.read_parquet(study["out"] / "results" / "examples.parquet")
    assert {"benchmark", "task", "language", "params", "arm", "seed", "example_id", "correct"} <= set(examples.columns)
    cell = examples.groupby(["benchmark", "task", "language", "params", "arm", "seed"])["correct"].mean() * 100
    merged = scores.set_index(["benchmark", "task", "language", "params", "arm", "seed"])["score"]
    assert (cell.sort_index() - merged.sort_index()).abs().max() < 1e-9  # scores come from the per-example stats


def test_analysis_wrote_estimates_figures_and_the_answer(study):
    est = pd.read_csv(study["out"] / "results" / "estimates.csv")
    assert {"estimand", "arm", "estimate", "ci_low", "ci_high", "p_value"} <= set(est.columns)
    assert {"benchmark_gain", "slope_xtreme", "slope_xtreme-r", "interaction"} <= set(est["estimand"])
    ok = est.dropna(subset=["ci_low", "ci_high"])
    assert (ok["ci_low"] <= ok["estimate"] + 1e-9).all() and (ok["estimate"] <= ok["ci_high"] + 1e-9).all()
    assert list((study["out"] / "figures").glob("*.png"))
    answer = (study["out"] / "results" / "answer.md").read_text()
    assert "miniature" in answer.lower()


def test_disk_hygiene_no_target_encoder_and_intermediate_checkpoints_gone_once_read(study):
    runs = study["out"] / "runs"
    trained = [d for d in (runs / "target").iterdir() if (d / "COMPLETE").exists() and (d / "train_log.jsonl").exists()]
    assert trained
    for run_dir in trained:
        assert not (run_dir / "encoder").exists() and not (run_dir / "heads.safetensors").exists(), run_dir.name
        assert (run_dir / "examples.parquet").exists() and (run_dir / "submission").is_dir()
    for run_dir in (runs / "intermediate").iterdir():  # every target run reading it is complete
        if run_dir.is_dir():
            marker = json.loads((run_dir / "COMPLETE").read_text())
            assert marker["pruned"] == ["encoder", "heads.safetensors"] and not (run_dir / "encoder").exists()
    proc = _xstilts("runs", "smoke", "--verify", env=study["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr  # pruned runs are complete and intact


def test_disk_left_is_what_the_plan_said(study):
    """A profile killed mid-phase and resumed leaves the runs and caches `make plan` priced, within 10%."""
    from xstilts.compute.disk import measure, planned
    from xstilts.compute.plan import build_plan
    from xstilts.study.profile import load_profile

    used = measure(study["out"])
    plan = planned(build_plan(load_profile("smoke")).disk, miniature=True)
    assert used["priced"] == pytest.approx(plan, rel=0.10), (used, plan)
    assert "disk: " in study["make"].stdout


def test_a_damaged_run_is_redone_with_what_reads_it_and_nothing_else(study):
    runs = study["out"] / "runs"
    pretrained = sorted((runs / "pretrained").glob("mlm-s-*/model/model.safetensors"))[0]
    pretrained.write_bytes(pretrained.read_bytes()[:100])  # truncated
    proc = _xstilts("runs", "smoke", "--verify", env=study["env"])
    assert proc.returncode == 1 and f"damaged  pretrained/{pretrained.parent.parent.name}" in proc.stdout
    before = _markers(study["out"])
    scores = (study["out"] / "results" / "scores.csv").read_text()
    make = subprocess.run(
        ["make", "reproduce", "PROFILE=smoke"], cwd=ROOT, env=study["env"], text=True, capture_output=True
    )
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
    after = _markers(study["out"])
    redone = {run for run in before if after[run] != before[run]}
    size_s = {run for run in before if run.startswith(("mlm-s-", "s-"))}
    assert redone == size_s | {r for r in before if r.startswith("analysis-")}  # the s size, all it fed, the analysis
    assert (study["out"] / "results" / "scores.csv").read_text() == scores  # the same numbers again
    assert _xstilts("runs", "smoke", "--verify", env=study["env"]).returncode == 0


def test_rerun_trains_nothing(study):
    before = _markers(study["out"])
    for name in NOTEBOOKS:  # force every notebook to execute again
        os.utime(ROOT / "notebooks" / f"{name}.ipynb")
    started = time.time()
    make = subprocess.run(
        ["make", "reproduce", "PROFILE=smoke"], cwd=ROOT, env=study["env"], text=True, capture_output=True
    )
    assert make.returncode == 0, make.stderr[-3000:]
    assert _markers(study["out"]) == before
    study["rerun_seconds"] = time.time() - started


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_index_page_loads_every_image_and_link_in_a_real_browser(study):
    index = study["out"] / "index.html"
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--allow-file-access-from-files",
            f"--user-data-dir={study['out'] / '.chromium'}",
            "--dump-dom",
            index.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-checked="true"' in dom
    assert (
        dom.count("<img") >= 1
        and 'data-loaded="false"' not in dom
        and dom.count('data-loaded="true"') == dom.count("<img")
    )
    import re

    for href in re.findall(r"href=\"([^\"#]+)\"", dom):
        assert (index.parent / href).exists(), f"broken link {href}"


def test_two_shard_workers_give_the_same_results_as_one(study, tmp_path):
    env = {**study["env"], "XSTILTS_OUTPUTS": str(tmp_path)}
    make = subprocess.run(
        ["make", "reproduce", "PROFILE=smoke", "SHARDS=2"], cwd=ROOT, env=env, text=True, capture_output=True
    )
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
    assert make.stdout.strip().splitlines()[-1] == study["make"].stdout.strip().splitlines()[-1]
    one = pd.read_csv(study["out"] / "results" / "scores.csv").drop(columns="run")
    two = pd.read_csv(tmp_path / "smoke" / "results" / "scores.csv").drop(columns="run")
    pd.testing.assert_frame_equal(one, two)
    assert sorted(p.name for p in (tmp_path / "smoke" / "runs" / "target").iterdir()) == sorted(
        p.name for p in (study["out"] / "runs" / "target").iterdir()
    )
