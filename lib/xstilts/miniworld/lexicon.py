"""The source language's lexicon: every lexeme with its UPOS tag, its English forms and what it means.

A lexeme key is the English lemma (names are their own key). Surface forms are looked up by
(key, form); `form` is one of FORMS. Derived languages relabel lexemes and forms separately (stem +
affix), so a derived lexicon is a bijection on (key, form) pairs and every label carries over.
"""

from __future__ import annotations

from dataclasses import dataclass

# The word tables, several entries a line.
# fmt: off
FORMS = ("", "pl", "past", "base")

FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karin", "Leo",
    "Maria", "Nils", "Olga", "Paul", "Rosa", "Samir", "Tina", "Victor", "Wanda", "Yusuf", "Zora", "Omar",
]
SURNAMES = [
    "Berg", "Costa", "Dahl", "Engel", "Falk", "Gruber", "Holm", "Ivanov", "Jansen", "Kato", "Lind",
    "Moreau", "Novak", "Ortiz", "Petrov", "Quinn", "Rossi", "Sato", "Tanaka", "Vidal",
]
CITIES = [
    "Tolmar", "Vesk", "Orlen", "Brisa", "Kandor", "Lumo", "Marvik", "Nestor", "Paloma", "Quarto",
    "Rivon", "Selna", "Tarsis", "Umbra", "Varna", "Zelda",
]
ORG_HEADS = ["Bank", "Group", "Company", "Club", "School", "Bakery"]

# noun -> (hypernym, kind). kind says which verbs take it as object.
NOUNS = {
    "apple": ("fruit", "food"), "pear": ("fruit", "food"), "plum": ("fruit", "food"),
    "bread": ("food", "food"), "cake": ("food", "food"), "soup": ("food", "food"),
    "car": ("vehicle", "thing"), "bus": ("vehicle", "thing"), "bike": ("vehicle", "thing"),
    "book": ("paper", "text"), "letter": ("paper", "text"), "map": ("paper", "text"),
    "dog": ("animal", "animal"), "cat": ("animal", "animal"), "horse": ("animal", "animal"),
    "shirt": ("clothes", "thing"), "hat": ("clothes", "thing"), "coat": ("clothes", "thing"),
    "cup": ("dish", "thing"), "plate": ("dish", "thing"), "bowl": ("dish", "thing"),
    "key": ("tool", "thing"), "lamp": ("tool", "thing"), "box": ("tool", "thing"),
}
HYPERNYMS = sorted({h for h, _ in NOUNS.values()})
PERSON_NOUNS = ["teacher", "doctor", "farmer", "driver", "singer", "baker", "pilot", "nurse"]
PLACE_NOUNS = ["market", "park", "station", "garden", "school", "shop"]
MISC_NOUNS = ["money"]

COLOURS = ["red", "blue", "green", "black", "white", "yellow"]
SIZES = ["big", "small", "old", "new"]
POSITIVE = ["good", "lovely", "great", "nice", "fine", "happy"]
NEGATIVE = ["bad", "awful", "terrible", "poor", "ugly", "sad"]
STATES = ["hungry", "tired", "sick", "cold", "late", "rich"]

# verb -> (object kind or None for intransitive, English past form)
VERBS = {
    "buy": ("any", "bought"), "sell": ("any", "sold"), "find": ("any", "found"), "lose": ("any", "lost"),
    "carry": ("thing", "carried"), "clean": ("thing", "cleaned"), "paint": ("thing", "painted"),
    "eat": ("food", "ate"), "cook": ("food", "cooked"), "read": ("text", "read"), "write": ("text", "wrote"),
    "feed": ("animal", "fed"), "wash": ("thing", "washed"), "see": ("any", "saw"),
    "help": ("person", "helped"), "call": ("person", "called"), "pay": ("person", "paid"),
    "follow": ("person", "followed"), "visit": ("place", "visited"),
    "sleep": (None, "slept"), "work": (None, "worked"), "sing": (None, "sang"), "run": (None, "ran"),
    "arrive": (None, "arrived"), "leave": (None, "left"), "win": (None, "won"), "study": (None, "studied"),
    "like": ("any", "liked"), "hate": ("any", "hated"), "open": ("thing", "opened"),
}
# verbs that only occur in fixed frames (questions about events), never sampled as events
FRAME_VERBS = {"happen": "happened", "do": "did"}
PERSON_VERBS = ["help", "call", "pay", "follow"]
OBJECT_VERBS = [v for v, (k, _) in VERBS.items() if k in ("any", "thing", "food", "text", "animal")]
INTRANSITIVE = [v for v, (k, _) in VERBS.items() if k is None]

ADPOSITIONS = ["in", "near", "from", "with", "for", "to", "of"]
LOC_ADPOSITIONS = ["in", "near"]
TIME_ADVERBS = ["yesterday", "today", "again", "often"]
MANNER_ADVERBS = ["quickly", "slowly", "very"]
NUMBERS = [str(n) for n in range(2, 13)]

FUNCTION_WORDS = {
    # key: (upos, English form)
    "the": ("DET", "the"), "a": ("DET", "a"), "some": ("DET", "some"), "this": ("DET", "this"),
    "did": ("AUX", "did"), "was": ("AUX", "was"), "were": ("AUX", "were"), "is": ("AUX", "is"),
    "will": ("AUX", "will"), "could": ("AUX", "could"),
    "not": ("PART", "not"),
    "and": ("CCONJ", "and"), "but": ("CCONJ", "but"), "so": ("CCONJ", "so"),
    "because": ("SCONJ", "because"), "when": ("SCONJ", "when"),
    "who": ("PRON", "who"), "what": ("PRON", "what"), "where": ("ADV", "where"), "why": ("ADV", "why"),
    "how": ("ADV", "how"), "many": ("ADJ", "many"), "which": ("DET", "which"),
    "he": ("PRON", "he"), "she": ("PRON", "she"), "it": ("PRON", "it"), "they": ("PRON", "they"),
    "next": ("ADV", "next"),
    "one": ("NUM", "one"), "person": ("NOUN", "person"), "these": ("DET", "these"),
    "cause": ("NOUN", "cause"), "effect": ("NOUN", "effect"), "review": ("NOUN", "review"),
    "question": ("NOUN", "question"), "oh": ("INTJ", "oh"), "%": ("SYM", "%"),
}
PUNCTUATION = {".": "PUNCT", "?": "PUNCT", ",": "PUNCT", "!": "PUNCT"}

IRREGULAR_PLURALS = {"bus": "buses", "box": "boxes", "person": "people", "child": "children", "clothes": "clothes"}


@dataclass(frozen=True)
class Lexeme:
    """One entry: `key` (the English lemma), `upos` (UD tag), `kind` (word, name, num, punct)."""

    key: str
    upos: str
    kind: str = "word"


def english_form(key: str, form: str) -> str:
    """The English surface form of (lexeme, form): plural nouns, past and base verbs."""
    if form == "pl":
        if key in IRREGULAR_PLURALS:
            return IRREGULAR_PLURALS[key]
        return key + ("es" if key.endswith(("s", "x", "ch", "sh")) else "s")
    if form == "past":
        return VERBS[key][1] if key in VERBS else FRAME_VERBS[key]
    return key


def build_lexicon() -> dict[str, Lexeme]:
    """All lexemes of the source language, keyed by lemma (a fixed, ordered inventory)."""
    lex: dict[str, Lexeme] = {}

    def add(key, upos, kind="word"):
        if key in lex and lex[key].upos != upos:
            raise ValueError(f"lexeme {key!r} declared twice with tags {lex[key].upos} and {upos}")
        lex[key] = Lexeme(key, upos, kind)

    for name in FIRST_NAMES + SURNAMES + CITIES + ORG_HEADS:
        add(name, "PROPN", "name")
    for noun in list(NOUNS) + HYPERNYMS + PERSON_NOUNS + PLACE_NOUNS + MISC_NOUNS:
        add(noun, "NOUN")
    for adj in COLOURS + SIZES + POSITIVE + NEGATIVE + STATES:
        add(adj, "ADJ")
    for verb in list(VERBS) + list(FRAME_VERBS):
        add(verb, "VERB")
    for adp in ADPOSITIONS:
        add(adp, "ADP")
    for adv in TIME_ADVERBS + MANNER_ADVERBS:
        add(adv, "ADV")
    for num in NUMBERS:
        add(num, "NUM", "num")
    for key, (upos, _) in FUNCTION_WORDS.items():
        add(key, upos)
    for p, upos in PUNCTUATION.items():
        add(p, upos, "punct")
    return lex


LEXICON = build_lexicon()
# fmt: on
