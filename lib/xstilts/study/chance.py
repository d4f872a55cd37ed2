"""The score of the trivial predictor on a test set, shown beside every score (`chance` in scores.csv).

Majority class of the English training data (classification, multiple choice), the most frequent
English tag for every word (tagging), the empty answer (QA), a random ranking (retrieval: the exact
expectation 1/N for Tatoeba's top-1, the mean over seeded random permutations for mAP@20), and no mined
pairs for BUCC (F1 0). Scored through the same per-example statistics as the models.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.metrics import TOP_K, average_precision_at_k, score_from_stats
from xstilts.benchmarks.registry import get_task
from xstilts.study.splits import load_split, load_split_parts

RANDOM_DRAWS = 20


@functools.lru_cache(maxsize=1024)
def _chance(task_key: str, language: str, world: str | None, limit: int | None) -> float:
    from xstilts.engine.adapter_table import adapter_for  # heavy: torch

    task = get_task(task_key)
    world_dir = Path(world) if world else None
    test = load_split(task, "test", language, world_dir, limit)
    if task.format in F.RETRIEVAL_FORMATS:
        return _random_ranking(task, test)
    adapter = adapter_for(task.format)
    if task.format == F.QA:
        predictions = [""] * len(test)
    else:
        train = _english_train(task, world_dir, limit)
        if task.format == F.TAGGING:
            tag = Counter(t for tags in train["tags"] for t in tags).most_common(1)[0][0]
            predictions = [[tag] * len(tokens) for tokens in test["tokens"]]
        else:
            label = Counter(train["label"]).most_common(1)[0][0]
            predictions = [label] * len(test)
    if task.format == F.QA:  # MLQA's normalisation is language-aware
        stats = adapter.example_stats(predictions, test, task, language=language)
    else:
        stats = adapter.example_stats(predictions, test, task)
    return float(score_from_stats(dict(stats)).get("score", float("nan")))


def _english_train(task, world_dir, limit):
    if task.train_schedule == "sequence":  # XCOPA: the last step's data (COPA) sets the majority
        return list(load_split_parts(task, "train", "en", world_dir, limit).values())[-1]
    return load_split(task, "train", "en", world_dir, limit)


def _random_ranking(task, rs) -> float:
    if task.format == F.BITEXT_MINING:
        return 0.0
    if task.format == F.SENTENCE_RETRIEVAL:
        return 100.0 / max(1, len(rs.candidate_ids))
    rng = np.random.default_rng(0)
    ids = np.asarray(rs.candidate_ids)
    scores = []
    for _ in range(RANDOM_DRAWS):
        for q in rs.query_ids:
            if rs.gold.get(q):
                ranked = ids[rng.permutation(len(ids))[:TOP_K]].tolist()
                scores.append(average_precision_at_k(rs.gold[q], ranked, TOP_K))
    return 100.0 * float(np.mean(scores)) if scores else 0.0


def chance_score(task, language: str, world_dir: Path | None, limit: int | None = None) -> float:
    """Points scored on (task, language)'s test set by the trivial predictor (`limit`: the profile's cap)."""
    return _chance(task.key, language, str(world_dir) if world_dir else None, limit)
