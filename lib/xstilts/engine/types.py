"""Plain records passed in and out of the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.interrupt import Interrupted


@dataclass
class TaskData:
    """One training task: the registry's Task (``.key .name .format .labels .num_choices .metric``) and its
    English train and model-selection dev sets, in the canonical schemas of ``xstilts.benchmarks.formats``."""

    task: Any
    train: Any
    dev: Any = None


@dataclass
class FinetuneResult:
    out_dir: Path
    encoder_dir: Path
    best_step: int
    best_score: float | None  # selection metric (mean over tasks of the English dev metric), points
    best_scores: dict[str, float]  # per task key at the selected step
    steps: int  # optimiser steps run
    train_seconds: float
    examples_per_second: float
    train_cpu_seconds: float = 0.0  # process CPU time of the training loop (robust on a shared machine)
    world_size: int = 1  # processes that trained it
    resumed_from_step: int | None = None  # the resumable checkpoint this attempt started from; None: from scratch


class TrainingInterrupted(Interrupted):
    """A fine-tune stopped on SIGTERM or SIGUSR1 after saving a resumable checkpoint in ``resume_dir``; the
    same call again resumes it. A BaseException (``xstilts.interrupt``), not an Exception: callers that
    record an Exception as a failed run do not record an interruption as one."""

    def __init__(self, step: int, resume_dir: Path):
        super().__init__(f"fine-tune stopped by a signal at step {step}; its resumable checkpoint is in {resume_dir}")
        self.step, self.resume_dir = step, resume_dir


@dataclass
class EvalResult:
    """Predictions (one per example, official submission form), metrics in points and the per-example
    sufficient statistics (columns named as in the project glossary, plus ``example_id``)."""

    predictions: list
    metrics: dict[str, float]
    per_example_stats: dict[str, list] = field(default_factory=dict)
