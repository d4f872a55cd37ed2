"""Retrieval from pooled encoder states and dual-encoder training (engine/retrieval.py, engine/dual_encoder.py)."""

import json

import numpy as np
import pytest
import torch

from xstilts.benchmarks import formats
from xstilts.benchmarks.formats import RetrievalSet
from xstilts.engine import layers as L
from xstilts.engine import retrieval as R

WORDS = ["ka", "to", "ri", "mo", "ne", "sa", "lu", "pe", "di", "bo", "gu", "fa"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is several times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random 2-layer x 32 XLM-R with a trained tokenizer, saved like a run's encoder."""
    from xstilts.engine.toydata import make_tiny_encoder

    path = make_tiny_encoder(tmp_path_factory.mktemp("tiny"), layers=2, hidden=32, seed=0)
    model, tokenizer = R.load_retrieval_encoder(path, device="cpu")
    return path, model, tokenizer


def sentences(n, seed):
    r = np.random.default_rng(seed)
    return [" ".join(r.choice(WORDS, size=int(r.integers(3, 9)))) for _ in range(n)]


# ---- encode -----------------------------------------------------------------------------------------


def test_default_layer_scales_jiant_choice():
    assert L.default_retrieval_layer(24) == 14
    assert L.default_retrieval_layer(12) == 7
    assert L.default_retrieval_layer(36) == 21
    assert L.default_retrieval_layer(48) == 28
    assert L.default_retrieval_layer(2) == 1


@pytest.mark.parametrize("layer", [0, 1, 2, -1])
def test_encode_pools_hidden_states_by_hand(tiny, layer):
    _, model, tok = tiny
    texts = sentences(5, 1)
    mean = R.encode((model, tok), texts, layer=layer, pooling="mean", batch_size=2, progress=False)
    cls = R.encode((model, tok), texts, layer=layer, pooling="cls", batch_size=2, progress=False)
    assert mean.shape == cls.shape == (5, 32) and mean.dtype == np.float32
    for i, text in enumerate(texts):  # one text at a time: no padding at all
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states[layer][0]
        assert enc["input_ids"][0, 0] == tok.cls_token_id and enc["input_ids"][0, -1] == tok.sep_token_id
        np.testing.assert_allclose(mean[i], hs.mean(0).numpy(), atol=1e-5)  # <s> and </s> included
        np.testing.assert_allclose(cls[i], hs[0].numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_xl(tmp_path_factory):
    """A random pre-LayerNorm checkpoint of the XL class (as the rehearsal's xl/xxl slots), with a tokenizer."""
    from xstilts.engine.tokenizer import train_tokenizer
    from xstilts.engine.toydata import corpus_file, make_hub_checkpoint

    root = tmp_path_factory.mktemp("tiny_xl")
    train_tokenizer([corpus_file(root / "corpus.txt", 400)], 200, root / "tok", model="unigram")
    arch = {"layers": 3, "hidden": 32, "heads": 2, "ffn": 64}
    info = make_hub_checkpoint(root / "xl", arch, root / "tok", xl=True, seed=0)
    assert info["class"] == "XLMRobertaXLForMaskedLM"
    model, tokenizer = R.load_retrieval_encoder(root / "xl", device="cpu")
    return model, tokenizer


def test_pre_layernorm_layers_are_read_through_the_final_layernorm(tiny, tiny_xl):
    """XL/XXL `hidden_states[i < last]` is the raw residual stream: retrieval reads it through the encoder's
    final LayerNorm, as `hidden_states[-1]` already is; a post-LayerNorm model is read unchanged."""
    model, tok = tiny_xl
    assert type(model).__name__ == "XLMRobertaXLModel" and L.final_layer_norm(model) is model.encoder.LayerNorm
    enc = tok(sentences(1, 3)[0], return_tensors="pt")
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states
        for layer in (0, 1, 2, -2):
            assert torch.allclose(L.layer_states(model, hs, layer), model.encoder.LayerNorm(hs[layer]))
        assert torch.equal(L.layer_states(model, hs, 3), hs[3]) and torch.equal(L.layer_states(model, hs, -1), hs[-1])
        raw, read = hs[1][0].std(-1).mean(), L.layer_states(model, hs, 1)[0].std(-1).mean()
    assert raw < 0.2 and 0.8 < read < 1.2  # residual stream at init scale vs normalised, as the last layer
    vec = R.encode((model, tok), sentences(3, 4), layer=1, pooling="cls", batch_size=3, progress=False)
    with torch.no_grad():
        one = tok(sentences(3, 4)[0], return_tensors="pt")
        want = model.encoder.LayerNorm(model(**one, output_hidden_states=True).hidden_states[1])[0, 0]
    np.testing.assert_allclose(vec[0], want.numpy(), atol=1e-5)
    base_model, base_tok = tiny[1], tiny[2]
    assert L.final_layer_norm(base_model) is None
    with torch.no_grad():
        hs = base_model(**base_tok("ka to ri", return_tensors="pt"), output_hidden_states=True).hidden_states
    assert torch.equal(L.layer_states(base_model, hs, 1), hs[1])


def test_encode_rejects_bad_arguments(tiny):
    _, model, tok = tiny
    with pytest.raises(ValueError, match="layer 3 out of range"):
        R.encode((model, tok), ["ka"], layer=3)
    with pytest.raises(ValueError, match="pooling 'max'"):
        R.encode((model, tok), ["ka"], pooling="max")


# ---- nearest neighbours -------------------------------------------------------------------------------


def test_tatoeba_search_is_en_to_xx_cosine_top1():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 16)).astype(np.float32)
    perm = rng.permutation(50)
    en = src[perm] * rng.uniform(0.1, 10, size=(50, 1)) + rng.normal(scale=0.05, size=(50, 16))  # scale must not matter
    np.testing.assert_array_equal(R.tatoeba_search(src, en), perm)
    assert np.allclose(np.linalg.norm(src, axis=1), np.linalg.norm(src, axis=1))  # inputs not normalised in place


def brute_force_margin(x, y, k):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    sim = x @ y.T
    fwd_mean = np.sort(sim, axis=1)[:, ::-1][:, :k].mean(1)
    bwd_mean = np.sort(sim.T, axis=1)[:, ::-1][:, :k].mean(1)
    return sim / ((fwd_mean[:, None] + bwd_mean[None, :]) / 2)


def test_bucc_mining_recovers_planted_pairs_and_dev_threshold():
    from xstilts.benchmarks.metrics import bucc_f1

    rng = np.random.default_rng(1)
    shared = rng.normal(size=(20, 24))
    src = np.vstack([shared + rng.normal(scale=0.1, size=shared.shape), rng.normal(size=(15, 24))]).astype(np.float32)
    tgt = np.vstack([rng.normal(size=(10, 24)), shared + rng.normal(scale=0.1, size=shared.shape)]).astype(np.float32)
    src_ids = [f"de-{i}" for i in range(len(src))]
    tgt_ids = [f"en-{i}" for i in range(len(tgt))]
    gold = {f"de-{i}": [f"en-{i + 10}"] for i in range(20)}

    cands = R.bucc_mine_pairs(src_ids, src, tgt_ids, tgt, k=4)
    scores = [c[2] for c in cands]
    assert scores == sorted(scores, reverse=True)
    assert len({c[0] for c in cands}) == len(cands) and len({c[1] for c in cands}) == len(cands)  # 1-1
    assert {(s, t) for s, t, _ in cands[:20]} == {(s, ts[0]) for s, ts in gold.items()}  # planted pairs first
    margin = brute_force_margin(src, tgt, 4)
    for s, t, sc in cands:
        assert sc == pytest.approx(margin[src_ids.index(s), tgt_ids.index(t)], rel=1e-4)

    rs = RetrievalSet(
        "de", src_ids, [f"s{i}" for i in range(len(src))], tgt_ids, [f"t{i}" for i in range(len(tgt))], gold
    )
    from xstilts.benchmarks.metrics import bucc_optimize_threshold

    th = bucc_optimize_threshold({(s, t): sc for s, t, sc in cands}, [(s, ts[0]) for s, ts in gold.items()])
    pred = R.bucc_apply_threshold(cands, th)
    assert set(pred) == {(s, ts[0]) for s, ts in gold.items()}
    stats = R.bucc_stats(rs.query_ids, pred, gold)
    official = bucc_f1([f"{s}\t{ts[0]}" for s, ts in gold.items()], [f"{s}\t{t}" for s, t in pred])
    f1 = 200 * stats.tp.sum() / (stats.n_pred.sum() + stats.n_gold.sum())
    assert f1 == pytest.approx(official.scores["f1"]) == pytest.approx(100.0)


def test_bucc_mining_dedups_by_text():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(6, 8)).astype(np.float32)
    src_texts = ["a", "b", "c", "d", "e", "a"]  # "a" is repeated: its pairs are dropped (read_sent2id)
    src = base.copy()
    src[5] = base[0]
    cands = R.bucc_mine_pairs(
        [f"s{i}" for i in range(6)],
        src,
        [f"t{i}" for i in range(6)],
        base + 0.01,
        src_texts=src_texts,
        tgt_texts=["A", "B", "C", "D", "E", "F"],
    )
    pairs = {(s, t) for s, t, _ in cands}
    assert not any(s in ("s0", "s5") for s, _ in pairs)
    assert {("s1", "t1"), ("s2", "t2"), ("s3", "t3"), ("s4", "t4")} <= pairs


def test_dense_rank_and_average_precision():
    rng = np.random.default_rng(3)
    cand = rng.normal(size=(30, 8)).astype(np.float32)
    ids = [f"c{i}" for i in range(30)]
    ranked, scores = R.dense_rank(cand[[4, 7]] * 3.0, cand, ids, k=20)
    assert [r[0] for r in ranked] == ["c4", "c7"] and len(ranked[0]) == 20
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    assert R.average_precision_at_k(["a", "b"], ["x", "a", "y", "b"], 20) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert R.average_precision_at_k(["a"], ["x", "y", "a"], 20) == pytest.approx(1 / 3)  # Mewsli-X: 1/rank
    assert R.average_precision_at_k(["a"], ["x"] * 20 + ["a"], 20) == 0.0


def test_query_and_candidate_texts():
    from xstilts.benchmarks.retrieval_texts import entity_description, lareqa_candidate, mewslix_query

    text = "It rained. The verdict for Smith, who left {x}."
    context = {"text": text, "sentence_spans": [{"start": 0, "end": 10}, {"start": 11, "end": len(text)}]}
    start = text.index("Smith")
    mention = {"mention_span": {"start": start, "end": start + 5, "text": "Smith"}}
    assert mewslix_query(context, mention) == "Smith: The verdict for { Smith } , who left (x)."
    description = "Paris is a city. It is\nin France."
    entity = {
        "description": description,
        "sentence_spans": [{"start": 0, "end": 16}, {"start": 17, "end": len(description)}],
    }
    assert entity_description(entity) == "Paris is a city. It is in France."
    assert lareqa_candidate("B c.", "A b.\nB c.") == "B c.A b.B c."


# ---- retrieval_eval ---------------------------------------------------------------------------------


def test_retrieval_eval_tatoeba_bucc_mewslix(tiny):
    path, model, tok = tiny
    xx = sentences(12, 4)
    xx = list(dict.fromkeys(xx))
    order = list(reversed(range(len(xx))))
    # Tatoeba: English queries identical to their xx sentence (same text -> same vector) -> acc 100.
    rs = RetrievalSet(
        "xx",
        [f"en{i}" for i in order],
        [xx[i] for i in order],
        [f"xx{i}" for i in range(len(xx))],
        xx,
        {f"en{i}": [f"xx{i}"] for i in range(len(xx))},
    )
    res = R.retrieval_eval((model, tok), "tatoeba", rs, layer=1)
    assert res.predictions == order and res.stats["correct"].tolist() == [1] * len(xx) and res.score() == 100.0
    assert res.info["layer"] == 1 and res.info["pooling"] == "mean"

    # BUCC: half of the xx sentences have an identical English sentence; tuned threshold -> F1 100 on dev.
    en = xx[: len(xx) // 2] + sentences(6, 5)
    gold = {f"xx{i}": [f"en{i}"] for i in range(len(xx) // 2)}
    bucc = RetrievalSet("xx", [f"xx{i}" for i in range(len(xx))], xx, [f"en{i}" for i in range(len(en))], en, gold)
    dev = R.retrieval_eval(str(path), "bucc2018", bucc)  # a folder, default layer
    assert dev.info["layer"] == 1 and dev.info["threshold_tuned"] == 1
    assert set(dev.predictions) == {(s, t[0]) for s, t in gold.items()} and dev.score() == pytest.approx(100.0)
    assert dev.stats[["tp", "n_pred", "n_gold"]].sum().tolist() == [len(gold)] * 3
    test = R.retrieval_eval((model, tok), "bucc2018", bucc, threshold={"xx": 1e9})  # dev value given per language
    assert test.predictions == [] and test.score() == 0.0 and test.info["threshold"] == 1e9

    # Mewsli-X: mentions identical to their entity's description rank it first -> AP 1.
    cands = sentences(25, 6)
    cands = list(dict.fromkeys(cands))
    mx = RetrievalSet(
        "xx",
        ["m0", "m1", "m2"],
        [cands[3], cands[8], cands[0]],
        [f"Q{i}" for i in range(len(cands))],
        cands,
        {"m0": ["Q3"], "m1": ["Q8"], "m2": ["Q0"]},
    )
    res = R.retrieval_eval((model, tok), formats.ENTITY_RETRIEVAL, mx, layer=2, pooling="cls")
    assert [p[0] for p in res.predictions.values()] == ["Q3", "Q8", "Q0"]
    assert res.stats["ap"].tolist() == [1.0, 1.0, 1.0] and res.score() == 100.0


def test_retrieval_eval_errors(tiny):
    _, model, tok = tiny
    bad = RetrievalSet("xx", ["q"], [], ["c"], ["c"], {})
    with pytest.raises(ValueError, match="1 query_ids vs 0 queries"):
        R.retrieval_eval((model, tok), "tatoeba", bad)
    with pytest.raises(ValueError, match="expected one of"):
        R.retrieval_eval((model, tok), "xnli", bad)


def test_zero_shot_eval_delegates_retrieval_to_the_encoder(tiny, tmp_path):
    from xstilts.engine.predict import zero_shot_eval
    from xstilts.engine.toydata import task

    path, _, _ = tiny
    xx = list(dict.fromkeys(sentences(8, 7)))
    rs = RetrievalSet(
        "xx",
        [f"en{i}" for i in range(len(xx))],
        xx,
        [f"xx{i}" for i in range(len(xx))],
        xx,
        {f"en{i}": [f"xx{i}"] for i in range(len(xx))},
    )
    t = task("xtreme.tatoeba", formats.SENTENCE_RETRIEVAL, metric="tatoeba_acc")
    res = zero_shot_eval(path, t, {"xx": rs}, out_dir=tmp_path / "eval", layer=2)["xx"]
    assert res.metrics["accuracy"] == res.metrics["score"] == 100.0 and res.metrics["layer"] == 2
    assert res.per_example_stats["example_id"] == rs.query_ids and res.predictions == list(range(len(xx)))
    lines = (tmp_path / "eval" / "xx.stats.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["correct"] == 1 and len(lines) == len(xx)


# ---- dual encoder -----------------------------------------------------------------------------------


def test_sentence_breaks_and_squad_pairs():
    from xstilts.benchmarks.retrieval_texts import sentence_breaks, squad_pairs

    text = 'Dr. Smith came in 1990. He left "soon." Then 2 more came! Why? Mr. J. Doe stayed.'
    got = [text[s:e] for s, e in sentence_breaks(text)]
    assert got == ["Dr. Smith came in 1990.", 'He left "soon."', "Then 2 more came!", "Why?", "Mr. J. Doe stayed."]
    assert [("北京很大。他们来了。")[s:e] for s, e in sentence_breaks("北京很大。他们来了。")] == [
        "北京很大。",
        "他们来了。",
    ]
    answers = [
        {"text": ["Smith"], "answer_start": [4]},
        {"text": ["Why"], "answer_start": [text.index("Why")]},
        {"text": [""], "answer_start": [text.index(" He left")]},
    ]  # starts between two sentences: skipped
    pairs = squad_pairs(["q1", "q2", "q3"], [text] * 3, ["Who came?", "When?", "Where?"], answers)
    assert pairs["id"] == ["q1", "q2"] and pairs["query"] == ["Who came?", "When?"]
    assert pairs["positive"] == ["Dr. Smith came in 1990." + text, "Why?" + text]


def test_in_batch_loss_by_hand():
    from xstilts.engine.dual_encoder import LogitScale, in_batch_loss

    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    p = torch.tensor([[3.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    head = LogitScale(init=10.0)
    qn, pn = q / q.norm(dim=1, keepdim=True), p / p.norm(dim=1, keepdim=True)
    logits = 10.0 * qn @ pn.T
    expected = -torch.log_softmax(logits, dim=1).diagonal().mean()
    with torch.no_grad():
        loss = float(in_batch_loss(q, p, head))
    assert loss == pytest.approx(float(expected), rel=1e-6)


def test_in_batch_loss_groups_negatives_by_the_recipe_batch():
    """A micro-batch holding two recipe batches of 2 contrasts each query with its own batch only."""
    from xstilts.engine.dual_encoder import LogitScale, in_batch_loss

    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    head = LogitScale(init=10.0)
    with torch.no_grad():
        grouped = float(in_batch_loss(q, p, head, group=2))
        past = float(in_batch_loss(q, p, head, group=8))
        halves = (float(in_batch_loss(q[:2], p[:2], head)) + float(in_batch_loss(q[2:], p[2:], head))) / 2
        whole = float(in_batch_loss(q, p, head))
    assert grouped == pytest.approx(halves, rel=1e-6) and grouped != pytest.approx(whole, rel=1e-3)
    assert past == pytest.approx(whole, rel=1e-6)  # a group larger than the micro-batch: the whole of it


def test_a_larger_micro_batch_keeps_the_recipes_negatives(tmp_path):
    """Micro-batches of 8 (two recipe batches of 4) train the dual encoder as the recipe's 4 x 2 does: the
    same contrastive groups, the same gradients up to summation order (docs/recipe.md §9.8)."""
    from safetensors.torch import load_file

    from xstilts.engine.dual_encoder import dual_encoder_config
    from xstilts.engine.toydata import make_tiny_encoder, task
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    path = make_tiny_encoder(tmp_path / "enc", layers=2, hidden=32, dropout=0.0, seed=0)  # the same function
    t = task("xtreme-r.mewslix", formats.ENTITY_RETRIEVAL, metric="mewslix_map20")
    data = [TaskData(t, word_pairs(32, 8), None)]
    weights = {}
    for name, micro in (("recipe", None), ("micro8", 8)):
        hp = dual_encoder_config(
            formats.ENTITY_RETRIEVAL,
            lr=5e-4,
            max_steps=3,
            batch_size=4,
            grad_accum=2,
            eval_every_steps=0,
            progress=False,
            micro_batch=micro,
            group_by_length=False,
            cache_dir=str(tmp_path / "cache"),
        )
        finetune(path, data, hp, 0, tmp_path / name)
        weights[name] = load_file(tmp_path / name / "encoder" / "model.safetensors")
    # Summation order moves a weight whose gradient is about 0 by up to Adam's step (it divides by the
    # gradient's size): a handful of elements (1 of 31,232 on an AVX-512 CPU). Other contrastive groups
    # would change every gradient, and most weights by far more than 1e-5 after 3 steps at lr 5e-4.
    differ = total = 0
    for key, value in weights["recipe"].items():
        gap = (value - weights["micro8"][key]).abs()
        assert float(gap.max()) < 2 * 5e-4 * 3, key  # Adam moves no weight more than about lr per step
        differ += int((gap > 1e-5 + 1e-4 * value.abs()).sum())
        total += gap.numel()
    assert differ <= total // 1000, f"{differ} of {total} weights differ"


def word_pairs(n, seed):
    """Query = two words; positive = those words among three others: learnable by lexical match."""
    import datasets

    r = np.random.default_rng(seed)
    vocab = [a + b for a in WORDS for b in WORDS]
    rows = {"id": [], "query": [], "positive": []}
    for i in range(n):
        w = r.choice(vocab, size=5, replace=False)
        rows["id"].append(f"p{seed}-{i}")
        rows["query"].append(f"{w[0]} {w[1]}")
        rows["positive"].append(f"{w[2]} {w[0]} {w[3]} {w[1]} {w[4]}")
    return datasets.Dataset.from_dict(rows)


def test_train_dual_encoder_learns_and_saves_an_encoder(tiny, tmp_path):
    from xstilts.engine.adapter_table import adapter_for
    from xstilts.engine.dual_encoder import dual_encoder_config
    from xstilts.engine.toydata import task
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    path, _, _ = tiny
    train, dev = word_pairs(64, 8), word_pairs(24, 9)
    t = task("xtreme-r.mewslix", formats.ENTITY_RETRIEVAL, metric="mewslix_map20")
    adapter = adapter_for(formats.ENTITY_RETRIEVAL)
    hp = dual_encoder_config(
        formats.ENTITY_RETRIEVAL,
        lr=5e-4,
        max_steps=40,
        batch_size=16,
        grad_accum=1,
        eval_every_steps=20,
        eval_subset=0,
        progress=False,
        cache_dir=str(tmp_path / "cache"),
    )
    assert hp.warmup_ratio == 0.0 and hp.weight_decay == 0.0 and hp.max_seq_len == 64

    def dev_map(encoder_dir):
        rs = RetrievalSet(
            "en",
            list(dev["id"]),
            list(dev["query"]),
            list(dev["id"]),
            list(dev["positive"]),
            {i: [i] for i in dev["id"]},
        )
        return adapter.zero_shot(encoder_dir, t, rs).metrics["score"]

    before = dev_map(path)
    result = finetune(path, [TaskData(t, train, dev)], hp, 0, tmp_path / "run")
    assert (tmp_path / "run" / "encoder" / "config.json").is_file()
    assert result.best_score is not None and 0 <= result.best_score <= 100
    after = dev_map(tmp_path / "run")
    assert after > before and after > 80, (before, after)  # untrained: ~79 from lexical overlap alone
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < 0.5 * losses[0], losses


def test_embedding_layer_is_trained_saved_and_ranked_with(tiny, tmp_path):
    """``embedding_layer`` (a fraction of depth) pools that layer in training, is recorded in the saved
    encoder's config, and ranking reads it back: the dev mAP of model selection equals the ranked one."""
    from xstilts.engine.adapter_table import adapter_for
    from xstilts.engine.dual_encoder import dual_encoder_config
    from xstilts.engine.toydata import task
    from xstilts.engine.trainer import finetune
    from xstilts.engine.types import TaskData

    path, _, _ = tiny
    train, dev = word_pairs(48, 10), word_pairs(20, 11)
    t = task("xtreme-r.mewslix", formats.ENTITY_RETRIEVAL, metric="mewslix_map20")
    rs = RetrievalSet(
        "en", list(dev["id"]), list(dev["query"]), list(dev["id"]), list(dev["positive"]), {i: [i] for i in dev["id"]}
    )
    scores = {}
    for layer in (None, 0.5):
        hp = dual_encoder_config(
            formats.ENTITY_RETRIEVAL,
            lr=5e-4,
            max_steps=10,
            batch_size=16,
            grad_accum=1,
            eval_every_steps=0,
            eval_subset=0,
            progress=False,
            embedding_layer=layer,
            cache_dir=str(tmp_path / "cache"),
        )
        out = tmp_path / f"run-{layer}"
        result = finetune(path, [TaskData(t, train, dev)], hp, 0, out)
        saved = json.loads((out / "encoder" / "config.json").read_text()).get(L.EMBEDDING_LAYER_KEY)
        ranked = adapter_for(formats.ENTITY_RETRIEVAL).zero_shot(out, t, rs).metrics
        assert saved == (None if layer is None else 1) and ranked["layer"] == (-1 if layer is None else 1)
        assert ranked["score"] == pytest.approx(result.best_score, abs=1e-6)
        scores[layer] = ranked["score"]
    assert scores[None] != scores[0.5]  # a different layer really is read


def test_resolve_layer():
    assert L.resolve_layer(0.5, 2) == 1 and L.resolve_layer(0.58, 24) == 14 and L.resolve_layer(0.1, 2) == 1
    assert L.resolve_layer(1.0, 4) == 4 and L.resolve_layer(3, 24) == 3 and L.resolve_layer(-1, 24) == -1


def test_answer_retrieval_adapter_reads_squad_examples_and_scores_dev(tiny):
    """LAReQA trains on SQuAD: the adapter turns QA examples into pairs; dev = rank each question against
    the pool of distinct dev positives (two questions share one answer sentence here)."""
    import datasets

    from xstilts.engine.adapter_table import adapter_for

    _, _, tok = tiny
    ctx = "Ka to ri. Mo ne sa lu. Pe di bo."
    ex = datasets.Dataset.from_dict(
        {
            "id": ["a", "b", "c"],
            "context": [ctx] * 3,
            "question": ["ka?", "mo?", "sa?"],
            "answers": [
                {"text": ["to"], "answer_start": [3]},
                {"text": ["ne"], "answer_start": [13]},
                {"text": ["sa"], "answer_start": [16]},
            ],
        }
    )
    adapter = adapter_for(formats.ANSWER_RETRIEVAL)
    feats = adapter.featurize(ex, tok, 64, False)
    assert feats["pair_id"] == ["a", "b", "c"] and feats["positive"][1] == feats["positive"][2] == "Mo ne sa lu." + ctx
    assert max(len(x) for x in feats["input_ids"]) <= adapter.max_query_len
    batch = adapter.collate([feats[i] for i in range(3)], tok.pad_token_id)
    assert set(batch) == {"input_ids", "attention_mask", "positive_ids", "positive_mask"}
    # outputs: (query, positive) embeddings; query c points at the shared sentence like b does
    e = np.eye(4, dtype=np.float32)
    outputs = [np.stack([e[0], e[0]]), np.stack([e[1], e[1]]), np.stack([e[1] + 0.1 * e[2], e[1]])]
    preds = adapter.decode(outputs, feats, ex, None)
    assert [p[0] for p in preds] == ["a", "b", "b"] and all(len(p) == 2 for p in preds)  # pool: a, b
    assert adapter.example_stats(preds, ex, None) == {"ap": [1.0, 1.0, 1.0]}
    assert adapter.dev_score([["b", "a"], ["b", "a"], ["b", "a"]], ex, None) == pytest.approx(100 * (0.5 + 1 + 1) / 3)
