"""From a per-example score table to per-(task, language) cell summaries the bootstrap works on.

A score table has one row per test example per run: `benchmark, task, language, params, arm, seed,
example_id` plus the sufficient-statistic columns of the task's metric (docs/statistics.md §0.1):

- accuracy (XNLI, PAWS-X, XCOPA, Tatoeba acc@1): `correct` (0/1);
- span F1 (UD-POS, PAN-X seqeval; BUCC per source sentence): `tp, n_pred, n_gold`;
- QA (XQuAD, MLQA, TyDiQA-GoldP): `em, f1` (0-1 per question), scored as (EM + F1) / 2;
- mAP@20 (Mewsli-X, LAReQA): `ap` (AP@20 per query).

Every metric except span F1 is a mean over examples, so those collapse to one per-example value in
points (`MEAN`); span F1 keeps the three counts (`F1`). A cell is one (task, language) test set seen
by every system (params, arm) through its seeds. A task both benchmarks share appears once per
benchmark in the table; when the two copies are identical (the same runs scored on the same examples)
they become ONE cell, so every statistic of both benchmarks is computed from one set of numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xstilts.benchmarks import metrics
from xstilts.benchmarks.official import BENCHMARKS
from xstilts.benchmarks.registry import ARM_NONE

KEY_COLUMNS = ("benchmark", "task", "language", "params", "arm", "seed", "example_id")
BASELINE_ARM = ARM_NONE
PROTOCOL_SPECIFIC = ("tatoeba",)  # same name in both benchmarks, different protocol (docs/statistics.md §2.4)
MEAN, F1 = "mean", "f1"  # how a cell reduces: a mean of per-example points, or summed span counts
# the statistic columns of each kind a target task can have (xstilts.benchmarks.metrics)
STAT_COLUMNS = {kind: metrics.STATS_COLUMNS[kind] for kind in (metrics.ACCURACY, metrics.F1, metrics.QA, metrics.MAP20)}
ALL_STAT_COLUMNS = metrics.TARGET_STAT_COLUMNS


@dataclass
class CellSummary:
    """One (task, language) test set: what the bootstrap needs from every run scored on it.

    `stats` holds the seed-averaged per-example statistic of each system, shape (n, J) for MEAN cells
    (points) or (n, J, 3) for F1 cells (tp, n_pred, n_gold). `run_scores[j]` are the cell scores of
    system j's runs (points), `seeds[j]` their seed labels; `within_var[j]` is the sampling variance of
    ONE run's score that is specific to that run (run x example interaction, see `within_run_variance`).
    """

    task: str
    language: str
    benchmarks: tuple[str, ...]
    kind: str
    example_ids: np.ndarray
    systems: np.ndarray  # (J,) indices into the table's system list
    stats: np.ndarray  # (n, J) or (n, J, 3), float32
    run_scores: list[np.ndarray]  # J arrays (R_j,)
    seeds: list[tuple]  # J tuples of seed labels
    within_var: np.ndarray  # (J,)
    example_key: str = ""  # same key = same test examples: drawn once for every cell sharing it

    @property
    def n(self) -> int:
        return int(self.stats.shape[0])

    @property
    def mean_scores(self) -> np.ndarray:
        """Seed-mean score ybar per system (points): the quantity every estimand is linear in."""
        return np.array([r.mean() for r in self.run_scores])


@dataclass
class CellTable:
    """All cells of a table plus the design they span."""

    systems: list[tuple[float, str]]  # (params, arm), sorted
    cells: list[CellSummary]
    lookup: dict[tuple[str, str, str], int]  # (benchmark, task, language) -> cell index
    bench_tasks: dict[str, dict[str, list[str]]]  # benchmark -> task -> languages
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> list[float]:
        return sorted({p for p, _ in self.systems})

    @property
    def arms(self) -> list[str]:
        return sorted({a for _, a in self.systems})

    def system_index(self) -> dict[tuple[float, str], int]:
        return {s: j for j, s in enumerate(self.systems)}


def f1_points(tp, n_pred, n_gold):
    """Span F1 in points from summed counts, 0 where there is nothing to predict or find."""
    den = np.asarray(n_pred, dtype=np.float64) + np.asarray(n_gold, dtype=np.float64)
    return np.where(den > 0, 200.0 * np.asarray(tp, dtype=np.float64) / np.where(den > 0, den, 1.0), 0.0)


def run_score(stats: np.ndarray, kind: str) -> np.ndarray:
    """Cell score of each run from its per-example statistics: stats (..., n) or (..., n, 3)."""
    if kind == MEAN:
        return stats.mean(axis=-1, dtype=np.float64)
    tot = stats.sum(axis=-2, dtype=np.float64)
    return f1_points(tot[..., 0], tot[..., 1], tot[..., 2])


def pseudo_values(runs: np.ndarray, kind: str) -> np.ndarray:
    """Per-example values whose mean is each run's score, (..., R, n): the score itself for MEAN cells,
    the linearised (influence-function) contribution of each sentence for span F1."""
    if kind == MEAN:
        return runs.astype(np.float64)
    n = runs.shape[-2]
    tot = runs.sum(axis=-2, dtype=np.float64)  # (..., R, 3)
    f1 = f1_points(tot[..., 0], tot[..., 1], tot[..., 2])  # (..., R)
    den = np.maximum(tot[..., 1] + tot[..., 2], 1e-12)
    tp = runs[..., 0].astype(np.float64)
    npg = runs[..., 1].astype(np.float64) + runs[..., 2]
    return f1[..., None] + n * (200.0 * tp - f1[..., None] * npg) / den[..., None]


def within_run_variance(runs: np.ndarray, kind: str) -> np.ndarray | float:
    """Variance of one run's score due to the run x example interaction: the two-way ANOVA residual
    mean square of the per-example values (runs x examples, both main effects removed), divided by n.
    `runs` is (R, n[, 3]) or stacked (G, R, n[, 3]) for G systems with the same R.

    This is the part of the between-seed spread of run scores that the example resampling already
    carries (through the seed-averaged examples), so the seed component must not count it again. The
    residual mean square equals statsmodels' `anova_lm` residual MS of `y ~ C(run) + C(example)`
    (tests/test_stats_inference.py checks this)."""
    z = pseudo_values(runs, kind)
    R, n = z.shape[-2], z.shape[-1]
    if R < 2 or n < 2:
        return np.zeros(z.shape[:-2]) if z.ndim > 2 else 0.0
    e = z - z.mean(axis=-2, keepdims=True) - z.mean(axis=-1, keepdims=True) + z.mean(axis=(-2, -1), keepdims=True)
    out = (e * e).sum(axis=(-2, -1)) / ((R - 1) * (n - 1)) / n
    return out if z.ndim > 2 else float(out)


def summarise_cell(
    task: str,
    language: str,
    benchmarks: tuple[str, ...],
    kind: str,
    example_ids: np.ndarray,
    systems: np.ndarray,
    runs: list[np.ndarray],
    seeds: list[tuple],
) -> CellSummary:
    """Reduce per-run per-example arrays (runs[j]: (R_j, n) or (R_j, n, 3), points for MEAN) to a cell."""
    n = len(example_ids)
    shape = (n, len(systems)) if kind == MEAN else (n, len(systems), 3)
    stats = np.empty(shape, dtype=np.float32)
    scores: list = [None] * len(systems)
    wvar = np.empty(len(systems))
    by_r: dict[int, list[int]] = {}
    for j, r in enumerate(runs):
        by_r.setdefault(r.shape[0], []).append(j)
    for _R, js in by_r.items():
        stack = np.stack([runs[j] for j in js])  # (G, R, n[, 3])
        stats[:, js] = np.moveaxis(stack.mean(axis=1, dtype=np.float64), 0, 1)
        sc = run_score(stack, kind)  # (G, R)
        wv = within_run_variance(stack, kind)
        for g, j in enumerate(js):
            scores[j] = sc[g]
            wvar[j] = wv[g]
    return CellSummary(
        task,
        language,
        benchmarks,
        kind,
        np.asarray(example_ids),
        np.asarray(systems),
        stats,
        scores,
        list(seeds),
        wvar,
        example_key=_example_key(task, language, example_ids),
    )


def _example_key(task: str, language: str, example_ids) -> str:
    h = hashlib.blake2b(digest_size=8)
    for e in example_ids:
        h.update(str(e).encode())
        h.update(b"\0")
    return f"{task}/{language}/{h.hexdigest()}"


def statistic_kind(df: pd.DataFrame, where: str) -> tuple[str, tuple[str, ...]]:
    """Which metric family a task's rows use: the one whose statistic columns are all non-null."""
    present = [
        fam
        for fam, cols in STAT_COLUMNS.items()
        if all(c in df.columns for c in cols) and df[list(cols)].notna().all().all()
    ]
    if len(present) == 2 and set(present) == {metrics.ACCURACY, metrics.MAP20}:
        present = present[:1]
    if len(present) != 1:
        partial = [c for c in ALL_STAT_COLUMNS if c in df.columns and df[c].notna().any()]
        raise ValueError(
            f"{where}: cannot tell the metric from the statistic columns; non-null columns "
            f"{partial}, expected exactly one complete set of {dict(STAT_COLUMNS)}"
        )
    return present[0], STAT_COLUMNS[present[0]]


def check_table(table: pd.DataFrame) -> pd.DataFrame:
    """Validate the columns and values a score table must have; return it with normalised dtypes."""
    missing = [c for c in KEY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"score table lacks column(s) {missing}; expected {list(KEY_COLUMNS)} plus statistic "
            f"columns {list(ALL_STAT_COLUMNS)}"
        )
    bad = sorted(set(table["benchmark"].unique()) - set(BENCHMARKS))
    if bad:
        raise ValueError(f"column 'benchmark' has {bad}; expected values in {list(BENCHMARKS)}")
    df = table.copy()
    for c in ("benchmark", "task", "language", "arm", "example_id"):
        df[c] = df[c].astype(str)
    df["params"] = pd.to_numeric(df["params"], errors="raise").astype(float)
    if (df["params"] <= 0).any():
        raise ValueError("column 'params' must hold positive parameter counts (x = log10 params)")
    return df


def cells_from_table(table: pd.DataFrame) -> CellTable:
    """Group a score table into cells, merging the two benchmarks' copies of a cell when identical."""
    df = check_table(table)
    systems = sorted(
        {(float(p), str(a)) for p, a in df[["params", "arm"]].drop_duplicates().itertuples(index=False)},
        key=lambda s: (s[0], s[1] != BASELINE_ARM, s[1]),
    )
    sys_index = {s: j for j, s in enumerate(systems)}
    kinds: dict[tuple[str, str], str] = {}
    for (bench, task), g in df.groupby(["benchmark", "task"], sort=True):
        kinds[(bench, task)] = statistic_kind(g, f"benchmark={bench!r} task={task!r}")[0]

    per_bench: dict[tuple[str, str, str], CellSummary] = {}
    for (bench, task, lang), g in df.groupby(["benchmark", "task", "language"], sort=True):
        fam = kinds[(bench, task)]
        per_bench[(bench, task, lang)] = _cell_from_rows(g, bench, task, lang, fam, sys_index)

    cells: list[CellSummary] = []
    lookup: dict[tuple[str, str, str], int] = {}
    notes: list[str] = []
    for key, cell in per_bench.items():
        bench, task, lang = key
        other = ("xtreme-r" if bench == "xtreme" else "xtreme", task, lang)
        if other in lookup and _same_cell(cells[lookup[other]], cell):
            idx = lookup[other]
            cells[idx].benchmarks = tuple(sorted(set(cells[idx].benchmarks) | {bench}))
        else:
            if other in lookup and task not in PROTOCOL_SPECIFIC:
                notes.append(
                    f"{task}/{lang}: the XTREME and XTREME-R copies differ; scored as separate cells "
                    f"(test examples still drawn jointly where their ids coincide)"
                )
            idx = len(cells)
            cells.append(cell)
        lookup[key] = idx
    bench_tasks: dict[str, dict[str, list[str]]] = {}
    for bench, task, lang in sorted(lookup):
        bench_tasks.setdefault(bench, {}).setdefault(task, []).append(lang)
    return CellTable(systems, cells, lookup, bench_tasks, notes)


def _cell_from_rows(g: pd.DataFrame, bench, task, lang, family, sys_index) -> CellSummary:
    where = f"benchmark={bench!r} task={task!r} language={lang!r}"
    ex_codes, ex_ids = pd.factorize(g["example_id"], sort=True)
    n = len(ex_ids)
    kind = F1 if family == metrics.F1 else MEAN
    vals = metrics.example_points(g, family)
    run_keys = list(zip(g["params"].to_numpy(), g["arm"].to_numpy(), g["seed"].to_numpy()))
    run_codes, run_uniques = pd.factorize(pd.Series(run_keys, dtype=object), sort=False)
    counts = np.bincount(run_codes * n + ex_codes, minlength=len(run_uniques) * n)
    if counts.max() > 1:
        r, e = divmod(int(np.argmax(counts)), n)
        raise ValueError(f"{where}: run {run_uniques[r]} has example_id {ex_ids[e]!r} more than once")
    if counts.min() == 0:
        r, e = divmod(int(np.argmin(counts)), n)
        raise ValueError(
            f"{where}: run (params, arm, seed)={run_uniques[r]} lacks example_id {ex_ids[e]!r}; "
            f"every run must score every test example of the cell"
        )
    arr = np.empty((len(run_uniques), n) + (() if kind == MEAN else (3,)), dtype=np.float64)
    arr[run_codes, ex_codes] = vals
    by_system: dict[int, list[int]] = {}
    for r, (p, a, _s) in enumerate(run_uniques):
        by_system.setdefault(sys_index[(float(p), str(a))], []).append(r)
    systems = np.array(sorted(by_system))
    runs, seeds = [], []
    for j in systems:
        order = sorted(by_system[j], key=lambda r: str(run_uniques[r][2]))
        runs.append(arr[order])
        seeds.append(tuple(run_uniques[r][2] for r in order))
    return summarise_cell(task, lang, (bench,), kind, np.asarray(ex_ids), systems, runs, seeds)


def _same_cell(a: CellSummary, b: CellSummary) -> bool:
    return (
        a.kind == b.kind
        and a.example_key == b.example_key
        and np.array_equal(a.systems, b.systems)
        and a.seeds == b.seeds
        and np.array_equal(a.stats, b.stats)
        and all(np.array_equal(x, y) for x, y in zip(a.run_scores, b.run_scores))
    )
