"""Task heads, as in jiant (``jiant/proj/main/modeling/heads.py``) and RoBERTa."""

from __future__ import annotations

import torch
from torch import nn


def _dropout_p(config) -> float:
    p = getattr(config, "classifier_dropout", None)
    return float(p if p is not None else getattr(config, "hidden_dropout_prob", 0.1))


class ClassificationHead(nn.Module):
    """RoBERTa-style: dropout -> dense(H,H) -> tanh -> dropout -> linear over the ``<s>`` state.
    Multiple choice uses it with one output per (prompt, choice)."""

    def __init__(self, config, num_outputs: int):
        super().__init__()
        h = config.hidden_size
        self.dropout = nn.Dropout(_dropout_p(config))
        self.dense = nn.Linear(h, h)
        self.out_proj = nn.Linear(h, num_outputs)
        init_linear(self, config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])
        x = torch.tanh(self.dense(x))
        return self.out_proj(self.dropout(x))


class TokenHead(nn.Module):
    """dropout + linear on every token state (tagging; jiant TokenClassificationHead)."""

    def __init__(self, config, num_outputs: int):
        super().__init__()
        self.dropout = nn.Dropout(_dropout_p(config))
        self.out_proj = nn.Linear(config.hidden_size, num_outputs)
        init_linear(self, config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(hidden))


def init_linear(module: nn.Module, config) -> None:
    """transformers' BERT/RoBERTa init: N(0, initializer_range) weights, zero bias."""
    std = float(getattr(config, "initializer_range", 0.02))
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
