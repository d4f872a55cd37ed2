"""What a finished profile leaves on disk: the byte model the plan prices it with, and its measurement.

Both count file sizes (what `du --apparent-size` reports). A filesystem allocates whole blocks, so `du`
without that flag reports more for a profile of many small files (mini: about 1.6x, mostly 4 KiB blocks of
files of a few hundred bytes); on the paper profile the checkpoints and caches dominate and the two agree.

The components, by where they live under outputs/<profile>/ (the hub cache, $HF_HOME, is outside it):

- `pretrained`: runs/pretrained (a miniature's trained tokenizer and MLM encoders; hub models are cached in
  $HF_HOME and priced as `hub_models`)
- `datasets`: runs/data (a miniature's generated world; hub datasets are cached in $HF_HOME)
- `features`: cache/ (tokenized features, one copy per tokenizer, task and max_seq_len)
- `run_outputs`: runs/intermediate and runs/target (what every run keeps: predictions, per-example
  statistics, the submission layout, records; and any encoder a later run still loads)
- not priced: the reports (executed notebooks, figures, tables, logs, the analysis run, the plan) and
  whatever else lies there (the rehearsal's generated hub and its $HF_HOME)

The per-example and per-record bytes below were measured on the mini profile's outputs (2026-12-04). They
depend on the length of ids and texts: real ids are of similar length, real QA answers, tag sequences and
Mewsli-X/LAReQA ids are longer, so the paper's run outputs are a lower bound (they are 40% of its final disk).
"""

from __future__ import annotations

from pathlib import Path

from xstilts.benchmarks import formats as F

# Bytes written per example the plan counts (a test example, both sides of a Tatoeba pair, a sentence of a
# BUCC corpus): its prediction, its statistics, its line of the submission layout and its row of the run's
# examples.parquet.
OUTPUT_BYTES_PER_EXAMPLE = {
    F.CLASSIFICATION: 120,
    F.MULTIPLE_CHOICE: 145,
    F.TAGGING: 265,
    F.QA: 365,
    F.BITEXT_MINING: 55,
    F.SENTENCE_RETRIEVAL: 55,
    F.ANSWER_RETRIEVAL: 775,
    F.ENTITY_RETRIEVAL: 610,
}
EVAL_RECORD_BYTES = 850  # per (task, language) a run scores: its metrics.json, scores.csv row, manifest entries
RUN_RECORD_BYTES = 4_000  # per run: spec.json, metrics.json, log, the training log and the heads' record

# A miniature world (runs/data), its tokenizer and its feature cache; priced from the world's size preset
WORLD_BYTES_PER_SENTENCE = 57  # one pretraining-corpus sentence of one language (UTF-8, one per line)
WORLD_BYTES_PER_EXAMPLE = 240  # one task example as the generators write it (JSON/TSV with its text)
TOKENIZER_BYTES_PER_PIECE = 71  # tokenizer.json of a unigram vocabulary, per piece
FEATURE_BYTES_PER_EXAMPLE = 160  # one tokenized example in the feature cache (Arrow)

PRICED = ("pretrained", "datasets", "features", "run_outputs")


def _bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def measure(out: Path) -> dict[str, int]:
    """File sizes of a profile's outputs folder by component (see the module docstring), with `priced`
    (the components the plan prices) and `total` (everything under the folder)."""
    out = Path(out)
    runs = out / "runs"
    d = {
        "pretrained": _bytes(runs / "pretrained"),
        "datasets": _bytes(runs / "data"),
        "features": _bytes(out / "cache"),
        "run_outputs": _bytes(runs / "intermediate") + _bytes(runs / "target"),
    }
    d["priced"] = sum(d[k] for k in PRICED)
    d["total"] = _bytes(out)
    return d


def planned(plan_disk: dict, miniature: bool) -> float:
    """The plan's figure for what a finished profile leaves under outputs/<profile>: its final disk less
    what the hub cache holds ($HF_HOME: hub checkpoints, and a hub profile's raw datasets)."""
    return plan_disk["final"] - plan_disk["hub_models"] - (0.0 if miniature else plan_disk["datasets"])
