"""A target run, end to end: fine-tune on English, score zero-shot on every test language, store it all.

A target run serves every registry entry sharing its protocol (`xtreme.xnli` and `xtreme-r.xnli`):
it trains once, evaluates each language of the union once, and files the per-example sufficient
statistics under each entry whose language list has that language. It writes, inside its run dir:
`encoder/` + heads (the engine's checkpoint), `eval/<task>/<lang>.{predictions,stats}.jsonl`,
`examples.parquet` (the per-example statistics the analysis bootstraps), `scores.csv` (per entry and
language, with chance) and `submission/` (the official XTREME layout, scorable by `evaluate.py`).
The engine (torch) is imported inside the functions that train or evaluate: `collect` needs none of it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.metrics import TARGET_STAT_COLUMNS, score_from_stats
from xstilts.benchmarks.registry import get_task
from xstilts.benchmarks.submission import write_predictions
from xstilts.study.chance import chance_score
from xstilts.study.ranks import rank
from xstilts.study.runstore import RESUME
from xstilts.study.splits import load_split, load_split_parts, test_languages

log = logging.getLogger("xstilts")


def _finetune(s, run, run_dir: Path, encoder: str, lead, world_dir):
    """Target-task training on English: one task, or XCOPA's SIQA-then-COPA sequence. Resumable: each
    training writes its checkpoints under `resume/` (one folder per stage of a sequence), and a stage that
    ended before an interruption is not trained again."""
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    hp = s.train_config(run.spec["train"], run)
    seed = run.spec["seed"]
    cap = s.profile["max_examples"]
    dev = load_split(lead, "dev", "en", world_dir, cap) if lead.dev else None
    if lead.train_schedule == "sequence":
        parts = list(load_split_parts(lead, "train", "en", world_dir, cap).items())
        start, heads = encoder, None
        for i, (name, data) in enumerate(parts):
            last = i == len(parts) - 1
            out = run_dir if last else run_dir / f"step{i}-{name}"
            if last or not (out / "finetune.json").exists():  # an earlier stage that ended is kept
                result = finetune(
                    start,
                    [TaskData(lead, data, dev if last else None)],
                    hp,
                    seed,
                    out,
                    init_heads_from=heads,
                    resume_dir=run_dir / RESUME / f"step{i}",
                )
            start, heads = str(out), out
        return result
    data = TaskData(lead, load_split(lead, "train", "en", world_dir, cap), dev)
    return finetune(encoder, [data], hp, seed, run_dir, resume_dir=run_dir / RESUME)


def _retrieval_options(s, model_dir: str) -> dict:
    from transformers import AutoConfig

    from xstilts.engine.encoders import resolve_encoder_dir
    from xstilts.engine.layers import resolve_layer

    depth = AutoConfig.from_pretrained(resolve_encoder_dir(model_dir)).num_hidden_layers
    return {
        "layer": resolve_layer(s.profile["retrieval"]["layer"], depth),
        "pooling": s.profile["retrieval"]["pooling"],
    }


def _evaluate(s, task, model_dir: str, languages: list[str], world_dir, out_dir: Path) -> dict:
    from xstilts.engine.predict import zero_shot_eval

    options, cap = {}, s.profile["max_examples"]
    if task.format in (F.BITEXT_MINING, F.SENTENCE_RETRIEVAL):  # dual encoders keep their trained pooling
        options = _retrieval_options(s, model_dir)
    if task.format == F.BITEXT_MINING:  # threshold tuned on the dev (BUCC sample) gold, applied to test
        results = {}
        for lang in languages:
            dev = zero_shot_eval(model_dir, task, {lang: load_split(task, "dev", lang, world_dir, cap)}, **options)[
                lang
            ]
            threshold = dev.metrics.get("threshold")
            results.update(
                zero_shot_eval(
                    model_dir,
                    task,
                    {lang: load_split(task, "test", lang, world_dir, cap)},
                    out_dir=out_dir,
                    threshold=threshold,
                    **options,
                )
            )
        return results
    data = {lang: load_split(task, "test", lang, world_dir, cap) for lang in languages}
    return zero_shot_eval(model_dir, task, data, out_dir=out_dir, **options)


def _stats_columns(result, language: str) -> dict[str, list]:
    """One language's per-example statistics as columns: language, example_id (as str), the statistics.
    Plain lists: one DataFrame is built per task, not per language (thousands of tiny evaluations in the
    rehearsal made the per-language frames a tenth of a target run's time)."""
    stats = result.per_example_stats
    stats = stats.to_dict("list") if hasattr(stats, "to_dict") else dict(stats)
    stats = {k: (v.tolist() if hasattr(v, "tolist") else list(v)) for k, v in stats.items()}
    ids = stats["example_id"] if "example_id" in stats else stats["id"]
    columns = {"language": [language] * len(ids), "example_id": [str(i) for i in ids]}
    columns.update({c: stats[c] for c in TARGET_STAT_COLUMNS if c in stats})
    return columns


def _task_frame(benchmark: str, task_name: str, per_language: list[dict[str, list]]) -> pd.DataFrame:
    """The per-example table of one registry entry: its languages' columns stacked."""
    if len({tuple(c) for c in per_language}) > 1:  # statistics differing by language: align them in pandas
        frame = pd.concat([pd.DataFrame(c) for c in per_language], ignore_index=True)
    else:
        frame = pd.DataFrame({k: [x for c in per_language for x in c[k]] for k in per_language[0]})
    frame.insert(0, "task", task_name)
    frame.insert(0, "benchmark", benchmark)
    return frame


def run_target(s, run, run_dir: Path, encoder: str, world_dir: Path | None) -> dict:
    """Train (unless eval-only or borrowing an encoder), evaluate every language, write every table."""
    tasks = [get_task(k) for k in run.spec["tasks"]]
    trained = [t for t in tasks if t.train_schedule != "none"]
    fit = None
    if run.spec.get("train") is not None:
        fit = _finetune(s, run, run_dir, encoder, trained[0], world_dir)
        if rank() not in (None, 0):
            return {}  # a sharded run: every rank trains, rank 0 evaluates and writes
        model_dir = str(run_dir)
    else:
        model_dir = encoder  # BUCC, XTREME Tatoeba: the parent encoder, untouched
    only = run.spec.get("eval_languages")
    by_name: dict[str, list] = {}  # entries of one task (both benchmarks) are evaluated once
    for task in tasks:
        by_name.setdefault(task.name, []).append(task)
    frames, score_rows, union = [], [], set()
    for name, entries in by_name.items():
        languages = list(dict.fromkeys(lang for t in entries for lang in test_languages(t, world_dir, only)))
        union |= set(languages)
        results = _evaluate(s, entries[0], model_dir, languages, world_dir, run_dir / "eval" / name)
        _write_submission(results, entries[0], run_dir / "submission", world_dir, s.profile["max_examples"])
        for task in entries:
            bench = task.benchmarks[0]
            per_language = []
            for lang in test_languages(task, world_dir, only):
                columns = _stats_columns(results[lang], lang)
                per_language.append(columns)
                metrics = score_from_stats({c: columns[c] for c in TARGET_STAT_COLUMNS if c in columns})
                score_rows.append(
                    {
                        "benchmark": bench,
                        "task": task.name,
                        "language": lang,
                        "metric": task.metric,
                        "score": metrics.get("score", float("nan")),
                        "chance": chance_score(task, lang, world_dir, s.profile["max_examples"]),
                    }
                )
            if per_language:
                frames.append(_task_frame(bench, task.name, per_language))
    examples = pd.concat(frames, ignore_index=True)
    examples.to_parquet(run_dir / "examples.parquet", index=False)
    scores = pd.DataFrame(score_rows)
    scores.to_csv(run_dir / "scores.csv", index=False)
    summary = {
        "model": run.spec["model"],
        "arm": run.spec["arm"],
        "protocol": run.spec["protocol"],
        "seed": run.spec["seed_index"],
        "mean_score": round(float(scores["score"].mean()), 3),
        "languages": len(union),
    }
    if fit is not None:
        summary.update(
            dev_score=fit.best_score,
            best_step=fit.best_step,
            steps=fit.steps,
            seconds=round(fit.train_seconds, 2),
            world_size=fit.world_size,
            resumed_from_step=fit.resumed_from_step,
        )
        if not s.profile["keep_checkpoints"]:  # its evaluation is written: the encoder is not needed again
            drop_checkpoints(run_dir)
    return summary


def run_pilot(s, run, run_dir: Path, encoder: str, world_dir: Path | None) -> dict:
    """A learning-rate pilot run (xstilts.study.lr_pilot): fine-tune the `none` arm as a target run would,
    then score the selected checkpoint once on the task's whole English dev set; no test data is read."""
    from xstilts.engine.predict import zero_shot_eval

    lead = get_task(run.spec["tasks"][0])
    fit = _finetune(s, run, run_dir, encoder, lead, world_dir)
    if rank() not in (None, 0):
        return {}  # a sharded run: every rank trains, rank 0 evaluates and writes
    dev = load_split(lead, "dev", "en", world_dir, s.profile["max_examples"])
    result = zero_shot_eval(str(run_dir), lead, {"en": dev})["en"]
    columns = _stats_columns(result, "en")
    score = score_from_stats({c: columns[c] for c in TARGET_STAT_COLUMNS if c in columns}).get("score")
    drop_checkpoints(run_dir)  # a pilot's encoder is never read again
    return {
        "model": run.spec["model"],
        "protocol": run.spec["protocol"],
        "grid_lr": run.spec["grid_lr"],
        "lr": run.spec["train"]["lr"],
        "seed": run.spec["seed_index"],
        "metric": lead.metric,
        "dev_score": None if score is None else round(float(score), 4),
        "dev_examples": len(columns["example_id"]),
        "selection_dev_score": fit.best_score,
        "best_step": fit.best_step,
        "steps": fit.steps,
        "seconds": round(fit.train_seconds, 2),
        "world_size": fit.world_size,
        "resumed_from_step": fit.resumed_from_step,
    }


CHECKPOINT_FILES = ("encoder", "heads.safetensors")  # what a trained run keeps to be loaded again


def drop_checkpoints(run_dir: Path) -> None:
    """Delete a trained target run's checkpoints (its encoder and heads, and those of XCOPA's first stage),
    keeping its predictions, per-example statistics, submission files and training logs."""
    for folder in [run_dir, *sorted(run_dir.glob("step*-*/"))]:
        for name in CHECKPOINT_FILES:
            target = folder / name
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)


def _write_submission(results: dict, task, folder: Path, world_dir, cap: int | None) -> None:
    """Test predictions in the official layout `<task>/test-<lang>.<ext>` (xstilts.benchmarks.submission)."""
    for lang, res in results.items():
        data = load_split(task, "test", lang, world_dir, cap)
        ids = list(data.query_ids) if isinstance(data, F.RetrievalSet) else data["id"][:]
        try:
            write_predictions(folder, task.name, lang, res.predictions, task=task, ids=ids)
        except (TypeError, ValueError, KeyError) as err:  # a format the official layout cannot hold
            log.warning("no official submission file for %s/%s: %s", task.name, lang, err)


def collect(store, target_runs, params: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The target runs as two tables: scores (one row per cell) and per-example statistics; every run must
    be complete. `params`: the parameter count of each model name (the x axis of every slope)."""
    score_frames, example_frames = [], []
    for run in target_runs:
        if not store.is_complete(run):
            raise FileNotFoundError(f"target run {run.id} is not complete: its results cannot be read")
        run_dir = store.path(run)
        meta = {
            "model": run.spec["model"],
            "params": params[run.spec["model"]],
            "arm": run.spec["arm"],
            "seed": run.spec["seed_index"],
            "run": run.id,
        }
        scores = pd.read_csv(run_dir / "scores.csv")
        examples = pd.read_parquet(run_dir / "examples.parquet")
        for key, value in meta.items():
            scores[key] = value
            if key != "model" and key != "run":
                examples[key] = value
        score_frames.append(scores)
        example_frames.append(examples)
    if not score_frames:
        raise ValueError("no target runs to collect")
    scores = pd.concat(score_frames, ignore_index=True)
    scores = scores[
        ["benchmark", "task", "language", "model", "params", "arm", "seed", "metric", "score", "chance", "run"]
    ]
    examples = pd.concat(example_frames, ignore_index=True)
    front = ["benchmark", "task", "language", "params", "arm", "seed", "example_id"]
    examples = examples[front + [c for c in examples.columns if c not in front]]
    return scores, examples
