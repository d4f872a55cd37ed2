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

This module is the one definition of a cell's score: `STATS_COLUMNS` names the statistics of each kind,
`METRIC_KIND` maps every metric of the registry to its kind, `cell_score` recomputes the official score
dict from statistics, `score_from_stats` adds the cell's headline `score` (QA: (EM + F1) / 2, the
per-task `avg_metric` convention of `evaluate.py`), and `example_points` gives each example's
contribution in points for the analysis' bootstrap. Scoring, evaluation and the analysis all use these.
The aggregation over languages and tasks is `xstilts.benchmarks.aggregation`. A `token_accuracy` kind
(CCG supertagging, an intermediate task: English dev only) completes the table.

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
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------------
# Kinds of sufficient statistics

ACCURACY = "accuracy"
F1 = "f1"
QA = "qa"
MAP20 = "map@20"
TOKEN_ACCURACY = "token_accuracy"
KINDS = (ACCURACY, F1, QA, MAP20, TOKEN_ACCURACY)

STATS_COLUMNS = {
    ACCURACY: ("correct",),
    F1: ("tp", "n_pred", "n_gold"),
    QA: ("em", "f1"),
    MAP20: ("ap",),
    TOKEN_ACCURACY: ("n_correct", "n_words"),
}
# every statistic column a target task's per-example table can hold (token accuracy is English dev only)
TARGET_STAT_COLUMNS = tuple(c for kind in (ACCURACY, F1, QA, MAP20) for c in STATS_COLUMNS[kind])

# the metric named by each registry entry (xstilts.benchmarks.registry) -> its kind of statistics
METRIC_KIND = {
    "accuracy": ACCURACY,
    "tatoeba_acc": ACCURACY,
    "seqeval_f1": F1,
    "bucc_f1": F1,
    "squad": QA,
    "mlqa": QA,
    "mewslix_map20": MAP20,
    "lareqa_map20": MAP20,
    "token_accuracy": TOKEN_ACCURACY,
}

# the official task names (evaluate.py) -> kind
TASK_KIND = {
    "pawsx": ACCURACY,
    "xnli": ACCURACY,
    "xcopa": ACCURACY,
    "tatoeba": ACCURACY,
    "udpos": F1,
    "panx": F1,
    "bucc2018": F1,
    "xquad": QA,
    "mlqa": QA,
    "tydiqa": QA,
    "mewslix": MAP20,
    "lareqa": MAP20,
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
    if kind == TOKEN_ACCURACY:
        words = sum(int(v) for v in cols["n_words"])
        return {"accuracy": 100.0 * sum(int(v) for v in cols["n_correct"]) / max(1, words)}
    # MAP20
    aps = cols["ap"]
    mean = sum(aps) / len(aps) if aps else 0.0
    return {"map@20": mean * 100}


def kind_of(stats: pd.DataFrame | Mapping[str, Sequence]) -> str:
    """The kind whose statistic columns `stats` holds (span F1 before QA: both have an `f1`-named column)."""
    names = set(stats.keys())
    for kind in (F1, QA, ACCURACY, MAP20, TOKEN_ACCURACY):
        if set(STATS_COLUMNS[kind]) <= names:
            return kind
    raise KeyError(f"no kind of statistics has the columns {sorted(names)}; expected one of {STATS_COLUMNS}")


def headline(scores: Mapping[str, float], kind: str) -> float:
    """The one number a cell contributes to its task's average: (EM + F1) / 2 for QA (evaluate.py's
    `avg_metric`), else the metric itself."""
    if kind == QA:
        return (scores["exact_match"] + scores["f1"]) / 2
    return scores["f1"] if kind == F1 else scores["map@20"] if kind == MAP20 else scores["accuracy"]


def score_from_stats(stats: pd.DataFrame | Mapping[str, Sequence], kind: str | None = None) -> dict[str, float]:
    """`cell_score` plus the headline `score`, in points; `{}` for empty statistics (hidden gold labels)."""
    if not len(stats) or not any(len(v) for v in (stats[c] for c in stats.keys())):
        return {}
    kind = kind or kind_of(stats)
    scores = cell_score(stats, kind)
    return {**scores, "score": headline(scores, kind)}


def example_points(stats: pd.DataFrame | Mapping[str, Sequence], kind: str):
    """Each example's contribution to the headline score, in points, as a float64 array: 100 x correct,
    100 x AP, 50 x (EM + F1); for span F1 the (n, 3) array of `tp n_pred n_gold` counts, which do not
    average (the analysis sums them)."""
    cols = {c: np.asarray(stats[c], dtype=np.float64) for c in STATS_COLUMNS[kind]}
    if kind == ACCURACY:
        return 100.0 * cols["correct"]
    if kind == MAP20:
        return 100.0 * cols["ap"]
    if kind == QA:
        return 50.0 * (cols["em"] + cols["f1"])
    if kind == F1:
        return np.stack([cols["tp"], cols["n_pred"], cols["n_gold"]], axis=-1)
    raise ValueError(f"kind {kind!r} has no per-example points (token accuracy is not a mean over examples)")


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
        raise ValueError(
            f"accuracy: {len(predictions)} predictions for {len(labels)} labels "
            "(evaluate.py asserts that the two files have the same number of lines)"
        )
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


def seqeval_f1(
    labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]], ids: Sequence | None = None
) -> MetricResult:
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
        raise ValueError(
            f"seqeval F1: {len(y_pred)} predicted sentences for {len(y_true)} gold sentences "
            "(evaluate.py asserts equal counts)"
        )
    bad = [i for i, (t, p) in enumerate(zip(y_true, y_pred)) if len(t) != len(p)]
    if bad:
        i = bad[0]
        raise ValueError(
            f"seqeval F1: sentence {i} has {len(y_pred[i])} predicted tags for {len(y_true[i])} "
            f"gold tags ({len(bad)} sentences differ; seqeval raises on this)"
        )
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
    return frozenset(chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")).union(
        string.punctuation
    )


def _check_mlqa_lang(lang: str) -> None:
    if lang not in MLQA_LANGS:
        raise ValueError(
            f"MLQA normalisation is defined only for {' '.join(MLQA_LANGS)}; got language {lang!r} "
            "(evaluate_mlqa.py raises 'Unknown Language')"
        )


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
            return [
                (str(qid), [a["text"] if isinstance(a, Mapping) else a for a in answers])
                for qid, answers in gold.items()
            ]
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
        raise TypeError(
            f"{what}: the prediction for {qid!r} must be a list of ids, got {type(ranked).__name__} "
            "(the official code would slice a string into characters and score 0)"
        )
    return list(ranked)


def mewslix_map20(
    gold: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]], k: int = TOP_K
) -> MetricResult:
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


def lareqa_map20(
    gold: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]], k: int = TOP_K
) -> MetricResult:
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
