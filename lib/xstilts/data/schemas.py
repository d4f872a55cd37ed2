"""The hub schema of every hub source, read from the hub contract, and the validator that checks a record (or
a loaded dataset's features) against it.

The contract (`hub_contract.yaml` beside this module) records, per hub repository, what the hub declares:
config names, split names and features, with where each was read (the last loading scripts of github
huggingface/datasets, the dataset cards, the hub's pages). `HUB_FEATURES` is built from it: one
`datasets.Features` per schema name a `xstilts.benchmarks.sources.Source` points at. E.g. PAWS-X has a
ClassLabel["0","1"] on `paws-x` but a string label on `google/xtreme`; SIQA's label is the string "1"/"2"/"3";
`universal_dependencies` has 18 UPOS names including "_" for multiword range lines; google/xtreme's MLQA and
TyDiQA declare `answers` as {answer_start, text}, the reverse key order of rajpurkar/squad. A record or a
dataset that breaks its schema raises `SchemaError` naming the dataset, the field and what was expected --
before any mapping happens. Comparisons are structural: field names, nesting, types and ClassLabel names,
not the order of a struct's keys.
"""

from __future__ import annotations

import re

from datasets import ClassLabel, Features, List, Value

from xstilts.data.contract import DEFAULT_CONFIG, config_families, schema_families


class SchemaError(ValueError):
    """A record or dataset does not match its source's declared schema. A field-level mismatch carries the
    field, what the contract expects and what was found (`make data`'s status line)."""

    def __init__(
        self, message: str, *, field: str | None = None, expected: str | None = None, found: str | None = None
    ):
        super().__init__(message)
        self.field, self.expected, self.found = field, expected, found

    def summary(self) -> str:
        """`field: expected X vs found Y` where known, else the message."""
        if self.field is None:
            return str(self)
        return f"{self.field}: expected {self.expected} vs found {self.found} ({str(self).split(':')[0]})"


# --- the contract's feature notation -------------------------------------------------------------------


def parse_feature(text: str):
    """A feature from the contract's notation: string | int32 | ..., "[x]", "{a: x, b: y}", ClassLabel(a, b)."""
    out, pos = _parse(str(text).strip(), 0)
    if pos != len(str(text).strip()):
        raise ValueError(f"hub contract: cannot parse feature {text!r} (stopped at {pos})")
    return out


_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def _parse(s: str, i: int):
    i = _skip(s, i)
    if s.startswith("[", i):
        inner, i = _parse(s, i + 1)
        i = _skip(s, i)
        if not s.startswith("]", i):
            raise ValueError(f"hub contract: expected ']' at {i} in {s!r}")
        return List(inner), i + 1
    if s.startswith("{", i):
        fields, i = {}, i + 1
        while True:
            i = _skip(s, i)
            if s.startswith("}", i):
                return fields, i + 1
            m = _NAME.match(s, i)
            if not m or not s.startswith(":", _skip(s, m.end())):
                raise ValueError(f"hub contract: expected 'name:' at {i} in {s!r}")
            fields[m.group()], i = _parse(s, _skip(s, m.end()) + 1)
            i = _skip(s, i)
            if s.startswith(",", i):
                i += 1
    if s.startswith("ClassLabel(", i):
        end = s.index(")", i)
        names = [n.strip() for n in s[i + len("ClassLabel(") : end].split(",")]
        return ClassLabel(names=names), end + 1
    m = _NAME.match(s, i)
    if not m:
        raise ValueError(f"hub contract: expected a type at {i} in {s!r}")
    return Value(m.group()), m.end()


def _skip(s: str, i: int) -> int:
    while i < len(s) and s[i] == " ":
        i += 1
    return i


def config_features(dataset: str, config: str | None) -> Features:
    """The declared features of one config of a hub repository."""
    family = config_families(dataset)[config or DEFAULT_CONFIG]
    return Features({k: parse_feature(v) for k, v in family["features"].items()})


# Labels that mean "hidden / no gold" in a ClassLabel column (GLUE/SuperGLUE test splits, SNLI no-consensus).
HIDDEN_LABEL = -1


_PY_TYPES = {
    "string": (str,),
    "large_string": (str,),
    "bool": (bool,),
    "float32": (float, int),
    "float64": (float, int),
}


def _check(value, feature, where: str, dataset: str, nullable: frozenset = frozenset()) -> None:
    if isinstance(feature, dict):
        if not isinstance(value, dict):
            raise SchemaError(
                f"{dataset}: field {where!r} expected a dict with fields {sorted(feature)}, got {type(value).__name__}"
            )
        _check_fields(value, feature, dataset, prefix=f"{where}.", nullable=nullable)
    elif isinstance(feature, List):
        if not isinstance(value, list):
            raise SchemaError(
                f"{dataset}: field {where!r} expected a list of {_describe(feature.feature)}, "
                f"got {type(value).__name__} {_short(value)}"
            )
        for i, item in enumerate(value):
            _check(item, feature.feature, f"{where}[{i}]", dataset, nullable)
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
        if value is None and where.split("[")[0] in nullable:
            return
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


def _check_fields(
    record: dict, features: dict, dataset: str, prefix: str = "", nullable: frozenset = frozenset()
) -> None:
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
        _check(record[name], feature, prefix + name, dataset, nullable)


def validate_record(record: dict, schema: str, dataset: str, index: int | None = None) -> None:
    """Check one record against the declared hub schema; the error names dataset, record, field, expectation."""
    label = dataset if index is None else f"{dataset} record {index}"
    if not isinstance(record, dict):
        raise SchemaError(
            f"{label}: expected a JSON object with fields {list(HUB_FEATURES[schema])}, got {type(record).__name__}"
        )
    _check_fields(record, HUB_FEATURES[schema], label, nullable=NULLABLE.get(schema, frozenset()))


def validate_features(features: Features, schema: str, dataset: str) -> None:
    """Check a loaded hub dataset's features against the declared schema (a changed hub repo is caught here)."""
    want = HUB_FEATURES[schema]
    missing = [k for k in want if k not in features]
    extra = [k for k in features if k not in want]
    if missing or extra:
        raise SchemaError(
            f"{dataset}: hub features differ from the declared schema: missing {missing}, "
            f"unexpected {extra}; expected fields {list(want)}",
            field="fields",
            expected=str(list(want)),
            found=str(list(features)),
        )
    for name, feature in want.items():
        if _kind(features[name]) != _kind(feature):
            raise SchemaError(
                f"{dataset}: field {name!r} expected {_describe(feature)}, hub has {_describe(features[name])}",
                field=name,
                expected=_describe(feature),
                found=_describe(features[name]),
            )


def _kind(feature) -> str:
    """`_describe` up to what the schema pins: field names, nesting, ClassLabel names and string-vs-int. A
    struct's keys are compared as a set (google/xtreme's {answer_start, text} is the same structure as
    rajpurkar/squad's {text, answer_start}); integer widths and string kinds a hub conversion picked compare
    equal."""
    if isinstance(feature, dict):
        return "{" + ", ".join(f"{k}: {_kind(feature[k])}" for k in sorted(feature)) + "}"
    if isinstance(feature, List):
        return f"List({_kind(feature.feature)})"
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


# --- the schemas, from the contract (after the helpers they use) ------------------------------------------

HUB_FEATURES: dict[str, Features] = {
    name: Features({k: parse_feature(v) for k, v in family["features"].items()})
    for name, family in schema_families().items()
}
# Fields whose values (or list items) the hub leaves null: the contract's `nullable` (UD `xpos` where CoNLL-U has '_').
NULLABLE: dict[str, frozenset] = {name: frozenset(f.get("nullable", ())) for name, f in schema_families().items()}
