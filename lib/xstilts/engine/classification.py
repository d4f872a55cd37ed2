"""Single-sentence and sentence-pair classification (XNLI, PAWS-X, MNLI, QQP, SST-2, ANLI+).

Inputs ``<s> A </s></s> B </s>`` truncated longest-first to ``max_seq_len``; RoBERTa-style head on ``<s>``.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from xstilts.benchmarks import formats
from xstilts.benchmarks.metrics import ACCURACY, score_from_stats
from xstilts.engine.adapters import BaseAdapter, column, num_labels
from xstilts.engine.heads import ClassificationHead


def accuracy_stats(predictions: list, examples) -> dict[str, list]:
    gold = column(examples, "label")
    if any(g is None or int(g) < 0 for g in gold):
        return {}
    return {"correct": [int(int(p) == int(g)) for p, g in zip(predictions, gold)]}


def accuracy_points(stats: dict[str, list]) -> float:
    """Accuracy in points (`xstilts.benchmarks.metrics`), NaN without gold labels."""
    return score_from_stats(stats, ACCURACY).get("score", float("nan")) if stats else float("nan")


class ArgmaxAccuracy:
    """Prediction = the argmax label (or choice) per example; scored by 0/1 accuracy (classification, MC)."""

    def decode(self, outputs, features, examples, task):
        preds = [0] * len(examples)
        for out, ex in zip(outputs, column(features, "example_index")):
            preds[ex] = int(np.argmax(out))
        return preds

    def example_stats(self, predictions, examples, task):
        return accuracy_stats(predictions, examples)

    def dev_score(self, predictions, examples, task):
        return accuracy_points(self.example_stats(predictions, examples, task))


class ClassificationAdapter(ArgmaxAccuracy, BaseAdapter):
    format = formats.CLASSIFICATION

    def featurize(self, examples, tokenizer, max_seq_len: int, train: bool):
        def encode(batch, indices):
            a, b = batch["text_a"], batch["text_b"]
            if all(x is None for x in b):
                enc = tokenizer(a, truncation=True, max_length=max_seq_len)
                ids = enc["input_ids"]
            elif all(x is not None for x in b):
                enc = tokenizer(a, b, truncation="longest_first", max_length=max_seq_len)
                ids = enc["input_ids"]
            else:
                ids = [
                    tokenizer(x, y, truncation="longest_first", max_length=max_seq_len)["input_ids"]
                    if y is not None
                    else tokenizer(x, truncation=True, max_length=max_seq_len)["input_ids"]
                    for x, y in zip(a, b)
                ]
            out = {"input_ids": ids, "length": [len(x) for x in ids], "example_index": list(indices)}
            if train:
                labels = [int(x) for x in batch["label"]]
                bad = [i for i, x in zip(indices, labels) if x < 0]
                if bad:
                    raise ValueError(
                        f"classification train example rows {bad[:5]} have field 'label' = -1 (hidden); training needs gold labels"
                    )
                out["labels"] = labels
            return out

        return self.map_examples(examples, encode, "classification")

    def build_head(self, config, task):
        return ClassificationHead(config, num_labels(task))

    def forward(self, encoder, head, batch):
        logits = head(self.encode(encoder, batch))
        loss = F.cross_entropy(logits.float(), batch["labels"]) if "labels" in batch else None
        return loss, logits


ADAPTER = ClassificationAdapter()
