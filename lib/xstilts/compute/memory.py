"""Which runs fit one GPU, the per-size layouts (ranks x micro-batch x accumulation) of the ones that do not,
and the accelerate FSDP launch configuration.

Full fine-tuning with AdamW under bf16 autocast keeps, per parameter, fp32 weights (4 bytes), fp32
gradients (4) and two fp32 Adam moments (8): 16 bytes, plus, on one GPU, the bf16 copies autocast makes of
the weights (2). XLM-R XXL (10.7B) needs ~190 GB for that alone, far beyond one 80 GB GPU; XL (3.5B) needs
~63 GB before activations, at the edge of one. Activations follow Korthikanti et al. 2022 ("Reducing
Activation Recomputation in Large Transformer Models", arXiv 2205.05198, eq. 1): per layer s*b*h*(34 +
5*a*s/h) bytes at 16-bit; with full activation checkpointing each layer keeps its 16-bit input (2*s*b*h) and
one layer at a time holds its full activations while it is recomputed.

Sharded (FSDP FULL_SHARD over g ranks, one unit per transformer layer, the embeddings in the root unit):
the 16 bytes per parameter are divided by g; each rank also holds the units it is working on unsharded -
the root (embeddings) and `PREFETCHED_UNITS` layers, each with bf16 parameters (2 bytes) and, in the
backward pass, its unsharded gradient before the reduce-scatter (4 bytes, fp32 reduce). Gradient
accumulation under sharding is sharded too: every micro-batch's gradient is reduce-scattered into the fp32
gradient shard. Accumulating unsharded instead (`no_sync`) keeps a full fp32 gradient of the whole model on
every rank (`sharded_accumulation=False`: + 4 bytes per parameter), which is what makes XXL not fit 4 GPUs
at an accumulation above 1.

A layout keeps the recipe's effective batch: ranks x micro-batch x accumulation = batch_size x grad_accum
of the profile (docs/recipe.md §8); only how a step is computed changes.

The launch configuration matches what the engine builds in code (xstilts.engine.distributed
.fsdp_plugin_for): FULL_SHARD, one FSDP unit per transformer layer (XLMRobertaXLLayer for XL/XXL,
XLMRobertaLayer for base/large), bf16 mixed precision, activation checkpointing, full state dict on
rank 0 for ``save_pretrained``. Use it as ``accelerate launch --config_file fsdp-xxl.yaml ...``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from xstilts.engine.encoders import LAYER_CLASS
from xstilts.study.grid import train_config

GIB = 1024**3
BYTES_ADAMW_MIXED = 16  # fp32 weights + fp32 grads + Adam m, v
BYTES_AUTOCAST_COPY = 2  # bf16 weight copies made by autocast during forward/backward (one GPU)
BYTES_UNIT_WORKING = 6  # an all-gathered FSDP unit: bf16 parameters (2) + its unsharded fp32 gradient (4)
BYTES_UNSHARDED_GRAD = 4  # no_sync accumulation: a full fp32 gradient on every rank
PREFETCHED_UNITS = 2  # the layer computing and the one prefetched (backward_prefetch BACKWARD_PRE)
OVERHEAD_GIB = 2.0  # CUDA context, cuBLAS workspaces, allocator fragmentation (a reserve, not measured)
RANK_CHOICES = (1, 2, 4, 8, 16, 32)
XL_LAYER, BASE_LAYER = LAYER_CLASS["xl"], LAYER_CLASS["base"]


@dataclass(frozen=True)
class Shape:
    """The architecture numbers the cost model needs (docs/benchmarks.md §6, the hub configs)."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int
    layer_class: str = BASE_LAYER


# Hub configs as tabulated in docs/benchmarks.md §6 (config.json of each repo), so the plan needs no
# download. vocab: base/large 250,002; XL/XXL 250,880.
HUB_SHAPES: dict[str, Shape] = {
    "FacebookAI/xlm-roberta-base": Shape(12, 768, 12, 3072, 250002),
    "xlm-roberta-base": Shape(12, 768, 12, 3072, 250002),
    "FacebookAI/xlm-roberta-large": Shape(24, 1024, 16, 4096, 250002),
    "xlm-roberta-large": Shape(24, 1024, 16, 4096, 250002),
    "facebook/xlm-roberta-xl": Shape(36, 2560, 32, 10240, 250880, XL_LAYER),
    "facebook/xlm-roberta-xxl": Shape(48, 4096, 32, 16384, 250880, XL_LAYER),
}


def model_shape(model: dict, vocab_size: int | None = None) -> Shape | None:
    """The shape of a profile's model entry: its `arch` (miniature) or the hub table; None if unknown."""
    arch = model.get("arch")
    if arch:
        return Shape(arch["layers"], arch["hidden"], arch["heads"], arch["ffn"], vocab_size or 0)
    return HUB_SHAPES.get(model.get("hub") or "")


def embedding_params(shape: Shape, max_positions: int = 514) -> int:
    """Word, position and token-type embeddings and their LayerNorm (the FSDP root unit)."""
    return (shape.vocab + max_positions + 1) * shape.hidden + 2 * shape.hidden


def layer_params(shape: Shape) -> int:
    """One transformer layer: attention, feed-forward, two LayerNorms (one FSDP unit)."""
    h, f = shape.hidden, shape.ffn
    return 4 * h * h + 4 * h + 2 * h * f + f + h + 4 * h


def count_params(shape: Shape, max_positions: int = 514) -> int:
    """Parameters of an XLM-R-architecture encoder (embeddings, layers, final norms; no LM head)."""
    return embedding_params(shape, max_positions) + shape.layers * layer_params(shape)


def activation_bytes(shape: Shape, micro_batch: int, seq_len: int, checkpointing: bool = False) -> float:
    """Activation memory of one micro-batch (Korthikanti et al. 2022 eq. 1; checkpointing keeps 2sbh per
    layer plus one layer's full activations during its recomputation)."""
    sbh = micro_batch * seq_len * shape.hidden
    full = sbh * (34 + 5 * shape.heads * seq_len / shape.hidden)
    return shape.layers * 2 * sbh + full if checkpointing else shape.layers * full


def train_memory_gb(
    params: int,
    shape: Shape | None,
    micro_batch: int,
    seq_len: int,
    num_gpus: int = 1,
    checkpointing: bool = False,
    grad_accum: int = 1,
    sharded_accumulation: bool = True,
) -> float:
    """Peak GPU memory per device (GiB) of full fine-tuning: (sharded) weights, gradients and optimiser
    state, the unsharded working units of FSDP, activations and a fixed reserve."""
    if num_gpus == 1:
        states = params * (BYTES_ADAMW_MIXED + BYTES_AUTOCAST_COPY)
    else:
        working = embedding_params(shape) + PREFETCHED_UNITS * layer_params(shape) if shape else params
        states = params * BYTES_ADAMW_MIXED / num_gpus + working * BYTES_UNIT_WORKING
        if grad_accum > 1 and not sharded_accumulation:
            states += params * BYTES_UNSHARDED_GRAD
    acts = activation_bytes(shape, micro_batch, seq_len, checkpointing) if shape else 0.0
    return (states + acts) / GIB + OVERHEAD_GIB


def _fits(gib: float, gpu_memory_gb: float, usable: float) -> bool:
    return gib <= usable * gpu_memory_gb * 1e9 / GIB


@dataclass(frozen=True)
class Layout:
    """How one run's optimiser step is computed: ranks x micro-batch (per rank) x accumulation = the
    recipe's effective batch; activation checkpointing; the estimated peak memory per rank (GiB)."""

    ranks: int
    micro_batch: int
    grad_accum: int
    checkpointing: bool
    memory_gb: float

    @property
    def effective_batch(self) -> int:
        return self.ranks * self.micro_batch * self.grad_accum


def layouts(
    params: int,
    shape: Shape | None,
    effective_batch: int,
    seq_len: int,
    ranks: int,
    gpu_memory_gb: float = 80.0,
    usable: float = 0.9,
) -> list[Layout]:
    """Every layout on `ranks` GPUs that keeps `effective_batch` and fits `usable` of each GPU's memory,
    largest micro-batch first. Sharded layouts (ranks > 1) checkpoint activations (the engine's FSDP
    configuration) and accumulate sharded; one GPU may go either way."""
    if effective_batch % ranks:
        return []
    per_rank = effective_batch // ranks
    out = []
    for accum in range(1, per_rank + 1):
        if per_rank % accum:
            continue
        micro = per_rank // accum
        for ckpt in (False, True) if ranks == 1 else (True,):
            gib = train_memory_gb(params, shape, micro, seq_len, ranks, ckpt, accum)
            if _fits(gib, gpu_memory_gb, usable):
                out.append(Layout(ranks, micro, accum, ckpt, round(gib, 1)))
    return out


def min_ranks(
    params: int,
    shape: Shape | None,
    effective_batch: int,
    seq_len: int,
    gpu_memory_gb: float = 80.0,
    usable: float = 0.9,
    choices=RANK_CHOICES,
) -> int:
    """Fewest GPUs on which some layout of the effective batch fits (any micro-batch x accumulation)."""
    for g in choices:
        if layouts(params, shape, effective_batch, seq_len, g, gpu_memory_gb, usable):
            return g
    raise ValueError(
        f"a {params / 1e9:.1f}B-parameter model does not fit {max(choices)} x {gpu_memory_gb} GB GPUs "
        f"at an effective batch of {effective_batch} x {seq_len} tokens"
    )


def needs_fsdp(
    params: int, shape: Shape | None, effective_batch: int, seq_len: int, gpu_memory_gb: float = 80.0, usable=0.9
) -> bool:
    """Whether no layout of full fine-tuning fits `usable` of one GPU's memory (then: FSDP across GPUs)."""
    return min_ranks(params, shape, effective_batch, seq_len, gpu_memory_gb, usable) > 1


def recipes(cfg: dict) -> list[dict]:
    """Every training recipe of a profile: the intermediate one, the target default and each per-target one."""
    out = [train_config(cfg, "intermediate"), train_config(cfg, "target")]
    out += [train_config(cfg, "target", proto) for proto in cfg["per_target"]]
    return out


def model_params(model: dict, shape: Shape | None) -> int:
    """A profile model's parameter count: its `params` (hub models) or counted from its shape."""
    return int(model.get("params") or (count_params(shape) if shape else 0))


def size_ranks(
    cfg: dict, gpu_memory_gb: float = 80.0, usable: float = 0.9, fixed: dict[str, int] | None = None
) -> dict[str, int]:
    """GPUs per run for each model of a profile: the fewest on which every recipe of the profile fits (one
    worker size per model), unless `fixed` names it. A fixed count on which some recipe fits no layout
    raises ValueError."""
    out = {}
    for model in cfg["models"]:
        shape = model_shape(model, cfg["tokenizer"]["vocab_size"])
        params = model_params(model, shape)
        need = [(hp["batch_size"] * hp["grad_accum"], hp["max_seq_len"]) for hp in recipes(cfg)]
        want = (fixed or {}).get(model["name"])
        if want is not None:
            bad = [n for n in need if not layouts(params, shape, *n, want, gpu_memory_gb, usable)]
            if bad:
                raise ValueError(
                    f"{model['name']} on {want} x {gpu_memory_gb:.0f} GB GPUs: no layout fits an effective "
                    f"batch of {bad[0][0]} x {bad[0][1]} tokens"
                )
            out[model["name"]] = want
        else:
            out[model["name"]] = max(min_ranks(params, shape, *n, gpu_memory_gb, usable) for n in need)
    return out


def fsdp_config(
    model_params: int,
    num_gpus: int,
    layer_class: str | None = None,
    activation_checkpointing: bool = True,
    cpu_offload: bool = False,
) -> dict:
    """An accelerate launch configuration (the dict `accelerate config` writes) for FSDP FULL_SHARD.

    `layer_class` is the transformer block wrapped as one FSDP unit; by default XLMRobertaXLLayer for
    models of at least 2B parameters (XL 3.5B, XXL 10.7B) and XLMRobertaLayer below (base, large).
    """
    if num_gpus < 1:
        raise ValueError(f"fsdp_config: num_gpus must be >= 1, got {num_gpus}")
    if model_params <= 0:
        raise ValueError(f"fsdp_config: model_params must be positive, got {model_params}")
    layer_class = layer_class or (XL_LAYER if model_params >= 2_000_000_000 else BASE_LAYER)
    return {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "FSDP",
        "mixed_precision": "bf16",
        "num_machines": 1,
        "machine_rank": 0,
        "num_processes": int(num_gpus),
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
        "main_training_function": "main",
        "downcast_bf16": "no",
        "fsdp_config": {
            "fsdp_version": 1,
            "fsdp_sharding_strategy": "FULL_SHARD",
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_transformer_layer_cls_to_wrap": layer_class,
            "fsdp_backward_prefetch": "BACKWARD_PRE",
            "fsdp_forward_prefetch": False,
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_offload_params": bool(cpu_offload),
            "fsdp_use_orig_params": True,
            "fsdp_sync_module_states": True,
            "fsdp_cpu_ram_efficient_loading": False,
            "fsdp_activation_checkpointing": bool(activation_checkpointing),
        },
    }


def write_fsdp_config(path: str | Path, model_params: int, num_gpus: int, **kw) -> Path:
    """Write `fsdp_config(...)` as the YAML file `accelerate launch --config_file` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(fsdp_config(model_params, num_gpus, **kw), sort_keys=False))
    return path


@dataclass
class FsdpNeed:
    """One model's verdict: memory on one GPU, GPUs needed, and the config written for it (if any)."""

    model: str
    params: int
    memory_one_gpu_gb: float
    gpus: int
    config: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def profile_fsdp(
    profile,
    out_dir: str | Path | None = None,
    gpu_memory_gb: float = 80.0,
    usable: float = 0.9,
    fixed: dict[str, int] | None = None,
) -> list[FsdpNeed]:
    """Per model of a profile: memory of its largest recipe on one GPU, and the GPUs its runs need
    (`size_ranks`). Writes `fsdp-<model>.yaml` into `out_dir` for every model that needs more than one."""
    cfg = profile.cfg
    ranks = size_ranks(cfg, gpu_memory_gb, usable, fixed)
    hps = recipes(cfg)
    out = []
    for model in cfg["models"]:
        shape = model_shape(model, cfg["tokenizer"]["vocab_size"])
        params = model_params(model, shape)
        one = max(train_memory_gb(params, shape, hp["batch_size"], hp["max_seq_len"]) for hp in hps)
        gpus = ranks[model["name"]]
        need = FsdpNeed(model["name"], params, round(one, 1), gpus)
        if gpus > 1 and out_dir is not None:
            layer = shape.layer_class if shape else None
            need.config = str(
                write_fsdp_config(Path(out_dir) / f"fsdp-{model['name']}.yaml", params, gpus, layer_class=layer)
            )
        out.append(need)
    return out
