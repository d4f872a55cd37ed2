"""The module the trainer optimises: a shared encoder and one head per head key; heads saved and loaded."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from xstilts.engine.adapter_table import adapter_for
from xstilts.engine.adapters import head_key


def module_name(key: str) -> str:
    """Head keys are registry keys such as ``xtreme.xnli``; torch module names cannot hold dots."""
    return key.replace(".", "__")


class EngineModel(nn.Module):
    """A shared encoder and one head per head key (tasks with the same key share a head)."""

    def __init__(self, encoder, tasks: list):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict()
        self.head_formats: dict[str, str] = {}
        self.head_tasks: dict[str, str] = {}
        self.head_sizes: dict[str, int] = {}
        for task in sorted(tasks, key=lambda t: head_key(t)):  # fixed construction order: same init for a seed
            key = head_key(task)
            if key in self.head_formats:
                if self.head_formats[key] != task.format:
                    raise ValueError(
                        f"tasks sharing head {key!r} have different formats: {self.head_formats[key]!r} vs {task.format!r}"
                    )
                continue
            self.heads[module_name(key)] = adapter_for(task.format).build_head(encoder.config, task)
            self.head_formats[key] = task.format
            self.head_tasks[key] = task.key
            self.head_sizes[key] = len(getattr(task, "labels", None) or [])

    def head(self, key: str) -> nn.Module:
        return self.heads[module_name(key)]

    @property
    def head_keys(self) -> list[str]:
        return list(self.head_formats)

    def forward(self, key: str, batch: dict):
        return adapter_for(self.head_formats[key]).forward(self.encoder, self.head(key), batch)

    def heads_meta(self) -> dict:
        return {
            k: {"format": self.head_formats[k], "task": self.head_tasks[k], "num_labels": self.head_sizes[k]}
            for k in self.head_formats
        }

    def heads_state(self, state: dict | None = None) -> dict[str, dict[str, torch.Tensor]]:
        """Head parameters by head key, from ``state`` (a full model state dict) or the live modules."""
        state = self.state_dict() if state is None else state
        out = {}
        for k in self.head_formats:
            prefix = f"heads.{module_name(k)}."
            out[k] = {n[len(prefix) :]: t for n, t in state.items() if n.startswith(prefix)}
        return out


def save_heads(heads: dict[str, dict[str, torch.Tensor]], meta: dict, out_dir: Path) -> None:
    from safetensors.torch import save_file

    flat = {f"{k}/{name}": t.detach().cpu().contiguous() for k, sd in heads.items() for name, t in sd.items()}
    save_file(flat, str(out_dir / "heads.safetensors"))
    (out_dir / "heads.json").write_text(json.dumps(meta, indent=1, sort_keys=True))


def load_heads(run_dir: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    if not (run_dir / "heads.safetensors").is_file():
        raise FileNotFoundError(f"{run_dir}: no heads.safetensors (is it a finetune output folder?)")
    meta = json.loads((run_dir / "heads.json").read_text())
    flat = load_file(str(run_dir / "heads.safetensors"))
    heads: dict[str, dict[str, torch.Tensor]] = {k: {} for k in meta}
    for name, t in flat.items():  # "<head key>/<parameter>"
        key, _, param = name.partition("/")
        heads.setdefault(key, {})[param] = t
    return heads, meta


def init_heads_from_run(model: EngineModel, run_dir: Path) -> dict[str, str]:
    """Copy heads of a previous run into ``model`` (XCOPA's SIQA -> COPA sequence): by head key, or, when
    both sides have exactly one head, that head. Returns {new key: old key}; shapes must match."""
    old, _ = load_heads(run_dir)
    keys = model.head_keys
    mapping = {k: k for k in keys if k in old}
    if not mapping and len(old) == 1 and len(keys) == 1:
        mapping = {keys[0]: next(iter(old))}
    if not mapping:
        raise KeyError(f"init_heads_from={str(run_dir)!r}: none of its heads {sorted(old)} matches {sorted(keys)}")
    for new, src in mapping.items():
        target = model.head(new).state_dict()
        for name, t in old[src].items():
            if name not in target or target[name].shape != t.shape:
                raise ValueError(
                    f"init_heads_from: head {src!r} param {name!r} shape {tuple(t.shape)} does not fit head {new!r}"
                )
        model.head(new).load_state_dict(old[src])
    return mapping
