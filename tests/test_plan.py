"""`xstilts plan`: run counts equal the grid's, the paper arithmetic by hand, FLOP/GPU-hour/disk accounting,
FSDP marks, offline and fast."""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts.compute.memory import (
    HUB_SHAPES,
    count_params,
    fsdp_config,
    min_gpus,
    needs_fsdp,
    train_memory_gb,
    write_fsdp_config,
)
from xstilts.compute.plan import Assumptions, Sizes, build_plan, format_plan, write_csv
from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ccgbank(tmp_path, monkeypatch):
    """The paper profile lists the licence-gated CCG arm; validation only needs the folder to exist."""
    folder = tmp_path / "ccgbank"
    folder.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (folder / name).write_text("")
    monkeypatch.setenv("XSTILTS_CCGBANK", str(folder))
    return folder


@pytest.fixture
def paper(ccgbank):
    return load_profile("paper")


@pytest.mark.parametrize("name", ["mini", "smoke", "paper"])
def test_plan_counts_are_the_grid_counts(name, ccgbank):
    profile = load_profile(name)
    plan = build_plan(profile)
    grid = plan_runs(profile)
    assert plan.runs_per_phase == {phase: len(runs) for phase, runs in grid.items()}
    rows = {r["phase"]: r for r in plan.phase_rows()}
    for phase, runs in grid.items():
        assert rows[phase]["runs"] == len(runs)
        assert sum(1 for c in plan.costs if c.phase == phase) == len(runs)
    assert rows["total"]["runs"] == sum(len(r) for r in grid.values())


def test_paper_arithmetic_by_hand(paper):
    plan = build_plan(paper)
    sizes, arms = 4, 11  # base large xl xxl; none + 9 single + multitask
    seeds = 9 + 10 * 3  # per (size, protocol): none x 9 + 10 intermediate arms x 3
    seeded_protocols = 9  # xnli pawsx udpos panx xquad(+mlqa, tatoeba-r) tydiqa xcopa mewslix lareqa
    eval_only = 2  # bucc2018, xtreme tatoeba: one run per (size, arm), no seeds
    assert plan.runs_per_phase == {
        "data": 1,
        "pretrained": sizes,
        "intermediate": sizes * (arms - 1),
        "target": sizes * (seeded_protocols * seeds + eval_only * arms),
        "analysis": 1,
    }
    assert plan.runs_per_phase["target"] == 1492


def test_jiant_steps_flops_and_gpu_hours(paper):
    a = Assumptions(mfu=0.4)
    plan = build_plan(paper, a)
    xnli = next(c for c in plan.costs if c.phase == "target" and c.protocol == "xnli" and c.model == "large")
    assert xnli.steps == 2 * math.ceil(392702 / 32) == 24544  # docs/benchmarks.md §6: ~24.5K steps
    assert xnli.train_examples == xnli.steps * 32
    assert xnli.train_flops == pytest.approx(6 * 550e6 * xnli.train_tokens)
    assert xnli.eval_flops == pytest.approx(2 * 550e6 * xnli.eval_tokens)
    assert xnli.gpu_hours == pytest.approx(xnli.flops / (989e12 * 0.4) / 3600)
    tydiqa = next(c for c in plan.costs if c.phase == "target" and c.protocol == "tydiqa" and c.model == "base")
    assert tydiqa.steps == 2 * math.ceil(3696 / 16)  # QA: 4 x 4 = 16
    # eval-only protocols train nothing; every trained run evaluates something
    for c in plan.costs:
        if c.phase == "target":
            assert (c.steps == 0) == (c.protocol in ("bucc2018", "tatoeba"))
            assert c.eval_tokens > 0
    # halving the utilisation doubles the bill
    slower = build_plan(paper, Assumptions(mfu=0.2))
    assert slower.phase_rows()[-1]["gpu_hours"] == pytest.approx(2 * plan.phase_rows()[-1]["gpu_hours"])


def test_measured_throughput_overrides_the_flops_estimate(paper):
    measured = Assumptions(
        throughput={"large": {"train_tokens_per_s": 1e5, "eval_tokens_per_s": 4e5}}, bench_source="bench.json"
    )
    plan = build_plan(paper, measured)
    c = next(c for c in plan.costs if c.phase == "target" and c.model == "large" and c.steps)
    assert c.gpu_hours == pytest.approx(c.train_tokens / 1e5 / 3600 + c.eval_tokens / 4e5 / 3600)
    base = next(c for c in plan.costs if c.phase == "target" and c.model == "base" and c.steps)
    assert base.gpu_hours == pytest.approx(base.flops / measured.flops_per_gpu_s / 3600)
    assert "measured throughput for large from bench.json" in format_plan(plan)


def test_fsdp_marks_and_memory_model(paper):
    plan = build_plan(paper)
    gpus = {}
    for c in plan.costs:
        if c.phase == "target" and c.steps:
            gpus.setdefault(c.model, set()).add(c.gpus)
    assert gpus["base"] == {1} and gpus["large"] == {1}
    assert gpus["xxl"] == {4}  # 16 B/param sharded over 2 GPUs is still > 72 GB usable
    assert gpus["xl"] == {1, 2}  # fits at 256 tokens, not at 384 (QA)
    assert plan.fsdp == {"xl": 2, "xxl": 4}
    # the arithmetic the brief states: AdamW mixed precision is 16 bytes/param
    assert 10.7e9 * 16 > 80e9 and needs_fsdp(int(10.7e9), HUB_SHAPES["facebook/xlm-roberta-xxl"], 4, 256)
    assert not needs_fsdp(550_000_000, HUB_SHAPES["FacebookAI/xlm-roberta-large"], 4, 384)
    assert train_memory_gb(int(3.5e9), None, 4, 256, num_gpus=2) < train_memory_gb(int(3.5e9), None, 4, 256)
    assert min_gpus(int(10.7e9), HUB_SHAPES["facebook/xlm-roberta-xxl"], 4, 256) == 4
    # parameter counts from the shapes match the published sizes (docs/benchmarks.md §6) within 5%
    for hub, published in [
        ("FacebookAI/xlm-roberta-base", 278e6),
        ("FacebookAI/xlm-roberta-large", 560e6),
        ("facebook/xlm-roberta-xl", 3.5e9),
        ("facebook/xlm-roberta-xxl", 10.7e9),
    ]:
        assert count_params(HUB_SHAPES[hub]) == pytest.approx(published, rel=0.05)


def test_fsdp_launch_config_is_a_valid_accelerate_config(tmp_path):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = fsdp_config(10_700_000_000, 8)
    assert cfg["num_processes"] == 8 and cfg["distributed_type"] == "FSDP" and cfg["mixed_precision"] == "bf16"
    f = cfg["fsdp_config"]
    assert f["fsdp_sharding_strategy"] == "FULL_SHARD" and f["fsdp_activation_checkpointing"] is True
    assert f["fsdp_transformer_layer_cls_to_wrap"] == "XLMRobertaXLLayer"
    assert fsdp_config(550_000_000, 2)["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "XLMRobertaLayer"
    loaded = ClusterConfig.from_yaml_file(str(write_fsdp_config(tmp_path / "fsdp.yaml", 3_500_000_000, 2)))
    assert loaded.num_processes == 2 and loaded.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    with pytest.raises(ValueError, match="num_gpus"):
        fsdp_config(1000, 0)


def test_disk_hygiene_and_reuse(paper):
    plan = build_plan(paper, Assumptions(shards=8))
    d, u = plan.disk, plan.reuse
    params = {"base": 270e6, "large": 550e6, "xl": 3.5e9, "xxl": 10.7e9}
    assert d["intermediate_checkpoints"] == pytest.approx(10 * 4 * sum(params.values()))
    assert d["hub_models"] == pytest.approx(4 * sum(params.values()))
    # Tatoeba-R is scored inside the xquad run, from its encoder: no target checkpoint outlives its run
    xquad_runs = sum(1 for c in plan.costs if c.phase == "target" and c.protocol == "xquad")
    assert xquad_runs == 4 * 39
    assert d["borrowed_target_checkpoints"] == 0
    assert d["in_flight_target_checkpoints"] == pytest.approx(8 * 4 * 10.7e9)
    assert d["peak"] < d["peak_without_hygiene"]
    # each intermediate checkpoint serves 9 seeded protocols x 3 seeds + 2 eval-only targets = 29 runs
    assert u["intermediate_gpu_hours_unshared"] == pytest.approx(29 * u["intermediate_gpu_hours_shared"])
    assert u["featurizations_cached"] < u["featurizations_uncached"]
    assert u["tokenized_tokens_cached"] < u["tokenized_tokens_uncached"]


def test_sizes_file_has_every_target_and_intermediate_task():
    from xstilts.benchmarks.registry import INTERMEDIATE_NAMES, REGISTRY, TARGET_NAMES

    sizes = Sizes.from_csv()
    for name in INTERMEDIATE_NAMES:
        assert sizes.english(name, "train") and sizes.english(name, "dev"), name
    for task in REGISTRY.values():
        if task.benchmarks[0] == "intermediate":
            continue
        tests = sizes.per_language(task.name, "test", task.languages)
        corpus = sizes.corpus(task.name, task.languages)
        assert len(tests) == len(task.languages) or corpus, task.key  # every test language is priced
        if task.train:
            assert sizes.english(task.name, "train"), task.key
    assert set(TARGET_NAMES) <= {name for name, _ in sizes.rows}


def test_plan_is_offline_and_fast(paper, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("xstilts plan tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    started = time.perf_counter()
    plan = build_plan(paper)
    assert time.perf_counter() - started < 10
    assert plan.phase_rows()[-1]["gpu_hours"] > 0


def test_cli_prints_table_and_writes_csv(outputs, ccgbank, tmp_path):
    env = {
        **os.environ,
        "XSTILTS_OUTPUTS": str(outputs),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "XSTILTS_ROOT": str(ROOT),
    }
    extra = tmp_path / "mine.csv"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "plan", "paper", "--mfu", "0.3", "--csv", str(extra)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - started < 30
    out = proc.stdout
    assert "GPU-h" in out and "peak" in out and "FSDP: " in out and "30% MFU" in out
    with open(outputs / "paper" / "plan" / "plan.csv") as fh:
        rows = {r["phase"]: r for r in csv.DictReader(fh)}
    assert int(rows["target"]["runs"]) == 1492 and int(rows["total"]["runs"]) == 1538
    assert extra.is_file() and (outputs / "paper" / "plan" / "plan_runs.csv").is_file()
    summary = json.loads((outputs / "paper" / "plan" / "plan_summary.json").read_text())
    assert summary["assumptions"]["mfu"] == 0.3
    assert (outputs / "paper" / "plan" / "fsdp-xxl.yaml").is_file()
    assert not (outputs / "paper" / "plan" / "fsdp-large.yaml").exists()


def test_write_csv_round_trips(tmp_path):
    plan = build_plan(load_profile("smoke"))
    path = write_csv(plan, tmp_path / "p.csv")
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["phase"] for r in rows] == ["data", "pretrained", "intermediate", "target", "analysis", "total"]
    assert float(rows[-1]["train_flops"]) == pytest.approx(sum(c.train_flops for c in plan.costs))
