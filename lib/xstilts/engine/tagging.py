"""Token tagging (UD-POS, PAN-X/WikiANN, CCG): the label sits on the first sub-token of each word
(XTREME ``run_tag.py``, jiant); predictions are one tag per word.

Long sentences are split at word boundaries into consecutive windows of at most ``max_seq_len``
tokens, so every word is predicted exactly once (a single word longer than a window keeps its first
sub-tokens). Scored with seqeval span F1 per sentence (default mode, as XTREME) or, for tasks whose
metric is token accuracy (jiant's CCG), word accuracy.
"""

from __future__ import annotations

import datasets
import numpy as np
import torch.nn.functional as F

from xstilts.benchmarks import formats, metrics
from xstilts.engine.adapters import BaseAdapter, column, num_labels
from xstilts.engine.heads import TokenHead


def _windows(word_pieces: list[list[int]], budget: int) -> list[tuple[int, int]]:
    """Greedy split of words into [start, end) windows whose sub-token count fits ``budget``."""
    spans, start, used = [], 0, 0
    for w, pieces in enumerate(word_pieces):
        n = min(len(pieces), budget)
        if used + n > budget and w > start:
            spans.append((start, w))
            start, used = w, 0
        used += n
    spans.append((start, len(word_pieces)))
    return spans


def _fallback_tag(labels) -> str:
    return "O" if "O" in labels else labels[0]


def span_stats(predictions: list[list[str]], gold: list[list[str]]) -> dict[str, list]:
    """Per-sentence seqeval counts (`xstilts.benchmarks.metrics.seqeval_f1`, seqeval's corpus-level chunking
    as `evaluate.py` scores it); their sums give its micro F1."""
    stats = metrics.seqeval_f1(gold, predictions).stats
    return {c: stats[c].tolist() for c in metrics.STATS_COLUMNS[metrics.F1]}


class TaggingAdapter(BaseAdapter):
    format = formats.TAGGING

    def featurize(self, examples, tokenizer, max_seq_len: int, train: bool, task=None):
        budget = max_seq_len - 2  # <s> ... </s>
        if budget < 1:
            raise ValueError(f"tagging: max_seq_len={max_seq_len} leaves no room for tokens")
        bos, eos = tokenizer.cls_token_id, tokenizer.sep_token_id
        label_ids = None

        def encode(batch, indices):
            flat = [w for tokens in batch["tokens"] for w in tokens]
            flat_pieces = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
            offset = 0
            out = {"input_ids": [], "word_index": [], "length": [], "example_index": [], "first_word": []}
            if train:
                out["labels"] = []
            for i, tokens, tags in zip(indices, batch["tokens"], batch["tags"]):
                if len(tokens) != len(tags):
                    raise ValueError(f"tagging example row {i}: {len(tokens)} 'tokens' but {len(tags)} 'tags'")
                pieces = flat_pieces[offset : offset + len(tokens)]
                offset += len(tokens)
                for start, end in _windows(pieces, budget) if tokens else [(0, 0)]:
                    ids, widx, labs = [bos], [-1], [-100]
                    for w in range(start, end):
                        p = pieces[w][:budget]
                        ids += p
                        widx += [w] + [-1] * (len(p) - 1) if p else []
                        if train and p:
                            if tags[w] not in label_ids:
                                raise ValueError(f"tagging train row {i}: tag {tags[w]!r} is not in task.labels")
                            labs += [label_ids[tags[w]]] + [-100] * (len(p) - 1)
                    ids.append(eos)
                    widx.append(-1)
                    labs.append(-100)
                    out["input_ids"].append(ids)
                    out["word_index"].append(widx)
                    out["length"].append(len(ids))
                    out["example_index"].append(i)
                    out["first_word"].append(start)
                    if train:
                        out["labels"].append(labs)
            return out

        if train:
            if task is None:
                raise ValueError("tagging: featurize(train=True) needs the task (its 'labels' map tag names to ids)")
            label_ids = {t: k for k, t in enumerate(task.labels)}
        return self.map_examples(examples, encode, "tagging")

    def build_head(self, config, task):
        return TokenHead(config, num_labels(task))

    def forward(self, encoder, head, batch):
        logits = head(self.encode(encoder, batch))
        loss = None
        if "labels" in batch:
            loss = F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)
        return loss, logits

    def decode(self, outputs, features, examples, task):
        labels = list(task.labels)
        n_words = [len(t) for t in column(examples, "tokens")]
        preds = [[None] * n for n in n_words]
        feats = features[:] if isinstance(features, datasets.Dataset) else features  # both columns, one read
        for out, widx, ex in zip(outputs, column(feats, "word_index"), column(feats, "example_index")):
            for pos, w in enumerate(widx):
                if w >= 0 and pos < len(out):
                    preds[ex][w] = labels[int(np.argmax(out[pos]))]
        fallback = _fallback_tag(labels)
        return [[p if p is not None else fallback for p in row] for row in preds]

    def example_stats(self, predictions, examples, task):
        gold = [list(t) for t in column(examples, "tags")]
        if any(any(t is None for t in g) for g in gold):
            return {}
        if _is_accuracy(task):
            return {
                "n_correct": [sum(int(a == b) for a, b in zip(p, g)) for p, g in zip(predictions, gold)],
                "n_words": [len(g) for g in gold],
            }
        return span_stats(predictions, gold)

    def dev_score(self, predictions, examples, task):
        stats = self.example_stats(predictions, examples, task)
        return metrics.score_from_stats(stats).get("score", float("nan")) if stats else float("nan")


def _is_accuracy(task) -> bool:
    metric = str(getattr(task, "metric", "") or "").lower()
    return "acc" in metric and "f1" not in metric


ADAPTER = TaggingAdapter()
