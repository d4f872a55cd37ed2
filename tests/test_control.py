"""The positive control (docs/miniworld.md §7): the `planted` profile key, the probe's recipe keys, the
planted-beside-recovered table, and `mini-control` run end to end recovering its planted sign."""

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from xstilts.analysis.control import planted_vs_recovered, verdict
from xstilts.study.profile import ProfileError, load_profile

ROOT = Path(__file__).resolve().parents[1]
PLANTED = {"arm": "hellaswag", "sign": "positive", "mechanism": "m"}


def _estimates(gamma: tuple[float, float, float], unique: tuple[float, float, float]) -> pd.DataFrame:
    rows = [("interaction", "hellaswag", *gamma), ("interaction_unique_tasks", "hellaswag", *unique)]
    rows += [("interaction", "mnli", 9.0, 8.0, 10.0)]  # another arm's γ is not read
    return pd.DataFrame(rows, columns=["estimand", "arm", "estimate", "ci_low", "ci_high"])


def test_recovered_means_the_planted_sign_with_an_interval_excluding_zero():
    table = planted_vs_recovered(_estimates((2.0, 0.5, 3.5), (1.0, -0.2, 2.0)), PLANTED)
    assert list(table.estimand) == ["interaction", "interaction_unique_tasks"]
    assert list(table.recovered) == [True, False]  # the second interval crosses zero
    assert verdict(table, PLANTED).endswith("+2.00 [+0.50, +3.50] points per decade: recovered")
    negative = planted_vs_recovered(_estimates((2.0, 0.5, 3.5), (-1.0, -2.0, -0.1)), {**PLANTED, "sign": "negative"})
    assert list(negative.recovered) == [False, True]  # the wrong sign is not recovered, however narrow
    assert "NOT recovered" in verdict(negative, PLANTED)
    with pytest.raises(KeyError, match="no 'interaction' for the planted arm 'squad'"):
        planted_vs_recovered(_estimates((1, 0, 2), (1, 0, 2)), {**PLANTED, "arm": "squad"})


def _profile(tmp_path, planted: str) -> Path:
    path = tmp_path / "control.yaml"
    path.write_text(f"extends: smoke\narms: [none, mnli, squad]\nplanted: {planted}\n")
    return path


@pytest.mark.parametrize(
    "planted, message",
    [
        (
            "{arm: hellaswag, sign: positive}",
            "'planted.arm' is 'hellaswag', not an intermediate arm.*allowed: mnli, squad",
        ),
        ("{arm: mnli, sign: up}", "'planted.sign' must be one of positive, negative, got 'up'"),
        ("{arm: mnli, sign: positive, mechanizm: x}", "unknown key 'planted.mechanizm'"),
        ("{arm: none, sign: positive}", "'planted.arm' is 'none'"),
    ],
)
def test_a_bad_planted_effect_is_named_before_any_work(tmp_path, planted, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(str(_profile(tmp_path, planted)))


def test_a_probe_on_a_sharded_size_is_named_before_any_work(tmp_path):
    """A frozen encoder (a probe) runs in one process: a size with ranks > 1 is rejected at load, naming both."""
    path = tmp_path / "probe.yaml"
    path.write_text(
        "extends: smoke\nper_target: {xnli: {freeze_encoder: true}}\n"
        "models:\n  - {name: t1, arch: {layers: 1, hidden: 16, heads: 2, ffn: 32}, ranks: 2}\n"
        "  - {name: t2, arch: {layers: 2, hidden: 32, heads: 2, ffn: 64}}\n"
    )
    with pytest.raises(ProfileError, match=r"'models\[0\]' \(t1\) has ranks 2, but 'per_target.xnli' freezes"):
        load_profile(str(path))
    path.write_text("extends: smoke\nper_target: {xnli: {freeze_encoder: 1}}\n")
    with pytest.raises(ProfileError, match="'per_target.xnli.freeze_encoder' must be"):
        load_profile(str(path))


def test_the_probe_key_enters_a_recipe_only_when_set():
    """`freeze_encoder` came after the first studies: unset, no recipe (and so no run id) carries it; set, the
    target runs of its protocol do, and no other."""
    from xstilts.study.grid import train_config

    mini, control = load_profile("mini").cfg, load_profile("mini-control").cfg
    for protocol in (None, "xnli", "udpos"):
        assert "freeze_encoder" not in train_config(mini, "target", protocol)
    assert train_config(control, "target", "xnli")["freeze_encoder"] is True
    assert "freeze_encoder" not in train_config(control, "target", "udpos")
    assert "freeze_encoder" not in train_config(control, "intermediate")


def test_the_encoder_rate_enters_a_recipe_only_when_set_and_is_a_share(tmp_path):
    """`encoder_lr_scale` came after the first studies: at its default 1, set or not, no recipe (and so no run
    id) carries it; set, the recipes of that phase do; outside (0, 1] it is rejected at load, naming the key."""
    from xstilts.study.grid import train_config

    control, mini = load_profile("mini-control").cfg, load_profile("mini").cfg  # 1 set explicitly; 0.1
    for phase, protocol in (("intermediate", None), ("target", None), ("target", "xnli")):
        assert "encoder_lr_scale" not in train_config(control, phase, protocol)
        assert train_config(mini, phase, protocol)["encoder_lr_scale"] == 0.1
    assert "encoder_lr_scale" not in train_config(mini, "target", "tydiqa")
    path = tmp_path / "slow.yaml"
    path.write_text("extends: mini-control\ntarget: {encoder_lr_scale: 0.5}\n")
    slow = load_profile(str(path)).cfg
    assert train_config(slow, "target", "xnli")["encoder_lr_scale"] == 0.5
    assert "encoder_lr_scale" not in train_config(slow, "intermediate")
    for bad, key in (
        ("target: {encoder_lr_scale: 0}", "target"),
        ("per_target: {xnli: {encoder_lr_scale: 2}}", "per_target.xnli"),
    ):
        path.write_text(f"extends: smoke\n{bad}\n")
        with pytest.raises(ProfileError, match=f"'{key}.encoder_lr_scale' must be in \\(0, 1\\]"):
            load_profile(str(path))


def test_the_control_profile_plants_a_positive_gamma_for_an_arm_it_runs():
    """mini-control: the planted arm runs, XNLI is a target of XTREME-R only, and it is the probed one."""
    profile = load_profile("mini-control")
    assert profile["planted"] == {**profile["planted"], "arm": "mnli", "sign": "positive"}
    assert profile["planted"]["arm"] in profile["arms"]
    assert "xtreme-r.xnli" in profile["targets"] and "xtreme.xnli" not in profile["targets"]
    assert load_profile("mini")["planted"] is None


@pytest.mark.slow
def test_mini_control_recovers_its_planted_interaction(tmp_path):
    """`make reproduce PROFILE=mini-control`, as a user runs it: every phase, then the analysis notebook's
    planted-beside-recovered table says γ(mnli) > 0 with a 95% CI excluding zero."""
    env = {**os.environ, "XSTILTS_OUTPUTS": str(tmp_path / "outputs")}
    env.pop("MAKEFLAGS", None)
    proc = subprocess.run(
        ["make", "--no-print-directory", "reproduce", "PROFILE=mini-control", f"OUTPUTS={tmp_path / 'outputs'}"],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "outputs" / "mini-control"
    table = pd.read_csv(out / "results" / "planted.csv")
    gamma = table[table.estimand == "interaction"].iloc[0]
    assert gamma.arm == "mnli" and gamma.planted == "> 0"
    assert gamma.recovered and gamma.ci_low > 0, table.to_string()
    cells = json.loads((out / "notebooks" / "4_analysis.ipynb").read_text())["cells"]
    shown = [
        "".join(o.get("data", {}).get("text/html", ""))
        for c in cells
        if c["cell_type"] == "code" and "report.control" in "".join(c["source"])
        for o in c["outputs"]
    ]
    assert len(shown) == 1 and "points per decade: recovered" in shown[0], shown
