"""The training engine: one thin trainer for every task format and phase (design.md §7).

Public API: ``finetune``, ``predict``, ``zero_shot_eval``, ``TrainConfig``, ``TaskData``,
``FinetuneResult``, ``EvalResult``, ``train_tokenizer``, ``pretrain_mlm``; format adapters in
``xstilts.engine.adapters``.
"""
