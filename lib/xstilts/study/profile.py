"""Profiles: one YAML file per profile under params/, validated before any work starts.

A profile may `extends:` another and override keys (dicts merge recursively; lists and scalars are
replaced). Validation rejects unknown keys (naming the file, the key and the nearest valid key), wrong
types, and unknown task, model, arm or language names. This module stays light (yaml, difflib): the
Makefile calls `xstilts validate` first so a typo fails in seconds, before torch is even imported.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xstilts.benchmarks import registry
from xstilts.benchmarks.official import BENCHMARKS
from xstilts.benchmarks.registry import ARM_MULTITASK, ARM_NONE
from xstilts.names import nearest
from xstilts.paths import params_dir, profile_name


class ProfileError(ValueError):
    """A profile that cannot be run: the message names the file, the key and what was expected."""


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
    "eval_every_steps": (int, 1000, "English-dev evaluation cadence for model selection (0: once, at the end)"),
    "eval_subset": (int, 500, "English-dev examples used for model selection"),
    "patience": (int, 30, "stop after this many evaluations without improvement"),
    "gradient_checkpointing": (bool, False, "trade compute for memory"),
    "embedding_layer": (
        (int, float, type(None)),
        None,
        "dual encoders (Mewsli-X, LAReQA): hidden layer to pool, an index or a fraction of depth; "
        "null: the last (XTREME-R)",
    ),
    "freeze_encoder": (
        bool,
        False,
        "train the task heads only, the encoder frozen: a probe of what the encoder holds (the positive control)",
    ),
    "encoder_lr_scale": (
        (int, float),
        1,
        "the encoder's learning rate as a multiple of lr, in (0, 1]; the task heads train at lr (1: one rate for "
        "all parameters, jiant's recipe)",
    ),
}

SCHEMA: dict[str, Any] = {
    "description": (str, "", "what this profile is for"),
    "purpose": (
        str,
        "study",
        "study | pipeline: a pipeline profile runs and scores the phases but produces no estimand (its shape is "
        "not checked and its analysis phase is refused)",
    ),
    "seed": (int, 0, "base seed; every run's seed derives from it"),
    "device": (str, "auto", "auto | cpu | cuda"),
    "num_threads": (int, 0, "torch threads per worker (0: leave torch's default)"),
    "workers": (int, 1, "worker processes per phase on one machine (CPU profiles; GPUs use SHARDS)"),
    "tensorboard": (
        bool,
        False,
        "write every training run's curves as TensorBoard events (outputs/<profile>/tensorboard/)",
    ),
    "checkpoint_minutes": (
        (int, float),
        30,
        "minutes between resumable checkpoints of a training run (0: only when SIGTERM/SIGUSR1 arrives); a "
        "requeued or relaunched run resumes from its last one",
    ),
    "keep_checkpoints": (
        bool,
        False,
        "keep trained encoders after use; by default a target run deletes its encoder once its evaluation is "
        "written, and an intermediate run's checkpoint goes once every target run loading it is complete",
    ),
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
    "lr_pilot": (
        (dict, type(None)),
        None,
        "the per-size learning-rate pilot (docs/recipe.md §9.1): {protocols, seeds, anchor}; each size's grid is its "
        "models[].lr_grid. null: every size trains at the `intermediate`/`target` lr as written",
    ),
    "planted": (
        (dict, type(None)),
        None,
        "a positive control's declared effect (docs/miniworld.md §7): {arm, sign, mechanism}; the analysis "
        "shows the planted sign of that arm's interaction γ beside the γ it estimates. null: nothing is planted",
    ),
    "retrieval": {
        "layer": ((int, float), 0.58, "hidden layer for retrieval: an index, or a fraction of depth (14/24)"),
        "pooling": (str, "mean", "mean | cls"),
    },
    "analysis": {"n_boot": (int, 10000, "bootstrap replicates"), "seed": (int, 0, "bootstrap seed")},
    "reproduction": {  # hub profiles only: the miniature has no published numbers
        "tolerance": (
            (int, float),
            1.0,
            "points added to each side of our 95% CI before a published number is flagged (docs/recipe.md §10)",
        ),
        "dry_run": (bool, False, "mark the reproduction check as a dry run (tiny models: the rehearsal)"),
    },
}

MODEL_KEYS = {
    "name": (str, None, "short name used in run ids"),
    "hub": ((str, type(None)), None, "Hugging Face hub id (real models)"),
    "revision": ((str, type(None)), None, "pinned hub revision"),
    "params": ((int, type(None)), None, "parameter count (real models; miniature ones are counted)"),
    "arch": ((dict, type(None)), None, "miniature architecture {layers, hidden, heads, ffn}"),
    "ranks": (int, 1, "processes (GPUs) training one run of this size together: > 1 shards it (FSDP2 for XL/XXL)"),
    "lr_grid": ((list, type(None)), None, "learning rates this size's pilot tries (lr_pilot; ignored without it)"),
    "micro_batch": (
        (int, type(None)),
        None,
        "examples per rank per micro-step (null: the recipe's batch_size / ranks); with ranks it must split the "
        "recipe's effective batch (batch_size x grad_accum) into whole micro-steps",
    ),
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


def baseline(profile: Profile) -> tuple[str, dict]:
    """What a profile is read against: the profile it `extends:` (name, effective configuration), or the
    schema's defaults for a profile that extends none."""
    if len(profile.files) > 1:
        parent = profile.files[-2]
        return parent.stem, load_profile(str(parent), check_licences=False).cfg
    return "the defaults", _merge(_defaults(SCHEMA), {})


def differences(cfg: dict, base: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted key, value, baseline value) for every leaf where `cfg` differs from `base`."""
    out = []
    for key in cfg:
        value, old = cfg[key], base.get(key) if isinstance(base, dict) else None
        if isinstance(value, dict) and isinstance(old, dict) and value and key != "world":
            out += differences(value, old, f"{prefix}{key}.")
        elif value != old:
            out.append((f"{prefix}{key}", value, old))
    return out


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
    _validate_ranges(cfg, files)
    _validate_lr_pilot(cfg, files)
    _validate_shape(cfg, files)
    _validate_planted(cfg, files)
    return Profile(name=profile_name(name), cfg=cfg, files=files)


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


# --- ranges and the shape of a study -------------------------------------------------------------------
# (low, high, low excluded): a value outside is rejected before any work, naming the key and the range.

POSITIVE, AT_LEAST_1, AT_LEAST_0, SHARE = (0, None, True), (1, None, False), (0, None, False), (0, 1, False)
TRAIN_RANGES = {
    "lr": POSITIVE,
    "epochs": POSITIVE,
    "max_steps": AT_LEAST_1,
    "batch_size": AT_LEAST_1,
    "grad_accum": AT_LEAST_1,
    "max_seq_len": (8, None, False),
    "warmup_ratio": SHARE,
    "weight_decay": AT_LEAST_0,
    "eval_every_steps": AT_LEAST_0,  # 0: English dev once, at the end
    "eval_subset": AT_LEAST_1,
    "patience": AT_LEAST_1,
    "encoder_lr_scale": (0, 1, True),
}
RANGES = {
    "num_threads": AT_LEAST_0,
    "workers": AT_LEAST_1,
    "tokenizer.vocab_size": (100, None, False),
    "pretrain.steps": AT_LEAST_1,
    "pretrain.batch_size": AT_LEAST_1,
    "pretrain.seq_len": (8, None, False),
    "pretrain.lr": POSITIVE,
    "pretrain.warmup_ratio": SHARE,
    "pretrain.mlm_probability": (0, 1, True),
    "pretrain.dropout": SHARE,
    "seeds.intermediate": AT_LEAST_1,
    "retrieval.layer": AT_LEAST_0,
    "analysis.n_boot": AT_LEAST_1,  # and at least min_n_boot(cfg), checked in _validate_shape
    "reproduction.tolerance": AT_LEAST_0,
    "checkpoint_minutes": AT_LEAST_0,
    **{f"{section}.{key}": rng for section in ("intermediate", "target") for key, rng in TRAIN_RANGES.items()},
}
WHY = {"max_seq_len": " (tokens per input, special tokens included)"}
ALPHA, TAIL_REPLICATES, LEVEL = 0.05, 5, 0.95  # docs/statistics.md §6.3


def _range_text(low, high, low_open) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    return f"in {'(' if low_open else '['}{low}, {high}]"


def _lookup(cfg: dict, dotted: str, default=None):
    value = cfg
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def _origin(files: list[Path], dotted: str) -> str:
    """The file of the `extends:` chain that sets `dotted` (the last that does), else the profile's own."""
    for path in reversed(files):
        raw = yaml.safe_load(path.read_text()) or {}
        if _lookup(raw, dotted, _MISSING) is not _MISSING:
            return str(path)
    return str(files[-1])


_MISSING = object()


def _check_range(value, rng, key: str, files: list[Path]) -> None:
    if value is None:
        return
    low, high, low_open = rng
    if (value <= low if low_open else value < low) or (high is not None and value > high):
        why = WHY.get(key, WHY.get(key.rsplit(".", 1)[-1], ""))
        raise ProfileError(f"{_origin(files, key)}: '{key}' must be {_range_text(*rng)}, got {value!r}{why}")


def _validate_ranges(cfg: dict, files: list[Path]) -> None:
    for key, rng in RANGES.items():
        _check_range(_lookup(cfg, key), rng, key, files)
    for proto, over in cfg["per_target"].items():
        for key, value in over.items():
            if key in TRAIN_RANGES:
                _check_range(value, TRAIN_RANGES[key], f"per_target.{proto}.{key}", files)
    for i, model in enumerate(cfg["models"]):
        _validate_layout(cfg, i, model, files)
    layers = [f"{section}.embedding_layer" for section in ("intermediate", "target")] + ["retrieval.layer"]
    for key in layers:
        layer = _lookup(cfg, key)
        if layer is not None and (layer < 0 or (isinstance(layer, float) and not 0 < layer <= 1)):
            raise ProfileError(
                f"{_origin(files, key)}: '{key}' must be a layer index >= 0 or a fraction of depth in (0, 1], "
                f"got {layer!r}"
            )


LR_PILOT_KEYS = {
    "protocols": (list, None, "target protocols trained at each grid point and scored on English dev"),
    "seeds": (int, 1, "seeds per (size, protocol, lr)"),
    "anchor": ((int, float), 1e-5, "the lr the profile's lr values are written for, and the tie-break's pull"),
}


def _optional_section(cfg: dict, key: str, keys: dict, files: list[Path]) -> tuple[dict | None, str]:
    """An optional mapping of the profile (null: absent): its keys checked against `keys`, their defaults filled
    in; with the file that set it, for messages."""
    section = cfg[key]
    if section is None:
        return None, ""
    source = _origin(files, key)
    _check_section(section, keys, f"{key}.", source)
    for name, (_, default, _doc) in keys.items():
        section.setdefault(name, default)
    return section, source


def _validate_lr_pilot(cfg: dict, files: list[Path]) -> None:
    """The pilot's keys, protocols that the profile trains, and a grid of positive learning rates per size."""
    pilot, source = _optional_section(cfg, "lr_pilot", LR_PILOT_KEYS, files)
    if pilot is None:
        return
    trained = sorted({t.protocol for t in target_tasks(cfg) if t.train_schedule != "none"})
    if not pilot["protocols"]:
        raise ProfileError(
            f"{source}: 'lr_pilot.protocols' must list target protocols to pilot, from: {', '.join(trained)}"
        )
    for proto in pilot["protocols"]:
        if proto not in trained:
            raise ProfileError(
                f"{source}: 'lr_pilot.protocols' names '{proto}', not a trained target protocol of this profile"
                f"{nearest(str(proto), trained)}; allowed: {', '.join(trained)}"
            )
    if len(set(pilot["protocols"])) != len(pilot["protocols"]):
        raise ProfileError(f"{source}: 'lr_pilot.protocols' lists a protocol twice: {pilot['protocols']}")
    _check_range(pilot["seeds"], AT_LEAST_1, "lr_pilot.seeds", files)
    _check_range(pilot["anchor"], POSITIVE, "lr_pilot.anchor", files)
    for i, model in enumerate(cfg["models"]):
        grid = model.get("lr_grid")
        where = f"{_origin(files, 'models')}: 'models[{i}].lr_grid' ({model['name']})"
        if not grid:
            raise ProfileError(f"{where} must list the learning rates of this size's pilot (lr_pilot is set)")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in grid):
            raise ProfileError(f"{where} must hold positive numbers, got {grid!r}")
        if len(set(grid)) != len(grid):
            raise ProfileError(f"{where} lists a learning rate twice: {grid!r}")


PLANTED_KEYS = {
    "arm": (str, None, "the intermediate arm whose interaction γ = β_XTREME-R − β_XTREME the profile plants"),
    "sign": (str, None, "positive | negative: the planted sign of γ"),
    "mechanism": (str, "", "how the profile plants it, in a sentence (shown beside the result)"),
}
PLANTED_SIGNS = ("positive", "negative")


def _validate_planted(cfg: dict, files: list[Path]) -> None:
    """A planted effect names an intermediate arm of the profile and a sign; only a study profile has a γ."""
    planted, source = _optional_section(cfg, "planted", PLANTED_KEYS, files)
    if planted is None:
        return
    if cfg["purpose"] != "study":
        raise ProfileError(f"{source}: 'planted' needs `purpose: study` (a pipeline profile estimates no γ)")
    arms = [a for a in cfg["arms"] if a != ARM_NONE] + [a for a in confirmatory_arms(cfg) if a not in cfg["arms"]]
    if planted["arm"] not in arms:
        raise ProfileError(
            f"{source}: 'planted.arm' is {planted['arm']!r}, not an intermediate arm of this profile"
            f"{nearest(str(planted['arm']), arms)}; allowed: {', '.join(arms)}"
        )
    if planted["sign"] not in PLANTED_SIGNS:
        raise ProfileError(
            f"{source}: 'planted.sign' must be one of {', '.join(PLANTED_SIGNS)}, got {planted['sign']!r}"
        )


def layout(model: dict, batch_size: int, grad_accum: int) -> tuple[int, int, int]:
    """(ranks, micro-batch per rank, micro-steps per optimiser step) of a model size for a recipe's batch."""
    ranks = model.get("ranks", 1)
    micro = model.get("micro_batch") or batch_size // ranks
    return ranks, micro, (batch_size * grad_accum) // max(ranks * micro, 1)


def _validate_layout(cfg: dict, i: int, model: dict, files: list[Path]) -> None:
    """A size's ranks and micro-batch split every recipe's effective batch into whole micro-steps."""
    ranks, micro = model.get("ranks", 1), model.get("micro_batch")
    for key, value in (("ranks", ranks), ("micro_batch", micro)):
        if value is not None and value < 1:
            raise ProfileError(f"{_origin(files, 'models')}: 'models[{i}].{key}' must be >= 1, got {value!r}")
    recipes = [(section, cfg[section]) for section in ("intermediate", "target")]
    recipes += [(f"per_target.{k}", {**cfg["target"], **v}) for k, v in cfg["per_target"].items()]
    for where, hp in recipes:
        if ranks > 1 and hp.get("freeze_encoder"):
            raise ProfileError(
                f"{_origin(files, 'models')}: 'models[{i}]' ({model['name']}) has ranks {ranks}, but '{where}' freezes "
                "the encoder (freeze_encoder, a probe), which runs in one process: set ranks 1 or drop freeze_encoder"
            )
        batch, accum = hp["batch_size"], hp["grad_accum"]
        if micro is None and batch % ranks:
            raise ProfileError(
                f"{_origin(files, 'models')}: 'models[{i}]' ({model['name']}) has ranks {ranks}, which do not "
                f"divide '{where}.batch_size' {batch}: set its micro_batch (examples per rank per micro-step)"
            )
        per_step = ranks * (micro or batch // ranks)
        if (batch * accum) % per_step:
            raise ProfileError(
                f"{_origin(files, 'models')}: 'models[{i}]' ({model['name']}): ranks {ranks} x micro_batch "
                f"{micro or batch // ranks} = {per_step} does not divide the effective batch of '{where}' "
                f"({batch} x {accum} = {batch * accum})"
            )


def confirmatory_arms(cfg: dict) -> list[str]:
    """The confirmatory 'arms' a profile produces: the mean of its single arms, and multi-task if present."""
    singles = [a for a in cfg["arms"] if a not in (ARM_NONE, ARM_MULTITASK)]
    return (["mean_single"] if singles else []) + ([ARM_MULTITASK] if ARM_MULTITASK in cfg["arms"] else [])


def min_n_boot(cfg: dict) -> int:
    """The fewest bootstrap replicates the stated intervals and tests can use: TAIL_REPLICATES beyond each
    limit of a LEVEL percentile interval, and a smallest attainable p-value, 2/(B+1), below Holm's first
    threshold ALPHA/m over the m confirmatory tests (β_X, β_R and γ per confirmatory arm)."""
    m = 3 * max(1, len(confirmatory_arms(cfg)))
    tails = math.ceil(TAIL_REPLICATES / ((1 - LEVEL) / 2))
    holm = math.floor(2 * m / ALPHA)  # 2/(B+1) < ALPHA/m  <=>  B > 2m/ALPHA - 1
    return max(tails, holm)


def _validate_shape(cfg: dict, files: list[Path]) -> None:
    """A study profile must be able to produce the study's estimands: gains need the `none` arm (two seeds at
    least) and one intermediate arm, slopes two sizes, the interaction γ targets of both benchmarks, and the
    intervals enough replicates. A profile stating `purpose: pipeline` produces none of them."""
    if cfg["purpose"] not in ("study", "pipeline"):
        raise ProfileError(f"{_origin(files, 'purpose')}: 'purpose' must be study or pipeline, got {cfg['purpose']!r}")
    if cfg["purpose"] == "pipeline":
        _check_range(cfg["seeds"]["none"], AT_LEAST_1, "seeds.none", files)
        return
    arms = cfg["arms"]
    source = _origin(files, "arms")
    if ARM_NONE not in arms:
        raise ProfileError(f"{source}: 'arms' must include 'none' (every gain is measured against it), got {arms}")
    if len(set(arms)) != len(arms):
        raise ProfileError(f"{source}: 'arms' lists an arm twice: {arms}")
    if not confirmatory_arms(cfg):
        raise ProfileError(
            f"{source}: 'arms' needs at least one intermediate arm besides 'none' (an intermediate task name or "
            f"'multitask'), got {arms}"
        )
    if cfg["seeds"]["none"] < 2:
        raise ProfileError(
            f"{_origin(files, 'seeds.none')}: 'seeds.none' must be >= 2, got {cfg['seeds']['none']} (the `none` arm "
            "is every gain's baseline: its seed variance needs two seeds)"
        )
    if len(cfg["models"]) < 2:
        raise ProfileError(
            f"{_origin(files, 'models')}: 'models' needs at least two sizes: every estimand of the study is a slope over "
            f"log10(params), got {len(cfg['models'])}"
        )
    benchmarks = {b for t in target_tasks(cfg) for b in t.benchmarks}
    if not set(BENCHMARKS) <= benchmarks:
        have = ", ".join(sorted(benchmarks))
        raise ProfileError(
            f"{_origin(files, 'targets')}: 'targets' must include targets of both benchmarks ({', '.join(BENCHMARKS)}): the "
            f"interaction γ compares their slopes; these targets are of {have} only"
        )
    least = min_n_boot(cfg)
    if cfg["analysis"]["n_boot"] < least:
        raise ProfileError(
            f"{_origin(files, 'analysis.n_boot')}: 'analysis.n_boot' must be >= {least} for this profile, got {cfg['analysis']['n_boot']}: a "
            f"{LEVEL:.0%} percentile interval needs {TAIL_REPLICATES} replicates beyond each limit, and Holm over "
            f"{3 * len(confirmatory_arms(cfg))} confirmatory tests needs p-values below {ALPHA}/"
            f"{3 * len(confirmatory_arms(cfg))} (docs/statistics.md §6.3)"
        )


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
