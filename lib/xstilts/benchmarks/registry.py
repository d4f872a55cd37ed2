"""The task registry: every target task of XTREME and XTREME-R and the nine English intermediate tasks.

One `Task` per (benchmark, task): `xtreme.xnli`, `xtreme-r.xnli`, ..., `intermediate.mnli`. Entries
that share training and evaluation share a `protocol` id, so one fine-tune serves both benchmarks
(`xtreme.udpos` and `xtreme-r.udpos` -> `udpos`, evaluated on the union of their languages); where the
protocol differs the ids differ (`tatoeba` on the raw or intermediate encoder, `tatoeba-r` on the
encoder after SQuAD fine-tuning). Test languages are the official lists of `evaluate.py`
(xstilts.benchmarks.official; LAReQA, listed empty there, pools the 11 XQuAD-R languages). Sources and
pitfalls: docs/benchmarks.md; where each source lives: xstilts.benchmarks.sources. The arms of the study
are named here too: `none`, each intermediate task, `multitask`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.official import BENCHMARKS, INTERMEDIATE, XTREME, XTREME_R, scored_languages
from xstilts.benchmarks.sources import CCGBANK_ENV, SOURCES, UD27_TREEBANKS, DataRef
from xstilts.names import lookup

ARM_NONE = "none"  # no intermediate training: the baseline every gain is measured against
ARM_MULTITASK = "multitask"  # the intermediate tasks trained together (size-proportional sampling)

XNLI_LABELS = ("entailment", "neutral", "contradiction")  # facebook/xnli, glue/mnli, snli, anli
PAWSX_LABELS = ("0", "1")  # paws-x ClassLabel names
# fmt: off
# google/xtreme udpos ClassLabel names, in order
UPOS_LABELS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM",
    "VERB", "X",
)
# fmt: on
PANX_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


@dataclass(frozen=True)
class Task:
    """One registry entry. `train`/`dev`/`test` point at source splits (xstilts.benchmarks.sources);
    `test_overrides` routes single languages to other sources (XTREME-R additions);
    `train_schedule` says how several train parts combine: a `mixture` sharing one head (ANLI+) or a
    `sequence` trained one after another (XCOPA: SIQA then COPA)."""

    key: str
    name: str
    benchmarks: tuple[str, ...]
    format: str
    metric: str
    languages: tuple[str, ...]
    protocol: str
    train_name: str | None  # which English training data, in words ("mnli", "siqa->copa", None)
    train: tuple[DataRef, ...]
    dev: tuple[DataRef, ...]
    test: tuple[DataRef, ...]
    labels: tuple[str, ...] = ()
    num_choices: int | None = None
    train_schedule: str = "single"  # single | mixture | sequence | none
    test_overrides: tuple[tuple[str, tuple[DataRef, ...]], ...] = ()
    notes: str = ""
    licence_gated: bool = False
    revision: int = 1  # bump when the examples built from the sources change (enters run ids)
    extra: tuple[tuple[str, str], ...] = field(default=())  # free-form (key, value) facts, e.g. retrieval layer

    @property
    def benchmark(self) -> str:
        return self.benchmarks[0]

    def refs(self, split: str, language: str) -> tuple[DataRef, ...]:
        """The source splits behind (split, language): `train`/`dev` are English; `test` honours overrides."""
        if split == "train":
            return self.train
        if split == "dev":
            return self.dev
        if split == "test":
            return dict(self.test_overrides).get(language, self.test)
        raise ValueError(f"task {self.key}: unknown split {split!r}; expected one of train, dev, test")

    @property
    def sources(self) -> tuple[str, ...]:
        """Every source key this task reads, in first-use order."""
        seen: dict[str, None] = {}
        for ref in (*self.train, *self.dev, *self.test, *(r for _, refs in self.test_overrides for r in refs)):
            seen.setdefault(ref.source, None)
        return tuple(seen)

    @property
    def source(self) -> str:
        """Readable summary of the test source(s): `dataset[:config]`, overrides in brackets."""
        main = ", ".join(_ref_str(r) for r in self.test)
        extra = sorted({_ref_str(r) for _, refs in self.test_overrides for r in refs})
        return main + (f" (+ {', '.join(extra)} for {','.join(sorted(dict(self.test_overrides)))})" if extra else "")

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "benchmarks": list(self.benchmarks),
            "format": self.format,
            "metric": self.metric,
            "languages": list(self.languages),
            "protocol": self.protocol,
            "source": self.source,
            "sources": [_source_json(k) for k in self.sources],
            "train": self.train_name,
            "train_schedule": self.train_schedule,
            "dev": ", ".join(_ref_str(r) for r in self.dev) or None,
            "labels": list(self.labels),
            "num_choices": self.num_choices,
            "licence_gated": self.licence_gated,
            "notes": self.notes,
        }


def _source_json(key: str) -> dict:
    src = SOURCES[key]
    return {
        "key": key,
        "dataset": src.dataset,
        "config": src.config,
        "splits": list(src.splits),
        "revision": src.revision,
        "kind": src.kind,
    }


def _ref_str(ref: DataRef) -> str:
    src = SOURCES[ref.source]
    config = ",".join(ref.configs) if ref.configs else (src.config or "")
    return f"{src.dataset}{':' + config if config else ''}/{ref.split}"


def _r(source: str, split: str, *configs: str, part: str = "", lang_filter: bool = False) -> DataRef:
    return DataRef(source=source, split=split, configs=tuple(configs), part=part, language_filter=lang_filter)


# Shared training data.
_MNLI_TRAIN = (_r("mnli", "train", part="mnli"),)
_SQUAD_TRAIN = (_r("squad", "train", part="squad"),)
_SQUAD_DEV = (_r("squad", "validation"),)

_SAME_DATA = {
    "xnli": "trains on MNLI, which is also the intermediate task `mnli`: MNLI->XNLI is a same-data pair",
    "xquad": "trains on SQuAD v1.1, which is also the intermediate task `squad`: SQuAD->QA is a same-data pair",
    "mlqa": "trains on SQuAD v1.1, which is also the intermediate task `squad`: SQuAD->QA is a same-data pair",
}


def _target(name: str, benchmark: str, **kw) -> Task:
    langs = tuple(scored_languages(name, benchmark))
    kw.setdefault("protocol", name)
    return Task(key=f"{benchmark}.{name}", name=name, benchmarks=(benchmark,), languages=langs, **kw)


def _both(name: str, **kw) -> list[Task]:
    """The same task in both benchmarks; per-benchmark differences via `r_*` keyword overrides."""
    r_kw = {k[2:]: v for k, v in kw.items() if k.startswith("r_")}
    base = {k: v for k, v in kw.items() if not k.startswith("r_")}
    return [_target(name, XTREME, **base), _target(name, XTREME_R, **{**base, **r_kw})]


_UD_OVERRIDES = tuple((lang, (_r("universal_dependencies", "test", *tbs),)) for lang, tbs in UD27_TREEBANKS.items())
_PANX_R_EXTRA = ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
_TATOEBA_R_EXTRA = ("az", "lt", "pl", "uk", "ro")

# The tables: one entry per task, several keywords a line.
# fmt: off
_TARGETS: list[Task] = [
    *_both("xnli", format=F.CLASSIFICATION, metric="accuracy", labels=XNLI_LABELS, train_name="mnli",
           train=_MNLI_TRAIN, dev=(_r("xnli", "validation", "en"),), test=(_r("xnli", "test"),),
           notes="English training data is MNLI (glue/mnli train, 392,702; identical to XNLI-MT en train); "
                 "model selection on XNLI en dev. " + _SAME_DATA["xnli"] + "."),
    _target("pawsx", XTREME, format=F.CLASSIFICATION, metric="accuracy", labels=PAWSX_LABELS, train_name="pawsx",
            train=(_r("paws-x", "train", "en"),), dev=(_r("paws-x", "validation", "en"),),
            test=(_r("paws-x", "test"),),
            notes="google-research-datasets/paws-x (ClassLabel '0'/'1', full row counts) rather than google/xtreme "
                  "PAWS-X, whose csv parsing drops rows and keeps string labels. XTREME only."),
    *_both("udpos", format=F.TAGGING, metric="seqeval_f1", labels=UPOS_LABELS, train_name="udpos",
           train=(_r("xtreme.udpos", "train", "udpos.English"),), dev=(_r("xtreme.udpos", "validation", "udpos.English"),),
           test=(_r("xtreme.udpos", "test"),),
           r_test_overrides=_UD_OVERRIDES,
           notes="Scored with seqeval span F1 as evaluate.py does (not token accuracy). HF udpos keeps syntactic "
                 "words and its treebank set differs from XTREME's (docs/benchmarks.md §7.3-9). XTREME-R adds "
                 "lt pl uk wo ro from UD r2.7 (universal_dependencies, XTREME's treebank merge, range lines "
                 "dropped). One fine-tune serves both benchmarks (protocol udpos, union of languages)."),
    *_both("panx", format=F.TAGGING, metric="seqeval_f1", labels=PANX_LABELS, train_name="panx",
           train=(_r("xtreme.panx", "train", "PAN-X.en"),), dev=(_r("xtreme.panx", "validation", "PAN-X.en"),),
           test=(_r("xtreme.panx", "test"),),
           r_test_overrides=tuple((lang, (_r("wikiann", "test"),)) for lang in _PANX_R_EXTRA),
           notes="WikiANN (Rahimi splits), IOB2 PER/ORG/LOC, seqeval entity F1. XTREME-R adds qu pl uk az lt pa gu ro "
                 "from unimelb-nlp/wikiann (same panx_dataset.zip). XTREME-R is described as evaluating NER without "
                 "gold tokenization [unverified: the released evaluate.py and data are the same gold-tokenized "
                 "PAN-X]; here both benchmarks use the gold word tokens, so one fine-tune serves both."),
    *_both("xquad", format=F.QA, metric="squad", train_name="squad", train=_SQUAD_TRAIN, dev=_SQUAD_DEV,
           test=(_r("xquad", "validation"),),
           notes="SQuAD v1.1 script (ASCII normalisation, whitespace tokens even for zh/th). XTREME-R adds ro "
                 "(google/xquad xquad.ro). " + _SAME_DATA["xquad"] + "."),
    *_both("mlqa", format=F.QA, metric="mlqa", train_name="squad", train=_SQUAD_TRAIN, dev=_SQUAD_DEV,
           test=(_r("xtreme.mlqa", "test"),), protocol="xquad",
           notes="MLQA.xx.xx only (context language = question language); language-aware MLQA normalisation. "
                 "Shares the SQuAD v1.1 fine-tune of XQuAD (same data and recipe): one run scores both. "
                 + _SAME_DATA["mlqa"] + "."),
    *_both("tydiqa", format=F.QA, metric="squad", train_name="tydiqa",
           train=(_r("xtreme.tydiqa", "train", lang_filter=True),),
           dev=(_r("xtreme.tydiqa", "validation", lang_filter=True),),
           test=(_r("xtreme.tydiqa", "validation", lang_filter=True),),
           notes="TyDiQA-GoldP: English train = train rows with id prefix `english`; test = the GoldP dev set split "
                 "by id prefix (the GoldP test set is not public). SQuAD v1.1 script. No checkpoint selection "
                 "(dev listed for evaluation only)."),
    _target("bucc2018", XTREME, format=F.BITEXT_MINING, metric="bucc_f1", train_name=None, train=(),
            train_schedule="none", dev=(_r("bucc2018", "sample"),), test=(_r("bucc2018", "training"),),
            notes="No training: margin-based mining from the encoder. Official release corpora (the hub bucc18 "
                  "holds only gold pairs). Threshold tuned on dev (= BUCC sample gold) and applied to test (= BUCC "
                  "training set). XTREME only."),
    _target("tatoeba", XTREME, format=F.SENTENCE_RETRIEVAL, metric="tatoeba_acc", train_name=None, train=(),
            train_schedule="none", dev=(), test=(_r("xtreme.tatoeba", "validation"),),
            notes="No training: nearest neighbour from the raw or intermediate-trained encoder (XTREME protocol). "
                  "google/xtreme tatoeba.<iso3> (trailing newlines stripped by the loader); English->xx direction."),
    _target("tatoeba", XTREME_R, format=F.SENTENCE_RETRIEVAL, metric="tatoeba_acc", train_name=None, train=(),
            train_schedule="none", protocol="tatoeba-r", dev=(), test=(_r("xtreme.tatoeba", "validation"),),
            test_overrides=tuple((lang, (_r("tatoeba-laser", "test"),)) for lang in _TATOEBA_R_EXTRA),
            extra=(("encoder", "squad-fine-tuned"),),
            notes="XTREME-R protocol (Tatoeba-R): retrieval from the encoder after SQuAD v1.1 fine-tuning (the "
                  "xquad/mlqa run of the same arm), as run_tatoeba.sh does. Adds az lt pl uk ro from the LASER "
                  "Tatoeba v1 release files."),
    _target("xcopa", XTREME_R, format=F.MULTIPLE_CHOICE, metric="accuracy", num_choices=2,
            labels=("choice1", "choice2"), train_name="siqa->copa", train_schedule="sequence",
            train=(_r("siqa", "train", part="siqa"), _r("copa", "train", part="copa")),
            dev=(_r("copa", "validation"),), test=(_r("xcopa", "test"),),
            notes="Trained on SIQA train (3 choices) then on English COPA train (400), in sequence "
                  "(train_xcopa.sh); model input per choice: '<premise> What was the <cause|effect>?' + choice. "
                  "COPA en validation as dev. XTREME-R only."),
    _target("mewslix", XTREME_R, format=F.ENTITY_RETRIEVAL, metric="mewslix_map20", train_name="wikipedia_pairs",
            train=(_r("mewsli-x", "train", "wikipedia_pairs"),), dev=(_r("mewsli-x", "dev", "wikipedia_pairs"),),
            test=(_r("mewsli-x", "test", "wikinews_mentions", lang_filter=True),),
            notes="Dual encoder trained on English wikipedia_pairs (mention in context, entity description); "
                  "test = WikiNews mentions per language against the 1M-entity candidate set, mAP@20. Official "
                  "release files (no hub dataset); the release differs from the paper's data. XTREME-R only."),
    _target("lareqa", XTREME_R, format=F.ANSWER_RETRIEVAL, metric="lareqa_map20", train_name="squad",
            train=_SQUAD_TRAIN, dev=_SQUAD_DEV, test=(_r("xquad-r", "test", lang_filter=True),),
            revision=2,  # 2: candidates are sentence + paragraph (XTREME-R), were the sentence alone
            notes="Dual encoder trained on SQuAD v1.1 in retrieval format (question -> answer sentence followed by "
                  "its paragraph); test = XQuAD-R questions of one language against the pool of every answer "
                  "sentence (each followed by its paragraph) of all 11 languages (official lareqa/xquad-r JSON with "
                  "sentence_breaks). evaluate.py cannot score it: documented extension. XTREME-R only."),
]

# fmt: on


def _inter(name: str, **kw) -> Task:
    kw.setdefault("metric", "accuracy")
    return Task(
        key=f"intermediate.{name}",
        name=name,
        benchmarks=(INTERMEDIATE,),
        languages=("en",),
        protocol=f"intermediate.{name}",
        train_name=name,
        **kw,
    )


# fmt: off
_INTERMEDIATES: list[Task] = [
    _inter("anli_plus", format=F.CLASSIFICATION, labels=XNLI_LABELS, train_schedule="mixture",
           train=(_r("mnli", "train", part="mnli"), _r("snli", "train", part="snli"),
                  _r("anli", "train_r1", part="anli_r1"), _r("anli", "train_r2", part="anli_r2"),
                  _r("anli", "train_r3", part="anli_r3")),
           dev=(_r("anli", "dev_r1", part="anli_r1"), _r("anli", "dev_r2", part="anli_r2"),
                _r("anli", "dev_r3", part="anli_r3")),
           test=(_r("anli", "dev_r1", part="anli_r1"), _r("anli", "dev_r2", part="anli_r2"),
                 _r("anli", "dev_r3", part="anli_r3")),
           notes="ANLI+ = MNLI + SNLI + ANLI R1-R3 trained as one mixture sharing one NLI head (size-proportional "
                 "sampling, jiant's guide); SNLI rows without gold label (-1) dropped; dev = ANLI dev R1-R3."),
    _inter("mnli", format=F.CLASSIFICATION, labels=XNLI_LABELS, train=_MNLI_TRAIN,
           dev=(_r("mnli", "validation_matched"),), test=(_r("mnli", "validation_matched"),),
           notes="GLUE MNLI; same data as the XNLI target's training set (same-data pair MNLI->XNLI)."),
    _inter("qqp", format=F.CLASSIFICATION, labels=("not_duplicate", "duplicate"),
           train=(_r("qqp", "train"),), dev=(_r("qqp", "validation"),), test=(_r("qqp", "validation"),),
           notes="GLUE QQP; jiant reports accuracy and F1 (major = mean); selection here on accuracy."),
    _inter("sst2", format=F.CLASSIFICATION, labels=("negative", "positive"),
           train=(_r("sst2", "train"),), dev=(_r("sst2", "validation"),), test=(_r("sst2", "validation"),),
           notes="GLUE SST-2, single sentence (text_b None)."),
    _inter("squad", format=F.QA, metric="squad", train=_SQUAD_TRAIN, dev=_SQUAD_DEV, test=_SQUAD_DEV,
           notes="SQuAD v1.1 (jiant guide: squad_v1); also the training data of XQuAD/MLQA/LAReQA (same-data pair)."),
    _inter("hellaswag", format=F.MULTIPLE_CHOICE, num_choices=4,
           train=(_r("hellaswag", "train"),), dev=(_r("hellaswag", "validation"),),
           test=(_r("hellaswag", "validation"),),
           notes="Prompt = ctx_a; choices = ctx_b + ' ' + ending (jiant); string labels '0'..'3'."),
    _inter("cosmosqa", format=F.MULTIPLE_CHOICE, num_choices=4,
           train=(_r("cosmosqa", "train"),), dev=(_r("cosmosqa", "validation"),),
           test=(_r("cosmosqa", "validation"),), notes="Prompt = context + ' ' + question; choices answer0..3."),
    _inter("commonsenseqa", format=F.MULTIPLE_CHOICE, num_choices=5,
           train=(_r("commonsenseqa", "train"),), dev=(_r("commonsenseqa", "validation"),),
           test=(_r("commonsenseqa", "validation"),), notes="answerKey letter A-E -> index into choices.label."),
    _inter("ccg", format=F.TAGGING, metric="token_accuracy", licence_gated=True,
           train=(_r("ccgbank", "train"),), dev=(_r("ccgbank", "dev"),), test=(_r("ccgbank", "dev"),),
           notes=f"CCG supertagging on CCGbank (LDC2005T13, licence-gated): read from the folder in ${CCGBANK_ENV} "
                 "(or the profile key the caller passes). Tag set read from the data (1,363 supertags in jiant). "
                 "Token accuracy over labelled tokens (jiant CCGEvaluationScheme)."),
]
# fmt: on

REGISTRY: dict[str, Task] = {t.key: t for t in (*_TARGETS, *_INTERMEDIATES)}
TARGET_NAMES = (
    "xnli",
    "pawsx",
    "udpos",
    "panx",
    "xquad",
    "mlqa",
    "tydiqa",
    "bucc2018",
    "tatoeba",
    "xcopa",
    "mewslix",
    "lareqa",
)
INTERMEDIATE_NAMES = ("anli_plus", "mnli", "qqp", "sst2", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "ccg")


def get_task(key: str) -> Task:
    """The task with this key (`xtreme.xnli`, `intermediate.mnli`); an unknown key names the nearest one."""
    return lookup(REGISTRY, key, "task", " (see `xstilts tasks`)")


def targets(benchmark: str) -> list[Task]:
    """The target tasks of one benchmark, in evaluate.py order of the registry."""
    lookup(dict.fromkeys(BENCHMARKS), benchmark, "benchmark")
    return [t for t in REGISTRY.values() if benchmark in t.benchmarks]


def intermediate_tasks() -> list[Task]:
    """The nine English intermediate tasks."""
    return [t for t in REGISTRY.values() if INTERMEDIATE in t.benchmarks]


def protocol_languages(protocol: str) -> tuple[str, ...]:
    """The union of test languages of every entry sharing a protocol (one fine-tune evaluates them all)."""
    langs: dict[str, dict[str, None]] = {}
    for t in REGISTRY.values():
        langs.setdefault(t.protocol, {}).update(dict.fromkeys(t.languages))
    return tuple(lookup(langs, protocol, "protocol"))


def is_eval_only(tasks) -> bool:
    """BUCC and XTREME Tatoeba: scored straight from the parent encoder, no fine-tuning, no seeds."""
    return all(t.train_schedule == "none" for t in tasks)


def encoder_protocol(tasks) -> str | None:
    """The protocol whose trained encoder scores these tasks (Tatoeba-R: the SQuAD-trained `xquad`)."""
    return "xquad" if any(dict(t.extra).get("encoder") == "squad-fine-tuned" for t in tasks) else None


class LicenceGatedError(RuntimeError):
    """A licence-gated dataset (CCGbank) was asked for but its local path is not set or incomplete."""


def ccgbank_dir(path: str | os.PathLike | None = None) -> Path | None:
    """The CCGbank folder: the explicit `path` (a profile key), else $XSTILTS_CCGBANK, else None."""
    value = path if path is not None else os.environ.get(CCGBANK_ENV)
    return Path(value).expanduser() if value else None


def check_available(task: Task | str, ccgbank: str | os.PathLike | None = None) -> None:
    """Reject a licence-gated task whose local data is absent, with a message that says why and what to set."""
    task = get_task(task) if isinstance(task, str) else task
    if not task.licence_gated:
        return
    root = ccgbank_dir(ccgbank)
    src = SOURCES["ccgbank"]
    if root is None:
        raise LicenceGatedError(
            f"task {task.key} needs CCGbank ({src.url}), which is licence-gated and cannot be downloaded: "
            f"set ${CCGBANK_ENV} (or the profile's ccgbank path) to a folder with train.tsv and dev.tsv "
            f"(tokens<TAB>supertags per line), or drop {task.name!r} from the profile's intermediate tasks"
        )
    missing = [f"{s}.tsv" for s in ("train", "dev") if not (root / f"{s}.tsv").is_file()]
    if missing:
        raise LicenceGatedError(
            f"task {task.key}: CCGbank folder {root} (from ${CCGBANK_ENV} or the profile) lacks {', '.join(missing)}; "
            f"expected {{train,dev}}.tsv with one sentence a line: space-separated tokens, a tab, space-separated supertags"
        )


def format_table(tasks: list[Task]) -> str:
    """The registry as a fixed-width table: one row per entry."""
    rows = [("key", "format", "metric", "protocol", "train", "#lang", "languages")]
    for t in tasks:
        langs = " ".join(t.languages)
        rows.append(
            (
                t.key,
                t.format,
                t.metric,
                t.protocol,
                t.train_name or "-",
                str(len(t.languages)),
                langs if len(langs) <= 60 else langs[:57] + "...",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
