"""The cost of a profile before compute: runs, examples, tokens, FLOPs, GPU-hours, disk, reuse, FSDP.

`xstilts plan PROFILE` (`make plan`) is offline and takes seconds: it walks the grid (xstilts.study.grid
.plan_runs, so counts are the grid's own) and prices each run from dataset sizes (compute/task_sizes.csv,
with sources; a miniature has none and is priced from its step caps) and the
training recipe (jiant: optimiser steps = epochs x ceil(N / effective batch), §5 of
docs/benchmarks.md). FLOPs follow Kaplan et al. 2020: 6*N*tokens to train, 2*N*tokens to run forward,
N = the model's parameter count. GPU-hours = FLOPs / (peak x MFU) on a stated GPU, unless a measured
throughput (outputs/bench/bench.json) overrides them. Everything is an upper bound on compute: early
stopping (patience) only shortens runs.

Disk hygiene priced here: an intermediate checkpoint lives until every target run of its (size, arm)
is done; a target run keeps no checkpoint unless a later run scores its encoder (none does: Tatoeba-R
is scored inside the SQuAD-trained xquad run); hub checkpoints, raw datasets and tokenized features are cached once.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xstilts.benchmarks import formats as F
from xstilts.benchmarks import registry
from xstilts.benchmarks.registry import ARM_NONE
from xstilts.compute.memory import Shape, count_params, min_gpus, model_shape, train_memory_gb
from xstilts.paths import outputs_dir
from xstilts.study.grid import plan_runs
from xstilts.study.profile import Profile

SIZES_FILE = Path(__file__).with_name("task_sizes.csv")
PHASES = ("data", "pretrained", "intermediate", "target", "analysis")


# --- assumptions --------------------------------------------------------------------------------------


@dataclass
class Assumptions:
    """What the estimate assumes; printed under the table and stored beside the CSV."""

    gpu: str = "NVIDIA H100 SXM 80GB"
    peak_tflops: float = 989.0  # bf16 dense tensor-core peak (NVIDIA H100 SXM datasheet)
    gpu_memory_gb: float = 80.0
    mfu: float = 0.40  # model FLOPs utilisation assumed (a measured bench overrides)
    checkpoint_bytes_per_param: int = 4  # save_pretrained of an fp32 encoder (safetensors)
    hub_bytes_per_param: int = 4  # hub checkpoints are stored in fp32
    feature_bytes_per_token: int = 8  # tokenized features: int64 input_ids (datasets/arrow)
    text_bytes_per_token: int = 4  # raw UTF-8 text per sentencepiece token (~4 characters)
    output_bytes_per_example: int = 200  # predictions + per-example statistics per evaluated example
    shards: int = 1  # concurrent workers (each may hold one target checkpoint in flight)
    throughput: dict = field(default_factory=dict)  # measured tokens/s per model (bench.json)
    bench_source: str = ""

    @property
    def flops_per_gpu_s(self) -> float:
        return self.peak_tflops * 1e12 * self.mfu


def read_bench(path: Path | None = None) -> dict:
    """outputs/bench/bench.json if present: {"device", "mfu", "models": {name: {"train_tokens_per_s",
    "eval_tokens_per_s"}}}; {} when absent. Measured numbers replace the assumed MFU."""
    path = Path(path) if path else outputs_dir("bench") / "bench.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: not valid JSON ({err}); expected {{'mfu': float, 'models': {{name: "
            f"{{'train_tokens_per_s': float}}}}}}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with keys 'mfu' and/or 'models'")
    data["_path"] = str(path)
    return data


# --- dataset sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    examples: int
    tokens: float  # mean tokens per example (all its sequences)

    @property
    def total_tokens(self) -> float:
        return self.examples * self.tokens


class Sizes:
    """Dataset sizes by task name: English train/dev, test per language, retrieval corpora."""

    def __init__(self, rows: dict[tuple[str, str], dict[str, Split]], source: str):
        self.rows = rows
        self.source = source

    @classmethod
    def from_csv(cls, path: Path = SIZES_FILE) -> Sizes:
        rows: dict[tuple[str, str], dict[str, Split]] = defaultdict(dict)
        with open(path, newline="") as fh:
            lines = [line for line in fh if not line.startswith("#")]
        for i, rec in enumerate(csv.DictReader(lines)):
            try:
                rows[rec["task"], rec["split"]][rec["language"]] = Split(int(rec["examples"]), float(rec["tokens"]))
            except (KeyError, ValueError) as err:
                raise ValueError(
                    f"{path}: row {i + 2} needs task, split, language, examples (int), tokens (float): {err}"
                ) from None
        return cls(dict(rows), str(path))

    @classmethod
    def for_profile(cls, cfg: dict) -> Sizes:
        """The real datasets' sizes (data/task_sizes.csv); a miniature has none (its runs are priced from
        their step caps)."""
        if cfg["world"] is None:
            return cls.from_csv()
        return cls({}, "miniature (no size table: upper bounds from max_steps and max_seq_len; evaluation not priced)")

    def english(self, name: str, split: str) -> Split | None:
        return self.rows.get((name, split), {}).get("")

    def per_language(self, name: str, split: str, languages) -> list[Split]:
        table = self.rows.get((name, split), {})
        out = []
        for lang in languages:
            hit = table.get(lang, table.get("*"))
            if hit is not None:
                out.append(hit)
        if not languages and "" in table:
            out.append(table[""])
        return out

    def corpus(self, name: str, languages) -> list[Split]:
        table = self.rows.get((name, "corpus"), {})
        if "" in table:
            return [table[""]]
        return [table[lang] for lang in languages if lang in table]


# --- per-run costs ------------------------------------------------------------------------------------


@dataclass
class RunCost:
    """The estimated cost of one run of the grid."""

    phase: str
    run: str
    model: str = ""
    arm: str = ""
    protocol: str = ""
    params: int = 0
    train_examples: int = 0  # examples seen in training (steps x effective batch)
    eval_examples: int = 0  # examples run forward for evaluation (dev selection + test + corpora)
    train_tokens: float = 0.0
    eval_tokens: float = 0.0
    steps: int = 0
    train_flops: float = 0.0
    eval_flops: float = 0.0
    gpu_hours: float = 0.0
    checkpoint_bytes: float = 0.0  # what the run writes as a checkpoint (0: none)
    gpus: int = 1  # GPUs one run needs (>1: FSDP)
    memory_gb: float = 0.0  # estimated peak memory on one GPU without sharding

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops


def _steps(n: int, hp: dict) -> int:
    """jiant: max_steps = epochs x ceil(N / effective batch), capped by an explicit max_steps."""
    eff = hp["batch_size"] * hp["grad_accum"]
    steps = math.ceil(hp["epochs"] * math.ceil(n / eff)) if n else 0
    if hp.get("max_steps") is not None:
        steps = hp["max_steps"] if not n else min(steps, hp["max_steps"])
    return int(steps)


def _n_evals(steps: int, hp: dict) -> int:
    every = hp.get("eval_every_steps") or 0
    return (steps // every if every else 0) + 1


def _cap(tokens: float, hp: dict, sequences: int) -> float:
    return min(tokens, hp["max_seq_len"] * sequences) if tokens else hp["max_seq_len"] * sequences


def _sequences(task) -> int:
    """Sequences the encoder runs per example: one per choice (multiple choice), two for dual encoders."""
    if task.format == F.MULTIPLE_CHOICE:
        return task.num_choices or 2
    if task.format in (F.ANSWER_RETRIEVAL, F.ENTITY_RETRIEVAL):
        return 2
    return 1


class Pricer:
    """Prices every run of a profile; one instance per plan."""

    def __init__(self, profile: Profile, assumptions: Assumptions, sizes: Sizes | None = None):
        self.profile = profile
        self.cfg = profile.cfg
        self.a = assumptions
        self.sizes = sizes or Sizes.for_profile(self.cfg)
        self.registry = registry.REGISTRY
        self.models = {m["name"]: m for m in self.cfg["models"]}
        vocab = self.cfg["tokenizer"]["vocab_size"]
        self.shapes: dict[str, Shape | None] = {n: model_shape(m, vocab) for n, m in self.models.items()}
        self.params = {
            n: int(m.get("params") or (count_params(self.shapes[n]) if self.shapes[n] else 0))
            for n, m in self.models.items()
        }

    # GPU-hours: measured tokens/s for this model if the bench has it, else FLOPs at the assumed MFU.
    def gpu_hours(
        self, model: str, train_tokens: float, eval_tokens: float, train_flops: float, eval_flops: float
    ) -> float:
        measured = self.a.throughput.get(model, {})
        hours = 0.0
        if measured.get("train_tokens_per_s"):
            hours += train_tokens / measured["train_tokens_per_s"] / 3600
        else:
            hours += train_flops / self.a.flops_per_gpu_s / 3600
        if measured.get("eval_tokens_per_s"):
            hours += eval_tokens / measured["eval_tokens_per_s"] / 3600
        else:
            hours += eval_flops / self.a.flops_per_gpu_s / 3600
        return hours

    def _finish(self, cost: RunCost, hp: dict | None) -> RunCost:
        n = cost.params
        cost.train_flops = 6 * n * cost.train_tokens
        cost.eval_flops = 2 * n * cost.eval_tokens
        cost.gpu_hours = self.gpu_hours(
            cost.model, cost.train_tokens, cost.eval_tokens, cost.train_flops, cost.eval_flops
        )
        if hp is not None and n:
            shape = self.shapes.get(cost.model)
            cost.memory_gb = round(train_memory_gb(n, shape, hp["batch_size"], hp["max_seq_len"]), 1)
            cost.gpus = min_gpus(n, shape, hp["batch_size"], hp["max_seq_len"], self.a.gpu_memory_gb)
        return cost

    def _train(self, names_tasks: list[tuple[str, object]], hp: dict) -> tuple[int, int, float, float, int]:
        """(steps, examples seen, train tokens, dev-selection tokens, dev examples) for a task list.

        Several tasks (multi-task arm, ANLI+ listed as one) train with size-proportional sampling: the
        steps add up (jiant configurator) and each task contributes its own epochs' worth of tokens."""
        eff = hp["batch_size"] * hp["grad_accum"]
        steps = seen = 0
        tokens = 0.0
        dev_tokens_per_eval = 0.0
        dev_examples_per_eval = 0
        per_task = []
        for name, task in names_tasks:
            tr = self.sizes.english(name, "train")
            s = _steps(tr.examples if tr else 0, hp)
            per_task.append((name, task, tr, s))
        total = sum(s for *_, s in per_task)
        cap = hp.get("max_steps")
        scale = min(1.0, cap / total) if cap is not None and total else 1.0
        for name, task, tr, s in per_task:
            s = s * scale
            tok = _cap(tr.tokens if tr else 0.0, hp, _sequences(task))
            steps += s
            seen += s * eff
            tokens += s * eff * tok
            dev = self.sizes.english(name, "dev")
            n_dev = min(hp["eval_subset"], dev.examples) if dev else hp["eval_subset"]
            dev_examples_per_eval += n_dev
            dev_tokens_per_eval += n_dev * _cap(dev.tokens if dev else 0.0, hp, _sequences(task))
        steps = int(round(steps))
        n_evals = _n_evals(steps, hp)
        return steps, int(round(seen)), tokens, n_evals * dev_tokens_per_eval, n_evals * dev_examples_per_eval

    def data(self, run) -> RunCost:
        cost = RunCost("data", run.id)
        examples = tokens = 0.0
        names = {self.registry[k].name for k in run.spec.get("tasks", []) if k in self.registry}
        for (name, _split), table in self.sizes.rows.items():
            if name in names:
                for split in table.values():
                    examples += split.examples
                    tokens += split.total_tokens
        cost.eval_examples = int(examples)  # examples downloaded and prepared (no GPU work)
        cost.eval_tokens = 0.0
        return cost

    def pretrained(self, run) -> RunCost:
        name = run.prefix.split("-", 1)[1] if "-" in run.prefix else run.prefix
        if run.prefix == "tokenizer":
            return RunCost("pretrained", run.id, model="tokenizer")
        cost = RunCost("pretrained", run.id, model=name, params=self.params.get(name, 0))
        if run.prefix.startswith("mlm-"):
            pre = self.cfg["pretrain"]
            cost.steps = pre["steps"]
            cost.train_examples = pre["steps"] * pre["batch_size"]
            cost.train_tokens = float(cost.train_examples * pre["seq_len"])
            cost.checkpoint_bytes = cost.params * self.a.checkpoint_bytes_per_param
            return self._finish(cost, {"batch_size": pre["batch_size"], "max_seq_len": pre["seq_len"]})
        cost.checkpoint_bytes = cost.params * self.a.hub_bytes_per_param  # the hub download
        return cost

    def intermediate(self, run, model: str) -> RunCost:
        hp = run.spec["train"]
        tasks = [(k.split(".", 1)[1], self.registry[k]) for k in run.spec["tasks"]]
        cost = RunCost("intermediate", run.id, model=model, arm=run.spec["arm"], params=self.params[model])
        cost.steps, cost.train_examples, cost.train_tokens, dev_tokens, dev_examples = self._train(tasks, hp)
        cost.eval_tokens, cost.eval_examples = dev_tokens, dev_examples
        cost.checkpoint_bytes = cost.params * self.a.checkpoint_bytes_per_param
        return self._finish(cost, hp)

    def target(self, run) -> RunCost:
        spec = run.spec
        model = spec["model"]
        tasks = [self.registry[k] for k in spec["tasks"]]
        trained = next((t for t in tasks if t.train_schedule != "none"), tasks[0])
        by_name: dict[str, dict[str, None]] = {}  # each task (both benchmarks' entries) is evaluated once
        for t in tasks:
            by_name.setdefault(t.name, {}).update(dict.fromkeys(t.languages))
        cost = RunCost(
            "target", run.id, model=model, arm=spec["arm"], protocol=spec["protocol"], params=self.params[model]
        )
        hp = spec.get("train")
        if hp is not None:
            cost.steps, cost.train_examples, cost.train_tokens, dev_tokens, dev_examples = self._train(
                [(trained.name, trained)], hp
            )
            cost.eval_tokens += dev_tokens
            cost.eval_examples += dev_examples
        for name, langs in by_name.items():
            if spec.get("eval_languages"):
                langs = {lang: None for lang in langs if lang in spec["eval_languages"]}
            for split in (*self.sizes.per_language(name, "test", list(langs)), *self.sizes.corpus(name, list(langs))):
                cost.eval_examples += split.examples
                cost.eval_tokens += split.total_tokens
        return self._finish(cost, hp)


# --- the plan -----------------------------------------------------------------------------------------


@dataclass
class Plan:
    """Per-run costs plus the disk and reuse accounting of one profile."""

    profile: str
    costs: list[RunCost]
    runs_per_phase: dict[str, int]
    disk: dict[str, float]
    reuse: dict[str, float]
    fsdp: dict[str, int]
    assumptions: Assumptions
    sizes_source: str
    seconds: float = 0.0

    def phase_rows(self) -> list[dict]:
        """One row per phase plus a total: the table `xstilts plan` prints and writes as CSV."""
        rows = []
        for phase in PHASES:
            cs = [c for c in self.costs if c.phase == phase]
            rows.append(_row(phase, self.runs_per_phase.get(phase, 0), cs))
        rows.append(_row("total", sum(self.runs_per_phase.values()), self.costs))
        return rows

    def model_rows(self) -> list[dict]:
        by_model: dict[str, list[RunCost]] = defaultdict(list)
        for c in self.costs:
            if c.phase in ("intermediate", "target"):
                by_model[c.model].append(c)
        return [
            {
                "model": m,
                **_row("", len(cs), cs),
                "gpus_per_run": max(c.gpus for c in cs),
                "memory_one_gpu_gb": max(c.memory_gb for c in cs),
            }
            for m, cs in by_model.items()
        ]


def _row(phase: str, runs: int, cs: list[RunCost]) -> dict:
    return {
        "phase": phase,
        "runs": runs,
        "train_examples": sum(c.train_examples for c in cs),
        "eval_examples": sum(c.eval_examples for c in cs),
        "train_tokens": sum(c.train_tokens for c in cs),
        "eval_tokens": sum(c.eval_tokens for c in cs),
        "train_flops": sum(c.train_flops for c in cs),
        "eval_flops": sum(c.eval_flops for c in cs),
        "gpu_hours": sum(c.gpu_hours for c in cs),
        "checkpoint_bytes": sum(c.checkpoint_bytes for c in cs),
        "fsdp_runs": sum(1 for c in cs if c.gpus > 1),
    }


def _tokenizer_group(pricer: Pricer, model: str) -> str:
    """Models that share a tokenizer share tokenized features (the feature cache keys on the tokenizer).
    Hub models are grouped by vocabulary size (base/large 250,002; XL/XXL 250,880), miniature ones share
    the profile's trained tokenizer."""
    shape = pricer.shapes.get(model)
    m = pricer.models[model]
    if m.get("arch"):
        return "miniature"
    return f"vocab-{shape.vocab}" if shape else m.get("hub") or model


def build_plan(profile: Profile, assumptions: Assumptions | None = None, sizes: Sizes | None = None) -> Plan:
    """Price every run of `profile` (xstilts.study.grid.plan_runs) and account disk and reuse."""
    started = time.perf_counter()
    a = assumptions or Assumptions()
    pricer = Pricer(profile, a, sizes)
    runs = plan_runs(profile)
    pre_model = {}
    for r in runs["pretrained"]:
        if r.prefix != "tokenizer":
            pre_model[r.id] = r.prefix.split("-", 1)[1]
    costs: list[RunCost] = []
    costs += [pricer.data(r) for r in runs["data"]]
    costs += [pricer.pretrained(r) for r in runs["pretrained"]]
    inter_cost = {}
    for r in runs["intermediate"]:
        c = pricer.intermediate(r, pre_model[r.spec["parent"]])
        inter_cost[r.id] = c
        costs.append(c)
    target_costs = {r.id: pricer.target(r) for r in runs["target"]}
    costs += list(target_costs.values())
    costs += [RunCost("analysis", r.id) for r in runs["analysis"]]

    # Disk. A target run keeps a checkpoint only when a later run scores its encoder (its id is a parent).
    parents = {r.spec["parent"] for r in runs["target"]}
    for c in target_costs.values():
        if c.run in parents:
            c.checkpoint_bytes = c.params * a.checkpoint_bytes_per_param
    hub = sum(
        c.checkpoint_bytes
        for c in costs
        if c.phase == "pretrained" and c.run in pre_model and pricer.models[pre_model[c.run]].get("hub")
    )
    mlm = sum(
        c.checkpoint_bytes
        for c in costs
        if c.phase == "pretrained" and c.run in pre_model and pricer.models[pre_model[c.run]].get("arch")
    )
    data_cost = costs[0]
    raw_tokens = sum(s.total_tokens for table in pricer.sizes.rows.values() for s in table.values())
    raw = raw_tokens * a.text_bytes_per_token
    # Tokenized features: one copy per (tokenizer, task, max_seq_len) - shared by every arm, seed and size
    # of a tokenizer group; without the cache every run would tokenize its own data again.
    featurized, per_run_tokens = {}, 0.0
    for r in runs["intermediate"] + runs["target"]:
        c = inter_cost.get(r.id) or target_costs[r.id]
        hp = r.spec.get("train") or {"max_seq_len": 512}
        group = _tokenizer_group(pricer, c.model)
        names = [k.split(".", 1)[1] for k in r.spec["tasks"]]
        data_tokens = 0.0
        for name in sorted(set(names)):
            data_tokens += sum(
                s.total_tokens for (n, _), table in pricer.sizes.rows.items() if n == name for s in table.values()
            )
            featurized[group, name, hp["max_seq_len"]] = sum(
                s.total_tokens for (n, _), table in pricer.sizes.rows.items() if n == name for s in table.values()
            )
        per_run_tokens += data_tokens
    features = sum(featurized.values()) * a.feature_bytes_per_token
    intermediate_ckpts = sum(c.checkpoint_bytes for c in inter_cost.values())
    borrowed = sum(c.checkpoint_bytes for c in target_costs.values())
    trained = [c for c in target_costs.values() if c.steps]
    biggest = max((c.params for c in trained), default=0) * a.checkpoint_bytes_per_param
    in_flight = a.shards * biggest
    outputs = sum(c.eval_examples for c in target_costs.values()) * a.output_bytes_per_example
    caches = hub + raw + features
    peak = caches + mlm + intermediate_ckpts + borrowed + in_flight + outputs
    keep_all = (
        caches + mlm + intermediate_ckpts + sum(c.params * a.checkpoint_bytes_per_param for c in trained) + outputs
    )
    disk = {
        "hub_models": hub,
        "datasets": raw,
        "features": features,
        "pretrained_mlm": mlm,
        "intermediate_checkpoints": intermediate_ckpts,
        "borrowed_target_checkpoints": borrowed,
        "in_flight_target_checkpoints": in_flight,
        "run_outputs": outputs,
        "peak": peak,
        "peak_without_hygiene": keep_all,
    }
    data_cost.checkpoint_bytes = raw

    # Reuse: each target run of an intermediate arm consumes its (size, arm) checkpoint; without sharing,
    # each would train its own.
    consumers: dict[tuple[str, str], int] = defaultdict(int)
    for c in target_costs.values():
        if c.arm != ARM_NONE:
            consumers[c.model, c.arm] += 1
    inter_by_key = {(c.model, c.arm): c for c in inter_cost.values()}
    unshared = sum(inter_by_key[k].gpu_hours * n for k, n in consumers.items() if k in inter_by_key)
    shared = sum(c.gpu_hours for c in inter_cost.values())
    reuse = {
        "intermediate_gpu_hours_shared": shared,
        "intermediate_gpu_hours_unshared": unshared,
        "intermediate_gpu_hours_saved": max(unshared - shared, 0.0),
        "tokenized_tokens_cached": sum(featurized.values()),
        "tokenized_tokens_uncached": per_run_tokens,
        "featurizations_cached": len(featurized),
        "featurizations_uncached": sum(len(set(r.spec["tasks"])) for r in runs["intermediate"] + runs["target"]),
    }
    fsdp = {}
    for c in costs:
        if c.gpus > 1:
            fsdp[c.model] = max(fsdp.get(c.model, 1), c.gpus)
    return Plan(
        profile=profile.name,
        costs=costs,
        runs_per_phase={p: len(runs[p]) for p in PHASES},
        disk=disk,
        reuse=reuse,
        fsdp=fsdp,
        assumptions=a,
        sizes_source=pricer.sizes.source,
        seconds=time.perf_counter() - started,
    )


# --- presentation ------------------------------------------------------------------------------------


def si(x: float, unit: str = "") -> str:
    """1234567 -> '1.23M'; bytes with unit='B' use powers of 1000 (GB, TB)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "?"
    for factor, suffix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}{unit}"
    return f"{x:.3g}{unit}" if isinstance(x, float) else f"{x}{unit}"


def hours(x: float) -> str:
    """GPU-hours for the table; below a minute of GPU time the seconds read better."""
    if x >= 100:
        return f"{x:,.0f}"
    if x * 3600 >= 60 or x == 0:
        return f"{x:.3g}"
    return f"{x * 3600:.2g}s"


def format_plan(plan: Plan) -> str:
    """The ten-second table: per phase, then per model, then disk, reuse and the assumptions."""
    a = plan.assumptions
    head = (
        "phase",
        "runs",
        "train ex",
        "eval ex",
        "train tok",
        "eval tok",
        "train FLOP",
        "eval FLOP",
        "GPU-h",
        "disk",
        "FSDP",
    )
    rows = [head]
    for r in plan.phase_rows():
        rows.append(
            (
                r["phase"],
                str(r["runs"]),
                si(r["train_examples"]),
                si(r["eval_examples"]),
                si(r["train_tokens"]),
                si(r["eval_tokens"]),
                si(r["train_flops"]),
                si(r["eval_flops"]),
                hours(r["gpu_hours"]),
                si(r["checkpoint_bytes"], "B"),
                str(r["fsdp_runs"] or "-"),
            )
        )
    out = [
        f"plan for profile '{plan.profile}' (offline, {plan.seconds:.2f} s); data row: examples downloaded",
        _table(rows),
        "",
    ]
    mrows = [("model", "params", "runs", "GPU-h", "mem 1 GPU", "GPUs/run")]
    for r in plan.model_rows():
        params = next(c.params for c in plan.costs if c.model == r["model"])
        mrows.append(
            (
                r["model"],
                si(params),
                str(r["runs"]),
                hours(r["gpu_hours"]),
                f"{r['memory_one_gpu_gb']:.0f} GB",
                str(r["gpus_per_run"]) + (" (FSDP)" if r["gpus_per_run"] > 1 else ""),
            )
        )
    out += [_table(mrows), ""]
    d = plan.disk
    out.append(
        f"disk: peak {si(d['peak'], 'B')} with hygiene (without: {si(d['peak_without_hygiene'], 'B')}) = "
        f"hub models {si(d['hub_models'], 'B')} + datasets {si(d['datasets'], 'B')} + features "
        f"{si(d['features'], 'B')} + intermediate ckpts {si(d['intermediate_checkpoints'], 'B')} + ckpts "
        f"kept for later runs {si(d['borrowed_target_checkpoints'], 'B')} + in flight "
        f"{si(d['in_flight_target_checkpoints'], 'B')} + run outputs {si(d['run_outputs'], 'B')}"
    )
    u = plan.reuse
    out.append(
        f"reuse: intermediate checkpoints shared by every target save {hours(u['intermediate_gpu_hours_saved'])} "
        f"GPU-h ({hours(u['intermediate_gpu_hours_unshared'])} unshared vs {hours(u['intermediate_gpu_hours_shared'])}); "
        f"tokenized features shared by every arm/seed/size: {u['featurizations_cached']} featurizations "
        f"({si(u['tokenized_tokens_cached'])} tokens) instead of {u['featurizations_uncached']} "
        f"({si(u['tokenized_tokens_uncached'])} tokens)"
    )
    if plan.fsdp:
        out.append(
            "FSDP: "
            + ", ".join(f"{m} needs up to {g} GPUs per run" for m, g in plan.fsdp.items())
            + f" (full fine-tuning > 90% of {a.gpu_memory_gb:.0f} GB; accelerate config: xstilts.compute.memory)"
        )
    else:
        out.append(f"FSDP: no run needs it (every run fits one {a.gpu_memory_gb:.0f} GB GPU)")
    basis = f"{a.mfu:.0%} MFU" + (f" ({a.bench_source})" if a.bench_source and not a.throughput else "")
    if a.throughput:
        basis += f", measured throughput for {', '.join(sorted(a.throughput))} from {a.bench_source}"
    if a.mfu >= 0.3 and not a.throughput:
        out.append(
            f"note: {a.mfu:.0%} MFU is optimistic for micro-batches of 4 short sequences; --mfu 0.15 or a "
            f"measured bench (make bench on the GPU) gives a more realistic bill"
        )
    out.append(
        f"assumes {a.gpu}, {a.peak_tflops:.0f} TFLOP/s bf16 dense at {basis}; 6*N*tokens train, "
        f"2*N*tokens eval; no early stopping (upper bound); sizes: {plan.sizes_source}"
    )
    return "\n".join(out)


def _table(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(plan: Plan, path: Path) -> Path:
    """The per-phase table as CSV (raw numbers), plus a per-run CSV beside it (`<stem>_runs.csv`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = plan.phase_rows()
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    runs_path = path.with_name(path.stem + "_runs.csv")
    with open(runs_path, "w", newline="") as fh:
        fields = list(asdict(plan.costs[0]))
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(asdict(c) for c in plan.costs)
    summary = {
        "disk": plan.disk,
        "reuse": plan.reuse,
        "fsdp": plan.fsdp,
        "assumptions": {k: v for k, v in asdict(plan.assumptions).items()},
        "sizes": plan.sizes_source,
    }
    path.with_name(path.stem + "_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


# --- assumptions from the command line -------------------------------------------------------------


def assumptions_from(
    mfu: float | None = None,
    gpu: str = Assumptions.gpu,
    peak_tflops: float = Assumptions.peak_tflops,
    gpu_memory_gb: float = Assumptions.gpu_memory_gb,
    shards: int = 1,
    bench: str | None = None,
) -> Assumptions:
    """The assumptions of a plan: the stated ones, a measured bench (outputs/bench/bench.json by default)
    where present, and an explicit MFU over both."""
    a = Assumptions(gpu=gpu, peak_tflops=peak_tflops, gpu_memory_gb=gpu_memory_gb, shards=max(shards, 1))
    measured = read_bench(Path(bench) if bench else None)
    if measured:
        a.bench_source = measured["_path"]
        if measured.get("device"):
            a.gpu = str(measured["device"])
        if measured.get("mfu") and mfu is None:
            a.mfu = float(measured["mfu"])
        a.throughput = {k: v for k, v in (measured.get("models") or {}).items() if isinstance(v, dict)}
    if mfu is not None:
        if not 0 < mfu <= 1:
            raise ValueError(f"--mfu must be in (0, 1], got {mfu}")
        a.mfu = mfu
    return a
