"""Batch order: length-grouped, seeded, identical in every process.

Each epoch is a seeded permutation of the features, padded with the start of another permutation so
every batch is full (so a global batch splits evenly across processes and the DDP-averaged gradient
equals the 1-process one). With ``group_by_length`` the permutation is cut into megabatches of 50
batches, each sorted by length and cut into batches, and the batch order is shuffled: batches hold
similar lengths, so dynamic padding wastes little (the idea of HF ``LengthGroupedSampler``).
"""

from __future__ import annotations

import numpy as np

MEGABATCH = 50


def epoch_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, group_by_length: bool
) -> list[np.ndarray]:
    n = len(lengths)
    perm = rng.permutation(n)
    short = (-n) % batch_size
    if short:
        extra = rng.permutation(n)
        while len(extra) < short:
            extra = np.concatenate([extra, rng.permutation(n)])
        perm = np.concatenate([perm, extra[:short]])
    if group_by_length:
        mega = batch_size * MEGABATCH
        chunks = [perm[i : i + mega] for i in range(0, len(perm), mega)]
        perm = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])
    batches = [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
    if group_by_length:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class batch_stream:  # lower case: an iterator, named like those of itertools
    """An endless stream of global batches (feature indices), epoch after epoch.

    Its position is saved and restored (``state_dict`` / ``load_state_dict``) as the RNG state at the start
    of the current epoch and the number of batches of that epoch already drawn: the epoch's batches are
    drawn again from that state on restore, so a resumed run draws exactly the batches it would have drawn.
    """

    def __init__(self, lengths, batch_size: int, seed: int, group_by_length: bool = True):
        self.lengths = np.asarray(lengths)
        if len(self.lengths) == 0:
            raise ValueError("batch_stream: no training features")
        self.batch_size, self.group_by_length = batch_size, group_by_length
        self.rng = np.random.default_rng(seed)
        self._start_epoch(self.rng.bit_generator.state, position=0)

    def _start_epoch(self, rng_state: dict, position: int) -> None:
        self.rng.bit_generator.state = rng_state
        self.epoch_rng_state = rng_state
        self.batches = epoch_batches(self.lengths, self.batch_size, self.rng, self.group_by_length)
        self.position = position

    def __iter__(self) -> batch_stream:
        return self

    def __next__(self) -> np.ndarray:
        if self.position == len(self.batches):
            self._start_epoch(self.rng.bit_generator.state, position=0)
        self.position += 1
        return self.batches[self.position - 1]

    def state_dict(self) -> dict:
        return {"epoch_rng": self.epoch_rng_state, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self._start_epoch(state["epoch_rng"], state["position"])


def eval_batches(lengths, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches sorted by length (longest first), so padding is minimal; callers restore order."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class ProportionalTaskSampler:
    """jiant ProportionalMultiTaskSampler: task t with probability N_t / sum N (one task per step)."""

    def __init__(self, sizes: dict[str, int], seed: int):
        self.keys = list(sizes)
        total = float(sum(sizes.values()))
        if total <= 0:
            raise ValueError(f"ProportionalTaskSampler: all task sizes are zero: {sizes}")
        self.p = np.array([sizes[k] / total for k in self.keys])
        self.rng = np.random.default_rng([seed, 7919])

    def __call__(self) -> str:
        if len(self.keys) == 1:
            return self.keys[0]
        return self.keys[int(self.rng.choice(len(self.keys), p=self.p))]

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
