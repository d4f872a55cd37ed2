"""A SentencePiece-style tokenizer with XLM-R's special tokens, trained with `tokenizers`.

XLM-R uses a SentencePiece model with ``<s> <pad> </s> <unk>`` at ids 0-3 and ``<mask>`` as the
last id, Metaspace (``▁``) pre-tokenisation and RoBERTa-style templates (``<s> A </s>`` and
``<s> A </s></s> B </s>``). We build the same shape so every later phase loads the result with
``AutoTokenizer.from_pretrained(out_dir)`` exactly as it loads ``xlm-roberta-base``.

The miniature trains BPE rather than unigram: the `tokenizers` unigram trainer's EM sums floats in a
run-dependent order, so its scores -- and which pieces survive its pruning -- differ between runs; BPE
merges are integer counts and the result is byte-identical for the same corpus. The rehearsal's fixture
checkpoints need XLM-R's own format, a unigram model, which transformers' ``XLMRobertaTokenizer`` rebuilds
from ``tokenizer.json``'s vocabulary of (piece, score) pairs (transformers
models/xlm_roberta/tokenization_xlm_roberta.py): ``model="unigram"`` gives the pieces BPE training picks
as a unigram model scored by rank, byte-identical for the same corpus.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK_TOKEN = "<mask>"


def _iter_lines(files: Iterable[str | Path]):
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    yield line


def train_tokenizer(files: list[str | Path], vocab_size: int, out_dir: str | Path, seed: int = 0, model: str = "bpe"):
    """Train a SentencePiece-style tokenizer on ``files`` (one text per line) into ``out_dir``: BPE (the
    miniature's) or, with ``model="unigram"``, XLM-R's unigram model.

    Byte-identical output for the same corpus and vocab size (tested for BPE); ``seed`` is recorded in
    ``xstilts_tokenizer.json`` (BPE training has no randomness to seed).
    Returns the loaded ``PreTrainedTokenizerFast``.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    files = [Path(f) for f in files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"train_tokenizer: corpus files not found: {missing}")
    if vocab_size < len(SPECIAL_TOKENS) + 2:
        raise ValueError(f"train_tokenizer: vocab_size={vocab_size} is too small (need > {len(SPECIAL_TOKENS) + 1})")

    if model not in ("bpe", "unigram"):
        raise ValueError(f"train_tokenizer: model must be 'bpe' or 'unigram', got {model!r}")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,  # <mask> is appended last, as in XLM-R
        special_tokens=SPECIAL_TOKENS,
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(_iter_lines(files), trainer=trainer)
    if model == "unigram":  # XLM-R's format: the BPE pieces as a unigram model, scored by rank
        pieces = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
        vocab = [(p, 0.0 if i < len(SPECIAL_TOKENS) else -round(math.log(i), 4)) for i, (p, _) in enumerate(pieces)]
        unigram = Tokenizer(models.Unigram(vocab, unk_id=SPECIAL_TOKENS.index("<unk>"), byte_fallback=False))
        unigram.normalizer, unigram.pre_tokenizer, unigram.decoder = tok.normalizer, tok.pre_tokenizer, tok.decoder
        tok = unigram
    tok.add_special_tokens([MASK_TOKEN])
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token=MASK_TOKEN,
        model_max_length=512,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    (out_dir / "xstilts_tokenizer.json").write_text(
        json.dumps(
            {
                "vocab_size": fast.vocab_size if hasattr(fast, "vocab_size") else len(fast),
                "requested_vocab_size": vocab_size,
                "seed": seed,
                "files": [f.name for f in files],
                "model": model,
            },
            indent=1,
        )
    )
    return fast
