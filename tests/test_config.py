"""Profile loading and validation: errors before any work starts, naming file, key and nearest value."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from xstilts.paths import params_dir
from xstilts.study.grid import plan_runs
from xstilts.study.profile import ProfileError, load_profile

ROOT = Path(__file__).resolve().parents[1]


def write_profile(tmp_path, body: dict, name="mine") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize("name", sorted(p.stem for p in params_dir().glob("*.yaml")))
def test_every_shipped_profile_validates_and_derives_a_grid(name):
    profile = load_profile(name, check_licences=False)
    plan = plan_runs(profile)
    assert plan["data"] and plan["pretrained"] and plan["target"] and len(plan["analysis"]) == 1


def test_extends_merges_and_overrides(tmp_path):
    path = write_profile(tmp_path, {"extends": "smoke", "seeds": {"none": 5}, "target": {"lr": 0.01}})
    cfg = load_profile(str(path)).cfg
    base = load_profile("smoke").cfg
    assert cfg["seeds"] == {"none": 5, "intermediate": base["seeds"]["intermediate"]}
    assert cfg["target"]["lr"] == 0.01 and cfg["target"]["max_steps"] == base["target"]["max_steps"]
    assert cfg["models"] == base["models"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"sedes": {"none": 2}}, ["unknown key 'sedes'", "did you mean 'seeds'"]),
        ({"target": {"learning_rate": 1e-5}}, ["unknown key 'target.learning_rate'"]),
        ({"seeds": {"none": "three"}}, ["'seeds.none' must be int", "'three'"]),
        ({"seed": True}, ["'seed' must be int"]),
        ({"arms": ["none", "mlni"]}, ["unknown arm 'mlni'", "did you mean 'mnli'"]),
        ({"targets": ["xtreme.xnil"]}, ["unknown target 'xtreme.xnil'", "did you mean 'xtreme.xnli'"]),
        ({"targets": ["xtreme-r.tatoeba"]}, ["xquad"]),
        ({"eval_languages": ["zz9"]}, ["unknown language 'zz9'"]),
        ({"device": "gpu"}, ["'device' must be auto, cpu or cuda"]),
        (
            {"models": [{"name": "a", "arch": {"layers": 2, "hiden": 8, "heads": 2, "ffn": 8}}]},
            ["models[0].arch.hiden", "did you mean 'hidden'"],
        ),
        ({"models": [{"name": "a", "hub": "FacebookAI/xlm-roberta-base"}]}, ["models[0].params"]),
    ],
)
def test_bad_profiles_are_rejected_with_the_key_and_nearest_value(tmp_path, body, expected):
    path = write_profile(tmp_path, {"extends": "smoke", **body})
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_unknown_profile_names_the_nearest():
    with pytest.raises(ProfileError, match="did you mean 'smoke'"):
        load_profile("smok")


def test_validate_command_fails_fast_and_writes_nothing(tmp_path, outputs):
    path = write_profile(tmp_path, {"extends": "smoke", "sedes": {"none": 2}}, name="typo")
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ},
    )
    elapsed = time.time() - started
    assert proc.returncode == 2
    assert "sedes" in proc.stderr and "seeds" in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 10
    assert not (outputs / "typo").exists()


def test_a_changed_parameter_changes_the_run_ids_below_it(tmp_path):
    base = plan_runs(load_profile("smoke"))
    changed = plan_runs(load_profile(str(write_profile(tmp_path, {"extends": "smoke", "target": {"lr": 0.5}}))))
    assert [r.id for r in base["intermediate"]] == [r.id for r in changed["intermediate"]]
    assert not {r.id for r in base["target"]} & {r.id for r in changed["target"]}
    world = plan_runs(load_profile(str(write_profile(tmp_path, {"extends": "smoke", "seed": 7}, "seed7"))))
    assert world["data"][0].id != base["data"][0].id
    assert not {r.id for r in base["target"]} & {r.id for r in world["target"]}


def test_grid_arithmetic_of_the_mini_profile():
    profile = load_profile("mini")
    plan = plan_runs(profile)
    cfg = profile.cfg
    n_models = len(cfg["models"])
    n_inter_arms = len([a for a in cfg["arms"] if a != "none"])
    assert len(plan["intermediate"]) == n_models * n_inter_arms
    seeds_per_model = cfg["seeds"]["none"] + n_inter_arms * cfg["seeds"]["intermediate"]
    from xstilts.study.grid import is_eval_only, protocols

    groups = protocols(cfg)
    trained = sum(not is_eval_only(t) for t in groups.values())
    eval_only = len(groups) - trained
    assert len(plan["target"]) == n_models * (seeds_per_model * trained + (1 + n_inter_arms) * eval_only)


def test_per_target_overrides_reach_only_their_protocols_runs():
    """`per_target.<protocol>` changes the training of that protocol's target runs and of no other run."""
    profile = load_profile("mini")
    from xstilts.study.grid import LATER_TRAIN_KEYS, TRAIN_KEYS

    cfg, plan = profile.cfg, plan_runs(profile)
    by_protocol = {}
    for run in plan["target"]:
        if run.spec.get("train") is not None:
            by_protocol.setdefault(run.spec["protocol"], []).append(run.spec["train"])
    for protocol, trains in by_protocol.items():
        merged = {**cfg["target"], **cfg["per_target"].get(protocol, {})}
        expected = {k: merged[k] for k in TRAIN_KEYS} | {
            k: merged[k] for k, default in LATER_TRAIN_KEYS.items() if merged[k] != default
        }
        assert all(t == expected for t in trains), protocol
    # mini's target phase trains the encoder at a tenth, TyDiQA's at one rate (its per-target 1 drops the key)
    assert by_protocol["xnli"][0]["encoder_lr_scale"] == 0.1 and "encoder_lr_scale" not in by_protocol["tydiqa"][0]
    assert by_protocol["pawsx"][0]["lr"] != cfg["target"]["lr"] == by_protocol["xnli"][0]["lr"]
    assert all(r.spec["train"]["lr"] == cfg["intermediate"]["lr"] for r in plan["intermediate"])


def test_a_profile_asking_for_ccg_without_ccgbank_is_rejected_saying_so(monkeypatch):
    monkeypatch.delenv("XSTILTS_CCGBANK", raising=False)
    with pytest.raises(ProfileError, match="arm 'ccg'.*licence-gated"):
        load_profile("paper")


def test_ccgbank_folder_from_the_environment_satisfies_the_licence_check(tmp_path, monkeypatch):
    for split in ("train", "dev"):
        (tmp_path / f"{split}.tsv").write_text("The\tNP/N\n")
    monkeypatch.setenv("XSTILTS_CCGBANK", str(tmp_path))
    assert "ccg" in load_profile("paper").cfg["arms"]


def test_the_mini_profile_is_the_design_the_miniature_promises():
    """miniworld.md: 4 sizes spanning >= 20x in non-embedding parameters; every target of both benchmarks;
    `none`, >= 3 single arms of different formats and multi-task; >= 2 seeds per arm, more for `none`."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.benchmarks.registry import REGISTRY

    cfg = load_profile("mini").cfg
    counts = []
    for model in cfg["models"]:
        a = model["arch"]
        enc = XLMRobertaModel(
            XLMRobertaConfig(
                vocab_size=100,
                hidden_size=a["hidden"],
                num_hidden_layers=a["layers"],
                num_attention_heads=a["heads"],
                intermediate_size=a["ffn"],
            ),
            add_pooling_layer=False,
        )
        counts.append(sum(p.numel() for n, p in enc.named_parameters() if "embeddings" not in n))
    assert len(counts) == 4 and counts == sorted(counts) and counts[-1] >= 20 * counts[0]
    assert set(cfg["targets"]) == {"xtreme", "xtreme-r"}
    single = [a for a in cfg["arms"] if a not in ("none", "multitask")]
    assert "none" in cfg["arms"] and "multitask" in cfg["arms"] and len(single) >= 3
    assert len({REGISTRY[f"intermediate.{a}"].format for a in single}) >= 3
    assert cfg["seeds"]["intermediate"] >= 2 and cfg["seeds"]["none"] > cfg["seeds"]["intermediate"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"arms": []}, ["'arms' must include 'none'"]),
        ({"seeds": {"none": 0}}, ["'seeds.none' must be >= 2, got 0"]),
        ({"target": {"lr": -1e-5}}, ["'target.lr' must be > 0, got -1e-05"]),
        ({"analysis": {"n_boot": 5}}, ["'analysis.n_boot' must be >= 200", "got 5"]),
    ],
)
def test_validate_rejects_profiles_that_cannot_produce_the_study(tmp_path, outputs, body, expected):
    path = write_profile(tmp_path, {"extends": "smoke", **body}, name="cannot")
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "validate", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert time.time() - started < 10
    assert proc.returncode == 2 and proc.stdout == ""
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith(f"xstilts validate: {path}: ")
    for fragment in expected:
        assert fragment in line
    assert not outputs.exists() or not any(outputs.iterdir())


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"arms": ["none"]}, ["at least one intermediate arm"]),
        ({"arms": ["mnli"]}, ["must include 'none'"]),
        ({"models": [{"name": "xs", "arch": {"layers": 1, "hidden": 16, "heads": 2, "ffn": 32}}]}, ["two sizes"]),
        ({"targets": ["xtreme.xnli"]}, ["both benchmarks", "xtreme only"]),
        ({"pretrain": {"mlm_probability": 1.5}}, ["'pretrain.mlm_probability' must be in (0, 1]"]),
        ({"intermediate": {"warmup_ratio": 2}}, ["'intermediate.warmup_ratio' must be in [0, 1]"]),
        ({"target": {"batch_size": 0}}, ["'target.batch_size' must be >= 1"]),
        ({"per_target": {"xnli": {"lr": 0}}}, ["'per_target.xnli.lr' must be > 0"]),
        ({"retrieval": {"layer": 1.5}}, ["'retrieval.layer' must be a layer index >= 0 or a fraction"]),
    ],
)
def test_ranges_and_the_shape_of_the_study_are_checked(tmp_path, body, expected):
    path = write_profile(tmp_path, {"extends": "smoke", **body})
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    assert str(path) in str(err.value)
    for fragment in expected:
        assert fragment in str(err.value)


def test_a_range_error_names_the_file_that_set_the_key(tmp_path):
    base = write_profile(tmp_path, {"extends": "smoke", "target": {"lr": -1.0}}, name="base")
    child = write_profile(tmp_path, {"extends": str(base), "seed": 3}, name="child")
    with pytest.raises(ProfileError, match=f"^{base}: 'target.lr' must be > 0"):
        load_profile(str(child))


def test_a_pipeline_profile_states_it_produces_no_estimand(tmp_path):
    body = {"extends": "smoke", "purpose": "pipeline", "seeds": {"none": 1}, "arms": ["none"]}
    assert load_profile(str(write_profile(tmp_path, body))).cfg["purpose"] == "pipeline"
    with pytest.raises(ProfileError, match="'purpose' must be study or pipeline"):
        load_profile(str(write_profile(tmp_path, {"extends": "smoke", "purpose": "demo"})))
