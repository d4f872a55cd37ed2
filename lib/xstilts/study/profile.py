"""Profiles: one YAML file per profile under params/, validated before any work starts.

A profile may `extends:` another and override keys (dicts merge recursively; lists and scalars are
replaced). Validation rejects unknown keys (naming the file, the key and the nearest valid key), wrong
types, and unknown task, model, arm or language names. This module stays light (yaml, difflib): the
Makefile calls `xstilts validate` first so a typo fails in seconds, before torch is even imported.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xstilts.benchmarks import registry
from xstilts.benchmarks.official import BENCHMARKS
from xstilts.benchmarks.registry import ARM_MULTITASK, ARM_NONE
from xstilts.paths import params_dir


class ProfileError(ValueError):
    """A profile that cannot be run: the message names the file, the key and what was expected."""


def nearest(word: str, choices) -> str:
    """' (did you mean X?)' for the closest valid spelling, or ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


# --- the schema -------------------------------------------------------------------------------------
# Each leaf is (type or tuple of types, default, doc). A dict is a nested section. `None` default with
# `optional` types means the key may be null.

TRAIN = {
    "lr": ((int, float), 1e-5, "peak learning rate (jiant: 1e-5 for every task)"),
    "epochs": ((int, float), 3, "epochs over the English training data"),
    "max_steps": ((int, type(None)), None, "cap on optimiser steps (overrides epochs when smaller)"),
    "batch_size": (int, 32, "per-step batch"),
    "grad_accum": (int, 1, "gradient-accumulation micro-steps per optimiser step"),
    "max_seq_len": (int, 256, "maximum tokens per input"),
    "warmup_ratio": ((int, float), 0.1, "linear warm-up share of steps"),
    "weight_decay": ((int, float), 0.01, "AdamW weight decay (none on bias/LayerNorm)"),
    "eval_every_steps": (int, 1000, "English-dev evaluation cadence for model selection"),
    "eval_subset": (int, 500, "English-dev examples used for model selection"),
    "patience": (int, 30, "stop after this many evaluations without improvement"),
    "gradient_checkpointing": (bool, False, "trade compute for memory"),
    "embedding_layer": (
        (int, float, type(None)),
        None,
        "dual encoders (Mewsli-X, LAReQA): hidden layer to pool, an index or a fraction of depth; "
        "null: the last (XTREME-R)",
    ),
}

SCHEMA: dict[str, Any] = {
    "description": (str, "", "what this profile is for"),
    "seed": (int, 0, "base seed; every run's seed derives from it"),
    "device": (str, "auto", "auto | cpu | cuda"),
    "num_threads": (int, 0, "torch threads per worker (0: leave torch's default)"),
    "workers": (int, 1, "worker processes per phase on one machine (CPU profiles; GPUs use SHARDS)"),
    "world": ((dict, type(None)), None, "miniature world parameters; null = real data from the hub"),
    "ccgbank": ((str, type(None)), None, "folder of CCGbank (LDC2005T13, licence-gated); else $XSTILTS_CCGBANK"),
    "max_examples": (
        (int, type(None)),
        None,
        "cap on the examples read per (task, language, split) (null: all); the rehearsal's few rows",
    ),
    "tokenizer": {"vocab_size": (int, 4000, "vocabulary of the tokenizer trained on the miniature corpus")},
    "models": (list, [], "the size ladder: list of {name, hub, revision, params, arch}"),
    "pretrain": {
        "steps": (int, 300, "MLM optimiser steps per miniature model"),
        "batch_size": (int, 32, "sequences per MLM step"),
        "seq_len": (int, 32, "tokens per MLM sequence"),
        "lr": ((int, float), 1e-3, "MLM peak learning rate"),
        "warmup_ratio": ((int, float), 0.05, "MLM warm-up share"),
        "mlm_probability": ((int, float), 0.15, "share of tokens selected for the MLM loss (BERT 80/10/10 within it)"),
        "dropout": ((int, float), 0.1, "dropout of the miniature models (saved in their config: every fine-tune too)"),
    },
    "arms": (list, [ARM_NONE], "intermediate arms: none, intermediate task names, multitask"),
    "multitask_tasks": (list, [], "tasks mixed by the multitask arm (empty: every single arm listed)"),
    "targets": (list, [], "target task keys (xtreme.xnli ...) or benchmark names (xtreme, xtreme-r)"),
    "eval_languages": ((list, type(None)), None, "restrict zero-shot evaluation to these languages"),
    "seeds": {
        "none": (int, 3, "fine-tuning seeds of the no-intermediate arm (sqrt rule: more)"),
        "intermediate": (int, 2, "fine-tuning seeds of each intermediate arm"),
    },
    "intermediate": dict(TRAIN),
    "target": dict(TRAIN),
    "per_target": (dict, {}, "per-protocol overrides of `target` training keys, e.g. {xquad: {max_seq_len: 384}}"),
    "retrieval": {
        "layer": ((int, float), 0.58, "hidden layer for retrieval: an index, or a fraction of depth (14/24)"),
        "pooling": (str, "mean", "mean | cls"),
    },
    "analysis": {"n_boot": (int, 10000, "bootstrap replicates"), "seed": (int, 0, "bootstrap seed")},
}

MODEL_KEYS = {
    "name": (str, None, "short name used in run ids"),
    "hub": ((str, type(None)), None, "Hugging Face hub id (real models)"),
    "revision": ((str, type(None)), None, "pinned hub revision"),
    "params": ((int, type(None)), None, "parameter count (real models; miniature ones are counted)"),
    "arch": ((dict, type(None)), None, "miniature architecture {layers, hidden, heads, ffn}"),
}
ARCH_KEYS = {"layers": int, "hidden": int, "heads": int, "ffn": int, "max_positions": int}
ARCH_DEFAULTS = {"max_positions": 514}  # XLM-R's


def _defaults(schema: dict) -> dict:
    out = {}
    for key, spec in schema.items():
        out[key] = _defaults(spec) if isinstance(spec, dict) else copy.deepcopy(spec[1])
    return out


def _merge(base: dict, over: dict) -> dict:
    """Recursive merge for `extends:`: mappings merge key by key, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _type_name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check_section(raw: dict, schema: dict, where: str, source: str) -> None:
    for key, value in raw.items():
        if key not in schema:
            raise ProfileError(f"{source}: unknown key '{where}{key}'{nearest(key, schema)}")
        spec = schema[key]
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                raise ProfileError(f"{source}: '{where}{key}' must be a mapping, got {type(value).__name__}")
            _check_section(value, spec, f"{where}{key}.", source)
            continue
        types = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            raise ProfileError(f"{source}: '{where}{key}' must be {_type_name(types)}, got {value!r}")


def _read(name_or_path: str | Path, seen: tuple = ()) -> tuple[dict, list[Path]]:
    """Read a profile and its `extends:` chain; return the merged raw dict and the files read."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = params_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in params_dir().glob("*.yaml"))
        raise ProfileError(
            f"no profile '{name_or_path}' ({path}){nearest(str(name_or_path), known)}; profiles: {', '.join(known)}"
        )
    if path in seen:
        raise ProfileError(f"{path}: `extends:` cycle through {' -> '.join(map(str, seen))}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile is a mapping of keys, got {type(raw).__name__}")
    parent = raw.pop("extends", None)
    _check_section(raw, SCHEMA, "", str(path))
    if parent is None:
        return raw, [path]
    base, files = _read(parent, seen + (path,))
    return _merge(base, raw), files + [path]


@dataclass
class Profile:
    """A validated profile: `cfg` is the full effective configuration (defaults filled in)."""

    name: str
    cfg: dict
    files: list[Path] = field(default_factory=list)

    @property
    def is_miniature(self) -> bool:
        return self.cfg["world"] is not None

    def __getitem__(self, key):
        return self.cfg[key]

    def to_json(self) -> str:
        return json.dumps(self.cfg, indent=2, sort_keys=True)


def load_profile(name: str, check_licences: bool = True) -> Profile:
    """Load, merge and validate `params/<name>.yaml`; raises ProfileError before any work starts.

    `check_licences=False` skips the check that licence-gated data (CCGbank) is present: planning a
    study (`xstilts plan`, `xstilts runs`) needs no data, running it does.
    """
    raw, files = _read(name)
    cfg = _merge(_defaults(SCHEMA), raw)
    source = str(files[-1])
    _validate_models(cfg, source)
    _validate_world(cfg, source)
    _validate_names(cfg, source, check_licences)
    return Profile(name=Path(name).stem, cfg=cfg, files=files)


def _validate_models(cfg: dict, source: str) -> None:
    if not cfg["models"]:
        raise ProfileError(f"{source}: 'models' is empty: list at least one model")
    names = set()
    for i, model in enumerate(cfg["models"]):
        where = f"models[{i}]"
        if not isinstance(model, dict):
            raise ProfileError(f"{source}: '{where}' must be a mapping with keys {sorted(MODEL_KEYS)}")
        _check_section(model, MODEL_KEYS, f"{where}.", source)
        if not model.get("name"):
            raise ProfileError(f"{source}: '{where}.name' is required")
        if model["name"] in names:
            raise ProfileError(f"{source}: '{where}.name' repeats '{model['name']}'")
        names.add(model["name"])
        if bool(model.get("hub")) == bool(model.get("arch")):
            raise ProfileError(
                f"{source}: '{where}' needs exactly one of 'hub' (a real checkpoint) "
                f"or 'arch' (a miniature model to pretrain)"
            )
        if model.get("arch") is not None:
            if cfg["world"] is None:
                raise ProfileError(f"{source}: '{where}.arch' (a miniature model) needs a 'world:' section")
            for key, value in model["arch"].items():
                if key not in ARCH_KEYS:
                    raise ProfileError(f"{source}: unknown key '{where}.arch.{key}'{nearest(key, ARCH_KEYS)}")
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise ProfileError(f"{source}: '{where}.arch.{key}' must be a positive int, got {value!r}")
            missing = set(ARCH_KEYS) - set(model["arch"]) - set(ARCH_DEFAULTS)
            if missing:
                raise ProfileError(f"{source}: '{where}.arch' lacks {sorted(missing)}")
            if model["arch"]["hidden"] % model["arch"]["heads"]:
                raise ProfileError(f"{source}: '{where}.arch.hidden' must be divisible by 'heads'")
            model["arch"] = {**ARCH_DEFAULTS, **model["arch"]}
        elif model.get("params") is None:
            raise ProfileError(f"{source}: '{where}.params' is required for hub model '{model['hub']}'")
    if cfg["device"] not in ("auto", "cpu", "cuda"):
        raise ProfileError(
            f"{source}: 'device' must be auto, cpu or cuda{nearest(cfg['device'], ['auto', 'cpu', 'cuda'])}"
        )
    if cfg["max_examples"] is not None and cfg["max_examples"] < 1:
        raise ProfileError(f"{source}: 'max_examples' must be a positive int or null, got {cfg['max_examples']!r}")
    if cfg["retrieval"]["pooling"] not in ("mean", "cls"):
        raise ProfileError(f"{source}: 'retrieval.pooling' must be mean or cls, got {cfg['retrieval']['pooling']!r}")


def _validate_world(cfg: dict, source: str) -> None:
    if cfg["world"] is None:
        return
    from xstilts.miniworld.world_config import resolve_config  # miniature profiles only

    try:
        resolve_config(cfg["world"])
    except (KeyError, ValueError, TypeError) as err:
        raise ProfileError(f"{source}: in 'world': {err.args[0] if err.args else err}") from None


def _validate_names(cfg: dict, source: str, check_licences: bool = True) -> None:
    intermediate = {t.name: t for t in registry.intermediate_tasks()}
    valid_arms = [ARM_NONE, *intermediate, ARM_MULTITASK]
    for arm in cfg["arms"]:
        if arm not in valid_arms:
            raise ProfileError(
                f"{source}: unknown arm '{arm}' in 'arms'{nearest(arm, valid_arms)}; valid: {', '.join(valid_arms)}"
            )
    for name in cfg["multitask_tasks"]:
        if name not in intermediate:
            raise ProfileError(f"{source}: unknown task '{name}' in 'multitask_tasks'{nearest(name, intermediate)}")
    benchmarks = BENCHMARKS
    keys = list(registry.REGISTRY)
    if not cfg["targets"]:
        raise ProfileError(f"{source}: 'targets' is empty: list task keys such as 'xtreme.xnli' or a benchmark")
    for target in cfg["targets"]:
        if target not in benchmarks and (target not in keys or target.startswith("intermediate.")):
            raise ProfileError(
                f"{source}: unknown target '{target}' in 'targets'{nearest(target, [*benchmarks, *keys])}"
            )
    for task in target_tasks(cfg):
        borrow = registry.encoder_protocol([task])
        if borrow and not any(t.protocol == borrow for t in target_tasks(cfg)):
            raise ProfileError(
                f"{source}: target {task.key} is scored from the encoder of the '{borrow}' run: add "
                f"xtreme.{borrow} or xtreme-r.{borrow} to 'targets'"
            )
    protocols = sorted({t.protocol for t in registry.REGISTRY.values() if not t.key.startswith("intermediate.")})
    for proto in cfg["per_target"]:
        if proto not in protocols:
            raise ProfileError(
                f"{source}: unknown target protocol '{proto}' in 'per_target'{nearest(proto, protocols)}"
            )
        _check_section(cfg["per_target"][proto], TRAIN, f"per_target.{proto}.", source)
    wants_ccg = "ccg" in cfg["arms"] or (
        "multitask" in cfg["arms"] and "ccg" in (cfg["multitask_tasks"] or cfg["arms"])
    )
    if wants_ccg and cfg["world"] is None and check_licences:
        try:
            registry.check_available(registry.get_task("intermediate.ccg"), ccgbank=cfg["ccgbank"])
        except registry.LicenceGatedError as err:
            raise ProfileError(f"{source}: arm 'ccg': {err}") from None
    if cfg["eval_languages"] is not None:
        known = set(all_languages(cfg))
        for lang in cfg["eval_languages"]:
            if lang not in known:
                raise ProfileError(f"{source}: unknown language '{lang}' in 'eval_languages'{nearest(lang, known)}")


def target_tasks(cfg: dict) -> list:
    """The registry entries a profile targets, in registry order (benchmark names expand)."""
    wanted = set()
    for target in cfg["targets"]:
        if target in BENCHMARKS:
            wanted |= {t.key for t in registry.targets(target)}
        else:
            wanted.add(target)
    return [t for key, t in registry.REGISTRY.items() if key in wanted]


def all_languages(cfg: dict) -> list[str]:
    """Every test language a profile can evaluate: the registry's, or the miniature world's."""
    if cfg["world"] is not None:
        from xstilts.miniworld.world_config import planned_languages  # miniature profiles only

        return planned_languages(cfg["world"])
    return sorted({lang for t in target_tasks(cfg) for lang in t.languages})
