"""Derived languages: alignment-preserving transforms of the source sentence tree.

A `Recipe` composes five transforms (after K et al. 2020 "Fake-English", Dufter & Schütze 2020,
Deshpande et al. 2022):

- **lexicon relabelling**: every lexeme gets the language's own pseudo-word, built from the language's
  own syllable inventory, and every form (plural, past, base) its own suffix. `cognate_share` keeps that
  fraction of content words (nouns, verbs, adjectives, adverbs) in their English spelling (overlap, as
  between related languages) and `function_share` that fraction of function words (a dialect-like
  neighbour shares its grammar words);
  `share_names` keeps person/organisation/place names (anchors, as real languages share names); digits
  are always shared.
- **script change** (`script`): a character map from the Latin pseudo-spelling into another Unicode
  block (Cyrl, Grek, Armn, Deva, Geor, Thai) or, for `Hani`, one CJK character per syllable.
  `script_names` says whether names are re-spelled too (then they stop being surface anchors).
- **word order** (`order` svo/sov/vso/reverse, `adj` before/after the noun, `adp` pre/post): children of
  a constituent are reordered by their role; names are atomic, so entity spans stay contiguous.
- **orthography without spaces** (`spaces=False`): words are written together (as zh/th/ja); token
  lists (UD-POS, PAN-X) still give the words, QA answers are character spans.
- **fused morphology** (`fuse=True`): adpositions, auxiliaries and negation become affixes of the
  neighbouring word; the fused word takes the tag of higher precedence (XTREME's fused-form rule,
  VERB > NOUN > PROPN > ... > ADP > DET > PART) and keeps its entity label.

Why transfer can emerge: all languages express the same world with the same tree structure, shared
anchors (names, digits, cognates) co-occur with translation-equivalent contexts in the monolingual
corpora, and a multilingual MLM with a shared vocabulary is pushed to align languages around anchors
(Conneau et al. 2020, "Emerging cross-lingual structure"). Distance grows with each transform, so
nearer languages (XTREME analogue) should transfer better than distant ones (XTREME-R additions).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, fields

from . import lexicon as L
from .grammar import Node

SCRIPTS = {
    # 26 characters mapped from a..z (Latin pseudo-spelling) into each block.
    "Latn": "abcdefghijklmnopqrstuvwxyz",
    "Cyrl": "абцдефгхийклмнопярстувшжыз",
    "Grek": "αβψδεφγηιξκλμνοπϙρστθωςχυζ",
    "Armn": "աբցդեֆգհիժկլմնոպքռստւվշխյզ",
    "Deva": "अबचदएफगहइजकलमनओपडरसतउवशखयझ",
    "Geor": "აბცდეფგჰიჯკლმნოპქრსტუვწხყზ",
    "Thai": "ะบจดเฟกหอยคลมนโปฆรสตุวฝขญซ",
}
SCRIPT_NAMES = ("Latn", "Cyrl", "Grek", "Armn", "Deva", "Geor", "Thai", "Hani")
ORDERS = ("svo", "sov", "vso", "reverse")
# XTREME's fused-form precedence (conllu_to_conll.py default order), highest first.
PRECEDENCE = [
    "VERB",
    "NOUN",
    "PROPN",
    "PRON",
    "ADJ",
    "NUM",
    "ADV",
    "INTJ",
    "AUX",
    "ADP",
    "DET",
    "PART",
    "CCONJ",
    "SCONJ",
    "X",
    "PUNCT",
    "SYM",
]
VERB_GROUP = ("aux", "neg", "verb")
# Content words are shared at `cognate_share`, function words (determiners, auxiliaries, negation,
# adpositions, conjunctions, pronouns) at `function_share`, so the two kinds of overlap are separate knobs.
CONTENT = ("NOUN", "VERB", "ADJ", "ADV")
CJK_PUNCT = {".": "。", "?": "？", ",": "，", "!": "！"}
for _name, _table in SCRIPTS.items():
    assert len(_table) == 26 and len(set(_table)) == 26, f"script table {_name} must map a..z one-to-one"


@dataclass(frozen=True)
class Recipe:
    """How a language is derived from the source. `code` is lowercase ASCII with a digit (never ISO)."""

    code: str
    name: str
    cognate_share: float = 0.0
    function_share: float = 0.0
    share_names: bool = True
    script: str = "Latn"
    script_names: bool = True
    order: str = "svo"
    adj: str = "before"
    adp: str = "pre"
    spaces: bool = True
    fuse: bool = False

    def __post_init__(self):
        if self.code != "en" and not (
            self.code.isascii() and self.code.islower() and any(c.isdigit() for c in self.code)
        ):
            raise ValueError(f"language code {self.code!r}: expected lowercase ASCII with a digit (e.g. 'n1')")
        if self.script not in SCRIPT_NAMES:
            raise ValueError(f"recipe {self.code}: script={self.script!r}, expected one of {SCRIPT_NAMES}")
        if self.order not in ORDERS:
            raise ValueError(f"recipe {self.code}: order={self.order!r}, expected one of {ORDERS}")
        if self.adj not in ("before", "after") or self.adp not in ("pre", "post"):
            raise ValueError(f"recipe {self.code}: adj must be before/after and adp pre/post")
        for name in ("cognate_share", "function_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"recipe {self.code}: {name}={getattr(self, name)} not in [0, 1]")

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise KeyError(
                f"language recipe {d.get('code', '?')}: unknown keys {sorted(unknown)}; "
                f"expected a subset of {sorted(known)}"
            )
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def distance(self) -> float:
        """A documented distance score from English (0 = English): each transform adds its weight."""
        if self.code == "en":
            return 0.0
        d = 1.0 - self.cognate_share + 0.5 * (1.0 - self.function_share)
        d += 0.0 if self.share_names else 0.5
        d += 1.0 if self.script != "Latn" else 0.0
        d += 0.5 if (self.script != "Latn" and self.script_names) else 0.0
        d += {"svo": 0.0, "vso": 0.75, "sov": 1.0, "reverse": 1.5}[self.order]
        d += 0.25 * (self.adj == "after") + 0.25 * (self.adp == "post")
        d += 0.0 if self.spaces else 1.0
        d += 1.0 if self.fuse else 0.0
        return round(d, 3)


ENGLISH = Recipe("en", "English", cognate_share=1.0, function_share=1.0)


def _stable_seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


class Vocabulary:
    """The language's pseudo-words: a stem per lexeme, a suffix per form, built from its own phonology."""

    def __init__(self, recipe: Recipe, seed: int):
        self.recipe = recipe
        rng = random.Random(_stable_seed("phonology", seed, recipe.code))
        consonants = rng.sample("bcdfghjklmnprstvwz", 11)
        vowels = rng.sample("aeiou", 4)
        self.syllables = sorted({c + v for c in consonants for v in vowels})
        self.stems: dict[str, list[str]] = {}  # key -> syllables (or [spelling] for kept words)
        used = set()
        keys = sorted(L.LEXICON)
        rng_words = random.Random(_stable_seed("lexicon", seed, recipe.code))
        rng_share = random.Random(_stable_seed("cognates", seed, recipe.code))
        short = {"DET", "ADP", "AUX", "PART", "CCONJ", "SCONJ", "PRON"}
        for key in keys:
            lex = L.LEXICON[key]
            if lex.kind in ("num", "punct") or recipe.code == "en":
                self.stems[key] = [key]
                continue
            if lex.kind == "name" and recipe.share_names:
                self.stems[key] = [key]
                continue
            share = recipe.cognate_share if lex.upos in CONTENT else recipe.function_share
            keep = lex.kind == "word" and rng_share.random() < share
            if keep:
                self.stems[key] = [key]
                continue
            n_syl = 1 if lex.upos in short else rng_words.choice([2, 2, 3])
            while True:
                word = [rng_words.choice(self.syllables) for _ in range(n_syl)]
                if "".join(word) not in used:
                    break
                n_syl += rng_words.random() < 0.2
            used.add("".join(word))
            if lex.kind == "name":  # names keep a capital letter in Latin script
                word = [word[0].capitalize()] + word[1:]
            self.stems[key] = word
        self.suffixes = {"": [], "base": []}
        for form in ("pl", "past"):
            self.suffixes[form] = [rng_words.choice(self.syllables)]

    def word(self, key: str, form: str) -> list[str]:
        """Syllables (or one kept spelling) of (key, form); English spells with its real forms."""
        if self.recipe.code == "en":
            return [L.english_form(key, form)]
        stem = self.stems[key]
        if stem == [key] and L.LEXICON[key].kind == "word":  # a cognate keeps its English inflection
            return [L.english_form(key, form)]
        return stem + self.suffixes.get(form, [])


def spell(syllables: list[str], recipe: Recipe, is_name: bool) -> str:
    """Write syllables in the recipe's script (names stay Latin unless `script_names`)."""
    text = "".join(syllables)
    if recipe.script == "Latn" or (is_name and not recipe.script_names) or not text.isascii():
        return text
    if not any(c.isalpha() for c in text):  # digits and punctuation are shared
        return text
    if recipe.script == "Hani":
        out = []
        for syl in syllables:
            for chunk in _chunks(syl.lower()):
                out.append(chr(0x4E00 + _stable_seed("hani", chunk) % 6000))
        return "".join(out)
    table = SCRIPTS[recipe.script]
    return "".join(
        table[ord(c) - 97] if "a" <= c <= "z" else (table[ord(c.lower()) - 97] if "A" <= c <= "Z" else c) for c in text
    )


def _chunks(word: str) -> list[str]:
    """Split a Latin spelling into CV-ish chunks (for one-character-per-syllable scripts)."""
    out, cur = [], ""
    for ch in word:
        cur += ch
        if ch in "aeiou":
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


# ----------------------------------------------------------------------------------------------------
# Word order


def _order_children(node: Node, recipe: Recipe) -> list[Node]:
    kids = list(node.children)
    if node.label in ("NAME", "W") or not kids:
        return kids
    if recipe.order == "reverse":
        punct = [k for k in kids if k.role == "punct"]
        rest = [k for k in kids if k.role != "punct"]
        return rest[::-1] + punct
    if node.label == "NP" and recipe.adj == "after":
        return (
            [k for k in kids if k.role in ("det", "num")]
            + [k for k in kids if k.role == "noun"]
            + [k for k in kids if k.role not in ("det", "num", "noun")]
        )
    if node.label == "PP" and recipe.adp == "post":
        return [k for k in kids if k.role != "adp"] + [k for k in kids if k.role == "adp"]
    if node.label == "S" and recipe.order in ("sov", "vso"):
        punct = [k for k in kids if k.role == "punct"]
        group = [k for k in kids if k.role in VERB_GROUP]
        rest = [k for k in kids if k.role not in VERB_GROUP and k.role != "punct"]
        if recipe.order == "sov":
            rank = {"verb": 0, "neg": 1, "aux": 2}
            return rest + sorted(group, key=lambda k: rank[k.role]) + punct
        wh = [k for k in rest if k.role == "wh"]
        return wh + group + [k for k in rest if k.role != "wh"] + punct
    return kids


def linearize(node: Node, recipe: Recipe) -> list[Node]:
    """The leaves of `node` in the language's order."""
    if node.tok is not None:
        return [node]
    out = []
    for child in _order_children(node, recipe):
        out.extend(linearize(child, recipe))
    return out


# ----------------------------------------------------------------------------------------------------
# Realisation


@dataclass
class Sentence:
    """A realised sentence: words, their UPOS tags, the source leaves each came from, the text and the
    character span of each word in it."""

    tokens: list[str]
    upos: list[str]
    src: list[tuple[int, ...]]
    text: str
    offsets: list[tuple[int, int]]
    lang: str
    entities: list[tuple[str, frozenset]]  # (PER/ORG/LOC, source leaf indices)

    def token_span(self, src_indices) -> tuple[int, int]:
        """The contiguous token range [i, j) covering the given source leaves."""
        wanted = set(src_indices)
        hits = [i for i, s in enumerate(self.src) if wanted & set(s)]
        if not hits:
            raise ValueError(f"{self.lang}: no token covers source leaves {sorted(wanted)}")
        i, j = hits[0], hits[-1] + 1
        if hits != list(range(i, j)):
            raise ValueError(f"{self.lang}: source leaves {sorted(wanted)} are not contiguous ({hits})")
        return i, j

    def char_span(self, src_indices) -> tuple[int, int]:
        i, j = self.token_span(src_indices)
        return self.offsets[i][0], self.offsets[j - 1][1]

    def ner_tags(self) -> list[str]:
        """IOB2 tags from the entity spans (an entity is contiguous in every language)."""
        tags = ["O"] * len(self.tokens)
        for label, idx in self.entities:
            i, j = self.token_span(idx)
            tags[i] = f"B-{label}"
            for k in range(i + 1, j):
                tags[k] = f"I-{label}"
        return tags


class Language:
    """A recipe plus its vocabulary: turns source trees into `Sentence`s."""

    def __init__(self, recipe: Recipe, seed: int):
        self.recipe = recipe
        self.code = recipe.code
        self.vocab = Vocabulary(recipe, seed)
        self._surface: dict[tuple[str, str], str] = {}

    @property
    def joiner(self) -> str:
        return " " if self.recipe.spaces else ""

    def punct(self, p: str) -> str:
        if self.recipe.script == "Hani":
            return CJK_PUNCT.get(p, p)
        return p

    def surface(self, key: str, form: str) -> str:
        """The written word of (lexeme, form), cached (every sentence reuses the same few hundred words)."""
        hit = self._surface.get((key, form))
        if hit is None:
            kind = L.LEXICON[key].kind
            if kind == "punct":
                hit = self.punct(key)
            else:
                hit = spell(self.vocab.word(key, form), self.recipe, kind == "name")
            self._surface[(key, form)] = hit
        return hit

    def realize(self, root: Node, borrowed: frozenset = frozenset(), donor: Language | None = None) -> Sentence:
        """The sentence in this language; leaves in `borrowed` are written as `donor` writes them
        (code-switching: a donor word in this language's order and morphology)."""
        leaves = linearize(root, self.recipe)

        def word(n: Node) -> str:
            lang = donor if (donor is not None and n.index in borrowed) else self
            return lang.surface(n.tok.key, n.tok.form)

        if self.recipe.fuse:
            words = [{"text": word(n), "upos": [n.tok.upos], "src": [n.index], "role": n.role} for n in leaves]
            words = _fuse(words, prefix_adp=self.recipe.adp == "pre" and self.recipe.order != "reverse")
            tokens = [w["text"] for w in words]
            upos = [min(w["upos"], key=PRECEDENCE.index) for w in words]
            src = [tuple(w["src"]) for w in words]
        else:
            tokens = [word(n) for n in leaves]
            upos = [n.tok.upos for n in leaves]
            src = [(n.index,) for n in leaves]
        text, offsets = self.join(tokens, upos)
        entities = [(n.ner, frozenset(x.index for x in n.leaves())) for n in root.walk() if n.ner]
        return Sentence(tokens, upos, src, text, offsets, self.code, entities)

    def join(self, tokens: list[str], upos: list[str]) -> tuple[str, list[tuple[int, int]]]:
        """Text and character offsets: spaces between words (none before punctuation), or none at all."""
        parts, offsets, pos = [], [], 0
        spaces = self.recipe.spaces
        for i, (tok, tag) in enumerate(zip(tokens, upos)):
            if i > 0 and spaces and tag != "PUNCT":
                parts.append(" ")
                pos += 1
            offsets.append((pos, pos + len(tok)))
            parts.append(tok)
            pos += len(tok)
        return "".join(parts), offsets

    def join_sentences(self, texts: list[str]) -> str:
        return self.joiner.join(texts)


def _fuse(words: list[dict], prefix_adp: bool) -> list[dict]:
    """Attach adpositions (to the word before a postposition / after a preposition), auxiliaries and
    negation (to an adjacent verb) as affixes."""
    out = list(words)
    changed = True
    while changed:
        changed = False
        for i, w in enumerate(out):
            role = w["role"]
            if role not in ("adp", "aux", "neg"):
                continue
            target = None
            if role == "adp":
                j = i + 1 if prefix_adp else i - 1
                if 0 <= j < len(out) and "PUNCT" not in out[j]["upos"] and out[j]["role"] not in ("adp", "aux", "neg"):
                    target = j
            else:
                for j in (i - 1, i + 1):
                    if 0 <= j < len(out) and out[j]["role"] == "verb":
                        target = j
                        break
            if target is None:
                continue
            host = dict(out[target])
            if target < i:
                host["text"] = host["text"] + w["text"]
                host["src"] = host["src"] + w["src"]
            else:
                host["text"] = w["text"] + host["text"]
                host["src"] = w["src"] + host["src"]
            host["upos"] = host["upos"] + w["upos"]
            out[target] = host
            del out[i]
            changed = True
            break
    return out
