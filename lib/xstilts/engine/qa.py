"""Extractive QA (SQuAD v1.1 schema, format ``qa``): featurization, head, post-processing.

Follows the SQuAD recipe used by XTREME (``run_squad.py``, transformers' legacy ``squad.py``) and jiant:
questions truncated to ``max_query_length`` (64) tokens, contexts cut into windows of at most
``max_seq_len`` (384) tokens whose starts advance by ``doc_stride`` (128) tokens, answers outside a
window labelled on ``<s>`` (position 0) for training; head = linear(H, 2) on token states (jiant
``QAHead``); n-best 20 start/end pairs per window, max answer length 30 tokens, start token restricted
to windows where it has maximal context.

The answer text is cut from the *context string* with the tokenizer's character offsets. HF's
``get_final_text`` instead re-aligns detokenized text with whitespace-split words, which fails for
Chinese/Thai text without spaces (transformers #3510, xtreme #38); here it cannot happen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from xstilts.benchmarks import formats, metrics
from xstilts.benchmarks.languages import mlqa_normalisation_language
from xstilts.engine.adapters import BaseAdapter, column, pad_sequences
from xstilts.engine.heads import init_linear

log = logging.getLogger(__name__)

MAX_SEQ_LEN = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
N_BEST = 20
MAX_ANSWER_LENGTH = 30
NO_CONTEXT = -1  # offset marker of question and special tokens


def pair_template(tokenizer) -> tuple[list[int], list[int], list[int]]:
    """The special-token ids the tokenizer puts before, between and after a text pair, read off one
    encoded pair (XLM-R: ``<s>`` | ``</s></s>`` | ``</s>``; BERT: ``[CLS]`` | ``[SEP]`` | ``[SEP]``)."""
    enc = tokenizer("a", "b", add_special_tokens=True)
    seq = enc.sequence_ids(0)
    ids = enc["input_ids"]
    first_a = seq.index(0)
    last_a = max(i for i, s in enumerate(seq) if s == 0)
    first_b = seq.index(1)
    last_b = max(i for i, s in enumerate(seq) if s == 1)
    return ids[:first_a], ids[last_a + 1 : first_b], ids[last_b + 1 :]


def _windows(n_tokens: int, window: int, doc_stride: int) -> list[int]:
    """Window starts as the legacy SQuAD loop: advance by ``doc_stride`` until a window reaches the end
    (by at most ``window`` tokens, so no context token is ever skipped when the question is long)."""
    starts = [0]
    while starts[-1] + window < n_tokens:
        starts.append(starts[-1] + max(1, min(doc_stride, window)))
    return starts


def _max_context_owner(starts: list[int], window: int, n_tokens: int) -> np.ndarray:
    """For each context token, the index of the window that gives it maximal context (legacy
    ``_new_check_is_max_context``: score = min(left, right context) + 0.01 * window length; the first
    window wins ties)."""
    best = np.full(n_tokens, -np.inf)
    owner = np.zeros(n_tokens, dtype=np.int64)
    for w, s in enumerate(starts):
        ln = min(window, n_tokens - s)
        p = np.arange(s, s + ln)
        score = np.minimum(p - s, s + ln - 1 - p) + 0.01 * ln
        better = score > best[s : s + ln]
        best[s : s + ln][better] = score[better]
        owner[s : s + ln][better] = w
    return owner


def _token_span(offsets: np.ndarray, start_char: int, end_char: int) -> tuple[int, int] | None:
    """First token ending after ``start_char`` and last token starting before ``end_char``
    (``offsets``: an (n, 2) array of character offsets)."""
    after = np.flatnonzero(offsets[:, 1] > start_char)
    before = np.flatnonzero(offsets[:, 0] < end_char)
    if not len(after) or not len(before) or before[-1] < after[0]:
        return None
    return int(after[0]), int(before[-1])


def _columns(examples, names) -> dict[str, list]:
    """Plain python lists of ``names`` (a Dataset's lazy columns are slow to index row by row)."""
    if hasattr(examples, "select_columns"):
        return examples.select_columns(list(names)).to_dict()
    return {n: list(examples[n]) for n in names}


def featurize_qa(
    examples,
    tokenizer,
    max_seq_len: int = MAX_SEQ_LEN,
    train: bool = False,
    doc_stride: int = DOC_STRIDE,
    max_query_length: int = MAX_QUERY_LENGTH,
):
    """One feature per (example, context window) as a ``datasets.Dataset``.

    Columns: ``input_ids``, ``length``, ``example_index``, ``window_start`` (context token index of the
    window's first token), and for ``train`` ``start_positions``/``end_positions`` (0 = ``<s>`` when
    the answer is not inside the window), else ``offsets`` (character ``[start, end]`` in the context
    per token, ``[-1, -1]`` off-context) and ``max_context`` (0/1 per token).
    """
    import datasets

    missing = [c for c in ("id", "context", "question", "answers") if c not in examples.column_names]
    if missing:
        raise KeyError(f"qa examples lack column(s) {missing}; the qa format has {list(formats.COLUMNS[formats.QA])}")
    prefix, middle, suffix = pair_template(tokenizer)
    n_special = len(prefix) + len(middle) + len(suffix)

    cols = _columns(examples, ("id", "context", "question", "answers"))
    questions = [q.lstrip() for q in cols["question"]]  # legacy squad strips leading whitespace
    q_ids = tokenizer(questions, add_special_tokens=False)["input_ids"]
    contexts = cols["context"]
    unique = list(dict.fromkeys(contexts))  # SQuAD has ~5 questions per paragraph: tokenize each once
    ctx_enc = tokenizer(unique, add_special_tokens=False, return_offsets_mapping=True)
    ctx_tokens = {
        c: (ids, np.asarray(off, dtype=np.int64).reshape(-1, 2))
        for c, ids, off in zip(unique, ctx_enc["input_ids"], ctx_enc["offset_mapping"])
    }

    rows: dict[str, list] = {k: [] for k in ("input_ids", "length", "example_index", "window_start")}
    if train:
        rows.update(start_positions=[], end_positions=[])
    else:
        rows.update(offsets=[], max_context=[])
    n_unaligned = 0
    for ex_index, (question_ids, context, answers) in enumerate(zip(q_ids, contexts, cols["answers"])):
        question_ids = question_ids[:max_query_length]
        c_ids, c_off = ctx_tokens[context]
        window = max_seq_len - len(question_ids) - n_special
        if window < 1:
            raise ValueError(
                f"qa example {cols['id'][ex_index]!r}: max_seq_len={max_seq_len} leaves no room for context after a {len(question_ids)}-token question"
            )
        starts = _windows(len(c_ids), window, doc_stride)
        answer_span = None
        if train:
            texts, answer_starts = answers["text"], answers["answer_start"]
            if texts and texts[0]:
                start_char = int(answer_starts[0])
                end_char = start_char + len(texts[0])
                if context[start_char:end_char] != texts[0]:
                    n_unaligned += 1  # legacy squad skips "Could not find answer" examples
                    continue
                answer_span = _token_span(c_off, start_char, end_char)
        head = len(prefix) + len(question_ids) + len(middle)
        owner = None if train else _max_context_owner(starts, window, len(c_ids))
        for w, ws in enumerate(starts):
            length = min(window, len(c_ids) - ws)
            ids = prefix + question_ids + middle + c_ids[ws : ws + length] + suffix
            rows["input_ids"].append(ids)
            rows["length"].append(len(ids))
            rows["example_index"].append(ex_index)
            rows["window_start"].append(ws)
            if train:
                if answer_span and ws <= answer_span[0] and answer_span[1] < ws + length:
                    rows["start_positions"].append(head + answer_span[0] - ws)
                    rows["end_positions"].append(head + answer_span[1] - ws)
                else:
                    rows["start_positions"].append(0)
                    rows["end_positions"].append(0)
            else:
                offsets = (
                    [[NO_CONTEXT, NO_CONTEXT]] * head
                    + c_off[ws : ws + length].tolist()
                    + [[NO_CONTEXT, NO_CONTEXT]] * len(suffix)
                )
                flags = [0] * head + (owner[ws : ws + length] == w).astype(int).tolist() + [0] * len(suffix)
                rows["offsets"].append(offsets)
                rows["max_context"].append(flags)
    if n_unaligned:
        log.warning(
            "qa featurize: skipped %d training examples whose answers[text][0] does not match the context at answer_start",
            n_unaligned,
        )
    return datasets.Dataset.from_dict(rows)


def best_answer(
    context: str,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[Sequence[int]],
    max_context: Sequence[int] | None = None,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> tuple[str, float] | None:
    """The best-scoring valid span of one window as ``(text, start_logit + end_logit)``, or None.

    Candidates: the ``n_best`` highest start and end logits; a pair is valid if both tokens are context
    tokens, end >= start, the span has at most ``max_answer_length`` tokens, and the start token has
    its maximal context here. The text is ``context[offsets[start][0]:offsets[end][1]]``, stripped."""
    n = min(len(start_logits), len(end_logits), len(offsets))
    starts = np.argsort(-np.asarray(start_logits[:n]), kind="stable")[:n_best]
    ends = np.argsort(-np.asarray(end_logits[:n]), kind="stable")[:n_best]
    best = None
    for s in starts:
        if offsets[s][0] == NO_CONTEXT or (max_context is not None and not max_context[s]):
            continue
        for e in ends:
            if offsets[e][0] == NO_CONTEXT or e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_logits[s] + end_logits[e])
            if best is None or score > best[1]:
                best = (context[offsets[s][0] : offsets[e][1]].strip(), score)
    return best


def postprocess_qa(
    examples, features, outputs: Sequence[np.ndarray], n_best: int = N_BEST, max_answer_length: int = MAX_ANSWER_LENGTH
) -> list[str]:
    """Answer text per example (``examples`` order): the best span over all of its windows; "" when no
    window has a valid span. ``outputs[i]`` is feature i's (length, 2) start/end logits."""
    if len(outputs) != len(features):
        raise ValueError(f"postprocess_qa: {len(outputs)} outputs for {len(features)} features")
    contexts = _columns(examples, ("context",))["context"]
    columns = features.column_names if hasattr(features, "column_names") else list(features[0]) if len(features) else []
    if "offsets" not in columns:
        raise KeyError("postprocess_qa: features lack column 'offsets'; featurize with train=False for prediction")
    col = (
        (lambda name: column(features, name))
        if hasattr(features, "column_names")
        else (lambda name: [f[name] for f in features])
    )
    example_index, offsets = col("example_index"), col("offsets")
    max_context = col("max_context") if "max_context" in columns else [None] * len(offsets)
    best: dict[int, tuple[str, float]] = {}
    for ex, off, flags, logits in zip(example_index, offsets, max_context, outputs):
        logits = np.asarray(logits)
        found = best_answer(
            contexts[ex], logits[:, 0], logits[:, 1], off, flags, n_best=n_best, max_answer_length=max_answer_length
        )
        if found and (ex not in best or found[1] > best[ex][1]):
            best[ex] = found
    return [best[i][0] if i in best else "" for i in range(len(contexts))]


def qa_predictions(examples, answers: Sequence[str]) -> dict[str, str]:
    """``{qid: answer_text}``, the submission form of XQuAD, MLQA and TyDiQA."""
    ids = column(examples, "id")
    if len(ids) != len(answers):
        raise ValueError(f"qa_predictions: {len(answers)} answers for {len(ids)} examples")
    return dict(zip(ids, answers))


def qa_example_stats(
    predictions: Sequence[str], examples, metric: str = "squad", language: str | None = None
) -> dict[str, list]:
    """Per-question ``em``/``f1`` from ``xstilts.benchmarks.metrics`` (``squad_em_f1``, or ``mlqa_em_f1`` for
    ``metric == 'mlqa'``), in ``examples`` order; ``{}`` if any question has no gold answer text."""
    cols = _columns(examples, ("id", "answers"))
    ids = cols["id"]
    if len(ids) != len(predictions):
        raise ValueError(f"qa example_stats: {len(predictions)} predictions for {len(ids)} examples")
    gold = {qid: [t for t in a["text"] if t] for qid, a in zip(ids, cols["answers"])}
    if not gold or any(not g for g in gold.values()):
        return {}
    preds = dict(zip(ids, predictions))
    if metric == "mlqa":
        if language is None and "language" in examples.column_names:
            langs = set(examples["language"])
            language = langs.pop() if len(langs) == 1 else None
        if language is None:
            raise ValueError(
                "qa example_stats: metric 'mlqa' needs the test language (argument `language` or an "
                "examples column 'language' with one value)"
            )
        result = metrics.mlqa_em_f1(gold, preds, mlqa_normalisation_language(language))
    else:
        result = metrics.squad_em_f1(gold, preds)
    by_id = result.stats.set_index("id")
    return {"em": [int(by_id.at[q, "em"]) for q in ids], "f1": [float(by_id.at[q, "f1"]) for q in ids]}


class QAHead(nn.Module):
    """linear(H, 2) on token states: start and end logits (jiant ``QAHead``)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)

    @classmethod
    def for_config(cls, config) -> QAHead:
        head = cls(config.hidden_size)
        init_linear(head, config)
        return head

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.qa_outputs(hidden)


def qa_loss(logits: torch.Tensor, start_positions: torch.Tensor, end_positions: torch.Tensor) -> torch.Tensor:
    """Mean of the start and end cross-entropies (positions outside the sequence are ignored)."""
    width = logits.size(1)
    ce = nn.CrossEntropyLoss(ignore_index=width)
    start = start_positions.clamp(0, width)
    end = end_positions.clamp(0, width)
    return (ce(logits[..., 0], start) + ce(logits[..., 1], end)) / 2


class QAAdapter(BaseAdapter):
    """The ``qa`` format behind the engine's adapter protocol."""

    format = formats.QA

    def __init__(
        self,
        doc_stride: int | None = None,
        max_query_length: int = MAX_QUERY_LENGTH,
        n_best: int = N_BEST,
        max_answer_length: int = MAX_ANSWER_LENGTH,
    ):
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length
        self.n_best = n_best
        self.max_answer_length = max_answer_length

    def featurize(self, examples, tokenizer, max_seq_len: int, train: bool):
        """``doc_stride`` None: 128 at the paper's 384 tokens, a third of ``max_seq_len`` below that, so that
        short profiles (e.g. 96 tokens) still get overlapping windows."""
        stride = self.doc_stride if self.doc_stride is not None else min(DOC_STRIDE, max(1, max_seq_len // 3))
        return featurize_qa(
            examples,
            tokenizer,
            max_seq_len=max_seq_len,
            train=train,
            doc_stride=stride,
            max_query_length=self.max_query_length,
        )

    def collate(self, features: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
        ids = pad_sequences([f["input_ids"] for f in features], pad_token_id)
        batch = {"input_ids": ids, "attention_mask": pad_sequences([[1] * len(f["input_ids"]) for f in features], 0)}
        if "start_positions" in features[0]:
            batch["start_positions"] = torch.as_tensor([f["start_positions"] for f in features], dtype=torch.long)
            batch["end_positions"] = torch.as_tensor([f["end_positions"] for f in features], dtype=torch.long)
        return batch

    def build_head(self, config, task) -> nn.Module:
        return QAHead.for_config(config)

    def forward(self, encoder, head, batch):
        logits = head(self.encode(encoder, batch))
        loss = None
        if "start_positions" in batch:
            loss = qa_loss(logits, batch["start_positions"], batch["end_positions"])
        return loss, logits

    def decode(self, outputs, features, examples, task) -> list[str]:
        return postprocess_qa(examples, features, outputs, n_best=self.n_best, max_answer_length=self.max_answer_length)

    def example_stats(self, predictions, examples, task, language: str | None = None) -> dict[str, list]:
        """``em``/``f1`` per question (0-1) with the task's official script: MLQA's language-aware
        normalisation for ``metric == 'mlqa'`` (the language from ``language``, else an ``examples``
        column ``language``), the SQuAD v1.1 script otherwise. ``{}`` when the gold answers are hidden."""
        return qa_example_stats(predictions, examples, getattr(task, "metric", "squad"), language)

    def dev_score(self, predictions, examples, task) -> float:
        """(EM + F1) / 2 in points on the English dev set, SQuAD v1.1 script (SQuAD/TyDiQA dev)."""
        stats = qa_example_stats(predictions, examples, "squad")
        if not stats:
            return float("nan")
        return 100.0 * (float(np.mean(stats["em"])) + float(np.mean(stats["f1"]))) / 2


ADAPTER = QAAdapter()
