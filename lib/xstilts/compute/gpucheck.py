"""`make gpu-check` (`xstilts gpu-check`): what the paper path needs from a GPU node, measured in minutes.

Offline (random-init models, no hub), on every GPU the process sees. Each check's numbers, or its error,
go to `outputs/gpu-check/report.json`, rewritten after every check so that a crash keeps what was measured:

- `devices`: name, memory, compute capability and bf16 support of each GPU; torch, CUDA and NCCL versions.
- `rehearsal`: four tiny random-init encoders, two of the XLM-R class and two of the pre-LayerNorm XLM-R XL
  class, fine-tuned by the engine's `finetune` on CUDA in bf16 for a few steps and then scored by `predict`
  and by the retrieval `encode`: finite losses, steps/s, peak memory.
- `matmul`: a dense bf16 8192^3 matmul, TFLOP/s against the datasheet peak (what any MFU is bounded by).
- `mfu_xlmr_large`: model FLOPs utilisation of an XLM-R-large-shaped bf16 fine-tuning step through the
  engine's trainer (random init, batch 32 x 256 tokens; FLOPs per compute/flops.py).
- `launch_floor`: milliseconds per layer of one training micro-batch of a deep, narrow model, from the
  difference between 24 and 12 layers (the plan's `layer_floor_ms`).
- with two or more GPUs, under `torchrun --nproc_per_node 2` over NCCL: `fsdp2` (one FSDP2 `fully_shard`
  bf16 step of a tiny XLM-R XL, its loss against the same batch on one GPU), `fsdp_finetune` (the engine's
  `finetune` on 2 ranks, accelerate FSDP) and `collectives` (all-gather and reduce-scatter bus bandwidth of
  64 MiB shards, the nccl-tests convention: bus = (n - 1) / n x bytes / time).

`plan_inputs` collects what `xstilts plan --gpu-check` reads (MFU, launch floor, bandwidth). Exit status: 2
and one line where no CUDA GPU is visible; 1 when a check failed (the report says which); 0 otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from xstilts.compute.flops import flops_per_token
from xstilts.compute.memory import HUB_SHAPES, Shape

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}
# Four size slots of tiny models: (layers, hidden, heads, ffn, XL class)
REHEARSAL = {
    "base": (2, 16, 2, 32, False),
    "large": (3, 24, 2, 48, False),
    "xl": (3, 32, 4, 64, True),
    "xxl": (4, 48, 4, 96, True),
}
FSDP_ARCH = dict(layers=4, hidden=256, heads=4, ffn=1024)  # the 2-rank checks' XLM-R XL (random init)
NO_GPU = "xstilts gpu-check: no CUDA GPU visible (torch.cuda.is_available() is False); run it on a GPU node"


class NoGPU(RuntimeError):
    pass


def peak_flops(name: str) -> float | None:
    """The datasheet bf16 dense peak of a GPU, by name (None when the name is not in the table)."""
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def random_encoder(out_dir: Path, arch: dict, tokenizer_dir: Path, xl: bool = False, vocab: int | None = None, seed=0):
    """A random-init XLM-R (or, `xl`, pre-LayerNorm XLM-R XL) encoder saved with the tokenizer of
    `tokenizer_dir`; `vocab` sets the embedding rows (default: the tokenizer's size)."""
    from transformers import AutoTokenizer

    from xstilts.engine.encoders import model_class
    from xstilts.engine.pretrain import mlm_config

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = mlm_config({"max_positions": 512, **arch}, tok, xl=xl)
    if vocab:
        config.vocab_size = vocab
    torch.manual_seed(seed)
    model_class(config)(config, add_pooling_layer=False).save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
    return Path(out_dir)


def train_config(cache_dir: Path, steps: int, batch_size: int, max_seq_len: int, **kw):
    """A quiet fine-tuning configuration for timed and checked runs: `steps` optimiser steps, no dev
    evaluation unless `kw` asks for one, no progress bars, the feature cache in `cache_dir`."""
    from xstilts.engine.train_config import TrainConfig

    base = dict(max_steps=steps, batch_size=batch_size, grad_accum=1, max_seq_len=max_seq_len, eval_every_steps=0)
    return TrainConfig(**{**base, "progress": False, "cache_dir": str(cache_dir), **kw})


def _tokenizer(work: Path) -> Path:
    from xstilts.engine import toydata

    path = work / "tok"
    if not (path / "tokenizer.json").is_file():
        toydata.make_tiny_encoder(path, vocab_size=300)
    return path


def mfu_xlmr_large(
    work: Path, steps: int = 20, batch_size: int = 32, seq_len: int = 256, shape: Shape | None = None
) -> dict:
    """MFU of XLM-R-large-shaped bf16 fine-tuning with our trainer (random init, fixed-length inputs)."""
    import datasets

    from xstilts.engine import toydata
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    shape = shape or HUB_SHAPES["FacebookAI/xlm-roberta-large"]
    arch = dict(layers=shape.layers, hidden=shape.hidden, heads=shape.heads, ffn=shape.ffn)
    enc_dir = random_encoder(work / "large", arch, _tokenizer(work), vocab=shape.vocab)
    words = toydata.vocabulary(400)
    rng = np.random.default_rng(0)
    n = steps * batch_size
    text = [" ".join(rng.choice(words, size=seq_len)) for _ in range(n)]
    train = datasets.Dataset.from_dict(
        {
            "id": [str(i) for i in range(n)],
            "text_a": text,
            "text_b": [None] * n,
            "label": rng.integers(0, 2, n).tolist(),
        }
    )
    task = toydata.task("mfu", "classification", ["0", "1"])
    hp = train_config(work / "cache", steps, batch_size, seq_len, bf16=True)
    warm = train_config(work / "cache", 3, batch_size, seq_len, bf16=True)
    finetune(enc_dir, [TaskData(task, train, None)], warm, seed=0, out_dir=work / "mfu_warm")
    res = finetune(enc_dir, [TaskData(task, train, None)], hp, seed=0, out_dir=work / "mfu")
    achieved = res.examples_per_second * seq_len * flops_per_token(shape, seq_len)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    peak = peak_flops(name)
    return {
        "mfu_device": name,
        "mfu_achieved_tflops": achieved / 1e12,
        "mfu_xlmr_large_bf16": achieved / peak if peak else None,
        "mfu_shape": {**arch, "vocab": shape.vocab, "batch": batch_size, "seq_len": seq_len},
    }


# --- checks (each returns its measured numbers; an exception fails it) -------------------------------


def check_devices(ctx: dict) -> dict:
    devices = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        devices.append(
            {
                "name": p.name,
                "memory_gb": round(p.total_memory / 1e9, 1),
                "capability": f"{p.major}.{p.minor}",
                "peak_bf16_tflops": (peak_flops(p.name) or 0) / 1e12 or None,
            }
        )
    ctx["devices"] = devices
    return {
        "count": len(devices),
        "bf16_supported": torch.cuda.is_bf16_supported(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nccl": ".".join(map(str, torch.cuda.nccl.version())) if torch.distributed.is_nccl_available() else None,
    }


def check_rehearsal(ctx: dict) -> dict:
    """The four tiny size slots through finetune (bf16 autocast on CUDA), predict and encode."""
    from xstilts.engine import toydata
    from xstilts.engine.predict import load_run, predict
    from xstilts.engine.retrieval import encode
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    work = ctx["work"]
    task = toydata.task("pawsx", "classification", ["0", "1"])
    train = toydata.classification_set(256, 1, pair=True)
    dev, test = toydata.classification_set(32, 2, pair=True), toydata.classification_set(64, 3, pair=True)
    out = {}
    for name, (layers, hidden, heads, ffn, xl) in REHEARSAL.items():
        arch = dict(layers=layers, hidden=hidden, heads=heads, ffn=ffn)
        enc = random_encoder(work / f"rehearsal-{name}", arch, _tokenizer(work), xl=xl)
        hp = train_config(work / "cache", 8, 8, 64, grad_accum=2, eval_every_steps=4, eval_subset=32, bf16=True)
        torch.cuda.reset_peak_memory_stats()
        res = finetune(enc, [TaskData(task, train, dev)], hp, seed=0, out_dir=work / f"run-{name}")
        log = [json.loads(line) for line in (work / f"run-{name}" / "train_log.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in log if "loss" in r]
        if not losses or not all(np.isfinite(losses)):
            raise FloatingPointError(f"{name}: training losses {losses}")
        device = next(r["device"] for r in log if r.get("event") == "start")
        if not device.startswith("cuda"):
            raise RuntimeError(f"{name}: finetune ran on {device}, not CUDA")
        preds, _ = predict(load_run(work / f"run-{name}"), task, test)
        emb = encode(str(work / f"run-{name}" / "encoder"), list(test["text_a"][:16]), progress=False)
        if not np.isfinite(emb).all():
            raise FloatingPointError(f"{name}: non-finite embeddings from encode()")
        out[name] = {
            "class": "XLMRobertaXLModel" if xl else "XLMRobertaModel",
            "steps": res.steps,
            "losses": losses,
            "best_score": res.best_score,
            "train_examples_per_second": res.examples_per_second,
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 3),
            "predictions": len(preds),
        }
    return out


def _cuda_seconds(fn: Callable[[], None], iters: int, warmup: int = 3) -> float:
    """Mean seconds of `fn` on the current device (CUDA events, after warm-up)."""
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / iters


def check_matmul(ctx: dict) -> dict:
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    seconds = _cuda_seconds(lambda: a @ b, iters=20)
    achieved = 2 * n**3 / seconds
    peak = peak_flops(torch.cuda.get_device_name(0))
    return {"n": n, "tflops": achieved / 1e12, "of_peak": achieved / peak if peak else None}


def check_mfu(ctx: dict) -> dict:
    return mfu_xlmr_large(ctx["work"] / "mfu")


def _step_seconds(layers: int, micro_batch: int = 4, seq_len: int = 32) -> float:
    """Seconds of one bf16 training step (forward, backward, AdamW) of a deep narrow XLM-R on CUDA."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(
        vocab_size=1000, hidden_size=64, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=256
    )
    model = XLMRobertaModel(config, add_pooling_layer=False).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    ids = torch.randint(5, 1000, (micro_batch, seq_len), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids).last_hidden_state.float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return _cuda_seconds(step, iters=50, warmup=5)


def check_launch_floor(ctx: dict) -> dict:
    """A layer's forward and backward of a tiny micro-batch cost kernel launches, not FLOPs: the slope
    between 12 and 24 layers is the per-layer floor (the optimiser step and the head cancel)."""
    t12, t24 = _step_seconds(12), _step_seconds(24)
    return {"step_ms_12_layers": t12 * 1e3, "step_ms_24_layers": t24 * 1e3, "ms_per_layer": (t24 - t12) / 12 * 1e3}


def _torchrun(ctx: dict, worker: str, nproc: int = 2, timeout: int = 600) -> dict:
    """Run `worker` of this module on `nproc` ranks (torchrun, NCCL); rank 0's JSON result."""
    out = ctx["work"] / f"{worker}.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "xstilts.compute.gpucheck",
        "--worker",
        worker,
        "--work",
        str(ctx["work"]),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ})
    if proc.returncode or not out.is_file():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"torchrun {worker} exited {proc.returncode}:\n" + "\n".join(tail))
    return json.loads(out.read_text())


def check_fsdp2(ctx: dict) -> dict:
    return _torchrun(ctx, "fsdp2")


def check_fsdp_finetune(ctx: dict) -> dict:
    from xstilts.engine import toydata

    tok = _tokenizer(ctx["work"])
    random_encoder(ctx["work"] / "fsdp-xl", dict(layers=2, hidden=64, heads=4, ffn=128), tok, xl=True)
    toydata.classification_set(128, 1, pair=True).save_to_disk(str(ctx["work"] / "fsdp-train"))
    return _torchrun(ctx, "fsdp_finetune")


def check_collectives(ctx: dict) -> dict:
    return _torchrun(ctx, "collectives")


CHECKS: list[tuple[str, Callable[[dict], dict], int]] = [  # (name, check, GPUs it needs)
    ("devices", check_devices, 1),
    ("rehearsal", check_rehearsal, 1),
    ("matmul", check_matmul, 1),
    ("mfu_xlmr_large", check_mfu, 1),
    ("launch_floor", check_launch_floor, 1),
    ("fsdp2", check_fsdp2, 2),
    ("fsdp_finetune", check_fsdp_finetune, 2),
    ("collectives", check_collectives, 2),
]


# --- the report ------------------------------------------------------------------------------------


def plan_inputs(checks: dict) -> dict:
    """What `xstilts plan --gpu-check` reads, from the checks that measured it."""
    return {
        "mfu": checks.get("mfu_xlmr_large", {}).get("mfu_xlmr_large_bf16"),
        "layer_floor_ms": checks.get("launch_floor", {}).get("ms_per_layer"),
        "intra_node_gb_s": checks.get("collectives", {}).get("all_gather_bus_gb_s"),
    }


def run_checks(checks, ctx: dict, out: Path, gpus: int) -> dict:
    """Run `checks` [(name, fn, GPUs needed)] in order; each one's numbers (or its error and traceback,
    or why it was skipped) go into the report, rewritten at `out` after every check."""
    report = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "gpus": gpus,
        "devices": [],
        "checks": {},
    }
    for name, fn, needs in checks:
        entry: dict = {"ok": None}
        if gpus < needs:
            entry["skipped"] = f"needs {needs} GPUs, {gpus} visible"
        else:
            started = time.perf_counter()
            try:
                entry.update(fn(ctx))
                entry["ok"] = True
            except Exception as err:  # a failed check is reported, the next one still runs
                entry.update(ok=False, error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
            entry["seconds"] = round(time.perf_counter() - started, 2)
        report["checks"][name] = entry
        report["devices"] = ctx.get("devices", [])
        report["ok"] = all(e["ok"] is not False for e in report["checks"].values())
        report["plan_inputs"] = plan_inputs(report["checks"])
        _write(out, report)
    return report


def _write(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str) + "\n")
    tmp.replace(path)


def gpu_check(out: Path, work: Path | None = None) -> dict:
    """Every check on the GPUs this process sees; raises NoGPU where there is none."""
    import tempfile

    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        raise NoGPU(NO_GPU)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    work = Path(work or tempfile.mkdtemp(prefix="xstilts-gpu-check-"))
    return run_checks(CHECKS, {"work": work}, Path(out), torch.cuda.device_count())


def summary(report: dict) -> str:
    """One line per check for the console."""
    lines = []
    for name, e in report["checks"].items():
        if e.get("skipped"):
            lines.append(f"{name}: skipped ({e['skipped']})")
        elif not e["ok"]:
            lines.append(f"{name}: FAILED {e['error'].splitlines()[0]}")
        else:
            shown = {k: v for k, v in e.items() if isinstance(v, (int, float)) and k not in ("ok", "seconds")}
            lines.append(f"{name}: ok in {e['seconds']} s " + " ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return "\n".join(lines)


# --- the 2-rank workers (run by torchrun: python -m xstilts.compute.gpucheck --worker NAME --work DIR) ---


def _dist_init() -> tuple[int, int, torch.device]:
    """NCCL on this rank's GPU; gloo on the CPU where there is none (the tests run the workers so)."""
    import torch.distributed as dist

    local = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size(), device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker_fsdp2(work: Path) -> dict:
    """One FSDP2 bf16 step of a random XLM-R XL on every rank (each its half of the batch), the loss
    against the whole batch on one unsharded copy, then an AdamW step and a second loss."""
    import torch.distributed as dist
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from transformers import XLMRobertaXLConfig, XLMRobertaXLModel

    rank, world, device = _dist_init()
    a = FSDP_ARCH
    config = XLMRobertaXLConfig(
        vocab_size=1000,
        hidden_size=a["hidden"],
        num_hidden_layers=a["layers"],
        num_attention_heads=a["heads"],
        intermediate_size=a["ffn"],
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(0)
    model = XLMRobertaXLModel(config, add_pooling_layer=False).to(device)
    ids = torch.randint(5, 1000, (4 * world, 64), generator=torch.Generator().manual_seed(1)).to(device)

    def loss_of(m, x):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return m(input_ids=x).last_hidden_state.float().pow(2).mean()

    with torch.no_grad():
        reference = float(loss_of(model, ids))  # the whole batch, unsharded, on every rank
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in model.encoder.layer:
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    local_params = sum(p.to_local().numel() for p in model.parameters())  # DTensor shards until a forward
    total_params = sum(p.numel() for p in model.parameters())
    # The loss is the mean square of the final LayerNorm's output, which only its gain can lower: at lr 1e-3
    # Adam's first step takes the gain to 0.999, which rounds back to 1.0 in the bf16 parameters, and the
    # loss then moved up or down by rounding (up on an AVX-512 CPU). At 1e-2 the gain is 0.99 in bf16 too.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    mine = ids[rank::world]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    loss = loss_of(model, mine)
    loss.backward()
    opt.step()
    opt.zero_grad()
    _sync(device)
    seconds = time.perf_counter() - t0
    sharded = loss.detach().clone()
    dist.all_reduce(sharded)
    sharded = float(sharded) / world  # equal halves: the mean of the rank means is the batch mean
    after = loss_of(model, mine).detach()
    dist.all_reduce(after)
    after = float(after) / world
    out = {
        "world_size": world,
        "loss_one_gpu": reference,
        "loss_sharded": sharded,
        "relative_difference": abs(sharded - reference) / abs(reference),
        "loss_after_step": after,
        "first_step_seconds": seconds,
        "params_total": total_params,
        "params_local_rank0": local_params,
        "peak_memory_gb": round(torch.cuda.max_memory_allocated(device) / 1e9, 3) if device.type == "cuda" else None,
    }
    if not out["relative_difference"] < 2e-2:
        raise AssertionError(f"sharded loss {sharded} vs one GPU {reference}")
    if not after < sharded:
        raise AssertionError(f"an AdamW step at lr 1e-2 did not lower the loss ({sharded} -> {after})")
    return out


def worker_fsdp_finetune(work: Path) -> dict:
    """The engine's finetune on a tiny XLM-R XL, every rank (accelerate FSDP when WORLD_SIZE > 1)."""
    import datasets

    from xstilts.engine import toydata
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    train = datasets.load_from_disk(str(work / "fsdp-train"))
    task = toydata.task("pawsx", "classification", ["0", "1"])
    hp = train_config(work / f"cache-rank{rank}", 4, 4, 64, grad_accum=2, bf16=True)
    res = finetune(work / "fsdp-xl", [TaskData(task, train, None)], hp, seed=0, out_dir=work / "fsdp-run")
    log = [json.loads(line) for line in (work / "fsdp-run" / "train_log.jsonl").read_text().splitlines()]
    start = next(r for r in log if r.get("event") == "start")
    losses = [r["loss"] for r in log if "loss" in r]
    if not losses or not all(np.isfinite(losses)):
        raise FloatingPointError(f"training losses {losses}")
    return {
        "world_size": world,
        "processes_in_log": start["processes"],
        "steps": res.steps,
        "losses": losses,
        "train_seconds": res.train_seconds,
        "encoder_saved": (work / "fsdp-run" / "encoder" / "config.json").is_file(),
    }


def worker_collectives(work: Path) -> dict:
    """All-gather and reduce-scatter of 64 MiB bf16 shards per rank: bus bandwidth (nccl-tests)."""
    import torch.distributed as dist

    rank, world, _ = _dist_init()
    n = 32 * 2**20  # bf16 elements per shard: 64 MiB
    shard = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    full = torch.empty(n * world, device="cuda", dtype=torch.bfloat16)  # CUDA events time it: GPUs only
    gather = _cuda_seconds(lambda: dist.all_gather_into_tensor(full, shard), iters=20)
    scatter = _cuda_seconds(lambda: dist.reduce_scatter_tensor(shard, full), iters=20)
    total = full.numel() * full.element_size()

    def bus(seconds: float) -> float:
        return total / seconds * (world - 1) / world / 1e9

    return {
        "world_size": world,
        "bytes_gathered": total,
        "all_gather_bus_gb_s": bus(gather),
        "reduce_scatter_bus_gb_s": bus(scatter),
    }


WORKERS = {"fsdp2": worker_fsdp2, "fsdp_finetune": worker_fsdp_finetune, "collectives": worker_collectives}


def _worker_main(argv: list[str]) -> int:
    import argparse

    import torch.distributed as dist

    parser = argparse.ArgumentParser(prog="python -m xstilts.compute.gpucheck")
    parser.add_argument("--worker", choices=sorted(WORKERS), required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args(argv)
    result = WORKERS[args.worker](args.work)
    if int(os.environ.get("RANK", "0")) == 0:
        (args.work / f"{args.worker}.json").write_text(json.dumps(result, indent=1, default=str))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
