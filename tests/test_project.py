"""The project's contracts: notebooks committed clean, one pin list, the Makefile's targets."""

import subprocess
import sys
from pathlib import Path

import nbformat

from xstilts.envfile import render

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["0_data", "1_pretrained", "2_intermediate", "3_target", "4_analysis"]


def test_the_five_notebooks_are_committed_without_outputs_and_with_a_parameters_cell():
    for name in NOTEBOOKS:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.outputs or c.execution_count for c in code), f"{name} has outputs"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and params[0] is code[0], f"{name}: one parameters cell, first code cell"
        assert "profile = " in params[0].source and all("#" in line for line in params[0].source.splitlines())
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert f'"{name.split("_", 1)[1]}"' in code[1].source


def test_environment_yml_is_generated_from_the_pin_list():
    assert (ROOT / "environment.yml").read_text() == render(ROOT / "requirements.txt")
    pins = (ROOT / "requirements.txt").read_text()
    assert "torch==2.13.0" in pins


def test_make_help_is_the_default_and_lists_every_target():
    out = subprocess.run(["make", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    targets = ["setup", "reproduce", "data", "plan", "submit", "readme-bill", "test", "lint", "bench", "gpu-check"]
    for target in [*targets, "calibrate", "lab", "clean"]:
        assert f"  {target} " in out, target


def test_outputs_are_not_tracked():
    tracked = subprocess.run(["git", "ls-files", "outputs"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert tracked == []  # outputs/ is made by the runs, never committed


def test_make_reproduce_plans_the_notebooks_whether_or_not_outputs_are_set(tmp_path):
    """The nested make inherits XSTILTS_OUTPUTS: both levels must name the same files (a plain
    `make reproduce`, with nothing set, once stopped at 'No rule to make target .../html.stamp')."""
    import os

    for extra in ({}, {"XSTILTS_OUTPUTS": str(tmp_path)}):
        env = {k: v for k, v in os.environ.items() if k != "XSTILTS_OUTPUTS"} | extra
        run = subprocess.run(
            ["make", "-n", "reproduce", "PROFILE=smoke"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert "xstilts execute notebooks/0_data.ipynb" in run.stdout and "4_analysis" in run.stdout


def test_lint_passes():
    """`make lint`: ruff's checks and its formatter agree with every file under lib/ and tests/."""
    ruff = Path(sys.executable).with_name("ruff")
    for args in (["check", "lib", "tests"], ["format", "--check", "lib", "tests"]):
        run = subprocess.run([str(ruff), *args], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
