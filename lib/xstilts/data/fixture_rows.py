"""The rows of the rehearsal's fixture hub: a few per config and split, in each hub dataset's own schema.

Every row is built for the hub contract (`xstilts.data.contract`): the declared features of its config, and
the quirks the contract records of the real rows -- MLQA and TyDiQA `answers` as {answer_start, text}, TyDiQA's
language in the id prefix, PAWS-X strings on google/xtreme, UD's kept multiword range lines (upos '_', head
and deps 'None') with null `xpos` and Python-repr `feats`, Tatoeba's trailing newlines and BUCC's sentence ids
in `source_lang`/`target_lang`, hidden labels (-1, '' in HellaSwag and CommonsenseQA tests, SNLI's
no-consensus -1). The release files (BUCC, LASER Tatoeba, XQuAD-R, Mewsli-X) and the CCGbank stand-in are
records in the shapes `xstilts.data.writers.write_source` writes.

Text is pseudo-words in each language's script (`xstilts.benchmarks.languages`), seeded by the dataset,
config and split, so the same call always returns the same rows. Nothing here describes real data beyond
its structure.
"""

from __future__ import annotations

import random
import zlib

from xstilts.benchmarks.languages import by_iso3, by_name, get_language
from xstilts.benchmarks.official import XTREME, scored_languages
from xstilts.benchmarks.sources import TYDIQA_PREFIX

# (first code point, count) of the letters each script's pseudo-words are drawn from
_SCRIPTS = {
    "Latn": (0x61, 26),
    "Arab": (0x627, 36),
    "Cyrl": (0x430, 32),
    "Beng": (0x995, 36),
    "Grek": (0x3B1, 25),
    "Gujr": (0xA95, 36),
    "Hebr": (0x5D0, 27),
    "Deva": (0x915, 36),
    "Jpan": (0x3041, 80),
    "Geor": (0x10D0, 33),
    "Kore": (0xAC00, 400),
    "Mlym": (0xD15, 36),
    "Mymr": (0x1000, 33),
    "Guru": (0xA15, 36),
    "Taml": (0xB95, 36),
    "Telu": (0xC15, 36),
    "Thai": (0xE01, 46),
    "Hans": (0x4E00, 400),
}
NLI3 = ("entailment", "neutral", "contradiction")
XNLI15 = tuple(scored_languages("xnli", XTREME))  # google/xtreme's XNLI config holds these in one config
UPOS17 = 17
UD_RANGE = 13  # index of '_' in universal_dependencies' UPOS ClassLabel (hub contract)
NER_SEQUENCES = ((0, 0, 0), (1, 2, 0), (0, 3, 4), (5, 6, 0), (1, 0, 5))  # valid IOB2 runs of PER, ORG, LOC
TAGS = ("N", "NP", "N/N", "NP/N", "(S[dcl]\\NP)/NP", "S[dcl]\\NP", ".", ",")


def rows_per_split(split: str) -> int:
    """How many rows a fixture split holds: a few (training splits a few more)."""
    return 8 if split.startswith("train") else 4


def seed_of(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


class Text:
    """Seeded pseudo-words and sentences in a language's script."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def word(self, lang: str) -> str:
        start, count = _SCRIPTS.get(get_language(lang).script, _SCRIPTS["Latn"])
        return "".join(chr(start + self.rng.randrange(count)) for _ in range(self.rng.randint(2, 5)))

    def words(self, lang: str, lo: int = 3, hi: int = 7) -> list[str]:
        return [self.word(lang) for _ in range(self.rng.randint(lo, hi))]

    def sentence(self, lang: str, lo: int = 3, hi: int = 7) -> str:
        return " ".join(self.words(lang, lo, hi)) + "."


def config_language(config: str | None) -> str:
    """The language of a per-language config: `ar`, `PAN-X.ar`, `MLQA.ar.ar`, `xquad.ar`, `udpos.Arabic`,
    `tatoeba.ara`, `pl_lfg` (UD treebank); English for the rest."""
    if not config:
        return "en"
    tail = config.split(".")[-1]
    for lookup in (get_language, by_name, by_iso3):
        try:
            return lookup(tail).code
        except KeyError:
            pass
    try:
        return get_language(config.split("_")[0]).code
    except KeyError:
        return "en"


def _qa(t: Text, lang: str, id_: str, hub_order: bool, title: bool) -> dict:
    """A SQuAD-format row whose answer is a span of its context; `hub_order`: answers keyed {answer_start,
    text} as google/xtreme declares them, else {text, answer_start} (rajpurkar/squad, google/xquad)."""
    words = t.words(lang, 6, 12)
    k = t.rng.randrange(len(words) - 1)
    answer = " ".join(words[k : k + 2])
    context = " ".join(words) + "."
    start = context.index(answer)
    answers = {"answer_start": [start], "text": [answer]} if hub_order else {"text": [answer], "answer_start": [start]}
    row = {"id": id_, **({"title": t.word(lang)} if title else {})}
    return {**row, "context": context, "question": " ".join(t.words(lang, 3, 5)) + "?", "answers": answers}


def _ud_row(t: Text, lang: str, i: int, treebank: str) -> dict:
    """A parsed CoNLL-U sentence as the hub loader keeps it: a range line first (upos '_'), then words."""
    words = t.words(lang, 3, 6)
    fused = words[0] + words[1]
    tokens = [fused, *words]
    upos = [UD_RANGE] + [t.rng.choice([0, 1, 2, 6, 8, 10, 16]) for _ in words]
    n = len(words)
    return {
        "idx": f"{treebank}-s{i + 1}",
        "text": " ".join([fused, *words[2:]]),
        "tokens": tokens,
        "lemmas": [w.lower() for w in tokens],
        "upos": upos,
        "xpos": [None] + [None if j % 2 else f"X{j}" for j in range(n)],
        "feats": ["None"] + ["{'Case': 'Nom'}" if j % 2 else "None" for j in range(n)],
        "head": ["None"] + [str(0 if j == 0 else 1) for j in range(n)],
        "deprel": ["_"] + ["root" if j == 0 else "dep" for j in range(n)],
        "deps": ["None"] + [f"[('{'root' if j == 0 else 'dep'}', {0 if j == 0 else 1})]" for j in range(n)],
        "misc": ["None"] * (n + 1),
    }


def _tagging(t: Text, lang: str, with_langs: bool, spans: bool) -> dict:
    seq = [tag for run in (t.rng.choice(NER_SEQUENCES) for _ in range(2)) for tag in run]
    tokens = [t.word(lang) for _ in seq]
    row = {"tokens": tokens, "ner_tags": seq}
    if with_langs:
        row["langs"] = [lang] * len(tokens)
    if spans:
        names = {1: "PER", 3: "ORG", 5: "LOC"}
        row["spans"] = [f"{names[g]}: {w}" for w, g in zip(tokens, seq) if g in names]
    return row


def rows(schema: str, dataset: str, config: str | None, split: str, n: int | None = None) -> list[dict]:
    """`n` (default `rows_per_split`) rows of one split of one config, in the schema the contract declares."""
    n = n or rows_per_split(split)
    if schema == "xtreme.xnli" or config == "tydiqa":  # several languages in one config: a few rows each
        n *= len(XNLI15) if schema == "xtreme.xnli" else len(TYDIQA_PREFIX)
    t = Text(seed_of(dataset, config or "", split))
    lang = config_language(config)
    hidden = split.startswith("test")  # GLUE, SuperGLUE and CosmosQA hide test labels
    out = []
    for i in range(n):
        if schema in ("xnli", "snli", "glue.mnli", "anli"):
            row = {"premise": t.sentence(lang), "hypothesis": t.sentence(lang), "label": i % 3}
            if schema == "snli" and i == n - 1:
                row["label"] = -1  # no annotator consensus
            if schema == "glue.mnli":
                row = {**row, "label": -1 if hidden else i % 3, "idx": i}
            if schema == "anli":
                row = {"uid": f"{split}-{i}", **row, "reason": t.sentence("en") if split.startswith("train") else ""}
        elif schema == "glue.qqp":
            row = {"question1": t.sentence(lang), "question2": t.sentence(lang), "label": -1 if hidden else i % 2}
            row["idx"] = i
        elif schema == "glue.sst2":
            row = {"sentence": t.sentence(lang), "label": -1 if hidden else i % 2, "idx": i}
        elif schema == "paws-x":
            row = {"id": i + 1, "sentence1": t.sentence(lang), "sentence2": t.sentence(lang), "label": i % 2}
        elif schema == "xtreme.paws-x":
            row = {"sentence1": t.sentence(lang), "sentence2": t.sentence(lang), "label": str(i % 2)}
        elif schema == "xtreme.xnli":  # the 15 languages in one config, string labels
            code = get_language(
                ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")[i % 15]
            ).code
            row = {
                "language": code,
                "sentence1": t.sentence(code),
                "sentence2": t.sentence(code),
                "gold_label": NLI3[i % 3],
            }
        elif schema == "xtreme.udpos":
            tokens = t.words(lang)
            row = {"tokens": tokens, "pos_tags": [t.rng.randrange(UPOS17) for _ in tokens]}
        elif schema == "universal_dependencies":
            row = _ud_row(t, lang, i, config or "")
        elif schema in ("xtreme.panx", "wikiann"):
            row = _tagging(t, lang, True, schema == "wikiann")
        elif schema in ("squad", "xquad"):
            row = _qa(t, lang, f"{dataset.split('/')[-1]}-{lang}-{split}-{i}", False, schema == "squad")
        elif schema == "xtreme.qa":
            if config == "tydiqa":  # all GoldP languages in one config; the language is the id prefix
                code = "en" if split == "train" and i % 2 == 0 else sorted(TYDIQA_PREFIX)[i % len(TYDIQA_PREFIX)]
                id_ = f"{TYDIQA_PREFIX[code]}-{split}-{i}"
            else:
                code, id_ = lang, f"mlqa-{lang}-{split}-{i}"
            row = _qa(t, code, id_, True, True)
        elif schema == "xtreme.bucc18":  # gold pairs; the sentence ids sit in the *_lang fields
            row = {
                "source_sentence": t.sentence(lang),
                "target_sentence": t.sentence("en"),
                "source_lang": f"{lang}-{i + 1:09d}",
                "target_lang": f"en-{i + 1:09d}",
            }
        elif schema == "xtreme.tatoeba":  # lines keep their newline; row i translates row i
            row = {
                "source_sentence": t.sentence(lang) + "\n",
                "target_sentence": t.sentence("en") + "\n",
                "source_lang": get_language(lang).iso3,
                "target_lang": "eng",
            }
        elif schema in ("xcopa", "super_glue.copa"):  # the same COPA fields; XCOPA's label a plain int
            row = {
                "premise": t.sentence(lang),
                "choice1": t.sentence(lang),
                "choice2": t.sentence(lang),
                "question": ("cause", "effect")[i % 2],
            }
            if schema == "xcopa":
                row.update(label=i % 2, idx=i, changed=bool(i % 3 == 0))
            else:
                row.update(idx=i, label=-1 if hidden else i % 2)
        elif schema == "social_i_qa":
            row = {"context": t.sentence(lang), "question": t.sentence(lang)[:-1] + "?"}
            row.update({f"answer{c}": t.sentence(lang) for c in "ABC"}, label=str(i % 3 + 1))
        elif schema == "hellaswag":
            ctx_a, ctx_b = t.sentence(lang), " ".join(t.words(lang, 2, 3))
            row = {
                "ind": i,
                "activity_label": t.word(lang),
                "ctx_a": ctx_a,
                "ctx_b": ctx_b,
                "ctx": f"{ctx_a} {ctx_b}",
                "endings": [t.sentence(lang) for _ in range(4)],
                "source_id": f"fixture~{i}",
                "split": split,
                "split_type": ("indomain", "zeroshot")[i % 2],
                "label": "" if hidden else str(i % 4),
            }
        elif schema == "cosmos_qa":
            row = {"id": f"cosmos-{split}-{i}", "context": t.sentence(lang), "question": t.sentence(lang)}
            row.update({f"answer{k}": t.sentence(lang) for k in range(4)}, label=-1 if hidden else i % 4)
        elif schema == "commonsense_qa":
            row = {
                "id": f"csqa-{split}-{i}",
                "question": t.sentence(lang)[:-1] + "?",
                "question_concept": t.word(lang),
                "choices": {"label": list("ABCDE"), "text": [t.word(lang) for _ in range(5)]},
                "answerKey": "" if hidden else "ABCDE"[i % 5],
            }
        else:
            raise KeyError(f"fixture rows: no generator for schema {schema!r}")
        out.append(row)
    return out


# --- release files and the CCGbank stand-in (records for xstilts.data.writers.write_source) ---------------


def bucc_records(code: str, split: str, n: int = 4) -> dict:
    """Two monolingual corpora with `n` gold pairs and one distractor on each side."""
    t = Text(seed_of("bucc2018", code, split))
    source = [(f"{code}-{i + 1:09d}", t.sentence(code)) for i in range(n + 1)]
    target = [(f"en-{i + 1:09d}", t.sentence("en")) for i in range(n + 1)]
    gold = [(source[i][0], target[n - 1 - i][0]) for i in range(n)]
    return {"source": source, "target": target, "gold": gold}


def tatoeba_records(iso3: str, n: int = 4) -> list[dict]:
    t = Text(seed_of("tatoeba-laser", iso3))
    code = by_iso3(iso3).code
    return [{"source": t.sentence(code), "target": t.sentence("en")} for _ in range(n)]


def xquad_r_articles(code: str, n_questions: int = 3) -> list[dict]:
    """One article per language with the same question ids across languages (XQuAD-R's parallel ids), each
    answer inside one of the paragraph's sentences (`sentence_breaks`)."""
    t = Text(seed_of("xquad-r", code))
    sentences = [t.sentence(code, 4, 6) for _ in range(n_questions + 1)]
    context, breaks = "", []
    for s in sentences:
        start = len(context) + (1 if context else 0)
        context = f"{context} {s}" if context else s
        breaks.append([start, start + len(s)])
    qas = []
    for q in range(n_questions):
        lo, hi = breaks[q]
        answer = context[lo:hi].split(" ")[1]
        qas.append(
            {
                "id": f"xqr-{q}",
                "question": " ".join(t.words(code, 3, 4)) + "?",
                "answers": [{"text": answer, "answer_start": context.index(answer, lo)}],
            }
        )
    return [{"title": f"fixture-{code}", "paragraphs": [{"context": context, "qas": qas, "sentence_breaks": breaks}]}]


def mewslix_records(languages: tuple[str, ...], n_entities: int = 6) -> dict[tuple[str, str | None], list[dict]]:
    """{(config, split): records} for candidate_set_entities, wikipedia_pairs train/dev and wikinews_mentions
    dev/test (every test language, two mentions each)."""
    t = Text(seed_of("mewsli-x"))
    entities = []
    for e in range(n_entities):
        description = t.sentence("en", 4, 6)
        entities.append(
            {
                "entity_id": f"Q{e + 1}",
                "title": t.word("en"),
                "description": description,
                "sentence_spans": [{"start": 0, "end": len(description)}],
                "description_language": "en",
                "description_url": f"https://en.wikipedia.org/wiki/Q{e + 1}",
            }
        )

    def context(lang: str, doc: str):
        words = t.words(lang, 5, 8)
        text = " ".join(words) + "."
        k = t.rng.randrange(len(words))
        start = sum(len(w) + 1 for w in words[:k])
        ctx = {
            "document_title": doc,
            "document_url": f"https://{lang}.wikinews.org/wiki/{doc}",
            "document_id": f"{lang}-{doc}",
            "language": lang,
            "text": text,
            "sentence_spans": [{"start": 0, "end": len(text)}],
        }
        return ctx, {"start": start, "end": start + len(words[k]), "text": words[k]}

    out: dict[tuple[str, str | None], list[dict]] = {("candidate_set_entities", None): entities}
    for split, n in (("train", 8), ("dev", 4)):
        pairs = []
        for i in range(n):
            ctx, span = context("en", f"{split}-{i}")
            entity = entities[i % n_entities]
            mention = {"example_id": f"en-{split}-{i}", "mention_span": span, "entity_id": entity["entity_id"]}
            pairs.append({"contextual_mention": {"context": ctx, "mention": mention}, "entity": entity})
        out[("wikipedia_pairs", split)] = pairs
    for split in ("dev", "test"):
        docs = []
        for lang in languages:
            for i in range(2):
                ctx, span = context(lang, f"{split}-{lang}-{i}")
                entity = entities[(i + len(docs)) % n_entities]
                mention = {"example_id": f"{lang}-{split}-{i}", "mention_span": span, "entity_id": entity["entity_id"]}
                docs.append({"context": ctx, "mentions": [mention]})
        out[("wikinews_mentions", split)] = docs
    return out


def ccgbank_records(split: str, n: int | None = None) -> list[dict]:
    """Sentences with one CCG supertag per token, in the TSV the CCGbank reader takes (`readers.read_ccgbank`)."""
    t = Text(seed_of("ccgbank", split))
    out = []
    for _ in range(n or rows_per_split(split)):
        tokens = t.words("en", 3, 6)
        out.append({"tokens": tokens, "tags": [t.rng.choice(TAGS) for _ in tokens]})
    return out
