"""Every target task of both benchmarks and every intermediate task, through the real phase code.

A smoke-sized study on the miniature world: one tiny model, the `none` arm and the multi-task arm
mixing all nine intermediate tasks (so every intermediate format trains a head), and every target
protocol of XTREME and XTREME-R trained for a few steps and scored on every test language. The
assertions read what the runs wrote.
"""

import json

import pandas as pd
import pytest
import yaml

from xstilts.benchmarks.registry import INTERMEDIATE_NAMES, REGISTRY
from xstilts.study import steps as phases
from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile
from xstilts.study.runstore import RunStore

pytestmark = pytest.mark.slow
TRAIN = {"max_steps": 2, "eval_every_steps": 2, "eval_subset": 8, "batch_size": 8}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("every")
    profile = root / "every.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "extends": "smoke",
                "purpose": "pipeline",  # one size, one seed: every phase and task, no estimand
                "workers": 1,
                "models": [{"name": "xs", "arch": {"layers": 1, "hidden": 16, "heads": 2, "ffn": 32}}],
                "pretrain": {"steps": 10},
                "arms": ["none", "multitask"],
                "multitask_tasks": list(INTERMEDIATE_NAMES),
                "seeds": {"none": 1, "intermediate": 1},
                "targets": ["xtreme", "xtreme-r"],
                "intermediate": TRAIN,
                "target": TRAIN,
                "per_target": {"xquad": {"max_seq_len": 64}, "tydiqa": {"max_seq_len": 64}},
            }
        )
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("XSTILTS_OUTPUTS", str(root / "outputs"))
    for phase in ("data", "pretrained", "intermediate", "target"):
        phases.run_phase(str(profile), phase)
    prof = load_profile(str(profile))
    yield {"profile": prof, "plan": plan_runs(prof), "store": RunStore(prof.name)}
    mp.undo()


def test_every_run_completed(study):
    store = study["store"]
    for phase in ("data", "pretrained", "intermediate", "target"):
        assert all(store.is_complete(r) for r in study["plan"][phase]), phase


def test_the_multitask_run_trained_a_head_for_every_intermediate_task(study):
    (run,) = study["plan"]["intermediate"]
    metrics = study["store"].result(run)
    assert sorted(metrics["dev_scores"]) == sorted(f"intermediate.{n}" for n in INTERMEDIATE_NAMES)
    heads = json.loads((study["store"].path(run) / "heads.json").read_text())
    assert len(heads) == len(INTERMEDIATE_NAMES)


def test_every_target_task_is_scored_on_every_test_language(study):
    from xstilts.study.target_run import test_languages

    world = study["store"].path(study["plan"]["data"][0]) / "world"
    frames = [pd.read_csv(study["store"].path(r) / "scores.csv") for r in study["plan"]["target"]]
    scores = pd.concat(frames)
    targets = [t for t in REGISTRY.values() if t.benchmarks[0] != "intermediate"]
    assert len(targets) == 19
    for task in targets:
        got = scores[(scores.benchmark == task.benchmarks[0]) & (scores.task == task.name)]
        assert set(got.language) == set(test_languages(task, world)), task.key
        assert got.score.between(0, 100).all() and got.chance.between(0, 100).all(), task.key
    for run in study["plan"]["target"]:
        examples = pd.read_parquet(study["store"].path(run) / "examples.parquet")
        assert len(examples) and examples["example_id"].notna().all()
        stats = [c for c in ("correct", "tp", "em", "ap") if c in examples.columns]
        assert stats, run.id


def test_trained_targets_write_the_official_submission_layout(study):
    written = {
        p.parent.name for r in study["plan"]["target"] for p in (study["store"].path(r) / "submission").glob("*/test-*")
    }
    assert {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "xcopa", "tatoeba", "bucc2018"} <= written
