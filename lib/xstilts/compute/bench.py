"""``make bench``: the engine's speed, measured, not asserted.

In one run, on one tiny-but-realistic XLM-R (4 layers x 128 hidden, random init) and one pair-classification
task whose lengths are long-tailed (Pareto, as real sentence lengths), with the same batch size, steps and
threads for every contender:

- ``trainer_vs_bare``: our ``finetune`` loop vs a bare PyTorch forward/backward/clip/step loop over the
  very same (pre-collated) batches: the trainer's overhead; goal >= 0.95.
- ``trainer_vs_hf_trainer``: vs the Hugging Face ``Trainer`` with its defaults (random batches) on the
  same task, features padded to ``max_seq_len`` as ``run_glue.py`` does by default; goal >= 1.3.
  ``trainer_vs_hf_trainer_dynamic_padding`` also gives the ``Trainer`` dynamic padding
  (``DataCollatorWithPadding``), isolating the gain of length grouping.
- ``eval_examples_per_second`` (our ``predict``) and ``eval_vs_hf_trainer`` (``Trainer.predict``).
- On CUDA: ``mfu_xlmr_large_bf16``, model FLOPs utilisation of XLM-R-large-shaped bf16 fine-tuning
  (random init; ``compute/gpucheck.py``, FLOPs per ``compute/flops.py``).

``trainer_vs_bare`` is measured in its own block: after one untimed run of each loop, ``rounds`` (12)
pairs of the two back to back in ABBA order, each of ``steps`` (60) optimiser steps, every sample started
after a full garbage collection; the median of the per-pair ratios is reported with its quartiles and
range (``trainer_vs_bare_spread``). The Hugging Face and evaluation contenders alternate with ours over
``hf_rounds`` (3) rounds of ``hf_steps`` (30) steps. The headline ratios use process CPU time with one torch thread (``--timer cpu``,
default): on a shared machine wall time measures the neighbours; on an idle machine the two agree, and the
wall-clock ratios are written too (``wall_clock``).
``bench_paper_shape`` times the analysis (estimands and the joint bootstrap) on a synthetic study of the
paper's shape; its result is merged into bench.json.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from xstilts.analysis.bootstrap import joint_bootstrap
from xstilts.analysis.cells import CellTable
from xstilts.analysis.estimands import EstimandBuilder, weight_matrix
from xstilts.analysis.inference import bootstrap_p_value, percentile_ci
from xstilts.analysis.simulate import cells_to_table, gain_slopes, planned_design, simulate_cells
from xstilts.compute.gpucheck import mfu_xlmr_large, train_config
from xstilts.engine import toydata
from xstilts.engine.adapter_table import adapter_for
from xstilts.engine.encoders import load_encoder
from xstilts.engine.feature_cache import cached_featurize
from xstilts.engine.modeling import EngineModel
from xstilts.engine.predict import load_run, predict
from xstilts.engine.sampling import batch_stream
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.trainer import _rows, finetune, param_groups
from xstilts.engine.types import TaskData
from xstilts.paths import repo_root

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _setup(work: Path, layers: int, hidden: int, n_train: int, n_test: int, seed: int = 0):

    enc = toydata.make_tiny_encoder(
        work / "enc",
        layers=layers,
        hidden=hidden,
        heads=max(2, hidden // 64),
        ffn=4 * hidden,
        vocab_size=1000,
        seed=seed,
        max_positions=512,
    )
    task = toydata.task("pawsx", "classification", ["0", "1"])
    train = toydata.classification_set(n_train, 1, pair=True, long_tail=True)
    test = toydata.classification_set(n_test, 2, pair=True, long_tail=True)
    return enc, task, train, test


class _Clock:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c
        return False


def _rate(n: int, wall: float, cpu: float) -> dict:
    return {"wall": n / wall, "cpu": n / cpu}


def _time_ours(enc, task, train, hp, out: Path) -> dict:

    res = finetune(enc, [TaskData(task, train, None)], hp, seed=0, out_dir=out)
    n = hp.max_steps * hp.batch_size * hp.grad_accum
    return _rate(n, res.train_seconds, res.train_cpu_seconds)


def _bare_batches(enc, task, train, hp):
    """The exact batches our trainer draws (same sampler, same dynamic padding), collated up front."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(enc))
    adapter = adapter_for(task.format)
    feats = cached_featurize(adapter, train, tok, hp.max_seq_len, True, task, hp.cache_dir)
    stream = batch_stream(feats["length"], hp.batch_size, 0, hp.group_by_length)
    return [adapter.collate(_rows(feats, next(stream)), tok.pad_token_id) for _ in range(hp.max_steps)]


def _time_bare(enc, task, batches, hp) -> dict:
    """forward / backward / clip / AdamW step / linear schedule, nothing else."""
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(0)
    model = EngineModel(load_encoder(str(enc)), [task]).train()
    opt = torch.optim.AdamW(param_groups(model, 0.01), lr=hp.lr, eps=1e-8, fused=True)  # the trainer's kernel
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * len(batches)), len(batches))
    key = task.key
    with _Clock() as clock:
        for batch in batches:
            loss, _ = model(key, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
    return _rate(len(batches) * hp.batch_size, clock.wall, clock.cpu)


def _hf_dataset(enc, train, max_len: int, pad_to_max: bool):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(enc))

    def enc_fn(b):  # run_glue.py preprocess_function
        out = tok(
            b["text_a"], b["text_b"], padding="max_length" if pad_to_max else False, max_length=max_len, truncation=True
        )
        out["labels"] = b["label"]
        return out

    return tok, train.map(enc_fn, batched=True, remove_columns=train.column_names)


def _hf_trainer(enc, ds, tok, hp, out: Path, pad_to_max: bool, steps: int | None = None):
    from transformers import (
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        XLMRobertaForSequenceClassification,
        default_data_collator,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification.from_pretrained(str(enc), num_labels=2, attn_implementation="sdpa")
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps or hp.max_steps,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size * 2,
        learning_rate=hp.lr,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    collator = default_data_collator if pad_to_max else DataCollatorWithPadding(tok)
    return Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)


def _time_hf_train(enc, ds, tok, hp, out: Path, pad_to_max: bool) -> dict:
    trainer = _hf_trainer(enc, ds, tok, hp, out, pad_to_max)
    with _Clock() as clock:
        trainer.train()
    return _rate(hp.max_steps * hp.batch_size, clock.wall, clock.cpu)


def _time_ours_eval(run_dir, task, test) -> dict:

    run = load_run(run_dir)
    predict(run, task, test.select(range(min(64, len(test)))))  # warm-up + featurize the slice
    with _Clock() as clock:
        predict(run, task, test, batch_size=64)
    return _rate(len(test), clock.wall, clock.cpu)


def _time_hf_eval(enc, test_ds, tok, hp, out: Path) -> dict:
    trainer = _hf_trainer(enc, test_ds, tok, hp, out, True, steps=1)
    trainer.args.per_device_eval_batch_size = 64
    with _Clock() as clock:
        trainer.predict(test_ds)
    return _rate(len(test_ds), clock.wall, clock.cpu)


def _hp(work: Path, steps: int, batch_size: int, max_seq_len: int, **kw) -> TrainConfig:
    """The fine-tuning settings every timed run shares: lr 1e-5, no accumulation, no dev evaluation."""
    return train_config(work / "cache", steps, batch_size, max_seq_len, lr=1e-5, **kw)


# the timed task: a 4 x 128 XLM-R (random init) on pair classification with long-tailed lengths
SETUP = dict(layers=4, hidden=128, batch_size=16, max_seq_len=128, n_train=2000, n_test=1000)


def spread(values: list[float]) -> dict:
    """Median, quartiles (IQR) and range of repeated measurements of one quantity."""
    q1, med, q3 = (float(x) for x in np.percentile(values, [25, 50, 75]))
    return {
        "median": med,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": float(min(values)),
        "max": float(max(values)),
        "n": len(values),
    }


def _sample(fn: Callable[[object], dict], arg) -> dict:
    """One timed call, from the same heap state each time (a full collection first), so that a garbage
    collection started by the previous contender's leftovers is not billed to this one."""
    gc.collect()
    return fn(arg)


def _report(r: int, rounds: int, name: str, x: dict) -> None:
    print(
        f"  round {r + 1}/{rounds} {name}: {x['cpu']:.1f} examples per CPU-second, {x['wall']:.1f} per wall-second",
        flush=True,
    )


def run_bench(
    out_path: Path,
    steps: int = 60,
    rounds: int = 12,
    threads: int | None = 1,
    timer: str = "cpu",
    extra: list[Callable[[], dict]] = (),
    hf_rounds: int = 3,
    hf_steps: int = 30,
) -> dict:
    """The engine's ratios. Two interleaved blocks after a warm-up of both loops:

    - ``trainer_vs_bare``: ``rounds`` pairs of our trainer and the bare loop back to back, in ABBA order
      (pair r runs ours then bare when r is even, bare then ours when odd: drift and order effects cancel);
      the headline is the median over pairs of ours/bare, reported with its quartiles and range
      (``trainer_vs_bare_spread``).
    - ``hf_rounds`` rounds of ours, the HF ``Trainer`` (padded, dynamic padding) and both evaluations, all
      training for ``hf_steps``; each ratio the median over rounds of the contenders measured in the same
      round (these ratios are several-fold: three rounds of short runs resolve them).
    """
    layers, hidden, batch_size, max_seq_len, n_train, n_test = (SETUP[k] for k in SETUP)

    if threads:
        torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    enc, task, train, test = _setup(work, layers, hidden, n_train, n_test)
    hp = _hp(work, steps, batch_size, max_seq_len, log_every_steps=1000, num_threads=threads)
    hp_hf = _hp(work, hf_steps, batch_size, max_seq_len, log_every_steps=1000, num_threads=threads)
    batches = _bare_batches(enc, task, train, hp)
    tok, hf_padded = _hf_dataset(enc, train, max_seq_len, pad_to_max=True)
    _, hf_dynamic = _hf_dataset(enc, train, max_seq_len, pad_to_max=False)
    _, hf_test = _hf_dataset(enc, test, max_seq_len, pad_to_max=True)
    contenders = {
        "ours": lambda r: _time_ours(enc, task, train, hp, work / f"ours{r}"),
        "bare": lambda r: _time_bare(enc, task, batches, hp),
        "ours_hf_steps": lambda r: _time_ours(enc, task, train, hp_hf, work / f"oursh{r}"),
        "hf_trainer": lambda r: _time_hf_train(enc, hf_padded, tok, hp_hf, work / f"hf{r}", pad_to_max=True),
        "hf_trainer_dynamic_padding": lambda r: _time_hf_train(
            enc, hf_dynamic, tok, hp_hf, work / f"hfd{r}", pad_to_max=False
        ),
        "eval_ours": lambda r: _time_ours_eval(work / "ours_warm", task, test),
        "eval_hf_trainer": lambda r: _time_hf_eval(enc, hf_test, tok, hp_hf, work / f"hfe{r}"),
    }
    # warm-up, untimed: both loops once (feature cache, allocator, kernels), then the long-lived objects
    # of the setup are moved out of the collector's sight (gc.freeze) so that no collection scans them
    _time_ours(enc, task, train, hp, work / "ours_warm")
    _time_bare(enc, task, batches, hp)
    gc.collect()
    gc.freeze()
    pairs: dict[str, list[dict]] = {"ours": [], "bare": []}
    for r in range(rounds):
        for name in ("ours", "bare") if r % 2 == 0 else ("bare", "ours"):
            pairs[name].append(_sample(contenders[name], f"p{r}"))
            _report(r, rounds, name, pairs[name][-1])
    others = [k for k in contenders if k not in ("ours", "bare")]
    samples: dict[str, list[dict]] = {k: [] for k in others}
    for r in range(hf_rounds):
        for name in others:
            samples[name].append(_sample(contenders[name], r))
            _report(r, hf_rounds, name, samples[name][-1])
    gc.unfreeze()
    samples["ours"], samples["bare"] = pairs["ours"], pairs["bare"]
    wall = {k: statistics.median(x["wall"] for x in v) for k, v in samples.items()}
    cpu = {k: statistics.median(x["cpu"] for x in v) for k, v in samples.items()}
    med = cpu if timer == "cpu" else wall

    def ratios(a: list[dict], b: list[dict], clock: str) -> list[float]:
        return [x[clock] / y[clock] for x, y in zip(a, b)]

    def paired(a: str, b: str, clock: str = timer) -> float:
        """Median over rounds of the ratio of two contenders measured in the same round (drift cancels)."""
        return statistics.median(ratios(samples[a], samples[b], clock))

    pad_tokens = sum(b["input_ids"].numel() for b in batches)
    real_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    result = {
        "trainer_vs_bare": paired("ours", "bare"),
        "trainer_vs_bare_spread": spread(ratios(pairs["ours"], pairs["bare"], timer)),
        "trainer_vs_hf_trainer": paired("ours_hf_steps", "hf_trainer"),
        "trainer_vs_hf_trainer_dynamic_padding": paired("ours_hf_steps", "hf_trainer_dynamic_padding"),
        "eval_examples_per_second": med["eval_ours"],
        "eval_vs_hf_trainer": paired("eval_ours", "eval_hf_trainer"),
        "timer": timer,
        "train_examples_per_second": {
            k: med[k] for k in ("ours", "bare", "ours_hf_steps", "hf_trainer", "hf_trainer_dynamic_padding")
        },
        "wall_clock": {
            "trainer_vs_bare": paired("ours", "bare", "wall"),
            "trainer_vs_bare_spread": spread(ratios(pairs["ours"], pairs["bare"], "wall")),
            "trainer_vs_hf_trainer": paired("ours_hf_steps", "hf_trainer", "wall"),
            "trainer_vs_hf_trainer_dynamic_padding": paired("ours_hf_steps", "hf_trainer_dynamic_padding", "wall"),
            "eval_vs_hf_trainer": paired("eval_ours", "eval_hf_trainer", "wall"),
            "eval_examples_per_second": wall["eval_ours"],
        },
        "samples": samples,
        "padding_efficiency_ours": real_tokens / pad_tokens,
        "setup": {
            "model": f"XLM-R {layers}x{hidden} random init",
            "task": "pair classification, Pareto lengths",
            "steps": steps,
            "batch_size": batch_size,
            "max_seq_len": max_seq_len,
            "rounds": rounds,
            "order": "ABBA pairs of ours and bare after one untimed run of each",
            "hf_rounds": hf_rounds,
            "hf_steps": hf_steps,
            "n_train": n_train,
            "n_test": n_test,
            "torch_threads": torch.get_num_threads(),
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "goals": {"trainer_vs_bare": 0.95, "trainer_vs_hf_trainer": 1.3, "mfu_xlmr_large_bf16": 0.45},
    }
    if torch.cuda.is_available():
        result.update(mfu_xlmr_large(work))
    for fn in extra:
        result.update(fn())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    return result


def bench_paper_shape(
    n_boot: int = 10_000, seed: int = 0, examples_total: int = 2_000_000, progress: bool = True
) -> dict:
    """Time the estimands + joint bootstrap on a synthetic study of the paper's shape and report peak RSS.

    The shape: the task and language lists (docs/statistics.md §2.2) of both benchmarks (shared cells stored once),
    4 sizes x (none + 9 single + multitask) with 3 seeds per arm and 9 for `none`, and about
    `examples_total` test examples over all cells. A pandas table of that (~3e8 rows) would not fit
    24 GiB, so the cells are generated and summarised one at a time, streaming, straight into the
    analysis' cell summaries (xstilts.analysis.simulate); the run-level arrays of a cell are freed
    before the next is drawn. Returns timings (s), sizes and peak RSS (GiB)."""
    base = planned_design(n_examples=1)
    n_cells = sum(
        len(dict.fromkeys(t.langs_x + t.langs_r)) if not t.protocol_specific else len(t.langs_x) + len(t.langs_r)
        for t in base.tasks
    )
    design = planned_design(n_examples=max(1, examples_total // n_cells))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    cells, rows = [], 0
    slopes = gain_slopes(design, 0.0)
    for task in design.tasks:  # one task at a time keeps the run-level arrays of one task in memory
        one = simulate_cells(_one_task(design, task), 0.0, rng, slopes=slopes)
        rows += sum(r.shape[0] * r.shape[1] for c in one for r in c.runs.values())
        part = cells_to_table(one)
        cells.append(part)
        del one
    table = _merge_tables(cells)
    t1 = time.perf_counter()
    builder = EstimandBuilder(table)
    ests = builder.build()
    W = weight_matrix(ests, builder.layout.n_columns)
    t2 = time.perf_counter()
    boot = joint_bootstrap(table, W, n_boot=n_boot, seed=seed, progress=progress)
    t3 = time.perf_counter()
    percentile_ci(boot.replicates)
    bootstrap_p_value(boot.replicates)
    t4 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "examples": int(sum(c.n for c in table.cells)),
        "cells": len(table.cells),
        "rows_represented": int(rows),
        "systems": len(table.systems),
        "estimands": len(ests),
        "n_boot": n_boot,
        "generate_s": round(t1 - t0, 1),
        "estimands_s": round(t2 - t1, 1),
        "bootstrap_s": round(t3 - t2, 1),
        "intervals_s": round(t4 - t3, 1),
        "peak_rss_gib": round(peak, 2),
    }


def _one_task(design, task):
    from dataclasses import replace

    return replace(design, tasks=(task,))


def _merge_tables(parts: list[CellTable]) -> CellTable:
    systems = parts[0].systems
    cells, lookup = [], {}
    for p in parts:
        if p.systems != systems:
            raise ValueError("simulated parts disagree on the system list")
        for key, i in p.lookup.items():
            lookup[key] = i + len(cells)
        cells.extend(p.cells)
    bench_tasks: dict[str, dict[str, list[str]]] = {}
    for bench, task, lang in sorted(lookup):
        bench_tasks.setdefault(bench, {}).setdefault(task, []).append(lang)
    return CellTable(systems, cells, lookup, bench_tasks)


HEADLINE = (
    "trainer_vs_bare",
    "trainer_vs_hf_trainer",
    "trainer_vs_hf_trainer_dynamic_padding",
    "eval_vs_hf_trainer",
    "eval_examples_per_second",
    "padding_efficiency_ours",
    "mfu_xlmr_large_bf16",
)


def bench(
    out: Path | None = None,
    steps: int = 60,
    rounds: int = 12,
    threads: int | None = 1,
    timer: str = "cpu",
    analysis: bool = True,
    hf_rounds: int = 3,
) -> tuple[dict, Path]:
    """`make bench`: the engine ratios, and (unless `analysis=False`) the analysis at the paper's shape;
    writes bench.json (default outputs/bench/bench.json) and returns (results, path)."""
    import datasets
    from transformers.utils import logging as hf_logging

    out = Path(out) if out else repo_root() / "outputs" / "bench" / "bench.json"
    datasets.disable_progress_bars()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    extra = [lambda: {"analysis_paper_shape": bench_paper_shape(n_boot=10_000)}] if analysis else []
    result = run_bench(out, steps=steps, rounds=rounds, threads=threads, timer=timer, extra=extra, hf_rounds=hf_rounds)
    return result, out
