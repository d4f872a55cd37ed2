"""The estimands of docs/statistics.md §3, each written as a linear combination of seed-mean cell scores.

Every quantity the study reports is linear in the seed-mean scores ybar(s, i, t, l): the gain
Δ(s,i,t,l) = ybar(s,i,t,l) - ybar(s,none,t,l); the task gain (language mean, per benchmark's language
list); the benchmark gain G_B(s,i) (uniform task mean, XTREME-style); the slope β_B(i) (OLS over
x = log10 params, points per decade); γ(i) = β_XTREME-R(i) - β_XTREME(i) and its exact decomposition
(docs/statistics.md §3.5) into unique-task, added-language and task-weight parts, plus a protocol part where the
two benchmarks score a shared task differently (its cells differ). So each estimand is a weight vector
over the columns (cell, system), and one bootstrap replicate of the cell scores gives every estimand
at once (`weight_matrix`). XTREME-R Tatoeba is a different protocol from XTREME Tatoeba (docs/statistics.md §2.4), so
Tatoeba counts as a unique task on both sides even when its test sentences coincide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from xstilts.analysis.cells import BASELINE_ARM, PROTOCOL_SPECIFIC, CellTable
from xstilts.benchmarks.official import XTREME, XTREME_R
from xstilts.benchmarks.registry import ARM_MULTITASK, INTERMEDIATE_NAMES

SINGLE_ARMS = INTERMEDIATE_NAMES  # the nine English intermediate tasks, each an arm
MULTITASK = ARM_MULTITASK
MEAN_SINGLE = "mean_single"  # the mean gain of the single arms present (a confirmatory "arm")
CONFIRMATORY_ARMS = (MEAN_SINGLE, MULTITASK)
DECOMPOSITION = ("interaction_unique_tasks", "interaction_added_languages", "interaction_task_weights")
DECOMPOSITION_ALL = DECOMPOSITION + ("interaction_protocol",)  # protocol: only where the shared cells differ

Weights = dict[int, float]


@dataclass
class Estimand:
    """One reported quantity: its name, arm, size (or None), column weights, and whether it is tested."""

    name: str
    arm: str
    params: float | None
    weights: Weights
    tested: bool = True


@dataclass
class Layout:
    """Column map of a CellTable: column (cell i, system j) -> position in the score vector."""

    table: CellTable
    offsets: np.ndarray = field(init=False)
    col: dict[tuple[int, int], int] = field(init=False)

    def __post_init__(self):
        sizes = [len(c.systems) for c in self.table.cells]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.col = {
            (i, int(j)): int(self.offsets[i] + k)
            for i, c in enumerate(self.table.cells)
            for k, j in enumerate(c.systems)
        }

    @property
    def n_columns(self) -> int:
        return int(self.offsets[-1])

    def score_vector(self) -> np.ndarray:
        """Observed seed-mean scores ybar for every column."""
        return np.concatenate([c.mean_scores for c in self.table.cells]) if self.table.cells else np.zeros(0)


def _add(*terms: tuple[float, Weights | None]) -> Weights | None:
    out: Weights = {}
    for coef, w in terms:
        if w is None:
            return None
        for k, v in w.items():
            out[k] = out.get(k, 0.0) + coef * v
    return out


def _mean(ws: list[Weights | None]) -> Weights | None:
    if not ws or any(w is None for w in ws):
        return None
    return _add(*[(1.0 / len(ws), w) for w in ws])


def slope_coefficients(x: np.ndarray) -> np.ndarray:
    """OLS slope as a linear map of the responses: b = sum_s c_s y_s, c_s = (x_s - xbar) / Sxx."""
    xc = np.asarray(x, float) - np.mean(x)
    return xc / (xc**2).sum()


class EstimandBuilder:
    """Builds the weight vectors of every estimand the table supports, noting what it cannot compute."""

    def __init__(self, table: CellTable):
        self.table = table
        self.layout = Layout(table)
        self.sys_index = table.system_index()
        self.sizes = table.sizes
        self.arms_present = [a for a in table.arms if a != BASELINE_ARM]
        self.single_arms = [a for a in SINGLE_ARMS if a in self.arms_present]
        self.notes: list[str] = []

    # -- building blocks ------------------------------------------------------------------------
    def arm_contrast(self, arm: str) -> dict[str, float] | None:
        """Arm weights of a gain: intermediate arm minus `none`; mean_single averages the single arms."""
        if arm == MEAN_SINGLE:
            if not self.single_arms:
                return None
            w = {a: 1.0 / len(self.single_arms) for a in self.single_arms}
        else:
            w = {arm: 1.0}
        w[BASELINE_ARM] = w.get(BASELINE_ARM, 0.0) - 1.0
        return w

    def cell_score(self, bench: str, task: str, lang: str, size: float, arm_w: dict[str, float]) -> Weights | None:
        i = self.table.lookup.get((bench, task, lang))
        if i is None:
            return None
        out: Weights = {}
        for arm, w in arm_w.items():
            j = self.sys_index.get((size, arm))
            c = self.layout.col.get((i, j)) if j is not None else None
            if c is None:
                return None
            out[c] = out.get(c, 0.0) + w
        return out

    def lang_mean(self, bench, task, langs, size, arm_w) -> Weights | None:
        return _mean([self.cell_score(bench, task, l, size, arm_w) for l in langs])

    def task_langs(self, bench: str, task: str) -> list[str]:
        return self.table.bench_tasks.get(bench, {}).get(task, [])

    def task_mean(self, bench, size, arm_w) -> Weights | None:
        tasks = self.table.bench_tasks.get(bench, {})
        return _mean([self.lang_mean(bench, t, ls, size, arm_w) for t, ls in tasks.items()])

    def slope(self, per_size: list[Weights | None]) -> Weights | None:
        if len(self.sizes) < 2 or any(w is None for w in per_size):
            return None
        coef = slope_coefficients(np.log10(self.sizes))
        return _add(*zip(coef, per_size))

    def shared_tasks(self) -> list[str]:
        tx, tr = self.table.bench_tasks.get(XTREME, {}), self.table.bench_tasks.get(XTREME_R, {})
        return sorted(t for t in tx if t in tr and t not in PROTOCOL_SPECIFIC)

    # -- decomposition of G_R - G_X (docs/statistics.md §3.5), at one size -------------------------------------------
    def decomposition(self, size: float, arm_w) -> dict[str, Weights | None]:
        tx, tr = self.table.bench_tasks.get(XTREME, {}), self.table.bench_tasks.get(XTREME_R, {})
        if not tx or not tr:
            return {k: None for k in DECOMPOSITION_ALL}
        shared = self.shared_tasks()
        nx, nr = len(tx), len(tr)
        uniq_r = [(1.0 / nr, self.lang_mean(XTREME_R, t, tr[t], size, arm_w)) for t in tr if t not in shared]
        uniq_x = [(-1.0 / nx, self.lang_mean(XTREME, t, tx[t], size, arm_w)) for t in tx if t not in shared]
        added, weights, protocol = [], [], []
        for t in shared:
            lx, lr = set(tx[t]), set(tr[t])
            common = sorted(lx & lr)
            if not common:
                return {k: None for k in DECOMPOSITION_ALL}
            mc_r = self.lang_mean(XTREME_R, t, common, size, arm_w)
            mc_x = self.lang_mean(XTREME, t, common, size, arm_w)
            new, old = sorted(lr - lx), sorted(lx - lr)
            if new:
                diff = _add((1.0, self.lang_mean(XTREME_R, t, new, size, arm_w)), (-1.0, mc_r))
                added.append((len(new) / len(lr) / nr, diff))
            if old:
                diff = _add((1.0, self.lang_mean(XTREME, t, old, size, arm_w)), (-1.0, mc_x))
                added.append((-len(old) / len(lx) / nx, diff))
            weights.append((1.0 / nr - 1.0 / nx, mc_r))
            # (d) the same task scored differently per benchmark (e.g. another NER/POS data version):
            # zero when the two benchmarks' cells are one and the same
            protocol.extend([(1.0 / nx, mc_r), (-1.0 / nx, mc_x)])
        return {
            "interaction_unique_tasks": _add(*uniq_r, *uniq_x),
            "interaction_added_languages": _add(*added),
            "interaction_task_weights": _add(*weights),
            "interaction_protocol": _add(*protocol),
        }

    # -- all estimands -----------------------------------------------------------------------------
    def gain_arms(self) -> list[str]:
        arms = [a for a in self.arms_present if a != MULTITASK] + (
            [MULTITASK] if MULTITASK in self.arms_present else []
        )
        return arms + ([MEAN_SINGLE] if self.single_arms else [])

    def build(
        self, language_arms: tuple[str, ...] = CONFIRMATORY_ARMS, confirmatory_only: bool = False
    ) -> list[Estimand]:
        """Every estimand the table supports; `confirmatory_only` keeps the slopes, γ and its parts of
        the confirmatory arms (what the calibration study needs)."""
        out: list[Estimand] = []
        if BASELINE_ARM not in self.table.arms:
            self.notes.append("no 'none' arm in the table: no gain can be computed")
            return out
        benches = [b for b in (XTREME, XTREME_R) if b in self.table.bench_tasks]
        none_w = {BASELINE_ARM: 1.0}
        for b in benches if not confirmatory_only else ():
            for s in self.sizes:
                w = self.task_mean(b, s, none_w)
                if w is not None:
                    out.append(Estimand(f"baseline_{b}", BASELINE_ARM, s, w, tested=False))
        if len(self.sizes) < 2:
            self.notes.append(f"only {len(self.sizes)} model size(s): slopes, γ and its decomposition need >= 2")
        for arm in self.gain_arms():
            if confirmatory_only and arm not in CONFIRMATORY_ARMS:
                continue
            aw = self.arm_contrast(arm)
            g = {b: [self.task_mean(b, s, aw) for s in self.sizes] for b in benches}
            for b in benches:
                for s, w in zip(self.sizes, g[b]):
                    if confirmatory_only:
                        break
                    if w is None:
                        self.notes.append(
                            f"benchmark_gain_{b} at params={s:g}, arm={arm}: some cell lacks that arm or `none`"
                        )
                    else:
                        out.append(Estimand(f"benchmark_gain_{b}", arm, s, w))
                sl = self.slope(g[b])
                if sl is not None:
                    out.append(Estimand(f"slope_{b}", arm, None, sl))
                if not confirmatory_only and all(w is not None for w in g[b]) and len(self.sizes) >= 2:
                    # docs/statistics.md §3.4: adjacent-size contrasts (params = the larger size) and the endpoint contrast
                    for k in range(1, len(self.sizes)):
                        out.append(
                            Estimand(
                                f"size_contrast_{b}", arm, self.sizes[k], _add((1.0, g[b][k]), (-1.0, g[b][k - 1]))
                            )
                        )
                    if len(self.sizes) > 2:
                        out.append(
                            Estimand(
                                f"endpoint_contrast_{b}", arm, self.sizes[-1], _add((1.0, g[b][-1]), (-1.0, g[b][0]))
                            )
                        )
            shared = self.shared_tasks()
            if len(benches) == 2 and shared and not confirmatory_only:
                tx = self.table.bench_tasks[XTREME]
                core = [
                    _mean(
                        [
                            self.lang_mean(XTREME_R, t, sorted(set(tx[t]) & set(self.task_langs(XTREME_R, t))), s, aw)
                            for t in shared
                        ]
                    )
                    for s in self.sizes
                ]
                for s, w in zip(self.sizes, core):
                    if w is not None:
                        out.append(Estimand("core_gain", arm, s, w))
                sl = self.slope(core)
                if sl is not None:
                    out.append(Estimand("slope_core", arm, None, sl))
            if len(benches) == 2:
                bx, br = self.slope(g[XTREME]), self.slope(g[XTREME_R])
                gam = _add((1.0, br), (-1.0, bx)) if bx is not None and br is not None else None
                if gam is None:
                    self.notes.append(f"interaction for arm={arm}: needs both benchmark slopes")
                else:
                    out.append(Estimand("interaction", arm, None, gam))
                    parts = [self.decomposition(s, aw) for s in self.sizes]
                    for name in DECOMPOSITION_ALL:
                        sl = self.slope([p[name] for p in parts])
                        if sl is None:
                            continue
                        sl = {c: v for c, v in sl.items() if abs(v) > 1e-12}
                        if name in DECOMPOSITION or sl:
                            out.append(Estimand(name, arm, None, sl))
            elif arm == self.gain_arms()[0]:
                self.notes.append("the table holds one benchmark only: no interaction γ")
            if confirmatory_only:
                continue
            for b in benches:
                for t, langs in self.table.bench_tasks[b].items():
                    per = [self.lang_mean(b, t, langs, s, aw) for s in self.sizes]
                    for s, w in zip(self.sizes, per):
                        if w is not None:
                            out.append(Estimand(f"task_gain_{b}:{t}", arm, s, w))
                    sl = self.slope(per)
                    if sl is not None:
                        out.append(Estimand(f"task_slope_{b}:{t}", arm, None, sl))
            if arm in language_arms:
                for (b, t, l), _i in sorted(self.table.lookup.items()):
                    target = f"{t}@{b}" if t in PROTOCOL_SPECIFIC else t
                    if t not in PROTOCOL_SPECIFIC and b == XTREME and (XTREME_R, t, l) in self.table.lookup:
                        continue  # one row per cell: a shared task's language is listed under XTREME-R
                    for s in self.sizes:
                        w = self.cell_score(b, t, l, s, aw)
                        if w is not None:
                            out.append(Estimand(f"language_gain:{target}:{l}", arm, s, w, tested=False))
        return out


def weight_matrix(estimands: list[Estimand], n_columns: int) -> sp.csc_matrix:
    """Sparse (columns x estimands) matrix W: estimates = ybar @ W."""
    rows, cols, vals = [], [], []
    for k, e in enumerate(estimands):
        for c, v in e.weights.items():
            if v != 0.0:
                rows.append(c)
                cols.append(k)
                vals.append(v)
    return sp.csc_matrix((vals, (rows, cols)), shape=(n_columns, len(estimands)))
