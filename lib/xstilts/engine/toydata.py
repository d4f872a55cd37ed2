"""Tiny, seeded data and encoders for the engine's tests and benchmark (canonical schemas of
``xstilts.benchmarks.formats``). Not the miniature world (that is ``xstilts.miniworld``): just enough structure
that a 2-layer model learns each format in a few dozen steps."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import datasets

from xstilts.engine.pretrain import mlm_config
from xstilts.engine.tokenizer import train_tokenizer

SYLLABLES = ["ka", "to", "ri", "mo", "ne", "sa", "lu", "pe", "di", "bo", "gu", "fa"]


def vocabulary(n: int = 120, seed: int = 0) -> list[str]:
    r = random.Random(seed)
    words = set()
    while len(words) < n:
        words.add("".join(r.choice(SYLLABLES) for _ in range(r.randint(1, 3))))
    return sorted(words)


def corpus_file(path: str | Path, n_lines: int = 1500, seed: int = 0) -> Path:
    r, words = random.Random(seed), vocabulary(seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "\n".join(" ".join(r.choice(words) for _ in range(r.randint(3, 16))) for _ in range(n_lines)) + "\n"
    )
    return path


def make_tiny_encoder(
    out_dir: str | Path,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    ffn: int = 64,
    vocab_size: int = 200,
    dropout: float = 0.1,
    seed: int = 0,
    max_positions: int = 256,
) -> Path:
    """A randomly initialised XLM-R checkpoint + trained tokenizer in ``out_dir`` (no pretraining)."""
    import torch
    from transformers import XLMRobertaModel

    out_dir = Path(out_dir)
    corpus = corpus_file(out_dir / "corpus.txt", seed=seed)
    tok = train_tokenizer([corpus], vocab_size, out_dir, seed=seed)
    torch.manual_seed(seed)
    config = mlm_config(
        dict(layers=layers, hidden=hidden, heads=heads, ffn=ffn, max_positions=max_positions, dropout=dropout), tok
    )
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(str(out_dir))
    return out_dir


def make_hub_checkpoint(
    out_dir: str | Path,
    arch: dict,
    tokenizer_dir: str | Path,
    xl: bool,
    seed: int = 0,
    safetensors: bool = True,
    pytorch: bool = False,
) -> dict:
    """A randomly initialised MLM checkpoint laid out as the XLM-R hub repositories are: `config.json` (an
    `XLMRobertaForMaskedLM` or, `xl`, a pre-LayerNorm `XLMRobertaXLForMaskedLM`), the weights
    (`model.safetensors` as `save_pretrained` writes them, and/or the PyTorch `pytorch_model.bin` older
    repositories hold) and the XLM-R tokenizer (`tokenizer.json` of `tokenizer_dir`, a unigram model:
    ``train_tokenizer(model="unigram")``). Returns {class, params (of the encoder), files}."""
    import shutil

    import torch
    from transformers import AutoTokenizer

    from xstilts.engine.encoders import model_class

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = mlm_config({"max_positions": 512, **arch}, tokenizer, xl=xl)
    config.architectures = [model_class(config, "mlm").__name__]
    torch.manual_seed(seed)
    model = model_class(config, "mlm")(config)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    if pytorch:
        torch.save(model.state_dict(), out_dir / "pytorch_model.bin")
    if not safetensors:
        (out_dir / "model.safetensors").unlink()
    shutil.copyfile(Path(tokenizer_dir) / "tokenizer.json", out_dir / "tokenizer.json")
    return {
        "class": type(model).__name__,
        "params": sum(
            p.numel() for p in model.base_model.parameters()
        ),  # the encoder (the LM head shares its embeddings)
        "files": sorted(p.name for p in out_dir.iterdir()),
    }


def task(key: str, format: str, labels=None, metric: str = "accuracy", num_choices=None, head=None):
    """A stand-in with the attributes the engine reads from the registry's Task."""
    return SimpleNamespace(
        key=key, name=key, format=format, labels=list(labels or []), num_choices=num_choices, metric=metric, head=head
    )


def classification_set(n: int, seed: int, pair: bool = True, long_tail: bool = False) -> datasets.Dataset:
    """Label 1 iff the first word of text_a also occurs in text_b (pair) / starts with 'k' (single)."""
    r, words = random.Random(seed), vocabulary()
    rows = []
    for i in range(n):
        length = min(120, int(r.paretovariate(1.2) * 4)) if long_tail else r.randint(2, 10)
        a = [r.choice(words) for _ in range(max(2, length))]
        if pair:
            b = [r.choice(words) for _ in range(r.randint(2, 8))]
            label = r.random() < 0.5
            if label:
                b.insert(r.randrange(len(b) + 1), a[0])
            else:
                b = [w for w in b if w != a[0]] or [words[0] if a[0] != words[0] else words[1]]
            rows.append({"id": f"c{seed}-{i}", "text_a": " ".join(a), "text_b": " ".join(b), "label": int(label)})
        else:
            rows.append(
                {"id": f"c{seed}-{i}", "text_a": " ".join(a), "text_b": None, "label": int(a[0].startswith("k"))}
            )
    return datasets.Dataset.from_list(rows)


def multiple_choice_set(n: int, seed: int, n_choices: int = 3) -> datasets.Dataset:
    """The correct choice starts with a 'k' word (a lexical cue a 2-layer model learns fast)."""
    r, words = random.Random(seed), vocabulary()
    cue = [w for w in words if w.startswith("k")]
    other = [w for w in words if not w.startswith("k")]
    rows = []
    for i in range(n):
        prompt = [r.choice(words) for _ in range(r.randint(2, 6))]
        label = r.randrange(n_choices)
        choices = []
        for j in range(n_choices):
            first = r.choice(cue) if j == label else r.choice(other)
            choices.append(" ".join([first] + [r.choice(words) for _ in range(r.randint(1, 4))]))
        rows.append({"id": f"m{seed}-{i}", "prompt": " ".join(prompt), "choices": choices, "label": label})
    return datasets.Dataset.from_list(rows)


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def tagging_set(n: int, seed: int, max_words: int = 12) -> datasets.Dataset:
    """Words starting with 'k' are PER entities, words starting with 's' LOC (runs continue with I-)."""
    r, words = random.Random(seed), vocabulary()
    rows = []
    for i in range(n):
        toks = [r.choice(words) for _ in range(r.randint(2, max_words))]
        tags, prev = [], None
        for w in toks:
            kind = "PER" if w.startswith("k") else "LOC" if w.startswith("s") else None
            tags.append("O" if kind is None else (f"I-{kind}" if prev == kind else f"B-{kind}"))
            prev = kind
        rows.append({"id": f"t{seed}-{i}", "tokens": toks, "tags": tags})
    return datasets.Dataset.from_list(rows)
