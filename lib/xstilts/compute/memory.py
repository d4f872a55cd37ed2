"""Which runs fit one GPU, and the accelerate FSDP launch configuration for the ones that do not.

Full fine-tuning with AdamW under bf16 autocast keeps, per parameter, fp32 weights (4 bytes), fp32
gradients (4) and two fp32 Adam moments (8): 16 bytes, plus the bf16 copies autocast makes of the
weights (2). XLM-R XXL (10.7B) needs ~190 GB for that alone, far beyond one 80 GB GPU; XL (3.5B) needs
~63 GB before activations, at the edge of one. Activations follow Korthikanti et al. 2022 ("Reducing
Activation Recomputation in Large Transformer Models", eq. 1): per layer s*b*h*(34 + 5*a*s/h) bytes at
16-bit, or ~2*s*b*h with full activation checkpointing.

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
BYTES_AUTOCAST_COPY = 2  # bf16 weight copies made by autocast during forward/backward
OVERHEAD_GIB = 2.0  # CUDA context, cuBLAS workspaces, allocator fragmentation (a reserve, not measured)
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


def count_params(shape: Shape, max_positions: int = 514) -> int:
    """Parameters of an XLM-R-architecture encoder (embeddings, layers, final norms; no LM head)."""
    h, f = shape.hidden, shape.ffn
    embeddings = (shape.vocab + max_positions + 1) * h + 2 * h  # word + position + type, LayerNorm
    layer = 4 * h * h + 4 * h + 2 * h * f + f + h + 4 * h  # attention, FFN, two LayerNorms
    return embeddings + shape.layers * layer


def activation_bytes(shape: Shape, micro_batch: int, seq_len: int, checkpointing: bool = False) -> float:
    """Activation memory of one micro-batch (Korthikanti et al. 2022 eq. 1; checkpointing keeps ~2sbh)."""
    sbh = micro_batch * seq_len * shape.hidden
    per_layer = 2 * sbh if checkpointing else sbh * (34 + 5 * shape.heads * seq_len / shape.hidden)
    return shape.layers * per_layer


def train_memory_gb(
    params: int, shape: Shape | None, micro_batch: int, seq_len: int, num_gpus: int = 1, checkpointing: bool = False
) -> float:
    """Peak GPU memory per device (GiB) of full fine-tuning: sharded optimiser state + activations."""
    states = params * (BYTES_ADAMW_MIXED / num_gpus + BYTES_AUTOCAST_COPY)
    acts = activation_bytes(shape, micro_batch, seq_len, checkpointing) if shape else 0.0
    return (states + acts) / GIB + OVERHEAD_GIB


def min_gpus(
    params: int,
    shape: Shape | None,
    micro_batch: int,
    seq_len: int,
    gpu_memory_gb: float = 80.0,
    usable: float = 0.9,
    choices=(1, 2, 4, 8, 16, 32),
) -> int:
    """Fewest GPUs (FSDP FULL_SHARD; activation checkpointing when sharded) whose memory holds the run."""
    for g in choices:
        need = train_memory_gb(params, shape, micro_batch, seq_len, g, checkpointing=g > 1)
        if need <= usable * gpu_memory_gb * 1e9 / GIB:
            return g
    raise ValueError(f"a {params / 1e9:.1f}B-parameter model does not fit {max(choices)} x {gpu_memory_gb} GB GPUs")


def needs_fsdp(
    params: int, shape: Shape | None, micro_batch: int, seq_len: int, gpu_memory_gb: float = 80.0, usable: float = 0.9
) -> bool:
    """Whether full fine-tuning exceeds `usable` of one GPU's memory (then: FSDP across GPUs)."""
    return min_gpus(params, shape, micro_batch, seq_len, gpu_memory_gb, usable) > 1


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
    profile, out_dir: str | Path | None = None, gpu_memory_gb: float = 80.0, usable: float = 0.9
) -> list[FsdpNeed]:
    """Per model of a profile, at its largest micro-batch x sequence length: does it need FSDP?

    Writes `fsdp-<model>.yaml` into `out_dir` for every model that needs more than one GPU.
    """
    cfg = profile.cfg
    shapes = []
    for phase in ("intermediate", "target"):
        shapes.append((cfg[phase]["batch_size"], cfg[phase]["max_seq_len"]))
    for proto in cfg["per_target"]:
        hp = train_config(cfg, "target", proto)
        shapes.append((hp["batch_size"], hp["max_seq_len"]))
    micro, seq = max(shapes, key=lambda bs: bs[0] * bs[1] * (1 + bs[1] / 512))
    out = []
    for model in cfg["models"]:
        shape = model_shape(model, cfg["tokenizer"]["vocab_size"])
        params = model.get("params") or (count_params(shape) if shape else 0)
        one = train_memory_gb(params, shape, micro, seq)
        gpus = min_gpus(params, shape, micro, seq, gpu_memory_gb, usable)
        need = FsdpNeed(model["name"], params, round(one, 1), gpus)
        if gpus > 1 and out_dir is not None:
            layer = shape.layer_class if shape else None
            need.config = str(
                write_fsdp_config(Path(out_dir) / f"fsdp-{model['name']}.yaml", params, gpus, layer_class=layer)
            )
        out.append(need)
    return out
