"""The study grid, derived from a profile and never hand-listed: sizes x arms x target protocols x seeds.

Every run's spec holds what determines its result, parents included, so ids chain: a changed world
changes the data run's id, which changes every pretrained, intermediate and target id below it. On a hub
profile the specs name the hub commits from the revision lock (`make data` writes it): the data run those of
the datasets, each pretrained run its checkpoint's (a profile's pinned `revision` wins), so a newly locked
commit gives new runs.
"""

from __future__ import annotations

from collections import defaultdict

from xstilts.benchmarks.registry import ARM_MULTITASK, ARM_NONE, REGISTRY, encoder_protocol, is_eval_only
from xstilts.benchmarks.sources import HUB, SOURCES
from xstilts.data.lock import dataset_revision, model_revision, read_lock
from xstilts.study.profile import Profile, ProfileError, target_tasks
from xstilts.study.runstore import Run

TRAIN_KEYS = (
    "lr",
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accum",
    "max_seq_len",
    "warmup_ratio",
    "weight_decay",
    "eval_every_steps",
    "eval_subset",
    "patience",
    "gradient_checkpointing",
    "embedding_layer",
)

# Recipe keys added after the first studies ran, with their defaults: in a run's recipe only when set to
# something else (xstilts.study.profile.TRAIN), so the runs of every earlier recipe keep their ids
LATER_TRAIN_KEYS = {"freeze_encoder": False, "encoder_lr_scale": 1}


def data_run(cfg: dict) -> Run:
    if cfg["world"] is not None:  # the resolved world (defaults and size preset included): new defaults, new world
        from xstilts.miniworld.world_config import GENERATOR_VERSION, identity, resolve_config  # miniatures only

        return Run(
            "data",
            "world",
            {"world": identity(resolve_config(cfg["world"])), "seed": cfg["seed"], "generator": GENERATOR_VERSION},
        )
    keys = sorted({t.key for t in target_tasks(cfg)} | {REGISTRY[k].key for k in _intermediate_keys(cfg)})
    lock = read_lock()
    sources = [SOURCES[s] for k in keys for s in REGISTRY[k].sources if SOURCES[s].kind == HUB]
    revisions = {src.dataset: dataset_revision(src, lock) for src in sorted(sources, key=lambda x: x.dataset)}
    models = [(m["hub"], hub_revision(m, lock)) for m in cfg["models"]]
    return Run("data", "hub", {"tasks": keys, "models": models, "datasets": revisions})


def hub_revision(model: dict, lock: dict | None = None) -> str | None:
    """A hub model's commit: the profile's pinned `revision`, else the lock's (None until `make data`)."""
    return model.get("revision") or model_revision(model["hub"], lock)


def _intermediate_keys(cfg: dict) -> list[str]:
    names = [a for a in cfg["arms"] if a not in (ARM_NONE, ARM_MULTITASK)]
    if ARM_MULTITASK in cfg["arms"]:
        names += cfg["multitask_tasks"] or names
    return sorted({f"intermediate.{n}" for n in names})


def multitask_names(cfg: dict) -> list[str]:
    return cfg["multitask_tasks"] or [a for a in cfg["arms"] if a not in (ARM_NONE, ARM_MULTITASK)]


def _cap(cfg: dict) -> dict:
    """The profile's example cap, in the specs of the runs it changes (absent when unset: ids unchanged)."""
    return {} if cfg["max_examples"] is None else {"max_examples": cfg["max_examples"]}


def tokenizer_run(cfg: dict, data: Run) -> Run:
    return Run(
        "pretrained", "tokenizer", {"data": data.id, "vocab_size": cfg["tokenizer"]["vocab_size"], "seed": cfg["seed"]}
    )


def pretrained_runs(cfg: dict, data: Run) -> dict[str, Run]:
    runs = {}
    for model in cfg["models"]:
        if model.get("arch"):
            tok = tokenizer_run(cfg, data)
            runs[model["name"]] = Run(
                "pretrained",
                f"mlm-{model['name']}",
                {
                    "data": data.id,
                    "tokenizer": tok.id,
                    "arch": model["arch"],
                    "pretrain": cfg["pretrain"],
                    "seed": cfg["seed"],
                },
            )
        else:
            runs[model["name"]] = Run(
                "pretrained",
                f"hub-{model['name']}",
                {"hub": model["hub"], "revision": hub_revision(model), "params": model["params"]},
            )
    return runs


def train_config(cfg: dict, phase: str, protocol: str | None = None, lr_from: Run | None = None) -> dict:
    """A training run's recipe. With the learning-rate pilot (`lr_from`: the size's selection run) the lr is
    not in it: `lr_times` says what multiple of the size's selected lr it trains at (the profile's lr over
    `lr_pilot.anchor`: 1 for every phase of the paper, 2 for LAReQA), resolved when the run starts."""
    hp = {k: cfg[phase][k] for k in (*TRAIN_KEYS, *LATER_TRAIN_KEYS)}
    if protocol:
        hp.update(cfg["per_target"].get(protocol, {}))
    for key, default in LATER_TRAIN_KEYS.items():  # unset, a key added later leaves every run id as it was
        if hp[key] == default:
            del hp[key]
    if lr_from is not None:
        hp["lr_times"] = lr_times(cfg, hp.pop("lr"))
    return hp


def lr_times(cfg: dict, lr: float) -> float:
    """A profile lr as a multiple of the pilot's anchor (12 significant digits: 2e-5 / 1e-5 is 2, not 2.0000000000000004)."""
    return float(f"{lr / cfg['lr_pilot']['anchor']:.12g}")


# --- the learning-rate pilot (docs/recipe.md §9.1) ----------------------------------------------------

SELECTION_RULE = 2  # xstilts.study.lr_pilot.select_lr; a new rule gets a new number, so new selection ids


def pilot_runs(cfg: dict, data: Run, pretrained: dict[str, Run]) -> dict[str, list[Run]]:
    """Per size: one `none`-arm fine-tune per (pilot protocol, grid lr, seed), scored on English dev only."""
    pilot = cfg["lr_pilot"]
    if pilot is None:
        return {}
    groups = protocols(cfg)
    runs: dict[str, list[Run]] = {}
    for model in cfg["models"]:
        for protocol in pilot["protocols"]:
            lead = next(t for t in groups[protocol] if t.train_schedule != "none")
            hp = train_config(cfg, "target", protocol)
            times = lr_times(cfg, hp["lr"])
            spec = {
                "parent": pretrained[model["name"]].id,
                "data": data.id,
                "protocol": protocol,
                "model": model["name"],
                "tasks": [lead.key],
                **_cap(cfg),
            }
            revisions = task_revisions([lead])
            if revisions:
                spec["revisions"] = revisions
            for lr in model["lr_grid"]:
                train = {**hp, "lr": float(f"{lr * times:.12g}")}
                for seed in range(pilot["seeds"]):
                    runs.setdefault(model["name"], []).append(
                        Run(
                            "pretrained",
                            f"pilot-{model['name']}-{protocol}-lr{lr:g}-s{seed}",
                            {**spec, "train": train, "grid_lr": lr, "seed": cfg["seed"] + seed, "seed_index": seed},
                        )
                    )
    return runs


def selection_runs(cfg: dict, pilots: dict[str, list[Run]]) -> dict[str, Run]:
    """Per size: the run that picks its lr from its pilot runs (xstilts.study.lr_pilot.select_lr)."""
    return {
        name: Run(
            "pretrained",
            f"lr-{name}",
            {
                "pilots": sorted(r.id for r in runs),
                "model": name,
                "anchor": cfg["lr_pilot"]["anchor"],
                "rule": SELECTION_RULE,
            },
        )
        for name, runs in pilots.items()
    }


def is_pilot(run: Run) -> bool:
    return run.phase == "pretrained" and run.prefix.startswith("pilot-")


def is_selection(run: Run) -> bool:
    return run.phase == "pretrained" and run.prefix.startswith("lr-")


def _lr_from(selection: dict[str, Run], model: str) -> dict:
    """The spec key naming a size's lr selection run (absent without a pilot: ids unchanged)."""
    return {"lr_pilot": selection[model].id} if model in selection else {}


def intermediate_runs(
    cfg: dict, data: Run, pretrained: dict[str, Run], selection: dict[str, Run] | None = None
) -> dict[tuple[str, str], Run]:
    """One intermediate run per (model, arm): inference is conditional on that checkpoint (docs/statistics.md §5)."""
    runs, selection = {}, selection or {}
    for model in cfg["models"]:
        for arm in cfg["arms"]:
            if arm == ARM_NONE:
                continue
            tasks = multitask_names(cfg) if arm == ARM_MULTITASK else [arm]
            runs[model["name"], arm] = Run(
                "intermediate",
                f"{model['name']}-{arm}",
                {
                    "parent": pretrained[model["name"]].id,
                    "data": data.id,
                    "arm": arm,
                    "tasks": [f"intermediate.{t}" for t in tasks],
                    "train": train_config(cfg, "intermediate", lr_from=selection.get(model["name"])),
                    "seed": cfg["seed"],
                    **_lr_from(selection, model["name"]),
                    **_cap(cfg),
                },
            )
    return runs


def protocols(cfg: dict) -> dict[str, list]:
    """Target protocols of the profile: entries sharing a protocol share runs (evaluated on the union).

    Tatoeba-R is scored from the encoder of the SQuAD-trained run (XTREME-R's run_tatoeba.sh), so it
    joins the `xquad` protocol: that run evaluates it after training, and no checkpoint is kept for it.
    """
    groups = defaultdict(list)
    for task in target_tasks(cfg):
        groups[task.protocol].append(task)
    for protocol in list(groups):
        borrow = encoder_protocol(groups[protocol])
        if borrow:
            if borrow not in groups:
                raise ProfileError(
                    f"target {groups[protocol][0].key} is scored from the encoder of the '{borrow}' "
                    f"run: add xtreme.{borrow} or xtreme-r.{borrow} to 'targets'"
                )
            groups[borrow].extend(groups.pop(protocol))
    return dict(groups)


def task_revisions(tasks) -> dict[str, int]:
    """The registry revision of every task whose examples changed since revision 1 (`Task.revision`): a
    run reading them gets a new id, so a result built from the old examples is never reused."""
    return {t.key: t.revision for t in sorted(tasks, key=lambda t: t.key) if t.revision != 1}


def target_runs(
    cfg: dict,
    data: Run,
    pretrained: dict[str, Run],
    intermediate: dict[tuple[str, str], Run],
    selection: dict[str, Run] | None = None,
) -> list[Run]:
    runs, selection = [], selection or {}
    for model in cfg["models"]:
        for arm in cfg["arms"]:
            parent = pretrained[model["name"]] if arm == ARM_NONE else intermediate[model["name"], arm]
            n_seeds = cfg["seeds"]["none" if arm == ARM_NONE else "intermediate"]
            for protocol, tasks in protocols(cfg).items():
                eval_only = is_eval_only(tasks)
                spec = {
                    "parent": parent.id,
                    "data": data.id,
                    "protocol": protocol,
                    "model": model["name"],
                    "arm": arm,
                    "tasks": sorted(t.key for t in tasks),
                    "eval_languages": cfg["eval_languages"],
                    "retrieval": cfg["retrieval"],
                    **_cap(cfg),
                }
                if not eval_only:
                    spec["train"] = train_config(cfg, "target", protocol, lr_from=selection.get(model["name"]))
                    spec.update(_lr_from(selection, model["name"]))
                revisions = task_revisions(tasks)
                if revisions:
                    spec["revisions"] = revisions
                for seed in range(1 if eval_only else n_seeds):
                    runs.append(
                        Run(
                            "target",
                            f"{model['name']}-{arm}-{protocol}-s{seed}",
                            {**spec, "seed": cfg["seed"] + seed, "seed_index": seed},
                        )
                    )
    return runs


def model_of(run: Run) -> str | None:
    """The model size a training run fine-tunes (None for data, pretrained and analysis runs)."""
    if run.phase == "target" or is_pilot(run):
        return run.spec["model"]
    if run.phase == "intermediate":
        return run.prefix[: -len(run.spec["arm"]) - 1]  # prefix f"{model}-{arm}"
    return None


def trains(run: Run) -> bool:
    """Whether a run fine-tunes (eval-only target runs score their parent's encoder as it is)."""
    return run.phase == "intermediate" or is_pilot(run) or (run.phase == "target" and run.spec.get("train") is not None)


def ranks_of(cfg: dict, run: Run) -> int:
    """How many processes train a run together: its model size's `ranks` (1 for runs that do not train)."""
    if not trains(run):
        return 1
    return next(m.get("ranks", 1) for m in cfg["models"] if m["name"] == model_of(run))


def plan_runs(profile: Profile) -> dict[str, list[Run]]:
    """Every run of the study, per phase, in execution order."""
    cfg = profile.cfg
    data = data_run(cfg)
    pretrained = pretrained_runs(cfg, data)
    pre_list = list(pretrained.values())
    if any(m.get("arch") for m in cfg["models"]):
        pre_list = [tokenizer_run(cfg, data), *pre_list]
    pilots = pilot_runs(cfg, data, pretrained)
    selection = selection_runs(cfg, pilots) if pilots else {}
    pre_list += [r for runs in pilots.values() for r in runs] + list(selection.values())
    intermediate = intermediate_runs(cfg, data, pretrained, selection)
    targets = target_runs(cfg, data, pretrained, intermediate, selection)
    spec = {"targets": sorted(r.id for r in targets), "analysis": cfg["analysis"]}
    if cfg["world"] is None:  # the reproduction check of hub profiles
        spec["reproduction"] = cfg["reproduction"]
    analysis = Run("analysis", "analysis", spec)
    return {
        "data": [data],
        "pretrained": pre_list,
        "intermediate": list(intermediate.values()),
        "target": targets,
        "analysis": [analysis],
    }
