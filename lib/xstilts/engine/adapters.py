"""One adapter per task format: how a format is featurized, which head it gets, how its loss and
predictions are computed. The trainer (engine/trainer.py) knows nothing format-specific; every
format-specific decision lives behind this protocol, so a new format is one new adapter.

Contract (what the trainer relies on):

- ``featurize(examples, tokenizer, max_seq_len, train[, task]) -> datasets.Dataset``
  (the engine passes ``task=`` only if the adapter's ``featurize`` has a ``task`` parameter)
  One row per *feature* (QA may make several features per example; multiple choice packs all
  choices of one example into one feature). Every feature has:
    ``input_ids``      list[int] (or list[list[int]] for multiple choice: one row per choice),
    ``length``         int, the padded cost of the feature (max token count) for length grouping,
    ``example_index``  int, the row of ``examples`` it came from,
  plus whatever the adapter's own ``collate``/``forward`` need (``labels``, ``word_ids``...).
  Never pad here: ``collate`` pads each batch to its own longest feature (dynamic padding).
  Read whole columns with ``column(ds, "col")`` (one Arrow read): iterating a ``datasets`` column reads
  it row by row, and ``ds["col"][:]`` first builds a ``datasets.Column`` (a dataset view whose
  construction deep-copies the features, datasets 5 arrow_dataset.Column) -- both cost more than a tiny
  model's evaluation of a few examples, done thousands of times in the rehearsal.
- ``collate(features: list[dict], pad_token_id: int) -> dict[str, Tensor]``
  Pads a list of feature rows into tensors; ``attention_mask`` included.
- ``build_head(config, task) -> torch.nn.Module``
  A freshly initialised head for ``task`` on an encoder with ``config`` (a transformers config).
- ``forward(encoder, head, batch) -> (loss | None, logits)``
  Runs the encoder (the adapter decides how: multiple choice flattens choices, dual-encoder
  retrieval makes two passes) and the head. ``loss`` is None when the batch has no labels.
- ``split_outputs(logits, batch) -> list[numpy.ndarray]``
  Per-feature outputs, in batch order (token-level logits trimmed to the feature's length).
- ``decode(outputs, features, examples, task) -> list``
  Predictions, one per example in ``examples`` order, in the official submission form:
  classification and multiple choice an int label index, tagging a list of tag names (one per word),
  QA the answer text.
- ``example_stats(predictions, examples, task) -> dict[str, list]``
  Per-example sufficient statistics (project names: ``correct``; ``tp n_pred n_gold``; ``em f1``;
  ``ap``), one value per example; ``{}`` when the examples carry no gold labels.
  ``zero_shot_eval`` passes ``language=<code>`` where the method has a ``language`` parameter (MLQA).
- ``dev_score(predictions, examples, task) -> float``
  The model-selection metric on an English dev set, in points 0-100 (jiant's major metric).
- Optional ``zero_shot(model_dir, task, data, **options) -> EvalResult``: formats evaluated without a
  trained head (retrieval from pooled encoder states) implement this; ``zero_shot_eval`` calls it
  instead of the featurize/forward/decode path.

- Optional attributes ``featurizer_version`` (int) and ``featurizer_options`` (str): part of the
  tokenized-feature cache key (engine/feature_cache.py); bump/set them when the features an adapter writes change.

The table of adapters by format, ``adapter_for``, is ``engine/adapter_table.py``.
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

import datasets
import numpy as np
import torch

Tensor = torch.Tensor


@runtime_checkable
class FormatAdapter(Protocol):
    format: str
    in_batch_negatives: bool  # its loss contrasts the examples of a batch: grouped by the recipe's batch size

    def featurize(self, examples, tokenizer, max_seq_len: int, train: bool): ...

    def collate(self, features: list[dict], pad_token_id: int) -> dict[str, Tensor]: ...

    def build_head(self, config, task) -> torch.nn.Module: ...

    def forward(self, encoder, head, batch: dict[str, Tensor]) -> tuple[Tensor | None, Tensor]: ...

    def split_outputs(self, logits: Tensor, batch: dict[str, Tensor]) -> list[np.ndarray]: ...

    def decode(self, outputs: list[np.ndarray], features, examples, task) -> list: ...

    def example_stats(self, predictions: list, examples, task) -> dict[str, list]: ...

    def dev_score(self, predictions: list, examples, task) -> float: ...


def call_featurize(adapter: FormatAdapter, examples, tokenizer, max_seq_len: int, train: bool, task=None):
    """``adapter.featurize``, passing ``task`` only to adapters that take it."""
    if "task" in inspect.signature(adapter.featurize).parameters:
        return adapter.featurize(examples, tokenizer, max_seq_len, train, task=task)
    return adapter.featurize(examples, tokenizer, max_seq_len, train)


# ---- helpers shared by the adapters -------------------------------------------------------------


def column(data, name: str) -> list:
    """One column as a list, in row order: of a `datasets.Dataset` through one slice (no `Column` view), of
    a mapping (a dict of lists, a pandas frame) as it is."""
    if isinstance(data, datasets.Dataset):
        return data[:][name]
    values = data[name]
    return values.tolist() if hasattr(values, "tolist") else list(values)


def pad_sequences(rows: list[list[int]], value: int, dtype=torch.long) -> Tensor:
    """Right-pad integer rows to the longest one (dynamic padding)."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), value, dtype=dtype)
    for i, r in enumerate(rows):
        if r:
            out[i, : len(r)] = torch.as_tensor(r, dtype=dtype)
    return out


def collate_token_rows(features: list[dict], pad_token_id: int) -> dict[str, Tensor]:
    """``input_ids`` + ``attention_mask`` for single-sequence features."""
    ids = pad_sequences([f["input_ids"] for f in features], pad_token_id)
    mask = pad_sequences([[1] * len(f["input_ids"]) for f in features], 0)
    return {"input_ids": ids, "attention_mask": mask}


class BaseAdapter:
    """Defaults shared by flat-format adapters: single-sequence collation, one-pass forward,
    per-feature output splitting."""

    format: str = ""
    in_batch_negatives: bool = False  # a contrastive loss over the micro-batch (dual encoders)

    def collate(self, features: list[dict], pad_token_id: int) -> dict[str, Tensor]:
        batch = collate_token_rows(features, pad_token_id)
        if "labels" in features[0]:
            labels = [f["labels"] for f in features]
            if isinstance(labels[0], list):
                batch["labels"] = pad_sequences(labels, -100)
            else:
                batch["labels"] = torch.as_tensor(labels, dtype=torch.long)
        return batch

    @staticmethod
    def map_examples(examples, encode, what: str):
        """`encode(batch, indices)` over the examples in batches: one output row per feature."""
        return examples.map(
            encode, batched=True, with_indices=True, remove_columns=examples.column_names, desc=f"featurize {what}"
        )

    def encode(self, encoder, batch: dict[str, Tensor]) -> Tensor:
        """Last hidden states, shape (batch, seq, hidden)."""
        return encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state

    def split_outputs(self, logits: Tensor, batch: dict[str, Tensor]) -> list[np.ndarray]:
        arr = logits.detach().float().cpu().numpy()
        if arr.ndim == 3:  # token-level: trim each feature to its own length
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            return [arr[i, : int(n)] for i, n in enumerate(lengths)]
        return list(arr)


def head_key(task) -> str:
    """Tasks with the same head key share one head (ANLI+ sub-tasks; jiant's task_to_taskmodel_map)."""
    key = str(getattr(task, "head", None) or getattr(task, "head_key", None) or task.key)
    return key.replace(".", "__")  # registry keys (`intermediate.mnli`) are not valid module names


def num_labels(task) -> int:
    labels = getattr(task, "labels", None)
    if not labels:
        raise ValueError(
            f"task {getattr(task, 'key', task)!r}: field 'labels' is empty; a classification/tagging task needs its label names"
        )
    return len(labels)
