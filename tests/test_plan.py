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

from xstilts.compute.flops import RECOMPUTE, flops_per_token, non_embedding_params
from xstilts.compute.memory import (
    HUB_SHAPES,
    count_params,
    fsdp_config,
    layouts,
    min_ranks,
    needs_fsdp,
    train_memory_gb,
    write_fsdp_config,
)
from xstilts.compute.plan import (
    COMM_BYTES_FORWARD,
    COMM_BYTES_TRAIN,
    Assumptions,
    Sizes,
    assumptions_from,
    build_plan,
    format_plan,
    readme_bill,
    readme_block,
    update_readme,
    write_csv,
)
from xstilts.study.grid import plan_runs
from xstilts.study.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]
XL, XXL = HUB_SHAPES["facebook/xlm-roberta-xl"], HUB_SHAPES["facebook/xlm-roberta-xxl"]
LARGE = HUB_SHAPES["FacebookAI/xlm-roberta-large"]


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
    pilot = sizes * 3 * 3 * 2 + sizes  # lr grid x (xnli, xquad, panx) x seeds, and a selection per size
    assert plan.runs_per_phase == {
        "data": 1,
        "pretrained": sizes + pilot,
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
    # PaLM's convention: 6 N + 12 L d T per token, N the non-embedding parameters (not 6 x 550M)
    assert xnli.train_tokens == pytest.approx(xnli.train_examples * 50)  # MNLI pairs: 50 tokens
    assert xnli.train_flops == pytest.approx(xnli.train_tokens * flops_per_token(LARGE, 50))
    assert xnli.train_flops < 6 * 550e6 * xnli.train_tokens * 0.6
    # one GPU, no communication: the bill is compute or the launch floor, whichever is longer
    assert xnli.gpus == 1 and xnli.comm_gpu_hours == 0
    assert max(xnli.compute_gpu_hours, xnli.floor_gpu_hours) <= xnli.gpu_hours
    assert xnli.gpu_hours <= xnli.compute_gpu_hours + xnli.floor_gpu_hours + 1e-9
    assert xnli.wall_hours == pytest.approx(xnli.gpu_hours)
    tydiqa = next(c for c in plan.costs if c.phase == "target" and c.protocol == "tydiqa" and c.model == "base")
    assert tydiqa.steps == 2 * math.ceil(3696 / 16)  # QA: 4 x 4 = 16
    # eval-only protocols train nothing; every trained run evaluates something
    for c in plan.costs:
        if c.phase == "target":
            assert (c.steps == 0) == (c.protocol in ("bucc2018", "tatoeba"))
            assert c.eval_tokens > 0 and c.gpu_hours > 0
    # halving the utilisation doubles the compute bound of a run on the same layout (a slower GPU may
    # choose another one) and never shrinks the bill
    slower = build_plan(paper, Assumptions(mfu=0.2))
    same = 0
    for c, s in zip(plan.costs, slower.costs):
        if (c.micro_batch, c.grad_accum, c.checkpointing) == (s.micro_batch, s.grad_accum, s.checkpointing):
            assert s.compute_gpu_hours == pytest.approx(2 * c.compute_gpu_hours)
            assert s.comm_gpu_hours == pytest.approx(c.comm_gpu_hours)
            same += 1
    assert same > 0.9 * len(plan.costs)
    total, slow = plan.phase_rows()[-1], slower.phase_rows()[-1]
    assert total["gpu_hours"] < slow["gpu_hours"] <= 2 * total["gpu_hours"]


def test_flop_convention():
    """Non-embedding parameters: XLM-R's 250K-row embeddings are most of base and a tenth of XXL."""
    for shape, share in [(LARGE, 0.46), (XL, 0.18), (XXL, 0.10)]:
        n = non_embedding_params(shape, head=False)
        assert 1 - n / count_params(shape) == pytest.approx(share, abs=0.01)
    base = HUB_SHAPES["FacebookAI/xlm-roberta-base"]
    assert count_params(base) / non_embedding_params(base, head=False) == pytest.approx(3.2, abs=0.1)
    # the attention term: 12 L d T per trained token, a third of it per forward token
    assert flops_per_token(LARGE, 256) - flops_per_token(LARGE, 0) == 12 * 24 * 1024 * 256
    assert flops_per_token(LARGE, 256, train=False) * 3 == pytest.approx(flops_per_token(LARGE, 256))
    assert RECOMPUTE == pytest.approx(4 / 3)


def test_what_the_code_encodes_is_priced(paper):
    """Multiple choice runs every choice, QA windows cut at 384, dual encoders two passes cut at their own
    lengths, LAReQA/Mewsli-X candidate pools once per test language."""
    sizes = Sizes.from_csv()
    plan = build_plan(paper)

    def run(phase, key, model="large"):
        return next(
            c for c in plan.costs if c.phase == phase and c.model == model and key in (c.arm, c.protocol) and c.steps
        )

    hs = run("intermediate", "hellaswag")
    tok = sizes.english("hellaswag", "train").tokens
    assert hs.train_tokens == pytest.approx(hs.train_examples * tok)  # 4 choices of 70 tokens
    assert hs.train_flops == pytest.approx(hs.train_examples * 4 * tok / 4 * flops_per_token(LARGE, tok / 4))
    la = run("target", "lareqa")
    pair = sizes.english("lareqa", "train")
    assert pair.query_tokens and pair.tokens - pair.query_tokens > 150  # the candidate: sentence + paragraph
    q, cand = min(pair.query_tokens, 96), min(pair.tokens - pair.query_tokens, 256)
    assert la.train_flops == pytest.approx(
        la.train_examples * (q * flops_per_token(LARGE, q) + cand * flops_per_token(LARGE, cand))
    )
    mx = run("target", "mewslix")
    corpus = sizes.corpus("mewslix", [])[0]
    langs = len(next(t for t in registry_tasks() if t.name == "mewslix").languages)
    pool = langs * corpus.examples * min(corpus.tokens, 64) * flops_per_token(LARGE, min(corpus.tokens, 64), False)
    assert langs == 11 and pool < mx.test_flops < 1.05 * pool  # the pool dominates: 11 x 1M descriptions
    xq = run("target", "xquad")
    assert xq.max_seq_len == 384
    # outputs are written per test example, not per candidate
    assert mx.output_examples == sum(s.examples for s in sizes.per_language("mewslix", "test", langs_of("mewslix")))


def test_qa_windows_and_caps():
    from types import SimpleNamespace

    from xstilts.compute.plan import Split, train_seqs

    qa = SimpleNamespace(format="qa", num_choices=None)
    assert train_seqs(qa, Split(1, 190.0), 384).parts == ((1, 190.0),)
    assert train_seqs(qa, Split(1, 600.0), 384).parts == ((3, 384),)  # starts 0, 128, 256 (doc stride 128)
    assert train_seqs(qa, Split(1, 300.0), 128).parts == ((1 + math.ceil(172 / 42), 128),)  # stride 128 // 3
    mc = SimpleNamespace(format="multiple_choice", num_choices=5)
    assert train_seqs(mc, Split(1, 110.0), 256).parts == ((5, 22.0),)
    assert train_seqs(mc, None, 64).parts == ((5, 64),)  # a miniature: full-length upper bound
    de = SimpleNamespace(format="entity_retrieval", num_choices=None)
    assert train_seqs(de, Split(1, 115.0, 50.0), 64).parts == ((1, 50.0), (1, 64))


def registry_tasks():
    from xstilts.benchmarks.registry import REGISTRY

    return list(REGISTRY.values())


def langs_of(name: str) -> list[str]:
    return list(next(t for t in registry_tasks() if t.name == name).languages)


def test_measured_throughput_overrides_the_flops_estimate(paper):
    measured = Assumptions(
        throughput={"large": {"train_tokens_per_s": 1e5, "eval_tokens_per_s": 4e5}}, bench_source="bench.json"
    )
    plan = build_plan(paper, measured)
    c = next(c for c in plan.costs if c.phase == "target" and c.model == "large" and c.steps)
    assert c.gpu_hours == pytest.approx(c.train_tokens / 1e5 / 3600 + c.eval_tokens / 4e5 / 3600)
    base = next(c for c in plan.costs if c.phase == "target" and c.model == "base" and c.steps)
    assert base.compute_gpu_hours == pytest.approx(base.flops / measured.flops_per_gpu_s / 3600)
    assert "measured throughput for large from bench.json" in " ".join(format_plan(plan).split())


def test_fsdp_marks_and_memory_model(paper):
    plan = build_plan(paper)
    gpus = {}
    for c in plan.costs:
        if c.phase == "target" and c.steps:
            gpus.setdefault(c.model, set()).add(c.gpus)
    # the profile's layout is what is priced (paper.yaml: xl on 2 GPUs, xxl on 4), each at its micro-batch
    assert gpus == {"base": {1}, "large": {1}, "xl": {2}, "xxl": {4}}
    assert plan.fsdp == {"xl": 2, "xxl": 4}
    assert {c.micro_batch for c in plan.costs if c.model == "xxl" and c.steps} == {4}
    # --ranks overrides it, and then the fastest layout that fits is priced: xl fits one GPU
    free = build_plan(paper, Assumptions(ranks={"xl": 1, "xxl": 8}))
    assert {c.gpus for c in free.costs if c.model in ("xl", "xxl") and c.steps} == {1, 8}
    assert free.fsdp == {"xxl": 8}
    # the arithmetic the brief states: AdamW mixed precision is 16 bytes/param
    assert 10.7e9 * 16 > 80e9 and needs_fsdp(int(10.7e9), XXL, 32, 256)
    assert not needs_fsdp(550_000_000, LARGE, 16, 384)
    assert train_memory_gb(int(3.5e9), None, 4, 256, num_gpus=2) < train_memory_gb(int(3.5e9), None, 4, 256)
    # parameter counts from the shapes match the published sizes (docs/benchmarks.md §6) within 5%
    for hub, published in [
        ("FacebookAI/xlm-roberta-base", 278e6),
        ("FacebookAI/xlm-roberta-large", 560e6),
        ("facebook/xlm-roberta-xl", 3.5e9),
        ("facebook/xlm-roberta-xxl", 10.7e9),
    ]:
        assert count_params(HUB_SHAPES[hub]) == pytest.approx(published, rel=0.05)


@pytest.mark.parametrize("ranks", [4, 8])
@pytest.mark.parametrize("effective, seq", [(32, 256), (16, 384), (32, 64)])
def test_xxl_fits_4_and_8_gpus_at_the_recipes_batch(ranks, effective, seq):
    """XXL on 4 or 8 x 80 GB keeps the recipe's effective batch (32, QA 16) with no accumulation at all:
    micro-batch per GPU x GPUs = the effective batch, sharded, with activation checkpointing."""
    fits = layouts(int(10.7e9), XXL, effective, seq, ranks)
    assert fits and all(lay.effective_batch == effective and lay.checkpointing for lay in fits)
    best = fits[0]
    assert best.grad_accum == 1 and best.micro_batch == effective // ranks
    assert best.memory_gb <= 0.9 * 80e9 / 2**30
    assert not layouts(int(10.7e9), XXL, effective, seq, 2)  # 16 B x 10.7B / 2 > 80 GB


def test_unsharded_accumulation_is_what_does_not_fit():
    """no_sync accumulation holds a full fp32 gradient on each rank: XXL at 4 x 4 x 2 no longer fits."""
    usable = 0.9 * 80e9 / 2**30
    sharded = train_memory_gb(int(10.7e9), XXL, 4, 256, 4, True, grad_accum=2)
    unsharded = train_memory_gb(int(10.7e9), XXL, 4, 256, 4, True, grad_accum=2, sharded_accumulation=False)
    assert sharded < usable < unsharded
    assert unsharded - sharded == pytest.approx(10.7e9 * 4 / 2**30)
    # XL fits one GPU (no FSDP) at the recipe's batch, some layout of it; large fits easily
    assert min_ranks(int(3.5e9), XL, 32, 256) == 1 and min_ranks(int(3.5e9), XL, 16, 384) == 1
    assert min_ranks(int(10.7e9), XXL, 32, 256) == 4


def test_communication_of_a_sharded_run(paper):
    a = Assumptions()
    plan = build_plan(paper, a)
    c = next(c for c in plan.costs if c.phase == "target" and c.protocol == "xnli" and c.model == "xxl")
    assert (c.gpus, c.micro_batch, c.grad_accum, c.checkpointing) == (4, 4, 2, True)  # paper.yaml: xxl 4 x 4
    train = c.micro_batches * COMM_BYTES_TRAIN * c.params * 3 / 4
    dev = c.dev_batches * COMM_BYTES_FORWARD * c.params * 3 / 4
    assert c.comm_gpu_hours == pytest.approx((train + dev) / 360e9 * 4 / 3600)
    assert c.compute_gpu_hours > 0 and c.gpu_hours >= max(c.compute_gpu_hours, c.comm_gpu_hours)
    # more GPUs: more bytes per GPU, the same compute, a bigger bill; a slower interconnect costs more
    eight = build_plan(paper, Assumptions(ranks={"xxl": 8}))
    c8 = next(x for x in eight.costs if x.run == c.run)
    assert (c8.gpus, c8.micro_batch, c8.grad_accum) == (8, 4, 1)
    assert c8.comm_gpu_hours > c.comm_gpu_hours and c8.gpu_hours > c.gpu_hours
    assert c8.train_flops == c.train_flops and c8.compute_gpu_hours > c.compute_gpu_hours  # evaluation holds 8
    slow = build_plan(paper, Assumptions(intra_node_gb_s=90.0))
    cs = next(x for x in slow.costs if x.run == c.run)
    assert cs.comm_gpu_hours == pytest.approx(4 * c.comm_gpu_hours)
    with pytest.raises(ValueError, match="no layout"):
        build_plan(paper, Assumptions(ranks={"xxl": 2}))


def test_wall_clock_against_the_time_limit(paper):
    plan = build_plan(paper, Assumptions(time_limit_h=2.0))
    over = [c for c in plan.costs if c.requeues]
    assert over and all(c.wall_hours > 2.0 and c.requeues == math.ceil(c.wall_hours / 2.0) - 1 for c in over)
    assert all(c.wall_hours <= 2.0 for c in plan.costs if not c.requeues)
    text = format_plan(plan)
    assert "2 h job limit" in text and " R1" in text
    rows = {r["model"]: r for r in plan.model_rows()}
    assert rows["xxl"]["runs_over_limit"] == sum(1 for c in over if c.model == "xxl")
    assert not build_plan(paper).phase_rows()[-1]["runs_over_limit"]  # nothing outlives 24 h


def test_readme_quotes_the_current_bill(paper):
    """The README's bill is `xstilts plan paper --readme README.md` at the stated defaults: rerun it when
    the plan changes."""
    text = (ROOT / "README.md").read_text()
    assert readme_bill(text) == readme_block(build_plan(paper, Assumptions())), (
        "README.md's bill differs from the plan: run `make readme-bill`"
    )


def test_update_readme(paper, tmp_path):
    plan = build_plan(load_profile("smoke"))
    path = tmp_path / "README.md"
    path.write_text("# x\n\n<!-- bill: old -->\nstale\n<!-- /bill -->\n\nafter\n")
    assert update_readme(path, plan) is True
    text = path.read_text()
    assert text.startswith("# x\n\n") and text.endswith("\n\nafter\n") and readme_bill(text) == readme_block(plan)
    assert update_readme(path, plan) is False
    path.write_text("no block\n")
    with pytest.raises(ValueError, match="no bill block"):
        update_readme(path, plan)


def test_gpu_check_report_feeds_the_plan(tmp_path):
    from xstilts.compute.gpucheck import plan_inputs

    checks = {
        "mfu_xlmr_large": {"ok": True, "mfu_xlmr_large_bf16": 0.31},
        "launch_floor": {"ok": True, "ms_per_layer": 0.21},
        "collectives": {"ok": True, "all_gather_bus_gb_s": 250.0},
    }
    report = {"devices": [{"name": "NVIDIA H100 80GB HBM3"}], "checks": checks, "plan_inputs": plan_inputs(checks)}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    a = assumptions_from(gpu_check=str(path), bench=str(tmp_path / "none.json"))
    assert (a.mfu, a.layer_floor_ms, a.intra_node_gb_s, a.gpu) == (0.31, 0.21, 250.0, "NVIDIA H100 80GB HBM3")
    assert assumptions_from(gpu_check=str(path), mfu=0.5, bench=str(tmp_path / "none.json")).mfu == 0.5
    assert assumptions_from(ranks=["xxl=8"], bench=str(tmp_path / "none.json")).ranks == {"xxl": 8}
    with pytest.raises(ValueError, match="MODEL=GPUS"):
        assumptions_from(ranks=["xxl"])


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
    assert d["in_flight_resumable_states"] == pytest.approx(8 * 12 * 10.7e9)
    assert d["peak"] < d["peak_without_hygiene"]
    # a finished profile keeps the caches and every run's outputs, no encoder and no intermediate checkpoint
    assert d["final"] == pytest.approx(d["hub_models"] + d["datasets"] + d["features"] + d["run_outputs"])
    assert d["final"] < d["peak"] - d["intermediate_checkpoints"]
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
    assert "comm GPU-h" in out and "wall-clock per run" in out and "24 h job limit" in out
    with open(outputs / "paper" / "plan" / "plan.csv") as fh:
        rows = {r["phase"]: r for r in csv.DictReader(fh)}
    assert int(rows["target"]["runs"]) == 1492 and int(rows["total"]["runs"]) == 1614
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


def test_a_hub_profiles_plan_imports_no_miniworld_module():
    """`xstilts runs` prices a finished profile with the plan: for the rehearsal (and paper) that must not
    import the miniature's code (its module list is checked in tests/test_rehearsal.py for the phases)."""
    code = (
        "import sys; from xstilts.compute.plan import build_plan; from xstilts.study.profile import load_profile; "
        "build_plan(load_profile('rehearsal', check_licences=False)); "
        "print(sorted(m for m in sys.modules if m.startswith('xstilts.miniworld')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
