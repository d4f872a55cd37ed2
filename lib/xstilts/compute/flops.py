"""The FLOP convention of the plan and of the measured MFU: one definition for both.

Model FLOPs per token follow PaLM (Chowdhery et al. 2022, arXiv 2204.02311, App. B): training costs
6 N + 12 L H Q T per token and a forward pass 2 N + 4 L H Q T, where N is the number of NON-embedding
parameters, L the layers, H Q = d the model width and T the sequence length; the second term is the
attention's score and value products (Q K^T and A V, 2 T d multiply-adds each per token and layer, which N
does not contain). N excludes the embedding tables because a lookup multiplies nothing (Kaplan et al. 2020,
arXiv 2001.08361, §2.1, count N without embeddings for the same reason); the encoder is fine-tuned without
an LM head, so the 250K-entry vocabulary costs memory and communication, never matrix FLOPs. With XLM-R's
large vocabulary this matters: the embeddings are 71% of base's parameters, 46% of large's, 18% of XL's and
10% of XXL's, so 6 x all parameters would overstate base's compute 3.2 times.

T is each sequence's own length: a bidirectional encoder attends over the whole sequence (no causal
halving). Activation recomputation (activation checkpointing) repeats the forward pass; like PaLM's MFU, the
model FLOPs do not count it, and the plan bills it as extra time (`RECOMPUTE`).
"""

from __future__ import annotations

from xstilts.compute.memory import Shape

RECOMPUTE = 8 / 6  # training time with activation checkpointing: forward twice + backward (2 + 2 + 4) / (2 + 4)


def non_embedding_params(shape: Shape, head: bool = True) -> int:
    """Weight matrices of the transformer layers (attention 4 d^2, feed-forward 2 d f), plus the d x d dense
    layer of a classification head (`head`); biases and LayerNorms are < 0.2% and left out (PaLM App. B)."""
    h = shape.hidden
    return shape.layers * (4 * h * h + 2 * h * shape.ffn) + (h * h if head else 0)


def attention_flops_per_token(shape: Shape, seq_len: float, train: bool = True) -> float:
    """12 L d T per trained token, 4 L d T per token of a forward pass."""
    return (12 if train else 4) * shape.layers * shape.hidden * seq_len


def flops_per_token(shape: Shape, seq_len: float, train: bool = True) -> float:
    """Model FLOPs per token of a sequence of `seq_len` tokens: 6 N + 12 L d T (train) or 2 N + 4 L d T."""
    return (6 if train else 2) * non_embedding_params(shape) + attention_flops_per_token(shape, seq_len, train)
