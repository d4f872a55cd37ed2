"""One generator per task analogue: records in the exact hub (or release) schema of the real source.

Every label comes from the meaning the grammar built, never from the text:
- NLI (XNLI/MNLI/SNLI/ANLI): the hypothesis is the premise's event made more general (entailment),
  negated or given a different count (contradiction), or made more specific / about someone else
  (neutral); under a negated premise the monotonicity flips (ANLI rounds 1 and 3).
- paraphrase (PAWS-X, QQP): the same event with a constituent moved (paraphrase) versus the same
  words with agent and patient swapped (not a paraphrase).
- sentiment (SST-2): the polarity of the predicate adjective, flipped by negation; with "but" the
  second clause decides.
- tagging (UD-POS, PAN-X, CCG): the tree's UPOS tags, entity spans and supertag categories.
- QA (SQuAD, XQuAD, MLQA, TyDiQA, LAReQA): the answer is the questioned constituent, a character span
  in every language (answers may include a fused affix, as in agglutinative languages).
- causal multiple choice (COPA, XCOPA, SIQA, HellaSwag, CosmosQA): the world's causal rules; a
  distractor is never reachable from the premise along the rules.
- CommonsenseQA: the lexical taxonomy (which noun is a fruit).
- retrieval (BUCC, Tatoeba, Mewsli-X): parallel trees, with monolingual distractors for BUCC, and entity
  descriptions built from the entity's attributes for Mewsli-X.

Parallel where the real task is parallel (XNLI, PAWS-X, XQuAD/LAReQA, Tatoeba, XCOPA: one set of
trees realised in every language), not where it is not (UD-POS, PAN-X, MLQA, TyDiQA, Mewsli-X: fresh
trees per language).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace

from xstilts.benchmarks.registry import PANX_LABELS as NER_LABELS
from xstilts.benchmarks.registry import UPOS_LABELS
from xstilts.benchmarks.registry import XNLI_LABELS as NLI_LABELS

from . import grammar as G
from . import lexicon as L
from .derivation import Language, Sentence


@dataclass
class Output:
    """Records for one source split: `source` is a key of xstilts.benchmarks.sources.SOURCES; `language` the
    language whose config they fill (None: the source holds all languages in one file)."""

    source: str
    language: str | None
    split: str
    records: object


class Ctx:
    """What every generator needs: the world, the realised languages, the seed and the sizes."""

    def __init__(
        self,
        world: G.World,
        languages: dict[str, Language],
        seed: int,
        sizes: dict,
        task_languages: dict[str, list[str]],
        train_sizes: dict | None = None,
    ):
        self.world = world
        self.languages = languages
        self.seed = seed
        self.sizes = sizes
        self.task_languages = task_languages
        self.train_sizes = dict(train_sizes or {})
        self.en = languages["en"]

    def n_train(self, task: str, default: int | None = None) -> int:
        """English training examples of `task`: the world's `train_sizes` entry, else `default`, else the size
        preset's `train`."""
        return self.train_sizes.get(task, self.sizes["train"] if default is None else default)

    def split_size(self, task: str, split: str) -> int:
        return self.n_train(task) if split == "train" else self.sizes[SPLIT_SIZE[split]]

    def rng(self, *parts) -> random.Random:
        digest = hashlib.sha256("|".join(map(str, (self.seed, *parts))).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def langs(self, task: str) -> list[str]:
        if task not in self.task_languages:
            raise KeyError(f"world task_languages has no entry {task!r}; expected one of {sorted(self.task_languages)}")
        return list(self.task_languages[task])

    def lang(self, code: str) -> Language:
        return self.languages[code]

    def text(self, root: G.Node, code: str = "en") -> str:
        return self.languages[code].realize(root).text


# the size of each split of an English task (train/dev of the world's size preset)
SPLIT_SIZE = {"train": "train", "validation": "dev", "dev": "dev", "test": "test"}


def english_splits(
    ctx: Ctx,
    source: str,
    name: str,
    row,
    splits=("train", "validation"),
    language: str | None = "en",
    sizes: dict | None = None,
) -> list[Output]:
    """One Output per split of an English task: `n` rows `row(rng, split, i)`, drawn in order from the
    split's own seeded generator `ctx.rng(name, split)`; `n` from the size preset (`sizes` overrides)."""
    out = []
    for split in splits:
        rng = ctx.rng(name, split)
        n = (sizes or {}).get(split) or ctx.split_size(name, split)
        out.append(Output(source, language, split, [row(rng, split, i) for i in range(n)]))
    return out


def _uid(*parts) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:24]


# ----------------------------------------------------------------------------------------------------
# NLI


def balanced_labels(rng: random.Random, n: int, k: int) -> list[int]:
    """`n` labels of `k` classes in shuffled order, each class `n // k` or `n // k + 1` times: the test sets
    of the pair-classification analogues are balanced (as XNLI's are), so the majority class is chance."""
    labels = [i % k for i in range(n)]
    rng.shuffle(labels)
    return labels


def _generalize(ev: G.Event, rng: random.Random) -> G.Event | None:
    """A strictly more general event (entailed by `ev` when positive)."""
    ops = []
    if isinstance(ev.obj, G.Obj):
        if ev.obj.adjs:
            ops.append(lambda e: G.with_obj(e, adjs=()))
        if ev.obj.count is not None:
            ops.append(lambda e: G.with_obj(e, count=None, bare=True, definite=False))
        ops.append(
            lambda e: (
                G.with_obj(e, noun=L.NOUNS[e.obj.noun][0], count=None, adjs=(), bare=True, definite=False)
                if e.obj.noun in L.NOUNS
                else e
            )
        )
    if ev.loc is not None:
        ops.append(lambda e: replace(e, loc=None))
    if ev.time is not None:
        ops.append(lambda e: replace(e, time=None))
    if not ops:
        return None
    out = ev
    for op in rng.sample(ops, k=min(len(ops), rng.choice([1, 1, 2]))):
        out = op(out)
    return out if out != ev else None


def _specialize(ev: G.Event, rng: random.Random, world: G.World, premise: G.Event | None = None) -> G.Event | None:
    """`ev` with information added on a dimension the premise leaves open (an adjective, a place, a time):
    neither entailed nor contradicted by a positive premise."""
    premise = premise or ev
    ops = []
    if isinstance(ev.obj, G.Obj) and isinstance(premise.obj, G.Obj) and not premise.obj.adjs:
        ops.append(lambda e: G.with_obj(e, adjs=(rng.choice(L.COLOURS),)))
    if premise.loc is None and L.VERBS[ev.verb][0] != "place":
        ops.append(lambda e: replace(e, loc=rng.choice(world.cities)))
    if premise.time is None:
        ops.append(lambda e: replace(e, time=rng.choice(L.TIME_ADVERBS[:2])))
    if not ops:
        return None
    return rng.choice(ops)(ev)


def _other_agent(ev: G.Event, rng: random.Random, world: G.World) -> G.Event:
    choices = [p for p in world.persons if p != ev.agent and p != ev.obj]
    return replace(ev, agent=rng.choice(choices))


def nli_hypothesis(ev: G.Event, label: int, rng: random.Random, world: G.World) -> G.Event | None:
    """The hypothesis event for a label given the premise event (None if this premise cannot yield it).
    Positive premise: general -> entailment; negated or recounted -> contradiction; specific or another
    agent -> neutral. Negated premise: monotonicity flips (specific-negated entails; positive contradicts)."""
    name = NLI_LABELS[label]
    if not ev.neg:
        if name == "entailment":
            return _generalize(ev, rng)
        if name == "contradiction":
            if isinstance(ev.obj, G.Obj) and ev.obj.count is not None and rng.random() < 0.3:
                other = rng.choice([int(n) for n in L.NUMBERS if int(n) != ev.obj.count])
                return G.with_obj(ev, count=other)
            general = _generalize(ev, rng) if rng.random() < 0.6 else ev
            return replace(general or ev, neg=True)
        base = (_generalize(ev, rng) or ev) if rng.random() < 0.5 else ev
        if rng.random() < 0.4:
            return _other_agent(base, rng, world)
        return _specialize(base, rng, world, premise=ev)
    positive = replace(ev, neg=False)
    if name == "entailment":
        return _specialize(ev, rng, world)
    if name == "contradiction":
        spec = _specialize(positive, rng, world) if rng.random() < 0.5 else positive
        return spec
    return _other_agent(ev, rng, world)


def nli_example(ctx: Ctx, rng: random.Random, negated: float = 0.0, compound: float = 0.0):
    """(premise tree, hypothesis tree, label id)."""
    while True:
        label = rng.randrange(3)
        ev = G.random_event(rng, ctx.world, p_loc=0.6, p_time=0.15)
        if rng.random() < negated:
            ev = replace(ev, neg=True)
        hyp = nli_hypothesis(ev, label, rng, ctx.world)
        if hyp is None or hyp == ev:
            continue
        if rng.random() < compound:
            other = G.random_event(rng, ctx.world, p_loc=0.3)
            first, second = (ev, other) if rng.random() < 0.5 else (other, ev)
            premise = G.coordinated(G.event_clause(first, marks=False), "and", G.event_clause(second, marks=False))
        else:
            premise = G.sentence(G.event_clause(ev, marks=False))
        return premise, G.sentence(G.event_clause(hyp, marks=False)), label


def nli_records(ctx: Ctx, name: str, split: str, n: int, langs: list[str], negated=0.0, compound=0.0):
    """Parallel NLI items realised in each language: {lang: [(premise, hypothesis, label)]}."""
    rng = ctx.rng("nli", name, split)
    items = [nli_example(ctx, rng, negated, compound) for _ in range(n)]
    return {code: [(ctx.text(p, code), ctx.text(h, code), y) for p, h, y in items] for code in langs}


def gen_nli(ctx: Ctx) -> list[Output]:
    s = ctx.sizes
    out = []
    en = nli_records(ctx, "mnli", "train", ctx.n_train("mnli"), ["en"])["en"]
    out.append(
        Output(
            "mnli",
            "en",
            "train",
            [{"premise": p, "hypothesis": h, "label": y, "idx": i} for i, (p, h, y) in enumerate(en)],
        )
    )
    dev = nli_records(ctx, "mnli", "dev", s["dev"], ["en"])["en"]
    out.append(
        Output(
            "mnli",
            "en",
            "validation_matched",
            [{"premise": p, "hypothesis": h, "label": y, "idx": i} for i, (p, h, y) in enumerate(dev)],
        )
    )
    langs = sorted(set(ctx.langs("xnli")) | {"en"})
    for split, n in (("validation", s["dev"]), ("test", s["test"])):
        per = nli_records(ctx, "xnli", split, n, langs)
        for code in langs:
            out.append(
                Output("xnli", code, split, [{"premise": p, "hypothesis": h, "label": y} for p, h, y in per[code]])
            )
    # ANLI+: SNLI (simple), ANLI R1 (negated premises), R2 (compound), R3 (both).
    snli = nli_records(ctx, "snli", "train", ctx.n_train("snli", s["train"] // 2), ["en"])["en"]
    out.append(Output("snli", "en", "train", [{"premise": p, "hypothesis": h, "label": y} for p, h, y in snli]))
    for r, (neg, comp) in {1: (0.6, 0.0), 2: (0.0, 0.7), 3: (0.5, 0.5)}.items():
        for split, n in ((f"train_r{r}", ctx.n_train("anli", s["train"] // 3)), (f"dev_r{r}", s["dev"] // 3)):
            rows = nli_records(ctx, f"anli{r}", split, n, ["en"], neg, comp)["en"]
            out.append(
                Output(
                    "anli",
                    "en",
                    split,
                    [
                        {
                            "uid": _uid("anli", ctx.seed, split, i),
                            "premise": p,
                            "hypothesis": h,
                            "label": y,
                            "reason": "",
                        }
                        for i, (p, h, y) in enumerate(rows)
                    ],
                )
            )
    return out


# ----------------------------------------------------------------------------------------------------
# Paraphrase: PAWS-X and QQP


def paws_example(ctx: Ctx, rng: random.Random, label: int | None = None):
    """(tree1, tree2, label): high word overlap; label 1 iff same meaning. Paraphrases move a constituent
    (a fronted place, swapped conjuncts); non-paraphrases swap agent and patient (PAWS's word swapping)
    or replace one word (a different person, place or thing). `label`: drawn at random unless given."""
    label = rng.randrange(2) if label is None else label
    if rng.random() < 0.6:
        ev = G.random_event(rng, ctx.world, transitive=True, p_loc=1.0)
        while ev.verb not in L.PERSON_VERBS:
            ev = G.random_event(rng, ctx.world, transitive=True, p_loc=1.0)
        t1 = G.sentence(G.event_clause(ev, marks=False))
        if label == 1:
            ev2 = ev
        elif rng.random() < 0.4:
            ev2 = replace(ev, agent=ev.obj, obj=ev.agent)
        elif rng.random() < 0.5:
            ev2 = replace(ev, loc=rng.choice([c for c in ctx.world.cities if c != ev.loc]))
        else:
            ev2 = replace(ev, obj=rng.choice([p for p in ctx.world.persons if p not in (ev.agent, ev.obj)]))
        clause = G.event_clause(ev2, marks=False)
        if label == 1 or rng.random() < 0.5:
            clause = G.fronted(clause, "pp")
        return t1, G.sentence(clause), label
    e1 = G.random_event(rng, ctx.world, transitive=False, p_loc=0.0, person_agent=1.0)
    e2 = G.random_event(rng, ctx.world, transitive=False, p_loc=0.0, person_agent=1.0)
    while e2.agent == e1.agent or e2.verb == e1.verb:
        e2 = G.random_event(rng, ctx.world, transitive=False, p_loc=0.0, person_agent=1.0)
    t1 = G.coordinated(G.event_clause(e1, marks=False), "and", G.event_clause(e2, marks=False))
    if label == 1:
        t2 = G.coordinated(G.event_clause(e2, marks=False), "and", G.event_clause(e1, marks=False))
    elif rng.random() < 0.5:
        s1, s2 = replace(e1, agent=e2.agent), replace(e2, agent=e1.agent)
        t2 = G.coordinated(G.event_clause(s1, marks=False), "and", G.event_clause(s2, marks=False))
    else:
        verb = rng.choice([v for v in L.INTRANSITIVE if v not in (e1.verb, e2.verb)])
        t2 = G.coordinated(G.event_clause(replace(e1, verb=verb), marks=False), "and", G.event_clause(e2, marks=False))
    return t1, t2, label


def gen_pawsx(ctx: Ctx) -> list[Output]:
    s, out = ctx.sizes, []
    langs = sorted(set(ctx.langs("pawsx")) | {"en"})
    for split, n in (("train", ctx.n_train("pawsx")), ("validation", s["dev"]), ("test", s["test"])):
        rng = ctx.rng("pawsx", split)
        labels = [None] * n if split == "train" else balanced_labels(rng, n, 2)
        items = [paws_example(ctx, rng, y) for y in labels]
        for code in ["en"] if split == "train" else langs:
            out.append(
                Output(
                    "paws-x",
                    code,
                    split,
                    [
                        {"id": i + 1, "sentence1": ctx.text(a, code), "sentence2": ctx.text(b, code), "label": y}
                        for i, (a, b, y) in enumerate(items)
                    ],
                )
            )
    return out


def qqp_example(ctx: Ctx, rng: random.Random):
    label = rng.randrange(2)
    ev = G.random_event(rng, ctx.world, transitive=True, p_loc=1.0)
    asks = ["subj", "obj"] + (["count"] if isinstance(ev.obj, G.Obj) and ev.obj.count else [])
    ask = rng.choice(asks)
    q1 = _question_with_loc(ev, ask, front=False)
    if label == 1:
        return q1, _question_with_loc(ev, ask, front=True), 1
    r = rng.random()
    if ev.verb in L.PERSON_VERBS and r < 0.5:
        other = replace(ev, agent=ev.obj, obj=ev.agent)
        q2 = _question_with_loc(other, ask, front=rng.random() < 0.5)
    elif r < 0.75:
        other = replace(ev, loc=rng.choice([c for c in ctx.world.cities if c != ev.loc]))
        q2 = _question_with_loc(other, ask, front=rng.random() < 0.5)
    else:
        alt = [a for a in asks if a != ask]
        q2 = _question_with_loc(ev, rng.choice(alt), front=rng.random() < 0.5)
    return q1, q2, 0


def _question_with_loc(ev: G.Event, ask: str, front: bool) -> G.Node:
    """A question about `ev` that also names the event's place (fronted or final)."""
    q = G.question(ev, ask)
    if ev.loc is None or ask == "loc":
        return q
    kids = [k for k in q.children if k.role != "punct"]
    place = G.pp("in", G.name_np(ev.loc, "np"))
    if front:
        place.role = "adv"
        kids = [place, G.leaf(",", "comma")] + kids
    else:
        kids = kids + [place]
    return G.number_leaves(G.Node("S", "root", kids + [G.leaf("?", "punct")]))


def gen_qqp(ctx: Ctx) -> list[Output]:
    def row(rng, split, i):
        a, b, y = qqp_example(ctx, rng)
        return {"question1": ctx.text(a), "question2": ctx.text(b), "label": y, "idx": i}

    return english_splits(ctx, "qqp", "qqp", row)


# ----------------------------------------------------------------------------------------------------
# Sentiment: SST-2


def sst_example(ctx: Ctx, rng: random.Random):
    def clause():
        pos = rng.random() < 0.5
        adj = rng.choice(L.POSITIVE if pos else L.NEGATIVE)
        neg = rng.random() < 0.3
        obj = G.random_obj(rng, p_count=0.0, p_adj=0.3)
        return G.thing_state_clause(
            replace(obj, definite=True), adj, neg=neg, intensifier=rng.random() < 0.3
        ), pos != neg

    r = rng.random()
    if r < 0.6:
        c, y = clause()
        return G.sentence(c), int(y)
    if r < 0.8:
        (c1, _), (c2, y2) = clause(), clause()
        return G.coordinated(c1, "but", c2), int(y2)
    verb = rng.choice(["like", "hate"])
    neg = rng.random() < 0.3
    ev = G.Event(rng.choice(ctx.world.persons), verb, G.random_obj(rng), neg=neg)
    return G.sentence(G.event_clause(ev, marks=False)), int((verb == "like") != neg)


def gen_sst2(ctx: Ctx) -> list[Output]:
    def row(rng, split, i):
        t, y = sst_example(ctx, rng)
        return {"sentence": ctx.text(t), "label": y, "idx": i}

    return english_splits(ctx, "sst2", "sst2", row)


# ----------------------------------------------------------------------------------------------------
# Tagging: UD-POS, PAN-X, CCG


def _has_entity(root: G.Node) -> bool:
    return any(n.ner for n in root.walk())


def tagging_splits(ctx: Ctx, source: str, name: str, row) -> list[Output]:
    """English train/validation/test and every other language's test of a tagging task: `n` rows
    `row(rng, code)` each, from the split's own seeded generator `ctx.rng(name, code, split)`."""
    out = []
    for code in sorted(set(ctx.langs(name)) | {"en"}):
        for split in ("train", "validation", "test") if code == "en" else ("test",):
            rng = ctx.rng(name, code, split)
            out.append(Output(source, code, split, [row(rng, code) for _ in range(ctx.split_size(name, split))]))
    return out


def gen_udpos(ctx: Ctx) -> list[Output]:
    def row(rng, code):
        sent = ctx.lang(code).realize(G.random_tree(rng, ctx.world))
        return {"tokens": sent.tokens, "pos_tags": [UPOS_LABELS.index(t) for t in sent.upos]}

    return tagging_splits(ctx, "xtreme.udpos", "udpos", row)


def gen_panx(ctx: Ctx) -> list[Output]:
    def row(rng, code):
        tree = G.random_tree(rng, ctx.world)
        while not _has_entity(tree):
            tree = G.random_tree(rng, ctx.world)
        sent = ctx.lang(code).realize(tree)
        return {
            "tokens": sent.tokens,
            "ner_tags": [NER_LABELS.index(t) for t in sent.ner_tags()],
            "langs": [code] * len(sent.tokens),
        }

    return tagging_splits(ctx, "xtreme.panx", "panx", row)


def gen_ccg(ctx: Ctx) -> list[Output]:
    def row(rng, split, i):
        tree = G.random_tree(rng, ctx.world)
        return (G.english_tokens(tree), G.supertags(tree))

    return english_splits(ctx, "ccgbank", "ccg", row, splits=("train", "dev"), language=None)


# ----------------------------------------------------------------------------------------------------
# Extractive QA: SQuAD, XQuAD, MLQA, TyDiQA, LAReQA (XQuAD-R)


@dataclass
class Paragraph:
    """Sentence trees of one context and its questions: (question tree, sentence index, answer mark)."""

    trees: list[G.Node]
    questions: list[tuple[G.Node, int, str]]


def qa_paragraph(ctx: Ctx, rng: random.Random, n_sent: int, q_per_sent: int = 1) -> Paragraph:
    """A context of events with distinct agents and verbs, so every question has exactly one answer."""
    agents = rng.sample(ctx.world.persons, n_sent)
    verbs = rng.sample([v for v in L.OBJECT_VERBS if L.VERBS[v][0] != "place"], n_sent)
    trees, questions = [], []
    for k, (agent, verb) in enumerate(zip(agents, verbs)):
        kind = L.VERBS[verb][0]
        obj = G.random_obj(rng, kind, p_count=0.5, p_adj=0.6)
        loc = rng.choice(ctx.world.cities) if rng.random() < 0.8 else None
        ev = G.Event(agent, verb, obj, loc)
        trees.append(G.sentence(G.event_clause(ev)))
        asks = ["subj", "obj"] + (["loc"] if loc else []) + (["count"] if obj.count else [])
        for ask in rng.sample(asks, k=min(q_per_sent, len(asks))):
            questions.append((G.question(ev, ask), k, ask))
    return Paragraph(trees, questions)


def realize_paragraph(ctx: Ctx, para: Paragraph, code: str):
    """(context text, sentence [start, end] breaks, [(question text, answer text, answer start)])."""
    lang = ctx.lang(code)
    sents: list[Sentence] = [lang.realize(t) for t in para.trees]
    starts, pos = [], 0
    for i, s in enumerate(sents):
        if i > 0:
            pos += len(lang.joiner)
        starts.append(pos)
        pos += len(s.text)
    context = lang.join_sentences([s.text for s in sents])
    breaks = [[st, st + len(s.text)] for st, s in zip(starts, sents)]
    qas = []
    for qtree, k, ask in para.questions:
        node = para.trees[k].find(ask)
        a, b = sents[k].char_span([n.index for n in node.leaves()])
        start = starts[k] + a
        answer = context[start : starts[k] + b]
        qas.append((lang.realize(qtree).text, answer, start))
    return context, breaks, qas


def _title(ctx: Ctx, para: Paragraph, code: str) -> str:
    """The paragraph's title: its first agent's name, as written in the language."""
    return _name_text(ctx, _first_agent(para), code)


def _first_agent(para: Paragraph) -> G.Entity:
    node = para.trees[0].find("subj")
    name = tuple(n.tok.key for n in node.leaves())
    return G.Entity("Q0", node.ner or "PER", name)


def squad_rows(
    ctx: Ctx, paras: list[Paragraph], code: str, ids: list[list[str]], with_title: bool = True
) -> list[dict]:
    rows = []
    for para, pids in zip(paras, ids):
        context, _, qas = realize_paragraph(ctx, para, code)
        title = _title(ctx, para, code)
        for qid, (question, answer, start) in zip(pids, qas):
            row = {"id": qid}
            if with_title:
                row["title"] = title
            row.update(
                {"context": context, "question": question, "answers": {"text": [answer], "answer_start": [start]}}
            )
            rows.append(row)
    return rows


def _paragraphs(ctx: Ctx, name: str, n_questions: int, *extra) -> list[Paragraph]:
    rng = ctx.rng("qa", name, *extra)
    paras, total = [], 0
    while total < n_questions:
        para = qa_paragraph(ctx, rng, rng.choice([3, 4]), q_per_sent=rng.choice([1, 2]))
        paras.append(para)
        total += len(para.questions)
    return paras


def _ids(ctx: Ctx, name: str, paras: list[Paragraph], prefix: str = "") -> list[list[str]]:
    return [
        [f"{prefix}{_uid(name, ctx.seed, p, q)}" for q in range(len(para.questions))] for p, para in enumerate(paras)
    ]


def gen_qa(ctx: Ctx) -> list[Output]:
    s, out = ctx.sizes, []
    # SQuAD v1.1 (English train/validation): the training data of XQuAD, MLQA and LAReQA.
    for split, n in (("train", ctx.n_train("squad")), ("validation", s["dev"])):
        paras = _paragraphs(ctx, "squad", n, split)
        out.append(Output("squad", "en", split, squad_rows(ctx, paras, "en", _ids(ctx, f"squad-{split}", paras))))
    # XQuAD: one set of paragraphs, realised in every language, ids shared across languages.
    xquad_langs = sorted(set(ctx.langs("xquad")) | {"en"})
    paras = _paragraphs(ctx, "xquad", s["test"])
    ids = _ids(ctx, "xquad", paras)
    for code in xquad_langs:
        out.append(Output("xquad", code, "validation", squad_rows(ctx, paras, code, ids, with_title=False)))
    # LAReQA: XQuAD-R = the same paragraphs with sentence breaks, one JSON per language.
    for code in sorted(set(ctx.langs("lareqa"))):
        out.append(Output("xquad-r", code, "test", xquad_r_json(ctx, paras, code, ids)))
    # MLQA: fresh paragraphs per language (context language = question language).
    for code in sorted(set(ctx.langs("mlqa")) | {"en"}):
        for split, n in (("validation", s["dev"] // 2), ("test", s["test"])):
            paras_l = _paragraphs(ctx, "mlqa", n, code, split)
            out.append(
                Output(
                    "xtreme.mlqa",
                    code,
                    split,
                    squad_rows(ctx, paras_l, code, _ids(ctx, f"mlqa-{code}-{split}", paras_l)),
                )
            )
    # TyDiQA-GoldP: English train; validation = every language, language in the id prefix.
    prefix = {code: ctx.lang(code).recipe.name.lower() for code in ctx.languages}
    paras = _paragraphs(ctx, "tydiqa", ctx.n_train("tydiqa"), "train")
    out.append(
        Output(
            "xtreme.tydiqa",
            None,
            "train",
            squad_rows(ctx, paras, "en", _ids(ctx, "tydiqa-train", paras, f"{prefix['en']}-")),
        )
    )
    rows = []
    for code in sorted(set(ctx.langs("tydiqa")) | {"en"}):
        paras_l = _paragraphs(ctx, "tydiqa", s["test"], code, "validation")
        rows += squad_rows(ctx, paras_l, code, _ids(ctx, f"tydiqa-{code}", paras_l, f"{prefix[code]}-"))
    out.append(Output("xtreme.tydiqa", None, "validation", rows))
    return out


def xquad_r_json(ctx: Ctx, paras: list[Paragraph], code: str, ids: list[list[str]]) -> dict:
    """SQuAD v1.1 JSON with `sentence_breaks` per paragraph (the lareqa/xquad-r release format)."""
    articles = []
    for para, pids in zip(paras, ids):
        context, breaks, qas = realize_paragraph(ctx, para, code)
        articles.append(
            {
                "title": _title(ctx, para, code),
                "paragraphs": [
                    {
                        "context": context,
                        "sentence_breaks": breaks,
                        "qas": [
                            {"id": qid, "question": q, "answers": [{"text": a, "answer_start": st}]}
                            for qid, (q, a, st) in zip(pids, qas)
                        ],
                    }
                ],
            }
        )
    return {"version": "1.1", "data": articles}


# ----------------------------------------------------------------------------------------------------
# Retrieval: BUCC, Tatoeba


def _distinct_trees(ctx: Ctx, rng: random.Random, n: int, seen: set) -> list[G.Node]:
    """`n` random sentences whose English text is new (retrieval gold must be unambiguous)."""
    out = []
    while len(out) < n:
        tree = G.random_tree(rng, ctx.world)
        key = ctx.text(tree)
        if key in seen:
            continue
        seen.add(key)
        out.append(tree)
    return out


def gen_tatoeba(ctx: Ctx) -> list[Output]:
    """Aligned xx/English pairs as rows of google/xtreme `tatoeba.<iso3>`, the trailing newline kept as the
    hub keeps it. One set of trees for every language (Tatoeba is parallel)."""
    out = []
    rng = ctx.rng("tatoeba")
    trees = _distinct_trees(ctx, rng, ctx.sizes["tatoeba"], set())
    for code in sorted(ctx.langs("tatoeba")):
        lang = ctx.lang(code)
        iso3 = iso3_of(code)
        out.append(
            Output(
                "xtreme.tatoeba",
                code,
                "validation",
                [
                    {
                        "source_sentence": lang.realize(t).text + "\n",
                        "target_sentence": ctx.text(t) + "\n",
                        "source_lang": iso3,
                        "target_lang": "eng",
                    }
                    for t in trees
                ],
            )
        )
    return out


def iso3_of(code: str) -> str:
    """The miniature's ISO-639-3-like code: `q` + code (ISO 639-3 reserves qaa-qtz for local use)."""
    return "eng" if code == "en" else "q" + code


def gen_bucc(ctx: Ctx) -> list[Output]:
    """Comparable corpora: gold translation pairs hidden among monolingual sentences on both sides."""
    out = []
    for code in sorted(ctx.langs("bucc2018")):
        lang = ctx.lang(code)
        for split, n_gold in (("sample", ctx.sizes["bucc_gold"] // 2), ("training", ctx.sizes["bucc_gold"])):
            rng = ctx.rng("bucc", code, split)
            n_extra = int(n_gold * ctx.sizes["bucc_distractor_ratio"])
            trees = _distinct_trees(ctx, rng, n_gold + 2 * n_extra, set())
            gold_trees, src_only, en_only = trees[:n_gold], trees[n_gold : n_gold + n_extra], trees[n_gold + n_extra :]
            src = [(t, i < n_gold) for i, t in enumerate(gold_trees + src_only)]
            tgt = [(t, i < n_gold) for i, t in enumerate(gold_trees + en_only)]
            src_order = list(range(len(src)))
            tgt_order = list(range(len(tgt)))
            rng.shuffle(src_order)
            rng.shuffle(tgt_order)
            src_id = {k: f"{code}-{pos + 1:09d}" for pos, k in enumerate(src_order)}
            tgt_id = {k: f"en-{pos + 1:09d}" for pos, k in enumerate(tgt_order)}
            source = [(src_id[k], lang.realize(src[k][0]).text) for k in src_order]
            target = [(tgt_id[k], ctx.text(tgt[k][0])) for k in tgt_order]
            gold = sorted((src_id[k], tgt_id[k]) for k in range(n_gold))
            out.append(Output("bucc2018", code, split, {"source": source, "target": target, "gold": gold}))
    return out


# ----------------------------------------------------------------------------------------------------
# Causal multiple choice: COPA, XCOPA, SIQA, HellaSwag, CosmosQA; taxonomy: CommonsenseQA


def _distractors(spec: tuple, forward: bool, rng: random.Random, k: int) -> list[tuple]:
    """Specs that are not reachable from `spec` along the rules in the asked direction (nor it)."""
    banned = G.causal_closure(spec, forward) | {spec}
    pool = [s for s in G.all_specs() if s not in banned]
    return rng.sample(pool, k)


def copa_item(ctx: Ctx, rng: random.Random, label: int | None = None):
    """(premise tree, question, choice trees, label): the premise is a cause (question 'effect') or an
    effect (question 'cause'); one choice follows the rules, the other is unreachable. `label` (the
    right choice's index): drawn at random unless given."""
    cause, effect = rng.choice(G.CAUSAL_RULES)
    agent = rng.choice(ctx.world.persons)
    question = rng.choice(["cause", "effect"])
    premise, right = (cause, effect) if question == "effect" else (effect, cause)
    wrong = _distractors(premise, question == "effect", rng, 1)[0]
    label = rng.randrange(2) if label is None else label
    choices = [right, wrong] if label == 0 else [wrong, right]
    trees = [G.sentence(G.spec_clause(c, agent)) for c in choices]
    return G.sentence(G.spec_clause(premise, agent)), question, trees, label


def gen_copa(ctx: Ctx) -> list[Output]:
    s, out = ctx.sizes, []
    for split, n in (("train", ctx.n_train("copa", s["copa_train"])), ("validation", s["dev"])):
        rng = ctx.rng("copa", split)
        rows = []
        for i in range(n):
            p, q, (c1, c2), y = copa_item(ctx, rng)
            rows.append(
                {
                    "premise": ctx.text(p),
                    "choice1": ctx.text(c1),
                    "choice2": ctx.text(c2),
                    "question": q,
                    "idx": i,
                    "label": y,
                }
            )
        out.append(Output("copa", "en", split, rows))
    langs = sorted(ctx.langs("xcopa"))
    for split, n in (("validation", s["dev"] // 2), ("test", s["test"])):
        rng = ctx.rng("xcopa", split)
        items = [copa_item(ctx, rng, y) for y in balanced_labels(rng, n, 2)]
        for code in langs:
            out.append(
                Output(
                    "xcopa",
                    code,
                    split,
                    [
                        {
                            "premise": ctx.text(p, code),
                            "choice1": ctx.text(c1, code),
                            "choice2": ctx.text(c2, code),
                            "question": q,
                            "label": y,
                            "idx": i,
                            "changed": False,
                        }
                        for i, (p, q, (c1, c2), y) in enumerate(items)
                    ],
                )
            )
    return out


def fixed_question(kind: str) -> G.Node:
    """'what happened next ?' (effect) or 'why did this happen ?' (cause)."""
    if kind == "effect":
        kids = [G.Node("WH", "wh", [G.leaf("what", "wh")]), G.leaf("happen", "verb", "past"), G.leaf("next", "adv")]
    else:
        kids = [
            G.Node("WH", "wh", [G.leaf("why", "wh")]),
            G.leaf("did", "aux"),
            G.leaf("this", "subj"),
            G.leaf("happen", "verb", "base"),
        ]
    return G.number_leaves(G.Node("S", "root", kids + [G.leaf("?", "punct")]))


def _causal_mc(ctx: Ctx, rng: random.Random, n_choices: int):
    cause, effect = rng.choice(G.CAUSAL_RULES)
    agent = rng.choice(ctx.world.persons)
    kind = rng.choice(["cause", "effect"])
    premise, right = (cause, effect) if kind == "effect" else (effect, cause)
    wrong = _distractors(premise, kind == "effect", rng, n_choices - 1)
    label = rng.randrange(n_choices)
    choices = list(wrong)
    choices.insert(label, right)
    return agent, premise, kind, choices, label


def gen_siqa(ctx: Ctx) -> list[Output]:
    def row(rng, split, i):
        agent, premise, kind, choices, label = _causal_mc(ctx, rng, 3)
        answers = [ctx.text(G.sentence(G.spec_clause(c, agent))) for c in choices]
        return {
            "context": ctx.text(G.sentence(G.spec_clause(premise, agent))),
            "question": ctx.text(fixed_question(kind)),
            "answerA": answers[0],
            "answerB": answers[1],
            "answerC": answers[2],
            "label": str(label + 1),
        }

    return english_splits(ctx, "siqa", "siqa", row)


def gen_hellaswag(ctx: Ctx) -> list[Output]:
    """ctx_a = a cause, ctx_b = the agent's name, endings = what the agent did next (one per rule)."""
    s, out = ctx.sizes, []
    for split, n in (("train", ctx.n_train("hellaswag")), ("validation", s["dev"])):
        rng = ctx.rng("hellaswag", split)
        rows = []
        while len(rows) < n:
            cause, effect = rng.choice(G.CAUSAL_RULES)
            agent = rng.choice(ctx.world.persons)
            wrong = _distractors(cause, True, rng, 3)
            label = rng.randrange(4)
            choices = list(wrong)
            choices.insert(label, effect)
            endings = []
            for c in choices:
                root = G.sentence(G.spec_clause(c, agent, mark="subj"))
                sent = ctx.en.realize(root)
                _, end = sent.char_span([x.index for x in root.find("subj").leaves()])
                endings.append(sent.text[end:].strip())
            ctx_a = ctx.text(G.sentence(G.spec_clause(cause, agent)))
            ctx_b = " ".join(agent.name)
            rows.append(
                {
                    "ind": len(rows),
                    "activity_label": "daily life",
                    "ctx_a": ctx_a,
                    "ctx_b": ctx_b,
                    "ctx": f"{ctx_a} {ctx_b}",
                    "endings": endings,
                    "source_id": f"miniworld~{len(rows)}",
                    "split": "train" if split == "train" else "val",
                    "split_type": "indomain",
                    "label": str(label),
                }
            )
        out.append(Output("hellaswag", "en", split, rows))
    return out


def gen_cosmosqa(ctx: Ctx) -> list[Output]:
    """A short story (filler event, then the cause or the effect) and a why/what-next question, 4 answers."""

    def row(rng, split, i):
        agent, premise, kind, choices, label = _causal_mc(ctx, rng, 4)
        filler = G.random_event(rng, ctx.world, p_loc=0.5)
        story = [
            G.sentence(G.event_clause(replace(filler, agent=agent), marks=False)),
            G.sentence(G.spec_clause(premise, agent)),
        ]
        answers = [ctx.text(G.sentence(G.spec_clause(c, agent))) for c in choices]
        return {
            "id": _uid("cosmosqa", ctx.seed, split, i),
            "context": " ".join(ctx.text(t) for t in story),
            "question": ctx.text(fixed_question(kind)),
            **{f"answer{k}": a for k, a in enumerate(answers)},
            "label": label,
        }

    return english_splits(ctx, "cosmosqa", "cosmosqa", row)


def which_question(hypernym: str) -> G.Node:
    kids = [
        G.Node("WH", "wh", [G.leaf("which", "wh")]),
        G.leaf("of", "adp"),
        G.leaf("these", "subj"),
        G.leaf("was", "aux"),
        G.noun_np(hypernym, "pred", "a"),
    ]
    return G.number_leaves(G.Node("S", "root", kids + [G.leaf("?", "punct")]))


def _categories(noun: str) -> set[str]:
    """Every category a noun belongs to: its hypernym, and `food` for anything edible."""
    hyp, kind = L.NOUNS[noun]
    return {hyp} | ({"food"} if kind == "food" else set())


def gen_commonsenseqa(ctx: Ctx) -> list[Output]:
    """Which of five nouns belongs to a category (the world's taxonomy)."""
    letters = ["A", "B", "C", "D", "E"]

    def row(rng, split, i):
        hyp = rng.choice(L.HYPERNYMS)
        right = rng.choice([w for w in L.NOUNS if hyp in _categories(w)])
        others = rng.sample([w for w in L.NOUNS if hyp not in _categories(w)], 4)
        label = rng.randrange(5)
        others.insert(label, right)
        return {
            "id": _uid("csqa", ctx.seed, split, i),
            "question": ctx.text(which_question(hyp)),
            "question_concept": hyp,
            "choices": {"label": letters, "text": others},
            "answerKey": letters[label],
        }

    return english_splits(ctx, "commonsenseqa", "commonsenseqa", row)


# ----------------------------------------------------------------------------------------------------
# Entity retrieval: Mewsli-X


def _spans(sents: list[Sentence], joiner: str) -> tuple[str, list[dict], list[int]]:
    starts, pos = [], 0
    for i, s in enumerate(sents):
        if i:
            pos += len(joiner)
        starts.append(pos)
        pos += len(s.text)
    text = joiner.join(s.text for s in sents)
    return text, [{"start": st, "end": st + len(s.text)} for st, s in zip(starts, sents)], starts


def mewslix_entities(ctx: Ctx) -> list[dict]:
    """The candidate set: every person and organisation, described in a language drawn at random (as
    Mewsli-X describes each entity from one randomly chosen Wikipedia)."""
    rng = ctx.rng("mewslix", "entities")
    codes = sorted(ctx.languages)
    out = []
    for ent in ctx.world.persons + ctx.world.orgs:
        code = rng.choice(codes)
        lang = ctx.lang(code)
        sents = [lang.realize(G.sentence(c)) for c in G.description_clause(ent)]
        text, spans, _ = _spans(sents, lang.joiner)
        title = _name_text(ctx, ent, code)
        out.append(
            {
                "entity_id": ent.qid,
                "title": title,
                "description": text,
                "sentence_spans": spans,
                "description_language": code,
                "description_url": f"https://{code}.wikipedia.invalid/wiki/{ent.qid}",
            }
        )
    return out


def _name_text(ctx: Ctx, ent: G.Entity, code: str) -> str:
    root = G.number_leaves(G.Node("S", "root", [G.name_np(ent, "subj", "name")]))
    sent = ctx.lang(code).realize(root)
    a, b = sent.char_span([n.index for n in root.find("name").leaves()])
    return sent.text[a:b]


def mention_document(ctx: Ctx, rng: random.Random, code: str, doc_id: str, n_mentions: int = 1):
    """(context dict, [(mention span dict, entity id)]): a short news text; each mention is the full name
    of a person or organisation, followed by a sentence that repeats an attribute of it."""
    lang = ctx.lang(code)
    trees, marks = [], []
    for _m in range(n_mentions):
        ent = rng.choice(ctx.world.persons + ctx.world.orgs)
        ev = G.random_event(rng, ctx.world, p_loc=0.5)
        if ent.kind == "PER":
            ev = replace(ev, agent=ent, obj=ev.obj if ev.obj != ent else None)
        else:
            ev = G.Event(ent, "sell", G.random_obj(rng, "thing"), rng.choice(ctx.world.cities))
        trees.append(G.sentence(G.event_clause(ev)))
        marks.append((len(trees) - 1, ent))
        trees.append(G.sentence(G.description_clause(ent)[0]))
    sents = [lang.realize(t) for t in trees]
    text, spans, starts = _spans(sents, lang.joiner)
    mentions = []
    for k, ent in marks:
        a, b = sents[k].char_span([n.index for n in trees[k].find("subj").leaves()])
        mentions.append(
            ({"start": starts[k] + a, "end": starts[k] + b, "text": text[starts[k] + a : starts[k] + b]}, ent.qid)
        )
    context = {
        "document_title": f"{doc_id}",
        "document_url": f"https://{code}.wikinews.invalid/wiki?curid={doc_id}",
        "document_id": doc_id,
        "language": code,
        "text": text,
        "sentence_spans": spans,
    }
    return context, mentions


def gen_mewslix(ctx: Ctx) -> list[Output]:
    s = ctx.sizes
    entities = mewslix_entities(ctx)
    by_id = {e["entity_id"]: e for e in entities}
    files: dict[str, list[dict]] = {"candidate_set_entities": entities}
    for split, n in (("train", ctx.n_train("mewslix")), ("dev", s["dev"])):
        rng = ctx.rng("mewslix", "pairs", split)
        rows = []
        for i in range(n):
            context, [(span, qid)] = mention_document(ctx, rng, "en", f"en-{split}-{i}")
            rows.append(
                {
                    "contextual_mention": {
                        "context": context,
                        "mention": {
                            "example_id": _uid("mewslix", ctx.seed, split, i),
                            "mention_span": span,
                            "entity_id": qid,
                        },
                    },
                    "entity": by_id[qid],
                }
            )
        files[f"wikipedia_pairs-{split}"] = rows
    for split, n in (("dev", s["dev"] // 2), ("test", s["test"])):
        rows = []
        for code in sorted(set(ctx.langs("mewslix"))):
            rng = ctx.rng("mewslix", "news", code, split)
            for i in range(n):
                context, mentions = mention_document(ctx, rng, code, f"{code}-{split}-{i}")
                rows.append(
                    {
                        "context": context,
                        "mentions": [
                            {
                                "example_id": _uid("mewslix", ctx.seed, code, split, i, j),
                                "mention_span": span,
                                "entity_id": qid,
                            }
                            for j, (span, qid) in enumerate(mentions)
                        ],
                    }
                )
        files[f"wikinews_mentions-{split}"] = rows
    return [Output("mewsli-x", None, name, rows) for name, rows in files.items()]


GENERATORS = {
    "nli": gen_nli,
    "pawsx": gen_pawsx,
    "qqp": gen_qqp,
    "sst2": gen_sst2,
    "udpos": gen_udpos,
    "panx": gen_panx,
    "ccg": gen_ccg,
    "qa": gen_qa,
    "tatoeba": gen_tatoeba,
    "bucc": gen_bucc,
    "copa": gen_copa,
    "siqa": gen_siqa,
    "hellaswag": gen_hellaswag,
    "cosmosqa": gen_cosmosqa,
    "commonsenseqa": gen_commonsenseqa,
    "mewslix": gen_mewslix,
}
