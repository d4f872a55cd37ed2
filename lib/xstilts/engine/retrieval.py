"""Retrieval straight from pooled encoder states: BUCC, Tatoeba, Mewsli-X and LAReQA
(docs/benchmarks.md §2.4 to §2.7 and §5.2).

- ``encode`` pools ``hidden_states[layer]`` (index 0 = embeddings; on the pre-LayerNorm XL and XXL read through
  the final LayerNorm, ``layers.layer_states``) over the attention mask, ``<s>`` and ``</s>`` included, as
  jiant's ``EmbeddingModel`` + ``MeanPoolerHead``; ``'cls'`` takes ``<s>``.
  (XTREME-R's dual encoder ranks with the normalised HF pooler output; the engine's encoders carry no
  pooler, so the dual encoder here mean-pools the last layer: ``engine/dual_encoder.py``.)
  Layer choice and pooling: ``engine/layers.py``; the texts encoded: ``benchmarks/retrieval_texts.py``.
- ``tatoeba_search``: faiss ``IndexFlatL2`` on L2-normalised vectors, add the non-English side, query
  with English, k=1 (the official en→xx direction).
- ``bucc_mine_pairs``: LASER ratio-margin mining, k=4 both directions, ``retrieval='max'``, greedy 1-1,
  de-duplicated by text (XTREME ``utils_retrieve.mine_bitext``/``bucc_eval``).
- ``dense_rank``: exhaustive ``IndexFlatIP`` top-k (Mewsli-X, LAReQA dot product).
- ``retrieval_eval``: one of the four tasks on a ``RetrievalSet`` → official predictions + per-example
  sufficient statistics.

The default layer is jiant's choice (layer 14 of XLM-R Large's 24) scaled to the model's depth:
``round(14 * num_layers / 24)`` (base: 7, XL: 21, XXL: 28); pooling defaults to mean (jiant).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xstilts.benchmarks import formats
from xstilts.benchmarks.formats import RetrievalSet
from xstilts.benchmarks.metrics import TOP_K, average_precision_at_k, bucc_optimize_threshold, score_from_stats
from xstilts.engine.encoders import load_encoder, load_tokenizer, resolve_encoder_dir
from xstilts.engine.layers import POOLINGS, default_retrieval_layer, layer_states, pool_hidden
from xstilts.engine.types import EvalResult
from xstilts.progress import bar

log = logging.getLogger(__name__)

BUCC_K = 4  # neighbourhood of the ratio margin (LASER, XTREME)

# Official task names of the retrieval targets -> canonical format.
TASK_FORMATS = {
    "bucc2018": formats.BITEXT_MINING,
    "tatoeba": formats.SENTENCE_RETRIEVAL,
    "lareqa": formats.ANSWER_RETRIEVAL,
    "mewslix": formats.ENTITY_RETRIEVAL,
}


# ---- encoding ------------------------------------------------------------------------------------


def load_retrieval_encoder(encoder_dir: str | Path, device: str | None = None):
    """``(model, tokenizer)`` from a checkpoint folder or a run folder (``<run>/encoder/``), loaded as the
    trainer loads encoders (``engine.modeling.load_encoder``); on CUDA when available unless ``device``.
    Memoised per process on the folder and its files' modification times: a run evaluates one encoder on
    every language, and the (inference-only) model is loaded once for all of them."""
    path = Path(resolve_encoder_dir(encoder_dir))  # or a hub id
    stamp = (
        tuple(sorted((f.name, f.stat().st_mtime_ns) for f in path.iterdir() if f.is_file())) if path.is_dir() else ()
    )
    return _load_retrieval_encoder(str(path), stamp, device)


@functools.lru_cache(maxsize=2)
def _load_retrieval_encoder(path: str, stamp: tuple, device: str | None):
    import torch

    tokenizer = load_tokenizer(path)
    model = load_encoder(path)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    return model, tokenizer


def _as_model_and_tokenizer(encoder):
    """Accept a folder, a ``(model, tokenizer)`` pair, or an object with ``.model``/``.tokenizer``."""
    if isinstance(encoder, (str, os.PathLike)):
        return load_retrieval_encoder(encoder)
    if isinstance(encoder, (tuple, list)) and len(encoder) == 2:
        return encoder[0], encoder[1]
    if hasattr(encoder, "model") and hasattr(encoder, "tokenizer"):
        return encoder.model, encoder.tokenizer
    raise TypeError(
        f"encoder must be a checkpoint folder, a (model, tokenizer) pair or have .model/.tokenizer; got {type(encoder).__name__}"
    )


def _num_layers(model) -> int:
    n = getattr(model.config, "num_hidden_layers", None)
    if n is None:
        raise ValueError(f"model config {type(model.config).__name__} has no num_hidden_layers")
    return int(n)


def encode(
    encoder_dir_or_model,
    texts: Sequence[str],
    layer: int | None = None,
    pooling: str = "mean",
    batch_size: int = 64,
    max_seq_len: int = 512,
    progress: bool = True,
) -> np.ndarray:
    """Sentence embeddings, shape (len(texts), hidden), float32, in ``texts`` order.

    ``layer`` indexes ``hidden_states`` (0 = embedding output, ``num_layers`` = last; negative counts
    from the end; None = ``default_retrieval_layer``). Texts are
    batched by length (less padding; pooling ignores padding so the result does not depend on it).
    """
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r} is not one of {POOLINGS}")
    model, tokenizer = _as_model_and_tokenizer(encoder_dir_or_model)
    n_layers = _num_layers(model)
    if layer is None:
        layer = default_retrieval_layer(n_layers)
    if not -(n_layers + 1) <= layer <= n_layers:
        raise ValueError(
            f"layer {layer} out of range for a {n_layers}-layer encoder (hidden_states has {n_layers + 1} entries)"
        )
    texts = list(texts)
    if not texts:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"encode: texts[{bad[0]}] is {type(texts[bad[0]]).__name__}, expected str")

    enc = tokenizer(texts, truncation=True, max_length=max_seq_len, add_special_tokens=True)
    ids = enc["input_ids"]
    order = np.argsort([-len(x) for x in ids], kind="stable")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    was_training = model.training
    model.eval()
    use_bf16 = device.type == "cuda"
    starts = range(0, len(texts), batch_size)
    with torch.inference_mode():
        for start in bar(starts, desc=f"encode L{layer} {pooling}", enabled=progress and len(starts) >= 2):
            rows = order[start : start + batch_size]
            width = max(len(ids[i]) for i in rows)
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                input_ids[j, : len(ids[i])] = torch.as_tensor(ids[i])
                mask[j, : len(ids[i])] = 1
            input_ids, mask = input_ids.to(device), mask.to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                result = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
            pooled = pool_hidden(layer_states(model, result.hidden_states, layer).float(), mask, pooling)
            out[rows] = pooled.float().cpu().numpy()
    if was_training:
        model.train()
    return out


# ---- nearest neighbours ---------------------------------------------------------------------------


def _normalized(x: np.ndarray) -> np.ndarray:
    """A float32 C-contiguous L2-normalised copy (faiss.normalize_L2 works in place)."""
    import faiss

    x = np.array(x, dtype=np.float32, order="C", copy=True)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    faiss.normalize_L2(x)
    return x


def tatoeba_search(src_emb: np.ndarray, en_emb: np.ndarray) -> np.ndarray:
    """For each English sentence, the row of its nearest non-English sentence (acc@1 retrieval).

    Official direction (XTREME ``evaluate_retrieval.similarity_search``, jiant ``tatoeba.py``):
    faiss ``IndexFlatL2`` on L2-normalised vectors, ``add(src)``, ``search(en, k=1)``."""
    import faiss

    x, y = _normalized(src_emb), _normalized(en_emb)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"tatoeba_search: dimension mismatch src {x.shape} vs en {y.shape}")
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    _, nearest = index.search(y, 1)
    return nearest[:, 0].astype(np.int64)


def _knn_ip(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(keys.shape[1])
    index.add(keys)
    return index.search(queries, k)


def _unique_rows(ids: Sequence[str], texts: Sequence[str] | None):
    """Rows to mine on (one per distinct text, in order of first appearance, holding the embedding of
    its last occurrence) and the id each maps to in the output.

    As XTREME's ``text_load_unify``/``unique_embeddings``/``read_sent2id``: mining runs on unique texts,
    and a text that occurs more than once maps to no id, so pairs involving it are dropped."""
    if texts is None:
        return list(range(len(ids))), list(ids)
    if len(texts) != len(ids):
        raise ValueError(f"bucc_mine_pairs: {len(texts)} texts for {len(ids)} ids")
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, t in enumerate(texts):
        key = t.strip()
        last[key] = i
        count[key] = count.get(key, 0) + 1
    keep = list(last.values())  # dicts keep first-insertion order
    out_ids = [ids[i] if count[texts[i].strip()] == 1 else None for i in keep]
    return keep, out_ids


def _ratio_margin(
    a: np.ndarray, b: np.ndarray, neighbours: np.ndarray, a_mean: np.ndarray, b_mean: np.ndarray, chunk: int = 8192
) -> np.ndarray:
    """``cos(a_i, b_j) / ((a_mean_i + b_mean_j) / 2)`` for each kNN candidate j of each i (chunked: BUCC
    has ~10^5 sentences per side)."""
    out = np.empty(neighbours.shape, dtype=np.float32)
    for start in range(0, len(a), chunk):
        nb = neighbours[start : start + chunk]
        cos = np.einsum("id,ikd->ik", a[start : start + chunk], b[nb])
        out[start : start + chunk] = cos / ((a_mean[start : start + chunk, None] + b_mean[nb]) / 2)
    return out


def bucc_mine_pairs(
    src_ids: Sequence[str],
    src_emb: np.ndarray,
    tgt_ids: Sequence[str],
    tgt_emb: np.ndarray,
    k: int = BUCC_K,
    src_texts: Sequence[str] | None = None,
    tgt_texts: Sequence[str] | None = None,
) -> list[tuple[str, str, float]]:
    """Candidate pairs ``(src_id, tgt_id, score)`` by LASER ratio-margin mining, best score first.

    Following XTREME ``utils_retrieve.mine_bitext`` (mode 'mine', retrieval 'max', margin 'ratio'):
    cosine kNN with ``k`` neighbours in both directions; margin ``cos(x,y) / ((mean_kNN(x) +
    mean_kNN(y)) / 2)``; each source's and each target's best candidate are pooled, sorted by score and
    accepted greedily so that every source and every target appears at most once; candidates with
    score > 0 are kept (the mining threshold). With ``src_texts``/``tgt_texts`` mining runs on unique
    texts and repeated texts are dropped (``read_sent2id``). The F1 threshold is applied later.
    """
    if len(src_ids) != len(src_emb) or len(tgt_ids) != len(tgt_emb):
        raise ValueError(
            f"bucc_mine_pairs: ids/embeddings length mismatch (src {len(src_ids)} vs {len(src_emb)}, tgt {len(tgt_ids)} vs {len(tgt_emb)})"
        )
    if len(src_ids) == 0 or len(tgt_ids) == 0:
        return []
    src_rows, src_out = _unique_rows(src_ids, src_texts)
    tgt_rows, tgt_out = _unique_rows(tgt_ids, tgt_texts)
    x = _normalized(np.asarray(src_emb)[src_rows])
    y = _normalized(np.asarray(tgt_emb)[tgt_rows])
    x2y_sim, x2y_ind = _knn_ip(x, y, min(len(y), k))
    y2x_sim, y2x_ind = _knn_ip(y, x, min(len(x), k))
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)

    fwd = _ratio_margin(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd = _ratio_margin(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(len(x)), fwd.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(y)), bwd.argmax(axis=1)]
    pair_src = np.concatenate([np.arange(len(x)), bwd_best])
    pair_tgt = np.concatenate([fwd_best, np.arange(len(y))])
    scores = np.concatenate([fwd.max(axis=1), bwd.max(axis=1)])

    seen_src: set[int] = set()
    seen_tgt: set[int] = set()
    best: dict[tuple[str, str], float] = {}
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(pair_src[i]), int(pair_tgt[i])
        if s in seen_src or t in seen_tgt:
            continue
        seen_src.add(s)
        seen_tgt.add(t)
        if scores[i] > 0 and src_out[s] is not None and tgt_out[t] is not None:
            key = (src_out[s], tgt_out[t])
            best[key] = max(float(scores[i]), best.get(key, float("-inf")))
    return sorted(((s, t, sc) for (s, t), sc in best.items()), key=lambda c: -c[2])


def bucc_apply_threshold(candidates: Sequence[tuple[str, str, float]], threshold: float) -> list[tuple[str, str]]:
    """Mined pairs with ``score >= threshold`` (XTREME ``bucc_extract``), best first."""
    return [(s, t) for s, t, score in candidates if score >= threshold]


def dense_rank(
    query_emb: np.ndarray, cand_emb: np.ndarray, cand_ids: Sequence[str], k: int = TOP_K, normalize: bool = True
) -> tuple[list[list[str]], np.ndarray]:
    """Top-``k`` candidate ids per query by dot product (faiss ``IndexFlatIP``), and their scores.

    Mewsli-X ranks L2-normalised encodings with ``IndexFlatIP``; LAReQA ranks by ``q · c`` of the dual
    encoder's normalised outputs (``utils_lareqa.mean_avg_prec_at_k``). ``normalize=True`` makes both
    cosine, which is what they compute on normalised encodings."""
    import faiss

    if len(cand_ids) != len(cand_emb):
        raise ValueError(f"dense_rank: {len(cand_ids)} cand_ids for {len(cand_emb)} candidate embeddings")
    if len(query_emb) == 0 or len(cand_ids) == 0:
        return [[] for _ in range(len(query_emb))], np.zeros((len(query_emb), 0), dtype=np.float32)
    q = _normalized(query_emb) if normalize else np.ascontiguousarray(query_emb, dtype=np.float32)
    c = _normalized(cand_emb) if normalize else np.ascontiguousarray(cand_emb, dtype=np.float32)
    index = faiss.IndexFlatIP(c.shape[1])
    index.add(c)
    scores, rows = index.search(q, min(k, len(cand_ids)))
    return [[cand_ids[j] for j in r if j >= 0] for r in rows], scores


# ---- evaluation of a retrieval task ---------------------------------------------------------------


@dataclass
class RetrievalEval:
    """Predictions in the official submission form, per-example sufficient statistics, settings.

    ``predictions``: Tatoeba ``list[int]`` (candidate row per English query, query order); BUCC
    ``list[(src_id, tgt_id)]``; Mewsli-X/LAReQA ``{query_id: [top-20 candidate ids]}``.
    ``stats``: a DataFrame with ``id`` and ``correct`` (Tatoeba), ``tp n_pred n_gold`` (BUCC, per
    source sentence) or ``ap`` (Mewsli-X/LAReQA, per query with gold), plus ``language``.
    """

    format: str
    predictions: Any
    stats: pd.DataFrame
    info: dict = field(default_factory=dict)

    def score(self) -> float:
        """The cell score in points (0-100) from the sufficient statistics (0 when there are none)."""
        return score_from_stats(self.statistics()).get("score", 0.0)

    def statistics(self) -> dict[str, list]:
        """The statistic columns alone (no ids, no languages)."""
        return {c: self.stats[c].tolist() for c in self.stats.columns if c not in ("id", "language", "query_language")}


def retrieval_format(task) -> str:
    """The retrieval format of ``task``: an object with ``.format``, a format name, or an official
    task name (bucc2018, tatoeba, lareqa, mewslix)."""
    fmt = task if isinstance(task, str) else getattr(task, "format", None)
    fmt = TASK_FORMATS.get(fmt, fmt)
    if fmt not in formats.RETRIEVAL_FORMATS:
        raise ValueError(
            f"task {getattr(task, 'name', task)!r} has format {fmt!r}; expected one of {formats.RETRIEVAL_FORMATS} or a task in {sorted(TASK_FORMATS)}"
        )
    return fmt


def _check_set(rs: RetrievalSet) -> None:
    if len(rs.query_ids) != len(rs.queries):
        raise ValueError(f"RetrievalSet({rs.language}): {len(rs.query_ids)} query_ids vs {len(rs.queries)} queries")
    if len(rs.candidate_ids) != len(rs.candidates):
        raise ValueError(
            f"RetrievalSet({rs.language}): {len(rs.candidate_ids)} candidate_ids vs {len(rs.candidates)} candidates"
        )


def bucc_stats(
    query_ids: Sequence[str], predicted: Sequence[tuple[str, str]], gold: dict[str, list[str]]
) -> pd.DataFrame:
    """Per source sentence: ``tp`` (predicted pairs in gold), ``n_pred``, ``n_gold``. Their sums give
    ``evaluate.bucc_f1`` exactly (pairs are sets; sources in gold but not in ``query_ids`` get rows too)."""
    gold_pairs = {(s, t) for s, ts in gold.items() for t in ts}
    rows: dict[str, list[int]] = {q: [0, 0, 0] for q in query_ids}
    for s, _t in gold_pairs:
        rows.setdefault(s, [0, 0, 0])[2] += 1
    for s, t in set(predicted):
        r = rows.setdefault(s, [0, 0, 0])
        r[1] += 1
        r[0] += int((s, t) in gold_pairs)
    return pd.DataFrame([(q, *v) for q, v in rows.items()], columns=["id", "tp", "n_pred", "n_gold"])


def retrieval_eval(
    encoder,
    task,
    retrieval_set: RetrievalSet,
    layer: int | None = None,
    pooling: str = "mean",
    batch_size: int = 64,
    max_seq_len: int = 512,
    threshold: float | Mapping[str, float] | None = None,
    k: int = TOP_K,
    query_max_seq_len: int | None = None,
) -> RetrievalEval:
    """Evaluate ``encoder`` on one language's retrieval set of ``task``.

    - Tatoeba: queries are English, candidates the xx side; ``tatoeba_search`` → candidate row per query.
    - BUCC: queries are the xx sentences, candidates the English ones; ``bucc_mine_pairs`` then the
      threshold: ``threshold`` if given (the dev-tuned value, for test; a ``{language: value}`` mapping
      is read at ``retrieval_set.language``), else tuned on this set's gold with
      ``xstilts.benchmarks.metrics.bucc_optimize_threshold`` (dev: the BUCC "sample" split); ``info["threshold"]``.
    - Mewsli-X / LAReQA: ``dense_rank`` top ``k`` of the candidate pool per query; AP@k per query.
    ``layer``/``pooling`` as in ``encode``. ``query_max_seq_len`` (LAReQA questions: 96 in XTREME-R)
    defaults to ``max_seq_len``.
    """
    fmt = retrieval_format(task)
    _check_set(retrieval_set)
    model, tokenizer = _as_model_and_tokenizer(encoder)
    if layer is None:
        layer = default_retrieval_layer(_num_layers(model))
    opts = dict(layer=layer, pooling=pooling, batch_size=batch_size, progress=False)  # one language: seconds
    q_emb = encode((model, tokenizer), retrieval_set.queries, max_seq_len=query_max_seq_len or max_seq_len, **opts)
    c_emb = encode((model, tokenizer), retrieval_set.candidates, max_seq_len=max_seq_len, **opts)
    rs = retrieval_set
    info = {
        "layer": layer,
        "pooling": pooling,
        "max_seq_len": max_seq_len,
        "language": rs.language,
        "n_queries": len(rs.queries),
        "n_candidates": len(rs.candidates),
    }

    if fmt == formats.SENTENCE_RETRIEVAL:
        rows = tatoeba_search(c_emb, q_emb)
        predictions = [int(r) for r in rows]
        correct = [int(rs.candidate_ids[r] in rs.gold.get(q, [])) for q, r in zip(rs.query_ids, rows)]
        stats = pd.DataFrame({"id": rs.query_ids, "correct": correct})
    elif fmt == formats.BITEXT_MINING:
        candidates = bucc_mine_pairs(
            rs.query_ids, q_emb, rs.candidate_ids, c_emb, k=BUCC_K, src_texts=rs.queries, tgt_texts=rs.candidates
        )
        if isinstance(threshold, Mapping):
            if rs.language not in threshold:
                raise KeyError(
                    f"bucc threshold: no dev-tuned threshold for language {rs.language!r}; have {sorted(threshold)}"
                )
            threshold = threshold[rs.language]
        if threshold is None:
            gold_pairs = [(s, t) for s, ts in rs.gold.items() for t in ts]
            threshold = bucc_optimize_threshold({(s, t): sc for s, t, sc in candidates}, gold_pairs)
            info["threshold_tuned"] = 1
        else:
            info["threshold_tuned"] = 0
        info["threshold"] = float(threshold)
        info["n_mined"] = len(candidates)
        predictions = bucc_apply_threshold(candidates, threshold)
        stats = bucc_stats(rs.query_ids, predictions, rs.gold)
    else:
        ranked, _ = dense_rank(q_emb, c_emb, rs.candidate_ids, k=k)
        predictions = dict(zip(rs.query_ids, ranked))
        scored = [
            (q, average_precision_at_k(set(rs.gold[q]), r, k)) for q, r in zip(rs.query_ids, ranked) if rs.gold.get(q)
        ]
        info["n_queries_without_gold"] = len(rs.query_ids) - len(scored)
        stats = pd.DataFrame(scored, columns=["id", "ap"])
    stats.insert(1, "language", rs.language)
    if fmt == formats.ANSWER_RETRIEVAL and rs.query_languages:
        lang_of = dict(zip(rs.query_ids, rs.query_languages))
        stats["query_language"] = [lang_of[q] for q in stats["id"]]
    return RetrievalEval(format=fmt, predictions=predictions, stats=stats, info=info)


def to_eval_result(result: RetrievalEval):
    """A ``RetrievalEval`` as the engine's ``EvalResult``: predictions in query order, ``metrics`` with
    ``score`` (points) and the numeric settings (layer, threshold...), stats columns as lists with
    ``id`` renamed ``example_id``."""
    stats = result.stats.rename(columns={"id": "example_id"})
    cols = {c: stats[c].tolist() for c in stats.columns}
    numeric = {k: v for k, v in result.info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    metrics = {**score_from_stats(result.statistics()), **numeric, "score": result.score()}
    preds = result.predictions
    preds = list(preds.values()) if isinstance(preds, dict) else list(preds)
    return EvalResult(predictions=preds, metrics=metrics, per_example_stats=cols)


class EncoderRetrievalAdapter:
    """BUCC and Tatoeba: no training and no head; ``zero_shot`` ranks with pooled encoder states."""

    in_batch_negatives = False

    def __init__(self, format: str):
        self.format = format

    def _no_training(self, *args, **kwargs):
        raise ValueError(
            f"format {self.format!r} has no training data or head: it is evaluated from pooled "
            f"encoder states (adapter.zero_shot / retrieval_eval)"
        )

    featurize = collate = build_head = forward = split_outputs = decode = example_stats = dev_score = _no_training

    def zero_shot(self, model_dir, task, data: RetrievalSet, **options):
        """``retrieval_eval(model_dir, task, data, **options)`` as an ``EvalResult``."""
        return to_eval_result(retrieval_eval(model_dir, task, data, **options))


BITEXT_MINING_ADAPTER = EncoderRetrievalAdapter(formats.BITEXT_MINING)
SENTENCE_RETRIEVAL_ADAPTER = EncoderRetrievalAdapter(formats.SENTENCE_RETRIEVAL)
