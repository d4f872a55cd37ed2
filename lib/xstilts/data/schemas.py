"""The exact hub schema of every hub source, as `datasets.Features`, and the validator that checks a record
(or a loaded dataset's features) against it.

Field names, types, nesting and ClassLabel names follow the hub dataset cards / loaders
(docs/benchmarks.md): e.g. PAWS-X has a ClassLabel["0","1"] on `paws-x` but a string label on
`google/xtreme`; SIQA's label is the string "1"/"2"/"3"; `universal_dependencies` has 18 UPOS names
including "_" for multiword range lines. A record that breaks the schema raises `SchemaError` naming the
dataset, the field and what was expected -- before any mapping happens.
"""

from __future__ import annotations

import re

from datasets import ClassLabel, Features, List, Value

from xstilts.benchmarks.registry import PANX_LABELS, UPOS_LABELS, XNLI_LABELS

S = Value("string")
I32 = Value("int32")


def _seq(feature) -> List:
    return List(feature)


def _cl(*names: str) -> ClassLabel:
    return ClassLabel(names=list(names))


NLI3 = XNLI_LABELS
UPOS17 = UPOS_LABELS
UD_UPOS18 = (
    "NOUN",
    "PUNCT",
    "ADP",
    "NUM",
    "SYM",
    "SCONJ",
    "ADJ",
    "PART",
    "DET",
    "CCONJ",
    "PROPN",
    "PRON",
    "X",
    "_",
    "ADV",
    "INTJ",
    "VERB",
    "AUX",
)
NER7 = PANX_LABELS
_ANSWERS = {"text": _seq(S), "answer_start": _seq(I32)}

HUB_FEATURES: dict[str, Features] = {
    "xnli": Features({"premise": S, "hypothesis": S, "label": _cl(*NLI3)}),
    "xtreme.xnli": Features({"language": S, "sentence1": S, "sentence2": S, "gold_label": S}),
    "paws-x": Features({"id": I32, "sentence1": S, "sentence2": S, "label": _cl("0", "1")}),
    "xtreme.paws-x": Features({"sentence1": S, "sentence2": S, "label": S}),
    "xtreme.udpos": Features({"tokens": _seq(S), "pos_tags": _seq(_cl(*UPOS17))}),
    "universal_dependencies": Features(
        {
            "idx": S,
            "text": S,
            "tokens": _seq(S),
            "lemmas": _seq(S),
            "upos": _seq(_cl(*UD_UPOS18)),
            "xpos": _seq(S),
            "feats": _seq(S),
            "head": _seq(S),
            "deprel": _seq(S),
            "deps": _seq(S),
            "misc": _seq(S),
        }
    ),
    "xtreme.panx": Features({"tokens": _seq(S), "ner_tags": _seq(_cl(*NER7)), "langs": _seq(S)}),
    "wikiann": Features({"tokens": _seq(S), "ner_tags": _seq(_cl(*NER7)), "langs": _seq(S), "spans": _seq(S)}),
    "squad": Features({"id": S, "title": S, "context": S, "question": S, "answers": dict(_ANSWERS)}),
    "xquad": Features({"id": S, "context": S, "question": S, "answers": dict(_ANSWERS)}),
    "xtreme.bucc18": Features({"source_sentence": S, "target_sentence": S, "source_lang": S, "target_lang": S}),
    "xtreme.tatoeba": Features({"source_sentence": S, "target_sentence": S, "source_lang": S, "target_lang": S}),
    "xcopa": Features(
        {"premise": S, "choice1": S, "choice2": S, "question": S, "label": I32, "idx": I32, "changed": Value("bool")}
    ),
    "super_glue.copa": Features(
        {"premise": S, "choice1": S, "choice2": S, "question": S, "idx": I32, "label": _cl("choice1", "choice2")}
    ),
    "social_i_qa": Features({"context": S, "question": S, "answerA": S, "answerB": S, "answerC": S, "label": S}),
    "glue.mnli": Features({"premise": S, "hypothesis": S, "label": _cl(*NLI3), "idx": I32}),
    "snli": Features({"premise": S, "hypothesis": S, "label": _cl(*NLI3)}),
    "anli": Features({"uid": S, "premise": S, "hypothesis": S, "label": _cl(*NLI3), "reason": S}),
    "glue.qqp": Features({"question1": S, "question2": S, "label": _cl("not_duplicate", "duplicate"), "idx": I32}),
    "glue.sst2": Features({"sentence": S, "label": _cl("negative", "positive"), "idx": I32}),
    "hellaswag": Features(
        {
            "ind": I32,
            "activity_label": S,
            "ctx_a": S,
            "ctx_b": S,
            "ctx": S,
            "endings": _seq(S),
            "source_id": S,
            "split": S,
            "split_type": S,
            "label": S,
        }
    ),
    "cosmos_qa": Features(
        {"id": S, "context": S, "question": S, "answer0": S, "answer1": S, "answer2": S, "answer3": S, "label": I32}
    ),
    "commonsense_qa": Features(
        {"id": S, "question": S, "question_concept": S, "choices": {"label": _seq(S), "text": _seq(S)}, "answerKey": S}
    ),
}

# Labels that mean "hidden / no gold" in a ClassLabel column (GLUE/SuperGLUE test splits, SNLI no-consensus).
HIDDEN_LABEL = -1


class SchemaError(ValueError):
    """A record or dataset does not match its source's declared schema."""


_PY_TYPES = {
    "string": (str,),
    "large_string": (str,),
    "bool": (bool,),
    "float32": (float, int),
    "float64": (float, int),
}


def _check(value, feature, where: str, dataset: str) -> None:
    if isinstance(feature, dict):
        if not isinstance(value, dict):
            raise SchemaError(
                f"{dataset}: field {where!r} expected a dict with fields {sorted(feature)}, got {type(value).__name__}"
            )
        _check_fields(value, feature, dataset, prefix=f"{where}.")
    elif isinstance(feature, List):
        if not isinstance(value, list):
            raise SchemaError(
                f"{dataset}: field {where!r} expected a list of {_describe(feature.feature)}, "
                f"got {type(value).__name__} {_short(value)}"
            )
        for i, item in enumerate(value):
            _check(item, feature.feature, f"{where}[{i}]", dataset)
    elif isinstance(feature, ClassLabel):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(
                f"{dataset}: field {where!r} expected a ClassLabel int index into {feature.names}, "
                f"got {type(value).__name__} {_short(value)}"
            )
        if not (value == HIDDEN_LABEL or 0 <= value < feature.num_classes):
            raise SchemaError(
                f"{dataset}: field {where!r} expected a ClassLabel index in [0, {feature.num_classes}) "
                f"(names {feature.names}) or -1, got {value}"
            )
    elif isinstance(feature, Value):
        dtype = feature.dtype
        if dtype.startswith("int") or dtype.startswith("uint"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, _PY_TYPES.get(dtype, (object,))) and not (
                dtype.startswith("float") and isinstance(value, bool)
            )
        if not ok:
            raise SchemaError(
                f"{dataset}: field {where!r} expected Value({dtype!r}), got {type(value).__name__} {_short(value)}"
            )
    else:  # pragma: no cover - only the feature kinds above are declared
        raise SchemaError(f"{dataset}: field {where!r} has an undeclared feature type {feature!r}")


def _check_fields(record: dict, features: dict, dataset: str, prefix: str = "") -> None:
    extra = [k for k in record if k not in features]
    missing = [k for k in features if k not in record]
    if extra or missing:
        parts = []
        if missing:
            parts.append(f"missing field(s) {[prefix + m for m in missing]}")
        if extra:
            parts.append(f"unexpected field(s) {[prefix + e for e in extra]}")
        raise SchemaError(f"{dataset}: {'; '.join(parts)}; expected fields {[prefix + k for k in features]}")
    for name, feature in features.items():
        _check(record[name], feature, prefix + name, dataset)


def validate_record(record: dict, schema: str, dataset: str, index: int | None = None) -> None:
    """Check one record against the declared hub schema; the error names dataset, record, field, expectation."""
    label = dataset if index is None else f"{dataset} record {index}"
    if not isinstance(record, dict):
        raise SchemaError(
            f"{label}: expected a JSON object with fields {list(HUB_FEATURES[schema])}, got {type(record).__name__}"
        )
    _check_fields(record, HUB_FEATURES[schema], label)


def validate_features(features: Features, schema: str, dataset: str) -> None:
    """Check a loaded hub dataset's features against the declared schema (a changed hub repo is caught here)."""
    want = HUB_FEATURES[schema]
    missing = [k for k in want if k not in features]
    extra = [k for k in features if k not in want]
    if missing or extra:
        raise SchemaError(
            f"{dataset}: hub features differ from the declared schema: missing {missing}, "
            f"unexpected {extra}; expected fields {list(want)}"
        )
    for name, feature in want.items():
        if _kind(features[name]) != _kind(feature):
            raise SchemaError(
                f"{dataset}: field {name!r} expected {_describe(feature)}, hub has {_describe(features[name])}"
            )


def _kind(feature) -> str:
    """Like `_describe`, but integer widths and string kinds compare equal: the declared schema pins field
    names, nesting, ClassLabel names and string-vs-int, not the storage width a hub conversion picked."""
    text = _describe(feature)
    text = re.sub(r"Value\('u?int(8|16|32|64)'\)", "Value('int')", text)
    return text.replace("Value('large_string')", "Value('string')")


def _describe(feature) -> str:
    if isinstance(feature, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in feature.items()) + "}"
    if isinstance(feature, List):
        return f"List({_describe(feature.feature)})"
    if isinstance(feature, ClassLabel):
        return f"ClassLabel({feature.names})"
    if isinstance(feature, Value):
        return f"Value({feature.dtype!r})"
    return repr(feature)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
