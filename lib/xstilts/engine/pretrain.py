"""MLM pretraining of the miniature XLM-R ladder (docs/miniworld.md §6).

XLM-R's objective: 15% of tokens selected, of which 80% -> <mask>, 10% -> random token, 10% unchanged
(BERT; transformers ``DataCollatorForLanguageModeling``). Text lines are tokenized, concatenated and cut
into ``seq_len`` blocks (``<s> ... </s>``), as RoBERTa's full-sentences packing. The result is saved with
``save_pretrained`` + the tokenizer, so later phases load it exactly as XLM-R from the hub.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from xstilts.engine.encoders import model_class
from xstilts.engine.trainer import param_groups, set_seed
from xstilts.progress import bar

ARCH_KEYS = ("layers", "hidden", "heads", "ffn", "max_positions")


def mlm_config(arch: dict, tokenizer, xl: bool = False, dropout: float = 0.1):
    missing = [k for k in ARCH_KEYS if k not in arch]
    if missing:
        raise KeyError(f"pretrain_mlm: arch is missing {missing}; expected keys {ARCH_KEYS}")
    if arch["hidden"] % arch["heads"]:
        raise ValueError(f"pretrain_mlm: arch hidden={arch['hidden']} is not divisible by heads={arch['heads']}")
    from transformers import XLMRobertaConfig, XLMRobertaXLConfig

    cls = XLMRobertaXLConfig if xl else XLMRobertaConfig
    return cls(
        vocab_size=len(tokenizer),
        hidden_size=arch["hidden"],
        num_hidden_layers=arch["layers"],
        num_attention_heads=arch["heads"],
        intermediate_size=arch["ffn"],
        max_position_embeddings=arch["max_positions"] + 2,  # RoBERTa positions start at pad_id + 1
        hidden_dropout_prob=arch.get("dropout", dropout),
        attention_probs_dropout_prob=arch.get("dropout", dropout),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
    )


def pack_corpus(tokenizer, files: list, seq_len: int) -> np.ndarray:
    """Token blocks of exactly ``seq_len``: ``<s>`` + ``seq_len-2`` tokens of concatenated lines + ``</s>``."""
    ids: list[int] = []
    for path in files:
        lines = [l.strip() for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
        for start in range(0, len(lines), 1000):
            for row in tokenizer(lines[start : start + 1000], add_special_tokens=False)["input_ids"]:
                ids.extend(row)
                ids.append(tokenizer.eos_token_id)
    body = seq_len - 2
    n = len(ids) // body
    if n == 0:
        raise ValueError(f"pretrain_mlm: corpus has {len(ids)} tokens, fewer than one block of {body}")
    blocks = np.asarray(ids[: n * body], dtype=np.int64).reshape(n, body)
    bos = np.full((n, 1), tokenizer.bos_token_id, dtype=np.int64)
    eos = np.full((n, 1), tokenizer.eos_token_id, dtype=np.int64)
    return np.concatenate([bos, blocks, eos], axis=1)


def mask_tokens(input_ids: torch.Tensor, tokenizer, generator: torch.Generator, mlm_probability: float = 0.15):
    """BERT 80/10/10 masking over non-special tokens; labels -100 where not selected."""
    labels = input_ids.clone()
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for sid in tokenizer.all_special_ids:
        special |= input_ids == sid
    prob = torch.full(input_ids.shape, mlm_probability)
    prob.masked_fill_(special, 0.0)
    selected = torch.bernoulli(prob, generator=generator).bool()
    labels[~selected] = -100
    masked = selected & torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool()
    inputs = input_ids.clone()
    inputs[masked] = tokenizer.mask_token_id
    randomized = selected & ~masked & torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool()
    inputs[randomized] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[randomized]
    return inputs, labels


def masked_lm_loss(model, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The MLM loss of ``XLMRobertaForMaskedLM`` (mean cross-entropy over the selected tokens), with the LM
    head applied to the selected positions only: the same value and gradients, without vocabulary-sized
    logits for the 85% of positions that carry no label (most of the compute for the smallest models)."""
    hidden = model.base_model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
    selected = labels != -100
    logits = model.lm_head(hidden[selected])
    return torch.nn.functional.cross_entropy(logits.float(), labels[selected])


def pretrain_mlm(
    arch: dict,
    tokenizer_dir,
    corpus_files: list,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    warmup: float | int,
    seed: int,
    out_dir,
    weight_decay: float = 0.01,
    num_threads: int | None = None,
    progress: bool = True,
    mlm_probability: float = 0.15,
    dropout: float = 0.1,
) -> dict:
    """Pretrain an XLM-R-architecture MLM from scratch; returns a summary (also ``pretrain.json``).

    ``warmup``: a fraction of ``steps`` if < 1, else a step count. ``arch`` may set ``xl: True`` for the
    pre-LayerNorm XLM-R XL/XXL architecture (``XLMRobertaXLForMaskedLM``). ``mlm_probability``: the share of
    tokens selected (BERT/XLM-R: 0.15; Wettig et al. 2023 find larger shares train faster). ``dropout``:
    hidden and attention dropout, saved in the config (so fine-tunes use it too).
    """
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    if num_threads:
        torch.set_num_threads(num_threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if seq_len > arch["max_positions"]:
        raise ValueError(f"pretrain_mlm: seq_len={seq_len} exceeds arch max_positions={arch['max_positions']}")
    blocks = torch.from_numpy(pack_corpus(tokenizer, corpus_files, seq_len))
    set_seed(seed)
    config = mlm_config(arch, tokenizer, xl=bool(arch.get("xl", False)), dropout=dropout)
    model_cls = model_class(config, "mlm")
    model = model_cls(config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).train()
    opt = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, eps=1e-6, betas=(0.9, 0.98), fused=True)
    n_warm = int(warmup * steps) if warmup < 1 else int(warmup)
    sched = get_linear_schedule_with_warmup(opt, n_warm, steps)
    gen = torch.Generator().manual_seed(seed)
    order_rng = np.random.default_rng(seed)
    order: list[int] = []
    log_fh = open(out_dir / "pretrain_log.jsonl", "w")
    t0, losses = time.perf_counter(), []
    pbar = bar(range(1, steps + 1), desc=f"pretrain {arch['layers']}x{arch['hidden']}", enabled=progress)
    for step in pbar:
        while len(order) < batch_size:
            order.extend(order_rng.permutation(len(blocks)).tolist())
        idx, order = order[:batch_size], order[batch_size:]
        inputs, labels = mask_tokens(blocks[idx], tokenizer, gen, mlm_probability)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = masked_lm_loss(model, inputs.to(device), labels.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == steps:
            recent = float(np.mean(losses[-10:]))
            log_fh.write(json.dumps({"step": step, "loss": recent, "lr": sched.get_last_lr()[0]}) + "\n")
            pbar.set_postfix(loss=f"{recent:.3f}")
    log_fh.close()
    seconds = time.perf_counter() - t0
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n and "lm_head" not in n)
    summary = {
        "arch": arch,
        "steps": steps,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "lr": lr,
        "warmup_steps": n_warm,
        "mlm_probability": mlm_probability,
        "dropout": dropout,
        "seed": seed,
        "blocks": len(blocks),
        "tokens_seen": steps * batch_size * seq_len,
        "first_loss": float(np.mean(losses[:10])),
        "final_loss": float(np.mean(losses[-10:])),
        "params": sum(p.numel() for p in model.parameters()),
        "non_embedding_params": non_embedding,
        "train_seconds": seconds,
        "seconds": seconds,
        "model_class": model_cls.__name__,
        "device": str(device),
    }
    (out_dir / "pretrain.json").write_text(json.dumps(summary, indent=1))
    return summary
