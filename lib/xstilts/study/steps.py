"""One function per notebook step: the phases of the study over the run store.

Each phase walks its runs from the grid (`grid.plan_runs`), executes the ones this worker's shard owns
(completed runs are reused, incomplete ones redone) and returns a tidy table for the report. A run
whose parent belongs to another shard waits for it through the run store's lock, so no run is done
twice. Phases communicate only through files under `outputs/<profile>/`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.published import reproduction_check
from xstilts.benchmarks.registry import get_task
from xstilts.data.hub_cache import missing, report_missing, resolve_model
from xstilts.data.loaders import load
from xstilts.progress import bar
from xstilts.reports.data_summary import describe
from xstilts.reports.display import Figure, Note, Table
from xstilts.study import grid
from xstilts.study.lr_pilot import PILOT_COLUMNS, select_lr
from xstilts.study.profile import target_tasks
from xstilts.study.ranks import RankGroup, serve
from xstilts.study.runstore import PHASES, RESUME, PhaseFailed, Run, RunFailed, StudyNotReady, notebook_of
from xstilts.study.session import start
from xstilts.study.target_run import CHECKPOINT_FILES, collect, run_pilot, run_target
from xstilts.study.workers import run_workers

log = logging.getLogger("xstilts")


# --- helpers shared by the phases ----------------------------------------------------------------


def _plan(s):
    """The grid of the session's profile (planned once per session: run ids hash every spec). Every step
    goes through here, so a step after an edit of the profile's files stops (ProfileChanged) instead of
    writing results of the profile as it was when the session started."""
    s.check_profile()
    if s._grid is None:
        s._grid = grid.plan_runs(s.profile)
    return s._grid


def _require_complete(s, needed: list[Run], step: str) -> None:
    """Stop, writing nothing, unless every run in `needed` is complete and intact; the message names the
    earliest phase with runs missing and the notebook to run (or `make reproduce`, which runs them all)."""
    missing = [r for r in needed if not s.store.is_complete(r)]
    damaged = [r for r in needed if s.store.is_complete(r) and s.store.check(r)]
    if not missing and not damaged:
        return
    name = s.profile.name
    if missing:
        first = min((r.phase for r in missing), key=PHASES.index)
        count = sum(r.phase == first for r in missing)
        total = sum(r.phase == first for r in needed)
        raise StudyNotReady(
            f"{step} needs {count} of {total} runs of phase '{first}' that are not complete: run "
            f"notebooks/{notebook_of(first)}.ipynb first (or `make reproduce PROFILE={name}`, which runs every "
            "phase in order)"
        )
    raise StudyNotReady(
        f"{step} needs {len(damaged)} completed runs whose files changed since they completed (first: "
        f"{damaged[0].phase}/{damaged[0].id}): `make reproduce PROFILE={name}` redoes them and what depends on them"
    )


def _require_inputs(s, runs: list[Run]) -> None:
    """A phase starts only when every run of an earlier phase that its runs read is complete and intact."""
    plan = _plan(s)
    by_id = {r.id: r for phase_runs in plan.values() for r in phase_runs}
    here = PHASES.index(s.phase)
    needed: dict[str, Run] = {}
    todo = [rid for run in runs if not s.store.is_complete(run) for rid in run.reads]
    todo = [rid for rid in todo if PHASES.index(by_id[rid].phase) < here]
    while todo:  # an input not complete needs its own inputs: the message names the earliest phase to run
        rid = todo.pop()
        if rid in needed:
            continue
        needed[rid] = by_id[rid]
        if not s.store.is_complete(by_id[rid]):
            todo += by_id[rid].reads
    pruned = [r for r in needed.values() if s.store.is_complete(r) and s.store.is_pruned(r)]
    if pruned:
        raise StudyNotReady(
            f"phase '{s.phase}' needs the checkpoints of {len(pruned)} runs of phase '{pruned[0].phase}' that were "
            f"deleted once their readers were complete (keep_checkpoints: false): `make reproduce "
            f"PROFILE={s.profile.name}` redoes them"
        )
    _require_complete(s, list(needed.values()), f"phase '{s.phase}'")


def _since() -> float:
    """When this execution of a phase began: runs that failed since are not retried in it (the Makefile's
    sharded pass sets XSTILTS_SINCE for its shards and the pass after them)."""
    return float(os.environ.get("XSTILTS_SINCE") or time.time())


def _execute_mine(s, runs: list[Run], work, desc: str) -> None:
    """Execute this shard's runs; completed runs cost nothing, and a failed run does not stop the others.

    A worker process (`claim`) takes any run no other worker holds, largest model first. With
    `workers: N > 1` in the profile an unsharded phase starts N such workers (xstilts.study.workers) and
    waits for them; this process then finds every run complete or failed in this execution. A run that
    fails is recorded (its FAILED file) and the phase goes on; at the end PhaseFailed names the failures.
    """
    _require_inputs(s, runs)
    since = _since()
    mine = list(reversed(runs)) if s.claim else _assigned(s, runs)
    if not s.claim:
        todo = [r for r in mine if not s.store.is_complete(r)]
        log.info("%s: %d runs planned, %d for this shard, %d to do", desc, len(runs), len(mine), len(todo))
        if s.profile["workers"] > 1 and s.num_shards == 1 and len(todo) > 1:
            run_workers(str(s.profile.files[-1]), s.phase, s.profile["workers"], since)  # a path profile too
    failed, first_error = [], ""
    groups: dict[int, RankGroup] = {}  # the ranks of this process's sharded runs, per width, kept between runs
    try:
        for run in mine if s.claim else bar(mine, desc=desc, unit="run", enabled=todo):
            if s.store.failed_since(run, since):
                failed.append(run)
                continue
            try:
                s.store.execute(run, _how(s, run, work, groups), wait=not s.claim)
            except RunFailed as err:
                failed.append(run)
                first_error = first_error or err.error
    finally:
        for group in groups.values():
            group.close()
    if failed:
        first_error = first_error or (s.store.failure(failed[0]) or {}).get("error", "")
        raise PhaseFailed(s.profile.name, s.phase, failed, len(mine), first_error)


def _assigned(s, runs: list[Run]) -> list[Run]:
    """This worker's runs. A wide worker (`ranks`) takes its shard of the runs sharded over that many
    processes; a shard worker of several (one GPU each) its shard of the one-process runs; an unsharded
    pass every run (the final pass after shard workers: whatever they left)."""
    width = {r.id: grid.ranks_of(s.profile.cfg, r) for r in runs}
    if s.ranks:
        return [r for r in runs if width[r.id] == s.ranks and s.mine(r)]
    if s.num_shards > 1:
        return [r for r in runs if width[r.id] == 1 and s.mine(r)]
    return list(runs)


def _how(s, run: Run, work, groups: dict[int, RankGroup]):
    """How this process does a run: `work` itself, or, for a sharded run, on its ranks (started at this
    process's first run of that width and kept for the next)."""
    n = grid.ranks_of(s.profile.cfg, run)
    if n > 1:
        group = groups.setdefault(n, RankGroup(str(s.profile.files[-1]), run.phase, n))
        return lambda run_dir: group.run(run.id, run_dir)
    return lambda run_dir: work(s, run, run_dir)


def _ensure(s, run: Run, work) -> Path:
    """A parent run of the same phase: done by whichever worker needs it first (the store's lock prevents
    doing it twice; its failure is this run's)."""
    s.store.execute(run, lambda run_dir: work(s, run, run_dir))
    return s.store.path(run)


def _table(s, runs: list[Run], columns: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for run in runs:
        row = {"run": run.id, "complete": s.store.is_complete(run)}
        if row["complete"]:
            row.update({k: v for k, v in s.store.result(run).items() if not isinstance(v, (dict, list))})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if columns:
        frame = frame[[c for c in ["run", *columns, "complete"] if c in frame.columns]]
    return frame


def describe_phase(s) -> Note:
    """What this phase runs and with which key parameters (the whole configuration: config/effective.yaml)."""
    cfg, runs = s.profile.cfg, _plan(s)[s.phase]
    done = sum(s.store.is_complete(r) for r in runs)
    lines = [f"**{len(runs)} run(s)** in this phase, {done} already complete (reused)."]
    if s.phase == "data":
        lines.append(
            "The miniature world is generated from its seed (`world:`)."
            if s.profile.is_miniature
            else "The hub datasets and checkpoints are checked in the local cache at their locked revisions."
        )
    elif s.phase == "pretrained":
        models = ", ".join(m["name"] for m in cfg["models"])
        if s.profile.is_miniature:
            pre = cfg["pretrain"]
            lines.append(
                f"Models {models}: masked-LM pretraining for {pre['steps']} steps of {pre['batch_size']} x "
                f"{pre['seq_len']} tokens at lr {pre['lr']}, after a tokenizer of {cfg['tokenizer']['vocab_size']} "
                "pieces is trained on the world's corpus."
            )
        else:
            lines.append(f"Models {models}: the hub checkpoints at their locked revisions.")
        if cfg["lr_pilot"] is not None:
            pilot = cfg["lr_pilot"]
            grids = "; ".join(f"{m['name']} {', '.join(f'{v:g}' for v in m['lr_grid'])}" for m in cfg["models"])
            lines.append(
                f"Learning-rate pilot: the `none` arm on {', '.join(pilot['protocols'])}, {pilot['seeds']} seed(s) per "
                f"grid point, scored on English dev; grids: {grids}."
            )
    elif s.phase in ("intermediate", "target"):
        hp = cfg[s.phase]
        steps_ = f"{hp['max_steps']} steps" if hp["max_steps"] is not None else f"{hp['epochs']} epochs"
        lr = "lr per size from the pilot" if cfg["lr_pilot"] is not None else f"lr {hp['lr']}"
        lines.append(
            f"Arms: {', '.join(a for a in cfg['arms'] if a != 'none' or s.phase == 'target')}; "
            f"sizes: {', '.join(m['name'] for m in cfg['models'])}; training: {lr}, batch "
            f"{hp['batch_size']} x {hp['grad_accum']}, {steps_}, max length {hp['max_seq_len']}."
        )
        lines.append(lr_summary(s))
        if s.phase == "target":
            lines.append(
                f"Seeds: {cfg['seeds']['none']} for `none`, {cfg['seeds']['intermediate']} per intermediate "
                f"arm; {len(grid.protocols(cfg))} protocols."
            )
            if cfg["per_target"]:
                over = "; ".join(
                    f"{k}: " + ", ".join(f"{a} {b}" for a, b in v.items()) for k, v in cfg["per_target"].items()
                )
                lines.append(f"Per-target settings: {over}.")
    else:
        a = cfg["analysis"]
        lines.append(f"The joint bootstrap: {a['n_boot']} replicates, seed {a['seed']}.")
        lines.append(lr_summary(s))
    return Note("\n\n".join(lines))


# --- phase 0: data ----------------------------------------------------------------------------------


@dataclass
class DataReport:
    """Phase 0's report: the languages, the tasks with their sizes, one example in every language, notes."""

    languages: Table
    tasks: Table
    examples: Table
    notes: Note
    world_dir: Path | None


def world_dir(s) -> Path | None:
    """The miniature world of this profile (None on hub profiles)."""
    if not s.profile.is_miniature:
        return None
    return s.store.path(grid.data_run(s.profile.cfg)) / "world"


def _data_work(s, run: Run, run_dir: Path) -> dict:
    cfg = s.profile.cfg
    if cfg["world"] is not None:
        from xstilts.miniworld.build import build_world  # miniature profiles only

        manifest = build_world(cfg["world"], run_dir / "world")
        return {"fingerprint": manifest["fingerprint"], "languages": len(manifest["languages"]), "source": "miniature"}

    tasks = run.spec["tasks"]
    models = [hub for hub, _ in run.spec["models"]]
    absent = missing(tasks, models)
    if absent:
        raise RuntimeError(report_missing(absent))
    return {"source": "hub", "tasks": len(tasks), "models": len(models)}


def prepare_data(s) -> DataReport:
    """Build the miniature world (or check the hub cache) once; describe what each benchmark tests."""
    run = grid.data_run(s.profile.cfg)
    _ensure(s, run, _data_work)
    return describe_data(s)


def describe_data(s) -> DataReport:
    wdir = world_dir(s)
    info = describe(_all_tasks(s), wdir, ccgbank=s.profile["ccgbank"], limit=s.profile["max_examples"])
    return DataReport(
        languages=s.table(info["languages"], "data_languages", "Languages"),
        tasks=s.table(info["tasks"], "data_tasks", "Tasks, their data and sizes"),
        examples=s.table(info["examples"], "data_examples", "One test example in every language"),
        notes=Note(info["notes"]),
        world_dir=wdir,
    )


def _all_tasks(s):
    inter = [get_task(k) for k in grid._intermediate_keys(s.profile.cfg)]
    return [*target_tasks(s.profile.cfg), *inter]


# --- phase 1: pretrained models -------------------------------------------------------------------


def _corpus_files(s) -> list[Path]:
    return sorted((world_dir(s) / "corpus").glob("*.txt"))


def _pretrained_work(s, run: Run, run_dir: Path) -> dict:
    spec = run.spec
    if run.prefix == "tokenizer":
        from xstilts.engine.tokenizer import train_tokenizer

        tok = train_tokenizer(_corpus_files(s), spec["vocab_size"], run_dir / "tokenizer", seed=spec["seed"])
        return {"vocab_size": len(tok)}
    if "hub" in spec:
        from xstilts.engine.encoders import encoder_class_name

        path = resolve_model(spec["hub"], spec["revision"])
        return {
            "encoder": str(path),
            "params": spec["params"],
            "source": "hub",
            "hub": spec["hub"],
            "revision": path.name,  # the snapshot folder is the commit
            "model_class": encoder_class_name(str(path)),
        }

    from xstilts.engine.pretrain import pretrain_mlm

    tok_run = grid.tokenizer_run(s.profile.cfg, grid.data_run(s.profile.cfg))
    tok_dir = _ensure(s, tok_run, _pretrained_work) / "tokenizer"
    pre = spec["pretrain"]
    result = pretrain_mlm(
        arch=spec["arch"],
        tokenizer_dir=tok_dir,
        corpus_files=_corpus_files(s),
        steps=pre["steps"],
        batch_size=pre["batch_size"],
        seq_len=pre["seq_len"],
        lr=pre["lr"],
        warmup=pre["warmup_ratio"],
        mlm_probability=pre["mlm_probability"],
        dropout=pre["dropout"],
        seed=spec["seed"],
        out_dir=run_dir / "model",
        num_threads=s.profile["num_threads"] or None,
    )
    return {**result, "source": "miniature"}


def encoder_dir(s, run: Run) -> str:
    """Where a pretrained/intermediate/target run keeps its encoder (a transformers checkpoint)."""
    path = s.store.path(run)
    if run.phase == "pretrained":
        if "hub" in run.spec:
            return s.store.result(run)["encoder"]
        return str(path / "model")
    return str(path / "encoder")


def model_params(s, model_name: str) -> int:
    """Parameters of a ladder rung: the hub count, or counted on the miniature checkpoint."""
    run = grid.pretrained_runs(s.profile.cfg, grid.data_run(s.profile.cfg))[model_name]
    _require_complete(s, [run], f"the parameter count of {model_name}")
    return int(s.store.result(run)["params"])


def _models(s) -> list[Run]:
    """The pretrained phase's model runs (tokenizer, MLM pretraining or hub checkpoints), not the lr pilot's."""
    return [r for r in _plan(s)["pretrained"] if not grid.is_pilot(r) and not grid.is_selection(r)]


def pretrain_models(s) -> pd.DataFrame:
    """Train the tokenizer and pretrain (or resolve) every model size."""
    runs = _models(s)
    _execute_mine(s, runs, _pretrained_work, "pretrained")
    frame = _table(
        s, runs, ["params", "non_embedding_params", "final_loss", "seconds", "source", "model_class", "revision"]
    )
    return s.table(frame, "pretrained_runs", "The tokenizer and the model sizes")


def plot_pretraining(s):
    from xstilts.reports.phase_figures import plot_pretraining as _plot

    return _plot(s, _models(s))


# --- phase 1: the learning-rate pilot (docs/recipe.md §9.1; the rule: xstilts.study.lr_pilot) -----------


def _pilot_work(s, run: Run, run_dir: Path) -> dict:
    parent = next(r for r in _models(s) if r.id == run.spec["parent"])
    _ensure(s, parent, _pretrained_work)
    return run_pilot(s, run, run_dir, encoder=encoder_dir(s, parent), world_dir=world_dir(s))


def _selection_work(s, run: Run, run_dir: Path) -> dict:
    ids = set(run.spec["pilots"])
    pilots = [r for r in _plan(s)["pretrained"] if r.id in ids]
    scores = pd.DataFrame([s.store.result(r) for r in pilots])[PILOT_COLUMNS]
    scores.to_csv(run_dir / "pilot.csv", index=False)
    choice = select_lr(scores, run.spec["anchor"])
    return {"model": run.spec["model"], "pilot_runs": len(pilots), **choice}


@dataclass
class PilotReport:
    """The pilot's report: the lr chosen per size and why, every pilot score, and a figure (or, without a
    pilot, one note saying which lr each size trains at)."""

    choice: Table | Note
    scores: Table | Note
    figure: Figure | Note


def lr_pilot(s) -> PilotReport:
    """Fine-tune `none` on the pilot protocols at each size's grid lrs, score English dev, pick each size's lr.

    Every worker does pilot runs; the selection (a second of pandas per size) is done by the pass that sees
    the whole phase (not a claiming, shard or wide worker), once every pilot run is complete."""
    runs = _plan(s)["pretrained"]
    pilots = [r for r in runs if grid.is_pilot(r)]
    selections = [r for r in runs if grid.is_selection(r)]
    if not pilots:  # the note once, empty cells after it
        return PilotReport(Note(lr_summary(s)), Note(""), Note(""))
    _execute_mine(s, pilots, _pilot_work, "lr pilot")
    if s.claim or s.num_shards > 1 or s.ranks:
        note = Note("*The lr selection is made by the pass over the whole phase.*")
        return PilotReport(note, note, note)
    _require_complete(s, pilots, "the lr selection")
    _execute_mine(s, selections, _selection_work, "lr selection")
    choice = _table(s, selections, ["model", "lr", "best_mean_lr", "seed_sd", "reason"])
    scores = pd.concat([pd.read_csv(s.store.path(r) / "pilot.csv") for r in selections], ignore_index=True)
    scores.to_csv(s.results_dir / "lr_pilot.csv", index=False)
    protocols = list(dict.fromkeys(scores["protocol"]))
    wide = (  # per (size, grid lr): each protocol's mean over seeds, and their mean (the rule's score)
        scores.groupby(["model", "grid_lr", "protocol"], sort=False)["dev_score"]
        .mean()
        .unstack("protocol")[protocols]
        .assign(mean=lambda f: f.mean(axis=1))
        .reset_index()
    )
    order = {m["name"]: i for i, m in enumerate(s.profile["models"])}
    wide = wide.sort_values(["model", "grid_lr"], key=lambda c: c.map(order) if c.name == "model" else c)
    from xstilts.reports.phase_figures import plot_lr_pilot

    figure = plot_lr_pilot(s, wide, protocols, dict(zip(choice["model"], choice["lr"])))
    wide = wide.round({p: 2 for p in [*protocols, "mean"]})
    shown = choice.assign(**{k: choice[k].map(lambda x: f"{x:g}") for k in ("lr", "best_mean_lr")})
    return PilotReport(
        choice=s.table(shown, "lr_choice", "The lr of each size, chosen on English dev (docs/recipe.md §9.1)"),
        scores=s.table(
            wide.assign(grid_lr=wide["grid_lr"].map(lambda x: f"{x:g}")),
            "lr_pilot_means",
            "English-dev score per size, grid lr and protocol, mean over seeds (every run: lr_pilot.csv)",
        ),
        figure=figure,
    )


def chosen_lrs(s) -> dict[str, float] | None:
    """Each size's lr from its completed selection run; None without a pilot."""
    selections = [r for r in _plan(s)["pretrained"] if grid.is_selection(r)]
    if not selections:
        return None
    return {r.spec["model"]: s.store.result(r)["lr"] for r in selections if s.store.is_complete(r)}


def lr_summary(s) -> str:
    """Which lr each size trains at, and where it comes from (the pilot, or the profile as written)."""
    cfg = s.profile.cfg
    chosen = chosen_lrs(s)
    if chosen is None:
        return (
            f"No lr pilot (`lr_pilot: null`): every size trains at the profile's lr, intermediate "
            f"{cfg['intermediate']['lr']:g} and target {cfg['target']['lr']:g} (per-protocol values in `per_target`)."
        )
    sizes = ", ".join(
        f"{m['name']} {chosen[m['name']]:g}" if m["name"] in chosen else f"{m['name']} (not yet chosen)"
        for m in cfg["models"]
    )
    return (
        f"Learning rate per size, chosen by the English-dev pilot (docs/recipe.md §9.1): {sizes}. A protocol "
        f"whose profile lr is k x the anchor {cfg['lr_pilot']['anchor']:g} trains at k x its size's lr."
    )


# --- phase 2: intermediate training ---------------------------------------------------------------


def _task_data(s, task, split_train="train", split_dev="dev"):
    """English train and dev of an intermediate task; a tag set read from the data (CCG) becomes `labels`."""
    from xstilts.engine.types import TaskData

    wdir, ccg, cap = world_dir(s), s.profile["ccgbank"], s.profile["max_examples"]
    train = load(task, split_train, "en", wdir, ccgbank=ccg, limit=cap)
    dev = load(task, split_dev, "en", wdir, ccgbank=ccg, limit=cap)
    if task.format == F.TAGGING and not task.labels:
        tags = sorted({tag for data in (train, dev) for tags in data["tags"] for tag in tags})
        task = dataclasses.replace(task, labels=tuple(tags))
    return TaskData(task=task, train=train, dev=dev)


def _intermediate_work(s, run: Run, run_dir: Path) -> dict:
    from xstilts.engine.trainer import finetune

    pretrained = _plan_pretrained(s)
    parent = next(r for r in pretrained if r.id == run.spec["parent"])
    tasks = [_task_data(s, get_task(key)) for key in run.spec["tasks"]]
    hp = s.train_config(run.spec["train"], run, progress=True)
    result = finetune(encoder_dir(s, parent), tasks, hp, run.spec["seed"], run_dir, resume_dir=run_dir / RESUME)
    return {
        "arm": run.spec["arm"],
        "dev_score": result.best_score,
        "best_step": result.best_step,
        "steps": result.steps,
        "seconds": round(result.train_seconds, 2),
        "examples_per_second": round(result.examples_per_second, 1),
        "dev_scores": result.best_scores,
        "world_size": result.world_size,
        "resumed_from_step": result.resumed_from_step,
    }


def _plan_pretrained(s) -> list[Run]:
    return _plan(s)["pretrained"]


def train_intermediate(s) -> pd.DataFrame:
    """Fine-tune every size on every intermediate arm; select on English dev; keep the encoder."""
    runs = _plan(s)["intermediate"]
    _execute_mine(s, runs, _intermediate_work, "intermediate")
    frame = _table(s, runs, ["arm", "dev_score", "best_step", "steps", "seconds"])
    return s.table(frame, "intermediate_runs", "Intermediate runs: English dev score at the selected step")


def plot_dev_curves(s, phase: str):
    from xstilts.reports.phase_figures import plot_dev_curves as _plot

    return _plot(s, _plan(s)[phase])


# --- phase 3: target tasks ----------------------------------------------------------------------


def _parent_run(s, run: Run) -> Run:
    plan = _plan(s)
    return next(r for r in plan["pretrained"] + plan["intermediate"] if r.id == run.spec["parent"])


def _target_work(s, run: Run, run_dir: Path) -> dict:
    return run_target(s, run, run_dir, encoder=encoder_dir(s, _parent_run(s, run)), world_dir=world_dir(s))


def train_targets(s) -> pd.DataFrame:
    """Fine-tune on English and score zero-shot on every test language, for every (size, arm, seed)."""
    runs = _plan(s)["target"]
    try:
        _execute_mine(s, runs, _target_work, "target")
    finally:
        _prune_intermediate(s)
    frame = _table(s, runs, ["model", "arm", "protocol", "seed", "dev_score", "mean_score", "seconds"])
    frame.to_csv(s.results_dir / "target_runs.csv", index=False)
    summary = (
        frame.assign(run=1)
        .groupby(["model", "arm"], sort=False, as_index=False)
        .agg(
            runs=("run", "sum"),
            complete=("complete", "sum"),
            mean_dev_score=("dev_score", "mean"),
            mean_seconds=("seconds", "mean"),
        )
        .round(2)
    )
    return s.table(
        summary, "target_runs_by_model_arm", f"{len(frame)} target runs by model and arm (each run: target_runs.csv)"
    )


def _collect(s) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and per-example statistics of every planned target run, all of them complete and intact."""
    targets = _plan(s)["target"]
    _require_complete(s, targets, "collecting the scores")
    params = {m["name"]: model_params(s, m["name"]) for m in s.profile["models"]}
    return collect(s.store, targets, params)


def _prune_intermediate(s) -> None:
    """Delete each intermediate run's checkpoint once every target run loading it is complete (unless the
    profile keeps checkpoints). A target run that needs it again later makes `xstilts repair` redo it."""
    if s.profile["keep_checkpoints"]:
        return
    plan = _plan(s)
    for run in plan["intermediate"]:
        readers = [r for r in plan["target"] if r.spec["parent"] == run.id]
        if s.store.is_complete(run) and all(s.store.is_complete(r) for r in readers):
            gone = s.store.prune(run, CHECKPOINT_FILES)
            if gone:
                log.info("pruned %s/%s: %s (its %d readers are complete)", run.phase, run.id, gone, len(readers))


def collect_scores(s) -> pd.DataFrame:
    """The tidy results table `results/scores.csv` (and `results/examples.parquet`, every per-example
    statistic) from every target run of the profile; stops if any is not complete."""
    scores, examples = _collect(s)
    scores.to_csv(s.results_dir / "scores.csv", index=False)
    examples.to_parquet(s.results_dir / "examples.parquet", index=False)
    return scores


def score_overview(s, scores: pd.DataFrame) -> Table:
    """The zero-shot score of the `none` arm per target and model size (mean over languages and seeds),
    beside the trivial predictor's; every (benchmark, task, model, arm) mean is in score_overview.csv."""
    table = overview_table(scores)
    table.to_csv(s.results_dir / "score_overview.csv", index=False)
    base = table[table["arm"] == "none"]
    wide = base.pivot_table(index=["benchmark", "task"], columns="model", values="score", sort=False)
    wide = wide[[m["name"] for m in s.profile["models"] if m["name"] in wide.columns]]
    chance = base.groupby(["benchmark", "task"], sort=False)["chance"].mean()
    frame = wide.assign(chance=chance).reset_index().round(1)
    return s.table(
        frame,
        "score_overview_none",
        "Mean zero-shot score of the `none` arm by model size, beside chance (every arm: score_overview.csv)",
    )


def overview_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and languages per (benchmark, task, model, arm), beside chance."""
    table = (
        scores.groupby(["benchmark", "task", "model", "params", "arm"], as_index=False)[["score", "chance"]]
        .mean()
        .round(1)
        .sort_values(["benchmark", "task", "params", "arm"])
    )
    return table.reset_index(drop=True)


def plot_languages(s, scores: pd.DataFrame):
    from xstilts.reports.phase_figures import plot_languages as _plot

    return _plot(s, scores)


# --- phase 4: analysis --------------------------------------------------------------------------


def _analysis_work(s, run: Run, run_dir: Path) -> dict:
    from xstilts.analysis.analyze import analyze as run_analysis

    scores, examples = _collect(s)  # the runs its spec names, read from the run store
    cfg = s.profile["analysis"]
    if not s.profile.is_miniature:  # the reproduction check against the published numbers
        _reproduction_check(s, scores, examples, run_dir)
    source = (
        f"the miniature world (profile {s.profile.name}), not XLM-R"
        if s.profile.is_miniature
        else f"profile {s.profile.name}"
    )
    result = run_analysis(examples, run_dir, n_boot=cfg["n_boot"], seed=cfg["seed"], source=source)
    (run_dir / "answer.md").write_text(result.answer)
    return {"estimates": len(result.estimates), "figures": sorted(result.figures)}


def _dev_scores(s) -> pd.DataFrame:
    """The English dev score of every trained target run, one row per target task it trains for."""
    rows = []
    for run in _plan(s)["target"]:
        dev = s.store.result(run).get("dev_score")
        if dev is None:
            continue
        for key in run.spec["tasks"]:
            rows.append(
                {"task": get_task(key).name, "model": run.spec["model"], "arm": run.spec["arm"], "dev_score": dev}
            )
    return pd.DataFrame(rows, columns=["task", "model", "arm", "dev_score"]).drop_duplicates()


def _reproduction_check(s, scores: pd.DataFrame, examples: pd.DataFrame, run_dir: Path) -> None:
    """reproduction.csv (ours beside the published numbers, flagged beyond CI + tolerance) and
    effects.csv (X-STILTs' average gains beside ours), docs/recipe.md §10."""
    from xstilts.analysis.reproduction import effects, our_results

    dev = _dev_scores(s)
    ours = our_results(scores, examples, dev)
    check = reproduction_check(ours, tolerance=s.profile["reproduction"]["tolerance"])
    check = check.merge(ours[["system", "model", "task", "metric", "arm", "seeds"]], how="left")
    check.to_csv(run_dir / "reproduction.csv", index=False)
    effects(scores, dev).to_csv(run_dir / "effects.csv", index=False)


TEST_COLUMNS = ["estimand", "arm", "estimate", "ci_low", "ci_high", "p_value", "p_holm"]  # results/tests.csv


@dataclass
class AnalysisReport:
    """Phase 4's report, in the order it is read: the confirmatory tests, the decomposition of γ, the
    per-task slopes, the secondary tests, what each arm buys per size, the reproduction check, a positive control's
    planted effect beside the recovered one, the figures and the answer (every estimate: estimates.csv)."""

    tests: Table
    decomposition: Table
    task_slopes: Table
    secondary: Table
    gains: Table
    reproduction: Table | Note
    effects: Table | Note
    control: Table | Note
    estimates: Table
    figures: list
    answer: Note


def analyze(s) -> AnalysisReport:
    """Gains, slopes over log10(params), the XTREME-R vs XTREME interaction, with the joint bootstrap."""
    from xstilts.analysis.analyze import gain_table
    from xstilts.analysis.control import planted_vs_recovered, verdict
    from xstilts.analysis.figures import ALT

    if s.profile["purpose"] == "pipeline":
        raise StudyNotReady(
            f"profile {s.profile.name} states `purpose: pipeline`: it runs and scores the phases but produces no "
            "estimand (set `purpose: study` and give it a study's shape to analyse it)"
        )
    run = _plan(s)["analysis"][0]
    _require_inputs(s, [run])
    _ensure(s, run, _analysis_work)
    scores = collect_scores(s)  # results/scores.csv also where the target notebook did not run (submit, scripts)
    size_names = {float(p): m for p, m in scores[["params", "model"]].drop_duplicates().itertuples(index=False)}
    run_dir = s.store.path(run)
    estimates = pd.read_csv(run_dir / "estimates.csv")
    confirmatory = pd.read_csv(run_dir / "confirmatory.csv")
    decomposition = estimates[estimates.estimand.str.startswith("interaction")]
    figures = []
    for path in sorted(run_dir.glob("*.png")):
        target = s.figures_dir / path.name
        target.write_bytes(path.read_bytes())
        figures.append(Figure(target, ALT.get(path.stem, path.stem.replace("_", " ")), path.stem.replace("_", " ")))
    answer = (run_dir / "answer.md").read_text()
    (s.results_dir / "answer.md").write_text(answer)
    if s.profile.is_miniature:
        reproduction = effects = Note("*The miniature has no published numbers: no reproduction check.*")
    else:
        dry = "DRY RUN (tiny random models, not XLM-R): " if s.profile["reproduction"]["dry_run"] else ""
        reproduction = s.table(
            pd.read_csv(run_dir / "reproduction.csv"),
            "reproduction",
            f"{dry}ours beside the published numbers (flag: outside our 95% CI ± "
            f"{s.profile['reproduction']['tolerance']:g} points)",
            max_rows=60,
        )
        effects = s.table(
            pd.read_csv(run_dir / "effects.csv"),
            "effects",
            f"{dry}X-STILTs' average gains on XTREME (XLM-R Large) beside ours, in direction and rough size",
        )
    planted = s.profile["planted"]
    if planted is None:
        control = Note("*This profile plants no effect (a positive control does: `PROFILE=mini-control`).*")
    else:
        table = planted_vs_recovered(estimates, planted)
        line = verdict(table, planted)
        log.info("positive control: %s", line)
        control = s.table(table, "planted", f"Planted beside recovered: {line}. How: {planted['mechanism']}")
    return AnalysisReport(
        tests=s.table(confirmatory[TEST_COLUMNS], "tests", "Confirmatory tests (Holm over the family)", max_rows=50),
        decomposition=s.table(
            decomposition[["estimand", "arm", "estimate", "ci_low", "ci_high", "p_value"]],
            "interaction_decomposition",
            "γ and its decomposition",
        ),
        task_slopes=s.table(
            pd.read_csv(run_dir / "task_slopes.csv"),
            "task_slopes",
            "Slope of the gain per (arm, target), Benjamini-Hochberg and -Yekutieli adjusted",
        ),
        secondary=s.table(pd.read_csv(run_dir / "secondary_tests.csv"), "secondary_tests", "Secondary tests"),
        gains=s.table(
            gain_table(estimates, size_names),
            "benchmark_gains",
            "Mean zero-shot gain over `none` per arm, benchmark and model size, in points: estimate [95% CI] "
            "(* the interval excludes zero)",
        ),
        reproduction=reproduction,
        effects=effects,
        control=control,
        estimates=s.table(estimates, "estimates", "Every estimate", max_rows=10),
        figures=figures,
        answer=Note(answer),
    )


# --- the ranks of sharded runs (`xstilts rank`, started by xstilts.study.ranks.RankGroup) -----------

RANK_WORK = {"pretrained": _pilot_work, "intermediate": _intermediate_work, "target": _target_work}


def run_rank(profile: str, phase: str) -> None:
    """One rank of a worker's sharded runs: each run the worker sends, done on this process (every rank
    trains; rank 0 evaluates and writes). The worker holds each run's lock and commits it."""
    s = start(profile, phase, rank_entry=True)
    runs = {r.id: r for r in _plan(s).get(phase, [])} if phase in RANK_WORK else {}

    def work(run_id: str, run_dir: Path) -> dict:
        if run_id not in runs:
            raise StudyNotReady(f"no training run {run_id} in phase '{phase}' of profile {s.profile.name}")
        return RANK_WORK[phase](s, runs[run_id], run_dir)

    serve(work)


# --- whole phases, for shard workers outside notebooks (submitit, scripts) -------------------------

PHASE_STEPS = {
    "data": [prepare_data],
    "pretrained": [pretrain_models, lr_pilot],
    "intermediate": [train_intermediate],
    "target": [train_targets],
    "analysis": [analyze],
}


def run_phase(
    profile: str, phase: str, shard: int = 0, num_shards: int = 1, claim: bool = False, ranks: int | None = None
) -> None:
    """Run one phase's work for one shard, as its notebook would (used by `xstilts submit`); `claim`: as
    a local worker process that takes any run no other worker holds (`workers:`); `ranks`: as a wide
    worker, only the runs sharded over that many processes."""
    s = start(profile, phase, shard, num_shards, claim=claim, ranks=ranks)
    if phase == "analysis" and num_shards > 1 and shard > 0:
        return
    for step in PHASE_STEPS[phase]:
        step(s)
