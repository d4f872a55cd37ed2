"""The training engine: one thin trainer for every task format and phase (design.md §7).

Public API: ``finetune``, ``predict``, ``zero_shot_eval``, ``TrainConfig``, ``TaskData``,
``FinetuneResult``, ``EvalResult``, ``train_tokenizer``, ``pretrain_mlm``; format adapters in
``xstilts.engine.adapters``.
"""

from xstilts.engine.adapters import ADAPTERS, FormatAdapter, adapter_for, register_adapter
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.distributed import fsdp_plugin_for
from xstilts.engine.predict import EvalResult, load_run, predict, score_from_stats, zero_shot_eval
from xstilts.engine.pretrain import pretrain_mlm
from xstilts.engine.tokenizer import train_tokenizer
from xstilts.engine.trainer import finetune
from xstilts.engine.types import FinetuneResult, TaskData

__all__ = [
    "ADAPTERS", "FormatAdapter", "adapter_for", "register_adapter", "TrainConfig", "TaskData", "FinetuneResult",
    "EvalResult", "finetune", "predict", "zero_shot_eval", "load_run", "score_from_stats", "pretrain_mlm",
    "train_tokenizer", "fsdp_plugin_for",
]
