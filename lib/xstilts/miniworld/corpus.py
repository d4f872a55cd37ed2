"""The multilingual pretraining corpus: monolingual text per language, not parallel (like CC-100).

Each language samples its own sentences from the same world with its own random stream, so no line is a
translation of another language's line; what the languages share is the world (the same entities,
events and causal rules), the tree structure, and the anchors their recipes keep (names, digits,
cognates). That is the setting in which a multilingual MLM is expected to align languages without
parallel data (Conneau et al. 2020; K et al. 2020).

Code-switching (`codeswitch_sentences`, `codeswitch_words` in the world config): a fraction of each
non-English corpus's sentences write some of their words as English writes them, in the language's own
order -- as real web text mixes languages (and as dictionary code-switching augmentation does, Qin et
al. 2020 "CoSDA-ML"). Only the corpus switches; task data never does.
"""

from __future__ import annotations

import random
from pathlib import Path

from xstilts.progress import bar

from . import grammar as G
from . import lexicon as L
from .derivation import Language
from .generators import fixed_question, which_question


def corpus_tree(rng: random.Random, world: G.World) -> G.Node:
    """One corpus sentence: mostly the mixed sampler, plus the fixed question frames the tasks use."""
    r = rng.random()
    if r < 0.04:
        kind = rng.choice(["effect", "cause"])
        return fixed_question(kind)  # the SIQA/CosmosQA question frames
    if r < 0.06:
        return which_question(rng.choice(L.HYPERNYMS))  # the CommonsenseQA frame
    if r < 0.12:
        return G.sentence(rng.choice(G.description_clause(rng.choice(world.persons + world.orgs))))
    return G.random_tree(rng, world)


def corpus_lines(
    lang: Language,
    world: G.World,
    n: int,
    rng: random.Random,
    donor: Language | None = None,
    switch_sentences: float = 0.0,
    switch_words: float = 0.0,
) -> list[str]:
    """`n` sentences; a `switch_sentences` fraction of them code-switch: each of their words is written as
    the `donor` (English) writes it with probability `switch_words`, in this language's word order."""
    lines = []
    for _ in range(n):
        tree = corpus_tree(rng, world)
        borrowed: frozenset = frozenset()
        if donor is not None and rng.random() < switch_sentences:
            borrowed = frozenset(
                leaf.index for leaf in tree.leaves() if leaf.tok.kind != "punct" and rng.random() < switch_words
            )
        lines.append(lang.realize(tree, borrowed, donor).text)
    return lines


def write_corpus(
    languages: dict[str, Language],
    world: G.World,
    n: int,
    out_dir: Path,
    rng_for,
    switch_sentences: float = 0.0,
    switch_words: float = 0.0,
) -> dict[str, str]:
    """`out_dir/corpus/<lang>.txt`, one sentence a line; returns {lang: path relative to out_dir}.
    Non-English corpora code-switch with English at the given rates (none by default)."""
    folder = Path(out_dir) / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for code in bar(sorted(languages), desc="miniworld corpus", leave=False):
        donor = languages["en"] if code != "en" else None
        lines = corpus_lines(languages[code], world, n, rng_for("corpus", code), donor, switch_sentences, switch_words)
        path = folder / f"{code}.txt"
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join(lines) + "\n")
        files[code] = str(path.relative_to(out_dir))
    return files
