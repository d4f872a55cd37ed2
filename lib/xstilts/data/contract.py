"""The hub contract (`hub_contract.yaml` beside this module): what every hub dataset the project reads declares,
from the hub's side, with where each statement was read.

Per hub repository: the branch `make data` locks (`main`, or the parquet export `refs/convert/parquet` of a
script-only repository), the config names, split names and declared features of each config family, and the
quirks of its rows. This module only reads the file (yaml, no `datasets`): the features become
`datasets.Features` in `xstilts.data.schemas`; `xstilts.benchmarks.sources` takes each source's branch from
here; the rehearsal's fixture hub (`xstilts.data.fixture_hub`) writes repositories with exactly these configs,
splits and features.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

CONTRACT_PATH = Path(__file__).with_name("hub_contract.yaml")
MAIN = "main"
PARQUET_EXPORT = "refs/convert/parquet"  # the hub's parquet export branch of a script-only repository
DEFAULT_CONFIG = "default"  # the config name of a dataset without configs (and its export-branch folder)


@functools.lru_cache(maxsize=1)
def contract() -> dict:
    """The parsed contract: {"datasets": {repo id: entry}}."""
    return yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


def repo_entry(dataset: str) -> dict:
    """The contract entry of one hub repository; an unknown id raises KeyError naming the file."""
    entries = contract()["datasets"]
    if dataset not in entries:
        raise KeyError(f"hub dataset {dataset!r} is not in the hub contract {CONTRACT_PATH.name}")
    return entries[dataset]


def branch(dataset: str) -> str:
    """The branch `make data` resolves and locks for this repository."""
    return repo_entry(dataset)["branch"]


def config_families(dataset: str) -> dict[str, dict]:
    """{config name: its family entry} for every config of the repository the contract names."""
    out = {}
    for template, family in repo_entry(dataset)["configs"].items():
        for value in family.get("values") or [None]:
            out[template if value is None else template.format(value)] = family
    return out


def config_splits(dataset: str, config: str | None) -> tuple[str, ...]:
    """The split names the hub has for one config (`split_exceptions` honoured)."""
    name = config or DEFAULT_CONFIG
    family = config_families(dataset).get(name)
    if family is None:
        raise KeyError(f"hub dataset {dataset}: the hub contract has no config {name!r}")
    return tuple((family.get("split_exceptions") or {}).get(name, family["splits"]))


def schema_families() -> dict[str, dict]:
    """{schema name: the family declaring it} over every repository (a schema named twice must agree)."""
    out: dict[str, dict] = {}
    for entry in contract()["datasets"].values():
        for family in entry["configs"].values():
            name = family.get("schema")
            if name is None:
                continue
            if name in out and out[name]["features"] != family["features"]:
                raise ValueError(f"hub contract: schema {name!r} is declared twice with different features")
            out[name] = family
    return out
