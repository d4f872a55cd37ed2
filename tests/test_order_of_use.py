"""Every order of use gives the answer of the full chain (the run store's promise, README "Runs").

A researcher edits a profile, runs one notebook, goes back to an earlier one, runs a cell twice. Two such
sessions are played here on a profile file of their own (`order.yaml`, extending smoke): one through
papermill (`xstilts execute`, as `make reproduce` runs a notebook), one in a kernel driven cell by cell
(nbclient, as JupyterLab does). Each ends with `make reproduce` and must leave what a clean `make
reproduce` of the final profile leaves: the same run ids, the same scores.csv and the same estimates.csv.
"""

import copy
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile
from xstilts.study.runstore import MARKER, RunStore

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
FIRST = {"extends": "smoke"}
FINAL = {"extends": "smoke", "intermediate": {"max_steps": 16}}  # new intermediate runs, and targets below them


def _env(outputs: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(XSTILTS_OUTPUTS=str(outputs), PYTHONUNBUFFERED="1")
    return env


def _write(profile: Path, body: dict) -> None:
    profile.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text(yaml.safe_dump(body))


def _reproduce(profile: Path, outputs: Path) -> None:
    make = subprocess.run(
        ["make", "reproduce", f"PROFILE={profile}"], cwd=ROOT, env=_env(outputs), text=True, capture_output=True
    )
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]


def _execute(notebook: str, profile: Path, outputs: Path) -> subprocess.CompletedProcess:
    out = outputs / "scratch" / f"{notebook}.ipynb"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "xstilts.cli",
            "execute",
            f"notebooks/{notebook}.ipynb",
            str(out),
            "--profile",
            str(profile),
        ],
        cwd=ROOT,
        env=_env(outputs),
        text=True,
        capture_output=True,
    )


def _outcome(profile: Path, outputs: Path) -> dict:
    """What the study leaves: the planned run ids (all complete), scores.csv and estimates.csv."""
    old = os.environ.get("XSTILTS_OUTPUTS")
    os.environ["XSTILTS_OUTPUTS"] = str(outputs)
    try:
        plan = plan_runs(load_profile(str(profile)))
        store = RunStore("order")
        ids = {phase: sorted(r.id for r in runs) for phase, runs in plan.items()}
        assert all(store.is_complete(r) for runs in plan.values() for r in runs)
        analysis = store.path(plan["analysis"][0])
    finally:
        os.environ.pop("XSTILTS_OUTPUTS") if old is None else os.environ.update(XSTILTS_OUTPUTS=old)
    scores = pd.read_csv(outputs / "order" / "results" / "scores.csv")
    estimates = pd.read_csv(analysis / "estimates.csv")
    assert (outputs / "order" / "results" / "estimates.csv").read_text() == (analysis / "estimates.csv").read_text()
    return {"ids": ids, "scores": scores, "estimates": estimates}


def _same(got: dict, want: dict) -> None:
    assert got["ids"] == want["ids"]
    pd.testing.assert_frame_equal(got["scores"], want["scores"])
    pd.testing.assert_frame_equal(got["estimates"], want["estimates"])


def _completed(outputs: Path) -> set[str]:
    return {p.parent.name for p in (outputs / "order" / "runs").glob("*/*/" + MARKER)}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean `make reproduce` of the final profile."""
    base = tmp_path_factory.mktemp("clean")
    profile, outputs = base / "profile" / "order.yaml", base / "outputs"
    _write(profile, FINAL)
    _reproduce(profile, outputs)
    return _outcome(profile, outputs)


def test_papermill_later_phase_first_after_an_edit_and_a_notebook_twice(clean, tmp_path):
    profile, outputs = tmp_path / "profile" / "order.yaml", tmp_path / "outputs"
    _write(profile, FIRST)
    _reproduce(profile, outputs)
    _write(profile, FINAL)  # the edit adds runs to the intermediate phase (and the targets reading them)
    before = _completed(outputs)
    for notebook in ("4_analysis", "3_target"):  # later phases first: they stop, naming the phase to run
        proc = _execute(notebook, profile, outputs)
        assert proc.returncode == 2
        assert "StudyNotReady" in proc.stderr and "phase 'intermediate'" in proc.stderr, proc.stderr
        assert "2_intermediate.ipynb" in proc.stderr
        assert _completed(outputs) == before  # nothing marked complete
    for _ in range(2):  # the same notebook twice: the second execution reuses every run
        assert _execute("2_intermediate", profile, outputs).returncode == 0
    _reproduce(profile, outputs)
    _same(_outcome(profile, outputs), clean)


def _cells(notebook: str, profile: Path) -> list:
    """The notebook's cells with the parameters cell set to this profile (as papermill injects them)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in cells[0].metadata.get("tags", [])
    cells[0] = nbformat.v4.new_code_cell(f"profile = {str(profile)!r}\nshard = 0\nnum_shards = 1")
    return cells


class Kernel:
    """One kernel, cells executed one at a time (JupyterLab's way); `run` returns the error name or None."""

    def __init__(self, client: NotebookClient):
        self.client = client

    def run(self, cell) -> str | None:
        cell = copy.deepcopy(cell)
        self.client.nb.cells.append(cell)  # the client files each executed cell into its notebook
        try:
            self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        except CellExecutionError as err:
            return err.ename
        return None


def test_kernel_cell_by_cell_with_an_edit_between_cells_and_cells_run_again(clean, tmp_path):
    profile, outputs = tmp_path / "profile" / "order.yaml", tmp_path / "outputs"
    _write(profile, FIRST)
    nb = nbformat.v4.new_notebook()
    client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}, timeout=900)
    with client.setup_kernel(env=_env(outputs), cwd=str(ROOT)):
        kernel = Kernel(client)
        data, pretrained = _cells("0_data", profile), _cells("1_pretrained", profile)
        inter, target = _cells("2_intermediate", profile), _cells("3_target", profile)
        for cell in data:
            assert kernel.run(cell) is None
        # a later notebook before an earlier one: its work cell stops, nothing is written
        for cell in target[:3]:  # parameters, start, describe
            assert kernel.run(cell) is None
        assert kernel.run(target[3]) == "StudyNotReady"
        assert not (outputs / "order" / "runs" / "target").exists()
        for cell in pretrained:
            assert kernel.run(cell) is None
        for cell in inter[:3]:
            assert kernel.run(cell) is None
        _write(profile, FINAL)  # the profile edited between two cells
        assert kernel.run(inter[3]) == "ProfileChanged"
        assert not (outputs / "order" / "runs" / "intermediate").exists()
        for cell in inter[:4]:  # from the first cell again, as the message says
            assert kernel.run(cell) is None
        assert kernel.run(inter[3]) is None  # a cell run twice: reuses its runs
        for cell in inter[4:]:
            assert kernel.run(cell) is None
    _reproduce(profile, outputs)
    _same(_outcome(profile, outputs), clean)
