"""Where every dataset comes from: hub datasets, official release files, and the licence-gated CCGbank.

A `Source` is one dataset (a hub repo, or an official release whose files the hub lacks or breaks) with
its config template, split names, schema name (key into `xstilts.data.schemas`) and revision. A
`DataRef` is what a task points at: one split of one source, optionally with explicit configs (UD
treebanks merged per language) and a part name (ANLI+'s mixture, XCOPA's SIQA->COPA sequence).

Config templates are filled from `xstilts.benchmarks.languages`: `{code}` (XTREME 2-letter), `{name}` (English name,
`udpos.German`), `{iso3}` (`tatoeba.pes`). Ids and schemas follow docs/benchmarks.md.

Revisions: no public source gives the commit of these hub repos, so every hub source is `LOCKED`: `make
data` on a connected machine resolves the current commit of the branch the hub contract names
(`xstilts.data.contract`: `main`, or the parquet export of a script-only repo) and writes
`revisions.lock.json`; every later hub load reads it from there (`xstilts.data.lock`). Release files are
locked by sha256 the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.benchmarks.languages import get_language
from xstilts.data import contract
from xstilts.data.contract import MAIN, PARQUET_EXPORT
from xstilts.names import lookup

LOCKED = "locked"  # resolved by `make data`, then read from revisions.lock.json
HUB, RELEASE, LOCAL = "hub", "release", "local"
CCGBANK_ENV = "XSTILTS_CCGBANK"


@dataclass(frozen=True)
class Source:
    """One dataset: hub id (or release name, the folder under a world dir / the release cache), config
    template (None: no config; stored as `default`), its split names, the schema it is written in."""

    key: str
    dataset: str
    config: str | None
    splits: tuple[str, ...]
    schema: str
    kind: str = HUB
    revision: str = LOCKED
    url: str = ""
    notes: str = ""

    @property
    def branch(self) -> str:
        """The hub branch `make data` locks: the hub contract's (`main`, or `PARQUET_EXPORT` for a repo whose
        main holds only a loading script, which datasets>=4 refuses)."""
        return contract.branch(self.dataset) if self.kind == HUB else MAIN

    @property
    def parquet_export(self) -> bool:
        """Read from the parquet export branch: one folder per config, `<config>/<split>/*.parquet`."""
        return self.branch == PARQUET_EXPORT

    def config_for(self, language: str | None) -> str | None:
        """The config for one language (`udpos.{name}` -> `udpos.German`)."""
        if self.config is None or "{" not in self.config:
            return self.config
        lang = get_language(language or "en")
        return self.config.format(code=lang.code, name=lang.name, iso3=lang.iso3)


@dataclass(frozen=True)
class DataRef:
    """One split of one source as a task uses it. `configs` overrides the template (UD treebanks);
    `part` names the piece of a mixture or sequence; `language_filter` marks sources holding several
    languages in one config (TyDiQA's id prefix, Mewsli-X's context.language, LAReQA's pooled files)."""

    source: str
    split: str
    configs: tuple[str, ...] = ()
    part: str = ""
    language_filter: bool = False


def _s(key, dataset, config, splits, schema, **kw) -> Source:
    return Source(key=key, dataset=dataset, config=config, splits=tuple(splits), schema=schema, **kw)


_TVT = ("train", "validation", "test")
# fmt: off
SOURCES: dict[str, Source] = {s.key: s for s in [
    # --- XTREME / XTREME-R targets -------------------------------------------------------------
    _s("xnli", "facebook/xnli", "{code}", _TVT, "xnli",
       notes="en train = MNLI as shipped with XNLI-MT 1.0; other train configs are machine translations"),
    _s("xtreme.xnli", "google/xtreme", "XNLI", ("validation", "test"), "xtreme.xnli",
       notes="all 15 languages in one config, string gold_label; not used by the registry (facebook/xnli is)"),
    _s("paws-x", "google-research-datasets/paws-x", "{code}", _TVT, "paws-x",
       notes="QUOTE_NONE loader, full 49,401/2,000/2,000; google/xtreme PAWS-X loses rows (docs/benchmarks.md §7.3)"),
    _s("xtreme.paws-x", "google/xtreme", "PAWS-X.{code}", _TVT, "xtreme.paws-x",
       notes="string labels '0'/'1', rows lost to csv quoting; kept for comparison only"),
    _s("xtreme.udpos", "google/xtreme", "udpos.{name}", _TVT, "xtreme.udpos",
       notes="HF udpos: syntactic words (multiword range lines dropped); treebank set matched by `_<Name>` "
             "also takes Ancient Greek, Classical Chinese, Old French, Old Russian (docs/benchmarks.md §7.3)"),
    _s("universal_dependencies", "universal-dependencies/universal_dependencies", "{treebank}", _TVT,
       "universal_dependencies",
       notes="UD r2.7 per treebank, from the parquet export of the script-only repo (hub contract). The hub "
             "keeps multiword range lines (upos '_', xpos null); the project's mapping drops them, keeping "
             "syntactic words as HF udpos does (XTREME itself replaces them with the fused form). pl_pud is "
             "test-only"),
    _s("xtreme.panx", "google/xtreme", "PAN-X.{code}", _TVT, "xtreme.panx"),
    _s("wikiann", "unimelb-nlp/wikiann", "{code}", _TVT, "wikiann",
       notes="same panx_dataset.zip source as google/xtreme PAN-X; has the XTREME-R extra languages"),
    _s("squad", "rajpurkar/squad", "plain_text", ("train", "validation"), "squad"),
    _s("xquad", "google/xquad", "xquad.{code}", ("validation",), "xquad",
       notes="adds xquad.ro, which the official download_data.sh does not fetch"),
    _s("xtreme.mlqa", "google/xtreme", "MLQA.{code}.{code}", ("validation", "test"), "xtreme.qa",
       notes="answers declared {answer_start, text} (google/xtreme), not rajpurkar/squad's {text, answer_start}"),
    _s("xtreme.tydiqa", "google/xtreme", "tydiqa", ("train", "validation"), "xtreme.qa",
       notes="all 9 languages in one config; language = id prefix (`english-...`); test = GoldP dev"),
    _s("xtreme.bucc18", "google/xtreme", "bucc18.{code}", ("validation", "test"), "xtreme.bucc18",
       notes="gold pairs only, no distractors, ids in source_lang/target_lang; cannot reproduce mining"),
    _s("bucc2018", "bucc2018", "{code}-en", ("sample", "training"), "bucc2018", kind=RELEASE,
       url="https://comparable.limsi.fr/bucc2018/bucc2018-{code}-en.{split}-gold.tar.bz2",
       notes="full monolingual corpora + gold; XTREME dev = BUCC sample, XTREME test = BUCC training"),
    _s("xtreme.tatoeba", "google/xtreme", "tatoeba.{iso3}", ("validation",), "xtreme.tatoeba",
       notes="36 languages; sentences keep their trailing newline; row i aligned with row i"),
    _s("tatoeba-laser", "tatoeba-laser", "{iso3}", ("test",), "tatoeba-laser", kind=RELEASE,
       url="https://raw.githubusercontent.com/facebookresearch/LASER/main/data/tatoeba/v1/tatoeba.{iso3}-eng.{side}",
       notes="official LASER Tatoeba v1 files, for the XTREME-R extras az lt pl uk ro"),
    _s("xcopa", "cambridgeltl/xcopa", "{code}", ("validation", "test"), "xcopa"),
    _s("copa", "aps/super_glue", "copa", _TVT, "super_glue.copa",
       notes="test labels are -1; main is a loading script: read from the parquet export (hub contract)"),
    _s("siqa", "allenai/social_i_qa", None, ("train", "validation"), "social_i_qa",
       notes="label is a string '1'/'2'/'3' (1-indexed); main is a loading script that datasets>=4 refuses, "
             "so the parquet export branch (config 'default') is used (hub contract)"),
    _s("mewsli-x", "mewsli-x", "wikinews_mentions", ("train", "dev", "test"), "mewsli-x", kind=RELEASE,
       url="https://github.com/google-research/google-research/tree/master/dense_representations_for_entity_retrieval/mel",
       notes="no official hub dataset: run get-mewsli-x.sh (rebuilds WikiNews text from dumps) and place "
             "candidate_set_entities.jsonl, wikipedia_pairs-{train,dev}.jsonl, wikinews_mentions-{dev,test}.jsonl"),
    _s("xquad-r", "lareqa", "xquad-r", ("test",), "xquad-r", kind=RELEASE,
       url="https://raw.githubusercontent.com/google-research-datasets/lareqa/master/xquad-r/{code}.json",
       notes="SQuAD JSON plus paragraphs[i].sentence_breaks; the hub xquad_r loader drops sentence_breaks"),
    # --- English intermediate tasks --------------------------------------------------------------
    _s("mnli", "nyu-mll/glue", "mnli", ("train", "validation_matched", "validation_mismatched", "test_matched"),
       "glue.mnli"),
    _s("snli", "stanfordnlp/snli", "plain_text", _TVT, "snli", notes="label -1 = no gold consensus; dropped"),
    _s("anli", "facebook/anli", "plain_text",
       ("train_r1", "dev_r1", "test_r1", "train_r2", "dev_r2", "test_r2", "train_r3", "dev_r3", "test_r3"), "anli"),
    _s("qqp", "nyu-mll/glue", "qqp", _TVT, "glue.qqp"),
    _s("sst2", "nyu-mll/glue", "sst2", _TVT, "glue.sst2"),
    _s("hellaswag", "Rowan/hellaswag", None, _TVT, "hellaswag",
       notes="label is a string '0'..'3', '' in test; main is a loading script: read from the parquet export"),
    _s("cosmosqa", "allenai/cosmos_qa", None, _TVT, "cosmos_qa",
       notes="test label -1; main is a loading script: read from the parquet export (inferred to exist, "
             "hub contract)"),
    _s("commonsenseqa", "tau/commonsense_qa", None, _TVT, "commonsense_qa", notes="answerKey is a letter"),
    _s("ccgbank", "ccgbank", None, ("train", "dev", "test"), "ccgbank", kind=LOCAL,
       url="https://catalog.ldc.upenn.edu/LDC2005T13",
       notes=f"licence-gated (LDC2005T13): set ${CCGBANK_ENV} to a folder with {{train,dev,test}}.tsv "
             "(one sentence a line: space-separated tokens, a tab, space-separated supertags)"),
]}
# fmt: on

# UD r2.7 treebanks XTREME merges for the XTREME-R languages (file prefix = language code; docs/benchmarks.md §4).
UD27_TREEBANKS: dict[str, tuple[str, ...]] = {
    "lt": ("lt_alksnis", "lt_hse"),
    "pl": ("pl_lfg", "pl_pdb", "pl_pud"),
    "uk": ("uk_iu",),
    "wo": ("wo_wtb",),
    "ro": ("ro_nonstandard", "ro_rrt", "ro_simonero"),
}

# TyDiQA id prefixes (the language of a GoldP example is the prefix of its id): the lower-cased English
# name, which is also the rule for languages registered later (the miniature's).
TYDIQA_PREFIX: dict[str, str] = {
    "ar": "arabic",
    "bn": "bengali",
    "en": "english",
    "fi": "finnish",
    "id": "indonesian",
    "ko": "korean",
    "ru": "russian",
    "sw": "swahili",
    "te": "telugu",
}


def get_source(key: str) -> Source:
    """The source with this key; an unknown key names the nearest ones."""
    return lookup(SOURCES, key, "data source")
