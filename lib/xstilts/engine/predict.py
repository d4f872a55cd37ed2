"""``predict`` and ``zero_shot_eval``: a finetuned run applied to (target-language) examples.

Scores come from per-example sufficient statistics (design.md §8), so the analysis can bootstrap
them: accuracy 100*mean(correct); span F1 100*2*sum(tp)/(sum(n_pred)+sum(n_gold)); QA
100*(mean(em)+mean(f1))/2; mAP 100*mean(ap).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xstilts.engine.adapters import adapter_for, head_key
from xstilts.engine.modeling import EngineModel, load_encoder, load_heads, resolve_encoder_dir
from xstilts.engine.trainer import run_features
from xstilts.engine.types import EvalResult


@dataclass
class LoadedRun:
    """A finetuned run in memory: encoder + heads + tokenizer, on one device."""

    run_dir: Path | None
    model: EngineModel
    tokenizer: object
    meta: dict
    device: torch.device

    def head_for(self, task) -> str:
        key = head_key(task)
        if key in self.model.head_formats:
            return key
        same = [k for k, m in self.meta.items() if m.get("task") == task.key]
        if same:
            return same[0]
        fmt = [k for k, m in self.meta.items() if m.get("format") == task.format]
        if len(fmt) == 1:  # a target run has one head; its key is the training task's (e.g. mnli for xnli)
            return fmt[0]
        raise KeyError(f"run {self.run_dir}: no head for task {task.key!r} (head key {key!r}); heads: {sorted(self.meta)}")


def load_run(run_dir: str | Path, device: str | torch.device | None = None) -> LoadedRun:
    from transformers import AutoTokenizer

    run_dir = Path(run_dir)
    enc_dir = resolve_encoder_dir(run_dir)
    heads, meta = load_heads(run_dir)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    encoder = load_encoder(enc_dir)

    class _T:  # minimal task records to rebuild the heads with their saved shapes
        def __init__(self, key, m):
            self.key, self.format = m["task"], m["format"]
            self.labels = list(range(m.get("num_labels") or 0))
            self.head = key

    model = EngineModel(encoder, [_T(k, m) for k, m in meta.items()])
    for k, sd in heads.items():
        model.head(k).load_state_dict(sd)
    model.to(device).eval()
    return LoadedRun(run_dir, model, AutoTokenizer.from_pretrained(enc_dir), meta, device)


def _autocast(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def predict(run_dir_or_model, task, examples, max_seq_len: int | None = None, batch_size: int = 64,
            cache_dir=None, progress: bool = False):
    """Predictions (one per example, official form) and the per-feature outputs of a run on ``examples``."""
    from xstilts.engine.feature_cache import cached_featurize

    run = run_dir_or_model if isinstance(run_dir_or_model, LoadedRun) else load_run(run_dir_or_model)
    hp = _run_hp(run)
    if max_seq_len is None:
        max_seq_len = int(hp.get("max_seq_len") or 256)
    if cache_dir is None:
        cache_dir = hp.get("cache_dir")  # the training run's feature cache
    adapter = adapter_for(task.format)
    features = cached_featurize(adapter, examples, run.tokenizer, max_seq_len, False, task, cache_dir)
    with _autocast(run.device):
        outputs = run_features(run.model, run.head_for(task), adapter, features, batch_size,
                               run.tokenizer.pad_token_id, run.device, progress=progress, desc=f"predict {task.key}")
    return adapter.decode(outputs, features, examples, task), outputs


def _run_hp(run: LoadedRun) -> dict:
    """The training run's TrainConfig as written in ``finetune.json`` ({} if absent)."""
    spec = run.run_dir / "finetune.json" if run.run_dir else None
    if spec and spec.is_file():
        return json.loads(spec.read_text()).get("hp", {})
    return {}


def score_from_stats(stats: dict[str, list]) -> dict[str, float]:
    """Cell score in points from per-example sufficient statistics (project glossary)."""
    if not stats:
        return {}
    if "correct" in stats:
        return {"accuracy": 100.0 * float(np.mean(stats["correct"])), "score": 100.0 * float(np.mean(stats["correct"]))}
    if "tp" in stats:
        den = sum(stats["n_pred"]) + sum(stats["n_gold"])
        f1 = 100.0 * 2 * sum(stats["tp"]) / den if den else 0.0
        return {"f1": f1, "score": f1}
    if "em" in stats:
        em, f1 = 100.0 * float(np.mean(stats["em"])), 100.0 * float(np.mean(stats["f1"]))
        return {"em": em, "f1": f1, "score": (em + f1) / 2}
    if "ap" in stats:
        m = 100.0 * float(np.mean(stats["ap"]))
        return {"map@20": m, "score": m}
    if "n_correct" in stats:
        acc = 100.0 * sum(stats["n_correct"]) / max(1, sum(stats["n_words"]))
        return {"accuracy": acc, "score": acc}
    raise KeyError(f"score_from_stats: unknown statistic columns {sorted(stats)}")


def zero_shot_eval(run_dir, task, data_by_language: dict, out_dir: str | Path | None = None,
                   **options) -> dict[str, EvalResult]:
    """Evaluate a finetuned run (or, for retrieval formats, an encoder) on each language's test data.

    Flat formats: predictions + per-example statistics + metrics. Formats whose adapter defines
    ``zero_shot`` (retrieval) are delegated to it. With ``out_dir``, writes
    ``<lang>.predictions.jsonl`` (example_id, prediction) and ``<lang>.stats.jsonl`` per language.
    """
    adapter = adapter_for(task.format)
    results: dict[str, EvalResult] = {}
    if hasattr(adapter, "zero_shot"):
        for lang, data in data_by_language.items():
            results[lang] = adapter.zero_shot(run_dir, task, data, **options)
    else:
        run = run_dir if isinstance(run_dir, LoadedRun) else load_run(run_dir)
        for lang, data in data_by_language.items():
            preds, _ = predict(run, task, data, **options)
            if "language" in inspect.signature(adapter.example_stats).parameters:  # MLQA: language-aware normalisation
                stats = adapter.example_stats(preds, data, task, language=lang)
            else:
                stats = adapter.example_stats(preds, data, task)
            if stats:
                stats = {"example_id": data["id"][:], **stats}
            results[lang] = EvalResult(predictions=preds, metrics=score_from_stats(
                {k: v for k, v in stats.items() if k != "example_id"}), per_example_stats=stats)
    if out_dir is not None:
        write_eval(results, data_by_language, Path(out_dir))
    return results


def write_eval(results: dict[str, EvalResult], data_by_language: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for lang, res in results.items():
        data = data_by_language[lang]
        ids = data["id"][:] if hasattr(data, "column_names") else list(getattr(data, "query_ids", []))
        with open(out_dir / f"{lang}.predictions.jsonl", "w") as fh:
            for i, p in enumerate(res.predictions):
                fh.write(json.dumps({"example_id": ids[i] if i < len(ids) else i, "prediction": p}) + "\n")
        cols = res.per_example_stats
        if cols:
            n = len(next(iter(cols.values())))
            with open(out_dir / f"{lang}.stats.jsonl", "w") as fh:
                for i in range(n):
                    fh.write(json.dumps({k: v[i] for k, v in cols.items()}) + "\n")
        (out_dir / f"{lang}.metrics.json").write_text(json.dumps(res.metrics, indent=1))
