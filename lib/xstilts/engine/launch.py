"""Several processes for one fine-tune on one machine, started by torchrun as real multi-GPU runs are.

``finetune_torchrun(n, **finetune_kwargs)`` pickles the arguments and runs
``torchrun --standalone --nproc-per-node n -m xstilts.engine.launch ARGS.pkl``; each rank reads them back
and calls ``finetune``. The ranks import the same ``xstilts`` as the caller (its folder leads
``PYTHONPATH``) and use one thread each.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import xstilts
from xstilts.engine.trainer import finetune


def torchrun(num_processes: int, *argv: str) -> list[str]:
    """The command that starts ``argv`` (a script and its arguments, or ``-m module ...``) on
    ``num_processes`` local ranks."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={num_processes}", *argv]


def environment() -> dict[str, str]:
    """This process's environment, with this ``xstilts`` first on ``PYTHONPATH`` and one thread per rank."""
    lib = str(Path(xstilts.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (lib, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def write_arguments(path: str | Path, **finetune_kwargs) -> Path:
    """``finetune``'s keyword arguments pickled to ``path``, for ``main`` on each rank."""
    path = Path(path)
    path.write_bytes(pickle.dumps(finetune_kwargs))
    return path


def finetune_torchrun(num_processes: int, **finetune_kwargs) -> None:
    """Run ``finetune(**finetune_kwargs)`` on ``num_processes`` ranks (gloo on CPU, nccl on CUDA); raises
    ``subprocess.CalledProcessError`` when a rank fails."""
    with tempfile.TemporaryDirectory() as tmp:
        args = write_arguments(Path(tmp) / "finetune.pkl", **finetune_kwargs)
        subprocess.run(torchrun(num_processes, "-m", "xstilts.engine.launch", str(args)), env=environment(), check=True)


def main(argv: list[str] | None = None) -> None:
    """One rank: ``finetune`` with the pickled arguments in ``argv[0]``."""
    argv = sys.argv[1:] if argv is None else argv
    kwargs = pickle.loads(Path(argv[0]).read_bytes())
    torch.set_num_threads(1)
    finetune(**kwargs)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
