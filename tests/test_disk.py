"""What a finished profile leaves on disk, against what `make plan` said it would (compute/disk.py)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from xstilts.compute.disk import PRICED, measure, planned
from xstilts.compute.plan import build_plan
from xstilts.study.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_measure_sorts_every_file_into_one_component(tmp_path):
    out = tmp_path / "p"
    _write(out / "runs/pretrained/mlm-s-1/model/model.safetensors", 1000)
    _write(out / "runs/data/world-1/world/corpus/en.txt", 200)
    _write(out / "cache/features/x-1/data-00000-of-00001.arrow", 30)
    _write(out / "runs/intermediate/s-mnli-1/metrics.json", 4)
    _write(out / "runs/target/s-none-xnli-s0-1/eval/xnli/en.stats.jsonl", 5)
    _write(out / "runs/analysis/analysis-1/estimates.csv", 60)
    _write(out / "notebooks/4_analysis.html", 700)
    d = measure(out)
    assert (d["pretrained"], d["datasets"], d["features"], d["run_outputs"]) == (1000, 200, 30, 9)
    assert d["priced"] == sum(d[k] for k in PRICED) == 1239
    assert d["total"] == 1999  # and the analysis run's tables and the notebooks, not priced


def test_the_plan_leaves_the_hub_cache_out_of_a_hub_profiles_outputs():
    d = {"final": 100.0, "hub_models": 40.0, "datasets": 10.0}
    assert planned(d, miniature=False) == 50.0  # hub checkpoints and raw datasets live in $HF_HOME
    assert planned(d, miniature=True) == 60.0  # a miniature's world is a run of its own


@pytest.mark.slow
def test_a_finished_mini_keeps_no_target_encoder_and_the_disk_its_plan_said(tmp_path):
    """`make reproduce` (mini) from scratch: no target run keeps an encoder, the runs and caches it leaves
    are within 10% of `make plan`'s figure, and `xstilts runs` says so."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(XSTILTS_OUTPUTS=str(tmp_path))
    make = subprocess.run(["make", "reproduce"], cwd=ROOT, env=env, text=True, capture_output=True)
    assert make.returncode == 0, make.stdout[-4000:] + make.stderr[-4000:]
    out = tmp_path / "mini"
    targets = [d for d in (out / "runs" / "target").iterdir() if d.is_dir()]
    assert len(targets) == 436
    assert not [d.name for d in targets if any(d.rglob("*.safetensors"))]
    used = measure(out)
    plan = planned(build_plan(load_profile("mini")).disk, miniature=True)
    assert used["priced"] == pytest.approx(plan, rel=0.10), (used, plan)
    line = [s for s in make.stdout.splitlines() if s.startswith("disk: ")]
    assert line and re.search(r"\(plan: [\d.]+MB, [+-]\d+%\)", line[-1]), make.stdout[-2000:]
    assert make.stdout.rstrip().splitlines()[-1] == "runs: 459/459 complete"
