"""The joint bootstrap of the study (docs/statistics.md §0.3, §5 and §7), calibrated for few seeds per arm.

Why not the textbook two-level bootstrap (docs/statistics.md §7). A run's score y_r(t,l) = μ + u_r + w_r + (test-set term), where u_r is the
seed effect (one fine-tuned model per task, so shared by every language of the task), w_r the run's own
per-example noise averaged over the n test examples (the run x example interaction, variance
σ²_w = σ²_E / n, independent between runs), and the test-set term comes from which examples were drawn
(shared by every system: the pairing). The seed mean has variance σ²_u/R + σ²_w/R + (test-set part).
Resampling examples AND seeds counts σ²_w/R twice (once through the examples, once inside the spread of
run scores): too wide. Resampling only seeds misses the test-set part; only examples misses σ²_u/R:
too narrow. With R = 3 a seed bootstrap also shrinks its variance by (R-1)/R.

What this module does. Every estimand θ is linear in the seed-mean cell scores (xstilts.analysis.estimands),
θ = Σ_c W_c ybar_c, so one replicate is θ* = θ̂ + θ*_examples + c_θ · θ*_seeds:

1. Examples (the test-set part and σ²_w/R, once). Inside each (task, language) test set, example
   weights are drawn ONCE per replicate and applied to the SEED-AVERAGED per-example statistics of
   every system and of both benchmarks' copies (XTREME and XTREME-R share the draw; so do XTREME and
   XTREME-R Tatoeba, whose sentences coincide). θ*_examples = Σ_c W_c (score_c(weighted) - score_c).
   Span F1 is recomputed from the weighted counts (a ratio, not a mean). Weights are multinomial
   counts (the ordinary bootstrap) for test sets of up to `exact_max_n` examples and Poisson(1)
   weights (the Poisson bootstrap, Hanley & MacGibbon 2006; Chamandy et al. 2012) for larger ones,
   where the two coincide and the Poisson draw (one random byte through a 256-level table with mean
   and variance exactly 1) is several times cheaper; means and ratios are
   self-normalised, so only relative weights matter.
2. Seeds (σ²_u/R only). Inside each run group (task, params, arm) the R runs are resampled with
   replacement, the SAME draw for every language of the task and for both benchmarks. Each run enters
   through its centred score deviation d_r = y_r - ybar, so θ*_seeds = Σ_groups mean_{r in draw}
   Σ_c W_c d_r,c. Its raw bootstrap variance is Σ_g Σ_r (w·d_r / R_g)² = Σ_g (R_g-1)/R_g · S²_g/R_g.
   The target is the between-seed variance NET of the within-run part, with the small-R correction:
   T_θ = Σ_g [S²_g - Σ_c W_c² σ̂²_w,c] / R_g, where S²_g is the unbiased (ddof = 1) variance of w·d_r
   and σ̂²_w,c the run x example residual mean square of cell c over n (two-way ANOVA on the
   per-example values; the linearised influence values for span F1). The seed draw is scaled by
   c_θ = sqrt(max(T_θ, 0) / raw variance), one factor per estimand, so the subtraction is done on
   the sum over all groups (nearly unbiased) rather than truncated group by group (biased upwards
   with R = 3).
3. Few seeds (docs/statistics-calibration.md §3). V_θ = Var*(θ*_examples) + max(T_θ, 0) estimates the
   variance of θ̂ without bias, but T_θ rests on a few runs per group (2 degrees of freedom per group
   with R = 3), and where a few groups carry most of it (one noisy task, the largest sizes) V_θ is a
   noisy estimate: an interval from it as if it were known is too short (as a z interval is next to a
   t interval). Each replicate deviation is therefore multiplied by sqrt(ν_θ / q), q the u-quantile of
   χ²_ν_θ with u uniform, one u per replicate for every estimand, which turns a N(0, V_θ) deviation
   into V_θ^(1/2) t_ν_θ: the Student-t interval with Satterthwaite's degrees of freedom (Satterthwaite
   1946; Welch 1947 for two groups), ν_θ = 2 V_θ² / Var(V_θ), the example part taken as known (it rests
   on thousands of test examples) and Var(V_θ) = Σ_g 2 ã_g² / (R_g - 1). Each group's ã_g is taken from
   a working model, not from its own S²_g (2-3 runs make S⁴_g a poor estimate of σ⁴_g, and the
   plug-in ν is then biased; Bell & McCaffrey 2002; Imbens & Kolesár 2016): the systems of one
   (task, size), arms and `none`, share one covariance of run deviations across the task's cells,
   pooled over their runs (`_working_seed_model`). Only ν uses the working model; V_θ stays each
   group's own estimate. The interval widens where seeds are few and concentrated and is unchanged
   (ν_θ large) where they are not; the p-value inverts the widened intervals at every level, so
   Holm's smaller thresholds get the right tails too.

So each estimand's replicate variance estimates σ²_u/R + σ²_w/R + test-set variance, each once, while
all estimands share the same example and seed draws (γ and its components come from the same
replicates, and both benchmarks from the same draw). CIs are percentile intervals; p-values invert
them (`inference.bootstrap_p_value`). Calibration (coverage 93-97 %, type-I 3-7 % on every design of a
grid that varies seeds 2-9, the noise mix, the task layout and the outcome model) is shown by simulation
in xstilts.analysis.calibration (`make calibrate`, docs/statistics-calibration.md) and, reduced, in
tests/test_stats_calibration.py.

Not captured (docs/statistics.md §5): intermediate-checkpoint seeds (inference is conditional on the one
intermediate checkpoint per (size, arm)) and language or task sampling (benchmarks are fixed sets).
Vectorised in numpy; replicates are computed in batches so memory stays bounded.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import special

from xstilts.analysis.cells import MEAN, CellTable, f1_points
from xstilts.analysis.estimands import Layout
from xstilts.progress import bar

try:  # threadpoolctl comes with scikit-learn (a seqeval dependency); without it BLAS keeps its default
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

# Poisson(1) weights from one random byte: counts of k = 0..5 out of 256 chosen so that the weights have
# mean 1 and variance 1 exactly (Poisson(1): P(0)=P(1)=.368, P(2)=.184, P(3)=.061, P(4)=.015, P(5)=.003)
_POISSON_LUT = np.repeat(np.arange(6, dtype=np.float32), [94, 95, 46, 16, 4, 1])


@dataclass
class BootstrapResult:
    """Point estimates (K,), replicates (B, K) float32, and the seed-component diagnostics per estimand."""

    estimate: np.ndarray
    replicates: np.ndarray
    seed_scale: np.ndarray  # c_θ
    seed_variance: np.ndarray  # T_θ (net between-seed variance of θ̂; negative before truncation)
    se: np.ndarray  # sqrt(example-component variance + max(T_θ, 0)): the standard error the replicates estimate
    df: np.ndarray  # ν_θ, Satterthwaite degrees of freedom of se² (inf: no estimated seed variance)
    n_boot: int
    seed: int
    student_u: np.ndarray | None = None  # (B,) the uniforms of `student_factor` (scheme "calibrated")

    def plugin_replicates(self) -> np.ndarray:
        """The replicates without the Student factor (scheme "plugin": the seed variance taken as known)."""
        if self.student_u is None:
            return self.replicates
        f = student_factor(self.student_u, self.df)
        return (self.estimate + (self.replicates - self.estimate) / f).astype(np.float32)


def example_weights(rng: np.random.Generator, b: int, n: int, exact_max_n: int) -> np.ndarray:
    """(b, n) float32 bootstrap weights: multinomial counts if n <= exact_max_n, else Poisson(1)."""
    if n <= exact_max_n:
        idx = rng.integers(0, n, size=(b, n), dtype=np.int64)
        idx += (np.arange(b, dtype=np.int64) * n)[:, None]
        return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
    quarter = (n + 3) // 4
    u = rng.integers(0, 2**32, size=(b, quarter), dtype=np.uint32).view(np.uint8)[:, :n]
    return _POISSON_LUT[u]


def _working_seed_model(groups: list[tuple], W: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """The seed part of every estimand's variance and the variance of its estimate under a working model in
    which the runs of every system of one (task, size) share one covariance of run deviations across the
    task's cells (module doc, step 3). `groups`: (pool key, cell ids, columns, deviations (R, m)) per run
    group. Returns (Σ_g ã_g, Σ_g 2 ã_g² / (R_g - 1)) per estimand, ã_g = W_gᵀ Σ̂ W_g / R_g, with Σ̂ pooled
    over the run groups of the (task, size) (Σ (R_g - 1) degrees of freedom)."""
    W = sp.csr_matrix(W)
    K = W.shape[1]
    a_sum, var_sum = np.zeros(K), np.zeros(K)
    pools: dict[tuple, list] = {}
    for key, ids, cols, dev in groups:
        if dev.shape[0] >= 2:
            pools.setdefault(key, []).append((ids, cols, dev))
    for pool in pools.values():
        cells = np.unique(np.concatenate([ids for ids, _c, _d in pool]))
        cov, dof = np.zeros((cells.size, cells.size)), 0
        at = [np.searchsorted(cells, ids) for ids, _c, _d in pool]
        for p, (_ids, _cols, dev) in zip(at, pool):
            cov[np.ix_(p, p)] += dev.T @ dev
            dof += dev.shape[0] - 1
        cov /= dof
        Wp = W[np.concatenate([cols for _i, cols, _d in pool])]
        start = 0
        for p, (_ids, cols, dev) in zip(at, pool):
            Wg = Wp[start : start + cols.size]
            start += cols.size
            nz = np.unique(Wg.indices)
            if not nz.size:
                continue
            Wd = Wg.toarray()[:, nz]
            R = dev.shape[0]
            a = ((cov[np.ix_(p, p)] @ Wd) * Wd).sum(axis=0) / R
            a_sum[nz] += a
            var_sum[nz] += 2.0 * a * a / (R - 1)
    return a_sum, var_sum


class _Plan:
    """Everything the replicate loop needs, precomputed once from the cells and the weight matrix."""

    def __init__(self, table: CellTable, W: sp.spmatrix):
        self.layout = Layout(table)
        self.W = sp.csc_matrix(W)
        C = self.layout.n_columns
        if self.W.shape[0] != C:
            raise ValueError(f"weight matrix has {self.W.shape[0]} rows; the table has {C} (cell, system) columns")
        self.ybar = self.layout.score_vector()
        self.estimate = np.asarray(self.ybar @ self.W).ravel()
        cells = table.cells
        # strata: cells sharing a test set share the example draw
        strata: dict[str, list[int]] = {}
        for i, c in enumerate(cells):
            strata.setdefault(c.example_key, []).append(i)
        self.strata = list(strata.values())
        self.max_n = max((cells[s[0]].n for s in self.strata), default=1)
        # observed pooled score of the seed-averaged statistics (the centre of the example component)
        self.pooled = []
        for c in cells:
            if c.kind == MEAN:
                self.pooled.append(c.stats.mean(axis=0, dtype=np.float64))
            else:
                tot = c.stats.sum(axis=0, dtype=np.float64)
                self.pooled.append(f1_points(tot[:, 0], tot[:, 1], tot[:, 2]))
        # seed groups: (task, system, R) -> rows; one draw per group for every language and benchmark
        groups: dict[tuple, list[tuple[int, int]]] = {}
        for i, c in enumerate(cells):
            for k, j in enumerate(c.systems):
                groups.setdefault((c.task, int(j), len(c.run_scores[k])), []).append((i, k))
        self.classes: dict[int, int] = {}  # R -> number of groups with R runs
        rows, cols, vals, row_r = [], [], [], []
        v = np.zeros(C)
        row = 0
        ordered = sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))
        pooled_groups = []  # (task, size), cell ids, columns, run deviations (R, members): the working model
        for (task, j, R), members in ordered:
            self.classes[R] = self.classes.get(R, 0) + 1
            ids = np.array([i for i, _k in members])
            gcols = np.array([self.layout.offsets[i] + k for i, k in members])
            runs = np.stack([cells[i].run_scores[k] for i, k in members], axis=1)  # (R, members)
            dev = runs - runs.mean(axis=0)
            if R >= 2:
                rows.extend(np.repeat(np.arange(row, row + R), len(members)))
                cols.extend(np.tile(gcols, R))
                vals.extend((dev / R).ravel())
                v[gcols] = [cells[i].within_var[k] / R for i, k in members]
            pooled_groups.append(((task, table.systems[j][0]), ids, gcols, dev))
            row_r.extend([R] * R)
            row += R
        self.n_rows = row
        D = sp.csr_matrix((vals, (rows, cols)), shape=(row, C))
        self.P = sp.csr_matrix(D @ self.W)  # (rows, K)
        row_r = np.asarray(row_r, float)
        infl = np.where(row_r >= 2, row_r / np.maximum(row_r - 1, 1), 0.0)
        P2 = self.P.multiply(self.P)
        raw = np.asarray(P2.sum(axis=0)).ravel()  # variance of the unscaled seed draw per estimand
        self.raw_seed_variance = raw
        between = np.asarray((sp.diags(infl) @ P2).sum(axis=0)).ravel() if self.n_rows else np.zeros_like(raw)
        within = np.asarray(self.W.multiply(self.W).T @ v).ravel()
        self.seed_variance = between - within
        working, self.seed_variance_var = _working_seed_model(pooled_groups, self.W)
        self.working_seed_variance = working - within
        self.seed_scale = np.where(
            raw > 0, np.sqrt(np.maximum(self.seed_variance, 0.0) / np.where(raw > 0, raw, 1)), 0.0
        )
        self.cells = cells

    def seed_counts(self, rng: np.random.Generator, b: int) -> np.ndarray:
        """(b, rows) resampling counts of the runs of every seed group (one draw per group)."""
        parts = []
        for R, G in sorted(self.classes.items()):
            idx = rng.integers(0, R, size=(b, G, R), dtype=np.int64)
            idx += (np.arange(b * G, dtype=np.int64) * R).reshape(b, G, 1)
            parts.append(np.bincount(idx.ravel(), minlength=b * G * R).reshape(b, G * R))
        return np.concatenate(parts, axis=1).astype(np.float64) if parts else np.zeros((b, 0))

    def example_weights(self, rng: np.random.Generator, b: int, exact_max_n: int) -> list[np.ndarray]:
        """Per stratum (b, n) weights; the multinomial strata are drawn in one vectorised call."""
        ns = np.array([self.cells[m[0]].n for m in self.strata], dtype=np.int64)
        small = ns <= exact_max_n
        out: list[np.ndarray | None] = [None] * len(ns)
        if small.any():
            sizes = ns[small]
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            total = int(sizes.sum())
            high = np.repeat(sizes, sizes)
            idx = (rng.random((b, total)) * high).astype(np.int64)
            idx += np.repeat(starts, sizes)[None, :] + (np.arange(b, dtype=np.int64) * total)[:, None]
            w = np.bincount(idx.ravel(), minlength=b * total).reshape(b, total).astype(np.float32)
            for k, st, n in zip(np.flatnonzero(small), starts, sizes):
                out[k] = w[:, st : st + n]
        for k in np.flatnonzero(~small):
            out[k] = example_weights(rng, b, int(ns[k]), exact_max_n)
        return out

    def example_component(self, rng: np.random.Generator, b: int, exact_max_n: int) -> np.ndarray:
        E = np.empty((b, self.layout.n_columns))
        for members, w in zip(self.strata, self.example_weights(rng, b, exact_max_n)):
            n = w.shape[1]
            wsum = w.sum(axis=1, dtype=np.float64)[:, None]
            for i in members:
                c = self.cells[i]
                lo, hi = self.layout.offsets[i], self.layout.offsets[i + 1]
                if c.kind == MEAN:
                    E[:, lo:hi] = (w @ c.stats) / wsum - self.pooled[i]
                else:
                    J = len(c.systems)
                    tot = (w @ c.stats.reshape(n, J * 3)).reshape(b, J, 3).astype(np.float64)
                    E[:, lo:hi] = f1_points(tot[..., 0], tot[..., 1], tot[..., 2]) - self.pooled[i]
        return E


SCHEMES = ("calibrated", "plugin", "naive", "examples", "seeds")


def joint_bootstrap(
    table: CellTable,
    W: sp.spmatrix,
    n_boot: int = 10_000,
    seed: int = 0,
    batch: int | None = None,
    exact_max_n: int = 2000,
    progress: bool = True,
    scheme: str = "calibrated",
) -> BootstrapResult:
    """Replicates of every estimand (columns of W) under the calibrated joint bootstrap (module doc).

    `scheme` exists to show why: "naive" resamples examples and seeds as the textbook two-level bootstrap does (seed draw
    unscaled), "examples" and "seeds" resample one level only; only "calibrated" is for inference."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}; expected one of {SCHEMES}")
    plan = _Plan(table, W)
    scale = {"calibrated": plan.seed_scale, "plugin": plan.seed_scale, "naive": 1.0, "examples": 0.0, "seeds": 1.0}[
        scheme
    ]
    K = plan.W.shape[1]
    if batch is None:
        per_rep = plan.max_n * 24 + plan.layout.n_columns * 8 + K * 16 + plan.n_rows * 8
        batch = int(np.clip(256e6 // max(per_rep, 1), 8, 2000))
    rng = np.random.default_rng(seed)
    reps = np.empty((n_boot, K), dtype=np.float32)
    ex_sum, ex_sq = np.zeros(K), np.zeros(K)
    starts = range(0, n_boot, batch)
    with _blas_threads(1 if plan.max_n <= 20_000 else None):
        for start in bar(starts, desc="bootstrap", unit="batch", enabled=progress and len(starts) >= 2):
            b = min(batch, n_boot - start)
            if scheme == "seeds":
                theta = np.zeros((b, K))
            else:
                theta = np.asarray(plan.example_component(rng, b, exact_max_n) @ plan.W)
                ex_sum += theta.sum(axis=0)
                ex_sq += (theta * theta).sum(axis=0)
            if plan.n_rows:
                theta = theta + scale * np.asarray(plan.seed_counts(rng, b) @ plan.P)
            reps[start : start + b] = theta
    ex_var = np.maximum(ex_sq / n_boot - (ex_sum / n_boot) ** 2, 0.0)
    se = np.sqrt(ex_var + np.asarray(scale) ** 2 * plan.raw_seed_variance)  # the seed draw's variance is scale² raw
    df = (
        satterthwaite_df(ex_var + np.maximum(plan.working_seed_variance, 0.0), plan.seed_variance_var)
        if scheme in ("calibrated", "plugin")
        else np.full(K, np.inf)
    )
    u = rng.random(n_boot) if scheme == "calibrated" else None
    for start in starts:
        block = reps[start : start + batch]
        if u is not None:
            block *= student_factor(u[start : start + batch], df).astype(np.float32)
        block += plan.estimate.astype(np.float32)
    return BootstrapResult(plan.estimate, reps, plan.seed_scale, plan.seed_variance, se, df, n_boot, seed, u)


def satterthwaite_df(variance: np.ndarray, variance_var: np.ndarray) -> np.ndarray:
    """Degrees of freedom of a variance estimate treated as scaled χ² (Satterthwaite 1946): 2 V² / Var(V);
    inf where the estimate has no sampling variance (no seed groups)."""
    ok = variance_var > 0
    return np.where(ok, 2.0 * np.asarray(variance) ** 2 / np.where(ok, variance_var, 1.0), np.inf)


def student_factor(u: np.ndarray, df: np.ndarray) -> np.ndarray:
    """(b, K) factors sqrt(ν / q) with q the u-quantile of χ²_ν, ν = `df` per estimand and one uniform u per
    replicate shared by every estimand (comonotone): a replicate deviation d with law N(0, V) becomes
    d sqrt(ν / χ²_ν), a Student t_ν law on sqrt(V), as if V had been estimated with ν degrees of freedom."""
    nu = np.where(np.isfinite(df), df, 1.0)[None, :]
    q = special.chdtri(nu, 1.0 - np.asarray(u)[:, None])  # chdtri(ν, y): the upper-y quantile of χ²_ν
    return np.where(np.isfinite(df)[None, :], np.minimum(np.sqrt(nu / np.maximum(q, 1e-300)), 1e6), 1.0)


def _blas_threads(n: int | None):
    """Small matrix products run far faster on one BLAS thread than on contended cores."""
    if n is None or threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")
