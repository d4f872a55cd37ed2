"""Multiple choice (XCOPA, HellaSwag, CosmosQA, CommonsenseQA, SIQA): each (prompt, choice) pair is
encoded separately and scored with one logit (jiant MultipleChoiceModel); softmax over the choices."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xstilts.benchmarks import formats
from xstilts.engine.adapters import BaseAdapter
from xstilts.engine.classification import ArgmaxAccuracy
from xstilts.engine.heads import ClassificationHead


class MultipleChoiceAdapter(ArgmaxAccuracy, BaseAdapter):
    format = formats.MULTIPLE_CHOICE

    def featurize(self, examples, tokenizer, max_seq_len: int, train: bool):
        def encode(batch, indices):
            ids, lengths = [], []
            for i, prompt, choices in zip(indices, batch["prompt"], batch["choices"]):
                if not choices:
                    raise ValueError(f"multiple-choice example row {i}: field 'choices' is empty")
                rows = tokenizer(
                    [prompt] * len(choices), list(choices), truncation="longest_first", max_length=max_seq_len
                )["input_ids"]
                ids.append(rows)
                lengths.append(max(len(r) for r in rows) * len(rows))  # cost: choices are padded together
            out = {"input_ids": ids, "length": lengths, "example_index": list(indices)}
            if train:
                labels = [int(x) for x in batch["label"]]
                for i, lab, ch in zip(indices, labels, batch["choices"]):
                    if not 0 <= lab < len(ch):
                        raise ValueError(f"multiple-choice train row {i}: field 'label'={lab} not in [0, {len(ch)})")
                out["labels"] = labels
            return out

        return self.map_examples(examples, encode, "multiple choice")

    def collate(self, features, pad_token_id):
        n_choices = max(len(f["input_ids"]) for f in features)
        width = max(len(r) for f in features for r in f["input_ids"])
        b = len(features)
        ids = torch.full((b, n_choices, width), pad_token_id, dtype=torch.long)
        mask = torch.zeros((b, n_choices, width), dtype=torch.long)
        choice_mask = torch.zeros((b, n_choices), dtype=torch.bool)
        for i, f in enumerate(features):
            for j, r in enumerate(f["input_ids"]):
                ids[i, j, : len(r)] = torch.as_tensor(r)
                mask[i, j, : len(r)] = 1
                choice_mask[i, j] = True
        batch = {"input_ids": ids, "attention_mask": mask, "choice_mask": choice_mask}
        if "labels" in features[0]:
            batch["labels"] = torch.as_tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    def build_head(self, config, task):
        return ClassificationHead(config, 1)

    def forward(self, encoder, head, batch):
        b, c, t = batch["input_ids"].shape
        flat = {
            "input_ids": batch["input_ids"].view(b * c, t),
            "attention_mask": batch["attention_mask"].view(b * c, t),
        }
        scores = head(self.encode(encoder, flat)).view(b, c).float()
        logits = scores.masked_fill(~batch["choice_mask"], torch.finfo(scores.dtype).min)
        loss = F.cross_entropy(logits, batch["labels"]) if "labels" in batch else None
        return loss, logits

    def split_outputs(self, logits, batch):
        arr = logits.detach().float().cpu().numpy()
        counts = batch["choice_mask"].sum(dim=1).tolist()
        return [arr[i, : int(n)] for i, n in enumerate(counts)]


ADAPTER = MultipleChoiceAdapter()
