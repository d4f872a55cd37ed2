"""``predict`` and ``zero_shot_eval``: a finetuned run applied to (target-language) examples.

Scores come from per-example sufficient statistics (docs/design.md §8), so the analysis can bootstrap
them; the score of a set of statistics is `xstilts.benchmarks.metrics.score_from_stats`.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from xstilts.benchmarks.metrics import score_from_stats
from xstilts.engine.adapter_table import adapter_for
from xstilts.engine.adapters import column, head_key
from xstilts.engine.encoders import load_encoder, load_tokenizer, resolve_encoder_dir
from xstilts.engine.feature_cache import cached_featurize
from xstilts.engine.modeling import EngineModel, load_heads
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
        raise KeyError(
            f"run {self.run_dir}: no head for task {task.key!r} (head key {key!r}); heads: {sorted(self.meta)}"
        )


def load_run(run_dir: str | Path, device: str | torch.device | None = None) -> LoadedRun:
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
    return LoadedRun(run_dir, model, load_tokenizer(enc_dir), meta, device)


def _autocast(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def predict(
    run_dir_or_model,
    task,
    examples,
    max_seq_len: int | None = None,
    batch_size: int = 64,
    cache_dir=None,
    progress: bool = False,
):
    """Predictions (one per example, official form) and the per-feature outputs of a run on ``examples``."""
    run = run_dir_or_model if isinstance(run_dir_or_model, LoadedRun) else load_run(run_dir_or_model)
    hp = _run_hp(run)
    if max_seq_len is None:
        max_seq_len = int(hp.get("max_seq_len") or 256)
    if cache_dir is None:
        cache_dir = hp.get("cache_dir")  # the training run's feature cache
    adapter = adapter_for(task.format)
    features = cached_featurize(adapter, examples, run.tokenizer, max_seq_len, False, task, cache_dir)
    with _autocast(run.device):
        outputs = run_features(
            run.model,
            run.head_for(task),
            adapter,
            features,
            batch_size,
            run.tokenizer.pad_token_id,
            run.device,
            progress=progress,
            desc=f"predict {task.key}",
        )
    return adapter.decode(outputs, features, examples, task), outputs


def _run_hp(run: LoadedRun) -> dict:
    """The training run's TrainConfig as written in ``finetune.json`` ({} if absent)."""
    spec = run.run_dir / "finetune.json" if run.run_dir else None
    if spec and spec.is_file():
        return json.loads(spec.read_text()).get("hp", {})
    return {}


def zero_shot_eval(
    run_dir, task, data_by_language: dict, out_dir: str | Path | None = None, **options
) -> dict[str, EvalResult]:
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
                stats = {"example_id": column(data, "id"), **stats}
            results[lang] = EvalResult(
                predictions=preds,
                metrics=score_from_stats({k: v for k, v in stats.items() if k != "example_id"}),
                per_example_stats=stats,
            )
    if out_dir is not None:
        write_eval(results, data_by_language, Path(out_dir))
    return results


def write_eval(results: dict[str, EvalResult], data_by_language: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for lang, res in results.items():
        data = data_by_language[lang]
        ids = column(data, "id") if hasattr(data, "column_names") else list(getattr(data, "query_ids", []))
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
