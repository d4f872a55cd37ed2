"""The hub contract (lib/xstilts/data/hub_contract.yaml) against the sources, the registry and the schemas."""

import pytest
from datasets import ClassLabel, Features, List, Value

from xstilts.benchmarks.registry import REGISTRY
from xstilts.benchmarks.sources import HUB, SOURCES
from xstilts.data import contract
from xstilts.data.hub_cache import needed_specs
from xstilts.data.schemas import (
    HUB_FEATURES,
    SchemaError,
    config_features,
    parse_feature,
    validate_features,
    validate_record,
)


def test_every_hub_source_is_in_the_contract_with_its_schema_and_branch():
    for src in SOURCES.values():
        if src.kind != HUB:
            continue
        entry = contract.repo_entry(src.dataset)
        schemas = {f.get("schema") for f in entry["configs"].values()}
        assert src.schema in schemas, src.key
        assert src.branch == entry["branch"]
        if entry["main"] == "script":  # datasets>=4 refuses loading scripts: the parquet export is read
            assert src.parquet_export, src.key


def test_every_entry_says_where_it_was_read():
    for dataset, entry in contract.contract()["datasets"].items():
        source = entry["features_from"]
        assert source["repo"] == "huggingface/datasets" and len(source["commit"]) == 40, dataset
        assert source["path"].startswith("datasets/") and source["path"].endswith(".py"), dataset
        assert entry["hub"] and all("huggingface.co" in h for h in entry["hub"][:1]), dataset
        assert entry["branch"] in (contract.MAIN, contract.PARQUET_EXPORT) and entry["main"] in ("parquet", "script")


def test_every_config_and_split_the_registry_reads_exists_on_the_hub():
    for spec in needed_specs(list(REGISTRY)):
        if spec.kind == HUB:
            assert spec.split in contract.config_splits(spec.dataset, spec.config), (spec.dataset, spec.config)


def test_split_availability_per_config():
    assert contract.config_splits("google/xtreme", "udpos.Thai") == ("test",)
    assert contract.config_splits("google/xtreme", "udpos.Kazakh") == ("train", "test")
    assert contract.config_splits("google/xtreme", "udpos.German") == ("train", "validation", "test")
    assert contract.config_splits("universal-dependencies/universal_dependencies", "pl_pud") == ("test",)
    with pytest.raises(KeyError, match="no config 'udpos.Klingon'"):
        contract.config_splits("google/xtreme", "udpos.Klingon")


def test_feature_notation():
    assert parse_feature("[ClassLabel(O, B-PER)]") == List(ClassLabel(names=["O", "B-PER"]))
    answers = parse_feature("{answer_start: [int32], text: [string]}")
    assert list(answers) == ["answer_start", "text"] and answers["text"] == List(Value("string"))
    with pytest.raises(ValueError, match="cannot parse"):
        parse_feature("[string] extra")


def test_schemas_compare_structure_not_struct_key_order():
    squad, xtreme_qa = HUB_FEATURES["squad"], HUB_FEATURES["xtreme.qa"]
    assert list(squad["answers"]) == ["text", "answer_start"] and list(xtreme_qa["answers"]) == ["answer_start", "text"]
    validate_features(xtreme_qa, "squad", "google/xtreme/MLQA.ar.ar")  # the same structure in another key order
    validate_features(squad, "xtreme.qa", "rajpurkar/squad")
    assert config_features("google/xtreme", "MLQA.ar.ar") == xtreme_qa
    drifted = Features({**xtreme_qa, "answers": {"answer_start": List(Value("string")), "text": List(Value("string"))}})
    with pytest.raises(SchemaError) as err:
        validate_features(drifted, "xtreme.qa", "google/xtreme/MLQA.ar.ar")
    assert err.value.field == "answers" and "Value('int32')" in err.value.expected
    assert err.value.summary().startswith("answers: expected {answer_start: List(Value('int32'))")
    relabelled = Features(
        {**HUB_FEATURES["xnli"], "label": ClassLabel(names=["entailment", "contradiction", "neutral"])}
    )
    with pytest.raises(SchemaError, match="field 'label'"):
        validate_features(relabelled, "xnli", "facebook/xnli")


def test_ud_records_keep_null_xpos_and_range_lines():
    row = {
        "idx": "s1",
        "text": "ab c",
        "tokens": ["ab", "a", "b", "c"],
        "lemmas": ["ab", "a", "b", "c"],
        "upos": [13, 0, 0, 1],  # '_' for the range line
        "xpos": [None, "Nn", None, "Z"],
        "feats": ["None", "{'Case': 'Nom'}", "None", "None"],
        "head": ["None", "0", "1", "1"],
        "deprel": ["_", "root", "dep", "punct"],
        "deps": ["None", "[('root', 0)]", "[('dep', 1)]", "[('punct', 1)]"],
        "misc": ["None"] * 4,
    }
    validate_record(row, "universal_dependencies", "ud")
    with pytest.raises(SchemaError, match="lemmas\\[1\\]"):
        validate_record({**row, "lemmas": ["ab", None, "b", "c"]}, "universal_dependencies", "ud")
