"""The multilingual pretraining corpus: monolingual text per language, not parallel (like CC-100).

Each language samples its own sentences from the same world with its own random stream, so no line is a
translation of another language's line; what the languages share is the world (the same entities,
events and causal rules), the tree structure, and the anchors their recipes keep (names, digits,
cognates). That is the setting in which a multilingual MLM is expected to align languages without
parallel data (Conneau et al. 2020; K et al. 2020).
"""

from __future__ import annotations

import random
from pathlib import Path

from tqdm.auto import tqdm

from . import grammar as G
from . import lexicon as L
from .languages import Language
from .tasks import fixed_question, which_question


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


def corpus_lines(lang: Language, world: G.World, n: int, rng: random.Random) -> list[str]:
    return [lang.realize(corpus_tree(rng, world)).text for _ in range(n)]


def write_corpus(languages: dict[str, Language], world: G.World, n: int, out_dir: Path, rng_for) -> dict[str, str]:
    """`out_dir/corpus/<lang>.txt`, one sentence a line; returns {lang: path relative to out_dir}."""
    folder = Path(out_dir) / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for code in tqdm(sorted(languages), desc="miniworld corpus", leave=False):
        lines = corpus_lines(languages[code], world, n, rng_for("corpus", code))
        path = folder / f"{code}.txt"
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join(lines) + "\n")
        files[code] = str(path.relative_to(out_dir))
    return files
