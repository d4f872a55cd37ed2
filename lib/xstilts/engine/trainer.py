"""``finetune``: single- and multi-task fine-tuning with jiant's recipe (docs/recipe.md §2).

- Steps: ``max_steps`` or sum over tasks of ``epochs * ceil(N_t / (batch_size * grad_accum))``.
- One task per optimiser step, all its grad-accum micro-batches from it; tasks sampled in proportion to
  their training-set size (jiant ``ProportionalMultiTaskSampler``, ``runner.py::run_train_step``).
- AdamW (eps 1e-8, weight decay 0.01 except bias/LayerNorm; the fused kernel, on CPU too), linear warmup over
  ``warmup_ratio`` then linear decay, gradient clipping at ``max_grad_norm``.
- Model selection: every ``eval_every_steps`` the first ``eval_subset`` examples of each training task's
  **English dev set** are scored; the selection metric is their mean; the best checkpoint is kept
  (``out_dir/encoder/`` + ``out_dir/heads.safetensors``); ``patience`` evals without improvement stop
  training. A target-language dev set is never used.
- Layout (how a machine runs the recipe, not part of it): per optimiser step the ``grad_accum`` batches of
  ``batch_size`` drawn from the stream are concatenated (E = batch_size * grad_accum indices, in order) and
  cut into A = E / (processes * micro_batch) micro-steps of processes * micro_batch indices; process r
  takes every processes-th index from r of each, and each micro-step's loss is divided by A. Every process
  draws the same batches, so the gradient averaged by DDP / FSDP2 equals the 1-process gradient (losses
  are per-example means). ``micro_batch=None`` on one process is the recipe's own cut (A = grad_accum).
- Distributed (``distributed.py``): DDP, or FSDP2 for XL-class encoders with several processes.
- Requeue-safe (``resume_dir``; ``checkpoint.py``): a resumable checkpoint every ``checkpoint_minutes`` and
  on SIGTERM / SIGUSR1 (then ``TrainingInterrupted``); the same call again resumes from it and ends with
  the model an uninterrupted run gives (bitwise on CPU). docs/design.md §13.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from xstilts.engine import checkpoint
from xstilts.engine.adapter_table import adapter_for
from xstilts.engine.adapters import column, head_key
from xstilts.engine.distributed import (
    any_rank,
    autocast,
    barrier,
    from_rank0,
    full_state_dict,
    prepare,
    processes,
    unwrap,
)
from xstilts.engine.encoders import is_xl_config, load_encoder, load_tokenizer, resolve_encoder_dir
from xstilts.engine.feature_cache import cached_featurize
from xstilts.engine.layers import set_embedding_layer
from xstilts.engine.modeling import EngineModel, init_heads_from_run, save_heads
from xstilts.engine.sampling import ProportionalTaskSampler, batch_stream, eval_batches
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.types import FinetuneResult, TaskData, TrainingInterrupted
from xstilts.progress import bar

log = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    """Python, numpy and torch (CPU and CUDA) RNGs; before model construction."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def _rows(features, indices) -> list[dict]:
    cols = features[[int(i) for i in indices]]
    keys = list(cols)
    return [dict(zip(keys, vals)) for vals in zip(*(cols[k] for k in keys))]


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def param_groups(model: torch.nn.Module, weight_decay: float, encoder_lr: float | None = None) -> list[dict]:
    """No weight decay on biases and LayerNorm weights (jiant / transformers convention). With
    ``encoder_lr``, the encoder's parameters form groups of their own at that rate (the heads keep the
    optimiser's)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        own_rate = encoder_lr is not None and name.removeprefix("module.").startswith("encoder.")
        groups.setdefault((own_rate, name.endswith("bias") or "norm" in name.lower()), []).append(p)
    return [
        {"params": ps, "weight_decay": 0.0 if no_decay else weight_decay} | ({"lr": encoder_lr} if own_rate else {})
        for (own_rate, no_decay), ps in sorted(groups.items())
    ]


@torch.no_grad()
def run_features(
    model, key: str, adapter, features, batch_size: int, pad_id: int, device, progress: bool = False, desc: str = "eval"
):
    """Per-feature outputs in feature order, batches sorted by length (dynamic padding)."""
    was_training = model.training
    model.eval()
    outputs: list = [None] * len(features)
    lengths = column(features, "length")
    for idx in bar(eval_batches(lengths, batch_size), desc=desc, enabled=progress, leave=False):
        batch = _to_device(adapter.collate(_rows(features, idx), pad_id), device)
        _, logits = model(key, batch)
        for i, out in zip(idx, adapter.split_outputs(logits, batch)):
            outputs[int(i)] = out
    model.train(was_training)
    return outputs


def total_steps(tasks: list[TaskData], hp: TrainConfig) -> int:
    if hp.max_steps is not None:
        return int(hp.max_steps)
    eff = hp.batch_size * hp.grad_accum
    return int(sum(math.ceil(hp.epochs * math.ceil(len(t.train) / eff)) for t in tasks))


def finetune(
    encoder: str | Path,
    tasks: list[TaskData],
    hp: TrainConfig,
    seed: int,
    out_dir: str | Path,
    init_heads_from: str | Path | None = None,
    *,
    resume_dir: str | Path | None = None,
) -> FinetuneResult:
    """Fine-tune ``encoder`` on one task (single-task) or several (multi-task) and keep the checkpoint
    that is best on the tasks' English dev sets. Heads start fresh unless ``init_heads_from``.

    With ``resume_dir``, training resumes from the complete resumable checkpoint there if there is one,
    writes one every ``hp.checkpoint_minutes`` and on SIGTERM / SIGUSR1 (then raises
    ``TrainingInterrupted``), and removes ``resume_dir`` when it ends."""
    from transformers import AutoConfig, get_linear_schedule_with_warmup

    if not tasks:
        raise ValueError("finetune: tasks is empty")
    keys = [t.task.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError(f"finetune: duplicate task keys {keys}")
    for t in tasks:
        if t.train is None or len(t.train) == 0:
            raise ValueError(f"finetune: task {t.task.key!r} has no training examples")
    out_dir = Path(out_dir)
    resume_dir = Path(resume_dir) if resume_dir is not None else None
    if hp.num_threads:
        torch.set_num_threads(hp.num_threads)
    enc_dir = resolve_encoder_dir(encoder)
    config = AutoConfig.from_pretrained(enc_dir)
    procs = processes()
    world, rank, main, device = procs.world, procs.rank, procs.main, procs.device
    micro, accum = hp.micro_steps(world)
    sharded = world > 1 and (hp.fsdp if hp.fsdp is not None else is_xl_config(config))
    ddp = world > 1 and not sharded
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = load_tokenizer(enc_dir)
    pad_id = tokenizer.pad_token_id
    train_feats, dev_sets = {}, {}
    for t in tasks:
        adapter = adapter_for(t.task.format)
        train_feats[t.task.key] = cached_featurize(
            adapter, t.train, tokenizer, hp.max_seq_len, True, t.task, hp.cache_dir
        )
        if t.dev is not None and len(t.dev):
            dev = t.dev.select(range(min(hp.eval_subset, len(t.dev)))) if hp.eval_subset else t.dev
            dev_sets[t.task.key] = (
                dev,
                cached_featurize(adapter, dev, tokenizer, hp.max_seq_len, False, t.task, hp.cache_dir),
            )

    set_seed(seed)
    weights = main or not sharded  # sharded, ranks > 0 build on the meta device and receive rank 0's weights
    encoder_model = load_encoder(enc_dir, hp.gradient_checkpointing or sharded, weights=weights)
    if hp.embedding_layer is not None:  # the dual encoders' readout travels with the checkpoint
        set_embedding_layer(encoder_model.config, hp.embedding_layer)
    with contextlib.nullcontext() if weights else torch.device("meta"):
        model = EngineModel(encoder_model, [t.task for t in tasks])
    if init_heads_from is not None and weights:
        init_heads_from_run(model, Path(init_heads_from))
    if hp.freeze_encoder:  # a probe: only the heads learn, so the score reads what the encoder already holds
        if sharded:
            raise ValueError("TrainConfig.freeze_encoder: a frozen encoder is not sharded (FSDP): set fsdp false")
        model.encoder.requires_grad_(False)
    n_steps = total_steps(tasks, hp)
    multi_head = len(model.head_keys) > 1
    model = prepare(model, procs, sharded, multi_head, hp.bf16, model.state_dict() if sharded and main else None)
    # fused AdamW: one kernel for all parameters, on CPU too (3.6x faster than foreach for the miniature's
    # 0.9M parameters, where the optimiser step was a quarter of the training step)
    encoder_lr = hp.lr * hp.encoder_lr_scale if hp.encoder_lr_scale != 1 else None  # discriminative rates
    optimizer = torch.optim.AdamW(
        param_groups(model, hp.weight_decay, encoder_lr), lr=hp.lr, eps=hp.adam_eps, fused=True
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * n_steps), n_steps)

    by_key = {t.task.key: t for t in tasks}
    streams = {
        k: batch_stream(train_feats[k]["length"], hp.batch_size, seed * 1000 + i, hp.group_by_length)
        for i, k in enumerate(sorted(train_feats))
    }
    sampler = ProportionalTaskSampler({k: len(by_key[k].train) for k in keys}, seed)
    eval_bs = max(1, micro * hp.eval_batch_multiplier)
    run = {
        "encoder": enc_dir,
        "tasks": keys,
        "seed": seed,
        "steps": n_steps,
        "batch_size": hp.batch_size,
        "grad_accum": hp.grad_accum,
        "processes": world,
        "micro_batch": micro,
    }

    best_score, best_scores, best_step, bad_evals = -math.inf, {}, 0, 0
    examples_seen, start, seconds_before, cpu_seconds_before = 0, 0, 0.0, 0.0
    running, running_n = torch.zeros((), device=device), 0  # a device tensor: no host sync per step
    log_path = out_dir / "train_log.jsonl"
    resumed = checkpoint.latest(resume_dir) if resume_dir is not None else None
    if resumed is not None:
        state = checkpoint.trainer_state(resumed)
        if state["run"] != run:
            differ = {k: (state["run"].get(k), v) for k, v in run.items() if state["run"].get(k) != v}
            raise ValueError(
                f"resume_dir {resume_dir}: its checkpoint is of another run or layout (saved, now): {differ}"
            )
        if main:
            checkpoint.recover_selected(out_dir)
        best = state["best"]
        best_score, best_scores, best_step, bad_evals = best["score"], best["scores"], best["step"], best["bad_evals"]
        if from_rank0(best_step > 0 and not (out_dir / "encoder").is_dir(), procs):
            raise FileNotFoundError(
                f"resume_dir {resume_dir}: its checkpoint counts on the model selected at step {best_step} in "
                f"{out_dir / 'encoder'}, which is gone: out_dir must be kept between the attempts of a run"
            )
        mine = checkpoint.load(resumed, procs, model, optimizer, sharded)
        scheduler.load_state_dict(state["scheduler"])
        for k, stream in streams.items():
            stream.load_state_dict(state["streams"][k])
        sampler.load_state_dict(state["sampler"])
        examples_seen, start = state["examples_seen"], state["step"]
        seconds_before, cpu_seconds_before = state["seconds"], state["cpu_seconds"]
        running, running_n = mine["running"].to(device), mine["running_n"]
        checkpoint.set_rng_state(mine["rng"])
        if main and log_path.exists():
            with open(log_path, "r+") as fh:  # the records after the checkpoint are written again
                fh.truncate(state["log_bytes"])
    log_fh = open(log_path, "a" if resumed else "w") if main else None
    writer = None
    if main and hp.tensorboard_dir:
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(hp.tensorboard_dir)

    def write_log(record: dict) -> None:
        if log_fh:
            log_fh.write(json.dumps(record) + "\n")
            log_fh.flush()
        if writer and "step" in record:  # the curves, where TensorBoard reads them
            scalars = {k: record[k] for k in ("loss", "lr", "score") if isinstance(record.get(k), (int, float))}
            scalars.update({f"dev/{task}": v for task, v in (record.get("eval") or {}).items()})
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, global_step=record["step"])
            writer.flush()

    if resumed:
        write_log({"event": "resume", "step": start})
    else:
        write_log(
            {
                "event": "start",
                "encoder": enc_dir,
                "tasks": keys,
                "seed": seed,
                "steps": n_steps,
                "processes": world,
                "micro_batch": micro,
                "micro_steps": accum,
                "sharded": sharded,
                "device": str(device),
                "hp": hp.to_dict(),
                "torch": torch.__version__,
                "selection": "best mean English dev metric of the training task(s)",
            }
        )

    def evaluate() -> dict[str, float]:
        scores = {}
        for k, (dev, feats) in dev_sets.items():
            task = by_key[k].task
            adapter = adapter_for(task.format)
            with autocast(device, hp.bf16):
                outs = run_features(model, head_key(task), adapter, feats, eval_bs, pad_id, device)
            preds = adapter.decode(outs, feats, dev, task)
            scores[k] = float(adapter.dev_score(preds, dev, task))
        return from_rank0(scores, procs)  # every process takes the same selection decisions

    def save_selected() -> None:
        state = full_state_dict(model, sharded)  # gathers the shards under FSDP2; collective
        if main:
            module = unwrap(model)

            def write(folder: Path) -> None:
                enc_sd = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
                module.encoder.save_pretrained(str(folder / "encoder"), state_dict=enc_sd, safe_serialization=True)
                tokenizer.save_pretrained(str(folder / "encoder"))
                save_heads(module.heads_state(state), module.heads_meta(), folder)

            checkpoint.publish_selected(out_dir, write)
        barrier(procs)

    def save_resumable(step: int) -> None:
        if log_fh:
            log_fh.flush()
        best = {"score": best_score, "scores": best_scores, "step": best_step, "bad_evals": bad_evals}
        trainer_state = {
            "run": run,
            "step": step,
            "examples_seen": examples_seen,
            "best": best,
            "streams": {k: stream.state_dict() for k, stream in streams.items()},
            "sampler": sampler.state_dict(),
            "scheduler": scheduler.state_dict(),
            "log_bytes": log_path.stat().st_size if main else None,
            "seconds": seconds_before + time.perf_counter() - t0,
            "cpu_seconds": cpu_seconds_before + time.process_time() - c0,
        }
        mine = {"rng": checkpoint.rng_state(), "running": running.cpu(), "running_n": running_n}
        checkpoint.save(resume_dir, step, procs, model, optimizer, sharded, trainer_state, mine)

    signals = checkpoint.StopSignals()
    if resume_dir is not None:
        signals.install()
    pbar = bar(total=n_steps, initial=start, desc=f"finetune {'+'.join(keys)}", enabled=(hp.progress and main))
    try:
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        last_save = time.monotonic()
        step = start
        for step in range(start + 1, n_steps + 1):
            k = sampler()
            task = by_key[k].task
            hk, adapter, feats, stream = head_key(task), adapter_for(task.format), train_feats[k], streams[k]
            order = np.concatenate([next(stream) for _ in range(hp.grad_accum)])  # the E indices of the step
            step_loss = torch.zeros((), device=device)
            for m in range(accum):
                step_idx = order[m * world * micro : (m + 1) * world * micro]
                idx = step_idx[rank * micro : (rank + 1) * micro]  # whole recipe batches where micro allows
                batch = _to_device(adapter.collate(_rows(feats, idx), pad_id), device)
                if adapter.in_batch_negatives:  # the recipe's batch is the contrastive group, not the layout's
                    batch["negatives_group"] = hp.batch_size
                skip_sync = ddp and m < accum - 1  # DDP all-reduces on the last micro-step only
                with model.no_sync() if skip_sync else contextlib.nullcontext():
                    with autocast(device, hp.bf16):
                        loss, _ = model(hk, batch)
                    (loss / accum).backward()
                step_loss += loss.detach().float() / accum
                examples_seen += len(idx) * world
            if hp.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += step_loss
            running_n += 1
            pbar.update(1)
            if step % hp.log_every_steps == 0 or step == n_steps:
                mean_loss = float(running) / running_n
                write_log(
                    {
                        "step": step,
                        "task": k,
                        "loss": mean_loss,
                        "lr": scheduler.get_last_lr()[0],
                        "seconds": seconds_before + time.perf_counter() - t0,
                    }
                )
                pbar.set_postfix(loss=f"{mean_loss:.4f}")
                running, running_n = torch.zeros((), device=device), 0
            last = step == n_steps
            if dev_sets and ((hp.eval_every_steps and step % hp.eval_every_steps == 0) or last):
                scores = evaluate()
                score = float(np.mean(list(scores.values())))
                improved = score > best_score
                write_log({"step": step, "eval": scores, "score": score, "best": improved})
                if improved:
                    best_score, best_scores, best_step, bad_evals = score, scores, step, 0
                    save_selected()
                else:
                    bad_evals += 1
                    if hp.patience and bad_evals >= hp.patience:
                        write_log({"step": step, "event": "early_stop", "evals_without_improvement": bad_evals})
                        break
            if resume_dir is not None and not last:
                due = main and 0 < hp.checkpoint_minutes * 60 <= time.monotonic() - last_save
                stop, due = any_rank([signals.received is not None, due], procs)  # rank 0 decides the timing
                if stop or due:
                    save_resumable(step)
                    last_save = time.monotonic()
                if stop:
                    signals.restore()
                    raise TrainingInterrupted(step, resume_dir)
        seconds = seconds_before + time.perf_counter() - t0
        cpu_seconds = cpu_seconds_before + time.process_time() - c0
        if not dev_sets or best_step == 0:  # nothing to select on (or no finite dev score): keep the last step
            if dev_sets:
                write_log({"step": step, "event": "no_finite_dev_score", "kept": "last step"})
            best_step, best_score = step, None
            save_selected()
        write_log(
            {
                "event": "end",
                "steps": step,
                "best_step": best_step,
                "best_score": best_score,
                "best_scores": best_scores,
                "train_seconds": seconds,
                "examples_per_second": examples_seen / seconds,
            }
        )
        if main:
            (out_dir / "finetune.json").write_text(
                json.dumps(
                    {
                        "encoder": enc_dir,
                        "tasks": keys,
                        "heads": {head_key(t.task): t.task.key for t in tasks},
                        "seed": seed,
                        "hp": hp.to_dict(),
                        "steps": step,
                        "best_step": best_step,
                        "best_score": best_score,
                        "best_scores": best_scores,
                        "train_seconds": seconds,
                        "init_heads_from": str(init_heads_from) if init_heads_from else None,
                        "processes": world,
                        "resumed_from_step": start if resumed else None,
                    },
                    indent=1,
                )
            )
        barrier(procs)
        if main and resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)
        barrier(procs)
        return FinetuneResult(
            out_dir=out_dir,
            encoder_dir=out_dir / "encoder",
            best_step=best_step,
            best_score=None if best_score is None or best_score == -math.inf else best_score,
            best_scores=best_scores,
            steps=step,
            train_seconds=seconds,
            examples_per_second=examples_seen / seconds if seconds else float("nan"),
            train_cpu_seconds=cpu_seconds,
            world_size=world,
            resumed_from_step=start if resumed else None,
        )
    finally:
        signals.restore()
        pbar.close()
        if log_fh:
            log_fh.close()
        if writer:
            writer.close()
        # nothing a finished run needs stays resident: a worker process goes on to its next run
        model = optimizer = scheduler = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
