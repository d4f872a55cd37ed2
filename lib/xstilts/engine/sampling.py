"""Batch order: length-grouped, seeded, identical in every process.

Each epoch is a seeded permutation of the features, padded with the start of another permutation so
every batch is full (so a global batch splits evenly across processes and the DDP-averaged gradient
equals the 1-process one). With ``group_by_length`` the permutation is cut into megabatches of 50
batches, each sorted by length and cut into batches, and the batch order is shuffled: batches hold
similar lengths, so dynamic padding wastes little (the idea of HF ``LengthGroupedSampler``).
"""

from __future__ import annotations

from collections.abc import Iterator

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


def batch_stream(lengths, batch_size: int, seed: int, group_by_length: bool = True) -> Iterator[np.ndarray]:
    """An endless stream of global batches (feature indices), epoch after epoch."""
    lengths = np.asarray(lengths)
    if len(lengths) == 0:
        raise ValueError("batch_stream: no training features")
    rng = np.random.default_rng(seed)
    while True:
        yield from epoch_batches(lengths, batch_size, rng, group_by_length)


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
