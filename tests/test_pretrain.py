"""MLM pretraining of a tiny XLM-R: loss falls, the checkpoint loads as XLM-R from the hub would,
the run is reproducible, and the masking is BERT's 80/10/10 over 15% of non-special tokens."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from xstilts.engine import toydata
from xstilts.engine.pretrain import mask_tokens, pretrain_mlm
from xstilts.engine.tokenizer import train_tokenizer

ARCH = dict(layers=2, hidden=32, heads=2, ffn=64, max_positions=64)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    corpus = toydata.corpus_file(d / "corpus.txt", n_lines=1500, seed=0)
    train_tokenizer([corpus], 200, d, seed=0)
    return d


def test_pretrain_mlm_learns_and_saves_like_xlmr(tok_dir, tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, XLMRobertaModel

    kw = dict(
        arch=ARCH,
        tokenizer_dir=tok_dir,
        corpus_files=[tok_dir / "corpus.txt"],
        steps=60,
        batch_size=16,
        seq_len=32,
        lr=2e-3,
        warmup=0.1,
        seed=0,
        num_threads=1,
        progress=False,
    )
    s = pretrain_mlm(out_dir=tmp_path / "a", **kw)
    assert s["final_loss"] < s["first_loss"] - 0.2  # toward the corpus unigram entropy (~4.6 nats)
    assert s["model_class"] == "XLMRobertaForMaskedLM"
    assert json.loads((tmp_path / "a" / "pretrain.json").read_text())["steps"] == 60
    enc = AutoModel.from_pretrained(str(tmp_path / "a"))
    assert isinstance(enc, XLMRobertaModel) and enc.config.num_hidden_layers == 2 and enc.config.hidden_size == 32
    AutoModelForMaskedLM.from_pretrained(str(tmp_path / "a"))
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "a"))
    assert enc.config.vocab_size == len(tok) and enc.config.pad_token_id == tok.pad_token_id
    pretrain_mlm(out_dir=tmp_path / "b", **kw)
    digest = lambda p: hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_xl_architecture_uses_xl_classes(tok_dir, tmp_path):
    from transformers import AutoModel, XLMRobertaXLModel

    s = pretrain_mlm(
        {**ARCH, "xl": True},
        tok_dir,
        [tok_dir / "corpus.txt"],
        steps=2,
        batch_size=4,
        seq_len=32,
        lr=1e-3,
        warmup=0,
        seed=0,
        out_dir=tmp_path / "xl",
        progress=False,
    )
    assert s["model_class"] == "XLMRobertaXLForMaskedLM"
    assert isinstance(AutoModel.from_pretrained(str(tmp_path / "xl")), XLMRobertaXLModel)


def test_mask_tokens_80_10_10(tok_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = torch.randint(5, len(tok) - 1, (200, 64))
    ids[:, 0], ids[:, -1] = tok.bos_token_id, tok.eos_token_id
    inputs, labels = mask_tokens(ids, tok, torch.Generator().manual_seed(0))
    selected = labels != -100
    assert not selected[:, 0].any() and not selected[:, -1].any()
    assert selected.float().mean().item() == pytest.approx(0.15 * 62 / 64, abs=0.01)
    assert torch.equal(labels[selected], ids[selected])
    masked = (inputs == tok.mask_token_id) & selected
    unchanged = (inputs == ids) & selected
    assert masked.sum() / selected.sum() == pytest.approx(0.8, abs=0.03)
    assert unchanged.sum() / selected.sum() == pytest.approx(0.1 + 0.1 / len(tok), abs=0.03)
    assert torch.equal(inputs[~selected], ids[~selected])


def test_xxl_style_config_loads_xl_encoder_with_its_weights(tmp_path):
    """XLM-R XXL's hub config says model_type 'xlm-roberta' but architectures 'XLMRobertaXLForMaskedLM'."""
    from transformers import XLMRobertaXLConfig, XLMRobertaXLForMaskedLM, XLMRobertaXLModel

    from xstilts.engine.encoders import load_encoder

    cfg = XLMRobertaXLConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
    )
    torch.manual_seed(0)
    mlm = XLMRobertaXLForMaskedLM(cfg)
    mlm.save_pretrained(str(tmp_path))
    raw = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**raw, "model_type": "xlm-roberta"}))
    enc = load_encoder(str(tmp_path))
    assert isinstance(enc, XLMRobertaXLModel)
    ref = mlm.roberta.encoder.layer[1].output.dense.weight
    assert torch.equal(enc.encoder.layer[1].output.dense.weight, ref)


@pytest.mark.parametrize("xl", [False, True])
def test_masked_only_lm_loss_equals_the_transformers_mlm_loss(xl):
    """`masked_lm_loss` applies the LM head to the selected positions only: same value and gradients as
    `XLMRoberta(XL)ForMaskedLM(labels=...)`, which computes logits everywhere."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaXLConfig, XLMRobertaXLForMaskedLM

    from xstilts.engine.pretrain import masked_lm_loss

    cfg_cls, model_cls = (
        (XLMRobertaXLConfig, XLMRobertaXLForMaskedLM) if xl else (XLMRobertaConfig, XLMRobertaForMaskedLM)
    )
    torch.manual_seed(0)
    model = model_cls(
        cfg_cls(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=40,
        )
    ).eval()
    inputs = torch.randint(3, 50, (4, 12))
    labels = torch.full_like(inputs, -100)
    labels[:, ::3] = inputs[:, ::3]
    ours = masked_lm_loss(model, inputs, labels)
    ours.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    ref = model(input_ids=inputs, attention_mask=torch.ones_like(inputs), labels=labels).loss
    ref.backward()
    assert torch.allclose(ours, ref, atol=1e-6)
    for n, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(grads[n], p.grad, atol=1e-6), n
