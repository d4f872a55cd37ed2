"""Simulated score tables with a known benchmark interaction γ, for calibrating the joint bootstrap.

A study is drawn at a design (sizes, arms, seeds with more for `none`, target tasks shaped like both
benchmarks: shared tasks whose XTREME-R language list adds languages, unique tasks on each side, and
the two Tatoebas as different protocols on the same sentences). Each run's per-example outcome is
drawn from a probability, on one of two scales (`SimDesign.scale`):

    probability:  p = baseline(s,t,l) + Δ(s,i,t,l) + b_n + h_(s,i,n) + u_(s,i,t,r) + u'_(s,i,t,l,r)
    logit:        p = expit(η(s,i,t,l) + b_n + h_(s,i,n) + u_(s,i,t,r) + u'_(s,i,t,l,r))

with b_n the example's difficulty (shared by every system and both benchmarks: the pairing), h the
system's own example-level effect (gain heterogeneity across examples, which only example resampling
captures), u the seed effect shared by every language of the task (one fine-tuned model per task), u'
its language-specific part; then 0/1 correctness (accuracy, AP), tp out of k tokens (span F1) or EM
and F1 (QA). On the probability scale b and h are uniform, everything is additive and the population
cell score is the score at zero effects. On the logit scale b, h, u and u' are normal and η is solved
so that the population score E[expit(η + b + h + u + u')] (Gauss-Hermite quadrature over the summed
normal effects) is the intended score: effects are no longer additive in points, outcome variance and
seed spread in points change with the score level, and seed SDs may differ by task and size
(`seed_sd_task`, `seed_sd_size`). Expected outcomes are linear in p, so the population cell score is
known exactly on both scales and the true γ follows from the design. Gains are set in score points:
Δ = a(i,t,l) + β_(i,t) (x_s - x̄) with x = log10 params; every task has slope β0 (plus a uniform
per-arm, per-task deviation of half-width `slope_spread`) except the XTREME-R-only tasks, whose slopes
are shifted so that γ equals the requested value for every arm (and so for mean_single).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
    """Design and noise levels of a simulated study (noise in score points unless said otherwise).

    On the logit scale `difficulty` and `heterogeneity` are the SDs of normal logit effects, and the seed
    SDs are given in points at p = 0.5 (times 0.04 logits per point), so their size in points shrinks
    towards the ends of the score range."""

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
    scale: str = "probability"  # probability | logit (module doc)
    base_level: float = 0.5  # centre of the `none` level (score / 100) at the mean log size
    base_spread: float = 0.05  # half-width of the uniform `none` level around `base_level` per (task, language)
    slope_spread: float = 0.0  # half-width of the uniform per-(arm, task) deviation from β0, points per decade
    seed_sd_task: tuple[tuple[str, float], ...] = ()  # (task, factor): both seed SDs of that task times factor
    seed_sd_size: tuple[float, ...] = ()  # factor on both seed SDs per size (empty: 1 for every size)

    def seed_factor(self, task: str) -> np.ndarray:
        """(sizes,) factor on the seed SDs of `task`'s runs at each size."""
        per_size = np.asarray(self.seed_sd_size or (1.0,) * len(self.sizes), float)
        return dict(self.seed_sd_task).get(task, 1.0) * per_size


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


# (task, metric family, XTREME languages, XTREME-R languages) as counts, docs/statistics.md §2.2
PAPER_TASKS = (
    ("xnli", ACCURACY, 15, 15),
    ("udpos", F1_KIND, 33, 38),
    ("panx", F1_KIND, 40, 48),
    ("xquad", "qa", 11, 12),
    ("mlqa", "qa", 7, 7),
    ("tydiqa", "qa", 9, 9),
    ("pawsx", ACCURACY, 7, 0),
    ("bucc2018", F1_KIND, 4, 0),
    ("tatoeba", ACCURACY, 36, 41),
    ("xcopa", ACCURACY, 0, 11),
    ("mewslix", MAP20, 0, 11),
    ("lareqa", MAP20, 0, 1),
)
PAPER_ARMS = ("anli_plus", "mnli", "qqp", "sst2", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "ccg", "multitask")


def paper_tasks(lang_fraction: float = 1.0) -> tuple[SimTask, ...]:
    """The paper's target tasks with their language lists as counts (shared tasks keep XTREME's list and
    add XTREME-R's extra languages). `lang_fraction` < 1 scales every count down (at least 2 languages
    per list, at least 1 added language where XTREME-R adds some) for cheaper designs of the same shape;
    LAReQA is one pooled retrieval cell."""

    def langs(n):
        return tuple(f"l{k:02d}" for k in range(n))

    def scaled(n):
        return 0 if n == 0 else max(2, round(n * lang_fraction))

    out = []
    for name, family, nx, nr in PAPER_TASKS:
        if name == "lareqa":
            out.append(SimTask(name, family, (), ("pooled",)))
            continue
        kx = scaled(nx)
        if not nx or not nr:
            kr = scaled(nr)
        else:  # a shared task: XTREME's languages plus the added ones
            kr = kx + (max(1, round((nr - nx) * lang_fraction)) if nr > nx else 0)
        out.append(SimTask(name, family, langs(kx), langs(kr), protocol_specific=name == "tatoeba"))
    return tuple(out)


def planned_design(**kw) -> SimDesign:
    """The paper's design: 4 sizes, 9 single arms + multitask, 3 seeds (9 for `none`), the task and
    language lists of docs/statistics.md §2.2 (`paper_tasks`), with `n_examples` test examples per (task,
    language)."""
    kw.setdefault("n_examples", 400)
    kw.setdefault("arms", PAPER_ARMS)
    return SimDesign(tasks=paper_tasks(), **kw)


def without_added_languages(design: SimDesign) -> SimDesign:
    """The design with XTREME-R's language list of every shared task cut to XTREME's (no added languages)."""
    tasks = tuple(
        replace(t, langs_r=t.langs_x) if t.langs_x and t.langs_r and not t.protocol_specific else t
        for t in design.tasks
    )
    return replace(design, tasks=tasks)


def unique_tasks_only(design: SimDesign) -> SimDesign:
    """The design without shared tasks: γ comes from the unique tasks (and the two Tatoeba protocols) alone."""
    tasks = tuple(t for t in design.tasks if not (t.langs_x and t.langs_r and not t.protocol_specific))
    return replace(design, tasks=tasks)


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


SlopeKey = tuple[str, str, str | None]  # (arm, task, benchmark of a protocol-specific variant, else None)


def _carries_gamma(task: SimTask, bench: str | None) -> bool:
    """XTREME-R-only tasks and XTREME-R Tatoeba: the slopes shifted to set γ."""
    return not task.langs_x or (task.protocol_specific and bench == XTREME_R)


def _variants(task: SimTask) -> list[tuple[str | None, tuple[str, ...]]]:
    """(benchmark or None for one run group scored by both, languages) of each run group of `task`."""
    if task.protocol_specific:
        return [(b, ls) for b, ls in ((XTREME, task.langs_x), (XTREME_R, task.langs_r)) if ls]
    return [(None, tuple(dict.fromkeys(task.langs_x + task.langs_r)))]


def gain_slopes(design: SimDesign, gamma: float, rng: np.random.Generator | None = None) -> dict[SlopeKey, float]:
    """Gain slope of every (arm, task, variant): β0 plus a uniform deviation of half-width
    `slope_spread` (drawn from `rng`), then the γ-carrying slopes of each arm shifted by one amount so
    that β_XTREME-R(arm) - β_XTREME(arm) = gamma (uniform task means of language means, as in §3.3)."""
    if design.slope_spread > 0 and rng is None:
        raise ValueError("slope_spread > 0 needs an rng")
    nx = sum(1 for t in design.tasks if t.langs_x)
    nr = sum(1 for t in design.tasks if t.langs_r)
    carriers = [(t, b) for t in design.tasks for b, _ in _variants(t) if _carries_gamma(t, b)]
    if not carriers:
        raise ValueError("the design has no XTREME-R-only task to carry γ")
    out: dict[SlopeKey, float] = {}
    for arm in design.arms:
        for t in design.tasks:
            for b, _ in _variants(t):
                dev = rng.uniform(-design.slope_spread, design.slope_spread) if design.slope_spread > 0 else 0.0
                out[(arm, t.name, b)] = design.slope0 + dev
        now = sum(out[(arm, t.name, b)] / nr for t in design.tasks for b, _ in _variants(t) if _in(t, b, XTREME_R))
        now -= sum(out[(arm, t.name, b)] / nx for t in design.tasks for b, _ in _variants(t) if _in(t, b, XTREME))
        for t, b in carriers:
            out[(arm, t.name, b)] += (gamma - now) * nr / len(carriers)
    return out


def _in(task: SimTask, bench: str | None, benchmark: str) -> bool:
    """Whether run group (task, bench) is scored in `benchmark`."""
    langs = task.langs_x if benchmark == XTREME else task.langs_r
    return bool(langs) and bench in (None, benchmark)


def simulate_cells(
    design: SimDesign, gamma: float, rng: np.random.Generator, slopes: dict[SlopeKey, float] | None = None
) -> list[SimCell]:
    """Draw one study: every (task, language, run group) with per-run per-example statistics.
    `slopes` overrides the gain slopes (`gain_slopes`; when drawing a design one task at a time)."""
    if design.scale not in ("probability", "logit"):
        raise ValueError(f"scale={design.scale!r}; expected 'probability' or 'logit'")
    logit = design.scale == "logit"
    x = np.log10(np.asarray(design.sizes, float))
    xc = x - x.mean()
    slopes = gain_slopes(design, gamma, rng) if slopes is None else slopes
    systems = [(s, a) for s in design.sizes for a in (BASELINE_ARM, *design.arms)]
    n_arms = 1 + len(design.arms)
    sys_x = np.repeat(xc, n_arms)
    sys_size = np.repeat(np.arange(len(design.sizes)), n_arms)
    n_runs = np.array([_n_seeds(design, a) for _, a in systems])
    run_off = np.concatenate([[0], np.cumsum(n_runs)])
    run_sys = np.repeat(np.arange(len(systems)), n_runs)
    unit = _LOGIT_PER_POINT if logit else 0.01  # seed SDs: points -> the scale of p
    out: list[SimCell] = []
    for task in design.tasks:
        difficulty = {}
        factor = design.seed_factor(task.name)[sys_size]  # (S,)
        sd_u, sd_ul = unit * design.sigma_seed * factor, unit * design.sigma_seed_lang * factor
        for bench, langs in _variants(task):
            slope = np.array([0.0 if a == BASELINE_ARM else slopes[(a, task.name, bench)] for _, a in systems])
            u_all = rng.normal(0, 1, size=len(run_sys)) * sd_u[run_sys]  # task-level seed effects
            for lang in langs:
                n = design.n_examples
                ids = np.array([f"{task.name}-{lang}-{k:05d}" for k in range(n)])
                if lang not in difficulty:  # the same sentences for both Tatoeba protocols
                    difficulty[lang] = _effect(rng, logit, design.difficulty, n)
                b = difficulty[lang]
                base = design.base_level + rng.uniform(-design.base_spread, design.base_spread)
                gain0 = {a: rng.uniform(-design.gain_spread, design.gain_spread) for a in design.arms}
                benches = (
                    (bench,)
                    if bench
                    else tuple(bb for bb, ls in ((XTREME, task.langs_x), (XTREME_R, task.langs_r)) if lang in ls)
                )
                cell = SimCell(task.name, lang, benches, task.family, ids)
                score = 100 * (base + 0.02 * sys_x)
                score = score + np.array([0.0 if a == BASELINE_ARM else gain0[a] for _, a in systems]) + slope * sys_x
                p = _score_to_p(score, task.family)  # (S,) population mean of p
                h = _effect(rng, logit, design.heterogeneity, (len(systems), n))
                u = u_all + rng.normal(0, 1, size=u_all.shape) * sd_ul[run_sys]  # (runs,)
                if logit:
                    tau = np.sqrt(design.difficulty**2 + design.heterogeneity**2 + sd_u**2 + sd_ul**2)
                    eta = expit_mean_inverse(p, tau)
                    prob = _expit(eta[run_sys, None] + b[None, :] + h[run_sys] + u[:, None])
                else:
                    prob = np.clip(p[run_sys, None] + b[None, :] + h[run_sys] + u[:, None], 0.0, 1.0)
                raw = _draw(rng, prob, task.family)
                for k, sysk in enumerate(systems):
                    lo, hi = run_off[k], run_off[k + 1]
                    cell.runs[sysk] = raw[lo:hi]
                    cell.seeds[sysk] = tuple(range(hi - lo))
                    cell.truth[sysk] = float(score[k])
                out.append(cell)
    return out


def _effect(rng: np.random.Generator, logit: bool, width: float, size) -> np.ndarray:
    """An example-level effect: normal with SD `width` (logit scale) or uniform on ±`width` (probability)."""
    return rng.normal(0, width, size) if logit else rng.uniform(-width, width, size)


_LOGIT_PER_POINT = 0.04  # d logit(p) / dp at p = 0.5, per point (0.01 of p)
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(48)  # ∫ f(z) φ(z) dz = Σ w f(z) / √(2π)
_GH_WEIGHTS = _GH_WEIGHTS / np.sqrt(2 * np.pi)


def _expit(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def expit_mean(eta: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """E[expit(eta + tau Z)], Z standard normal (Gauss-Hermite quadrature, 48 nodes)."""
    z = np.asarray(eta, float)[..., None] + np.asarray(tau, float)[..., None] * _GH_NODES
    return _expit(z) @ _GH_WEIGHTS


def expit_mean_inverse(p: np.ndarray, tau: np.ndarray, iters: int = 50) -> np.ndarray:
    """The eta with E[expit(eta + tau Z)] = p (Newton's method from the probit approximation)."""
    p = np.asarray(p, float)
    if ((p <= 0) | (p >= 1)).any():
        raise ValueError("a simulated score is outside (0, 100): narrow the design's gains or levels")
    tau = np.broadcast_to(np.asarray(tau, float), p.shape)
    eta = np.log(p / (1 - p)) * np.sqrt(1 + np.pi * tau**2 / 8)
    for _ in range(iters):
        z = eta[..., None] + tau[..., None] * _GH_NODES
        e = _expit(z)
        step = (e @ _GH_WEIGHTS - p) / np.maximum((e * (1 - e)) @ _GH_WEIGHTS, 1e-12)
        eta = eta - step
        if np.abs(step).max() < 1e-12:
            break
    return eta


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
