"""The English-like source language: a small world, its events, and sentence trees that know everything.

A sentence is built as a tree of `Node`s whose leaves are lexemes (`Tok`). Every node carries its role
in its parent (subject, object, verb, adposition, adjective...), entity nodes carry their NER type, and
any node can carry a `mark` (the constituent a question asks about). Leaves are numbered in English
order (`number_leaves`), so after a derived language reorders, fuses and re-spells the tree, every
token still knows which source leaves it came from: tags, entity spans and answer spans carry over
exactly (see `languages.realize`).

Meaning lives in `Event` (who did what to what, where, with what count/adjectives, negated or not);
tasks manipulate events (drop a modifier, negate, swap roles) and the labels follow from the
manipulation, never from heuristics on text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from . import lexicon as L


@dataclass(frozen=True)
class Tok:
    """A lexeme in a form ("", "pl", "past", "base")."""

    key: str
    form: str = ""

    @property
    def upos(self) -> str:
        return L.LEXICON[self.key].upos

    @property
    def kind(self) -> str:
        return L.LEXICON[self.key].kind

    @property
    def en(self) -> str:
        return L.english_form(self.key, self.form)


@dataclass
class Node:
    """A constituent (`children`) or a leaf (`tok`). `role` is its function in the parent."""

    label: str
    role: str
    children: list[Node] = field(default_factory=list)
    tok: Tok | None = None
    ner: str | None = None
    mark: str | None = None
    index: int = -1  # leaves only: position in English order

    def leaves(self) -> list[Node]:
        if self.tok is not None:
            return [self]
        out = []
        for child in self.children:
            out.extend(child.leaves())
        return out

    def find(self, mark: str) -> Node | None:
        if self.mark == mark:
            return self
        for child in self.children:
            hit = child.find(mark)
            if hit is not None:
                return hit
        return None

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


def leaf(key: str, role: str, form: str = "") -> Node:
    if key not in L.LEXICON:
        raise KeyError(f"unknown lexeme {key!r}: not in miniworld.lexicon.LEXICON")
    return Node("W", role, tok=Tok(key, form))


def number_leaves(root: Node) -> Node:
    """Give every leaf its position in the English linear order (the source index)."""
    for i, node in enumerate(root.leaves()):
        node.index = i
    return root


# ----------------------------------------------------------------------------------------------------
# The world: entities with attributes (these are the anchors: names are shared by several languages).


@dataclass(frozen=True)
class Entity:
    """A named thing. `qid` is its WikiData-like id; attributes describe it (for Mewsli-X analogues)."""

    qid: str
    kind: str  # PER, ORG, LOC
    name: tuple[str, ...]
    job: str | None = None  # PER: a person noun
    city: str | None = None  # PER/ORG: the LOC name it belongs to
    likes: str | None = None  # PER: a noun
    colour: str | None = None  # ORG: its colour


@dataclass
class World:
    persons: list[Entity]
    orgs: list[Entity]
    cities: list[Entity]

    @property
    def entities(self) -> list[Entity]:
        return self.persons + self.orgs + self.cities


def make_world(rng: random.Random, n_persons: int = 48, n_orgs: int = 12) -> World:
    """People (first + last name; first names repeat, so a bare first name is ambiguous), organisations
    and cities, each with a few attributes."""
    cities = [Entity(f"Q{100 + i}", "LOC", (c,)) for i, c in enumerate(L.CITIES)]
    pairs = [(f, s) for f in L.FIRST_NAMES for s in L.SURNAMES]
    rng.shuffle(pairs)
    persons = []
    for i, (first, last) in enumerate(pairs[:n_persons]):
        persons.append(
            Entity(
                f"Q{1000 + i}",
                "PER",
                (first, last),
                job=rng.choice(L.PERSON_NOUNS),
                city=rng.choice(L.CITIES),
                likes=rng.choice(list(L.NOUNS)),
            )
        )
    orgs, seen = [], set()
    while len(orgs) < n_orgs:
        name = (rng.choice(L.SURNAMES), rng.choice(L.ORG_HEADS))
        if name in seen:
            continue
        seen.add(name)
        orgs.append(
            Entity(f"Q{5000 + len(orgs)}", "ORG", name, city=rng.choice(L.CITIES), colour=rng.choice(L.COLOURS))
        )
    return World(persons, orgs, cities)


# ----------------------------------------------------------------------------------------------------
# Phrases


def name_np(entity: Entity, role: str, mark: str | None = None) -> Node:
    """An entity name: one atomic NAME node (never reordered inside), tagged with its NER type."""
    kids = [leaf(part, "name") for part in entity.name]
    return Node("NAME", role, kids, ner=entity.kind, mark=mark)


@dataclass(frozen=True)
class Obj:
    """A thing: noun, how many (None = one), adjectives."""

    noun: str
    count: int | None = None
    adjs: tuple[str, ...] = ()
    definite: bool = False
    bare: bool = False  # plural without determiner ("apples")


def obj_np(obj: Obj, role: str, mark: str | None = None) -> Node:
    kids = []
    plural = obj.count is not None or obj.bare
    if obj.count is not None:
        kids.append(leaf(str(obj.count), "num"))
        if mark == "obj":
            kids[-1].mark = "count"
    elif not obj.bare:
        kids.append(leaf("the" if obj.definite else "a", "det"))
    for adj in obj.adjs:
        kids.append(leaf(adj, "adj"))
    kids.append(leaf(obj.noun, "noun", "pl" if plural else ""))
    return Node("NP", role, kids, mark=mark)


def noun_np(noun: str, role: str, det: str = "the", mark: str | None = None, adjs: tuple[str, ...] = ()) -> Node:
    kids = ([leaf(det, "det")] if det else []) + [leaf(a, "adj") for a in adjs] + [leaf(noun, "noun")]
    return Node("NP", role, kids, mark=mark)


def pp(adp: str, np: Node, role: str = "pp", mark: str | None = None) -> Node:
    np.role = "np"
    return Node("PP", role, [leaf(adp, "adp"), np], mark=mark)


# ----------------------------------------------------------------------------------------------------
# Events and clauses


@dataclass(frozen=True)
class Event:
    """Who did what: `agent` (an Entity or a person noun), `verb`, `obj` (an Obj, an Entity or None),
    `loc` (a city Entity or None), `time` (adverb or None), `neg`."""

    agent: object
    verb: str
    obj: object = None
    loc: Entity | None = None
    time: str | None = None
    neg: bool = False


def agent_np(agent, role: str = "subj", mark: str | None = None) -> Node:
    if isinstance(agent, Entity):
        return name_np(agent, role, mark)
    return noun_np(agent, role, "the", mark)


def event_clause(ev: Event, marks: bool = True) -> Node:
    """The declarative clause of an event: `[time] subj [did not] verb [obj] [in LOC]`."""
    kids = []
    if ev.time:
        kids.append(leaf(ev.time, "adv"))
    kids.append(agent_np(ev.agent, "subj", "subj" if marks else None))
    if ev.neg:
        kids += [leaf("did", "aux"), leaf("not", "neg"), leaf(ev.verb, "verb", "base")]
    else:
        kids.append(leaf(ev.verb, "verb", "past"))
    if isinstance(ev.obj, Entity):
        kids.append(name_np(ev.obj, "obj", "obj" if marks else None))
    elif isinstance(ev.obj, Obj):
        kids.append(obj_np(ev.obj, "obj", "obj" if marks else None))
    if ev.loc is not None:
        kids.append(pp("in", name_np(ev.loc, "np", "loc" if marks else None)))
    return Node("S", "clause", kids)


def state_clause(subject, adj: str, neg: bool = False, mark: str | None = None) -> Node:
    """`subj was [not] ADJ` (copula clause)."""
    kids = [agent_np(subject, "subj", mark), leaf("was", "aux")]
    if neg:
        kids.append(leaf("not", "neg"))
    kids.append(Node("AP", "pred", [leaf(adj, "adj")]))
    return Node("S", "clause", kids)


def thing_state_clause(obj: Obj, adj: str, neg: bool = False, intensifier: bool = False) -> Node:
    """`the NOUN was [not] [very] ADJ` (reviews for the sentiment analogue)."""
    kids = [obj_np(obj, "subj"), leaf("was", "aux")]
    if neg:
        kids.append(leaf("not", "neg"))
    pred = ([leaf("very", "adv")] if intensifier else []) + [leaf(adj, "adj")]
    kids.append(Node("AP", "pred", pred))
    return Node("S", "clause", kids)


def sentence(*clauses: Node, conj: str | None = None, punct: str = ".") -> Node:
    """A root: one clause, or two joined by a conjunction, then punctuation."""
    if len(clauses) == 1:
        root = Node("S", "root", list(clauses[0].children))
    else:
        if conj is None:
            raise ValueError("sentence: two clauses need a conjunction")
        kids = [clauses[0]]
        kids.append(leaf(conj, "conj"))
        kids.append(clauses[1])
        root = Node("S", "root", kids)
        root.label = "SS"  # coordination: its clauses keep their internal order rules
    root.children.append(leaf(punct, "punct"))
    return number_leaves(root)


def question(ev: Event, ask: str) -> Node:
    """A question about one constituent of `ev` (ask in subj, obj, loc, count), English wh-fronting with
    do-support. The questioned constituent names a thing generically (bare plural noun, no count or
    adjectives) so that the question shares the content words but not the answer."""
    kids = []
    bare = Obj(ev.obj.noun, bare=True) if isinstance(ev.obj, Obj) else None
    if ask == "subj":
        kids.append(Node("WH", "wh", [leaf("who", "wh")]))
        kids.append(leaf(ev.verb, "verb", "past"))
        if isinstance(ev.obj, Entity):
            kids.append(name_np(ev.obj, "obj"))
        elif bare is not None:
            kids.append(obj_np(bare, "obj"))
    elif ask == "obj":
        kids.append(Node("WH", "wh", [leaf("what", "wh")] if isinstance(ev.obj, Obj) else [leaf("who", "wh")]))
        kids += [leaf("did", "aux"), agent_np(ev.agent), leaf(ev.verb, "verb", "base")]
    elif ask in ("loc", "count"):
        if ask == "loc":
            kids.append(Node("WH", "wh", [leaf("where", "wh")]))
        else:
            kids.append(Node("WH", "wh", [leaf("how", "wh"), leaf("many", "wh"), leaf(ev.obj.noun, "wh", "pl")]))
        kids += [leaf("did", "aux"), agent_np(ev.agent), leaf(ev.verb, "verb", "base")]
        if ask == "loc" and bare is not None:
            kids.append(obj_np(bare, "obj"))
        elif ask == "loc" and isinstance(ev.obj, Entity):
            kids.append(name_np(ev.obj, "obj"))
    else:
        raise ValueError(f"question: ask={ask!r}, expected one of subj, obj, loc, count")
    kids.append(leaf("?", "punct"))
    return number_leaves(Node("S", "root", kids))


# ----------------------------------------------------------------------------------------------------
# Sampling


def random_obj(rng: random.Random, kind: str = "any", p_count: float = 0.4, p_adj: float = 0.6) -> Obj:
    nouns = [n for n, (_, k) in L.NOUNS.items() if kind == "any" or k == kind]
    noun = rng.choice(nouns)
    count = rng.choice([int(n) for n in L.NUMBERS]) if rng.random() < p_count else None
    adjs = ()
    if rng.random() < p_adj:
        adjs = (rng.choice(L.COLOURS + L.SIZES),)
    return Obj(noun, count, adjs, definite=rng.random() < 0.3)


def random_event(
    rng: random.Random,
    world: World,
    transitive: bool | None = None,
    p_loc: float = 0.6,
    p_time: float = 0.2,
    p_neg: float = 0.0,
    person_agent: float = 0.85,
) -> Event:
    """A random event; objects respect the verb's selection (you eat food, feed animals, help people)."""
    if transitive is None:
        transitive = rng.random() < 0.8
    if transitive:
        verb = rng.choice(L.OBJECT_VERBS + L.PERSON_VERBS)
    else:
        verb = rng.choice(L.INTRANSITIVE)
    kind = L.VERBS[verb][0]
    agent = rng.choice(world.persons) if rng.random() < person_agent else rng.choice(L.PERSON_NOUNS)
    obj = None
    if kind == "person":
        obj = rng.choice([p for p in world.persons if p != agent])
    elif kind == "place":
        obj = rng.choice(world.cities)
    elif kind is not None:
        obj = random_obj(rng, kind)
    loc = rng.choice(world.cities) if (rng.random() < p_loc and kind != "place") else None
    time = rng.choice(L.TIME_ADVERBS[:2]) if rng.random() < p_time else None
    return Event(agent, verb, obj, loc, time, rng.random() < p_neg)


def english_tokens(root: Node) -> list[str]:
    return [n.tok.en for n in root.leaves()]


def with_obj(ev: Event, **changes) -> Event:
    """`ev` with its Obj fields changed (count, adjs, noun...)."""
    if not isinstance(ev.obj, Obj):
        raise TypeError("with_obj: the event has no thing object")
    return replace(ev, obj=replace(ev.obj, **changes))


# ----------------------------------------------------------------------------------------------------
# More clause types: descriptions, causal rules, coordination


def description_clause(entity: Entity, mark: str | None = None) -> list[Node]:
    """Encyclopedic description clauses of an entity (for the Mewsli-X analogue's candidates)."""
    subj = name_np(entity, "subj", mark)
    if entity.kind == "PER":
        first = Node(
            "S",
            "clause",
            [subj, leaf("was", "aux"), noun_np(entity.job, "pred", "a"), pp("from", name_np(_city(entity.city), "np"))],
        )
        second = Node(
            "S",
            "clause",
            [
                leaf("she" if entity.name[0] in _SHE else "he", "subj"),
                leaf("like", "verb", "past"),
                obj_np(Obj(entity.likes, bare=True), "obj"),
            ],
        )
        return [first, second]
    if entity.kind == "ORG":
        first = Node(
            "S",
            "clause",
            [
                subj,
                leaf("sell", "verb", "past"),
                obj_np(Obj(_org_goods(entity), adjs=(entity.colour,), bare=True), "obj"),
                pp("in", name_np(_city(entity.city), "np")),
            ],
        )
        return [first]
    return [Node("S", "clause", [subj, leaf("was", "aux"), noun_np("market", "pred", "a", adjs=("big",))])]


_SHE = {"Anna", "Clara", "Elena", "Greta", "Ida", "Karin", "Maria", "Olga", "Rosa", "Tina", "Wanda", "Zora"}


def _city(name: str) -> Entity:
    return Entity(f"Q{100 + L.CITIES.index(name)}", "LOC", (name,))


def _org_goods(entity: Entity) -> str:
    goods = {"Bank": "box", "Group": "car", "Company": "bike", "Club": "hat", "School": "book", "Bakery": "cake"}
    return goods[entity.name[-1]]


# (cause, effect) specs: ("state", adj) or ("do", verb, object noun or None, definite)
CAUSAL_RULES = [
    (("state", "hungry"), ("do", "eat", "bread", True)),
    (("state", "tired"), ("do", "sleep", None, False)),
    (("state", "cold"), ("do", "buy", "coat", False)),
    (("state", "rich"), ("do", "buy", "car", False)),
    (("state", "late"), ("do", "run", None, False)),
    (("state", "sick"), ("do", "call", "doctor", False)),
    (("do", "lose", "key", True), ("state", "sad")),
    (("do", "win", None, False), ("state", "happy")),
    (("do", "cook", "soup", True), ("do", "eat", "soup", True)),
    (("do", "find", "map", True), ("do", "arrive", None, False)),
    (("do", "study", None, False), ("do", "win", None, False)),
    (("do", "work", None, False), ("state", "tired")),
    (("do", "lose", "hat", True), ("do", "buy", "hat", False)),
    (("do", "find", "money", True), ("state", "rich")),
]


def spec_clause(spec: tuple, agent, neg: bool = False, mark: str | None = None) -> Node:
    """The clause of a rule spec with this agent."""
    if spec[0] == "state":
        return state_clause(agent, spec[1], neg=neg, mark=mark)
    _, verb, noun, definite = spec
    kids = [agent_np(agent, "subj", mark)]
    if neg:
        kids += [leaf("did", "aux"), leaf("not", "neg"), leaf(verb, "verb", "base")]
    else:
        kids.append(leaf(verb, "verb", "past"))
    if noun in L.PERSON_NOUNS:
        kids.append(noun_np(noun, "obj", "a"))
    elif noun is not None:
        kids.append(obj_np(Obj(noun, definite=definite), "obj"))
    return Node("S", "clause", kids)


def causal_closure(spec: tuple, forward: bool) -> set:
    """Every spec reachable from `spec` along the rules (effects if forward, causes otherwise)."""
    seen, frontier = set(), [spec]
    while frontier:
        cur = frontier.pop()
        for cause, effect in CAUSAL_RULES:
            src, dst = (cause, effect) if forward else (effect, cause)
            if src == cur and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    return seen


def all_specs() -> list[tuple]:
    out = []
    for cause, effect in CAUSAL_RULES:
        for s in (cause, effect):
            if s not in out:
                out.append(s)
    return out


def coordinated(c1: Node, conj: str, c2: Node, punct: str = ".") -> Node:
    return sentence(c1, c2, conj=conj, punct=punct)


def fronted(clause: Node, role: str = "pp") -> Node:
    """The clause with its first child of `role` moved to the front, followed by a comma (same meaning)."""
    kids = list(clause.children)
    idx = next(i for i, k in enumerate(kids) if k.role == role)
    moved = kids.pop(idx)
    moved.role = "adv"
    return Node("S", "clause", [moved, leaf(",", "comma")] + kids)


# ----------------------------------------------------------------------------------------------------
# A mixed sampler (pretraining corpus, UD-POS, PAN-X, CCG)


def random_tree(rng: random.Random, world: World) -> Node:
    """A random sentence of any type, so the corpus covers every construction the tasks use."""
    r = rng.random()
    if r < 0.40:
        return sentence(event_clause(random_event(rng, world, p_neg=0.2, p_time=0.2), marks=False))
    if r < 0.50:
        agent = rng.choice(world.persons)
        return sentence(
            state_clause(agent, rng.choice(L.STATES + L.POSITIVE[-1:] + L.NEGATIVE[-1:]), neg=rng.random() < 0.2)
        )
    if r < 0.58:
        adj = rng.choice(L.POSITIVE + L.NEGATIVE)
        return sentence(
            thing_state_clause(
                random_obj(rng, p_count=0.0, p_adj=0.3), adj, neg=rng.random() < 0.3, intensifier=rng.random() < 0.3
            )
        )
    if r < 0.70:
        cause, effect = rng.choice(CAUSAL_RULES)
        agent = rng.choice(world.persons)
        if rng.random() < 0.5:
            return coordinated(spec_clause(cause, agent), "so", spec_clause(effect, agent))
        return coordinated(spec_clause(effect, agent), "because", spec_clause(cause, agent))
    if r < 0.80:
        ev = random_event(rng, world, transitive=True, p_loc=0.8)
        asks = (
            ["subj", "obj"]
            + (["loc"] if ev.loc else [])
            + (["count"] if isinstance(ev.obj, Obj) and ev.obj.count else [])
        )
        return question(ev, rng.choice(asks))
    if r < 0.90:
        e1 = random_event(rng, world, p_loc=0.3)
        e2 = random_event(rng, world, p_loc=0.3)
        return coordinated(event_clause(e1, marks=False), rng.choice(["and", "but"]), event_clause(e2, marks=False))
    entity = rng.choice(world.persons + world.orgs)
    return sentence(description_clause(entity)[0])


# ----------------------------------------------------------------------------------------------------
# CCG-like supertags (the CCG intermediate analogue): a category per leaf from its role in the tree


def supertags(root: Node) -> list[str]:
    """A CCGbank-style category for each leaf, read off the tree (function/argument structure)."""
    tags: dict[int, str] = {}

    def visit(node: Node, parent: Node | None):
        if node.tok is not None:
            tags[node.index] = _category(node, parent)
            return
        for child in node.children:
            visit(child, node)

    visit(root, None)
    return [tags[n.index] for n in root.leaves()]


def _category(node: Node, parent: Node | None) -> str:
    role, tok = node.role, node.tok
    sibs = parent.children if parent is not None else []
    is_question = any(k.role == "wh" for k in sibs)
    if role == "det":
        return "NP[nb]/N"
    if role == "num":
        return "N/N"
    if role == "adj":
        return "S[adj]\\NP" if parent is not None and parent.label == "AP" else "N/N"
    if role == "adv":
        return "(S[adj]\\NP)/(S[adj]\\NP)" if parent is not None and parent.label == "AP" else "S/S"
    if role == "noun":
        return "N"
    if role == "name":
        return "N" if node is parent.children[-1] else "N/N"
    if role == "verb":
        feat = "dcl" if tok.form == "past" else "b"
        has_obj = any(k.role == "obj" for k in sibs)
        return f"(S[{feat}]\\NP)/NP" if has_obj else f"S[{feat}]\\NP"
    if role == "aux":
        if is_question:
            return "(S[q]/(S[b]\\NP))/NP"
        if tok.key == "did":
            return "(S[dcl]\\NP)/(S[b]\\NP)"
        pred = next((k for k in sibs if k.role == "pred"), None)
        return "(S[dcl]\\NP)/NP" if pred is not None and pred.label == "NP" else "(S[dcl]\\NP)/(S[adj]\\NP)"
    if role == "neg":
        return "(S\\NP)\\(S\\NP)"
    if role == "adp":
        return "((S\\NP)\\(S\\NP))/NP"
    if role == "wh":
        if tok.key == "who":
            return "S[wq]/(S[dcl]\\NP)"
        if tok.key == "how":
            return "((S[wq]/(S[q]/NP))/N)/(N/N)"
        if tok.key == "many":
            return "N/N"
        if tok.upos == "NOUN":
            return "N"
        return "S[wq]/(S[q]/NP)"
    if role == "conj":
        return "conj"
    if role == "subj" and tok.upos == "PRON":
        return "NP"
    if role in ("punct", "comma"):
        return tok.key
    return tok.upos
