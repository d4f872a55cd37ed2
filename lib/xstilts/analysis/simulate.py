"""Simulated score tables with a known benchmark interaction γ, for calibrating the joint bootstrap.

A study is drawn at a design (sizes, arms, seeds with more for `none`, target tasks shaped like both
benchmarks: shared tasks whose XTREME-R language list adds languages, unique tasks on each side, and
the two Tatoebas as different protocols on the same sentences). Each run's per-example outcome is
drawn from a probability

    p = baseline(s,t,l) + Δ(s,i,t,l) + b_n + h_(s,i,n) + u_(s,i,t,r) + u'_(s,i,t,l,r)

with b_n the example's difficulty (shared by every system: the pairing), h the system's own
example-level effect (gain heterogeneity across examples, which only example resampling captures),
u the seed effect shared by every language of the task (one fine-tuned model per task), u' its
language-specific part; then 0/1 correctness (accuracy, AP), tp out of k tokens (span F1) or EM and
F1 (QA). Expected outcomes are linear in p, so the population cell score is known exactly and the
true γ follows from the design. Gains are set in score points: Δ = a(i,t,l) + β_t (x_s - x̄) with
x = log10 params; every task has slope β0 except the XTREME-R-only tasks, whose slope is solved so
that γ equals the requested value for every arm (and so for mean_single).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xstilts.analysis.cells import BASELINE_ARM, F1, MEAN, CellTable, summarise_cell
from xstilts.benchmarks.metrics import ACCURACY, MAP20
from xstilts.benchmarks.metrics import F1 as F1_KIND
from xstilts.benchmarks.official import XTREME, XTREME_R

PAPER_PARAMS = (270e6, 550e6, 3.5e9, 10.7e9)


@dataclass(frozen=True)
class SimTask:
    """A target task of the simulated design: metric family and its languages per benchmark."""

    name: str
    family: str  # a kind of xstilts.benchmarks.metrics: accuracy | f1 | qa | map@20
    langs_x: tuple[str, ...] = ()
    langs_r: tuple[str, ...] = ()
    protocol_specific: bool = False  # Tatoeba: separate runs per benchmark, same sentences


@dataclass(frozen=True)
class SimDesign:
    """Design and noise levels of a simulated study (noise in score points unless said otherwise)."""

    tasks: tuple[SimTask, ...]
    sizes: tuple[float, ...] = PAPER_PARAMS
    arms: tuple[str, ...] = ("mnli", "squad", "multitask")
    seeds_arm: int = 3
    seeds_none: int = 9
    n_examples: int = 80
    sigma_seed: float = 1.5  # SD of the task-level seed effect u
    sigma_seed_lang: float = 0.5  # SD of the language-specific seed effect u'
    difficulty: float = 0.15  # half-width of the uniform example difficulty b_n (probability)
    heterogeneity: float = 0.08  # half-width of the uniform system x example effect h (probability)
    slope0: float = -0.5  # common gain slope β0, points per decade
    gain_spread: float = 3.0  # half-width of the uniform size-constant gain a(i,t,l), points


def small_design(**kw) -> SimDesign:
    """A small design shaped like both benchmarks (3 shared tasks, 3 XTREME-only, 4 XTREME-R-only)."""
    tasks = (
        SimTask("xnli", "accuracy", ("aa", "bb"), ("aa", "bb", "cc")),
        SimTask("udpos", F1_KIND, ("aa", "bb"), ("aa", "bb", "dd")),
        SimTask("xquad", "qa", ("aa", "bb"), ("aa", "bb")),
        SimTask("pawsx", "accuracy", ("aa", "bb")),
        SimTask("bucc2018", F1_KIND, ("aa", "bb")),
        SimTask("tatoeba", "accuracy", ("aa", "bb"), ("aa", "bb", "cc"), protocol_specific=True),
        SimTask("xcopa", "accuracy", (), ("aa", "cc")),
        SimTask("mewslix", MAP20, (), ("aa", "bb")),
        SimTask("lareqa", MAP20, (), ("pooled",)),
    )
    return SimDesign(tasks=tasks, **kw)


def planned_design(**kw) -> SimDesign:
    """The paper's design: 4 sizes, 9 single arms + multitask, 3 seeds (9 for `none`), the task and
    language lists of docs/statistics.md §2.2 (languages as counts: shared tasks keep XTREME's list and add
    XTREME-R's extra languages), with `n_examples` test examples per (task, language)."""

    def langs(n, start=0):
        return tuple(f"l{k:02d}" for k in range(start, start + n))

    tasks = (
        SimTask("xnli", "accuracy", langs(15), langs(15)),
        SimTask("udpos", F1_KIND, langs(33), langs(38)),
        SimTask("panx", F1_KIND, langs(40), langs(48)),
        SimTask("xquad", "qa", langs(11), langs(12)),
        SimTask("mlqa", "qa", langs(7), langs(7)),
        SimTask("tydiqa", "qa", langs(9), langs(9)),
        SimTask("pawsx", "accuracy", langs(7)),
        SimTask("bucc2018", F1_KIND, langs(4)),
        SimTask("tatoeba", "accuracy", langs(36), langs(41), protocol_specific=True),
        SimTask("xcopa", "accuracy", (), langs(11)),
        SimTask("mewslix", MAP20, (), langs(11)),
        SimTask("lareqa", MAP20, (), ("pooled",)),
    )
    arms = ("anli_plus", "mnli", "qqp", "sst2", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "ccg", "multitask")
    kw.setdefault("n_examples", 400)
    return SimDesign(tasks=tasks, arms=arms, **kw)


@dataclass
class SimCell:
    """One simulated (task, language) test set of one run group (both benchmarks or one)."""

    task: str
    language: str
    benchmarks: tuple[str, ...]
    family: str
    example_ids: np.ndarray
    runs: dict[tuple[float, str], np.ndarray] = field(default_factory=dict)  # system -> raw stats
    seeds: dict[tuple[float, str], tuple] = field(default_factory=dict)
    truth: dict[tuple[float, str], float] = field(default_factory=dict)  # population score, points


def unique_r_slope(design: SimDesign, gamma: float) -> float:
    """The slope of XTREME-R-only tasks that makes γ = gamma when every other task has slope β0."""
    tx = [t for t in design.tasks if t.langs_x]
    tr = [t for t in design.tasks if t.langs_r]
    shared = [t for t in design.tasks if t.langs_x and t.langs_r and not t.protocol_specific]
    nx, nr = len(tx), len(tr)
    ux, ur = nx - len(shared), nr - len(shared)
    if ur == 0:
        raise ValueError("the design has no XTREME-R-only task to carry γ")
    b0 = design.slope0
    return (gamma + ux * b0 / nx - (1.0 / nr - 1.0 / nx) * len(shared) * b0) * nr / ur


def simulate_cells(
    design: SimDesign, gamma: float, rng: np.random.Generator, slope_r: float | None = None
) -> list[SimCell]:
    """Draw one study: every (task, language, run group) with per-run per-example statistics.
    `slope_r` overrides the XTREME-R-only slope (when drawing a design one task at a time)."""
    x = np.log10(np.asarray(design.sizes, float))
    xc = x - x.mean()
    slope_r = unique_r_slope(design, gamma) if slope_r is None else slope_r
    systems = [(s, a) for s in design.sizes for a in (BASELINE_ARM, *design.arms)]
    sys_x = np.repeat(xc, 1 + len(design.arms))
    is_arm = np.array([a != BASELINE_ARM for _, a in systems], float)
    n_runs = np.array([_n_seeds(design, a) for _, a in systems])
    run_off = np.concatenate([[0], np.cumsum(n_runs)])
    run_sys = np.repeat(np.arange(len(systems)), n_runs)
    out: list[SimCell] = []
    for task in design.tasks:
        variants = (
            [(XTREME, task.langs_x), (XTREME_R, task.langs_r)]
            if task.protocol_specific
            else [(None, tuple(dict.fromkeys(task.langs_x + task.langs_r)))]
        )
        difficulty = {}
        for bench, langs in variants:
            if not langs:
                continue
            slope = (
                slope_r
                if (bench == XTREME_R or not task.langs_x) and (task.protocol_specific or not task.langs_x)
                else design.slope0
            )
            u_all = rng.normal(0, design.sigma_seed / 100, size=len(run_sys))  # task-level seed effects
            for lang in langs:
                n = design.n_examples
                ids = np.array([f"{task.name}-{lang}-{k:05d}" for k in range(n)])
                if lang not in difficulty:  # the same sentences for both Tatoeba protocols
                    difficulty[lang] = rng.uniform(-design.difficulty, design.difficulty, n)
                b = difficulty[lang]
                base = 0.5 + rng.uniform(-0.05, 0.05)
                gain0 = {a: rng.uniform(-design.gain_spread, design.gain_spread) for a in design.arms}
                benches = (
                    (bench,)
                    if bench
                    else tuple(bb for bb, ls in ((XTREME, task.langs_x), (XTREME_R, task.langs_r)) if lang in ls)
                )
                cell = SimCell(task.name, lang, benches, task.family, ids)
                score = 100 * (base + 0.02 * sys_x)
                score = (
                    score
                    + np.array([0.0 if a == BASELINE_ARM else gain0[a] for _, a in systems])
                    + slope * sys_x * is_arm
                )
                p = _score_to_p(score, task.family)  # (S,)
                h = rng.uniform(-design.heterogeneity, design.heterogeneity, (len(systems), n))
                u = u_all + rng.normal(0, design.sigma_seed_lang / 100, size=u_all.shape)  # (runs,)
                prob = np.clip(p[run_sys, None] + b[None, :] + h[run_sys] + u[:, None], 0.0, 1.0)
                raw = _draw(rng, prob, task.family)
                for k, sysk in enumerate(systems):
                    lo, hi = run_off[k], run_off[k + 1]
                    cell.runs[sysk] = raw[lo:hi]
                    cell.seeds[sysk] = tuple(range(hi - lo))
                    cell.truth[sysk] = float(score[k])
                out.append(cell)
    return out


def _n_seeds(design: SimDesign, arm: str) -> int:
    return design.seeds_none if arm == BASELINE_ARM else design.seeds_arm


def _score_to_p(score: float, family: str) -> float:
    """Invert E[score] = 100 p (accuracy, AP, span F1) or 100 (0.15 + 0.85 p) (QA, see `_draw`)."""
    return (score / 100 - 0.15) / 0.85 if family == "qa" else score / 100


def _draw(rng, prob: np.ndarray, family: str) -> np.ndarray:
    """Per-example statistics with expectation linear in prob (see `_score_to_p`)."""
    if family in (ACCURACY, MAP20):
        return (rng.random(prob.shape) < prob).astype(np.float64)
    if family == "qa":
        em = (rng.random(prob.shape) < prob).astype(np.float64)
        f1 = em + (1 - em) * rng.uniform(0, 0.6, prob.shape)
        return np.stack([em, f1], axis=-1)
    k = 1 + rng.poisson(2.0, size=prob.shape[1])
    tp = rng.binomial(np.broadcast_to(k, prob.shape), prob)
    kk = np.broadcast_to(k, prob.shape).astype(np.float64)
    return np.stack([tp.astype(np.float64), kk, kk], axis=-1)


def _points(raw: np.ndarray, family: str) -> np.ndarray:
    if family in (ACCURACY, MAP20):
        return 100.0 * raw
    if family == "qa":
        return 50.0 * raw.sum(axis=-1)
    return raw


def cells_to_table(cells: list[SimCell]) -> CellTable:
    """The CellTable of a simulated study, built directly (no DataFrame), plus nothing else."""
    systems = sorted({s for c in cells for s in c.runs}, key=lambda s: (s[0], s[1] != BASELINE_ARM, s[1]))
    idx = {s: j for j, s in enumerate(systems)}
    out, lookup = [], {}
    for c in cells:
        keys = sorted(c.runs, key=lambda s: idx[s])
        runs = [_points(c.runs[k], c.family) for k in keys]
        kind = F1 if c.family == F1_KIND else MEAN
        cs = summarise_cell(
            c.task,
            c.language,
            c.benchmarks,
            kind,
            c.example_ids,
            np.array([idx[k] for k in keys]),
            runs,
            [c.seeds[k] for k in keys],
        )
        for bench in c.benchmarks:
            lookup[(bench, c.task, c.language)] = len(out)
        out.append(cs)
    bench_tasks: dict[str, dict[str, list[str]]] = {}
    for bench, task, lang in sorted(lookup):
        bench_tasks.setdefault(bench, {}).setdefault(task, []).append(lang)
    return CellTable(systems, out, lookup, bench_tasks)


def truth_vector(cells: list[SimCell], table: CellTable) -> np.ndarray:
    """Population seed-mean score of every (cell, system) column of `table` (built by cells_to_table)."""
    return np.concatenate([[c.truth[table.systems[j]] for j in t.systems] for c, t in zip(cells, table.cells)])


def cells_to_frame(cells: list[SimCell]) -> pd.DataFrame:
    """The simulated study as a score table (one row per example per run, both benchmarks' copies)."""
    frames = []
    for c in cells:
        for (params, arm), raw in c.runs.items():
            R, n = raw.shape[:2]
            base = {
                "task": np.repeat(c.task, R * n),
                "language": c.language,
                "params": params,
                "arm": arm,
                "seed": np.repeat(np.asarray(c.seeds[(params, arm)]), n),
                "example_id": np.tile(c.example_ids, R),
            }
            stats = {}
            if c.family in ("accuracy",):
                stats["correct"] = raw.reshape(-1).astype(np.int8)
            elif c.family == MAP20:
                stats["ap"] = raw.reshape(-1)
            elif c.family == "qa":
                stats["em"], stats["f1"] = raw[..., 0].reshape(-1), raw[..., 1].reshape(-1)
            else:
                stats["tp"], stats["n_pred"], stats["n_gold"] = (
                    raw[..., k].reshape(-1).astype(np.int32) for k in range(3)
                )
            for bench in c.benchmarks:
                frames.append(pd.DataFrame({"benchmark": bench, **base, **stats}))
    df = pd.concat(frames, ignore_index=True)
    cols = ["benchmark", "task", "language", "params", "arm", "seed", "example_id"]
    return df[cols + [c for c in ("correct", "tp", "n_pred", "n_gold", "em", "f1", "ap") if c in df.columns]]


def simulate_table(design: SimDesign | None = None, gamma: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """A score table of one simulated study (for `xstilts analyze` demos and tests)."""
    return cells_to_frame(simulate_cells(design or small_design(), gamma, np.random.default_rng(seed)))
