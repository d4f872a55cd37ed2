"""The phase reports' figures: learning curves and per-language scores (the analysis draws its own,
xstilts.analysis.figures). Each function saves a PNG under `outputs/<profile>/figures/` and returns it as a
report `Figure` with its alt text."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from xstilts.reports.display import Figure, Note  # noqa: E402


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _save(fig, s, name: str, alt: str, caption: str = "") -> Figure:
    path = s.figures_dir / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Figure(path, alt, caption)


def plot_pretraining(s, runs):
    """Masked-LM loss against steps, one line per model size."""
    rows = []
    for run in runs:
        if run.prefix == "tokenizer" or "hub" in run.spec:
            continue
        for rec in _jsonl(s.store.path(run) / "model" / "pretrain_log.jsonl"):
            rows.append({"model": run.prefix.removeprefix("mlm-"), "step": rec["step"], "MLM loss": rec["loss"]})
    if not rows:
        return Note("No pretraining curves: hub checkpoints are not pretrained here.")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.lineplot(pd.DataFrame(rows), x="step", y="MLM loss", hue="model", ax=ax)
    ax.set_title("Masked-LM pretraining")
    return _save(
        fig,
        s,
        "pretraining_loss",
        "Line chart of the masked-LM training loss against the optimiser step, one line per model size.",
    )


def plot_lr_pilot(s, wide: pd.DataFrame, protocols: list[str], chosen: dict[str, float]):
    """English-dev score against the grid lr (log scale), a panel per size: a line per pilot protocol and
    their mean, the chosen lr circled. `wide`: a row per (model, grid_lr), a column per protocol and `mean`."""
    models = list(dict.fromkeys(wide["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.2), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = wide[wide["model"] == model]
        for protocol in protocols:
            ax.plot(rows["grid_lr"], rows[protocol], marker="o", alpha=0.6, label=protocol)
        ax.plot(rows["grid_lr"], rows["mean"], color="black", linewidth=2, marker="s", label="mean")
        pick = rows[rows["grid_lr"] == chosen.get(model)]
        ax.scatter(pick["grid_lr"], pick["mean"], s=180, facecolors="none", edgecolors="red", zorder=5)
        ax.set_xscale("log")
        grid = sorted(rows["grid_lr"])
        ax.set_xticks(grid, [f"{x:g}" for x in grid], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{model}: lr {chosen.get(model, float('nan')):g}")
        ax.set_xlabel("learning rate")
    axes[0][0].set_ylabel("English dev score")
    axes[0][-1].legend(fontsize=7)
    return _save(
        fig,
        s,
        "lr_pilot",
        "Line charts, one per model size, of the English dev score against the learning rate on a log axis: a "
        "line per pilot protocol and a black line for their mean; the chosen learning rate is circled in red.",
    )


def plot_dev_curves(s, runs):
    """English dev score (the model-selection metric) against steps, per run."""
    rows = []
    for run in runs:
        if not s.store.is_complete(run):
            continue
        for rec in _jsonl(s.store.path(run) / "train_log.jsonl"):
            if "score" in rec and "eval" in rec:
                arm = run.spec.get("arm", "")
                rows.append(
                    {
                        "model": run.prefix.removesuffix(f"-{arm}"),
                        "arm": arm,
                        "step": rec["step"],
                        "English dev": rec["score"],
                    }
                )
    if not rows:
        return Note("No English dev evaluations were logged in this phase.")
    frame = pd.DataFrame(rows)
    grid = sns.relplot(
        frame,
        x="step",
        y="English dev",
        hue="model",
        col="arm",
        kind="line",
        height=2.8,
        col_wrap=min(4, frame["arm"].nunique()),
        facet_kws={"sharey": False},
    )
    grid.figure.suptitle("English dev score during intermediate training (model selection)", y=1.02)
    return _save(
        grid.figure,
        s,
        f"dev_curves_{s.phase}",
        f"Small multiples, one panel per arm: the English dev score "
        f"(the model-selection metric) against the step of {s.phase} training, one line per model size.",
    )


def plot_languages(s, scores: pd.DataFrame):
    """Zero-shot score per language and model size (no-intermediate arm), one panel per task."""
    base = scores[scores["arm"] == "none"]
    if base.empty:
        base = scores
    table = base.groupby(["benchmark", "task", "language", "params"], as_index=False)["score"].mean()
    panels = table.groupby(["benchmark", "task"])
    n = len(panels)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax, ((bench, task), frame) in zip(axes.flat, panels):
        pivot = frame.pivot(index="params", columns="language", values="score").sort_index()
        pivot.index = [f"{p / 1e6:.2f}M" for p in pivot.index]
        sns.heatmap(pivot, ax=ax, vmin=0, vmax=100, cmap="viridis", cbar=False, annot=pivot.shape[1] <= 8, fmt=".0f")
        ax.set_title(f"{bench} {task}", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("params")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("Zero-shot score by language and model size (arm: none)")
    return _save(
        fig,
        s,
        "languages_by_size",
        "Heatmaps, one per target task: zero-shot score (0-100) of the `none` "
        "arm for each test language (columns) and model size (rows), averaged over seeds.",
    )
