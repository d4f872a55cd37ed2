"""Which adapter serves which task format: the one table the trainer, prediction and heads look up."""

from __future__ import annotations

from xstilts.benchmarks import formats
from xstilts.engine import classification, dual_encoder, multiple_choice, qa, retrieval, tagging
from xstilts.engine.adapters import FormatAdapter

ADAPTERS: dict[str, FormatAdapter] = {
    formats.CLASSIFICATION: classification.ADAPTER,
    formats.MULTIPLE_CHOICE: multiple_choice.ADAPTER,
    formats.TAGGING: tagging.ADAPTER,
    formats.QA: qa.ADAPTER,
    formats.BITEXT_MINING: retrieval.BITEXT_MINING_ADAPTER,
    formats.SENTENCE_RETRIEVAL: retrieval.SENTENCE_RETRIEVAL_ADAPTER,
    formats.ANSWER_RETRIEVAL: dual_encoder.ANSWER_RETRIEVAL_ADAPTER,
    formats.ENTITY_RETRIEVAL: dual_encoder.ENTITY_RETRIEVAL_ADAPTER,
}
assert set(ADAPTERS) == set(formats.FORMATS), "every task format has an adapter"


def adapter_for(format: str) -> FormatAdapter:
    """The adapter of a task format (one of `xstilts.benchmarks.formats.FORMATS`)."""
    try:
        return ADAPTERS[format]
    except KeyError:
        raise KeyError(f"no adapter for task format {format!r}; formats: {sorted(ADAPTERS)}") from None
