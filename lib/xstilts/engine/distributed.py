"""accelerate setup: device placement, bf16 autocast on CUDA, DDP (gloo on CPU), FSDP for XL/XXL."""

from __future__ import annotations

import torch

from xstilts.engine.encoders import LAYER_CLASS

FSDP_SIZES = ("xl", "xxl")


def fsdp_plugin_for(model_size: str, cpu_offload: bool = False):
    """The FSDP configuration for XLM-R XL/XXL full fine-tuning (None for sizes that fit one GPU).

    FULL_SHARD with one FSDP unit per transformer layer (transformer auto-wrap), bf16 params/grads
    (fp32 reduce), activation checkpointing, full state dict gathered on rank 0 for ``save_pretrained``.
    """
    size = model_size.lower().replace("xlm-roberta-", "").replace("xlmr-", "")
    if size not in FSDP_SIZES:
        return None
    from accelerate.utils import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp import MixedPrecision

    return FullyShardedDataParallelPlugin(
        sharding_strategy="FULL_SHARD",
        auto_wrap_policy="transformer_based_wrap",
        transformer_cls_names_to_wrap=[LAYER_CLASS["xl"]],
        mixed_precision_policy=MixedPrecision(
            param_dtype=torch.bfloat16, reduce_dtype=torch.float32, buffer_dtype=torch.bfloat16
        ),
        state_dict_type="FULL_STATE_DICT",
        backward_prefetch="BACKWARD_PRE",
        activation_checkpointing=True,
        cpu_offload=cpu_offload,
        use_orig_params=True,
        sync_module_states=torch.cuda.is_available(),  # broadcast rank-0 weights; needs a device
        cpu_ram_efficient_loading=False,
    )


def make_accelerator(bf16: bool = True, fsdp_plugin=None, multi_head: bool = False, tensorboard_dir=None):
    """One Accelerator per run. bf16 only on CUDA; ``find_unused_parameters`` when several heads
    share the encoder (a step touches one head only); with ``tensorboard_dir``, accelerate's TensorBoard
    tracker writes the run's curves under it (``init_trackers`` names the run)."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    cuda = torch.cuda.is_available()
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if multi_head else []
    return Accelerator(
        mixed_precision="bf16" if (cuda and bf16) else "no",
        cpu=not cuda,
        fsdp_plugin=fsdp_plugin,
        kwargs_handlers=handlers,
        step_scheduler_with_optimizer=False,
        log_with="tensorboard" if tensorboard_dir else None,
        project_dir=str(tensorboard_dir) if tensorboard_dir else None,
    )
