"""The miniature world: determinism, languages, exact labels through derived languages, and every task
loading through the real data layer (xstilts.data.load) into the canonical formats."""

from __future__ import annotations

import json
import os
import random
import unicodedata

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from xstilts.benchmarks import formats as F  # noqa: E402
from xstilts.miniworld import generators as T  # noqa: E402
from xstilts.miniworld import grammar as G  # noqa: E402
from xstilts.miniworld import lexicon as L  # noqa: E402
from xstilts.miniworld.build import build_world, load_world, world_task  # noqa: E402
from xstilts.miniworld.derivation import ENGLISH, PRECEDENCE, Language, Recipe  # noqa: E402
from xstilts.miniworld.world_config import planned_languages, resolve_config  # noqa: E402

SMOKE = {"size": "smoke"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    manifest = build_world(SMOKE, out)
    return out, manifest


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(world, tmp_path):
    out, manifest = world
    again = build_world(SMOKE, tmp_path / "again")
    assert again["fingerprint"] == manifest["fingerprint"]
    assert _files(out) == _files(tmp_path / "again")
    other = build_world({**SMOKE, "seed": 1}, tmp_path / "other")
    assert other["fingerprint"] != manifest["fingerprint"]
    differing = [k for k, v in other["files"].items() if manifest["files"].get(k) != v]
    assert "facebook/xnli/n1/test.jsonl" in differing and "corpus/n3.txt" in differing


def test_same_seed_is_identical_across_processes_and_hash_seeds(world, tmp_path):
    """Nothing may depend on Python's per-process string hashing (set or dict order of str keys)."""
    import subprocess
    import sys

    out, manifest = world
    code = (
        "import sys; from xstilts.miniworld.build import build_world; "
        "print(build_world({'size': 'smoke'}, sys.argv[1])['fingerprint'])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "w")], env=env, capture_output=True, text=True, check=True
    )
    assert res.stdout.strip().splitlines()[-1] == manifest["fingerprint"]


def test_manifest_languages_codes_and_registration(world):
    out, manifest = world
    codes = [lang["code"] for lang in manifest["languages"]]
    assert codes == planned_languages(SMOKE)
    assert codes[0] == "en"
    for code in codes[1:]:
        assert code.isascii() and code.islower() and any(c.isdigit() for c in code), code
    recipes = {lang["code"]: lang["recipe"] for lang in manifest["languages"]}
    assert any(not r["spaces"] for r in recipes.values()), "a no-space orthography language is required"
    assert any(r["script"] != "Latn" for r in recipes.values()), "a script-change language is required"
    ranks = sorted(lang["distance_rank"] for lang in manifest["languages"] if lang["code"] != "en")
    assert ranks == list(range(1, len(codes)))
    # XTREME-R adds languages the XTREME analogue does not test, and they are the far ones
    x = set().union(*manifest["benchmarks"]["xtreme"].values())
    r = set().union(*manifest["benchmarks"]["xtreme-r"].values())
    added = r - x
    tiers = {lang["code"]: lang["tier"] for lang in manifest["languages"]}
    assert added and all(tiers[c] == "far" for c in added)
    dist = {lang["code"]: lang["distance"] for lang in manifest["languages"]}
    assert min(dist[c] for c in added) > max(dist[c] for c in x if c != "en")
    # corpus: one monolingual file per language
    assert sorted(manifest["corpus"]) == sorted(codes)
    for rel in manifest["corpus"].values():
        lines = (out / rel).read_text(encoding="utf-8").splitlines()
        assert len(lines) == resolve_config(SMOKE)["sizes"]["corpus"] and all(lines)
    from xstilts.benchmarks.languages import get_language

    assert load_world(out)["fingerprint"] == manifest["fingerprint"]
    assert get_language("n3").iso3 == "qn3"


def test_no_space_and_script_languages_look_the_part(world):
    out, manifest = world
    by = {lang["code"]: lang["recipe"] for lang in manifest["languages"]}
    nospace = next(c for c, r in by.items() if not r["spaces"] and c in manifest["benchmarks"]["xtreme"]["xnli"])
    rows = [json.loads(x) for x in (out / "facebook/xnli" / nospace / "test.jsonl").read_text("utf-8").splitlines()]
    assert all(" " not in r["premise"] for r in rows)
    cyr = next(c for c, r in by.items() if r["script"] == "Cyrl")
    text = (out / "corpus" / f"{cyr}.txt").read_text("utf-8")
    letters = [ch for ch in text if ch.isalpha()]
    assert sum("CYRILLIC" in unicodedata.name(ch, "") for ch in letters) / len(letters) > 0.8


def test_resolve_config_rejects_unknown_keys():
    with pytest.raises(KeyError, match="sizes"):
        resolve_config({"sizez": {}})
    with pytest.raises(KeyError, match="train"):
        resolve_config({"sizes": {"trian": 3}})
    with pytest.raises(KeyError, match="not in world.languages"):
        resolve_config(
            {"task_languages": {"xtreme": {**resolve_config({})["task_languages"]["xtreme"], "xnli": ["en", "zz9"]}}}
        )
    with pytest.raises(ValueError, match="lowercase ASCII with a digit"):
        Recipe("de", "German")


def test_train_sizes_change_only_the_named_tasks_english_training_files(world, tmp_path):
    """`train_sizes` makes single tasks' training data scarce: exactly their train files change, to the
    stated number of examples (rows; SQuAD-format files: questions), and nothing else in the world does."""
    out, manifest = world
    sizes = {"siqa": 7, "copa": 5, "udpos": 9, "pawsx": 11}
    scarce = build_world({**SMOKE, "train_sizes": sizes}, tmp_path / "scarce")
    before, after = _files(out), _files(tmp_path / "scarce")
    assert set(before) == set(after)
    changed = sorted(k for k in before if before[k] != after[k] and k != "manifest.json")
    files = {
        "siqa": "allenai/social_i_qa/default/train.jsonl",
        "copa": "aps/super_glue/copa/train.jsonl",
        "pawsx": "google-research-datasets/paws-x/en/train.jsonl",
        "udpos": "google/xtreme/udpos.English/train.jsonl",
    }
    assert changed == sorted(files.values())
    assert {task: len(after[path].decode().splitlines()) for task, path in files.items()} == sizes
    assert scarce["fingerprint"] != manifest["fingerprint"]
    from xstilts.study.grid import data_run
    from xstilts.study.profile import load_profile

    # unset (mini-control: null), the key leaves the world's run id as it was; set (mini), it names a new world
    cfg = load_profile("mini-control").cfg
    assert "train_sizes" not in data_run(cfg).spec["world"]
    assert data_run({**cfg, "world": {**cfg["world"], "train_sizes": sizes}}).id != data_run(cfg).id
    assert load_profile("mini").cfg["world"]["train_sizes"] == {"mnli": 2000, "squad": 2000, "hellaswag": 2000}
    with pytest.raises(KeyError, match="unknown task 'sqia'.*siqa"):
        resolve_config({"train_sizes": {"sqia": 5}})
    with pytest.raises(ValueError, match="train_sizes.copa: expected an integer >= 3"):
        resolve_config({"train_sizes": {"copa": 0}})


# --- exact labels through derived languages ------------------------------------------------------------

RECIPES = [
    Recipe("t1", "T1", cognate_share=0.5),
    Recipe("t2", "T2", script="Grek", order="sov", adp="post", adj="after"),
    Recipe("t3", "T3", script="Hani", script_names=False, spaces=False),
    Recipe("t4", "T4", script="Armn", order="reverse", fuse=True),
    Recipe("t5", "T5", script="Deva", order="sov", adp="post", fuse=True, share_names=False),
    Recipe("t6", "T6", script="Thai", order="vso", adj="after", spaces=False, share_names=False),
]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.code)
def test_tags_spans_and_answers_carry_over(recipe):
    rng = random.Random(7)
    world = G.make_world(rng)
    en = Language(ENGLISH, 0)
    lang = Language(recipe, 0)
    for _ in range(60):
        tree = G.random_tree(rng, world)
        src, tgt = en.realize(tree), lang.realize(tree)
        leaves = tree.leaves()
        # every source leaf is realised exactly once; each token's tag follows from its leaves
        assert sorted(i for s in tgt.src for i in s) == list(range(len(leaves)))
        for tok_src, tag in zip(tgt.src, tgt.upos):
            assert tag == min((leaves[i].tok.upos for i in tok_src), key=PRECEDENCE.index)
        # entities: same types, contiguous, same count
        assert sorted(t for t in src.ner_tags() if t.startswith("B-")) == sorted(
            t for t in tgt.ner_tags() if t.startswith("B-")
        )
        # text offsets point at the tokens
        for tok, (a, b) in zip(tgt.tokens, tgt.offsets):
            assert tgt.text[a:b] == tok
        if not recipe.spaces:
            assert " " not in tgt.text
    # QA: every answer is a character span of its context, in every language
    para = T.qa_paragraph(_ctx(world, {"en": en, recipe.code: lang}), rng, 4, q_per_sent=3)
    for code in ("en", recipe.code):
        context, breaks, qas = T.realize_paragraph(_ctx(world, {"en": en, recipe.code: lang}), para, code)
        assert [context[a:b] for a, b in breaks] == [
            ({"en": en, recipe.code: lang}[code]).realize(t).text for t in para.trees
        ]
        for (_qtree, k, ask), (_, answer, start) in zip(para.questions, qas):
            assert context[start : start + len(answer)] == answer and answer
            lo, hi = breaks[k]
            assert lo <= start < hi  # the answer lies in the sentence its question is about
            if ask == "count":
                node = para.trees[k].find("count")
                assert node.tok.key in answer  # digits are shared anchors


def _ctx(world, languages):
    return T.Ctx(world, languages, 0, {}, {})


def test_sov_puts_the_verb_last_and_names_stay_anchors():
    en = Language(ENGLISH, 0)
    sov = Language(Recipe("t2", "T2", order="sov", adp="post"), 0)
    world = G.make_world(random.Random(0))
    ev = G.Event(world.persons[0], "buy", G.Obj("apple", 3, ("red",)), world.cities[0])
    tree = G.sentence(G.event_clause(ev))
    assert (
        en.realize(tree).text == f"{' '.join(world.persons[0].name)} bought 3 red apples in {world.cities[0].name[0]}."
    )
    s = sov.realize(tree)
    assert s.upos[-2] == "VERB" and s.upos[-3] == "ADP"  # ... NP postposition verb .
    assert " ".join(world.persons[0].name) in s.text and "3" in s.tokens


def test_semantic_labels_follow_the_meaning():
    rng = random.Random(3)
    world = G.make_world(rng)
    ev = G.Event(world.persons[0], "buy", G.Obj("apple", 3, ("red",)), world.cities[0])
    for _ in range(30):
        ent = T.nli_hypothesis(ev, 0, rng, world)
        assert not ent.neg and ent.agent == ev.agent and ent.verb == ev.verb
        assert (ent.loc in (None, ev.loc)) and set(ent.obj.adjs) <= set(ev.obj.adjs) and ent != ev
        con = T.nli_hypothesis(ev, 2, rng, world)
        assert con.neg or con.obj.count != ev.obj.count
        neu = T.nli_hypothesis(ev, 1, rng, world)
        assert not neu.neg and (neu.agent != ev.agent or neu.time is not None)
    neg = G.Event(world.persons[0], "buy", G.Obj("apple"), neg=True)
    for _ in range(20):
        assert T.nli_hypothesis(neg, 2, rng, world).neg is False  # a positive hypothesis contradicts
        assert T.nli_hypothesis(neg, 0, rng, world).neg is True
    # causal choices: the distractor is never reachable from the premise along the rules
    ctx = _ctx(world, {"en": Language(ENGLISH, 0)})
    for _ in range(50):
        _, premise, kind, choices, label = T._causal_mc(ctx, rng, 4)
        reach = G.causal_closure(premise, kind == "effect")
        assert choices[label] in reach
        assert all(c not in reach for i, c in enumerate(choices) if i != label)


# --- every task through the real data layer ------------------------------------------------------------


def _loads(manifest):
    from xstilts.benchmarks.registry import REGISTRY

    for key, task in REGISTRY.items():
        wt = world_task(task, manifest)
        for split in ("train", "dev", "test"):
            if not task.refs(split, "en"):
                continue
            per_lang = split == "test" or (split == "dev" and task.format == F.BITEXT_MINING)
            for lang in list(wt.languages) if per_lang else ["en"]:
                yield key, split, lang


def test_every_task_loads_into_the_canonical_format(world):
    from xstilts.benchmarks.registry import REGISTRY
    from xstilts.data.loaders import load

    out, manifest = world
    failures = []
    for key, split, lang in _loads(manifest):
        task = world_task(REGISTRY[key], manifest)
        try:
            data = load(task, split, lang, world_dir=out)
        except Exception as err:  # collected, so one run lists every gap
            failures.append(f"{key} {split} {lang}: {type(err).__name__}: {str(err)[:160]}")
            continue
        if isinstance(data, F.RetrievalSet):
            assert data.query_ids and data.candidate_ids and data.gold, (key, split, lang)
            assert all(set(v) <= set(data.candidate_ids) for v in data.gold.values()), (key, split, lang)
        else:
            assert len(data) > 0, (key, split, lang)
            expected = set(F.PAIR_COLUMNS) if "query" in data.column_names else set(F.COLUMNS[task.format])
            assert set(data.column_names) == expected, (key, split, lang, data.column_names)
    assert not failures, "\n".join(failures)


def test_parallel_tasks_share_labels_and_targets_across_languages(world):
    from xstilts.benchmarks.registry import REGISTRY
    from xstilts.data.loaders import load

    out, manifest = world
    xnli = world_task(REGISTRY["xtreme.xnli"], manifest)
    labels = {lang: load(xnli, "test", lang, world_dir=out)["label"] for lang in xnli.languages}
    assert len({tuple(v) for v in labels.values()}) == 1
    assert len(set(labels["en"])) == 3
    tat = world_task(REGISTRY["xtreme-r.tatoeba"], manifest)
    sets = [load(tat, "test", lang, world_dir=out) for lang in tat.languages]
    assert all(s.queries == sets[0].queries for s in sets)  # the same English side for every language
    assert len(set(sets[0].queries)) == len(sets[0].queries)
    xquad = world_task(REGISTRY["xtreme.xquad"], manifest)
    en = load(xquad, "test", "en", world_dir=out)
    for lang in xquad.languages:
        ds = load(xquad, "test", lang, world_dir=out)
        assert ds["id"] == en["id"]
        for row in ds:
            a, s = row["answers"]["text"][0], row["answers"]["answer_start"][0]
            assert row["context"][s : s + len(a)] == a
    # LAReQA: every question's answer sentence exists in every language of the pool
    lareqa = world_task(REGISTRY["xtreme-r.lareqa"], manifest)
    pool = load(lareqa, "test", "en", world_dir=out)
    assert all(len(g) == len(lareqa.languages) for g in pool.gold.values())
    assert {c.split(".")[0] for c in pool.candidate_ids} == set(lareqa.languages)
    # UD-POS and PAN-X are not parallel: different sentences per language
    ud = world_task(REGISTRY["xtreme.udpos"], manifest)
    n1 = load(ud, "test", "n1", world_dir=out)
    tags_en = load(ud, "test", "en", world_dir=out)["tags"]
    assert n1["tags"] != tags_en
    assert all(len(t) == len(w) for t, w in zip(n1["tags"], n1["tokens"]))


def test_pair_classification_test_sets_are_label_balanced(world):
    """XCOPA and PAWS-X test (and XCOPA dev) labels: each class half the items, so the majority class --
    the `chance` column -- is 50 (with 40 random labels it was 57.5 for XCOPA)."""
    from xstilts.benchmarks.registry import REGISTRY
    from xstilts.data.loaders import load
    from xstilts.study.chance import chance_score

    out, manifest = world
    for key in ("xtreme-r.xcopa", "xtreme.pawsx"):
        task = world_task(REGISTRY[key], manifest)
        for lang in task.languages:
            labels = load(task, "test", lang, world_dir=out)["label"]
            assert abs(2 * sum(labels) - len(labels)) <= 1, (key, lang, labels)
            assert chance_score(task, lang, out) == pytest.approx(50.0, abs=100 / len(labels)), (key, lang)
    assert T.balanced_labels(random.Random(0), 7, 3).count(0) == 3 and sorted(
        T.balanced_labels(random.Random(1), 6, 2)
    ) == [0, 0, 0, 1, 1, 1]


def test_panx_entities_are_names_of_the_world(world):
    from xstilts.benchmarks.registry import REGISTRY
    from xstilts.data.loaders import load

    out, manifest = world
    panx = world_task(REGISTRY["xtreme.panx"], manifest)
    names = set(L.FIRST_NAMES + L.SURNAMES + L.CITIES + L.ORG_HEADS)
    ds = load(panx, "test", "n1", world_dir=out)  # n1 shares names with English (anchors)
    for tokens, tags in zip(ds["tokens"], ds["tags"]):
        assert any(t.startswith("B-") for t in tags)
        for tok, tag in zip(tokens, tags):
            assert (tag != "O") == (tok in names), (tokens, tags)


def test_codeswitching_touches_only_the_corpus_and_follows_its_rates():
    from xstilts.miniworld.corpus import corpus_lines

    world = G.make_world(random.Random(0))
    en = Language(ENGLISH, 0)
    cyr = Language(Recipe("t3", "T3", script="Cyrl"), 0)
    none = corpus_lines(cyr, world, 200, random.Random(1), en, 0.0, 0.5)
    assert not any(ch.isascii() and ch.isalpha() for line in none for ch in line)
    every = corpus_lines(cyr, world, 50, random.Random(1), en, 1.0, 1.0)
    assert all(not any("CYRILLIC" in unicodedata.name(ch, "") for ch in line) for line in every)
    some = corpus_lines(cyr, world, 400, random.Random(1), en, 0.2, 0.5)
    mixed = sum(any(ch.isascii() and ch.isalpha() for ch in line) for line in some) / len(some)
    assert 0.1 < mixed < 0.3


def test_overlap_knobs_share_the_right_word_classes():
    dialect = Language(Recipe("t1", "T1", cognate_share=0.0, function_share=1.0), 0)
    distant = Language(Recipe("t2", "T2", cognate_share=1.0, function_share=0.0, share_names=False), 0)
    for key in ("not", "the", "did", "in", "because"):
        assert dialect.surface(key, "") == key and distant.surface(key, "") != key
    for key, form in (("apple", "pl"), ("buy", "past"), ("red", "")):
        assert dialect.surface(key, form) != L.english_form(key, form)
        assert distant.surface(key, form) == L.english_form(key, form)
    assert dialect.surface("Tolmar", "") == "Tolmar" and distant.surface("Tolmar", "") != "Tolmar"
    assert distant.surface("7", "") == "7"  # digits are always shared
