"""The figures of the analysis (docs/statistics.md §8), drawn from the estimates table `xstilts analyze` writes.

Every function takes the estimates DataFrame (columns estimand, arm, estimate, ci_low, ci_high, p_value,
params) and a path, draws one PNG with seaborn/matplotlib, and returns the path. Gains are in metric
points, slopes in points per decade of parameters.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

BENCH_LABEL = {"xtreme": "XTREME", "xtreme-r": "XTREME-R", "core": "common core"}
BENCH_COLOR = {"xtreme": "#1f77b4", "xtreme-r": "#d62728", "core": "#7f7f7f"}
# intermediate -> targets that train on the same data (docs/statistics.md §2.4): hatched in heatmaps
SAME_DATA = {
    ("mnli", "xnli"),
    ("squad", "xquad"),
    ("squad", "mlqa"),
    ("squad", "tatoeba@xtreme-r"),
    ("squad", "lareqa"),
}


# What each figure of the analysis shows, for the report's alt text (keyed by the PNG's file name).
ALT = {
    "scaling_curves": "Line charts of the benchmark gain (points over `none`) against log10 parameters, one line per "
    "benchmark with its bootstrap band, one panel per confirmatory arm, beside the `none` baseline score.",
    "forest_gains": "Forest plot: the gain over `none` with its 95% interval per target task (rows) and model size "
    "(markers), one panel per confirmatory arm, with the two benchmarks' aggregates at the bottom.",
    "intermediate_target_heatmap": "Heatmaps of the gain over `none` per intermediate arm (rows) and target (columns), one "
    "panel per model size on one colour scale, and the slope per (arm, target).",
    "language_heatmap": "Heatmaps of the per-language gain over `none`, one panel per target: languages as rows, model "
    "sizes as columns.",
    "interaction_decomposition": "Bar chart of the benchmark interaction γ and its parts (unique tasks, added languages, "
    "task weights) with 95% intervals, per confirmatory arm.",
}


def error_bars(est) -> list:
    """Bar lengths below and above each estimate, to its interval's ends. A bootstrap percentile interval
    need not contain the point estimate (a skewed or degenerate bootstrap distribution: few seeds, scores at
    a bound), and matplotlib refuses a negative length: such a side is drawn with length 0."""
    return [np.clip(est.estimate - est.ci_low, 0, None), np.clip(est.ci_high - est.estimate, 0, None)]


def size_label(p: float) -> str:
    return (
        f"{p / 1e9:.3g}B"
        if p >= 1e9
        else f"{p / 1e6:.3g}M"
        if p >= 1e6
        else f"{p / 1e3:.3g}k"
        if p >= 1e3
        else f"{p:g}"
    )


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _heat(ax, m: pd.DataFrame, cmap: str, lim: float, annot: bool = False, cbar_label: str | None = None):
    """A heatmap drawn with imshow (seaborn's heatmap redraws the whole figure once per panel)."""
    im = ax.imshow(
        m.to_numpy(float),
        cmap=cmap,
        vmin=-lim,
        vmax=lim,
        aspect="auto",
        interpolation="nearest",
        extent=(0, m.shape[1], m.shape[0], 0),
    )
    ax.set_xticks(np.arange(m.shape[1]) + 0.5, [str(c) for c in m.columns], rotation=90)
    ax.set_yticks(np.arange(m.shape[0]) + 0.5, [str(i) for i in m.index])
    if annot:
        for (i, j), v in np.ndenumerate(m.to_numpy(float)):
            if np.isfinite(v):
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    f"{v:.1f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if abs(v) > 0.6 * lim else "black",
                )
    if cbar_label:
        ax.figure.colorbar(im, ax=ax, label=cbar_label, fraction=0.04)
    return im


def _empty(path: Path, message: str) -> Path:
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return _save(fig, path)


def _split_task(name: str) -> tuple[str, str]:
    """'task_gain_xtreme-r:xnli' -> ('xtreme-r', 'xnli')."""
    head, task = name.split(":", 1)
    return head.rsplit("_", 1)[-1], task


def forest_plot(est: pd.DataFrame, path: Path, arms=("mean_single", "multitask")) -> Path:
    """Task gains with 95% CIs, one dodged marker per size (light to dark), benchmark gains at the bottom."""
    tg = est[est.estimand.str.startswith("task_gain_")].copy()
    arms = [a for a in arms if a in set(tg.arm)]
    if tg.empty or not arms:
        return _empty(path, "no task gains to plot (needs the `none` arm and a confirmatory arm)")
    tg[["bench", "task"]] = pd.DataFrame([_split_task(n) for n in tg.estimand], index=tg.index)
    tasks_by = {b: set(tg[tg.bench == b].task) for b in ("xtreme", "xtreme-r")}
    shared = (tasks_by["xtreme"] & tasks_by["xtreme-r"]) - {"tatoeba"}

    def group(row):
        if row.task in shared:
            return 0 if row.bench == "xtreme" else 1
        return 2 if row.bench == "xtreme" else 3

    tg["group"] = tg.apply(group, axis=1)
    tg["row"] = tg.task + np.where(
        tg.task.isin(shared),
        np.where(tg.bench == "xtreme", " (XTREME langs)", " (XTREME-R langs)"),
        np.where(tg.bench == "xtreme", " [XTREME]", " [XTREME-R]"),
    )
    bg = est[est.estimand == "benchmark_gain"].copy()
    bg["row"] = "G " + bg.benchmark.map(BENCH_LABEL)
    bg["group"] = 4
    data = pd.concat([tg, bg], ignore_index=True)
    rows = data.sort_values(["group", "row"]).row.drop_duplicates().tolist()
    sizes = sorted(data.params.dropna().unique())
    colors = sns.color_palette("Blues", len(sizes) + 1)[1:]
    fig, axes = plt.subplots(
        1, len(arms), figsize=(5.5 * len(arms), 0.32 * len(rows) + 1.5), sharey=True, squeeze=False
    )
    for ax, arm in zip(axes[0], arms):
        d = data[data.arm == arm]
        for k, (s, c) in enumerate(zip(sizes, colors)):
            ds = d[d.params == s]
            y = np.array([rows.index(r) for r in ds.row]) + (k - (len(sizes) - 1) / 2) * 0.8 / max(len(sizes), 1)
            marker = np.where(ds.group == 4, "D", "o")
            for m in ("o", "D"):
                sel = marker == m
                ax.errorbar(
                    ds.estimate[sel],
                    y[sel],
                    xerr=error_bars(ds[sel]),
                    fmt=m,
                    color=c,
                    ms=4 if m == "o" else 6,
                    lw=1,
                    label=size_label(s) if m == "o" else None,
                )
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"gain over `none`: {arm}")
        ax.set_xlabel("Δ (points, 95% CI)")
        ax.set_yticks(range(len(rows)), rows)
        ax.invert_yaxis()
    axes[0][0].legend(title="params", loc="lower left", fontsize=8)
    return _save(fig, path)


def scaling_plot(est: pd.DataFrame, path: Path, arms=("mean_single", "multitask")) -> Path:
    """G_B against log10 params with 95% bands per benchmark (and the common core); baseline side panel."""
    arms = [a for a in arms if a in set(est.arm)]
    fig, axes = plt.subplots(1, len(arms) + 1, figsize=(4.8 * (len(arms) + 1), 3.8), squeeze=False)
    for ax, arm in zip(axes[0], arms):
        for bench in ("xtreme", "xtreme-r", "core"):
            if bench == "core":
                d = est[(est.estimand == "core_gain") & (est.arm == arm)].sort_values("params")
            else:
                d = est[(est.estimand == "benchmark_gain") & (est.benchmark == bench) & (est.arm == arm)].sort_values(
                    "params"
                )
            if d.empty:
                continue
            x = np.log10(d.params.to_numpy(float))
            sl = est[(est.estimand == f"slope_{bench}") & (est.arm == arm)]
            lab = BENCH_LABEL[bench]
            if not sl.empty:
                r = sl.iloc[0]
                lab += f": β={r.estimate:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
            ax.plot(x, d.estimate, marker="o", color=BENCH_COLOR[bench], label=lab, ls="--" if bench == "core" else "-")
            ax.fill_between(x, d.ci_low, d.ci_high, color=BENCH_COLOR[bench], alpha=0.15)
        g = est[(est.estimand == "interaction") & (est.arm == arm)]
        title = f"benchmark gain: {arm}"
        if not g.empty:
            r = g.iloc[0]
            title += f"\nγ={r.estimate:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] pts/decade"
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel("log10 params")
        ax.set_ylabel("G (points)")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    for bench in ("xtreme", "xtreme-r"):
        d = est[est.estimand == f"baseline_{bench}"].sort_values("params")
        if d.empty:
            continue
        x = np.log10(d.params.to_numpy(float))
        ax.plot(x, d.estimate, "o-", color=BENCH_COLOR[bench], label=BENCH_LABEL[bench])
        ax.fill_between(x, d.ci_low, d.ci_high, color=BENCH_COLOR[bench], alpha=0.15)
    ax.set_title("baseline (`none`) score vs size", fontsize=10)
    ax.set_xlabel("log10 params")
    ax.set_ylabel("score (points)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def _target_label(bench: str, task: str) -> str:
    return f"{task}@{bench}" if task == "tatoeba" else task


def gain_heatmaps(est: pd.DataFrame, path: Path, task_slopes: pd.DataFrame | None = None) -> Path:
    """Intermediate x target Δ per size (same colour limits in every panel), plus the per-cell slope."""
    tg = est[est.estimand.str.startswith("task_gain_") & (est.arm != "mean_single")].copy()
    if tg.empty:
        return _empty(path, "no task gains to plot")
    tg[["bench", "task"]] = pd.DataFrame([_split_task(n) for n in tg.estimand], index=tg.index)
    # one column per target: shared tasks with XTREME-R's (larger) language list
    both = tg.groupby("task").bench.nunique()
    tg = tg[~((tg.task.map(both) == 2) & (tg.task != "tatoeba") & (tg.bench == "xtreme"))]
    tg["target"] = [_target_label(b, t) for b, t in zip(tg.bench, tg.task)]
    sizes = sorted(tg.params.dropna().unique())
    lim = float(np.nanmax(np.abs(tg.estimate))) or 1.0
    ts = est[est.estimand.str.startswith("task_slope_") & (est.arm != "mean_single")].copy()
    n_panels = len(sizes) + (1 if not ts.empty else 0)
    ncols = min(n_panels, 3)
    nrows = int(np.ceil(n_panels / ncols))
    arms = sorted(tg.arm.unique(), key=lambda a: (a == "multitask", a))
    group = {
        t: (0 if n == 2 and not t.startswith("tatoeba") else 1 if b == "xtreme" else 2)
        for t, n, b in zip(tg.target, tg.task.map(both), tg.bench)
    }
    targets = sorted(tg.target.unique(), key=lambda t: (group[t], t))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(0.6 * len(targets) * ncols + 2.5, (0.45 * len(arms) + 2.2) * nrows),
        squeeze=False,
        gridspec_kw={"hspace": 0.9, "wspace": 0.35},
    )
    for ax, s in zip(axes.flat, sizes):
        m = (
            tg[tg.params == s]
            .pivot_table(index="arm", columns="target", values="estimate")
            .reindex(index=arms, columns=targets)
        )
        _heat(ax, m, "RdBu_r", lim, annot=len(targets) <= 14, cbar_label="Δ (points)")
        _hatch_same_data(ax, arms, targets)
        ax.set_title(f"Δ at {size_label(s)} params")
        ax.set_xlabel("")
        ax.set_ylabel("")
    if not ts.empty:
        ts[["bench", "task"]] = pd.DataFrame([_split_task(n) for n in ts.estimand], index=ts.index)
        ts = ts[~((ts.task.map(both) == 2) & (ts.task != "tatoeba") & (ts.bench == "xtreme"))]
        ts["target"] = [_target_label(b, t) for b, t in zip(ts.bench, ts.task)]
        ax = axes.flat[len(sizes)]
        m = ts.pivot_table(index="arm", columns="target", values="estimate").reindex(index=arms, columns=targets)
        sl = float(np.nanmax(np.abs(m.to_numpy()))) or 1.0
        _heat(ax, m, "PuOr_r", sl, cbar_label="β (points/decade)")
        _hatch_same_data(ax, arms, targets)
        if task_slopes is not None and not task_slopes.empty:
            sig = task_slopes[task_slopes.p_bh < 0.05]
            for _, r in sig.iterrows():
                if r.arm in arms and r.target in targets:
                    ax.plot(targets.index(r.target) + 0.5, arms.index(r.arm) + 0.5, "k.", ms=6)
        ax.set_title("slope per (arm, target); dot: BH q < 0.05", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[n_panels:]:
        ax.axis("off")
    fig.suptitle(
        "Intermediate x target gains; targets: shared, XTREME-only, XTREME-R-only (hatched: same training data)",
        fontsize=10,
    )
    return _save(fig, path)


def _hatch_same_data(ax, arms, targets):
    for a, t in SAME_DATA:
        if a in arms and t in targets:
            ax.add_patch(
                plt.Rectangle((targets.index(t), arms.index(a)), 1, 1, fill=False, hatch="///", lw=0, edgecolor="0.3")
            )


def language_heatmap(est: pd.DataFrame, path: Path, arm: str = "mean_single") -> Path:
    """Per-language Δ for each target (rows languages, columns sizes); per-cell estimates, no tests."""
    lg = est[est.estimand.str.startswith("language_gain:") & (est.arm == arm)].copy()
    if lg.empty:
        return _empty(path, f"no per-language gains for arm {arm}")
    parts = lg.estimand.str.split(":", n=2, expand=True)
    lg["target"], lg["language"] = parts[1], parts[2]
    targets = sorted(lg.target.unique())
    lim = float(np.nanmax(np.abs(lg.estimate))) or 1.0
    ncols = min(len(targets), 5)
    nrows = int(np.ceil(len(targets) / ncols))
    max_l = lg.groupby("target").language.nunique().max()
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(2.6 * ncols, (0.2 * max_l + 1.2) * nrows + 0.5),
        squeeze=False,
        gridspec_kw={"hspace": 0.6, "wspace": 0.4},
    )
    for ax, t in zip(axes.flat, targets):
        d = lg[lg.target == t]
        m = d.pivot_table(index="language", columns="params", values="estimate")
        m.columns = [size_label(c) for c in m.columns]
        im = _heat(ax, m, "RdBu_r", lim)
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(targets) :]:
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.6, label="Δ (points)")
    fig.suptitle(f"Per-language Δ ({arm}); rows: languages, columns: sizes", fontsize=10)
    return _save(fig, path)


def decomposition_plot(est: pd.DataFrame, path: Path, arms=("mean_single", "multitask")) -> Path:
    """γ and its components (unique tasks, added languages, task weights) with 95% CIs."""
    names = [
        "interaction",
        "interaction_unique_tasks",
        "interaction_added_languages",
        "interaction_task_weights",
        "interaction_protocol",
    ]
    d = est[est.estimand.isin(names) & est.arm.isin(arms)].copy()
    if d.empty:
        return _empty(path, "γ and its decomposition need both benchmarks and >= 2 sizes")
    d["component"] = (
        d.estimand.str.replace("interaction_", "").str.replace("interaction", "γ (total)").str.replace("_", " ")
    )
    order = ["γ (total)", "unique tasks", "added languages", "task weights", "protocol"]
    order = [o for o in order if o in set(d.component)]
    arms = [a for a in arms if a in set(d.arm)]
    fig, ax = plt.subplots(figsize=(1.6 * len(order) * len(arms) / 1.5 + 2, 3.6))
    width = 0.8 / len(arms)
    pal = sns.color_palette("Set2", len(arms))
    for k, arm in enumerate(arms):
        da = d[d.arm == arm].set_index("component").reindex(order)
        x = np.arange(len(order)) + (k - (len(arms) - 1) / 2) * width
        ax.bar(x, da.estimate, width, color=pal[k], label=arm, yerr=error_bars(da), capsize=3)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(order)), order)
    ax.set_ylabel("points per decade of params")
    note = "" if "protocol" in order else " (protocol part: not estimable, shared cells identical)"
    ax.set_title("γ = β(XTREME-R) − β(XTREME) and its parts" + note, fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def calibration_plot(table: pd.DataFrame, path: Path, coverage_target=(0.93, 0.97), type_i_target=(0.03, 0.07)) -> Path:
    """Per design of the calibration grid: γ's 95% CI coverage and the type-I error at α = 0.05, each with its
    binomial 95% interval, per scheme and arm, against the target bands (xstilts.analysis.calibration)."""
    designs = list(dict.fromkeys(table.design))
    x0 = {d: i for i, d in enumerate(designs)}
    series = list(table.groupby(["scheme", "arm"], sort=False).groups)
    width = 0.8 / max(len(series), 1)
    colors = {
        s: c for s, c in zip(dict.fromkeys(table.scheme), ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"))
    }
    markers = {a: m for a, m in zip(dict.fromkeys(table.arm), ("o", "s", "^", "D"))}
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.75 * len(designs) + 2), 7.5), sharex=True)
    for ax, col, band, title in (
        (axes[0], "coverage", coverage_target, "coverage of the 95% interval of γ (γ ≠ 0)"),
        (axes[1], "type_i", type_i_target, "rejection of γ = 0 at α = 0.05 when γ = 0"),
    ):
        ax.axhspan(*band, color="0.9", zorder=0)
        ax.axhline(0.95 if col == "coverage" else 0.05, color="k", ls="--", lw=0.8)
        for k, (scheme, arm) in enumerate(series):
            g = table[(table.scheme == scheme) & (table.arm == arm)]
            x = np.array([x0[d] for d in g.design]) - 0.4 + width * (k + 0.5)
            ax.errorbar(
                x,
                g[col],
                yerr=[g[col] - g[f"{col}_low"], g[f"{col}_high"] - g[col]],
                fmt=markers[arm],
                color=colors[scheme],
                ms=4,
                lw=1,
                capsize=2,
                label=f"{scheme}, {arm}",
            )
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(col.replace("_", "-"))
    roles = dict(zip(table.design, table.role))
    axes[1].set_xticks(
        range(len(designs)), [f"{d}\n({roles[d]})" for d in designs], rotation=60, ha="right", fontsize=7
    )
    axes[0].legend(fontsize=7, ncol=2, loc="lower left")
    return _save(fig, path)
