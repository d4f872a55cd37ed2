"""Loading an encoder: a hub id, a checkpoint folder or a run folder, with the right XLM-R class.

Encoders are ordinary transformers checkpoints: the `XLMRobertaXL*` classes (pre-LayerNorm) are chosen
for XL and XXL, whose config may say `model_type: xlm-roberta` (XXL) while its architectures name
`XLMRobertaXL*` (docs/benchmarks.md §6). No pooler: heads read `<s>` themselves (RoBERTa head).
transformers is imported inside the functions: the plan and the profile checks read `LAYER_CLASS`
without loading it.
"""

from __future__ import annotations

from pathlib import Path

# The transformer block of each encoder family: one FSDP unit and one activation-checkpointing unit each.
LAYER_CLASS = {"xl": "XLMRobertaXLLayer", "base": "XLMRobertaLayer"}


def resolve_encoder_dir(encoder: str | Path) -> str:
    """A run folder (``<run>/encoder/``), a checkpoint folder, or a hub id (returned unchanged)."""
    p = Path(encoder)
    if (p / "encoder" / "config.json").is_file():
        return str(p / "encoder")
    if (p / "config.json").is_file():
        return str(p)
    if p.exists():
        raise FileNotFoundError(
            f"encoder {str(p)!r}: neither a checkpoint folder (config.json) nor a run folder (encoder/config.json)"
        )
    return str(encoder)


def is_xl_config(config) -> bool:
    archs = getattr(config, "architectures", None) or []
    return config.model_type == "xlm-roberta-xl" or any(a.startswith("XLMRobertaXL") for a in archs)


def model_class(config, head: str = "encoder"):
    """The transformers class of a checkpoint: the bare encoder (`head="encoder"`) or the masked-LM model
    (`head="mlm"`), on the XL classes for XL/XXL configs and the XLM-R classes for XLM-R ones."""
    import transformers

    family = "XLMRobertaXL" if is_xl_config(config) else "XLMRoberta" if config.model_type == "xlm-roberta" else None
    if family is None:
        return transformers.AutoModel if head == "encoder" else transformers.AutoModelForMaskedLM
    return getattr(transformers, f"{family}Model" if head == "encoder" else f"{family}ForMaskedLM")


def encoder_config(path: str):
    """A checkpoint's config, as an `XLMRobertaXLConfig` wherever its architectures name the XL classes."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    if is_xl_config(config) and config.model_type != "xlm-roberta-xl":
        from transformers import XLMRobertaXLConfig

        config = XLMRobertaXLConfig.from_dict(config.to_dict())
    return config


def encoder_class_name(path: str) -> str:
    """The encoder class `load_encoder` instantiates for this checkpoint (`XLMRobertaXLModel` for XL/XXL)."""
    return model_class(encoder_config(path)).__name__


def load_tokenizer(path: str):
    """The tokenizer of a checkpoint or run folder.

    A hub snapshot of the XLM-R family may carry no tokenizer_config.json (only tokenizer.json and/or
    sentencepiece.bpe.model). `AutoTokenizer` then picks the class from config.json's model_type: `xlm-roberta`
    gets `XLMRobertaTokenizer`, whose defaults are XLM-R's special tokens, but `xlm-roberta-xl` gets the generic
    `TokenizersBackend` (transformers models/auto/tokenization_auto.py), which knows no special tokens
    without a tokenizer_config.json: no pad token, and batches cannot be padded. XL and XXL use XLM-R's
    SentencePiece vocabulary and special tokens (fairseq examples/xlmr), so a family checkpoint without a
    tokenizer_config.json is read as `XLMRobertaTokenizer`; everything else (the miniature's tokenizers, a
    run's saved encoder) as its tokenizer_config.json says."""
    from transformers import AutoTokenizer, XLMRobertaTokenizer

    config = encoder_config(path)
    if not (Path(path) / "tokenizer_config.json").is_file() and (
        is_xl_config(config) or config.model_type == "xlm-roberta"
    ):
        return XLMRobertaTokenizer.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def load_encoder(path: str, gradient_checkpointing: bool = False, dtype=None, weights: bool = True):
    """The bare encoder of a checkpoint (an MLM checkpoint's LM head is dropped), SDPA attention. With
    ``weights=False`` it is built from the config on the meta device, reading no weights and taking no
    memory: the ranks of a sharded run other than rank 0 receive their shards from rank 0."""
    config = encoder_config(path)
    cls = model_class(config)
    kwargs = {"attn_implementation": "sdpa"}
    if cls.__name__ != "AutoModel":
        kwargs["add_pooling_layer"] = False
    if dtype is not None:
        kwargs["dtype"] = dtype
    if weights:
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # an MLM checkpoint's lm_head is dropped on purpose: no load report
        try:
            model = cls.from_pretrained(path, config=config, **kwargs)
        finally:
            hf_logging.set_verbosity(level)
    else:
        import torch

        with torch.device("meta"):
            build = cls.from_config if cls.__name__ == "AutoModel" else cls._from_config
            model = build(config, **kwargs)
    if gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return model
