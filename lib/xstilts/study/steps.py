"""One function per notebook step: the phases of the study over the run store.

Each phase walks its runs from the grid (`grid.plan_runs`), executes the ones this worker's shard owns
(completed runs are reused, incomplete ones redone) and returns a tidy table for the report. A run
whose parent belongs to another shard waits for it through the run store's lock, so no run is done
twice. Phases communicate only through files under `outputs/<profile>/`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.registry import get_task
from xstilts.data.hub_cache import missing, report_missing, resolve_model
from xstilts.data.loaders import load
from xstilts.reports.data_summary import describe
from xstilts.study import grid
from xstilts.study.profile import target_tasks
from xstilts.study.runstore import Run
from xstilts.study.session import start
from xstilts.study.target_run import collect, run_target
from xstilts.study.workers import run_workers

log = logging.getLogger("xstilts")


# --- helpers shared by the phases ----------------------------------------------------------------


def _plan(s):
    """The grid of the session's profile (planned once per session: run ids hash every spec)."""
    if s._grid is None:
        s._grid = grid.plan_runs(s.profile)
    return s._grid


def _execute_mine(s, runs: list[Run], work, desc: str) -> None:
    """Execute this shard's runs; completed runs cost nothing.

    A worker process (`claim`) takes any run no other worker holds, largest model first. With
    `workers: N > 1` in the profile an unsharded phase starts N such workers (xstilts.study.workers) and
    waits for them; this process then finds every run complete (or redoes what a failed worker left).
    """
    if s.claim:
        for run in reversed(runs):
            s.store.execute(run, lambda run_dir, run=run: work(s, run, run_dir), wait=False)
        return
    mine = [r for r in runs if s.mine(r)]
    todo = [r for r in mine if not s.store.is_complete(r)]
    log.info("%s: %d runs planned, %d for this shard, %d to do", desc, len(runs), len(mine), len(todo))
    workers = s.profile["workers"]
    if workers > 1 and s.num_shards == 1 and len(todo) > 1:
        run_workers(s.profile.name, s.phase, workers)
    for run in tqdm(mine, desc=desc, unit="run", disable=not todo):
        s.store.execute(run, lambda run_dir, run=run: work(s, run, run_dir))


def _ensure(s, run: Run, work) -> Path:
    """A parent run: done by whichever worker needs it first (the store's lock prevents doing it twice)."""
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


# --- phase 0: data ----------------------------------------------------------------------------------


@dataclass
class DataReport:
    languages: pd.DataFrame
    tasks: pd.DataFrame
    examples: pd.DataFrame
    notes: str
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
        languages=info["languages"], tasks=info["tasks"], examples=info["examples"], notes=info["notes"], world_dir=wdir
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
    return int(s.store.result(run)["params"])


def pretrain_models(s) -> pd.DataFrame:
    """Train the tokenizer and pretrain (or resolve) every model size."""
    runs = _plan(s)["pretrained"]
    _execute_mine(s, runs, _pretrained_work, "pretrained")
    return _table(
        s, runs, ["params", "non_embedding_params", "final_loss", "seconds", "source", "model_class", "revision"]
    )


def plot_pretraining(s):
    from xstilts.reports.phase_figures import plot_pretraining as _plot

    return _plot(s, _plan(s)["pretrained"])


# --- phase 2: intermediate training ---------------------------------------------------------------


def _train_config(hp: dict, s):
    from xstilts.engine.train_config import TrainConfig

    return TrainConfig(
        **hp, num_threads=s.profile["num_threads"] or None, cache_dir=str(s.out / "cache" / "features"), progress=True
    )


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
    result = finetune(encoder_dir(s, parent), tasks, _train_config(run.spec["train"], s), run.spec["seed"], run_dir)
    return {
        "arm": run.spec["arm"],
        "dev_score": result.best_score,
        "best_step": result.best_step,
        "steps": result.steps,
        "seconds": round(result.train_seconds, 2),
        "examples_per_second": round(result.examples_per_second, 1),
        "dev_scores": result.best_scores,
    }


def _plan_pretrained(s) -> list[Run]:
    return _plan(s)["pretrained"]


def train_intermediate(s) -> pd.DataFrame:
    """Fine-tune every size on every intermediate arm; select on English dev; keep the encoder."""
    runs = _plan(s)["intermediate"]
    _execute_mine(s, runs, _intermediate_work, "intermediate")
    return _table(s, runs, ["arm", "dev_score", "best_step", "steps", "seconds"])


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
    _execute_mine(s, runs, _target_work, "target")
    return _table(s, runs, ["model", "arm", "protocol", "seed", "dev_score", "mean_score", "seconds"])


def collect_scores(s) -> pd.DataFrame:
    """The tidy results table `results/scores.csv` and the per-example table for the analysis."""

    params = {m["name"]: model_params(s, m["name"]) for m in s.profile["models"]}
    scores, examples = collect(s.store, _plan(s)["target"], params)
    scores.to_csv(s.results_dir / "scores.csv", index=False)
    examples.to_parquet(s.results_dir / "examples.parquet", index=False)
    return scores


def score_overview(scores: pd.DataFrame) -> pd.DataFrame:
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

    examples = pd.read_parquet(s.results_dir / "examples.parquet")
    cfg = s.profile["analysis"]
    source = (
        f"the miniature world (profile {s.profile.name}), not XLM-R"
        if s.profile.is_miniature
        else f"profile {s.profile.name}"
    )
    result = run_analysis(examples, run_dir, n_boot=cfg["n_boot"], seed=cfg["seed"], source=source)
    (run_dir / "answer.md").write_text(result.answer)
    return {"estimates": len(result.estimates), "figures": sorted(result.figures)}


@dataclass
class AnalysisReport:
    estimates: pd.DataFrame
    figures: dict[str, Path]
    answer: str


def analyze(s) -> AnalysisReport:
    """Gains, slopes over log10(params), the XTREME-R vs XTREME interaction, with the joint bootstrap."""
    if not (s.results_dir / "examples.parquet").exists():
        collect_scores(s)
    run = _plan(s)["analysis"][0]
    _ensure(s, run, _analysis_work)
    run_dir = s.store.path(run)
    estimates = pd.read_csv(run_dir / "estimates.csv")
    estimates.to_csv(s.results_dir / "estimates.csv", index=False)
    figures = {}
    for path in sorted(run_dir.glob("*.png")):
        target = s.figures_dir / path.name
        target.write_bytes(path.read_bytes())
        figures[path.stem.replace("_", " ")] = target
    answer = (run_dir / "answer.md").read_text()
    (s.results_dir / "answer.md").write_text(answer)
    return AnalysisReport(estimates=estimates, figures=figures, answer=answer)


# --- whole phases, for shard workers outside notebooks (submitit, scripts) -------------------------

PHASE_STEPS = {
    "data": [prepare_data],
    "pretrained": [pretrain_models],
    "intermediate": [train_intermediate],
    "target": [train_targets],
    "analysis": [analyze],
}


def run_phase(profile: str, phase: str, shard: int = 0, num_shards: int = 1, claim: bool = False) -> None:
    """Run one phase's work for one shard, as its notebook would (used by `xstilts submit`); `claim`: as
    a local worker process that takes any run no other worker holds (`workers:`)."""

    s = start(profile, phase, shard, num_shards, claim=claim)
    if phase == "analysis" and num_shards > 1 and shard > 0:
        return
    for step in PHASE_STEPS[phase]:
        step(s)
