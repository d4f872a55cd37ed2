"""The processes of one fine-tune: device, process group, DDP or FSDP2, bf16 on CUDA, collectives.

torch directly, not accelerate: accelerate applies its FSDP plugin only on accelerator devices (a CPU
run with several processes is plain DDP there), so the sharded path could not be exercised by the CPU
tests; torch's FSDP2 (``fully_shard``) and its distributed state-dict API run the same code on CPU
(gloo) and CUDA (nccl). docs/design.md §13 gives the design.

- **One process** (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``): the model on the device, nothing wrapped.
- **Several processes, not sharded**: DDP (``find_unused_parameters`` when several heads share the
  encoder: a step touches one head only); the trainer skips the gradient all-reduce on all but the
  last micro-step of an optimiser step (``no_sync``).
- **Sharded** (XL-class encoders with several processes): FSDP2, one ``fully_shard`` unit per
  transformer layer (``LAYER_CLASS``) and one for the root (embeddings and heads). Every micro-step
  reduce-scatters its gradients and accumulates the shards (``no_sync`` would hold full unsharded
  gradients). Host RAM: only rank 0 reads the checkpoint's weights; the other ranks build the model on
  the meta device and receive their shards from rank 0 (``set_model_state_dict`` with
  ``full_state_dict=True, broadcast_from_rank0=True``), and every buffer is broadcast from rank 0 (the
  non-persistent ones, such as the position ids, are in no state dict).
- **bf16** only on CUDA: autocast around every forward; under sharding the unsharded parameters are also
  bf16 (``MixedPrecisionPolicy``, gradients reduced in fp32). CPU runs are fp32.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from xstilts.engine.encoders import LAYER_CLASS


@dataclass(frozen=True)
class Processes:
    """Where this process stands: ``world`` processes, this one is ``rank`` (``local_rank`` on its node)."""

    world: int
    rank: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def processes() -> Processes:
    """The process group of this run from torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``),
    initialised once and left in place, so a worker's ranks go on to their next run: gloo on CPU; on
    CUDA nccl for device tensors and gloo for host tensors."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="cpu:gloo,cuda:nccl" if cuda else "gloo", device_id=device if cuda else None)
    return Processes(world, rank, local_rank, device)


def prepare(model: torch.nn.Module, procs: Processes, sharded: bool, multi_head: bool, bf16: bool, full_state=None):
    """``model`` ready to train on ``procs``: on the device, and wrapped in DDP or sharded with FSDP2.
    Sharded, ``full_state`` is the model's full state dict on rank 0 (the other ranks' models are on the
    meta device and pass ``None``)."""
    if sharded:
        return _shard(model, procs, bf16 and procs.device.type == "cuda", full_state or {})
    model = model.to(procs.device)
    if procs.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [procs.local_rank] if procs.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=multi_head)


def _shard(model, procs: Processes, bf16: bool, full_state: dict):
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(procs.device.type, (procs.world,))
    policy = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else MixedPrecisionPolicy()
    )
    layers = [m for m in model.modules() if type(m).__name__ in LAYER_CLASS.values()]
    for layer in layers:
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    if not procs.main:
        model.to_empty(device=procs.device)  # storage for the shards rank 0 is about to send
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, full_state, options=options)
    for module in model.modules():
        for name, buffer in module.named_buffers(recurse=False):
            buffer = buffer.to(procs.device)
            dist.broadcast(buffer, src=0)
            setattr(module, name, buffer)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The trainer's module under a DDP wrapper (FSDP2 shards the module in place)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def full_state_dict(model: torch.nn.Module, sharded: bool) -> dict:
    """The model's full state dict: gathered from the shards onto rank 0's host under FSDP2 (a collective;
    the other ranks get an empty dict), the module's own otherwise."""
    if not sharded:
        return unwrap(model).state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when asked; nothing on CPU (fp32 there, and bitwise reproducible)."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def any_rank(flags: list[bool], procs: Processes) -> list[bool]:
    """Element-wise OR of ``flags`` over the processes (an all-reduce MAX), so all of them act alike."""
    if procs.world == 1:
        return list(flags)
    t = torch.tensor([int(f) for f in flags], device=procs.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def from_rank0(obj, procs: Processes):
    """Rank 0's ``obj`` on every process (decisions taken on numbers that may differ in the last bits)."""
    if procs.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(procs: Processes) -> None:
    if procs.world > 1:
        dist.barrier()
