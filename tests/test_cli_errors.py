"""Every `xstilts` subcommand fails in one clear line, never a traceback: a bad profile, a licence-gated arm
without its data, a missing input or a bad option value. Expected errors exit 2 (argparse's usage errors
too); each message names what to do."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _xstilts(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *map(str, args)], cwd=ROOT, env=env, text=True, capture_output=True
    )


@pytest.fixture
def env(outputs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("XSTILTS_CCGBANK",)}
    env.update(XSTILTS_OUTPUTS=str(outputs), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def _cases(tmp_path: Path) -> list[tuple[str, list]]:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"extends": "smoke", "target": {"lr": -1.0}}))
    nb_out = tmp_path / "executed.ipynb"
    profiles = {"unknown profile": "nosuch", "invalid profile": str(bad), "licence-gated arm": "paper"}
    cases = []
    for what, prof in profiles.items():
        cases += [
            (f"validate: {what}", ["validate", prof]),
            (f"phase: {what}", ["phase", prof, "data"]),
            (f"execute: {what}", ["execute", "notebooks/0_data.ipynb", nb_out, "--profile", prof]),
            (f"submit local: {what}", ["submit", prof, "--executor", "local"]),
        ]
    for what, prof in list(profiles.items())[:2]:  # these need no data: a licence-gated profile is fine
        cases += [
            (f"runs: {what}", ["runs", prof]),
            (f"repair: {what}", ["repair", prof]),
            (f"data: {what}", ["data", prof, "--check"]),
            (f"index: {what}", ["index", prof]),
            (f"plan: {what}", ["plan", prof]),
            (f"submit dry run: {what}", ["submit", prof, "--dry-run"]),
        ]
    cases += [
        ("phase before its inputs", ["phase", "smoke", "target"]),
        ("analysis before its inputs", ["phase", "smoke", "analysis"]),
        ("execute before its inputs", ["execute", "notebooks/4_analysis.ipynb", nb_out, "--profile", "smoke"]),
        ("execute: no such notebook", ["execute", "notebooks/9_nothing.ipynb", nb_out, "--profile", "smoke"]),
        ("analyze: missing table", ["analyze", "--table", tmp_path / "none.csv", "--out", tmp_path / "a"]),
        (
            "score: missing folders",
            ["score", "--prediction_folder", "/nope", "--label_folder", "/nope", "--output_file", tmp_path / "s.json"],
        ),
        ("tasks: unknown benchmark", ["tasks", "--benchmark", "xtreme-q"]),
        (
            "analyze: zero replicates",
            ["analyze", "--table", tmp_path / "none.csv", "--out", tmp_path / "a", "--n-boot", "0"],
        ),
        ("calibrate: zero simulations", ["calibrate", "--out", tmp_path / "c", "--n-sims", "0"]),
        ("bench: zero steps", ["bench", "--steps", "0"]),
        ("bench-analysis: zero replicates", ["bench-analysis", "--n-boot", "0"]),
        ("plan: mfu above 1", ["plan", "smoke", "--mfu", "1.5"]),
        ("phase: negative shard", ["phase", "smoke", "data", "--shard", "-1"]),
        ("submit: zero workers", ["submit", "smoke", "--max-parallel", "0", "--dry-run"]),
        ("unknown subcommand", ["reproduce"]),
    ]
    return cases


def _one_line(stderr: str) -> bool:
    """One line naming the problem (after argparse's usage lines, for a usage error)."""
    lines = stderr.strip().splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = [line for line in lines if not line.startswith(" ") and not line.startswith("usage:")]
    return len(lines) == 1 and lines[0].startswith("xstilts")


def test_no_subcommand_prints_a_traceback(env, tmp_path):
    problems = []
    for what, args in _cases(tmp_path):
        proc = _xstilts(*args, env=env)
        text = proc.stdout + proc.stderr
        if "Traceback" in text or 'File "' in text:
            problems.append(f"{what}: traceback\n{text[-1500:]}")
        elif proc.returncode != 2 and args[0] not in ("runs", "repair", "data", "index", "plan", "submit"):
            problems.append(f"{what}: exit {proc.returncode}, expected 2\n{text[-800:]}")
        elif proc.returncode not in (0, 1, 2):
            problems.append(f"{what}: exit {proc.returncode}\n{text[-800:]}")
        elif proc.returncode == 2 and not _one_line(proc.stderr):
            problems.append(f"{what}: not one line on stderr\n{proc.stderr[-800:]}")
    assert not problems, "\n\n".join(problems)


def test_a_dry_run_shows_the_plan_and_says_what_running_would_need(env):
    proc = _xstilts("submit", "paper", "--executor", "slurm", "--dry-run", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "target" in proc.stdout and "dry run: wrote" in proc.stdout
    assert "this machine still needs" in proc.stdout and "CCGbank" in proc.stdout


def test_a_phase_run_before_its_inputs_names_the_phase_to_run_first(env):
    proc = _xstilts("phase", "smoke", "intermediate", env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "xstilts phase: phase 'intermediate' needs 1 of 1 runs of phase 'data' that are not complete: run "
        "notebooks/0_data.ipynb first (or `make reproduce PROFILE=smoke`, which runs every phase in order)"
    ]
