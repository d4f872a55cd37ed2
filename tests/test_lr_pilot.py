"""The per-size learning-rate pilot (docs/recipe.md §9.1): its selection rule, its profile keys, its runs in
the grid and the bill, and a whole study that trains each size at the lr its pilot chose."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xstilts.compute.plan import PILOT, build_plan, format_bill
from xstilts.study import grid
from xstilts.study.lr_pilot import seed_sd, select_lr
from xstilts.study.profile import ProfileError, load_profile

ROOT = Path(__file__).resolve().parents[1]


def _scores(cells: dict[float, list[list[float]]]) -> pd.DataFrame:
    """{grid lr: [[seed 0's score per protocol], [seed 1's ...]]} -> the pilot's score table."""
    rows = []
    for lr, seeds in cells.items():
        for seed, per_protocol in enumerate(seeds):
            for i, score in enumerate(per_protocol):
                rows.append({"grid_lr": lr, "protocol": f"p{i}", "seed": seed, "dev_score": score})
    return pd.DataFrame(rows)


# --- the rule ---------------------------------------------------------------------------------------


def test_the_highest_mean_wins_when_the_runner_up_is_more_than_one_seed_sd_behind():
    scores = _scores({1e-5: [[80, 70], [82, 72]], 2e-5: [[85, 75], [87, 77]], 3e-5: [[60, 50], [62, 52]]})
    choice = select_lr(scores, anchor=1e-5)
    assert choice["lr"] == choice["best_mean_lr"] == 2e-5
    assert choice["means"] == {"2e-05": 81.0, "1e-05": 76.0, "3e-05": 56.0}
    assert choice["seed_sd"] == pytest.approx(2**0.5, abs=1e-4) and choice["seed_sd_df"] == 3  # 3 lrs x (2 seeds - 1)


def test_within_one_seed_sd_the_lr_closer_to_the_anchor_wins():
    # 3e-5 leads 1e-5 by 0.5 points; one seed's protocol-mean varies by about 2.8 points
    scores = _scores({1e-5: [[80, 70], [76, 66]], 3e-5: [[81, 71], [76, 66]]})
    choice = select_lr(scores, anchor=1e-5)
    assert choice["best_mean_lr"] == 3e-5 and choice["lr"] == 1e-5
    assert "within one seed-SD" in choice["reason"]
    # the same scores read against an anchor of 3e-5 keep 3e-5
    assert select_lr(scores, anchor=3e-5)["lr"] == 3e-5


def test_as_close_to_the_anchor_the_higher_mean_wins():
    scores = _scores({5e-6: [[80], [78]], 2e-5: [[80.5], [78.5]]})  # 5e-6 and 2e-5 are both 2x from 1e-5
    choice = select_lr(scores, anchor=1e-5)
    assert choice["lr"] == 2e-5 and "as close" in choice["reason"]


def test_one_seed_has_no_seed_sd_and_takes_the_highest_mean():
    scores = _scores({1e-5: [[80, 70]], 3e-5: [[80.1, 70]]})
    assert seed_sd(scores) == (None, 0)
    choice = select_lr(scores, anchor=1e-5)
    assert choice["lr"] == 3e-5 and choice["seed_sd"] is None and "one seed" in choice["reason"]


def test_exact_ties_go_to_the_lr_closest_to_the_anchor_among_all_tied():
    # three lrs score the same (tiny models that learn nothing): not the first in grid order, but 1e-5
    scores = _scores({3e-6: [[25.0]], 5e-6: [[25.0]], 1e-5: [[25.0]]})
    choice = select_lr(scores, anchor=1e-5)
    assert choice["lr"] == 1e-5 and "3e-06, 5e-06, 1e-05 are tied" in choice["reason"]
    # within one seed-SD, every lr near the best is a candidate, not only the runner-up
    scores = _scores({3e-6: [[80], [78]], 5e-6: [[79.5], [77.5]], 1e-5: [[79], [77]]})  # SD 1.41; gaps 0.5, 1.0
    assert select_lr(scores, anchor=1e-5)["lr"] == 1e-5
    # a gap just beyond one seed-SD (1.5 > 1.41) is not within it
    scores = _scores({2e-5: [[80], [78]], 1e-5: [[78.5], [76.5]]})
    assert select_lr(scores, anchor=1e-5)["lr"] == 2e-5


def test_the_seed_sd_is_the_pooled_sd_of_each_seeds_protocol_mean():
    scores = _scores({1e-5: [[80, 70], [84, 70], [86, 70]], 2e-5: [[50, 50], [51, 51]]})
    # protocol means: 1e-5 -> 75, 77, 78 (ss 4.667, df 2); 2e-5 -> 50, 51 (ss 0.5, df 1)
    sd, df = seed_sd(scores)
    assert df == 3 and sd == pytest.approx(((14 / 3 + 0.5) / 3) ** 0.5)


def test_nan_scores_rank_last_and_an_empty_pilot_is_an_error():
    scores = _scores({1e-5: [[float("nan")]], 2e-5: [[40.0]]})
    assert select_lr(scores, anchor=1e-5)["lr"] == 2e-5
    with pytest.raises(ValueError, match="no scores"):
        select_lr(scores.iloc[0:0], anchor=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        select_lr(_scores({1e-5: [[float("nan")]]}), anchor=1e-5)


# --- the profile --------------------------------------------------------------------------------------

PILOT_SMOKE = """extends: smoke
description: smoke with the lr pilot
models:
  - {name: xs, arch: {layers: 1, hidden: 16, heads: 2, ffn: 32}, lr_grid: [3.0e-4, 1.0e-3]}
  - {name: s, arch: {layers: 2, hidden: 32, heads: 2, ffn: 64}, lr_grid: [3.0e-4, 1.0e-3]}
lr_pilot: {protocols: [xnli], seeds: 2, anchor: 1.0e-3}
target: {lr: 2.0e-3}
"""


def _profile(tmp_path, text: str, name: str = "pilot") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ("lr_pilot: {protocols: [xnli], seeds: 2, anchr: 1.0e-3}", "unknown key 'lr_pilot.anchr'"),
        ("lr_pilot: {protocols: [panx]}", "'lr_pilot.protocols' names 'panx'.*allowed: xnli"),
        ("lr_pilot: {protocols: []}", "'lr_pilot.protocols' must list target protocols"),
        ("lr_pilot: {protocols: [xnli, xnli]}", "lists a protocol twice"),
        ("lr_pilot: {protocols: [xnli], seeds: 0}", "'lr_pilot.seeds' must be >= 1"),
        ("lr_pilot: {protocols: [xnli], anchor: 0}", "'lr_pilot.anchor' must be > 0"),
    ],
)
def test_bad_pilot_keys_are_named_before_any_work(tmp_path, change, message):
    text = PILOT_SMOKE.replace("lr_pilot: {protocols: [xnli], seeds: 2, anchor: 1.0e-3}", change)
    with pytest.raises(ProfileError, match=message):
        load_profile(str(_profile(tmp_path, text)))


@pytest.mark.parametrize(
    "grid_text, message",
    [
        ("", "'models\\[0\\].lr_grid' \\(xs\\) must list the learning rates"),
        (", lr_grid: []", "must list the learning rates"),
        (", lr_grid: [1.0e-3, -1.0e-3]", "must hold positive numbers"),
        (", lr_grid: [1.0e-3, 1.0e-3]", "lists a learning rate twice"),
    ],
)
def test_every_size_needs_a_grid_of_distinct_positive_lrs(tmp_path, grid_text, message):
    text = PILOT_SMOKE.replace(", lr_grid: [3.0e-4, 1.0e-3]}", grid_text + "}", 1)
    with pytest.raises(ProfileError, match=message):
        load_profile(str(_profile(tmp_path, text)))


def test_eval_only_protocols_cannot_be_piloted():
    with pytest.raises(ProfileError, match="names 'bucc2018'"):
        from xstilts.study.profile import _validate_lr_pilot

        cfg = load_profile("paper", check_licences=False).cfg
        cfg["lr_pilot"]["protocols"] = ["bucc2018"]
        _validate_lr_pilot(cfg, [ROOT / "params" / "paper.yaml"])


# --- the grid and the bill ------------------------------------------------------------------------------


def test_the_paper_pilots_each_size_on_its_grid_and_every_later_run_reads_its_sizes_choice():
    profile = load_profile("paper", check_licences=False)
    runs = grid.plan_runs(profile)
    pilots = [r for r in runs["pretrained"] if grid.is_pilot(r)]
    selections = {r.spec["model"]: r for r in runs["pretrained"] if grid.is_selection(r)}
    assert len(pilots) == 4 * 3 * 3 * 2  # sizes x grid x (xnli, xquad, panx) x seeds
    for model in profile["models"]:
        mine = [r for r in pilots if r.spec["model"] == model["name"]]
        assert sorted({r.spec["grid_lr"] for r in mine}) == sorted(model["lr_grid"])
        assert {r.spec["protocol"] for r in mine} == {"xnli", "xquad", "panx"}
        assert all(r.spec["parent"].startswith(f"hub-{model['name']}-") for r in mine)
        assert selections[model["name"]].spec["pilots"] == sorted(r.id for r in mine)
        assert selections[model["name"]].reads == sorted(r.id for r in mine)
    for run in runs["intermediate"] + [r for r in runs["target"] if "train" in r.spec]:
        model = grid.model_of(run)
        assert run.spec["lr_pilot"] == selections[model].id and selections[model].id in run.reads
        assert "lr" not in run.spec["train"]
        expected = 2.0 if run.phase == "target" and run.spec["protocol"] == "lareqa" else 1.0
        assert run.spec["train"]["lr_times"] == expected
    (panx,) = [
        r for r in pilots if r.spec["model"] == "xl" and r.spec["protocol"] == "panx" and r.spec["grid_lr"] == 3e-6
    ][:1]
    assert panx.spec["train"]["lr"] == 3e-6 and panx.spec["tasks"] == ["xtreme.panx"]
    assert grid.ranks_of(profile.cfg, panx) == 2 and grid.trains(panx)


def test_without_a_pilot_specs_hold_the_profiles_lr_and_no_selection():
    runs = grid.plan_runs(load_profile("mini"))
    assert not [r for r in runs["pretrained"] if grid.is_pilot(r) or grid.is_selection(r)]
    for run in runs["intermediate"] + [r for r in runs["target"] if "train" in r.spec]:
        assert "lr_pilot" not in run.spec and "lr_times" not in run.spec["train"] and run.spec["train"]["lr"] > 0


def test_a_sizes_grid_changes_only_its_own_runs(tmp_path):
    base = grid.plan_runs(load_profile(str(_profile(tmp_path, PILOT_SMOKE, "a"))))
    changed = PILOT_SMOKE.replace(
        "lr_grid: [3.0e-4, 1.0e-3]}\n  - {name: s", "lr_grid: [1.0e-4, 1.0e-3]}\n  - {name: s"
    )
    other = grid.plan_runs(load_profile(str(_profile(tmp_path, changed, "b"))))
    ids = {p: {r.id for r in base[p]} for p in base}
    new = {p: {r.id for r in other[p]} - ids[p] for p in other}
    assert {r.split("-")[0] for r in new["intermediate"] | new["target"]} == {"xs"}
    assert all(r.startswith(("pilot-xs-", "lr-xs-")) for r in new["pretrained"])


def test_the_bill_prices_the_pilot():
    plan = build_plan(load_profile("paper", check_licences=False))
    pilot = [c for c in plan.costs if c.arm == PILOT]
    assert len(pilot) == 72 and all(c.steps > 0 and c.gpu_hours > 0 for c in pilot)
    assert {c.gpus for c in pilot if c.model == "xxl"} == {4}
    (row,) = [r for r in plan.phase_rows() if r["phase"] == "pretrained"]
    assert row["gpu_hours"] == pytest.approx(sum(c.gpu_hours for c in pilot))
    # a pilot trains as the `none` target run of its protocol and seed does
    xnli = next(c for c in pilot if c.model == "large" and c.protocol == "xnli")
    target = next(c for c in plan.costs if c.phase == "target" and c.model == "large" and c.protocol == "xnli")
    assert xnli.steps == target.steps and xnli.train_flops == pytest.approx(target.train_flops)
    bill = format_bill(plan)
    spent = sum(c.gpu_hours for c in pilot)
    assert f"of it, the lr pilot (docs/recipe.md §9.1): 72 runs, {spent:,.0f} GPU-h" in bill
    assert "lr pilot xnli" in bill


# --- a study with the pilot ----------------------------------------------------------------------------

CHAIN = """
import sys
from xstilts.study.runstore import PHASES
from xstilts.study.steps import run_phase
for phase in PHASES[:4]:
    run_phase(sys.argv[1], phase)
"""


@pytest.mark.slow
def test_each_size_trains_at_the_lr_its_english_dev_pilot_chose(tmp_path):
    profile = _profile(tmp_path, PILOT_SMOKE, "smoke-pilot")
    env = {**os.environ, "XSTILTS_OUTPUTS": str(tmp_path / "outputs")}
    proc = subprocess.run([sys.executable, "-c", CHAIN, str(profile)], env=env, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = tmp_path / "outputs" / "smoke-pilot" / "runs"
    chosen = {}
    for sel in runs.glob("pretrained/lr-*"):
        metrics = json.loads((sel / "metrics.json").read_text())
        pilot = pd.read_csv(sel / "pilot.csv")
        assert len(pilot) == 4 and set(pilot["grid_lr"]) == {3e-4, 1e-3} and set(pilot["seed"]) == {0, 1}
        assert metrics["lr"] == select_lr(pilot, anchor=1e-3)["lr"]  # the rule, applied to what the runs wrote
        chosen[metrics["model"]] = metrics["lr"]
    assert set(chosen) == {"xs", "s"}
    for run_dir in runs.glob("pretrained/pilot-*"):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        spec = json.loads((run_dir / "spec.json").read_text())["spec"]
        assert metrics["lr"] == spec["grid_lr"] * 2  # target lr 2e-3 = 2 x the anchor
        assert json.loads((run_dir / "finetune.json").read_text())["hp"]["lr"] == pytest.approx(metrics["lr"])
        assert not (run_dir / "eval").exists() and not (run_dir / "encoder").exists()  # English dev only, no checkpoint
        assert 0 <= metrics["dev_score"] <= 100 and metrics["dev_examples"] > 0
    for phase, times in (("intermediate", 1), ("target", 2)):  # intermediate lr 1e-3 (smoke's), target 2e-3
        trained = [d for d in runs.glob(f"{phase}/*") if (d / "finetune.json").exists()]
        assert trained
        for run_dir in trained:
            model = run_dir.name.split("-")[0]
            assert json.loads((run_dir / "finetune.json").read_text())["hp"]["lr"] == pytest.approx(
                chosen[model] * times
            )
    # the phase 1 report, as `make reproduce` executes it: the choice per size, every grid point, the figure
    executed = tmp_path / "1_pretrained.ipynb"
    notebook = str(ROOT / "notebooks" / "1_pretrained.ipynb")
    cmd = [sys.executable, "-m", "xstilts.cli", "execute", notebook, str(executed), "--profile", str(profile)]
    proc = subprocess.run([*cmd, "--no-progress"], cwd=ROOT, env=env, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    outputs = json.loads(executed.read_text())["cells"][-1]["outputs"]
    shown = ["".join(o.get("data", {}).get("text/plain", "")) for o in outputs]
    assert len(shown) == 3 and "lr-xs-" in shown[0] and "lr-s-" in shown[0] and "reason" in shown[0]
    assert "grid_lr" in shown[1] and "0.0003" in shown[1] and "xnli" in shown[1]
    assert (
        shown[2].startswith("[figure:")
        and (tmp_path / "outputs" / "smoke-pilot" / "figures" / "lr_pilot.png").is_file()
    )


@pytest.mark.slow
def test_wide_workers_do_the_sharded_pilot_runs_and_the_final_pass_selects(tmp_path):
    """As `xstilts submit` runs phase 1: a wide worker takes the pilot runs of the size sharded over 2
    processes, the one-process array the rest, and only the final pass over the whole phase selects."""
    text = PILOT_SMOKE.replace("ffn: 64}, lr_grid", "ffn: 64}, ranks: 2, lr_grid")
    profile = _profile(tmp_path, text, "smoke-pilot-wide")
    env = {**os.environ, "XSTILTS_OUTPUTS": str(tmp_path / "outputs"), "OMP_NUM_THREADS": "1"}
    runs = tmp_path / "outputs" / "smoke-pilot-wide" / "runs" / "pretrained"

    def phase(*args):
        cmd = [sys.executable, "-m", "xstilts.cli", "phase", str(profile), *args]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    def done(prefix):
        return {
            p.parent.name.rsplit("-", 1)[0]: json.loads((p.parent / "metrics.json").read_text())
            for p in runs.glob(f"{prefix}*/COMPLETE")
        }

    phase("data")
    phase("pretrained", "--ranks", "2")
    assert {m["world_size"] for m in done("pilot-s-").values()} == {2} and len(done("pilot-s-")) == 4
    assert not done("pilot-xs-") and not done("lr-")
    phase("pretrained", "--shard", "0", "--num-shards", "2")
    phase("pretrained", "--shard", "1", "--num-shards", "2")
    assert {m["world_size"] for m in done("pilot-xs-").values()} == {1} and len(done("pilot-xs-")) == 4
    assert not done("lr-")
    phase("pretrained")  # the final pass
    assert set(done("lr-")) == {"lr-xs", "lr-s"}
