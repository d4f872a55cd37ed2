"""The internal example types: one canonical schema per task format.

Every loader (hub or miniature) maps its source's schema into these; every featurizer, head and metric
reads only these. Flat formats are `datasets.Dataset`s with exactly the columns below; retrieval
formats are `RetrievalSet`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLASSIFICATION = "classification"  # single sentence (text_b None) or sentence pair
MULTIPLE_CHOICE = "multiple_choice"  # each (prompt, choice) pair encoded separately
TAGGING = "tagging"  # one tag per word, label on the first sub-token
QA = "qa"  # extractive QA, SQuAD v1.1 schema
BITEXT_MINING = "bitext_mining"  # BUCC: mine pairs between two monolingual sets
SENTENCE_RETRIEVAL = "sentence_retrieval"  # Tatoeba: aligned sentences, top-1
ANSWER_RETRIEVAL = "answer_retrieval"  # LAReQA: questions vs a pooled multilingual sentence pool
ENTITY_RETRIEVAL = "entity_retrieval"  # Mewsli-X: mention in context vs entity descriptions

FLAT_FORMATS = (CLASSIFICATION, MULTIPLE_CHOICE, TAGGING, QA)
RETRIEVAL_FORMATS = (BITEXT_MINING, SENTENCE_RETRIEVAL, ANSWER_RETRIEVAL, ENTITY_RETRIEVAL)
FORMATS = FLAT_FORMATS + RETRIEVAL_FORMATS

# Canonical columns of the flat formats (names and python types).
COLUMNS = {
    # label: index into Task.labels; -1 where the label is hidden
    CLASSIFICATION: {"id": str, "text_a": str, "text_b": "str|None", "label": int},
    MULTIPLE_CHOICE: {"id": str, "prompt": str, "choices": "list[str]", "label": int},
    # tags: tag names (strings), one per token
    TAGGING: {"id": str, "tokens": "list[str]", "tags": "list[str]"},
    QA: {"id": str, "context": str, "question": str, "answers": "{text: list[str], answer_start: list[int]}"},
}
# Dual-encoder training pairs (LAReQA on SQuAD, Mewsli-X on Wikipedia mention-entity pairs).
PAIR_COLUMNS = {"id": str, "query": str, "positive": str}


@dataclass
class RetrievalSet:
    """Queries ranked against a fixed candidate pool; `gold[query_id]` lists the relevant candidate ids.

    BUCC: queries are the non-English sentences, candidates the English ones, gold the gold pairs
    (mining is symmetric; see the metric). Tatoeba: queries are English (the official en->xx direction),
    candidates the xx sentences. LAReQA: questions of every language vs one pooled sentence pool.
    Mewsli-X: mentions in context vs entity descriptions.
    """

    language: str
    query_ids: list[str]
    queries: list[str]
    candidate_ids: list[str]
    candidates: list[str]
    gold: dict[str, list[str]]
    query_languages: list[str] = field(default_factory=list)  # LAReQA: the language of each question
