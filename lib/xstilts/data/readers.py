"""Readers of the official release formats the hub lacks or breaks.

Layout under a root folder (a world dir for the miniature/tests, or `release_root()` for the real data,
where `make data` puts the downloads):

- `bucc2018/<xx>-en/<xx>-en.<sample|training>.{<xx>,en,gold}`: `id<TAB>sentence` lines, gold
  `src_id<TAB>tgt_id` lines (BUCC 2018 shared-task archives, as unpacked by XTREME's download_data.sh).
- `tatoeba-laser/tatoeba.<iso3>-eng.{<iso3>,eng}`: line-aligned sentences (LASER data/tatoeba/v1).
- `lareqa/xquad-r/<xx>.json`: SQuAD v1.1 JSON plus `paragraphs[i].sentence_breaks` ([start, end] pairs).
- `mewsli-x/candidate_set_entities.jsonl`, `wikipedia_pairs-<train|dev>.jsonl`,
  `wikinews_mentions-<dev|test>.jsonl` (schemas of google-research `dense_representations_for_entity_retrieval/mel`).
- `ccgbank/<train|dev|test>.tsv` (or the folder in $XSTILTS_CCGBANK): `tokens<TAB>supertags`, space-separated.

Every reader checks the structure and raises `SchemaError` naming the file, the line and the field.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from xstilts.benchmarks.retrieval_texts import entity_description, mewslix_query
from xstilts.data.schemas import SchemaError

RELEASE_ENV = "XSTILTS_RELEASES"


def release_root() -> Path:
    """Where release files live on this machine: $XSTILTS_RELEASES, else ~/.cache/xstilts/releases."""
    env = os.environ.get(RELEASE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xstilts" / "releases"


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"release file {path} is missing")
    with open(path, encoding="utf-8", newline="") as f:
        return [line.rstrip("\r\n") for line in f]


# --- BUCC 2018 -------------------------------------------------------------------------------------------


def bucc_paths(root: Path, code: str, split: str) -> dict[str, Path]:
    base = Path(root) / "bucc2018" / f"{code}-en"
    return {side: base / f"{code}-en.{split}.{side}" for side in (code, "en", "gold")}


def _id_sentences(path: Path) -> tuple[list[str], list[str]]:
    ids, sents = [], []
    for n, line in enumerate(_lines(path), 1):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0]:
            raise SchemaError(f"bucc2018 {path.name} line {n}: expected 'id<TAB>sentence', got {line[:60]!r}")
        ids.append(parts[0])
        sents.append(parts[1])
    return ids, sents


def read_bucc(root: Path, code: str, split: str) -> dict:
    """The two monolingual corpora and the gold pairs of one BUCC split (`sample` or `training`)."""
    paths = bucc_paths(root, code, split)
    src_ids, src = _id_sentences(paths[code])
    tgt_ids, tgt = _id_sentences(paths["en"])
    known_src, known_tgt = set(src_ids), set(tgt_ids)
    gold: list[tuple[str, str]] = []
    for n, line in enumerate(_lines(paths["gold"]), 1):
        parts = line.split("\t")
        if len(parts) != 2:
            raise SchemaError(
                f"bucc2018 {paths['gold'].name} line {n}: expected 'src_id<TAB>tgt_id', got {line[:60]!r}"
            )
        if parts[0] not in known_src or parts[1] not in known_tgt:
            raise SchemaError(
                f"bucc2018 {paths['gold'].name} line {n}: gold pair {parts} names an id absent from "
                f"the {code}/en corpus"
            )
        gold.append((parts[0], parts[1]))
    return {"source_ids": src_ids, "source": src, "target_ids": tgt_ids, "target": tgt, "gold": gold}


# --- Tatoeba (LASER) -------------------------------------------------------------------------------------


def tatoeba_paths(root: Path, iso3: str) -> dict[str, Path]:
    base = Path(root) / "tatoeba-laser"
    return {"source": base / f"tatoeba.{iso3}-eng.{iso3}", "target": base / f"tatoeba.{iso3}-eng.eng"}


def read_tatoeba_laser(root: Path, iso3: str) -> dict:
    """Line-aligned xx and English sentences; row i of one side translates row i of the other."""
    paths = tatoeba_paths(root, iso3)
    src, tgt = _lines(paths["source"]), _lines(paths["target"])
    if len(src) != len(tgt):
        raise SchemaError(
            f"tatoeba-laser {iso3}: {paths['source'].name} has {len(src)} lines but "
            f"{paths['target'].name} has {len(tgt)}; expected line-aligned files"
        )
    return {"source": src, "target": tgt}


# --- LAReQA / XQuAD-R --------------------------------------------------------------------------------------


def xquad_r_path(root: Path, code: str) -> Path:
    return Path(root) / "lareqa" / "xquad-r" / f"{code}.json"


def read_xquad_r(root: Path, code: str) -> list[dict]:
    """The SQuAD-format articles of one XQuAD-R language, checked for `sentence_breaks`."""
    path = xquad_r_path(root, code)
    if not path.is_file():
        raise FileNotFoundError(f"release file {path} is missing")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SchemaError(f"xquad-r {path.name}: expected a JSON object with a 'data' list of articles")
    for a, article in enumerate(data["data"]):
        for p, para in enumerate(article.get("paragraphs", [])):
            where = f"xquad-r {path.name} data[{a}].paragraphs[{p}]"
            for key in ("context", "qas", "sentence_breaks"):
                if key not in para:
                    raise SchemaError(f"{where}: missing field {key!r}; expected context, qas, sentence_breaks")
            breaks = para["sentence_breaks"]
            if not all(isinstance(b, list) and len(b) == 2 and all(isinstance(x, int) for x in b) for b in breaks):
                raise SchemaError(f"{where}.sentence_breaks: expected a list of [start, end] int pairs")
            for q, qa in enumerate(para["qas"]):
                for key in ("id", "question", "answers"):
                    if key not in qa:
                        raise SchemaError(f"{where}.qas[{q}]: missing field {key!r}; expected id, question, answers")
                for ans in qa["answers"]:
                    if not isinstance(ans.get("answer_start"), int) or not isinstance(ans.get("text"), str):
                        raise SchemaError(f"{where}.qas[{q}].answers: expected {{'text': str, 'answer_start': int}}")
    return data["data"]


# --- Mewsli-X ----------------------------------------------------------------------------------------------

MEWSLIX_FILES = {
    "candidate_set_entities": "candidate_set_entities.jsonl",
    ("wikipedia_pairs", "train"): "wikipedia_pairs-train.jsonl",
    ("wikipedia_pairs", "dev"): "wikipedia_pairs-dev.jsonl",
    ("wikinews_mentions", "dev"): "wikinews_mentions-dev.jsonl",
    ("wikinews_mentions", "test"): "wikinews_mentions-test.jsonl",
}
_SPAN = ("start", "end")
ENTITY_FIELDS = ("entity_id", "title", "description", "sentence_spans", "description_language", "description_url")
CONTEXT_FIELDS = ("document_title", "document_url", "document_id", "language", "text", "sentence_spans")
MENTION_FIELDS = ("example_id", "mention_span", "entity_id")


def mewslix_path(root: Path, part: str, split: str | None = None) -> Path:
    key = part if split is None else (part, split)
    if key not in MEWSLIX_FILES:
        raise KeyError(f"mewsli-x has no file for {key!r}; expected one of {list(MEWSLIX_FILES)}")
    return Path(root) / "mewsli-x" / MEWSLIX_FILES[key]


def _require(obj, fields, where: str) -> None:
    if not isinstance(obj, dict):
        raise SchemaError(f"{where}: expected an object with fields {list(fields)}, got {type(obj).__name__}")
    missing = [f for f in fields if f not in obj]
    if missing:
        raise SchemaError(f"{where}: missing field(s) {missing}; expected {list(fields)}")


def _check_span(span, where: str, text: str | None = None) -> None:
    _require(span, _SPAN, where)
    if not (isinstance(span["start"], int) and isinstance(span["end"], int) and 0 <= span["start"] < span["end"]):
        raise SchemaError(f"{where}: expected int offsets 0 <= start < end, got {span}")
    if text is not None and span["end"] > len(text):
        raise SchemaError(f"{where}: span {span} is beyond the text (length {len(text)})")


def _jsonl(path: Path, name: str) -> list[dict]:
    out = []
    for n, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise SchemaError(f"{name} {path.name} line {n}: not valid JSON ({err})") from None
    return out


def check_entity(e: dict, where: str) -> None:
    _require(e, ENTITY_FIELDS, where)
    for i, s in enumerate(e["sentence_spans"]):
        _check_span(s, f"{where}.sentence_spans[{i}]", e["description"])


def check_context(c: dict, where: str) -> None:
    _require(c, CONTEXT_FIELDS, where)
    for i, s in enumerate(c["sentence_spans"]):
        _check_span(s, f"{where}.sentence_spans[{i}]", c["text"])


def check_mention(m: dict, where: str, text: str) -> None:
    _require(m, MENTION_FIELDS, where)
    _check_span(m["mention_span"], f"{where}.mention_span", text)
    if "text" not in m["mention_span"]:
        raise SchemaError(f"{where}.mention_span: missing field 'text'; expected start, end, text")


@lru_cache(maxsize=4)
def _entities_cached(path: str, mtime: float) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    ids, titles, texts = [], [], []
    for i, e in enumerate(_jsonl(Path(path), "mewsli-x")):
        check_entity(e, f"mewsli-x candidate_set_entities.jsonl line {i + 1}")
        ids.append(e["entity_id"])
        titles.append(e["title"])
        texts.append(entity_description(e))
    return tuple(ids), tuple(titles), tuple(texts)


def read_mewslix_entities(root: Path) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(entity ids, titles, description strings) of the candidate set; cached per file version."""
    path = mewslix_path(root, "candidate_set_entities")
    if not path.is_file():
        raise FileNotFoundError(f"release file {path} is missing")
    return _entities_cached(str(path), path.stat().st_mtime)


def read_mewslix_mentions(root: Path, split: str, language: str | None) -> list[tuple[str, str, str]]:
    """(example_id, query string, gold entity id) for each WikiNews mention in `language` (None: all)."""
    path = mewslix_path(root, "wikinews_mentions", split)
    out = []
    for n, row in enumerate(_jsonl(path, "mewsli-x"), 1):
        where = f"mewsli-x {path.name} line {n}"
        _require(row, ("context", "mentions"), where)
        check_context(row["context"], f"{where}.context")
        if language is not None and row["context"]["language"] != language:
            continue
        for i, m in enumerate(row["mentions"]):
            check_mention(m, f"{where}.mentions[{i}]", row["context"]["text"])
            out.append((m["example_id"], mewslix_query(row["context"], m), m["entity_id"]))
    return out


def read_mewslix_pairs(root: Path, split: str) -> list[tuple[str, str, str]]:
    """(example_id, mention query, entity description) for each English wikipedia_pairs line."""
    path = mewslix_path(root, "wikipedia_pairs", split)
    out = []
    for n, row in enumerate(_jsonl(path, "mewsli-x"), 1):
        where = f"mewsli-x {path.name} line {n}"
        _require(row, ("contextual_mention", "entity"), where)
        cm = row["contextual_mention"]
        _require(cm, ("context", "mention"), f"{where}.contextual_mention")
        check_context(cm["context"], f"{where}.contextual_mention.context")
        check_mention(cm["mention"], f"{where}.contextual_mention.mention", cm["context"]["text"])
        check_entity(row["entity"], f"{where}.entity")
        out.append(
            (
                cm["mention"]["example_id"],
                mewslix_query(cm["context"], cm["mention"]),
                entity_description(row["entity"]),
            )
        )
    return out


# --- CCGbank -----------------------------------------------------------------------------------------------


def read_ccgbank(root: Path, split: str) -> list[tuple[list[str], list[str]]]:
    """(tokens, supertags) per sentence of `<root>/<split>.tsv`."""
    path = Path(root) / f"{split}.tsv"
    out = []
    for n, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise SchemaError(
                f"ccgbank {path.name} line {n}: expected 'tokens<TAB>supertags', got {len(parts)} column(s)"
            )
        tokens, tags = parts[0].split(" "), parts[1].split(" ")
        if len(tokens) != len(tags):
            raise SchemaError(
                f"ccgbank {path.name} line {n}: {len(tokens)} tokens but {len(tags)} supertags; "
                "expected one supertag per token"
            )
        out.append((tokens, tags))
    return out
