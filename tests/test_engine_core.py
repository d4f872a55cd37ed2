"""The engine on tiny models (2 layers x 32 hidden) and tiny data: every flat format trains and is
evaluated, carry-over keeps the encoder only, CPU runs are bitwise reproducible, features are cached."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch
from safetensors.torch import load_file

from xstilts.engine import toydata
from xstilts.engine.classification import ADAPTER as CLS
from xstilts.engine.feature_cache import _MEMORY, cached_featurize
from xstilts.engine.predict import predict, zero_shot_eval
from xstilts.engine.tagging import _windows
from xstilts.engine.tokenizer import train_tokenizer
from xstilts.engine.train_config import TrainConfig
from xstilts.engine.trainer import finetune
from xstilts.engine.types import TaskData

pytestmark = pytest.mark.usefixtures("feature_cache")  # encoder, feature_cache: tests/conftest.py


def hp(**kw):
    base = dict(
        lr=3e-3,
        max_steps=60,
        batch_size=16,
        grad_accum=1,
        max_seq_len=64,
        eval_every_steps=20,
        eval_subset=200,
        num_threads=1,
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tokenizer_is_xlmr_shaped_and_deterministic(tmp_path):
    from transformers import AutoTokenizer

    corpus = toydata.corpus_file(tmp_path / "c.txt", seed=3)
    train_tokenizer([corpus], 150, tmp_path / "a", seed=0)
    train_tokenizer([corpus], 150, tmp_path / "b", seed=0)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "a"))
    assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id] == [0, 1, 2, 3]
    assert tok.mask_token_id == len(tok) - 1 and len(tok) == 150
    ids = tok("kato ri", "mone")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3  # <s> A </s></s> B </s>
    assert tok.convert_ids_to_tokens(ids[1]).startswith("▁")


def test_classification_trains_selects_on_dev_and_writes(encoder, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    task = toydata.task("sst2", "classification", ["negative", "positive"])
    data = TaskData(
        task, toydata.classification_set(400, 1, pair=False), toydata.classification_set(100, 2, pair=False)
    )
    res = finetune(encoder, [data], hp(), seed=0, out_dir=tmp_path / "run")
    out = tmp_path / "run"
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    evals = [r for r in log if "eval" in r]
    assert [r["step"] for r in evals] == [20, 40, 60]
    best = max(evals, key=lambda r: r["score"])
    assert res.best_step == best["step"] and res.best_score == pytest.approx(best["score"])
    assert res.best_score > 75  # chance is ~50
    meta = json.loads((out / "heads.json").read_text())
    assert meta == {"sst2": {"format": "classification", "task": "sst2", "num_labels": 2}}
    assert set(load_file(str(out / "heads.safetensors"))) == {
        "sst2/dense.weight",
        "sst2/dense.bias",
        "sst2/out_proj.weight",
        "sst2/out_proj.bias",
    }
    # the selected encoder is an ordinary transformers checkpoint
    AutoModel.from_pretrained(str(out / "encoder"))
    AutoTokenizer.from_pretrained(str(out / "encoder"))
    # zero-shot evaluation reproduces the selection score on the same dev set and writes its files
    dev = data.dev
    results = zero_shot_eval(out, task, {"en": dev}, out_dir=tmp_path / "eval")
    assert results["en"].metrics["accuracy"] == pytest.approx(res.best_score)
    stats = results["en"].per_example_stats
    assert stats["example_id"] == list(dev["id"]) and set(stats["correct"]) <= {0, 1}
    lines = (tmp_path / "eval" / "en.stats.jsonl").read_text().splitlines()
    assert len(lines) == len(dev) and json.loads(lines[0])["example_id"] == dev[0]["id"]
    preds, logits = predict(out, task, dev)
    assert len(preds) == len(dev) and logits[0].shape == (2,)


def test_pair_classification_and_hidden_labels(encoder, tmp_path):
    task = toydata.task("pawsx", "classification", ["0", "1"])
    data = TaskData(task, toydata.classification_set(300, 5), toydata.classification_set(60, 6))
    finetune(encoder, [data], hp(max_steps=20, eval_every_steps=0), seed=0, out_dir=tmp_path / "run")
    hidden = toydata.classification_set(20, 7).map(lambda r: {"label": -1})
    res = zero_shot_eval(tmp_path / "run", task, {"xx": hidden})["xx"]
    assert len(res.predictions) == 20 and res.per_example_stats == {} and res.metrics == {}


def test_multiple_choice_trains(encoder, tmp_path):
    task = toydata.task("commonsenseqa", "multiple_choice", num_choices=3)
    data = TaskData(task, toydata.multiple_choice_set(400, 1), toydata.multiple_choice_set(100, 2))
    res = finetune(encoder, [data], hp(max_steps=80), seed=0, out_dir=tmp_path / "run")
    assert res.best_score > 50  # chance ~33
    preds, logits = predict(tmp_path / "run", task, data.dev)
    assert all(0 <= p < 3 for p in preds) and all(l.shape == (3,) for l in logits)
    assert json.loads((tmp_path / "run" / "heads.json").read_text())["commonsenseqa"]["format"] == "multiple_choice"


def test_a_frozen_encoder_keeps_its_weights_and_only_the_head_learns(encoder, tmp_path):
    """`freeze_encoder` (the positive control's probe): the saved encoder is the one it started from, tensor
    for tensor, while the head moves; without it, the encoder moves too."""
    from xstilts.engine.encoders import resolve_encoder_dir

    task = toydata.task("sst2", "classification", ["n", "p"])
    data = TaskData(task, toydata.classification_set(120, 1, pair=False), None)
    start = load_file(str(Path(resolve_encoder_dir(encoder)) / "model.safetensors"))
    for name, frozen in (("probe", True), ("tuned", False)):
        finetune(encoder, [data], hp(max_steps=10, freeze_encoder=frozen), seed=0, out_dir=tmp_path / name)
    probe = load_file(str(tmp_path / "probe" / "encoder" / "model.safetensors"))
    tuned = load_file(str(tmp_path / "tuned" / "encoder" / "model.safetensors"))
    assert probe.keys() == start.keys() and all(torch.equal(probe[k], start[k]) for k in start)
    assert any(not torch.equal(tuned[k], start[k]) for k in start)
    head = load_file(str(tmp_path / "probe" / "heads.safetensors"))
    assert head["sst2/dense.bias"].any()  # initialised at zero, moved by training


def test_an_encoder_at_a_lower_rate_moves_less_while_the_head_trains_at_the_rate(encoder, tmp_path):
    """`encoder_lr_scale`: the encoder's parameters are optimised at that multiple of `lr` (their own groups),
    the heads at `lr`; the saved encoder ends nearer its starting weights than at one rate for all."""
    from xstilts.engine.encoders import load_encoder, resolve_encoder_dir
    from xstilts.engine.modeling import EngineModel
    from xstilts.engine.trainer import param_groups

    task = toydata.task("sst2", "classification", ["n", "p"])
    data = TaskData(task, toydata.classification_set(120, 1, pair=False), None)
    start = load_file(str(Path(resolve_encoder_dir(encoder)) / "model.safetensors"))
    moved = {}
    for name, scale in (("slow", 0.1), ("one_rate", 1.0)):
        finetune(encoder, [data], hp(max_steps=10, encoder_lr_scale=scale), seed=0, out_dir=tmp_path / name)
        end = load_file(str(tmp_path / name / "encoder" / "model.safetensors"))
        matrices = [k for k in start if start[k].ndim == 2 and ".layer." in k]
        moved[name] = sum(float((end[k] - start[k]).norm() / start[k].norm()) for k in matrices) / len(matrices)
    assert 0 < moved["slow"] < 0.5 * moved["one_rate"], moved

    model = EngineModel(load_encoder(resolve_encoder_dir(encoder), False), [task])
    groups = param_groups(model, 0.01, encoder_lr=1e-4)
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    assert {g.get("lr") for g in groups} == {None, 1e-4}  # heads: the optimiser's rate; encoder: its own
    for g in groups:
        assert all((id(p) in encoder_ids) == ("lr" in g) for p in g["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(param_groups(model, 0.01)) == 2  # one rate: the two weight-decay groups, as before


def test_encoder_lr_scale_must_be_a_share():
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="encoder_lr_scale must be in"):
            TrainConfig(encoder_lr_scale=bad)


def test_tagging_first_subtoken_long_sentences(encoder, tmp_path):
    task = toydata.task("panx", "tagging", toydata.TAGS, metric="f1")
    train, dev = toydata.tagging_set(300, 1), toydata.tagging_set(60, 2, max_words=40)
    res = finetune(
        encoder, [TaskData(task, train, dev)], hp(max_steps=80, max_seq_len=24), seed=0, out_dir=tmp_path / "run"
    )
    assert res.best_score > 50
    preds, _ = predict(tmp_path / "run", task, dev)
    assert [len(p) for p in preds] == [len(t) for t in dev["tokens"]]  # every word predicted, long ones too
    assert all(set(p) <= set(toydata.TAGS) for p in preds)
    stats = zero_shot_eval(tmp_path / "run", task, {"en": dev})["en"].per_example_stats
    assert set(stats) == {"example_id", "tp", "n_pred", "n_gold"} and len(stats["tp"]) == len(dev)
    assert sum(stats["n_gold"]) > 0


def test_windows_split_at_word_boundaries():
    assert _windows([[1, 2], [3], [4, 5, 6], [7]], 4) == [(0, 2), (2, 4)]
    assert _windows([[1] * 9, [2]], 4) == [(0, 1), (1, 2)]  # an over-long word gets its own window


def test_carry_over_keeps_encoder_not_head(encoder, tmp_path):
    inter_task = toydata.task("intermediate.mnli", "classification", ["e", "n", "c"])  # registry-style keys
    inter = finetune(
        encoder,
        [TaskData(inter_task, toydata.classification_set(200, 1), toydata.classification_set(40, 2))],
        hp(max_steps=20, eval_every_steps=0),
        seed=1,
        out_dir=tmp_path / "inter",
    )
    target_task = toydata.task("xtreme.pawsx", "classification", ["0", "1"])
    target_data = TaskData(target_task, toydata.classification_set(100, 3), toydata.classification_set(40, 4))
    # lr 0: what the target run saves is exactly what it loaded / initialised
    target = finetune(
        tmp_path / "inter",
        [target_data],
        hp(lr=0.0, max_steps=2, eval_every_steps=0),
        seed=2,
        out_dir=tmp_path / "target",
    )
    inter_enc = load_file(str(inter.encoder_dir / "model.safetensors"))
    target_enc = load_file(str(target.encoder_dir / "model.safetensors"))
    base_enc = load_file(str(encoder / "model.safetensors"))
    assert set(inter_enc) == set(target_enc)
    assert all(torch.equal(inter_enc[k], target_enc[k]) for k in inter_enc)
    assert any(not torch.equal(base_enc[k], inter_enc[k]) for k in inter_enc)  # the intermediate run did train
    inter_head = load_file(str(tmp_path / "inter" / "heads.safetensors"))
    target_head = load_file(str(tmp_path / "target" / "heads.safetensors"))
    assert set(target_head) == {
        "xtreme__pawsx/dense.weight",
        "xtreme__pawsx/dense.bias",
        "xtreme__pawsx/out_proj.weight",
        "xtreme__pawsx/out_proj.bias",
    }
    assert not torch.equal(inter_head["intermediate__mnli/dense.weight"], target_head["xtreme__pawsx/dense.weight"])
    assert not target_head["xtreme__pawsx/dense.bias"].any()  # freshly initialised: zero bias
    # XCOPA's SIQA -> COPA sequence: init_heads_from carries the head too
    siqa = toydata.task("siqa", "multiple_choice", num_choices=3)
    finetune(
        encoder,
        [TaskData(siqa, toydata.multiple_choice_set(100, 1), None)],
        hp(max_steps=10),
        seed=0,
        out_dir=tmp_path / "siqa",
    )
    copa = toydata.task("xcopa", "multiple_choice", num_choices=3)
    finetune(
        tmp_path / "siqa",
        [TaskData(copa, toydata.multiple_choice_set(50, 2), None)],
        hp(lr=0.0, max_steps=1),
        seed=0,
        out_dir=tmp_path / "copa",
        init_heads_from=tmp_path / "siqa",
    )
    a, b = (
        load_file(str(tmp_path / "siqa" / "heads.safetensors")),
        load_file(str(tmp_path / "copa" / "heads.safetensors")),
    )
    assert torch.equal(a["siqa/out_proj.weight"], b["xcopa/out_proj.weight"])


def test_cpu_runs_bitwise_reproducible(encoder, tmp_path):
    task = toydata.task("sst2", "classification", ["n", "p"])
    data = TaskData(task, toydata.classification_set(120, 1, pair=False), toydata.classification_set(40, 2, pair=False))
    cfg = hp(max_steps=15, grad_accum=2, batch_size=8, eval_every_steps=5)
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        finetune(encoder, [data], cfg, seed=seed, out_dir=tmp_path / name)
    for f in ["encoder/model.safetensors", "heads.safetensors"]:
        assert sha(tmp_path / "a" / f) == sha(tmp_path / "b" / f)
        assert sha(tmp_path / "a" / f) != sha(tmp_path / "c" / f)


def test_feature_cache_is_reused(encoder, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(encoder))
    task = toydata.task("sst2", "classification", ["n", "p"])
    ex = toydata.classification_set(50, 1)
    first = cached_featurize(CLS, ex, tok, 32, True, task, tmp_path / "fc")
    entries = sorted(p.name for p in (tmp_path / "fc").iterdir())
    assert len(entries) == 1 and entries[0].startswith("sst2-")
    _MEMORY.clear()
    again = cached_featurize(
        CLS, toydata.classification_set(50, 1), tok, 32, True, task, tmp_path / "fc"
    )  # same content, new object
    assert sorted(p.name for p in (tmp_path / "fc").iterdir()) == entries
    assert again["input_ids"] == first["input_ids"] and again.cache_files  # read back from disk
    cached_featurize(CLS, ex, tok, 16, True, task, tmp_path / "fc")  # another max length: a new entry
    assert len(list((tmp_path / "fc").iterdir())) == 2
    assert max(first["length"]) <= 32 and all(r[0] == tok.bos_token_id for r in first["input_ids"])
    subset = cached_featurize(
        CLS, ex.select(range(10)), tok, 32, True, task, tmp_path / "fc"
    )  # a view of the same table
    assert len(subset) == 10 and len(list((tmp_path / "fc").iterdir())) == 3


def test_gradient_checkpointing_gives_the_same_model(encoder, tmp_path):
    task = toydata.task("sst2", "classification", ["n", "p"])
    data = TaskData(task, toydata.classification_set(64, 1, pair=False), None)
    finetune(encoder, [data], hp(max_steps=4, batch_size=8), seed=0, out_dir=tmp_path / "plain")
    finetune(
        encoder, [data], hp(max_steps=4, batch_size=8, gradient_checkpointing=True), seed=0, out_dir=tmp_path / "ckpt"
    )
    a = load_file(str(tmp_path / "plain" / "encoder" / "model.safetensors"))
    b = load_file(str(tmp_path / "ckpt" / "encoder" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "ckpt" / "finetune.json").read_text())["best_step"] == 4  # no dev set: the last step


def test_tagging_stats_match_official_seqeval():
    import random
    import warnings

    from xstilts.benchmarks import metrics
    from xstilts.engine.tagging import span_stats

    r = random.Random(0)
    for tags in (toydata.TAGS, ["NOUN", "VERB", "ADJ", "DET", "PUNCT"]):  # NER and un-prefixed POS tags
        gold = [[r.choice(tags) for _ in range(r.randint(1, 12))] for _ in range(200)]
        pred = [[t if r.random() < 0.7 else r.choice(tags) for t in g] for g in gold]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            official = metrics.seqeval_f1(gold, pred).scores["f1"]
        assert metrics.score_from_stats(span_stats(pred, gold))["score"] == pytest.approx(official, abs=1e-9)


def _tensorboard_scalars(folder):
    """(tag, step, value) of every scalar in the TensorBoard event files under `folder` (TFRecord framing:
    length, its CRC, the Event proto, its CRC)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    out = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_training_curves_are_written_for_tensorboard(encoder, tmp_path):
    task = toydata.task("sst2", "classification", ["negative", "positive"])
    data = TaskData(task, toydata.classification_set(200, 1, pair=False), toydata.classification_set(50, 2, pair=False))
    finetune(encoder, [data], hp(tensorboard_dir=str(tmp_path / "board" / "run-1")), seed=0, out_dir=tmp_path / "run")
    scalars = _tensorboard_scalars(tmp_path / "board" / "run-1")
    tags = {tag for tag, _, _ in scalars}
    assert {"loss", "lr", "score", "dev/sst2"} <= tags
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    losses = {r["step"]: r["loss"] for r in log if "loss" in r}
    assert {step: value for tag, step, value in scalars if tag == "loss"} == pytest.approx(losses)
