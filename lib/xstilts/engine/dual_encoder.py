"""Dual-encoder retrieval training, as XTREME-R trains LAReQA (SQuAD v1.1 in retrieval form) and
Mewsli-X (English Wikipedia mention-entity pairs): ``third_party/bert.py::BertForRetrieval``.

One shared encoder embeds the query and its positive; both are L2-normalised, scaled by a learnable
logit scale (initialised to 100), and a softmax over the in-batch candidates (every other positive of
the micro-batch is a negative) gives the loss. XTREME-R embeds with the HF pooler (dense + tanh on
``<s>``). The engine's encoders carry no pooler and only the encoder is carried over, so the embedding
here is parameter-free: the mean of the last layer's states over the attention mask (jiant's
``MeanPoolerHead``), and ``retrieval_eval`` ranks Mewsli-X and LAReQA with the same pooling. A run's
``embedding_layer`` pools an earlier layer instead and records it in the encoder's config
(``layers.set_embedding_layer``), so training and ranking read the same layer. Mean rather
than ``<s>``: on the tiny test encoders ``<s>`` pooling trained to a collapsed ranking (dev mAP 28-56
vs 85-87 with mean pooling, same data and steps); ``pooling='cls'`` remains available.

Training goes through the engine's ``finetune`` (same optimiser, schedule, model selection on the
English dev set and checkpoint layout ``out_dir/encoder/`` as every other run): the adapters below serve
the ``answer_retrieval`` and ``entity_retrieval`` formats (``engine/adapter_table.py``). The dev metric is mAP@20 of
each dev query against the pool of all dev positives (the LAReQA/Mewsli-X metric on English dev).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xstilts.benchmarks import formats
from xstilts.benchmarks.metrics import TOP_K, average_precision_at_k
from xstilts.benchmarks.retrieval_texts import squad_pairs
from xstilts.engine.adapters import BaseAdapter, column, pad_sequences
from xstilts.engine.layers import embedding_layer, layer_states, pool_hidden
from xstilts.engine.retrieval import _as_model_and_tokenizer, dense_rank, retrieval_eval, to_eval_result
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.types import EvalResult

LOGIT_SCALE_INIT = 100.0  # BertForRetrieval: torch.nn.init.constant_(self.logit_scale, 100.0)

# XTREME-R's recipes (scripts/train_lareqa.sh, scripts/train_mewslix.sh; XLM-R large values). Query and
# candidate lengths are also what run_eval_{lareqa,mewslix}.sh encode with.
RECIPE_KEYS = (
    "lr",
    "epochs",
    "batch_size",
    "grad_accum",
    "max_seq_len",
    "warmup_ratio",
    "weight_decay",
    "max_query_len",
)
RECIPES = {
    formats.ANSWER_RETRIEVAL: dict(zip(RECIPE_KEYS, (2e-5, 3.0, 4, 4, 256, 0.0, 0.0, 96))),
    formats.ENTITY_RETRIEVAL: dict(zip(RECIPE_KEYS, (1e-5, 2.0, 8, 4, 64, 0.0, 0.0, 64))),
}


def as_pairs(examples):
    """Pair-format examples unchanged; SQuAD-format QA examples converted (LAReQA's training data)."""
    cols = set(examples.column_names)
    if set(formats.PAIR_COLUMNS) <= cols:
        return examples
    if set(formats.COLUMNS[formats.QA]) <= cols:
        import datasets

        qa = examples.select_columns(["id", "context", "question", "answers"]).to_dict()
        return datasets.Dataset.from_dict(squad_pairs(qa["id"], qa["context"], qa["question"], qa["answers"]))
    raise KeyError(
        f"dual-encoder examples need columns {list(formats.PAIR_COLUMNS)} (or the qa columns "
        f"{list(formats.COLUMNS[formats.QA])}); got {sorted(cols)}"
    )


def _pool_ids(pair_ids: list[str], positives: list[str]) -> list[str]:
    """For each pair, the id naming its positive text in a de-duplicated pool (the first pair with it)."""
    first: dict[str, str] = {}
    return [first.setdefault(text, pid) for pid, text in zip(pair_ids, positives)]


# ---- the model side ----------------------------------------------------------------------------


class LogitScale(nn.Module):
    """The dual encoder's only head parameter: the learnable softmax temperature (init 100)."""

    def __init__(self, init: float = LOGIT_SCALE_INIT):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.full((1,), float(init)))

    def forward(self, similarity: torch.Tensor) -> torch.Tensor:
        return similarity * self.logit_scale


def in_batch_loss(
    query: torch.Tensor, positive: torch.Tensor, head: LogitScale, group: int | None = None
) -> torch.Tensor:
    """Cross-entropy of each query against every positive of its group (its own is the label), averaged over
    the micro-batch. `group`: the recipe's batch size, so that a micro-batch holding several recipe batches
    (a size's layout, docs/recipe.md §9.8) contrasts each query with the negatives the recipe gives it; None:
    the whole micro-batch."""
    q = F.normalize(query.float(), p=2, dim=-1)
    p = F.normalize(positive.float(), p=2, dim=-1)
    size = len(q) if not group else min(group, len(q))
    losses = []
    for start in range(0, len(q), size):
        qs, ps = q[start : start + size], p[start : start + size]
        logits = head(qs @ ps.T)
        losses.append(F.cross_entropy(logits, torch.arange(len(qs), device=logits.device), reduction="sum"))
    return torch.stack(losses).sum() / len(q)


class DualEncoderAdapter(BaseAdapter):
    """Training (in-batch negatives) and zero-shot ranking for one dense-retrieval format."""

    in_batch_negatives = True

    def __init__(self, format: str, max_query_len: int | None, pooling: str = "mean", layer: int = -1):
        self.format = format
        self.max_query_len = max_query_len
        self.pooling = pooling
        self.layer = layer

    # -- features: one per (query, positive) pair
    def featurize(self, examples, tokenizer, max_seq_len: int, train: bool):
        import datasets

        pairs = as_pairs(examples)
        q = tokenizer(list(pairs["query"]), truncation=True, max_length=self.max_query_len or max_seq_len)["input_ids"]
        p = tokenizer(list(pairs["positive"]), truncation=True, max_length=max_seq_len)["input_ids"]
        return datasets.Dataset.from_dict(
            {
                "input_ids": q,
                "positive_ids": p,
                "length": [max(len(a), len(b)) for a, b in zip(q, p)],
                "example_index": list(range(len(q))),
                "pair_id": list(pairs["id"]),
                "positive": list(pairs["positive"]),
            }
        )

    def collate(self, features, pad_token_id: int):
        q = [f["input_ids"] for f in features]
        p = [f["positive_ids"] for f in features]
        return {
            "input_ids": pad_sequences(q, pad_token_id),
            "attention_mask": pad_sequences([[1] * len(x) for x in q], 0),
            "positive_ids": pad_sequences(p, pad_token_id),
            "positive_mask": pad_sequences([[1] * len(x) for x in p], 0),
        }

    def build_head(self, config, task) -> nn.Module:
        return LogitScale()

    def embed(self, encoder, input_ids, attention_mask) -> torch.Tensor:
        layer = embedding_layer(encoder.config, self.layer)
        out = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=layer != -1)
        hidden = out.last_hidden_state if layer == -1 else layer_states(encoder, out.hidden_states, layer)
        return pool_hidden(hidden, attention_mask, self.pooling)

    def forward(self, encoder, head, batch):
        """Two passes of the shared encoder; ``logits`` = stacked (query, positive) embeddings."""
        q = self.embed(encoder, batch["input_ids"], batch["attention_mask"])
        p = self.embed(encoder, batch["positive_ids"], batch["positive_mask"])
        return in_batch_loss(q, p, head, batch.get("negatives_group")), torch.stack([q, p], dim=1)

    def split_outputs(self, logits, batch):
        return list(logits.detach().float().cpu().numpy())

    # -- dev: every query against the pool of the dev positives
    def decode(self, outputs, features, examples, task):
        """Top-20 candidate ids per example (``examples`` order; ``[]`` for an example without a pair).
        The pool is the distinct positive texts, each named by the first pair id that has it."""
        pair_ids = column(features, "pair_id")
        pool = _pool_ids(pair_ids, column(features, "positive"))
        row_of = {pid: i for i, pid in enumerate(pair_ids)}
        emb = np.stack(outputs) if len(outputs) else np.zeros((0, 2, 1), dtype=np.float32)
        pool_ids = list(dict.fromkeys(pool))
        ranked, _ = dense_rank(emb[:, 0], emb[[row_of[p] for p in pool_ids], 1], pool_ids, k=TOP_K)
        return [ranked[row_of[qid]] if qid in row_of else [] for qid in column(examples, "id")]

    def example_stats(self, predictions, examples, task):
        """``ap`` per example: AP@20 of its own positive (the pool id of its text); NaN without a pair."""
        pairs = as_pairs(examples)
        gold = dict(zip(pairs["id"], _pool_ids(list(pairs["id"]), list(pairs["positive"]))))
        return {
            "ap": [
                average_precision_at_k([gold[q]], r, TOP_K) if q in gold else float("nan")
                for q, r in zip(column(examples, "id"), predictions)
            ]
        }

    def dev_score(self, predictions, examples, task):
        ap = np.asarray(self.example_stats(predictions, examples, task)["ap"], dtype=float)
        return 100.0 * float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")

    # -- evaluation on a RetrievalSet
    def zero_shot(self, model_dir, task, data, **options) -> EvalResult:
        """``retrieval_eval`` with this dual encoder's pooling and XTREME-R's query/candidate lengths."""
        recipe = RECIPES[self.format]
        encoder = _as_model_and_tokenizer(model_dir)  # a folder is loaded once (memoised) for every language
        options.setdefault("layer", embedding_layer(encoder[0].config, self.layer))  # the layer it was trained to pool
        options.setdefault("pooling", self.pooling)
        options.setdefault("max_seq_len", recipe["max_seq_len"])
        options.setdefault("query_max_seq_len", recipe["max_query_len"])
        return to_eval_result(retrieval_eval(encoder, task, data, **options))


def dual_encoder_config(format: str = formats.ANSWER_RETRIEVAL, **overrides) -> TrainConfig:
    """A ``TrainConfig`` with XTREME-R's recipe for ``format`` (``RECIPES``), ``overrides`` on top."""
    recipe = {k: v for k, v in RECIPES[format].items() if k != "max_query_len"}
    return TrainConfig(**{**recipe, **overrides})


ANSWER_RETRIEVAL_ADAPTER = DualEncoderAdapter(
    formats.ANSWER_RETRIEVAL, RECIPES[formats.ANSWER_RETRIEVAL]["max_query_len"]
)
ENTITY_RETRIEVAL_ADAPTER = DualEncoderAdapter(
    formats.ENTITY_RETRIEVAL, RECIPES[formats.ENTITY_RETRIEVAL]["max_query_len"]
)
