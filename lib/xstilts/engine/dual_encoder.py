"""Dual-encoder retrieval training, as XTREME-R trains LAReQA (SQuAD v1.1 in retrieval form) and
Mewsli-X (English Wikipedia mention-entity pairs): ``third_party/bert.py::BertForRetrieval``.

One shared encoder embeds the query and its positive; both are L2-normalised, scaled by a learnable
logit scale (initialised to 100), and a softmax over the in-batch candidates (every other positive of
the micro-batch is a negative) gives the loss. XTREME-R embeds with the HF pooler (dense + tanh on
``<s>``). The engine's encoders carry no pooler and only the encoder is carried over, so the embedding
here is parameter-free: the mean of the last layer's states over the attention mask (jiant's
``MeanPoolerHead``), and ``retrieval_eval`` ranks Mewsli-X and LAReQA with the same pooling. A run's
``embedding_layer`` pools an earlier layer instead and records it in the encoder's config
(``retrieval.set_embedding_layer``), so training and ranking read the same layer. Mean rather
than ``<s>``: on the tiny test encoders ``<s>`` pooling trained to a collapsed ranking (dev mAP 28-56
vs 85-87 with mean pooling, same data and steps); ``pooling='cls'`` remains available.

Training goes through the engine's ``finetune`` (same optimiser, schedule, model selection on the
English dev set and checkpoint layout ``out_dir/encoder/`` as every other run): the adapters below are
registered for the ``answer_retrieval`` and ``entity_retrieval`` formats. The dev metric is mAP@20 of
each dev query against the pool of all dev positives (the LAReQA/Mewsli-X metric on English dev).
"""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xstilts.benchmarks import formats
from xstilts.engine.adapters import BaseAdapter, pad_sequences, register_adapter
from xstilts.engine.retrieval import (TOP_K, average_precision_at_k, dense_rank, embedding_layer,
                                      lareqa_candidate_text, _as_model_and_tokenizer, pool_hidden, retrieval_eval,
                                      to_eval_result)
from xstilts.engine.types import EvalResult

log = logging.getLogger(__name__)

LOGIT_SCALE_INIT = 100.0  # BertForRetrieval: torch.nn.init.constant_(self.logit_scale, 100.0)

# XTREME-R's recipes (scripts/train_lareqa.sh, scripts/train_mewslix.sh; XLM-R large values). Query and
# candidate lengths are also what run_eval_{lareqa,mewslix}.sh encode with.
RECIPES = {
    formats.ANSWER_RETRIEVAL: dict(lr=2e-5, epochs=3.0, batch_size=4, grad_accum=4, max_seq_len=256,
                                   warmup_ratio=0.0, weight_decay=0.0, max_query_len=96),
    formats.ENTITY_RETRIEVAL: dict(lr=1e-5, epochs=2.0, batch_size=8, grad_accum=4, max_seq_len=64,
                                   warmup_ratio=0.0, weight_decay=0.0, max_query_len=64),
}

# ---- SQuAD -> (question, answer sentence + paragraph) pairs --------------------------------------

_BREAK = re.compile(r"""([.?!。！？][)'"\u201d\u2019\]]*)\s+(?=[\[('"\u201c\u2018]?[A-Z0-9\u00c0-\u024f\u0370-\u04ff])""")
_CJK_BREAK = re.compile(r"([。！？])(?=\S)")
_NO_BREAK_BEFORE = re.compile(
    r"""(?:\b(?:Mrs?|Ms|Dr|Prof|Fr|Rev|St|Sta|Mt|Ft|Lt|Gen|Col|Maj|Capt|Sgt|Rep|Gov|Sen|Pres|Jr|Sr|Inc|Co|Corp|Ltd|No|vs?|e\.g|i\.e|cf|approx|ca|Jan|Feb|Aug|Sept?|Oct|Nov|Dec)|\b[A-Z])\.$""")


def sentence_breaks(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text``.

    A rule-based breaker in the spirit of XTREME's ``sb_sed.infer_sentence_breaks`` (used to build the
    LAReQA training pairs): break after ``. ? !`` (plus closing quotes/brackets) and whitespace before an
    upper-case letter or digit, not after common abbreviations or single initials; break after CJK
    sentence punctuation. Spans exclude the surrounding whitespace."""
    cuts = []
    for m in _BREAK.finditer(text):
        if _NO_BREAK_BEFORE.search(text[: m.end(1)]):
            continue
        cuts.append((m.end(1), m.end()))
    cuts += [(m.end(1), m.end(1)) for m in _CJK_BREAK.finditer(text)]
    spans, start = [], 0
    for end_of_sentence, next_start in sorted(cuts):
        spans.append((start, end_of_sentence))
        start = next_start
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def squad_retrieval_pairs(examples):
    """SQuAD-format QA examples -> ``Dataset[id, query, positive]`` (``formats.PAIR_COLUMNS``): the
    question, and the sentence holding the answer start followed by its paragraph (``run_retrieval_qa``
    training data; the text as the LAReQA candidates). Examples without an answer are skipped; an answer
    starting in the whitespace between sentences takes the next sentence (XTREME-R skips those)."""
    import datasets

    rows = {"id": [], "query": [], "positive": []}
    breaks: dict[str, list[tuple[int, int]]] = {}
    skipped = 0
    for qid, context, question, answers in zip(examples["id"], examples["context"], examples["question"], examples["answers"]):
        if not answers["answer_start"]:
            skipped += 1
            continue
        start = int(answers["answer_start"][0])
        spans = breaks.get(context)
        if spans is None:
            spans = breaks[context] = sentence_breaks(context)
        # The sentence holding the answer start; if it starts between sentences, the next one.
        sentence = next((context[s:e] for s, e in spans if start < e), None)
        if sentence is None:
            skipped += 1
            continue
        rows["id"].append(qid)
        rows["query"].append(question)
        rows["positive"].append(lareqa_candidate_text(sentence, context))
    if skipped:
        log.info("squad_retrieval_pairs: skipped %d examples without an answer", skipped)
    return datasets.Dataset.from_dict(rows)


def as_pairs(examples):
    """Pair-format examples unchanged; SQuAD-format QA examples converted (LAReQA's training data)."""
    cols = set(examples.column_names)
    if set(formats.PAIR_COLUMNS) <= cols:
        return examples
    if set(formats.COLUMNS[formats.QA]) <= cols:
        return squad_retrieval_pairs(examples)
    raise KeyError(f"dual-encoder examples need columns {list(formats.PAIR_COLUMNS)} (or the qa columns "
                   f"{list(formats.COLUMNS[formats.QA])}); got {sorted(cols)}")


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


def in_batch_loss(query: torch.Tensor, positive: torch.Tensor, head: LogitScale) -> torch.Tensor:
    """Cross-entropy of each query against every positive of the batch (its own is the label)."""
    q = F.normalize(query.float(), p=2, dim=-1)
    p = F.normalize(positive.float(), p=2, dim=-1)
    logits = head(q @ p.T)
    return F.cross_entropy(logits, torch.arange(len(q), device=logits.device))


class DualEncoderAdapter(BaseAdapter):
    """Training (in-batch negatives) and zero-shot ranking for one dense-retrieval format."""

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
        return datasets.Dataset.from_dict({
            "input_ids": q, "positive_ids": p, "length": [max(len(a), len(b)) for a, b in zip(q, p)],
            "example_index": list(range(len(q))), "pair_id": list(pairs["id"]), "positive": list(pairs["positive"])})

    def collate(self, features, pad_token_id: int):
        q = [f["input_ids"] for f in features]
        p = [f["positive_ids"] for f in features]
        return {"input_ids": pad_sequences(q, pad_token_id), "attention_mask": pad_sequences([[1] * len(x) for x in q], 0),
                "positive_ids": pad_sequences(p, pad_token_id), "positive_mask": pad_sequences([[1] * len(x) for x in p], 0)}

    def build_head(self, config, task) -> nn.Module:
        return LogitScale()

    def embed(self, encoder, input_ids, attention_mask) -> torch.Tensor:
        layer = embedding_layer(encoder.config, self.layer)
        out = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=layer != -1)
        hidden = out.last_hidden_state if layer == -1 else out.hidden_states[layer]
        return pool_hidden(hidden, attention_mask, self.pooling)

    def forward(self, encoder, head, batch):
        """Two passes of the shared encoder; ``logits`` = stacked (query, positive) embeddings."""
        q = self.embed(encoder, batch["input_ids"], batch["attention_mask"])
        p = self.embed(encoder, batch["positive_ids"], batch["positive_mask"])
        return in_batch_loss(q, p, head), torch.stack([q, p], dim=1)

    def split_outputs(self, logits, batch):
        return list(logits.detach().float().cpu().numpy())

    # -- dev: every query against the pool of the dev positives
    def decode(self, outputs, features, examples, task):
        """Top-20 candidate ids per example (``examples`` order; ``[]`` for an example without a pair).
        The pool is the distinct positive texts, each named by the first pair id that has it."""
        pair_ids = features["pair_id"][:]
        pool = _pool_ids(pair_ids, features["positive"][:])
        row_of = {pid: i for i, pid in enumerate(pair_ids)}
        emb = np.stack(outputs) if len(outputs) else np.zeros((0, 2, 1), dtype=np.float32)
        pool_ids = list(dict.fromkeys(pool))
        ranked, _ = dense_rank(emb[:, 0], emb[[row_of[p] for p in pool_ids], 1], pool_ids, k=TOP_K)
        return [ranked[row_of[qid]] if qid in row_of else [] for qid in examples["id"][:]]

    def example_stats(self, predictions, examples, task):
        """``ap`` per example: AP@20 of its own positive (the pool id of its text); NaN without a pair."""
        pairs = as_pairs(examples)
        gold = dict(zip(pairs["id"], _pool_ids(list(pairs["id"]), list(pairs["positive"]))))
        return {"ap": [average_precision_at_k([gold[q]], r, TOP_K) if q in gold else float("nan")
                       for q, r in zip(examples["id"][:], predictions)]}

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


def dual_encoder_config(format: str = formats.ANSWER_RETRIEVAL, **overrides):
    """A ``TrainConfig`` with XTREME-R's recipe for ``format`` (``RECIPES``), ``overrides`` on top."""
    from xstilts.engine.train_config import TrainConfig

    recipe = {k: v for k, v in RECIPES[format].items() if k != "max_query_len"}
    return TrainConfig(**{**recipe, **overrides})


def train_dual_encoder(encoder, pairs, hp, seed: int, out_dir, dev=None, task=None):
    """Fine-tune ``encoder`` as a dual encoder on ``pairs`` (``Dataset[id, query, positive]``, or
    SQuAD-format QA examples for LAReQA) with in-batch negatives, through the engine's ``finetune``;
    model selection on ``dev`` (English dev pairs) by mAP@20. The encoder checkpoint is written to
    ``out_dir/encoder/`` like every other run. ``task`` defaults to an ``answer_retrieval`` task."""
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    if task is None:
        task = SimpleNamespace(key="dual_encoder", name="dual_encoder", format=formats.ANSWER_RETRIEVAL, labels=())
    if task.format not in (formats.ANSWER_RETRIEVAL, formats.ENTITY_RETRIEVAL):
        raise ValueError(f"train_dual_encoder: task {getattr(task, 'key', task)!r} has format {task.format!r}; expected answer_retrieval or entity_retrieval")
    return finetune(encoder, [TaskData(task=task, train=pairs, dev=dev)], hp, seed, out_dir)


ANSWER_RETRIEVAL_ADAPTER = register_adapter(DualEncoderAdapter(formats.ANSWER_RETRIEVAL, RECIPES[formats.ANSWER_RETRIEVAL]["max_query_len"]))
ENTITY_RETRIEVAL_ADAPTER = register_adapter(DualEncoderAdapter(formats.ENTITY_RETRIEVAL, RECIPES[formats.ENTITY_RETRIEVAL]["max_query_len"]))
