"""Extractive QA (engine/qa.py): windows, labels, offset-based post-processing in zh/th, adapter end to end."""

import json

import datasets
import numpy as np
import pytest
import torch

from xstilts.benchmarks import formats
from xstilts.engine import qa as Q

ZH = "北京是中华人民共和国的首都，也是全国的政治和文化中心。上海是最大的城市。"
TH = "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทยและเป็นเมืองที่ใหญ่ที่สุด"
EN = "The cat sat on the mat while a dog ran in the park near the old river bank."
CORPUS = [
    ZH,
    TH,
    EN,
    "where is the capital of china",
    "what did the dog do",
    "北京 上海 城市 首都",
    "เมืองหลวง ประเทศไทย",
]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is several times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A unigram tokenizer with XLM-R's specials, trained on en/zh/th text (engine.tokenizer)."""
    from xstilts.engine.tokenizer import train_tokenizer

    path = tmp_path_factory.mktemp("tok")
    corpus = path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 20) + "\n", encoding="utf-8")
    return train_tokenizer([corpus], vocab_size=150, out_dir=path / "tokenizer")


def qa_set(rows):
    return datasets.Dataset.from_dict(
        {
            "id": [r[0] for r in rows],
            "context": [r[1] for r in rows],
            "question": [r[2] for r in rows],
            "answers": [{"text": [r[3]], "answer_start": [r[1].index(r[3])]} for r in rows],
        }
    )


EXAMPLES = [
    ("zh1", ZH, "首都是哪里", "北京"),
    ("zh2", ZH, "最大的城市", "上海"),
    ("th1", TH, "เมืองหลวง", "กรุงเทพมหานคร"),
    ("th2", TH, "ประเทศ", "ประเทศไทย"),
    ("en1", EN, "what did the dog do", "ran in the park"),
]


def test_pair_template_is_xlmr(tokenizer):
    bos, eos = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert Q.pair_template(tokenizer) == ([bos], [eos, eos], [eos])


def test_windows_advance_by_doc_stride_and_cover_the_context(tokenizer):
    ex = qa_set(EXAMPLES)
    feats = Q.featurize_qa(ex, tokenizer, max_seq_len=24, train=False, doc_stride=5)
    assert max(feats["length"]) <= 24
    for i, context in enumerate(ex["context"]):
        rows = [r for r in feats if r["example_index"] == i]
        starts = [r["window_start"] for r in rows]
        assert starts == list(range(0, 5 * len(starts), 5))
        n_ctx = len(tokenizer(context, add_special_tokens=False)["input_ids"])
        last = rows[-1]
        assert last["window_start"] + sum(o[0] >= 0 for o in last["offsets"]) == n_ctx  # reaches the end
        # every context token has maximal context in exactly one window
        owner = {}
        for r in rows:
            ctx_pos = [j for j, o in enumerate(r["offsets"]) if o[0] >= 0]
            for k, j in enumerate(ctx_pos):
                if r["max_context"][j]:
                    owner.setdefault(r["window_start"] + k, []).append(r["window_start"])
        assert sorted(owner) == list(range(n_ctx)) and all(len(v) == 1 for v in owner.values())


def test_adapter_doc_stride_follows_max_seq_len(tokenizer):
    ex = qa_set([EXAMPLES[4]])
    feats = Q.QAAdapter().featurize(ex, tokenizer, 24, False)
    assert feats["window_start"][:3] == [0, 8, 16]  # 24 // 3 below the paper's 384 tokens
    big = Q.QAAdapter().featurize(ex, tokenizer, 384, False)
    assert big["window_start"] == [0]
    assert Q.QAAdapter(doc_stride=5).featurize(ex, tokenizer, 24, False)["window_start"][:3] == [0, 5, 10]


def test_question_truncated_to_max_query_length(tokenizer):
    long_q = " ".join(["where is the capital of china"] * 10)
    ex = qa_set([("q", EN, long_q, "cat")])
    feats = Q.featurize_qa(ex, tokenizer, max_seq_len=64, train=True, max_query_length=7)
    ids = feats[0]["input_ids"]
    q_ids = tokenizer(long_q, add_special_tokens=False)["input_ids"][:7]
    assert ids[1:8] == q_ids and ids[8:10] == [tokenizer.sep_token_id] * 2


@pytest.mark.parametrize("max_len,stride", [(30, 3), (30, 6), (384, 128)])
def test_training_labels_point_at_the_answer(tokenizer, max_len, stride):
    ex = qa_set(EXAMPLES)
    feats = Q.featurize_qa(ex, tokenizer, max_seq_len=max_len, train=True, doc_stride=stride)
    offs = Q.featurize_qa(ex, tokenizer, max_seq_len=max_len, train=False, doc_stride=stride)
    inside = 0
    for f, o in zip(feats, offs):
        s, e = f["start_positions"], f["end_positions"]
        context, answer = ex[f["example_index"]]["context"], ex[f["example_index"]]["answers"]["text"][0]
        if s == 0:
            assert e == 0
            continue
        inside += 1
        assert context[o["offsets"][s][0] : o["offsets"][e][1]].strip() == answer
    assert inside >= len(EXAMPLES)  # every answer lies inside at least one window


def test_training_skips_misaligned_answers(tokenizer):
    bad = datasets.Dataset.from_dict(
        {
            "id": ["ok", "bad"],
            "context": [EN, EN],
            "question": ["q", "q"],
            "answers": [{"text": ["cat"], "answer_start": [4]}, {"text": ["cat"], "answer_start": [5]}],
        }
    )
    assert Q.featurize_qa(bad, tokenizer, 64, train=True)["example_index"] == [0]
    assert Q.featurize_qa(bad, tokenizer, 64, train=False)["example_index"] == [0, 1]


def one_hot_logits(length, start, end):
    logits = np.full((length, 2), -10.0, dtype=np.float32)
    logits[start, 0] = 5.0
    logits[end, 1] = 5.0
    return logits


@pytest.mark.parametrize("qid", ["zh1", "zh2", "th1", "th2", "en1"])
def test_postprocess_takes_the_answer_from_context_offsets(tokenizer, qid):
    """Known logits on the gold span give back exactly the gold text, also for zh/th without spaces
    (the HF get_final_text bug: transformers #3510, xtreme #38)."""
    ex = qa_set([r for r in EXAMPLES if r[0] == qid])
    train = Q.featurize_qa(ex, tokenizer, max_seq_len=384, train=True)
    feats = Q.featurize_qa(ex, tokenizer, max_seq_len=384, train=False)
    assert len(feats) == 1
    logits = one_hot_logits(feats[0]["length"], train[0]["start_positions"], train[0]["end_positions"])
    answers = Q.postprocess_qa(ex, feats, [logits])
    assert answers == [ex[0]["answers"]["text"][0]]
    assert Q.qa_predictions(ex, answers) == {qid: ex[0]["answers"]["text"][0]}


def test_best_answer_rules():
    """Candidate rules on a hand-made window: token 0 is <s>, tokens 1-10 are the characters of the context."""
    context = "abcdefghij"
    offsets = [[-1, -1]] + [[i, i + 1] for i in range(10)]

    def logits(starts, ends):
        s, e = np.full(11, -100.0), np.full(11, -100.0)
        for i, v in starts.items():
            s[i] = v
        for i, v in ends.items():
            e[i] = v
        return s, e

    s, e = logits({0: 50.0, 3: 1.0}, {0: 50.0, 5: 1.0})  # <s> is never an answer token
    assert Q.best_answer(context, s, e, offsets) == ("cde", 2.0)
    s, e = logits({8: 9.0}, {3: 9.0})  # end before start is invalid
    text, score = Q.best_answer(context, s, e, offsets)
    assert text in ("c", "h") and score == -91.0
    s, e = logits({1: 2.0}, {9: 2.0})  # 9 tokens
    assert Q.best_answer(context, s, e, offsets, max_answer_length=30) == ("abcdefghi", 4.0)
    assert Q.best_answer(context, s, e, offsets, max_answer_length=8)[0] != "abcdefghi"
    s, e = logits({2: 5.0, 4: 1.0}, {5: 1.0})  # the start token lacks max context in this window
    flags = [0] + [1, 0] + [1] * 8
    assert Q.best_answer(context, s, e, offsets, max_context=flags) == ("de", 2.0)
    s, e = logits({0: 9.0, 6: 1.0}, {6: 1.0})  # n_best: only the top-n starts are tried
    assert Q.best_answer(context, s, e, offsets, n_best=1) is None
    assert Q.best_answer(context, s, e, offsets, n_best=2) == ("f", 2.0)
    ex = datasets.Dataset.from_dict(
        {"id": ["q"], "context": [context], "question": ["?"], "answers": [{"text": ["f"], "answer_start": [5]}]}
    )
    feats = [{"example_index": 0, "offsets": offsets, "max_context": [1] * 11}]
    assert Q.postprocess_qa(ex, feats, [np.stack([s, e], axis=1)], n_best=1) == [""]  # no valid span


def test_postprocess_picks_the_best_window(tokenizer):
    ex = qa_set([EXAMPLES[4]])
    feats = Q.featurize_qa(ex, tokenizer, max_seq_len=24, train=False, doc_stride=4)
    assert len(feats) > 2
    outputs = []
    for k, f in enumerate(feats):
        ctx = [j for j, (o, m) in enumerate(zip(f["offsets"], f["max_context"])) if o[0] >= 0 and m]
        logits = one_hot_logits(f["length"], ctx[0], ctx[0])
        logits += 1.0 if k == 1 else 0.0  # window 1 scores highest
        outputs.append(logits)
    f1 = feats[1]
    j = next(j for j, (o, m) in enumerate(zip(f1["offsets"], f1["max_context"])) if o[0] >= 0 and m)
    assert Q.postprocess_qa(ex, feats, outputs) == [EN[f1["offsets"][j][0] : f1["offsets"][j][1]].strip()]


def test_example_stats_use_the_official_scripts(tokenizer):
    from xstilts.engine.toydata import task

    adapter = Q.QAAdapter()
    ex = qa_set(EXAMPLES)
    preds = ["北京", "上海是", "กรุงเทพมหานคร", "", "ran in the Park."]
    stats = adapter.example_stats(preds, ex, task("squad", formats.QA, metric="squad"))
    assert stats["em"] == [1, 0, 1, 0, 1]
    assert stats["f1"][1] == 0.0  # whitespace tokens: zh gets no partial credit in the SQuAD script
    mlqa = adapter.example_stats(preds, ex, task("mlqa", formats.QA, metric="mlqa"), language="zh")
    assert mlqa["em"][1] == 0 and 0 < mlqa["f1"][1] < 1  # MLQA zh: character tokens
    with pytest.raises(ValueError, match="needs the test language"):
        adapter.example_stats(preds, ex, task("mlqa", formats.QA, metric="mlqa"))
    assert adapter.dev_score(preds, ex, None) == pytest.approx(100 * (3 / 5 + np.mean(stats["f1"])) / 2)
    hidden = ex.map(lambda r: {"answers": {"text": [""], "answer_start": [0]}})
    assert adapter.example_stats(preds, hidden, task("squad", formats.QA, metric="squad")) == {}


def test_qa_head_and_loss(tokenizer):
    from transformers import XLMRobertaConfig

    config = XLMRobertaConfig(hidden_size=8, initializer_range=0.02)
    head = Q.QAAdapter().build_head(config, None)
    assert isinstance(head.qa_outputs, torch.nn.Linear) and head.qa_outputs.weight.shape == (2, 8)
    assert not head.qa_outputs.bias.detach().any()
    logits = torch.zeros(2, 5, 2)
    logits[0, 1, 0] = logits[0, 3, 1] = 30.0
    loss = Q.qa_loss(logits, torch.tensor([1, 9]), torch.tensor([3, 9]))  # row 1: outside -> ignored
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_qa_trains_and_predicts_through_the_engine(tokenizer, tmp_path):
    """finetune + predict + zero_shot_eval with the QA adapter on a tiny XLM-R that memorises 5 questions."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xstilts.engine.predict import predict, zero_shot_eval
    from xstilts.engine.toydata import task
    from xstilts.engine.train_config import TrainConfig
    from xstilts.engine.trainer import finetune

    enc = tmp_path / "encoder"
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=260,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(str(enc))
    tokenizer.save_pretrained(str(enc))
    ex = qa_set(EXAMPLES)
    t = task("squad", formats.QA, metric="squad")
    hp = TrainConfig(
        lr=1e-2,
        max_steps=40,
        batch_size=5,
        grad_accum=1,
        max_seq_len=128,
        warmup_ratio=0.0,
        eval_every_steps=20,
        eval_subset=0,
        progress=False,
        cache_dir=str(tmp_path / "cache"),
    )
    from xstilts.engine.types import TaskData

    result = finetune(enc, [TaskData(t, ex, ex)], hp, seed=0, out_dir=tmp_path / "run")
    assert result.best_score is not None and result.best_score >= 80  # 4 of 5 memorised (zh1/zh2 share a context)
    preds, outputs = predict(tmp_path / "run", t, ex)
    gold = [a["text"][0] for a in ex["answers"]]
    assert len(outputs) == 5 and sum(p == g for p, g in zip(preds, gold)) >= 4
    assert all(p in c for p, c in zip(preds, ex["context"]))
    res = zero_shot_eval(tmp_path / "run", t, {"xx": ex}, out_dir=tmp_path / "eval")["xx"]
    assert res.per_example_stats["em"] == [int(p == g) for p, g in zip(preds, gold)]
    assert res.metrics["score"] == pytest.approx(result.best_score)
    lines = [json.loads(x) for x in (tmp_path / "eval" / "xx.predictions.jsonl").read_text().splitlines()]
    assert lines == [{"example_id": q, "prediction": p} for q, p in zip(ex["id"], preds)]
