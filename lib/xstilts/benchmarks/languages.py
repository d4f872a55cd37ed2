"""The language table: every XTREME / XTREME-R test language, with the names and codes hub configs use.

Hub configs name languages three ways: by 2-letter code (`PAN-X.de`, `facebook/xnli` `de`), by English
name (`udpos.German`) and by ISO 639-3 code (`tatoeba.deu`, with the Tatoeba quirks `pes` for Persian,
`swh` for Swahili and `cmn` for Chinese, following `utils_preprocess.tatoeba_preprocess` in
google-research/xtreme). This table holds all three so that a config template like `udpos.{name}` or
`tatoeba.{iso3}` resolves from one 2-letter code. The miniature registers its synthetic languages here.
"""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.names import lookup


@dataclass(frozen=True)
class Language:
    """One language: XTREME 2-letter `code`, English `name` (as in `udpos.<name>`), `iso3` (as in
    `tatoeba.<iso3>`), ISO 15924 `script` of the benchmark text."""

    code: str
    name: str
    iso3: str
    script: str


# code, English name as in google/xtreme udpos configs, ISO 639-3 as in google/xtreme tatoeba configs, script
_BUILTIN = [
    ("af", "Afrikaans", "afr", "Latn"),
    ("ar", "Arabic", "ara", "Arab"),
    ("az", "Azerbaijani", "aze", "Latn"),
    ("bg", "Bulgarian", "bul", "Cyrl"),
    ("bn", "Bengali", "ben", "Beng"),
    ("de", "German", "deu", "Latn"),
    ("el", "Greek", "ell", "Grek"),
    ("en", "English", "eng", "Latn"),
    ("es", "Spanish", "spa", "Latn"),
    ("et", "Estonian", "est", "Latn"),
    ("eu", "Basque", "eus", "Latn"),
    ("fa", "Persian", "pes", "Arab"),  # Tatoeba: Iranian Persian
    ("fi", "Finnish", "fin", "Latn"),
    ("fr", "French", "fra", "Latn"),
    ("gu", "Gujarati", "guj", "Gujr"),
    ("he", "Hebrew", "heb", "Hebr"),
    ("hi", "Hindi", "hin", "Deva"),
    ("ht", "Haitian", "hat", "Latn"),
    ("hu", "Hungarian", "hun", "Latn"),
    ("id", "Indonesian", "ind", "Latn"),
    ("it", "Italian", "ita", "Latn"),
    ("ja", "Japanese", "jpn", "Jpan"),
    ("jv", "Javanese", "jav", "Latn"),
    ("ka", "Georgian", "kat", "Geor"),
    ("kk", "Kazakh", "kaz", "Cyrl"),
    ("ko", "Korean", "kor", "Kore"),
    ("lt", "Lithuanian", "lit", "Latn"),
    ("ml", "Malayalam", "mal", "Mlym"),
    ("mr", "Marathi", "mar", "Deva"),
    ("ms", "Malay", "msa", "Latn"),
    ("my", "Burmese", "mya", "Mymr"),
    ("nl", "Dutch", "nld", "Latn"),
    ("pa", "Punjabi", "pan", "Guru"),
    ("pl", "Polish", "pol", "Latn"),
    ("pt", "Portuguese", "por", "Latn"),
    ("qu", "Quechua", "que", "Latn"),
    ("ro", "Romanian", "ron", "Latn"),
    ("ru", "Russian", "rus", "Cyrl"),
    ("sw", "Swahili", "swh", "Latn"),  # Tatoeba: Swahili (individual language)
    ("ta", "Tamil", "tam", "Taml"),
    ("te", "Telugu", "tel", "Telu"),
    ("th", "Thai", "tha", "Thai"),
    ("tl", "Tagalog", "tgl", "Latn"),
    ("tr", "Turkish", "tur", "Latn"),
    ("uk", "Ukrainian", "ukr", "Cyrl"),
    ("ur", "Urdu", "urd", "Arab"),
    ("vi", "Vietnamese", "vie", "Latn"),
    ("wo", "Wolof", "wol", "Latn"),
    ("yo", "Yoruba", "yor", "Latn"),
    ("zh", "Chinese", "cmn", "Hans"),  # Tatoeba: Mandarin
]

_TABLE: dict[str, Language] = {}


def register(language: Language, *, replace: bool = False) -> Language:
    """Add a language (the miniature's synthetic ones). Re-registering the identical entry is a no-op;
    a different entry under an existing code is an error unless `replace`."""
    if not language.code or not language.name or not language.iso3:
        raise ValueError(f"language {language!r}: code, name and iso3 must be non-empty")
    old = _TABLE.get(language.code)
    if old is not None and old != language and not replace:
        raise ValueError(f"language code {language.code!r} is already registered as {old}; pass replace=True")
    _TABLE[language.code] = language
    return language


def unregister(code: str) -> None:
    """Remove a registered language (tests and the miniature clean up after themselves)."""
    _TABLE.pop(code, None)


for _row in _BUILTIN:
    register(Language(*_row))
BUILTIN_CODES: tuple[str, ...] = tuple(row[0] for row in _BUILTIN)


def get_language(code: str) -> Language:
    """The language with this 2-letter (or registered) code; an unknown code names the nearest ones."""
    return lookup(_TABLE, code, "language code")


def all_languages() -> list[Language]:
    """Every registered language, sorted by code."""
    return [_TABLE[c] for c in sorted(_TABLE)]


def by_iso3(iso3: str) -> Language:
    """Reverse lookup for Tatoeba/LASER file names (`pes` -> fa, `cmn` -> zh)."""
    return lookup({x.iso3: x for x in _TABLE.values()}, iso3, "ISO 639-3 code")


def by_name(name: str) -> Language:
    """Reverse lookup for UD config names (`udpos.German` -> de)."""
    return lookup({x.name: x for x in _TABLE.values()}, name, "language name")


MLQA_LANGUAGES = ("en", "es", "de", "ar", "hi", "vi", "zh")


def mlqa_normalisation_language(code: str) -> str:
    """The language whose MLQA normalisation (evaluate_mlqa.py) scores answers in `code`.

    A real MLQA language is itself. A miniature language (registered by the world) is scored as the real
    language whose orthography it imitates: Han script written without spaces as `zh` (mixed
    segmentation: one token per CJK character), every other script as `en` (whitespace tokens; the
    English articles matter only where the language shares English function words).
    """
    if code in MLQA_LANGUAGES:
        return code
    lang = get_language(code)
    if code in BUILTIN_CODES:
        raise ValueError(
            f"MLQA normalisation is defined only for {' '.join(MLQA_LANGUAGES)}; got real language {code!r}"
        )
    return "zh" if lang.script == "Hani" else "en"
