"""The cost of a profile before compute: runs, tokens, FLOPs, GPU-hours, wall-clock, disk, reuse, FSDP.

`xstilts plan PROFILE` (`make plan`) is offline and takes seconds: it walks the grid (xstilts.study.grid
.plan_runs, so counts are the grid's own) and prices each run from dataset sizes (compute/task_sizes.csv,
with sources; a miniature has none and is priced from its step caps) and the training recipe (jiant:
optimiser steps = epochs x ceil(N / effective batch), docs/recipe.md §2).

What is priced is what the code encodes: one sequence per choice of a multiple-choice example; a QA
question's context window(s); a dual encoder's query and its candidate as two passes, each cut at its own
length (LAReQA's candidate is the answer sentence followed by its paragraph); the pooled candidate sets of
LAReQA and Mewsli-X encoded once per test language, as xstilts.data.loaders builds one retrieval set per
language; every sequence cut at the recipe's max_seq_len.

Time per run, on the GPUs of its layout (compute/memory.py: ranks x micro-batch x accumulation = the
recipe's effective batch), is the largest of three bounds, taken to overlap (FSDP prefetches the next
unit's all-gather during the current unit's compute):
- compute: model FLOPs (compute/flops.py: 6 N + 12 L d T per trained token, N non-embedding) at the assumed
  MFU of the stated peak, x 8/6 with activation checkpointing (the forward runs twice);
- communication (sharded runs): per micro-batch FSDP FULL_SHARD all-gathers the bf16 parameters twice
  (forward, and backward after resharding) and reduce-scatters the fp32 gradient, i.e. (2 + 2 + 4) bytes x
  P x (g - 1) / g per GPU (ring collectives) over the stated per-GPU bandwidth, once per encoder pass (a
  dual encoder makes two); an evaluation forward all-gathers once;
- launch floor: eager PyTorch cannot run a layer's forward and backward of one micro-batch (per pass)
  faster than its kernels launch (`layer_floor_ms`, assumed; `make gpu-check` measures it); a forward alone
  costs a third.
Measured throughput (outputs/bench/bench.json, tokens/s per GPU) replaces the compute and floor bounds.
Evaluation after training runs on one GPU (rank 0) with the run's other GPUs held: billed to all of them.
GPU-hours = wall-clock x GPUs. Not priced: loading models and data, tokenizing (cached once), writing
checkpoints (the best encoder at each improving dev evaluation, resumable states) and queueing. The compute
is an upper bound: early stopping (patience) only shortens runs.

Disk follows the run path's hygiene rule: a target run's encoder is deleted once its evaluation is written
(per-example statistics, predictions and the submission layout are kept); an intermediate checkpoint lives
until every target run that loads it is complete; hub checkpoints, raw datasets and tokenized features are
cached once. `peak` is the most the profile holds at once (every intermediate checkpoint, plus the encoders
and resumable states of the runs in flight); `final` is what a finished profile leaves.
"""

from __future__ import annotations

import csv
import json
import math
import re
import textwrap
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xstilts.benchmarks import formats as F
from xstilts.benchmarks import registry
from xstilts.benchmarks.official import INTERMEDIATE
from xstilts.benchmarks.registry import ARM_NONE
from xstilts.compute.disk import (
    EVAL_RECORD_BYTES,
    FEATURE_BYTES_PER_EXAMPLE,
    OUTPUT_BYTES_PER_EXAMPLE,
    RUN_RECORD_BYTES,
    TOKENIZER_BYTES_PER_PIECE,
    WORLD_BYTES_PER_EXAMPLE,
    WORLD_BYTES_PER_SENTENCE,
)
from xstilts.compute.flops import RECOMPUTE, flops_per_token
from xstilts.compute.memory import Layout, Shape, layouts, model_params, model_shape, size_ranks, train_memory_gb
from xstilts.paths import outputs_dir
from xstilts.study.grid import is_pilot, is_selection, plan_runs
from xstilts.study.profile import Profile

SIZES_FILE = Path(__file__).with_name("task_sizes.csv")
PHASES = ("data", "pretrained", "intermediate", "target", "analysis")
# FSDP FULL_SHARD bytes per parameter and micro-batch: bf16 all-gather in the forward and again in the
# backward (2 + 2), fp32 reduce-scatter of the gradient (4) - the engine's mixed precision
# (xstilts.engine.distributed.fsdp_plugin_for: param_dtype bf16, reduce_dtype fp32)
COMM_BYTES_TRAIN = 2 + 2 + 4
COMM_BYTES_FORWARD = 2
# The dual encoders' query and candidate lengths (engine/dual_encoder.py RECIPES, from XTREME-R's
# train_lareqa.sh / train_mewslix.sh); BUCC and Tatoeba encode at retrieval_eval's default of 512.
QUERY_MAX = {F.ANSWER_RETRIEVAL: 96, F.ENTITY_RETRIEVAL: 64}
CANDIDATE_MAX = {F.ANSWER_RETRIEVAL: 256, F.ENTITY_RETRIEVAL: 64}
RETRIEVAL_MAX = 512
DOC_STRIDE = 128  # engine/qa.py: context windows start 128 tokens apart at 384 tokens
EVAL_BATCH = 64  # predict() and encode() batch size
DEV_BATCH_MULTIPLIER = 2  # the trainer's dev batch = 2 x its micro-batch (TrainConfig.eval_batch_multiplier)


# --- assumptions --------------------------------------------------------------------------------------


@dataclass
class Assumptions:
    """What the estimate assumes; printed under the table and stored beside the CSV."""

    gpu: str = "NVIDIA H100 SXM 80GB"
    peak_tflops: float = 989.0  # bf16 dense tensor-core peak (NVIDIA H100 SXM datasheet)
    gpu_memory_gb: float = 80.0
    usable_memory: float = 0.9  # share of a GPU's memory a layout may plan to use
    mfu: float = 0.40  # model FLOPs utilisation assumed (a measured bench overrides)
    # NCCL bus bandwidth per GPU for all-gather / reduce-scatter: 80% (assumed) of NVLink 4's 450 GB/s per
    # direction within a node (H100 SXM datasheet: 900 GB/s bidirectional), of 400 Gb/s NDR InfiniBand per
    # GPU across nodes (ConnectX-7 datasheet)
    intra_node_gb_s: float = 360.0
    inter_node_gb_s: float = 40.0
    gpus_per_node: int = 8
    layer_floor_ms: float = 0.5  # least time of one layer's forward + backward of a micro-batch (assumed)
    time_limit_h: float = 24.0  # a job's time limit: longer runs are requeued from their checkpoint
    ranks: dict = field(default_factory=dict)  # GPUs per run fixed per model (else the fewest that fit)
    checkpoint_bytes_per_param: int = 4  # save_pretrained of an fp32 encoder (safetensors)
    resumable_bytes_per_param: int = 12  # a resumable state: fp32 weights + Adam m, v
    hub_bytes_per_param: int = 4  # hub checkpoints are stored in fp32
    feature_bytes_per_token: int = 8  # tokenized features: int64 input_ids (datasets/arrow)
    text_bytes_per_token: int = 4  # raw UTF-8 text per sentencepiece token (~4 characters)
    shards: int = 1  # concurrent workers (each may hold one run in flight)
    throughput: dict = field(default_factory=dict)  # measured tokens/s per GPU per model (bench.json)
    bench_source: str = ""
    measured: str = ""  # the gpu-check report the MFU / floor / bandwidth were read from

    @property
    def flops_per_gpu_s(self) -> float:
        return self.peak_tflops * 1e12 * self.mfu

    def bandwidth(self, ranks: int) -> float:
        """Bytes per second per GPU of a collective over `ranks` GPUs."""
        gb_s = self.intra_node_gb_s if ranks <= self.gpus_per_node else self.inter_node_gb_s
        return gb_s * 1e9


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
    query_tokens: float = 0.0  # dual-encoder pairs: the query's share of `tokens`

    @property
    def total_tokens(self) -> float:
        return self.examples * self.tokens


def resolved_world(cfg: dict) -> dict | None:
    """A miniature profile's world with its defaults and size preset (None for a hub profile)."""
    if cfg["world"] is None:
        return None
    from xstilts.miniworld.world_config import resolve_config  # miniature profiles only

    return resolve_config(cfg["world"])


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
                split = Split(int(rec["examples"]), float(rec["tokens"]), float(rec.get("query_tokens") or 0))
                rows[rec["task"], rec["split"]][rec["language"]] = split
            except (KeyError, ValueError) as err:
                raise ValueError(
                    f"{path}: row {i + 2} needs task, split, language, examples (int), tokens (float), "
                    f"query_tokens (float or empty): {err}"
                ) from None
        return cls(dict(rows), f"compute/{Path(path).name}" if Path(path) == SIZES_FILE else str(path))

    @classmethod
    def for_profile(cls, cfg: dict) -> Sizes:
        """The real datasets' sizes (compute/task_sizes.csv), each split capped at the profile's
        `max_examples` as the loaders read it; a miniature has none (its runs are priced from their step
        caps)."""
        if cfg["world"] is not None:
            return cls.miniature(resolved_world(cfg)["sizes"])
        sizes, cap = cls.from_csv(), cfg.get("max_examples")
        if cap is not None:
            sizes.rows = {
                key: {lang: Split(min(s.examples, cap), s.tokens, s.query_tokens) for lang, s in table.items()}
                for key, table in sizes.rows.items()
            }
            sizes.source += f", capped at max_examples {cap}"
        return sizes

    @classmethod
    def miniature(cls, sizes: dict) -> Sizes:
        """A miniature world's test examples per language from its size preset (xstilts.miniworld); no token
        lengths and no English train/dev rows, so training is priced from max_steps and max_seq_len as upper
        bounds and evaluation FLOPs are not priced."""
        per_lang = {t.name: sizes["test"] for t in registry.REGISTRY.values() if INTERMEDIATE not in t.benchmarks}
        per_lang["tatoeba"] = 2 * sizes["tatoeba"]  # pairs, both sides
        rows = {(name, "test"): {"*": Split(n, 0.0)} for name, n in per_lang.items() if name != "bucc2018"}
        gold = sizes["bucc_gold"]  # the scored split's corpus, both sides: gold pairs and their distractors
        rows["bucc2018", "corpus"] = {"*": Split(2 * (gold + int(gold * sizes["bucc_distractor_ratio"])), 0.0)}
        return cls(
            rows,
            "miniature world sizes (test examples; no token lengths: training from max_steps, evaluation not priced)",
        )

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
        """The candidate sets one evaluation encodes: a pooled corpus (language '') once per evaluated
        language (each language's retrieval set holds the whole pool), or each language's own corpus."""
        table = self.rows.get((name, "corpus"), {})
        if "" in table:
            return [table[""]] * max(1, len(languages))
        return [table.get(lang, table.get("*")) for lang in languages if lang in table or "*" in table]


# --- what the encoder runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seqs:
    """The sequences the encoder runs for one example: (how many, mean tokens) per kind of sequence."""

    parts: tuple[tuple[float, float], ...]

    @property
    def tokens(self) -> float:
        return sum(n * t for n, t in self.parts)

    @property
    def count(self) -> float:
        return sum(n for n, _ in self.parts)


def train_seqs(task, split: Split | None, max_seq_len: int) -> Seqs:
    """What one training (or English dev) example of `task` costs the encoder: multiple choice runs one
    sequence per choice; a dual encoder its query and its candidate (two passes, each cut at its own
    length); QA one window of at most `max_seq_len` tokens, more when the question and context are longer,
    their starts `doc_stride` apart (engine/qa.py: 128, or a third of a window below 384 tokens); any other
    format one sequence cut at `max_seq_len`. Without a size (a miniature) every sequence is full length."""
    s = max_seq_len
    if task.format == F.MULTIPLE_CHOICE:
        k = task.num_choices or 2
        return Seqs(((k, min(split.tokens / k, s) if split else s),))
    if task.format in QUERY_MAX:
        q = (split.query_tokens or split.tokens / 2) if split else s
        cand = split.tokens - q if split else s
        return Seqs(((1, min(q, QUERY_MAX[task.format])), (1, min(cand, s))))
    tok = split.tokens if split else s
    if task.format == F.QA and tok > s:
        stride = min(DOC_STRIDE, max(1, s // 3))
        return Seqs(((1 + math.ceil((tok - s) / stride), s),))
    return Seqs(((1, min(tok, s)),))


def test_seqs(task, split: Split, max_seq_len: int | None, corpus: bool = False) -> Seqs:
    """One test example (a query, a retrieval candidate, or an example of a trained format)."""
    if task.format in QUERY_MAX:
        cap = CANDIDATE_MAX[task.format] if corpus else QUERY_MAX[task.format]
    elif task.format in F.RETRIEVAL_FORMATS:
        cap = RETRIEVAL_MAX
    else:
        return train_seqs(task, split, max_seq_len or RETRIEVAL_MAX)
    return Seqs(((1, min(split.tokens, cap)),))


def seq_flops(seqs: Seqs, shape: Shape | None, params: int, train: bool) -> float:
    """Model FLOPs of one example (compute/flops.py; without a shape: 6 or 2 x all parameters)."""
    if shape is None:
        return (6 if train else 2) * params * seqs.tokens
    return sum(n * t * flops_per_token(shape, t, train) for n, t in seqs.parts)


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
    gpu_hours: float = 0.0  # billed: wall-clock x GPUs
    checkpoint_bytes: float = 0.0  # what the run writes as a checkpoint (0: none)
    gpus: int = 1  # GPUs one run holds (>1: FSDP)
    memory_gb: float = 0.0  # estimated peak memory on one GPU without sharding
    micro_batch: int = 0  # per GPU
    max_seq_len: int = 0
    grad_accum: int = 0
    checkpointing: bool = False
    layout_memory_gb: float = 0.0  # estimated peak memory per GPU of the layout
    compute_gpu_hours: float = 0.0  # FLOPs at the MFU (x 8/6 with activation checkpointing), x GPUs
    comm_gpu_hours: float = 0.0  # FSDP all-gathers and reduce-scatters over the interconnect, x GPUs
    floor_gpu_hours: float = 0.0  # the kernel-launch floor, x GPUs
    eval_gpu_hours: float = 0.0  # of gpu_hours: evaluation (dev selection and test)
    wall_hours: float = 0.0
    requeues: int = 0  # times the run outlives a job's time limit
    # raw seconds, filled by the pricer
    micro_batches: float = 0.0  # per GPU, training
    passes: float = 1.0  # encoder passes per micro-batch (a dual encoder's query and candidate: 2)
    dev_batches: float = 0.0
    test_batches: float = 0.0
    dev_flops: float = 0.0
    test_flops: float = 0.0
    test_tokens: float = 0.0  # of eval_tokens: the test evaluation (the rest is dev selection)
    output_examples: int = 0  # examples whose prediction and statistics the run writes
    output_bytes: float = 0.0  # what the run keeps besides an encoder (compute/disk.py)

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops

    @property
    def fine_tunes(self) -> bool:
        """An lr pilot, intermediate or target run: the runs billed per model."""
        return self.phase in ("intermediate", "target") or self.arm == PILOT


PILOT = "lr pilot"  # the arm of an lr pilot run's cost (xstilts.study.lr_pilot)


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


class Pricer:
    """Prices every run of a profile; one instance per plan."""

    def __init__(self, profile: Profile, assumptions: Assumptions, sizes: Sizes | None = None):
        self.profile = profile
        self.cfg = profile.cfg
        self.a = assumptions
        self.world = resolved_world(self.cfg)
        self.sizes = sizes or (Sizes.miniature(self.world["sizes"]) if self.world else Sizes.for_profile(self.cfg))
        self.registry = registry.REGISTRY
        self.models = {m["name"]: m for m in self.cfg["models"]}
        vocab = self.cfg["tokenizer"]["vocab_size"]
        self.shapes: dict[str, Shape | None] = {n: model_shape(m, vocab) for n, m in self.models.items()}
        self.params = {n: model_params(m, self.shapes[n]) for n, m in self.models.items()}
        # the profile's layout (models[].ranks, .micro_batch) is what the study runs; --ranks overrides it
        fixed = {n: m["ranks"] for n, m in self.models.items() if "ranks" in m}
        self.micro = {n: m.get("micro_batch") for n, m in self.models.items() if n not in self.a.ranks}
        self.ranks = size_ranks(self.cfg, self.a.gpu_memory_gb, self.a.usable_memory, {**fixed, **self.a.ranks})
        self._layouts: dict[tuple, list[Layout]] = {}

    def test_languages(self, task) -> tuple[str, ...]:
        """A target's test languages: the registry's, or a miniature world's (world.task_languages)."""
        if self.world is None:
            return task.languages
        return tuple(self.world["task_languages"][task.benchmark].get(task.name, ()))

    # --- time ---------------------------------------------------------------------------------------

    def _layers(self, model: str) -> int:
        shape = self.shapes.get(model)
        return shape.layers if shape else 0

    def _train_seconds(self, c: RunCost, lay: Layout) -> tuple[float, float, float]:
        """(compute, communication, launch floor) seconds of the training steps on the layout's GPUs."""
        g = lay.ranks
        measured = self.a.throughput.get(c.model, {}).get("train_tokens_per_s")
        if measured:
            compute, floor = c.train_tokens / (measured * g), 0.0
        else:
            compute = c.train_flops * (RECOMPUTE if lay.checkpointing else 1.0) / (g * self.a.flops_per_gpu_s)
            floor = c.micro_batches * c.passes * self._layers(c.model) * self.a.layer_floor_ms / 1e3
        # each pass of a micro-batch gathers the parameters for its forward and backward
        comm = c.micro_batches * c.passes * COMM_BYTES_TRAIN * c.params * (g - 1) / g / self.a.bandwidth(g)
        comm = comm if g > 1 else 0.0
        return compute, comm, floor

    def _eval_seconds(self, c: RunCost, flops: float, batches: float, tokens: float, ranks: int) -> tuple:
        """(compute, communication, floor) seconds of forward passes on one GPU's speed; with `ranks` > 1
        the sharded forward all-gathers the parameters once per batch."""
        measured = self.a.throughput.get(c.model, {}).get("eval_tokens_per_s")
        compute = tokens / measured if measured else flops / self.a.flops_per_gpu_s
        floor = 0.0 if measured else batches * self._layers(c.model) * self.a.layer_floor_ms / 3 / 1e3
        g = ranks
        comm = batches * COMM_BYTES_FORWARD * c.params * (g - 1) / g / self.a.bandwidth(g) if g > 1 else 0.0
        return compute, comm, floor

    def _time(self, c: RunCost, lay: Layout | None) -> RunCost:
        """Wall-clock and GPU-hours of a priced run: training and dev selection on the layout's GPUs (the
        dev forward passes are collective under FSDP: every rank runs them), the test evaluation on one
        GPU with the others held."""
        g = lay.ranks if lay else 1
        tc = tm = tf = 0.0
        if lay is not None and c.steps:
            tc, tm, tf = self._train_seconds(c, lay)
        dc, dm, df = self._eval_seconds(c, c.dev_flops, c.dev_batches, c.eval_tokens - c.test_tokens, g)
        ec, _, ef = self._eval_seconds(c, c.test_flops, c.test_batches, c.test_tokens, 1)
        train_wall = max(tc, tm, tf)
        eval_wall = max(dc, dm, df) + max(ec, ef)
        wall = train_wall + eval_wall
        c.gpus = g
        c.wall_hours = wall / 3600
        c.gpu_hours = wall * g / 3600
        c.eval_gpu_hours = eval_wall * g / 3600
        c.compute_gpu_hours = (tc + dc + ec) * g / 3600
        c.comm_gpu_hours = (tm + dm) * g / 3600
        c.floor_gpu_hours = (tf + df + ef) * g / 3600
        c.requeues = max(0, math.ceil(c.wall_hours / self.a.time_limit_h) - 1) if c.wall_hours else 0
        return c

    def layout(self, model: str, hp: dict, c: RunCost) -> Layout:
        """The fastest layout of this run on its model's GPUs (ties: the largest micro-batch)."""
        eff = hp["batch_size"] * hp["grad_accum"]
        key = (model, eff, hp["max_seq_len"])
        if key not in self._layouts:
            self._layouts[key] = layouts(
                self.params[model],
                self.shapes.get(model),
                eff,
                hp["max_seq_len"],
                self.ranks[model],
                self.a.gpu_memory_gb,
                self.a.usable_memory,
            )
        options = self._layouts[key]
        if not options:
            raise ValueError(f"{model}: no layout of {eff} x {hp['max_seq_len']} fits {self.ranks[model]} GPUs")
        if model in self.micro:  # as the engine cuts it: micro_batch, or the recipe's batch_size over the ranks
            micro = self.micro[model] or hp["batch_size"] // self.ranks[model]
            options = [lay for lay in options if lay.micro_batch == micro]
            if not options:
                raise ValueError(
                    f"{model}: micro-batch {micro} on {self.ranks[model]} GPUs does not "
                    f"fit an effective batch of {eff} x {hp['max_seq_len']} tokens in "
                    f"{self.a.usable_memory:.0%} of {self.a.gpu_memory_gb:g} GB (models[].micro_batch)"
                )

        def seconds(lay: Layout) -> float:
            c.micro_batches = c.steps * lay.grad_accum
            return max(self._train_seconds(c, lay))

        best = min(options, key=lambda lay: (seconds(lay), -lay.micro_batch))
        c.micro_batches = c.steps * best.grad_accum
        return best

    def _finish(self, cost: RunCost, hp: dict | None) -> RunCost:
        lay = None
        if hp is not None and cost.params:
            shape = self.shapes.get(cost.model)
            cost.memory_gb = round(train_memory_gb(cost.params, shape, hp["batch_size"], hp["max_seq_len"]), 1)
            if cost.steps:
                lay = self.layout(cost.model, hp, cost)
                cost.micro_batch, cost.grad_accum = lay.micro_batch, lay.grad_accum
                cost.max_seq_len = hp["max_seq_len"]
                cost.checkpointing, cost.layout_memory_gb = lay.checkpointing, lay.memory_gb
                cost.dev_batches = cost.dev_batches / max(1, lay.micro_batch * DEV_BATCH_MULTIPLIER)
        if cost.params and lay is None and cost.model in self.ranks:
            lay = Layout(self.ranks[cost.model], 0, 0, False, 0.0)  # eval-only: the run holds the same GPUs
        cost.eval_flops = cost.dev_flops + cost.test_flops
        return self._time(cost, lay)

    # --- tokens and FLOPs -----------------------------------------------------------------------------

    def _train(self, c: RunCost, names_tasks: list[tuple[str, object]], hp: dict) -> None:
        """Steps, examples, tokens and FLOPs of training and of dev selection for a task list.

        Several tasks (multi-task arm, ANLI+ listed as one) train with size-proportional sampling: the
        steps add up (jiant configurator) and each task contributes its own epochs' worth of tokens."""
        eff = hp["batch_size"] * hp["grad_accum"]
        shape, params = self.shapes.get(c.model), c.params
        per_task = []
        for name, task in names_tasks:
            tr = self.sizes.english(name, "train")
            per_task.append((name, task, tr, _steps(tr.examples if tr else 0, hp)))
        total = sum(s for *_, s in per_task)
        cap = hp.get("max_steps")
        scale = min(1.0, cap / total) if cap is not None and total else 1.0
        steps = seen = passes = 0.0
        dev_examples = dev_tokens = dev_flops = 0.0
        for name, task, tr, s in per_task:
            s = s * scale
            seqs = train_seqs(task, tr, hp["max_seq_len"])
            steps += s
            passes += s * len(seqs.parts)
            seen += s * eff
            c.train_tokens += s * eff * seqs.tokens
            c.train_flops += s * eff * seq_flops(seqs, shape, params, True)
            dev = self.sizes.english(name, "dev")
            n_dev = min(hp["eval_subset"], dev.examples) if dev else hp["eval_subset"]
            dseqs = train_seqs(task, dev, hp["max_seq_len"])
            dev_examples += n_dev
            dev_tokens += n_dev * dseqs.tokens
            dev_flops += n_dev * seq_flops(dseqs, shape, params, False)
        c.steps = int(round(steps))
        c.passes = passes / steps if steps else 1.0
        c.train_examples = int(round(seen))
        n_evals = _n_evals(c.steps, hp)
        c.eval_examples += int(n_evals * dev_examples)
        c.eval_tokens += n_evals * dev_tokens
        c.dev_flops += n_evals * dev_flops
        c.dev_batches += n_evals * dev_examples  # divided by the dev batch once the layout is known

    def data(self, run) -> RunCost:
        cost = RunCost("data", run.id)
        names = {self.registry[k].name for k in run.spec.get("tasks", []) if k in self.registry}
        examples = sum(
            split.examples for (name, _), table in self.sizes.rows.items() if name in names for split in table.values()
        )
        cost.eval_examples = int(examples)  # examples downloaded and prepared (no GPU work)
        return cost

    def pretrained(self, run) -> RunCost:
        name = run.prefix.split("-", 1)[1] if "-" in run.prefix else run.prefix
        if run.prefix == "tokenizer":
            return RunCost("pretrained", run.id, model="tokenizer")
        cost = RunCost("pretrained", run.id, model=name, params=self.params.get(name, 0))
        if run.prefix.startswith("mlm-"):
            pre = self.cfg["pretrain"]
            shape = self.shapes.get(name)
            cost.steps = pre["steps"]
            cost.train_examples = pre["steps"] * pre["batch_size"]
            cost.train_tokens = float(cost.train_examples * pre["seq_len"])
            cost.train_flops = cost.train_examples * seq_flops(Seqs(((1, pre["seq_len"]),)), shape, cost.params, True)
            cost.checkpoint_bytes = cost.params * self.a.checkpoint_bytes_per_param
            hp = {"batch_size": pre["batch_size"], "grad_accum": 1, "max_seq_len": pre["seq_len"]}
            return self._finish(cost, hp)
        cost.checkpoint_bytes = cost.params * self.a.hub_bytes_per_param  # the hub download
        return cost

    def _score(self, cost: RunCost, examples: int, seqs: Seqs) -> None:
        """One scoring pass over `examples` (a test split, a retrieval corpus, a pilot's English dev set) on
        one GPU: its examples, tokens, forward FLOPs and evaluation batches."""
        cost.eval_examples += examples
        cost.test_tokens += examples * seqs.tokens
        cost.test_flops += examples * seq_flops(seqs, self.shapes.get(cost.model), cost.params, False)
        cost.test_batches += math.ceil(examples * seqs.count / EVAL_BATCH)

    def pilot(self, run) -> RunCost:
        """An lr pilot run: a target fine-tune of the `none` arm, then its task's whole English dev set
        scored once on one GPU (as a target run's test set)."""
        spec, hp = run.spec, run.spec["train"]
        model, task = spec["model"], self.registry[spec["tasks"][0]]
        cost = RunCost(
            "pretrained", run.id, model=model, arm=PILOT, protocol=spec["protocol"], params=self.params[model]
        )
        cost.output_bytes = RUN_RECORD_BYTES
        self._train(cost, [(task.name, task)], hp)
        dev = self.sizes.english(task.name, "dev")
        if dev:
            self._score(cost, dev.examples, train_seqs(task, dev, hp["max_seq_len"]))
        cost.eval_tokens += cost.test_tokens
        return self._finish(cost, hp)

    def intermediate(self, run, model: str) -> RunCost:
        hp = run.spec["train"]
        tasks = [(k.split(".", 1)[1], self.registry[k]) for k in run.spec["tasks"]]
        cost = RunCost("intermediate", run.id, model=model, arm=run.spec["arm"], params=self.params[model])
        self._train(cost, tasks, hp)
        cost.checkpoint_bytes = cost.params * self.a.checkpoint_bytes_per_param
        cost.output_bytes = RUN_RECORD_BYTES
        return self._finish(cost, hp)

    def target(self, run) -> RunCost:
        spec = run.spec
        model = spec["model"]
        tasks = [self.registry[k] for k in spec["tasks"]]
        trained = next((t for t in tasks if t.train_schedule != "none"), tasks[0])
        by_name: dict[str, tuple[object, dict[str, None]]] = {}  # each task (both benchmarks' entries) once
        for t in tasks:
            by_name.setdefault(t.name, (t, {}))[1].update(dict.fromkeys(self.test_languages(t)))
        cost = RunCost(
            "target", run.id, model=model, arm=spec["arm"], protocol=spec["protocol"], params=self.params[model]
        )
        cost.output_bytes = RUN_RECORD_BYTES
        hp = spec.get("train")
        if hp is not None:
            self._train(cost, [(trained.name, trained)], hp)
        max_len = (hp or {}).get("max_seq_len")
        for name, (task, langs) in by_name.items():
            if spec.get("eval_languages"):
                langs = {lang: None for lang in langs if lang in spec["eval_languages"]}
            tests = self.sizes.per_language(name, "test", list(langs))
            corpora = self.sizes.corpus(name, list(langs))
            parts = [(s, False) for s in tests] + [(s, True) for s in corpora]
            # a prediction and statistics per test example; BUCC (corpora only) per sentence, both sides
            written = sum(s.examples for s in tests or corpora)
            cost.output_examples += written
            cost.output_bytes += (
                written * OUTPUT_BYTES_PER_EXAMPLE[task.format] + len(tests or corpora) * EVAL_RECORD_BYTES
            )
            for split, corpus in parts:
                self._score(cost, split.examples, test_seqs(task, split, max_len, corpus))
        cost.eval_tokens += cost.test_tokens
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
            if c.fine_tunes:
                by_model[c.model].append(c)
        return [
            {
                "model": m,
                **_row("", len(cs), cs),
                "gpus_per_run": max(c.gpus for c in cs),
                "memory_one_gpu_gb": max(c.memory_gb for c in cs),
                "memory_per_gpu_gb": max(c.layout_memory_gb for c in cs),
                "longest_run_hours": max(c.wall_hours for c in cs),
                "runs_over_limit": sum(1 for c in cs if c.requeues),
                "layouts": _layouts(cs),
            }
            for m, cs in by_model.items()
        ]

    def wall_rows(self) -> list[tuple[str, dict[str, RunCost]]]:
        """Wall-clock per kind of run: (intermediate arm | target protocol) x model, the longest of each."""
        rows: dict[str, dict[str, RunCost]] = {}
        for c in self.costs:
            if not c.fine_tunes:
                continue
            kind = f"{c.phase} {c.arm if c.phase == 'intermediate' else c.protocol}"
            kind = f"{PILOT} {c.protocol}" if c.arm == PILOT else kind
            cell = rows.setdefault(kind, {})
            if c.model not in cell or c.wall_hours > cell[c.model].wall_hours:
                cell[c.model] = c
        return list(rows.items())


def _layouts(cs: list[RunCost]) -> list[str]:
    """The distinct layouts of some runs: 'GPUs x micro-batch x accumulation' at each max_seq_len."""
    seen = {}
    for c in cs:
        if c.steps:
            key = f"{c.gpus}x{c.micro_batch}x{c.grad_accum}" + (" ckpt" if c.checkpointing else "")
            seen.setdefault(key, set()).add(c.max_seq_len)
    return [f"{k} @{'/'.join(str(s) for s in sorted(v))}" for k, v in seen.items()]


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
        "compute_gpu_hours": sum(c.compute_gpu_hours for c in cs),
        "comm_gpu_hours": sum(c.comm_gpu_hours for c in cs),
        "floor_gpu_hours": sum(c.floor_gpu_hours for c in cs),
        "eval_gpu_hours": sum(c.eval_gpu_hours for c in cs),
        "runs_over_limit": sum(1 for c in cs if c.requeues),
        "requeues": sum(c.requeues for c in cs),
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


def _miniature_caches(pricer: Pricer, runs: dict) -> tuple[float, float]:
    """A miniature world's files and its feature cache, priced from the world's size preset: the corpus
    (a file per language), every English train/dev split and every test split of the world; a feature
    cache entry per (task, max_seq_len) holding its train, dev and test examples."""
    ws, sizes = pricer.world["sizes"], pricer.sizes
    english = ws["train"] + ws["dev"]
    tests = {}
    for tasks in pricer.world["task_languages"].values():
        for name, langs in tasks.items():
            tests.setdefault(name, set()).update(langs)
    test_examples = sum(
        s.examples for name, langs in tests.items() for s in sizes.per_language(name, "test", sorted(langs))
    )
    train_splits = {ref for t in pricer.registry.values() for ref in t.train}
    corpus_sentences = ws["corpus"] * (1 + len(pricer.world["languages"]))
    world = corpus_sentences * WORLD_BYTES_PER_SENTENCE + (len(train_splits) * english + test_examples) * (
        WORLD_BYTES_PER_EXAMPLE
    )
    cached = {}
    for r in runs["intermediate"] + runs["target"]:
        hp = r.spec.get("train")
        for key in r.spec["tasks"]:
            task = pricer.registry[key]
            langs = pricer.test_languages(task) if INTERMEDIATE not in task.benchmarks else ()
            n = english if hp is not None else 0
            n += sum(s.examples for s in sizes.per_language(task.name, "test", langs))
            cached[key, (hp or {}).get("max_seq_len")] = n
    return world, sum(cached.values()) * FEATURE_BYTES_PER_EXAMPLE


def build_plan(profile: Profile, assumptions: Assumptions | None = None, sizes: Sizes | None = None) -> Plan:
    """Price every run of `profile` (xstilts.study.grid.plan_runs) and account disk and reuse."""
    started = time.perf_counter()
    a = assumptions or Assumptions()
    pricer = Pricer(profile, a, sizes)
    runs = plan_runs(profile)
    pre_model = {}
    for r in runs["pretrained"]:
        if r.prefix != "tokenizer" and not is_pilot(r) and not is_selection(r):
            pre_model[r.id] = r.prefix.split("-", 1)[1]
    costs: list[RunCost] = []
    costs += [pricer.data(r) for r in runs["data"]]
    for r in runs["pretrained"]:
        costs.append(
            pricer.pilot(r) if is_pilot(r) else RunCost("pretrained", r.id) if is_selection(r) else pricer.pretrained(r)
        )
    pilot_costs = [c for c in costs if c.arm == PILOT]
    inter_cost = {}
    for r in runs["intermediate"]:
        c = pricer.intermediate(r, pre_model[r.spec["parent"]])
        inter_cost[r.id] = c
        costs.append(c)
    target_costs = {r.id: pricer.target(r) for r in runs["target"]}
    costs += list(target_costs.values())
    costs += [RunCost("analysis", r.id) for r in runs["analysis"]]

    # Disk. A target run keeps its encoder only when a later run scores it (its id is a parent); every
    # other target encoder is deleted once the run's evaluation is written.
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
        for name in sorted({k.split(".", 1)[1] for k in r.spec["tasks"]}):
            tokens = sum(
                s.total_tokens for (n, _), table in pricer.sizes.rows.items() if n == name for s in table.values()
            )
            per_run_tokens += tokens
            featurized[group, name, hp["max_seq_len"]] = tokens
    features = sum(featurized.values()) * a.feature_bytes_per_token
    if pricer.world is not None:
        raw, features = _miniature_caches(pricer, runs)
        tokenizers = 1 + sum(1 for m in pricer.models.values() if m.get("arch"))  # its run's, a copy per encoder
        mlm += tokenizers * pricer.cfg["tokenizer"]["vocab_size"] * TOKENIZER_BYTES_PER_PIECE
    intermediate_ckpts = sum(c.checkpoint_bytes for c in inter_cost.values())
    borrowed = sum(c.checkpoint_bytes for c in target_costs.values())
    trained = [c for c in target_costs.values() if c.steps]
    biggest = max((c.params for c in trained), default=0)
    in_flight = a.shards * biggest * a.checkpoint_bytes_per_param
    resumable = a.shards * biggest * a.resumable_bytes_per_param
    outputs = sum(c.output_bytes for c in pilot_costs + list(inter_cost.values()) + list(target_costs.values()))
    caches = hub + raw + features
    peak = caches + mlm + intermediate_ckpts + borrowed + in_flight + resumable + outputs
    final = caches + mlm + borrowed + outputs
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
        "in_flight_resumable_states": resumable,
        "run_outputs": outputs,
        "peak": peak,
        "final": final,
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


def format_bill(plan: Plan) -> str:
    """The bill: GPU-hours per model (compute, communication and the launch floor apart), wall-clock per
    run against the job time limit, disk, and what it assumes. Deterministic (no timings, no paths): the
    README quotes it for the paper profile."""
    a = plan.assumptions
    mrows = [
        (
            "model",
            "params",
            "runs",
            "GPUs/run",
            "mem/GPU",
            "compute GPU-h",
            "comm GPU-h",
            "floor GPU-h",
            "GPU-h",
            "of it: eval",
            "longest run",
            f"> {a.time_limit_h:g} h",
        )
    ]
    rows = plan.model_rows()
    for r in rows:
        params = next(c.params for c in plan.costs if c.model == r["model"])
        mrows.append(
            (
                r["model"],
                si(params),
                str(r["runs"]),
                str(r["gpus_per_run"]) + (" (FSDP)" if r["gpus_per_run"] > 1 else ""),
                f"{r['memory_per_gpu_gb']:.0f} GiB",
                hours(r["compute_gpu_hours"]),
                hours(r["comm_gpu_hours"]),
                hours(r["floor_gpu_hours"]),
                hours(r["gpu_hours"]),
                hours(r["eval_gpu_hours"]),
                f"{r['longest_run_hours']:.1f} h",
                str(r["runs_over_limit"] or "-"),
            )
        )
    total = plan.phase_rows()[-1]
    mrows.append(
        (
            "total",
            "",
            str(sum(r["runs"] for r in rows)),
            "",
            "",
            hours(sum(r["compute_gpu_hours"] for r in rows)),
            hours(sum(r["comm_gpu_hours"] for r in rows)),
            hours(sum(r["floor_gpu_hours"] for r in rows)),
            hours(sum(r["gpu_hours"] for r in rows)),
            hours(sum(r["eval_gpu_hours"] for r in rows)),
            f"{max((r['longest_run_hours'] for r in rows), default=0):.1f} h",
            str(total["runs_over_limit"] or "-"),
        )
    )
    out = [
        _prose(
            "GPU-hours per model (lr pilot, intermediate and target runs). GPU-h = sum over runs of wall-clock x GPUs; a run's "
            "training and its dev selection take the largest of their compute, communication and launch-floor "
            "times (overlapped), its test evaluation runs on one GPU while the run's others wait:"
        ),
        _table(mrows),
        "",
    ]
    pilot = [c for c in plan.costs if c.arm == PILOT]
    if pilot:
        spent = sum(c.gpu_hours for c in pilot)
        share = spent / max(sum(r["gpu_hours"] for r in rows), 1e-12)
        per_model = ", ".join(
            f"{m} {hours(sum(c.gpu_hours for c in pilot if c.model == m))}"
            for m in dict.fromkeys(c.model for c in pilot)
        )
        out += [
            _prose(
                f"of it, the lr pilot (docs/recipe.md §9.1): {len(pilot)} runs, {hours(spent)} GPU-h ({share:.0%}): "
                f"{per_model}"
            ),
            "",
        ]
    models = [r["model"] for r in rows]
    wrows = [("wall-clock per run", *models)]
    for kind, cells in plan.wall_rows():
        line = [kind]
        for m in models:
            c = cells.get(m)
            line.append("" if c is None else f"{c.wall_hours:.2f} h" + (f" R{c.requeues}" if c.requeues else ""))
        wrows.append(tuple(line))
    out += [
        _prose(
            f"wall-clock per run on its GPUs (Rn: needs n requeues at a {a.time_limit_h:g} h job limit; the "
            f"longest of the kind):"
        ),
        _table(wrows),
        "",
    ]
    d = plan.disk
    kept = [("hub models", d["hub_models"]), ("datasets", d["datasets"]), ("features", d["features"])]
    kept += [("run outputs", d["run_outputs"]), ("pretrained", d["pretrained_mlm"])]
    kept += [("encoders kept for later runs", d["borrowed_target_checkpoints"])]
    in_flight = d["in_flight_target_checkpoints"] + d["in_flight_resumable_states"]
    out.append(
        _prose(
            f"disk: peak {si(d['peak'], 'B')} with hygiene (without: {si(d['peak_without_hygiene'], 'B')}), "
            f"{si(d['final'], 'B')} left when the profile is finished = "
            + " + ".join(f"{name} {si(x, 'B')}" for name, x in kept if x)
            + f"; the peak adds intermediate checkpoints {si(d['intermediate_checkpoints'], 'B')} and, per run "
            f"in flight ({a.shards}), an encoder and a resumable state {si(in_flight / a.shards, 'B')}"
        )
    )
    out.append(
        _prose(
            "layouts (GPUs x micro-batch x accumulation @ max_seq_len; ckpt: activation checkpointing): "
            + "; ".join(f"{r['model']} " + ", ".join(r["layouts"]) for r in rows)
        )
    )
    fsdp_runs = total["fsdp_runs"]
    out.append(
        _prose(
            f"FSDP: {fsdp_runs} runs sharded ("
            + (", ".join(f"{m} on {g} GPUs" for m, g in plan.fsdp.items()) or "none")
            + f"); layouts keep the recipe's effective batch, accumulate sharded, fit {a.usable_memory:.0%} of "
            f"{a.gpu_memory_gb:.0f} GB"
        )
    )
    basis = f"{a.mfu:.0%} MFU"
    if a.measured:
        basis += f" (measured: {a.measured})"
    if a.throughput:
        basis += f", measured throughput for {', '.join(sorted(a.throughput))} from {a.bench_source}"
    clauses = [
        f"assumes {a.gpu}, {a.peak_tflops:.0f} TFLOP/s bf16 dense at {basis}",
        "FLOPs per token 6N + 12LdT train, 2N + 4LdT forward (N non-embedding; PaLM App. B), x 8/6 with "
        "activation checkpointing",
        f"FSDP (2+2+4) bytes x P per micro-batch at {a.intra_node_gb_s:g} GB/s per GPU in a node of "
        f"{a.gpus_per_node} ({a.inter_node_gb_s:g} across nodes)",
        f"launch floor {a.layer_floor_ms:g} ms per layer and micro-batch",
        "test evaluation on one GPU, the run's others held",
        f"no early stopping (upper bound); sizes: {plan.sizes_source}",
    ]
    out.append(_prose("; ".join(clauses)))
    return "\n".join(out)


def format_plan(plan: Plan) -> str:
    """The ten-second table: per phase, then the bill (per model, wall-clock per run), reuse."""
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
        format_bill(plan),
    ]
    u = plan.reuse
    out.append(
        f"reuse: intermediate checkpoints shared by every target save {hours(u['intermediate_gpu_hours_saved'])} "
        f"GPU-h ({hours(u['intermediate_gpu_hours_unshared'])} unshared vs {hours(u['intermediate_gpu_hours_shared'])}); "
        f"tokenized features shared by every arm/seed/size: {u['featurizations_cached']} featurizations "
        f"({si(u['tokenized_tokens_cached'])} tokens) instead of {u['featurizations_uncached']} "
        f"({si(u['tokenized_tokens_uncached'])} tokens)"
    )
    return "\n".join(out)


def _prose(text: str) -> str:
    return textwrap.fill(text, 110, subsequent_indent="  ", break_on_hyphens=False)


def _table(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


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
        "models": plan.model_rows(),
        "assumptions": {k: v for k, v in asdict(plan.assumptions).items()},
        "sizes": plan.sizes_source,
    }
    path.with_name(path.stem + "_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


# --- the README's bill -------------------------------------------------------------------------------

README_BEGIN = "<!-- bill: generated by `xstilts plan {profile} --readme` (make readme-bill) at the stated defaults; do not edit -->"
README_END = "<!-- /bill -->"


def readme_block(plan: Plan) -> str:
    """The README's quotation of the bill: `format_bill` in a fenced block between the markers."""
    return "\n".join([README_BEGIN.format(profile=plan.profile), "```", format_bill(plan), "```", README_END])


def readme_bill(text: str) -> str | None:
    """The bill block of a README's text (markers included), or None when it has none."""
    m = re.search(r"<!-- bill: .*?<!-- /bill -->", text, flags=re.S)
    return m.group(0) if m else None


def update_readme(path: Path, plan: Plan) -> bool:
    """Rewrite the bill block of the README at `path`; True when it changed. The README must hold the
    markers already (where the bill goes is the README's choice)."""
    path = Path(path)
    text = path.read_text()
    old = readme_bill(text)
    if old is None:
        raise ValueError(f"{path}: no bill block ({README_END} after '<!-- bill: ...') to rewrite")
    new = readme_block(plan)
    path.write_text(text.replace(old, new))
    return old != new


# --- assumptions from the command line -------------------------------------------------------------


def parse_ranks(items: list[str] | None) -> dict[str, int]:
    """`--ranks xxl=8 --ranks xl=2` -> {"xxl": 8, "xl": 2}."""
    out = {}
    for item in items or []:
        name, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"--ranks {item!r}: expected MODEL=GPUS, e.g. xxl=8")
        out[name] = int(value)
    return out


def read_gpu_check(path: Path) -> dict:
    """What a gpu-check report (xstilts gpu-check) measured that the plan can use: MFU, the launch floor
    per layer, the all-gather bus bandwidth, the device's name."""
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"--gpu-check {path}: not a readable gpu-check report ({err})") from None
    checks = report.get("checks", {})
    out = {}
    mfu = checks.get("mfu_xlmr_large", {}).get("mfu_xlmr_large_bf16")
    if mfu:
        out["mfu"] = float(mfu)
    floor = checks.get("launch_floor", {}).get("ms_per_layer")
    if floor:
        out["layer_floor_ms"] = float(floor)
    bw = checks.get("collectives", {}).get("all_gather_bus_gb_s")
    if bw:
        out["intra_node_gb_s"] = float(bw)
    name = (report.get("devices") or [{}])[0].get("name")
    if name:
        out["gpu"] = str(name)
    return out


def assumptions_from(
    mfu: float | None = None,
    gpu: str = Assumptions.gpu,
    peak_tflops: float = Assumptions.peak_tflops,
    gpu_memory_gb: float = Assumptions.gpu_memory_gb,
    shards: int = 1,
    bench: str | None = None,
    time_limit_h: float = Assumptions.time_limit_h,
    ranks: list[str] | None = None,
    gpu_check: str | None = None,
    interconnect_gb_s: float | None = None,
) -> Assumptions:
    """The assumptions of a plan: the stated ones, a measured bench (outputs/bench/bench.json by default)
    and a gpu-check report (when given) where present, and explicit options over all of them."""
    if time_limit_h <= 0:
        raise ValueError(f"--time-limit-h must be positive, got {time_limit_h}")
    a = Assumptions(
        gpu=gpu,
        peak_tflops=peak_tflops,
        gpu_memory_gb=gpu_memory_gb,
        shards=max(shards, 1),
        time_limit_h=time_limit_h,
        ranks=parse_ranks(ranks),
    )
    measured = read_bench(Path(bench) if bench else None)
    if measured:
        a.bench_source = measured["_path"]
        if measured.get("device"):
            a.gpu = str(measured["device"])
        if measured.get("mfu") and mfu is None:
            a.mfu = float(measured["mfu"])
        a.throughput = {k: v for k, v in (measured.get("models") or {}).items() if isinstance(v, dict)}
    if gpu_check:
        for key, value in read_gpu_check(Path(gpu_check)).items():
            setattr(a, key, value)
        a.measured = str(gpu_check)
    if interconnect_gb_s is not None:
        a.intra_node_gb_s = interconnect_gb_s
    if mfu is not None:
        if not 0 < mfu <= 1:
            raise ValueError(f"--mfu must be in (0, 1], got {mfu}")
        a.mfu = mfu
    return a
