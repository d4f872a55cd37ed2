"""The training engine: one thin trainer for every task format and phase (docs/design.md §7).

`trainer.finetune` (single- and multi-task fine-tuning), `predict.predict` / `predict.zero_shot_eval`,
`pretrain.pretrain_mlm`, `tokenizer.train_tokenizer`; one adapter per task format (`adapter_table`).
Importing a module of this package imports torch: the data and analysis phases never do.
"""
