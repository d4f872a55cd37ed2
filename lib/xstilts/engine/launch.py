"""Several processes for one fine-tune on one machine: the CPU stand-in for `accelerate launch`."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from xstilts.engine.trainer import finetune


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finetune_worker(rank: int, world: int, port: int, kwargs: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    finetune(**kwargs)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def finetune_multiprocess_cpu(num_processes: int, **finetune_kwargs) -> None:
    """Run ``finetune(**finetune_kwargs)`` on ``num_processes`` CPU processes (gloo DDP through
    accelerate), the CPU stand-in for ``accelerate launch --num_processes N``."""
    mp.spawn(_finetune_worker, args=(num_processes, _free_port(), finetune_kwargs), nprocs=num_processes, join=True)
