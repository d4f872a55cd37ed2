"""The official XTREME / XTREME-R metrics, each with per-example sufficient statistics.

Every function follows one function of google-research/xtreme (`evaluate.py` and `third_party/`,
commit 838c13b) and names it in its docstring. Each returns a `MetricResult`:

- `scores`: the dict the official function returns for one (task, language) cell, same keys, x100;
- `stats`: a `pandas.DataFrame`, one row per example (column `id`) with the sufficient statistics
  of its kind (`STATS_COLUMNS`); `cell_score(stats, kind)` recomputes `scores` from them exactly
  (same arithmetic, same order), so the bootstrap can resample rows and rescore.

| kind       | tasks                              | columns                 | unit of a row        |
|------------|------------------------------------|-------------------------|----------------------|
| `accuracy` | xnli pawsx xcopa tatoeba           | `correct`               | example / query      |
| `f1`       | udpos panx (seqeval), bucc2018     | `tp n_pred n_gold`      | sentence / source id |
| `qa`       | xquad tydiqa (SQuAD), mlqa (MLQA)  | `em f1`                 | gold question        |
| `map@20`   | mewslix, lareqa (extension)        | `ap`                    | gold query           |

The aggregation of `evaluate.evaluate()` (language averages, `avg_metric`, group scores, `all_task`)
is `task_scores` + `overall_scores`, with the official `TASK2LANGS` / `GROUP2TASK` tables.

Where the official code would crash or silently mis-score, these functions raise a clear error
instead (each case is named in the docstring): they never copy such a bug silently.
"""

from __future__ import annotations

import bisect
import functools
import re
import string
import sys
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# --------------------------------------------------------------------------------------------------
# Kinds of sufficient statistics

ACCURACY = "accuracy"
F1 = "f1"
QA = "qa"
MAP20 = "map@20"
KINDS = (ACCURACY, F1, QA, MAP20)

STATS_COLUMNS = {
    ACCURACY: ("correct",),
    F1: ("tp", "n_pred", "n_gold"),
    QA: ("em", "f1"),
    MAP20: ("ap",),
}

TASK_KIND = {
    "pawsx": ACCURACY, "xnli": ACCURACY, "xcopa": ACCURACY, "tatoeba": ACCURACY,
    "udpos": F1, "panx": F1, "bucc2018": F1,
    "xquad": QA, "mlqa": QA, "tydiqa": QA,
    "mewslix": MAP20, "lareqa": MAP20,
}

TOP_K = 20  # utils_mewslix.TOP_K; run_eval_lareqa.sh evaluates LAReQA at k=20 as well


@dataclass
class MetricResult:
    """One (task, language) cell: the official score dict plus per-example sufficient statistics."""

    scores: dict[str, float]
    stats: pd.DataFrame
    kind: str
    info: dict[str, Any] = field(default_factory=dict)  # e.g. counts of missing / unexpected ids


def _frame(ids: Sequence[Any] | None, n: int, **columns: list) -> pd.DataFrame:
    if ids is None:
        ids = [str(i) for i in range(n)]
    elif len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} examples")
    return pd.DataFrame({"id": [str(i) for i in ids], **columns})


def _columns(stats: pd.DataFrame | Mapping[str, Sequence], kind: str) -> dict[str, list]:
    if kind not in STATS_COLUMNS:
        raise ValueError(f"unknown statistics kind {kind!r}; expected one of {', '.join(KINDS)}")
    out = {}
    for col in STATS_COLUMNS[kind]:
        if col not in stats:
            raise KeyError(f"statistics of kind {kind!r} need column {col!r}; got {list(stats.keys())}")
        values = stats[col]
        out[col] = values.tolist() if hasattr(values, "tolist") else list(values)
    return out


def cell_score(stats: pd.DataFrame | Mapping[str, Sequence], kind: str) -> dict[str, float]:
    """Recompute one cell's official score dict from per-example sufficient statistics.

    Uses the arithmetic of the reference functions, in the same order, so that on the statistics a
    metric returned the result is the metric's own `scores` bit for bit:
    `accuracy` as `evaluate.accuracy`; `f1` as seqeval's micro P/R/F (identical to
    `evaluate.bucc_f1`); `qa` as `evaluate_squad.evaluate` / `evaluate_mlqa.evaluate`;
    `map@20` as `utils_mewslix.evaluate` (mean over gold queries, 0.0 when there are none).
    """
    cols = _columns(stats, kind)
    if kind == ACCURACY:
        n = len(cols["correct"])
        if n == 0:
            raise ValueError("accuracy of zero examples is undefined (evaluate.accuracy divides by zero)")
        correct = sum(int(c) for c in cols["correct"])
        return {"accuracy": float(correct) / n * 100}
    if kind == F1:
        tp, n_pred, n_gold = (sum(int(v) for v in cols[c]) for c in ("tp", "n_pred", "n_gold"))
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        denom = precision + recall
        f1 = 2 * precision * recall / (denom if denom else 1)
        return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100}
    if kind == QA:
        total = len(cols["em"])
        if total == 0:
            raise ValueError("QA score over zero gold questions is undefined (the SQuAD script divides by zero)")
        em = f1 = 0
        for e, f in zip(cols["em"], cols["f1"]):
            em += e
            f1 += f
        return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}
    # MAP20
    aps = cols["ap"]
    mean = sum(aps) / len(aps) if aps else 0.0
    return {"map@20": mean * 100}


# --------------------------------------------------------------------------------------------------
# Accuracy: XNLI, PAWS-X, XCOPA, Tatoeba


def accuracy(labels: Sequence, predictions: Sequence, ids: Sequence | None = None) -> MetricResult:
    """`evaluate.accuracy`: `sum(p == l) / len(predictions)`, x100.

    Inputs are what `evaluate.read_label` returns (stripped lines, compared as strings) or, for
    XCOPA, what `evaluate.read_xcopa` returns (the raw JSON `label` values: an int 1 and a string
    "1" differ, as in the official script). The official script asserts equal lengths; this raises
    `ValueError` on a length mismatch and on zero examples (official: ZeroDivisionError).
    """
    if len(labels) != len(predictions):
        raise ValueError(f"accuracy: {len(predictions)} predictions for {len(labels)} labels "
                         "(evaluate.py asserts that the two files have the same number of lines)")
    if not predictions:
        raise ValueError("accuracy: no examples (evaluate.accuracy would divide by zero)")
    correct = [int(p == l) for p, l in zip(predictions, labels)]
    accuracy_score = float(sum(correct)) / len(predictions)
    stats = _frame(ids, len(correct), correct=correct)
    return MetricResult({"accuracy": accuracy_score * 100}, stats, ACCURACY)


def xcopa_accuracy(labels: Sequence[int], predictions: Sequence[int], ids: Sequence | None = None) -> MetricResult:
    """XCOPA: `evaluate.accuracy` on the `label` ints of `evaluate.read_xcopa` (no type coercion)."""
    return accuracy(labels, predictions, ids)


def tatoeba_accuracy(labels: Sequence, predictions: Sequence, ids: Sequence | None = None) -> MetricResult:
    """Tatoeba acc@1: `evaluate.accuracy` on the lines of `tatoeba/test-xx.tsv` (one index per line).

    Indices may be given as ints or strings; both are compared as the stripped strings the
    official reader sees (so "07" != "7", exactly as in the official script).
    """
    return accuracy([str(x).strip() for x in labels], [str(x).strip() for x in predictions], ids)


# --------------------------------------------------------------------------------------------------
# seqeval span F1: UD-POS and PAN-X


def _seqeval():
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import get_entities
    return f1_score, precision_score, recall_score, get_entities


def seqeval_f1(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
               ids: Sequence | None = None) -> MetricResult:
    """`evaluate.f1`: seqeval `{f1,precision,recall}_score(labels, predictions)`, default mode, x100.

    The scores are seqeval's own (micro average, non-strict conlleval-like chunking, as in the
    official script; seqeval==1.2.2 is pinned). The per-sentence statistics come from the same
    corpus-level `get_entities` call seqeval makes: sentences are joined with an `O` separator, so
    chunks are found exactly as seqeval finds them, and each chunk is assigned to the sentence that
    holds its **last** token. Summing `tp n_pred n_gold` over sentences gives seqeval's micro counts.

    Quirk kept from seqeval (it is the official number): a chunk whose type is `_` (a one-letter tag
    such as UPOS `X`) is not started after an `O`, so a sentence-initial `X` continues a chunk whose
    start lies in the previous sentence. Such a chunk's counts go to the sentence where it ends.
    Raises `ValueError` when the number of sentences or any sentence length differs (as seqeval).
    """
    f1_score, precision_score, recall_score, get_entities = _seqeval()
    y_true = [list(s) for s in labels]
    y_pred = [list(s) for s in predictions]
    if len(y_true) != len(y_pred):
        raise ValueError(f"seqeval F1: {len(y_pred)} predicted sentences for {len(y_true)} gold sentences "
                         "(evaluate.py asserts equal counts)")
    bad = [i for i, (t, p) in enumerate(zip(y_true, y_pred)) if len(t) != len(p)]
    if bad:
        i = bad[0]
        raise ValueError(f"seqeval F1: sentence {i} has {len(y_pred[i])} predicted tags for {len(y_true[i])} "
                         f"gold tags ({len(bad)} sentences differ; seqeval raises on this)")
    if not y_true:
        raise ValueError("seqeval F1: no sentences")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "X seems not to be NE tag", UndefinedMetricWarning
        f1_val = f1_score(y_true, y_pred)
        prec = precision_score(y_true, y_pred)
        rec = recall_score(y_true, y_pred)
        # get_entities flattens only when some element is a list: keep that condition identical
        true_ents = set(get_entities(y_true)) if any(isinstance(s, list) for s in y_true) else set()
        pred_ents = set(get_entities(y_pred)) if any(isinstance(s, list) for s in y_pred) else set()
    # sentence k occupies flat positions [starts[k], starts[k] + len_k); a separator follows each
    starts, pos = [], 0
    for sent in y_true:
        starts.append(pos)
        pos += len(sent) + 1
    n = len(y_true)
    tp, n_pred, n_gold = [0] * n, [0] * n, [0] * n

    def sentence_of(end: int) -> int:
        return bisect.bisect_right(starts, end) - 1

    for ent in true_ents:
        n_gold[sentence_of(ent[2])] += 1
        if ent in pred_ents:
            tp[sentence_of(ent[2])] += 1
    for ent in pred_ents:
        n_pred[sentence_of(ent[2])] += 1
    stats = _frame(ids, n, tp=tp, n_pred=n_pred, n_gold=n_gold)
    return MetricResult({"f1": f1_val * 100, "precision": prec * 100, "recall": rec * 100}, stats, F1)


# --------------------------------------------------------------------------------------------------
# QA: SQuAD v1.1 (XQuAD, TyDiQA-GoldP) and MLQA (language-aware)


def squad_normalize_answer(s: str) -> str:
    """`third_party/evaluate_squad.normalize_answer`: lower, drop ASCII punctuation, drop a/an/the,
    collapse whitespace."""
    text = s.lower()
    exclude = set(string.punctuation)
    text = "".join(ch for ch in text if ch not in exclude)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


MLQA_LANGS = ("en", "es", "hi", "vi", "de", "ar", "zh")
_MLQA_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
_MLQA_MIXED_SEGMENTATION_LANGS = ("zh",)
_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "hi": None,
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    # verbatim from evaluate_mlqa.py: `\sال^` can never match, so every ال is removed, mid-word too
    "ar": r"\sال^|ال",
    "zh": None,
}


@functools.lru_cache(maxsize=1)
def mlqa_punct() -> frozenset[str]:
    """`evaluate_mlqa.PUNCT`: every code point below sys.maxunicode whose category starts with P,
    plus `string.punctuation`."""
    return frozenset(chr(i) for i in range(sys.maxunicode)
                     if unicodedata.category(chr(i)).startswith("P")).union(string.punctuation)


def _check_mlqa_lang(lang: str) -> None:
    if lang not in MLQA_LANGS:
        raise ValueError(f"MLQA normalisation is defined only for {' '.join(MLQA_LANGS)}; got language {lang!r} "
                         "(evaluate_mlqa.py raises 'Unknown Language')")


def mlqa_mixed_segmentation(text: str) -> list[str]:
    """`evaluate_mlqa.mixed_segmentation`: each CJK char in [\\u4e00-\\u9fa5] or punctuation char is a
    token; runs of other characters are whitespace-split."""
    punct = mlqa_punct()
    segs_out: list[str] = []
    temp_str = ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in punct:
            if temp_str != "":
                segs_out.extend(temp_str.split())
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(temp_str.split())
    return segs_out


def mlqa_normalize_answer(s: str, lang: str) -> str:
    """`evaluate_mlqa.normalize_answer`: `white_space_fix(remove_articles(remove_punc(lower(s))))`
    with Unicode punctuation, per-language articles and zh mixed segmentation."""
    _check_mlqa_lang(lang)
    punct = mlqa_punct()
    text = "".join(ch for ch in s.lower() if ch not in punct)
    pattern = _MLQA_ARTICLES[lang]
    if pattern is not None:
        text = re.sub(pattern, " ", text)
    tokens = text.split() if lang in _MLQA_WHITESPACE_LANGS else mlqa_mixed_segmentation(text)
    return " ".join(t for t in tokens if t.strip() != "")


def _token_f1(prediction_tokens: list[str], ground_truth_tokens: list[str]) -> float:
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _iter_gold_questions(gold) -> list[tuple[str, list[str]]]:
    """(qid, answer texts) in file order, from SQuAD-format articles or a {qid: [answers]} mapping."""
    if isinstance(gold, Mapping):
        if "data" in gold and isinstance(gold["data"], list):
            gold = gold["data"]
        else:
            return [(str(qid), [a["text"] if isinstance(a, Mapping) else a for a in answers])
                    for qid, answers in gold.items()]
    out = []
    for article in gold:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                out.append((qa["id"], [a["text"] for a in qa["answers"]]))
    return out


def _qa_em_f1(gold, predictions: Mapping[str, str], normalize) -> MetricResult:
    questions = _iter_gold_questions(gold)
    if not questions:
        raise ValueError("QA: the gold file has no questions (the SQuAD script would divide by zero)")
    f1 = exact_match = total = 0
    ems, f1s, ids = [], [], []
    missing = 0
    for qid, ground_truths in questions:
        total += 1
        ids.append(qid)
        if qid not in predictions:
            missing += 1
            ems.append(0)
            f1s.append(0.0)
            continue
        if not ground_truths:
            raise ValueError(f"QA: gold question {qid!r} has no answers (the official script fails on max([]))")
        prediction = predictions[qid]
        if not isinstance(prediction, str):
            raise TypeError(f"QA: the prediction for {qid!r} must be a string, got {type(prediction).__name__}")
        pred_norm = normalize(prediction)
        golds_norm = [normalize(g) for g in ground_truths]
        em_q = max(pred_norm == g for g in golds_norm)
        f1_q = max(_token_f1(pred_norm.split(), g.split()) for g in golds_norm)
        exact_match += em_q
        f1 += f1_q
        ems.append(int(em_q))
        f1s.append(f1_q)
    scores = {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
    gold_ids = {q for q, _ in questions}
    info = {"missing": missing, "unexpected": sum(1 for q in predictions if q not in gold_ids)}
    return MetricResult(scores, _frame(ids, len(ids), em=ems, f1=f1s), QA, info)


def squad_em_f1(gold, predictions: Mapping[str, str]) -> MetricResult:
    """`evaluate.squad_em_f1` = `third_party/evaluate_squad.evaluate` (SQuAD v1.1): XQuAD, TyDiQA-GoldP.

    `gold` is the SQuAD `data` list of articles (what `evaluate.read_squad` returns), the whole
    SQuAD dict, or a `{qid: [answer texts]}` mapping. A question without a prediction scores 0 and
    counts in the total. Max over gold answers. Extra predicted ids are ignored (counted in `info`).
    Raises on a gold question without answers and on a non-string prediction (official: crash).
    """
    return _qa_em_f1(gold, predictions, squad_normalize_answer)


def mlqa_em_f1(gold, predictions: Mapping[str, str], lang: str) -> MetricResult:
    """`evaluate.mlqa_em_f1` = `third_party/evaluate_mlqa.evaluate(dataset, predictions, lang)`.

    Language-aware normalisation for en es de ar hi vi zh (see `mlqa_normalize_answer`). Any other
    language raises `ValueError` up front (the official script raises only once it normalises an
    answer, and `evaluate.mlqa_em_f1` calls sys.exit(0) when the language is None).
    """
    _check_mlqa_lang(lang)
    return _qa_em_f1(gold, predictions, functools.partial(mlqa_normalize_answer, lang=lang))


# --------------------------------------------------------------------------------------------------
# BUCC 2018: F1 of mined pairs, and the threshold rule


def _pair(x) -> tuple:
    return tuple(x.split("\t")) if isinstance(x, str) else tuple(x)


def bucc_f1(labels: Sequence, predictions: Sequence) -> MetricResult:
    """`evaluate.bucc_f1`: P/R/F1 of the set of predicted `src\\ttgt` pairs against the gold set, x100.

    Lines are split on tabs into tuples and de-duplicated as sets, exactly as the official code;
    all three are 0 when no pair is correct. No length check; the threshold must already be applied.
    Statistics: one row per source id (first field) seen in gold or predictions, with its correct,
    predicted and gold pair counts.
    """
    gold = {_pair(x) for x in labels}
    pred = {_pair(x) for x in predictions}
    ncorrect = len(gold.intersection(pred))
    if ncorrect > 0:
        prec = ncorrect / len(pred)
        rec = ncorrect / len(gold)
        f1_val = 2 * prec * rec / (prec + rec)
    else:
        prec = rec = f1_val = 0
    order: dict[str, int] = {}
    for p in [_pair(x) for x in labels] + [_pair(x) for x in predictions]:
        order.setdefault(p[0], len(order))
    tp, n_pred, n_gold = [0] * len(order), [0] * len(order), [0] * len(order)
    for p in gold:
        n_gold[order[p[0]]] += 1
        if p in pred:
            tp[order[p[0]]] += 1
    for p in pred:
        n_pred[order[p[0]]] += 1
    stats = _frame(list(order), len(order), tp=tp, n_pred=n_pred, n_gold=n_gold)
    return MetricResult({"f1": f1_val * 100, "precision": prec * 100, "recall": rec * 100}, stats, F1)


def bucc_optimize_threshold(candidate2score: Mapping[tuple[str, str], float], gold) -> float:
    """`third_party/utils_retrieve.bucc_optimize`: the threshold that maximises F1 on (dev) gold.

    Walks the candidates in descending score (a stable sort, so ties keep dict order), tracks F1
    against `gold` (`src\\ttgt` strings or pairs) and returns the midpoint between the score of the
    first best-F1 candidate and the next one; 0 if no candidate is correct. Tune it on the BUCC
    "sample" (dev) gold and apply it to test with `bucc_extract` (issue #13/#60).
    Where the best F1 is reached at the last candidate the official code raises IndexError
    (`items[i + 1]`); here the threshold is that candidate's score, so `bucc_extract` (`>=`) keeps all.
    """
    gold = {x if isinstance(x, str) else "\t".join(x) for x in gold}
    items = sorted(candidate2score.items(), key=lambda x: -x[1])
    ngold = len(gold)
    nextract = ncorrect = 0
    threshold = 0
    best_f1 = 0
    for i in range(len(items)):
        nextract += 1
        if "\t".join(items[i][0]) in gold:
            ncorrect += 1
        if ncorrect > 0:
            precision = ncorrect / nextract
            recall = ncorrect / ngold
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                nxt = items[i + 1][1] if i + 1 < len(items) else items[i][1]
                threshold = (items[i][1] + nxt) / 2
    return threshold


def bucc_extract(candidate2score: Mapping[tuple[str, str], float], threshold: float) -> list[str]:
    """`third_party/utils_retrieve.bucc_extract`: the `src\\ttgt` lines of candidates with score >= threshold."""
    return [src + "\t" + trg for (src, trg), score in candidate2score.items() if score >= threshold]


# --------------------------------------------------------------------------------------------------
# Ranking metrics: Mewsli-X MRR@20 (= mAP@20), LAReQA mAP@20


def _ranked(predictions: Mapping, qid: str, what: str) -> list:
    ranked = predictions.get(qid, [])
    if isinstance(ranked, str) or not isinstance(ranked, Sequence):
        raise TypeError(f"{what}: the prediction for {qid!r} must be a list of ids, got {type(ranked).__name__} "
                        "(the official code would slice a string into characters and score 0)")
    return list(ranked)


def mewslix_map20(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]],
                  k: int = TOP_K) -> MetricResult:
    """`evaluate.mewslix_map20` = `third_party/utils_mewslix.evaluate(gold, predictions, k=20)` x100.

    Gold maps each example id to a singleton list (its entity QID, whitespace-stripped); predictions
    are truncated to the first k; the reciprocal rank of the first correct id (0 if absent or not
    predicted) is averaged over **gold** examples (0.0 when there are none). With one gold entity
    this is mAP@20. Raises on an empty gold list (official: IndexError) and on a prediction that is
    not a list (official: slices the string).
    """
    ids, aps = [], []
    for example_id, labels in gold.items():
        if not labels:
            raise ValueError(f"Mewsli-X: gold example {example_id!r} has an empty label list")
        gold_id = labels[0].strip()
        top_k = _ranked(predictions, example_id, "Mewsli-X")[:k]
        rr = 0.0
        for rank, p in enumerate(top_k, start=1):
            if p == gold_id:
                rr = 1.0 / rank
                break
        ids.append(example_id)
        aps.append(rr)
    mrr = sum(aps) / len(aps) if aps else 0.0
    info = {"missing": len(set(gold) - set(predictions)), "unexpected": len(set(predictions) - set(gold))}
    return MetricResult({"map@20": mrr * 100}, _frame(ids, len(ids), ap=aps), MAP20, info)


def average_precision_at_k(targets, ranked_predictions: Sequence, k: int | None = TOP_K) -> float:
    """`third_party/utils_lareqa.average_precision_at_k`: AP over the top k, counting a repeated id
    once, divided by min(#relevant, k)."""
    if k:
        ranked_predictions = ranked_predictions[:k]
    score = 0.0
    hits = 0.0
    for i, pred in enumerate(ranked_predictions):
        if pred in targets and pred not in ranked_predictions[:i]:
            hits += 1.0
            score += hits / (i + 1.0)
    divisor = min(len(targets), k) if k else len(targets)
    return score / divisor


def lareqa_map20(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]],
                 k: int = TOP_K) -> MetricResult:
    """LAReQA mAP@20 (extension; `evaluate.py` cannot score LAReQA): per question,
    `utils_lareqa.average_precision_at_k(relevant, ranked, k)`, averaged over gold questions, x100.

    `gold[qid]` lists the relevant candidate ids of question `qid` (every answer sentence with the
    question's xling_id, in any language of the pooled candidate set); `predictions[qid]` is the
    ranking over that pool (only the first k are read). The official `mean_avg_prec_at_k` ranks all
    candidates by dot product and prints `np.mean` of the APs (not x100); a missing question here
    scores 0. Raises on a question with no relevant candidate (official: ZeroDivisionError).
    """
    ids, aps = [], []
    for qid, relevant in gold.items():
        targets = set(relevant)
        if not targets:
            raise ValueError(f"LAReQA: gold question {qid!r} has no relevant candidate")
        ids.append(qid)
        aps.append(average_precision_at_k(targets, _ranked(predictions, qid, "LAReQA"), k))
    mean = sum(aps) / len(aps) if aps else 0.0
    info = {"missing": len(set(gold) - set(predictions)), "unexpected": len(set(predictions) - set(gold))}
    return MetricResult({"map@20": mean * 100}, _frame(ids, len(ids), ap=aps), MAP20, info)


# --------------------------------------------------------------------------------------------------
# Aggregation: evaluate.evaluate()

XTREME = "xtreme"
XTREME_R = "xtreme-r"
VERSIONS = (XTREME, XTREME_R)


def _langs(s: str) -> list[str]:
    return s.split(",")


# evaluate.XTREME_TASK2LANGS / XTREME_R_TASK2LANGS, verbatim (order matters: it is the key order of
# the output and the summation order of the averages).
TASK2LANGS: dict[str, dict[str, list[str]]] = {
    XTREME: {
        "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
        "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
        "panx": _langs("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                       "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu"),
        "udpos": _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                        "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"),
        "bucc2018": _langs("de,fr,ru,zh"),
        "tatoeba": _langs("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                          "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"),
        "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi"),
        "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
        "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
    },
    XTREME_R: {
        "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
        "panx": _langs("ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
                       "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,"
                       "lt,pa,gu,ro"),
        "udpos": _langs("af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
                        "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,lt,pl,uk,wo,ro"),
        "tatoeba": _langs("ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
                          "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro"),
        "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
        "lareqa": [],  # sic: evaluate.py scores no language of LAReQA (see LAREQA_LANGS)
        "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
        "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro"),
        "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
        "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
    },
}

# evaluate.XTREME_GROUP2TASK / XTREME_R_GROUP2TASK, verbatim: xcopa is in two groups, LAReQA in none.
GROUP2TASK: dict[str, dict[str, list[str]]] = {
    XTREME: {
        "classification": ["pawsx", "xnli"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["bucc2018", "tatoeba"],
    },
    XTREME_R: {
        "classification": ["xnli", "xcopa"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["tatoeba", "mewslix"],
        "multi_choice": ["xcopa"],
    },
}

QA_TASKS = ("xquad", "mlqa", "tydiqa")

# Extension: the XQuAD-R languages LAReQA is scored on (one pooled candidate set; see metrics above).
LAREQA_LANGS = _langs("ar,de,el,en,es,hi,ru,th,tr,vi,zh")

# Extension: the four categories of the XTREME-R paper and leaderboard (arXiv 2104.07412), whose
# mean is the paper's "Avg" [unverified against Table 3; benchmarks.md §2.8]. Retrieval here holds
# LAReQA, unlike evaluate.py's `retrieval` group.
XTREME_R_CATEGORIES = {
    "classification": ["xnli", "xcopa"],
    "structured_prediction": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["mewslix", "lareqa", "tatoeba"],
}
CATEGORY_PREFIX = "category_"               # e.g. "category_structured_prediction"
ALL_TASK_CATEGORY_MEAN = "all_task_category_mean"


class OfficialScriptWouldCrash(RuntimeError):
    """Raised in official-keys-only mode where `evaluate.py` itself raises."""


def scored_languages(task: str, version: str, extensions: bool = True) -> list[str]:
    """The languages `evaluate.py` scores for a task in a version (LAReQA: `LAREQA_LANGS` as an extension)."""
    if version not in TASK2LANGS:
        raise ValueError(f"unknown XTREME version {version!r}; expected one of {', '.join(VERSIONS)}")
    if task not in TASK2LANGS[version]:
        raise ValueError(f"task {task!r} is not part of {version}; its tasks are {', '.join(TASK2LANGS[version])}")
    if task == "lareqa" and extensions:
        return list(LAREQA_LANGS)
    return list(TASK2LANGS[version][task])


def task_scores(per_language: Mapping[str, Mapping[str, float]], task: str, version: str,
                extensions: bool = True) -> dict[str, Any]:
    """One task's entry of `evaluate.evaluate()`: `{metric: {lang: v}}`, `avg_<metric>`, `avg_metric`.

    Languages are those of `scored_languages` in the official order (English included wherever it
    is a test language); each metric is averaged with equal weight. `avg_metric` is (EM + F1)/2 for
    QA tasks, else `avg_f1`, else `avg_accuracy`, else `avg_map@20`. Raises `KeyError` naming the
    languages missing from `per_language`.
    """
    langs = scored_languages(task, version, extensions)
    missing = [lg for lg in langs if lg not in per_language]
    if missing:
        raise KeyError(f"{task} ({version}): no scores for {', '.join(missing)}")
    score: dict[str, Any] = defaultdict(dict)
    for lg in langs:
        for metric, value in per_language[lg].items():
            score[metric][lg] = value
    avg_score = {f"avg_{m}": sum(score[m].values()) / len(score[m]) for m in score}
    score.update(avg_score)
    if task in GROUP2TASK[version]["qa"]:
        score["avg_metric"] = (score["avg_exact_match"] + score["avg_f1"]) / 2
    elif "avg_f1" in score:
        score["avg_metric"] = score["avg_f1"]
    elif "avg_accuracy" in score:
        score["avg_metric"] = score["avg_accuracy"]
    elif "avg_map@20" in score:
        score["avg_metric"] = score["avg_map@20"]
    return dict(score)


def overall_scores(detailed: Mapping[str, Mapping[str, Any]], version: str,
                   extensions: bool = True) -> dict[str, float]:
    """The overall part of `evaluate.evaluate()`: `all_task` and the group scores.

    - `all_task`: mean of `avg_metric` over **all** tasks of the version, only when every one of them
      was scored (9 for XTREME, 10 for XTREME-R).
    - one key per group of `GROUP2TASK[version]` whose tasks were all scored (mean of `avg_metric`).

    XTREME-R: `evaluate.py` lists `lareqa` with no languages, so a scored-everything folder makes it
    crash (KeyError 'avg_metric' while computing `all_task`). With `extensions` (default) LAReQA is
    scored and `all_task` is the 10-task mean; the paper's 4-category view is added as
    `category_<name>` for each complete category and `all_task_category_mean` (mean of the 4
    category means) when all ten tasks are present. Without `extensions` the output has exactly the
    official keys and `OfficialScriptWouldCrash` is raised where `evaluate.py` crashes.
    """
    task2langs = TASK2LANGS[version]
    group2task = GROUP2TASK[version]
    out: dict[str, float] = {}
    available = [t for t in task2langs if t in detailed]
    if set(task2langs) == set(available):
        broken = [t for t in task2langs if "avg_metric" not in detailed[t]]
        if broken:
            raise OfficialScriptWouldCrash(
                f"evaluate.py crashes here (KeyError 'avg_metric'): {', '.join(broken)} has no scored language "
                f"in {version}; score with extensions to include LAReQA")
        out["all_task"] = sum(detailed[t]["avg_metric"] for t in task2langs) / len(task2langs)
    for group, group_tasks in group2task.items():
        if not set(group_tasks) - set(available):
            out[group] = sum(detailed[t]["avg_metric"] for t in group_tasks) / len(group_tasks)
    if extensions and version == XTREME_R:
        categories = {}
        for name, cat_tasks in XTREME_R_CATEGORIES.items():
            if all(t in detailed and "avg_metric" in detailed[t] for t in cat_tasks):
                categories[name] = sum(detailed[t]["avg_metric"] for t in cat_tasks) / len(cat_tasks)
                out[CATEGORY_PREFIX + name] = categories[name]
        if len(categories) == len(XTREME_R_CATEGORIES):
            out[ALL_TASK_CATEGORY_MEAN] = sum(categories.values()) / len(categories)
    return out
