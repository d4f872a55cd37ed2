"""The texts the retrieval tasks encode: one definition, read by the loaders and the engine alike.

- Mewsli-X query: the mention in its one sentence of context, `"{mention}: {left} { {mention} } {right}"`,
  braces already in the sentence turned into parentheses (XTREME-R `utils_mewslix.preprocess_mention`).
- Mewsli-X candidate: the entity description's sentences joined by spaces (`preprocess_entity_description`).
- LAReQA candidate: the answer sentence followed by its paragraph, no separator, newlines removed
  (XTREME-R `evaluate_retrieval.py`, lareqa branch); the same text is the positive of each SQuAD training
  pair (`run_retrieval_qa.py`), so training and test encode one kind of candidate.
- Sentence breaks of a SQuAD paragraph: a rule-based breaker in the spirit of XTREME's
  `sb_sed.infer_sentence_breaks` (XQuAD-R ships its breaks; SQuAD does not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MARKER_L, MARKER_R = "{", "}"
_BRACES = re.compile(r"\{(.*?)\}")


def _normalise_space(text: str) -> str:
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def mewslix_query(context: dict, mention: dict) -> str:
    """The query string of a mention in context: the one sentence holding the mention (the whole text when
    no sentence span holds it), the mention between `{ }` markers, the mention text prepended."""
    span = mention["mention_span"]
    start, end = span["start"], span["end"]
    text = context["text"]
    lo, hi = 0, len(text)
    for s in context["sentence_spans"]:
        if s["start"] <= start < s["end"] and s["start"] < end <= s["end"]:
            lo, hi = s["start"], s["end"]
            break
    left, right = _BRACES.sub(r"(\1)", text[lo:start]), _BRACES.sub(r"(\1)", text[end:hi])
    return _normalise_space(f"{span['text']}: {left} {MARKER_L} {span['text']} {MARKER_R} {right}")


def entity_description(entity: dict) -> str:
    """An entity's description: its sentences joined by spaces, newlines and double spaces normalised."""
    d = entity["description"]
    return _normalise_space(" ".join(d[s["start"] : s["end"]] for s in entity["sentence_spans"]))


def lareqa_candidate(sentence: str, context: str) -> str:
    """A LAReQA candidate: the sentence followed by its paragraph, no separator, newlines removed."""
    return (sentence + context).replace("\n", "")


_BREAK = re.compile(
    r"""([.?!。！？][)'"\u201d\u2019\]]*)\s+(?=[\[('"\u201c\u2018]?[A-Z0-9\u00c0-\u024f\u0370-\u04ff])"""
)
_CJK_BREAK = re.compile(r"([。！？])(?=\S)")
_NO_BREAK_BEFORE = re.compile(
    r"""(?:\b(?:Mrs?|Ms|Dr|Prof|Fr|Rev|St|Sta|Mt|Ft|Lt|Gen|Col|Maj|Capt|Sgt|Rep|Gov|Sen|Pres|Jr|Sr|Inc|Co|Corp|Ltd|No|vs?|e\.g|i\.e|cf|approx|ca|Jan|Feb|Aug|Sept?|Oct|Nov|Dec)|\b[A-Z])\.$"""
)


def sentence_breaks(text: str) -> list[tuple[int, int]]:
    """`(start, end)` character spans of the sentences of `text`: a break after `. ? !` (plus closing
    quotes or brackets) and whitespace before an upper-case letter or digit, not after common
    abbreviations or single initials; a break after CJK sentence punctuation. Spans exclude the
    whitespace around them."""
    cuts = []
    for m in _BREAK.finditer(text):
        if not _NO_BREAK_BEFORE.search(text[: m.end(1)]):
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


def sentence_at(breaks: Sequence[Sequence[int]], char: int) -> int | None:
    """The index of the sentence span holding character `char`, or None (whitespace between sentences)."""
    for i, (lo, hi) in enumerate(breaks):
        if lo <= char < hi:
            return i
    return None


def squad_pairs(ids, contexts, questions, answers) -> dict[str, list[str]]:
    """SQuAD rows in retrieval form: `{"id", "query", "positive"}` columns, the question and the LAReQA
    candidate of the sentence holding its first answer. Questions without an answer, or whose answer
    starts between two sentences, are skipped."""
    out = {"id": [], "query": [], "positive": []}
    breaks: dict[str, list[tuple[int, int]]] = {}
    for qid, context, question, answer in zip(ids, contexts, questions, answers):
        starts = answer["answer_start"]
        if not starts:
            continue
        spans = breaks.get(context)
        if spans is None:
            spans = breaks[context] = sentence_breaks(context)
        s = sentence_at(spans, int(starts[0]))
        if s is None:
            continue
        lo, hi = spans[s]
        out["id"].append(qid)
        out["query"].append(question)
        out["positive"].append(lareqa_candidate(context[lo:hi], context))
    return out
