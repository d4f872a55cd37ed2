"""Requeue-safe training on disk: the selected model swapped in atomically, the resumable checkpoint, and the
signals that ask for one (docs/design.md §13).

**Selected model** (``out_dir/encoder/``, ``heads.safetensors``, ``heads.json``): written whole into
``out_dir/.selected.partial/``, then each entry renamed into place (``os.replace``; an ``encoder/`` being
replaced is first renamed to ``.selected.previous/``). A kill during a save never leaves a half-written
``encoder/`` or heads file; one between the two renames of ``encoder/`` is undone on resume
(``recover_selected``), and the resumed run replays the save.

**Resumable checkpoint** (``resume_dir/``)::

    step-00000120/          the newest complete checkpoint, the one a resumed run starts from
      COMPLETE              written last, once every process's files are on disk
      trainer.json          step, examples seen, best so far, the batch streams', task sampler's and
                            LR scheduler's states, the run and its layout, the train log's length, seconds
      rank-00000.pt         per process: torch (and CUDA) / numpy / python RNG states, the running loss
      model.pt              unsharded: the model's state dict (rank 0)
      optimizer.pt          unsharded: the optimiser's state dict (rank 0)
      dcp/                  sharded: model and optimiser shards (torch.distributed.checkpoint, every rank)
    step-00000150.partial/  being written; never read, removed by the next save

A checkpoint is written under ``.partial`` and renamed when complete; the previous one is removed only
then, so a kill at any moment leaves at least one complete checkpoint once one has been written.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import torch

from xstilts.engine.distributed import Processes, barrier, unwrap

PARTIAL = ".partial"


def publish_selected(out_dir: Path, write) -> None:
    """``write(folder)`` writes the selected model into a fresh folder; its entries then replace
    ``out_dir``'s, each by one rename. Rank 0 only."""
    partial, previous = out_dir / ".selected.partial", out_dir / ".selected.previous"
    for leftover in (partial, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    partial.mkdir(parents=True)
    write(partial)
    previous.mkdir()
    for item in sorted(partial.iterdir()):
        target = out_dir / item.name
        if target.is_dir():  # a directory cannot be replaced by a rename: move it aside first
            os.replace(target, previous / item.name)
        os.replace(item, target)
    partial.rmdir()
    shutil.rmtree(previous)


def recover_selected(out_dir: Path) -> None:
    """Put back the ``encoder/`` a save moved aside when a kill came before the new one was renamed in (the
    heads beside it are still the previous ones too). Rank 0 only."""
    aside = out_dir / ".selected.previous" / "encoder"
    if aside.is_dir() and not (out_dir / "encoder").exists():
        os.replace(aside, out_dir / "encoder")


def latest(resume_dir: Path) -> Path | None:
    """The newest complete checkpoint in ``resume_dir`` (None when there is none)."""
    done = [p for p in Path(resume_dir).glob("step-*") if p.suffix != PARTIAL and (p / "COMPLETE").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


def save(
    resume_dir: Path,
    step: int,
    procs: Processes,
    model,
    optimizer,
    sharded: bool,
    trainer_state: dict,
    rank_state: dict,
) -> Path:
    """Write the checkpoint of ``step`` (a collective: every process calls it at the same step)."""
    final = resume_dir / f"step-{step:08d}"
    partial = final.with_name(final.name + PARTIAL)
    if procs.main:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    barrier(procs)
    if sharded:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_state, optim_state = get_state_dict(model, optimizer)
        dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(partial / "dcp"))
    elif procs.main:
        torch.save(unwrap(model).state_dict(), partial / "model.pt")
        torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    torch.save(rank_state, partial / f"rank-{procs.rank:05d}.pt")
    barrier(procs)
    if procs.main:
        (partial / "trainer.json").write_text(json.dumps(trainer_state, indent=1))
        (partial / "COMPLETE").write_text(f"step {step}, {procs.world} processes\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        for other in resume_dir.glob("step-*"):
            if other != final:
                shutil.rmtree(other)
    barrier(procs)
    return final


def trainer_state(folder: Path) -> dict:
    """What ``save`` got as ``trainer_state``."""
    return json.loads((folder / "trainer.json").read_text())


def load(folder: Path, procs: Processes, model, optimizer, sharded: bool) -> dict:
    """Load model and optimiser state from checkpoint ``folder`` in place; return what ``save`` got as this
    process's ``rank_state``."""
    if sharded:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        model_state, optim_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optim": optim_state}
        dcp.load(state, checkpoint_id=str(folder / "dcp"))
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    else:
        device = next(unwrap(model).parameters()).device
        unwrap(model).load_state_dict(torch.load(folder / "model.pt", map_location=device))
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=device))
    return torch.load(folder / f"rank-{procs.rank:05d}.pt")


def rng_state() -> dict:
    """This process's torch (and current CUDA device), numpy and python RNG states, as tensors and
    plain values (``torch.load`` reads them back with ``weights_only``)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])


class StopSignals:
    """SIGTERM and SIGUSR1 (Slurm's pre-timeout signal) only set a flag while installed; the trainer acts on
    it at the next step boundary. Handlers can only be installed from the main thread: elsewhere the
    signals keep their handlers (and a resumable checkpoint is then only written periodically)."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

    def install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return True

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def restore(self) -> None:
        """Put back the handlers found at ``install`` (the default one where none was set from Python)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()
