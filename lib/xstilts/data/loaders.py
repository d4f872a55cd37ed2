"""Source schema -> canonical format (xstilts.benchmarks.formats), for the hub and for a local world dir alike.

`source_for` resolves (task, split, language) to concrete `SourceSpec`s; `read_source` reads one of them
in its exact hub schema (hub: `read_hub`; world dir: `<world_dir>/<hub id>/<config>/<split>.jsonl`, every
record validated, then cast to the declared `Features`); `load` maps the rows into the task's canonical
format. Release formats (BUCC, Tatoeba LASER, XQuAD-R, Mewsli-X, CCGbank) go through `xstilts.data.readers`.

A hub split is read at its locked revision in one of two ways (the hub contract says which):
- a repo whose `main` holds data files: `datasets.load_dataset(id, config, split=, revision=locked)`. Offline
  (`HF_HUB_OFFLINE=1`) datasets 5.2 reads its Arrow cache (`<HF_DATASETS_CACHE>/<ns>___<name>/<config>/
  <version>/<commit>/`) and takes the most recently written revision of that config whatever `revision=`
  says (`datasets.packaged_modules.cache.cache._find_hash_in_cache`), so the folder it read is checked
  against the lock;
- a script-only repo read from its parquet export (`refs/convert/parquet`, `<config>/<split>/*.parquet`):
  the files of the locked commit from the hub cache (`huggingface_hub.snapshot_download`), read with
  `datasets.Dataset.from_parquet`. Not `load_dataset(id, data_dir=<config>)`: datasets 5.2 caches that load
  under a config id hashed from the resolved hub file URLs (`default-<hash>`), which its offline lookup
  never finds (it looks for `default-data_dir=<config>`), so a compute node without the hub could not read
  it (datasets.builder `BuilderConfig.create_config_id`; datasets.load `HubDatasetModuleFactory.get_module`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import Dataset, Features, List, Value

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.languages import get_language
from xstilts.benchmarks.official import LAREQA_LANGUAGES
from xstilts.benchmarks.registry import Task, ccgbank_dir, check_available, get_task
from xstilts.benchmarks.retrieval_texts import lareqa_candidate, sentence_at, squad_pairs
from xstilts.benchmarks.sources import HUB, LOCAL, SOURCES, TYDIQA_PREFIX, DataRef
from xstilts.data import readers
from xstilts.data.contract import DEFAULT_CONFIG
from xstilts.data.lock import require_dataset_revision
from xstilts.data.schemas import HUB_FEATURES, SchemaError, validate_features, validate_record


@dataclass(frozen=True)
class SourceSpec:
    """One concrete split of one source: everything needed to read it (and to write it, for the miniature)."""

    source: str
    dataset: str
    config: str | None
    split: str
    schema: str
    kind: str
    language: str
    part: str = ""
    language_filter: bool = False

    @property
    def revision(self) -> str:
        return SOURCES[self.source].revision

    def path(self, world_dir: Path | str) -> Path:
        """Where this split lives in a world dir (hub sources; release files: see readers)."""
        return Path(world_dir) / self.dataset / (self.config or DEFAULT_CONFIG) / f"{self.split}.jsonl"


def _task(task):
    return task if isinstance(task, Task) else get_task(task)


def _check_language(task, split: str, language: str, strict: bool = True) -> None:
    """Test: one of the task's test languages ("all" for pooled LAReQA). Train: English only (zero-shot).
    Dev: English, or a test language where dev data is per language (BUCC's sample set). Not `strict`
    (a world dir): any registered language may be a test language, as a miniature has its own."""
    if language == "all" and task.format == F.ANSWER_RETRIEVAL:
        return
    get_language(language)
    if not strict and split != "train":
        return
    if split == "train" and language != "en":
        raise KeyError(
            f"task {task.key}: training data is English only (zero-shot protocol); got language {language!r}"
        )
    if split == "dev" and task.format == F.BITEXT_MINING and language not in task.languages:
        raise KeyError(
            f"task {task.key}: dev data is per language pair (BUCC sample set); expected one of "
            f"{', '.join(task.languages)}, got {language!r}"
        )
    if split == "test" and language not in task.languages:
        raise KeyError(
            f"task {task.key}: {language!r} is not a test language; expected one of {', '.join(task.languages)}"
        )
    if split == "dev" and language != "en" and language not in task.languages:
        raise KeyError(
            f"task {task.key}: {language!r} is not a test language; expected one of {', '.join(task.languages)}"
        )


def specs_for_ref(ref: DataRef, language: str) -> list[SourceSpec]:
    """The concrete config(s) behind one DataRef for one language."""
    src = SOURCES[ref.source]
    if ref.split not in src.splits:
        raise KeyError(f"source {src.key}: no split {ref.split!r}; expected one of {src.splits}")
    configs = ref.configs or (src.config_for(language),)
    return [
        SourceSpec(
            source=src.key,
            dataset=src.dataset,
            config=c,
            split=ref.split,
            schema=src.schema,
            kind=src.kind,
            language=language,
            part=ref.part,
            language_filter=ref.language_filter,
        )
        for c in configs
    ]


def source_for(task, split: str, language: str = "en", *, strict_languages: bool = True) -> list[SourceSpec]:
    """Exactly which source splits `load(task, split, language)` reads, in order (parts of a mixture or
    sequence included): the miniature writes these, `make data` fetches them. `strict_languages=False`
    accepts any registered language as a test language (a miniature world's)."""
    task = _task(task)
    _check_language(task, split, language, strict_languages)
    refs = task.refs(split, language)
    if not refs:
        raise KeyError(f"task {task.key} has no {split!r} data (train: {task.train_name or 'none'})")
    return [spec for ref in refs for spec in specs_for_ref(ref, language)]


# --- reading one source split in its own schema ----------------------------------------------------------


def read_jsonl(path: Path, schema: str, dataset: str) -> Dataset:
    """Records of a world-dir split, validated one by one, cast to the declared hub Features."""
    if not path.is_file():
        raise FileNotFoundError(f"{dataset}: file {path} is missing")
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise SchemaError(f"{dataset} {path.name} line {n}: not valid JSON ({err})") from None
            validate_record(rec, schema, f"{dataset} ({path.name} line {n})")
            records.append(rec)
    features = HUB_FEATURES[schema]
    if not records:
        return Dataset.from_dict({k: [] for k in features}, features=features)
    return Dataset.from_list(records, features=features)


def read_source(spec: SourceSpec, world_dir: Path | str | None = None) -> Dataset:
    """One hub source split in its exact hub schema (world dir: the miniature's files; else the hub cache at
    the locked revision)."""
    label = spec_label(spec)
    if spec.kind != HUB:
        raise ValueError(f"{label}: {spec.kind} sources are read by xstilts.data.readers, not as hub splits")
    if world_dir is not None:
        return read_jsonl(spec.path(world_dir), spec.schema, label)
    return read_hub(spec, require_dataset_revision(SOURCES[spec.source]))


def spec_label(spec: SourceSpec) -> str:
    return f"{spec.dataset}" + (f"/{spec.config}" if spec.config else "") + f" [{spec.split}]"


class RevisionMismatch(RuntimeError):
    """The datasets cache served another revision than the locked one."""


def export_pattern(config: str | None, split: str) -> str:
    """The files of one split on a parquet export branch."""
    return f"{config or DEFAULT_CONFIG}/{split}/*.parquet"


def export_files(dataset: str, config: str | None, split: str, revision: str, *, download: bool = False) -> list[Path]:
    """The parquet files of one split of a parquet-export source at `revision`, from the hub cache
    (`download`: fetch them first, on a connected machine). Absent: FileNotFoundError."""
    from huggingface_hub import snapshot_download

    pattern = export_pattern(config, split)
    folder = snapshot_download(
        dataset, repo_type="dataset", revision=revision, allow_patterns=[pattern], local_files_only=not download
    )
    files = sorted(Path(folder).glob(pattern))
    if not files:
        raise FileNotFoundError(f"{dataset}@{revision[:12]}: no {pattern} in the hub cache ({folder})")
    return files


# Offline, datasets warns on every load that it serves the latest cached version of a config and where it
# found it. `check_hub_split` checks that folder against the lock, so the warnings add nothing, and in a
# report they were hundreds of lines with the machine's paths (the rehearsal's data notebook: 780).
OFFLINE_CACHE_LOGGERS = ("datasets.load", "datasets.packaged_modules.cache.cache")


@contextmanager
def _quiet_offline_cache():
    loggers = [logging.getLogger(name) for name in OFFLINE_CACHE_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def read_hub(spec: SourceSpec, revision: str) -> Dataset:
    """One hub split at `revision`, checked: features against the hub contract, the revision served."""
    if SOURCES[spec.source].parquet_export:
        files = export_files(spec.dataset, spec.config, spec.split, revision)
        ds = Dataset.from_parquet([str(f) for f in files], split=spec.split)
    else:
        with _quiet_offline_cache():
            ds = datasets.load_dataset(spec.dataset, spec.config, split=spec.split, revision=revision)
    return check_hub_split(ds, spec, revision)


def check_hub_split(ds: Dataset, spec: SourceSpec, revision: str) -> Dataset:
    """`ds` if it is the split `spec` names at `revision` in the contract's schema, else SchemaError or
    RevisionMismatch (a datasets cache folder of another revision)."""
    label = spec_label(spec)
    served = [f["filename"] for f in ds.cache_files if f"{os.sep}{revision}{os.sep}" not in f["filename"]]
    if served and not SOURCES[spec.source].parquet_export:
        raise RevisionMismatch(
            f"{label}: datasets read {served[0]}, not the locked revision {revision}; offline it serves the "
            "newest cached revision of a config: remove the other revisions from the datasets cache"
        )
    validate_features(ds.features, spec.schema, label)
    return ds


# --- canonical features ----------------------------------------------------------------------------------

S = Value("string")
CANONICAL_FEATURES = {
    F.CLASSIFICATION: Features({"id": S, "text_a": S, "text_b": S, "label": Value("int64")}),
    F.MULTIPLE_CHOICE: Features({"id": S, "prompt": S, "choices": List(S), "label": Value("int64")}),
    F.TAGGING: Features({"id": S, "tokens": List(S), "tags": List(S)}),
    F.QA: Features(
        {"id": S, "context": S, "question": S, "answers": {"text": List(S), "answer_start": List(Value("int32"))}}
    ),
    "pairs": Features({"id": S, "query": S, "positive": S}),
}


def _names(ds: Dataset, column: str) -> list[str] | None:
    feat = ds.features[column]
    inner = feat.feature if isinstance(feat, List) else feat
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _label_index(task, label_name: str, where: str) -> int:
    try:
        return task.labels.index(label_name)
    except ValueError:
        raise SchemaError(
            f"{where}: label {label_name!r} is not one of task {task.key}'s labels {list(task.labels)}"
        ) from None


def _classlabel_map(task, ds: Dataset, column: str, where: str) -> dict[int, int]:
    names = _names(ds, column)
    mapping = {i: _label_index(task, n, where) for i, n in enumerate(names)}
    mapping[-1] = -1
    return mapping


def _ids(spec: SourceSpec, indices) -> list[str]:
    return [f"{spec.source}.{spec.config or DEFAULT_CONFIG}.{spec.split}.{i}" for i in indices]


def _to_classification(task, spec: SourceSpec, ds: Dataset) -> Dataset:
    where = f"{spec.dataset} [{spec.split}]"
    schema = spec.schema
    if schema == "xtreme.xnli":
        ds = ds.filter(lambda lang: lang == spec.language, input_columns="language")
    if schema in ("xnli", "glue.mnli", "snli", "anli"):
        a, b, idcol = "premise", "hypothesis", ("uid" if schema == "anli" else None)
    elif schema in ("paws-x", "xtreme.paws-x", "xtreme.xnli"):
        a, b, idcol = "sentence1", "sentence2", ("id" if schema == "paws-x" else None)
    elif schema == "glue.qqp":
        a, b, idcol = "question1", "question2", None
    elif schema == "glue.sst2":
        a, b, idcol = "sentence", None, None
    else:
        raise SchemaError(f"{where}: schema {schema!r} cannot feed a classification task ({task.key})")
    label_col = "gold_label" if schema == "xtreme.xnli" else "label"
    cl = _classlabel_map(task, ds, label_col, where) if _names(ds, label_col) else None

    def fn(batch, indices):
        if cl is not None:
            labels = [cl[x] for x in batch[label_col]]
        else:  # string labels (google/xtreme XNLI gold_label, PAWS-X "0"/"1")
            labels = [_label_index(task, x, where) for x in batch[label_col]]
        ids = [str(x) for x in batch[idcol]] if idcol else _ids(spec, indices)
        return {"id": ids, "text_a": batch[a], "text_b": batch[b] if b else [None] * len(ids), "label": labels}

    out = ds.map(
        fn,
        batched=True,
        with_indices=True,
        remove_columns=ds.column_names,
        features=CANONICAL_FEATURES[F.CLASSIFICATION],
    )
    if schema == "snli":  # no gold consensus: not an example (jiant / HF card)
        out = out.filter(lambda y: y != -1, input_columns="label")
    return out


def _to_multiple_choice(task, spec: SourceSpec, ds: Dataset) -> Dataset:
    where = f"{spec.dataset} [{spec.split}]"
    schema = spec.schema

    def fn(batch, indices):
        n = len(indices)
        ids = _ids(spec, indices)
        if schema in ("xcopa", "super_glue.copa"):  # run_xcopa.py: "<premise> What was the <question>?"
            prompts = [f"{p} What was the {q}?" for p, q in zip(batch["premise"], batch["question"])]
            choices = [[c1, c2] for c1, c2 in zip(batch["choice1"], batch["choice2"])]
            labels = list(batch["label"])
        elif schema == "social_i_qa":  # "<context> <question>", labels "1"/"2"/"3" -> 0/1/2
            prompts = [f"{c} {q}" for c, q in zip(batch["context"], batch["question"])]
            choices = [[x, y, z] for x, y, z in zip(batch["answerA"], batch["answerB"], batch["answerC"])]
            labels = [_int_label(x, 1, 3, where) - 1 for x in batch["label"]]
        elif schema == "hellaswag":  # jiant: prompt ctx_a; choice ctx_b + ending; labels "0".."3", "" hidden
            prompts = list(batch["ctx_a"])
            choices = [[f"{b} {e}".strip() for e in ends] for b, ends in zip(batch["ctx_b"], batch["endings"])]
            labels = [-1 if x == "" else _int_label(x, 0, 3, where) for x in batch["label"]]
        elif schema == "cosmos_qa":
            prompts = [f"{c} {q}" for c, q in zip(batch["context"], batch["question"])]
            choices = [[batch[f"answer{k}"][i] for k in range(4)] for i in range(n)]
            labels = list(batch["label"])
            ids = list(batch["id"])
        elif schema == "commonsense_qa":  # answerKey letter -> index in choices.label, "" hidden
            prompts = list(batch["question"])
            choices = [c["text"] for c in batch["choices"]]
            labels = [
                -1 if k == "" else _letter_index(c["label"], k, where)
                for c, k in zip(batch["choices"], batch["answerKey"])
            ]
            ids = list(batch["id"])
        else:
            raise SchemaError(f"{where}: schema {schema!r} cannot feed a multiple-choice task ({task.key})")
        return {"id": ids, "prompt": prompts, "choices": choices, "label": labels}

    return ds.map(
        fn,
        batched=True,
        with_indices=True,
        remove_columns=ds.column_names,
        features=CANONICAL_FEATURES[F.MULTIPLE_CHOICE],
    )


def _int_label(value: str, lo: int, hi: int, where: str) -> int:
    if not (isinstance(value, str) and value.strip().isdigit() and lo <= int(value) <= hi):
        raise SchemaError(f"{where}: field 'label' expected a string digit in '{lo}'..'{hi}', got {value!r}")
    return int(value)


def _letter_index(letters: list[str], key: str, where: str) -> int:
    if key not in letters:
        raise SchemaError(f"{where}: field 'answerKey' {key!r} is not one of choices.label {letters}")
    return letters.index(key)


def _to_tagging(task, spec: SourceSpec, ds: Dataset) -> Dataset:
    where = f"{spec.dataset} [{spec.split}]"
    col = {
        "xtreme.udpos": "pos_tags",
        "universal_dependencies": "upos",
        "xtreme.panx": "ner_tags",
        "wikiann": "ner_tags",
    }.get(spec.schema)
    if col is None:
        raise SchemaError(f"{where}: schema {spec.schema!r} cannot feed a tagging task ({task.key})")
    names = _names(ds, col)
    unknown = [n for n in names if n not in task.labels and n != "_"]
    if unknown:
        raise SchemaError(f"{where}: field {col!r} has ClassLabel names {unknown} outside task {task.key}'s labels")

    def fn(batch, indices):
        toks_out, tags_out = [], []
        for toks, tags in zip(batch["tokens"], batch[col]):
            # universal_dependencies keeps multiword range lines (upos "_"): drop them, keeping the
            # syntactic words as HF udpos does for the other languages.
            kept = [(t, names[g]) for t, g in zip(toks, tags) if names[g] != "_"]
            toks_out.append([t for t, _ in kept])
            tags_out.append([g for _, g in kept])
        return {"id": _ids(spec, indices), "tokens": toks_out, "tags": tags_out}

    out = ds.map(
        fn, batched=True, with_indices=True, remove_columns=ds.column_names, features=CANONICAL_FEATURES[F.TAGGING]
    )
    return out.filter(lambda toks: len(toks) > 0, input_columns="tokens")


def _to_qa(task, spec: SourceSpec, ds: Dataset) -> Dataset:
    if spec.schema not in ("squad", "xquad", "xtreme.qa"):
        raise SchemaError(f"{spec.dataset} [{spec.split}]: schema {spec.schema!r} cannot feed a QA task ({task.key})")
    if spec.language_filter:  # TyDiQA-GoldP: the language is the id prefix, its lower-cased English name
        prefix = TYDIQA_PREFIX.get(spec.language, get_language(spec.language).name.lower()) + "-"
        ds = ds.filter(lambda i: i.startswith(prefix), input_columns="id")
    keep = ["id", "context", "question", "answers"]
    return ds.remove_columns([c for c in ds.column_names if c not in keep]).cast(CANONICAL_FEATURES[F.QA])


_FLAT = {
    F.CLASSIFICATION: _to_classification,
    F.MULTIPLE_CHOICE: _to_multiple_choice,
    F.TAGGING: _to_tagging,
    F.QA: _to_qa,
}


# --- retrieval sources -----------------------------------------------------------------------------------


def _root(world_dir) -> Path:
    return Path(world_dir) if world_dir is not None else readers.release_root()


def _bucc(spec: SourceSpec, world_dir) -> F.RetrievalSet:
    if spec.schema == "xtreme.bucc18":  # hub gold pairs only: ids live in source_lang / target_lang
        ds = read_source(spec, world_dir)
        q_ids, q, c_ids, c, gold = [], [], [], [], {}
        seen_c: set[str] = set()
        for row in ds:
            sid, tid = row["source_lang"], row["target_lang"]
            if not re.match(rf"^{spec.language}-\d+$", sid) or not re.match(r"^en-\d+$", tid):
                raise SchemaError(
                    f"{spec.dataset}/{spec.config}: fields 'source_lang'/'target_lang' expected sentence "
                    f"ids like '{spec.language}-000000001'/'en-000000001' (hub quirk), got {sid!r}/{tid!r}"
                )
            if sid not in gold:
                q_ids.append(sid)
                q.append(row["source_sentence"].rstrip("\n"))
            gold.setdefault(sid, []).append(tid)
            if tid not in seen_c:
                seen_c.add(tid)
                c_ids.append(tid)
                c.append(row["target_sentence"].rstrip("\n"))
        return F.RetrievalSet(spec.language, q_ids, q, c_ids, c, gold)
    data = readers.read_bucc(_root(world_dir), spec.language, spec.split)
    gold: dict[str, list[str]] = {}
    for s, t in data["gold"]:
        gold.setdefault(s, []).append(t)
    return F.RetrievalSet(spec.language, data["source_ids"], data["source"], data["target_ids"], data["target"], gold)


def _tatoeba(spec: SourceSpec, world_dir) -> F.RetrievalSet:
    """English queries (the official en->xx direction) against the xx sentences; row i is the gold of row i.
    The hub loader keeps each line's trailing newline: stripped here."""
    if spec.schema == "xtreme.tatoeba":
        ds = read_source(spec, world_dir)
        iso3 = get_language(spec.language).iso3
        bad = [x for x in set(ds["source_lang"]) | set(ds["target_lang"]) if x not in (iso3, "eng")]
        if bad:
            raise SchemaError(
                f"{spec.dataset}/{spec.config}: fields 'source_lang'/'target_lang' expected {iso3!r}/'eng', got {bad}"
            )
        src = [s.rstrip("\r\n") for s in ds["source_sentence"]]
        eng = [s.rstrip("\r\n") for s in ds["target_sentence"]]
    else:
        data = readers.read_tatoeba_laser(_root(world_dir), get_language(spec.language).iso3)
        src, eng = data["source"], data["target"]
    q_ids = [f"eng-{i}" for i in range(len(eng))]
    c_ids = [f"{spec.language}-{i}" for i in range(len(src))]
    return F.RetrievalSet(spec.language, q_ids, eng, c_ids, src, {q: [c] for q, c in zip(q_ids, c_ids)})


def _lareqa(spec: SourceSpec, world_dir, languages=None) -> F.RetrievalSet:
    """XQuAD-R questions of `spec.language` ("all": every language) against the pooled sentences of all the
    task's languages (the 11 XQuAD-R ones; a miniature world's own). A candidate is relevant when it holds
    the answer of a question with the same cross-lingual id (utils_lareqa: candidates sharing the
    question's xling_id), in any language."""
    root = _root(world_dir)
    q_ids, q_text, q_lang, c_ids, c_text = [], [], [], [], []
    answer_cands: dict[str, list[str]] = {}
    for lang in languages or LAREQA_LANGUAGES:
        for a, article in enumerate(readers.read_xquad_r(root, lang)):
            for p, para in enumerate(article["paragraphs"]):
                ctx, breaks = para["context"], para["sentence_breaks"]
                base = f"{lang}.{a}.{p}"
                for s, (lo, hi) in enumerate(breaks):
                    c_ids.append(f"{base}.{s}")
                    c_text.append(lareqa_candidate(ctx[lo:hi], ctx))
                for qa in para["qas"]:
                    for ans in qa["answers"]:
                        s = sentence_at(breaks, ans["answer_start"])
                        if s is not None:
                            answer_cands.setdefault(qa["id"], [])
                            cid = f"{base}.{s}"
                            if cid not in answer_cands[qa["id"]]:
                                answer_cands[qa["id"]].append(cid)
                    if spec.language in ("all", lang):
                        q_ids.append(f"{qa['id']}_{lang}")
                        q_text.append(qa["question"])
                        q_lang.append(lang)
    gold = {qid: list(answer_cands.get(qid.rsplit("_", 1)[0], [])) for qid in q_ids}
    return F.RetrievalSet(spec.language, q_ids, q_text, c_ids, c_text, gold, q_lang)


def _pool_languages(task, world_dir) -> tuple[str, ...]:
    """LAReQA's pool: the task's languages; in a world dir whose files are another set of languages (a
    miniature read through the registry entry), the languages whose XQuAD-R files the world holds."""
    if world_dir is None:
        return task.languages
    present = sorted(p.stem for p in (Path(world_dir) / "lareqa" / "xquad-r").glob("*.json"))
    return task.languages if set(task.languages) <= set(present) else tuple(present)


def _mewslix(spec: SourceSpec, world_dir) -> F.RetrievalSet:
    root = _root(world_dir)
    ent_ids, titles, descriptions = readers.read_mewslix_entities(root)
    mentions = readers.read_mewslix_mentions(root, spec.split, spec.language)
    return F.RetrievalSet(
        spec.language,
        [m[0] for m in mentions],
        [m[1] for m in mentions],
        list(ent_ids),
        list(descriptions),
        {m[0]: [m[2]] for m in mentions},
        [spec.language] * len(mentions),
    )


_RETRIEVAL = {
    "bucc2018": _bucc,
    "xtreme.bucc18": _bucc,
    "tatoeba-laser": _tatoeba,
    "xtreme.tatoeba": _tatoeba,
    "xquad-r": _lareqa,
    "mewsli-x": _mewslix,
}


# --- dual-encoder training pairs -------------------------------------------------------------------------


def _squad_pairs(spec: SourceSpec, ds: Dataset) -> Dataset:
    """SQuAD in retrieval form (XTREME-R run_retrieval_qa.py): each question and the LAReQA candidate text
    of the sentence holding its first answer (xstilts.benchmarks.retrieval_texts)."""
    cols = ds.select_columns(["id", "context", "question", "answers"]).to_dict()
    pairs = squad_pairs(cols["id"], cols["context"], cols["question"], cols["answers"])
    return Dataset.from_dict(pairs, features=CANONICAL_FEATURES["pairs"])


def _mewslix_pairs(spec: SourceSpec, world_dir) -> Dataset:
    rows = readers.read_mewslix_pairs(_root(world_dir), spec.split)
    return Dataset.from_dict(
        {"id": [r[0] for r in rows], "query": [r[1] for r in rows], "positive": [r[2] for r in rows]},
        features=CANONICAL_FEATURES["pairs"],
    )


# --- CCGbank ---------------------------------------------------------------------------------------------


def _ccg(task, spec: SourceSpec, world_dir, ccgbank) -> Dataset:
    if world_dir is not None and (Path(world_dir) / "ccgbank").is_dir() and ccgbank is None:
        root = Path(world_dir) / "ccgbank"
    else:
        check_available(task, ccgbank)
        root = ccgbank_dir(ccgbank)
    rows = readers.read_ccgbank(root, spec.split)
    return Dataset.from_dict(
        {
            "id": [f"ccgbank.{spec.split}.{i}" for i in range(len(rows))],
            "tokens": [r[0] for r in rows],
            "tags": [r[1] for r in rows],
        },
        features=CANONICAL_FEATURES[F.TAGGING],
    )


# --- the entry points ------------------------------------------------------------------------------------

QUIET_BELOW = 20_000  # rows: mapping smaller splits shows no datasets progress bar (the miniature has hundreds)


@contextmanager
def _quiet(n_rows: int):
    """Silence `datasets` map/filter/cast progress bars for small splits, restoring the previous state."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    if was_enabled and n_rows < QUIET_BELOW:
        ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def _load_spec(task, spec: SourceSpec, world_dir, ccgbank):
    if spec.kind == LOCAL:
        return _ccg(task, spec, world_dir, ccgbank)
    if task.format in F.RETRIEVAL_FORMATS:
        if spec.schema == "mewsli-x" and spec.config == "wikipedia_pairs":
            return _mewslix_pairs(spec, world_dir)
        if spec.schema == "xquad-r":
            return _lareqa(spec, world_dir, _pool_languages(task, world_dir))
        if spec.schema in _RETRIEVAL:
            return _RETRIEVAL[spec.schema](spec, world_dir)
        if spec.schema in ("squad", "xtreme.qa"):  # LAReQA trains and selects on SQuAD in retrieval format
            return _squad_pairs(spec, read_source(spec, world_dir))
        raise SchemaError(f"{spec.dataset} [{spec.split}]: schema {spec.schema!r} cannot feed {task.key}")
    if spec.kind != HUB:
        raise SchemaError(f"{spec.dataset}: release source cannot feed the flat task {task.key}")
    rows = read_source(spec, world_dir)
    with _quiet(len(rows)):
        return _FLAT[task.format](task, spec, rows)


def cap_examples(data, limit: int | None):
    """The first `limit` examples (None: all): a dataset's first rows, or a retrieval set's first queries with
    their gold (the candidate pool is kept whole: it is what the queries are ranked against)."""
    if limit is None:
        return data
    if isinstance(data, Dataset):
        return data if len(data) <= limit else data.select(range(limit))
    if len(data.query_ids) <= limit:
        return data
    kept = data.query_ids[:limit]
    return dataclasses.replace(
        data,
        query_ids=kept,
        queries=data.queries[:limit],
        gold={q: data.gold[q] for q in kept if q in data.gold},
        query_languages=data.query_languages[:limit],
    )


def load_parts(
    task,
    split: str,
    language: str = "en",
    world_dir: Path | str | None = None,
    *,
    ccgbank=None,
    limit: int | None = None,
) -> dict[str, Dataset | F.RetrievalSet]:
    """Each part (ANLI+ sources, XCOPA's siqa then copa, UD treebanks merged) as its own dataset, in order.
    Parts without a name are merged under the task name. `limit`: at most that many examples per part (a
    profile's `max_examples`)."""
    task = _task(task)
    out: dict[str, list] = {}
    for spec in source_for(task, split, language, strict_languages=world_dir is None):
        out.setdefault(spec.part or task.name, []).append(_load_spec(task, spec, world_dir, ccgbank))
    return {name: cap_examples(_concat(items), limit) for name, items in out.items()}


def load(
    task,
    split: str,
    language: str = "en",
    world_dir: Path | str | None = None,
    *,
    part: str | None = None,
    ccgbank=None,
    limit: int | None = None,
) -> Dataset | F.RetrievalSet:
    """The canonical dataset of (task, split, language): parts concatenated in order (a mixture's union; use
    `load_parts` to sample per part or to train a sequence stage by stage), or one `part`; `limit` as in
    `load_parts`."""
    parts = load_parts(task, split, language, world_dir, ccgbank=ccgbank, limit=limit)
    if part is not None:
        if part not in parts:
            raise KeyError(f"task {_task(task).key} [{split}]: no part {part!r}; expected one of {list(parts)}")
        return parts[part]
    return _concat(list(parts.values()))


def _concat(items: list):
    if len(items) == 1:
        return items[0]
    if all(isinstance(x, Dataset) for x in items):
        return datasets.concatenate_datasets(items)
    raise ValueError("cannot concatenate retrieval sets; load them per language")
