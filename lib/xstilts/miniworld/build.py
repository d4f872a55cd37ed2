"""Build the miniature world: languages, every dataset in its hub schema, the corpus, and a manifest.

`build_world(cfg, out_dir)` is the entry point (the `0_data` phase calls it with the profile's `world:`
section); `load_world(out_dir)` re-registers the world's languages in `xstilts.benchmarks.languages` and returns
the manifest. Every dataset file is written through `xstilts.data.writers.write_source`, so the miniature goes
through the same loaders as the hub data; the build then checks, with `xstilts.data.loaders.source_for`, that
every split a benchmark or intermediate task reads exists. The corpus (`corpus/<lang>.txt`) and
`manifest.json` are written here. The manifest's `fingerprint` is the sha256 over every file's path and
sha256 (manifest excluded): the run store's key for this world.

Default languages (distance from English grows down the list; see `languages.Recipe.distance`):

| code | tier | recipe |
|---|---|---|
| n1 | near | Latin script, every function word and half the content words shared, names shared (dialect-like) |
| n2 | near | Latin script, 15% cognates, adjective after the noun |
| n3 | near | Cyrillic script, names transliterated (no surface anchors but digits) |
| n4 | near | Greek script, verb-final, postpositions, names transliterated |
| n5 | near | one CJK character per syllable, no spaces, names kept in Latin script |
| f1 | far  | Armenian script, fully inverted order, fused affixes |
| f2 | far  | Devanagari script, verb-final, fused postpositions, names not shared |
| f3 | far  | Thai script, no spaces, verb-initial, adjective after the noun, names not shared |
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

from xstilts.benchmarks.languages import Language as TableLanguage
from xstilts.benchmarks.languages import register
from xstilts.benchmarks.registry import INTERMEDIATE, REGISTRY, get_task
from xstilts.benchmarks.sources import SOURCES
from xstilts.data import readers
from xstilts.data.loaders import source_for
from xstilts.data.writers import write_source
from xstilts.files import sha256
from xstilts.progress import bar

from . import grammar as G
from .corpus import write_corpus
from .derivation import ENGLISH, Language, Recipe
from .generators import GENERATORS, Ctx, Output, iso3_of
from .world_config import resolve_config

log = logging.getLogger(__name__)
MARKER = ".miniworld"


def recipes(cfg: dict) -> dict[str, tuple[Recipe, str]]:
    """{code: (Recipe, tier)} for English and every derived language, with the global overrides applied."""
    out = {"en": (ENGLISH, "source")}
    for spec in cfg["languages"]:
        spec = dict(spec)
        tier = spec.pop("tier", "near")
        if tier not in ("near", "far"):
            raise ValueError(f"world.languages {spec.get('code')}: tier {tier!r}, expected near or far")
        if cfg["share_names"] is not None:
            spec["share_names"] = bool(cfg["share_names"])
        for knob in ("cognate_share", "function_share"):
            if cfg[knob] is not None:
                spec[knob] = float(cfg[knob])
        recipe = Recipe.from_dict(spec)
        if recipe.code in out:
            raise ValueError(f"world.languages: code {recipe.code!r} appears twice")
        out[recipe.code] = (recipe, tier)
    return out


def register_languages(manifest: dict) -> None:
    """Add the world's derived languages to `xstilts.benchmarks.languages` (English is already there)."""
    for lang in manifest["languages"]:
        if lang["code"] == "en":
            continue
        register(TableLanguage(lang["code"], lang["name"], lang["iso3"], lang["script"]), replace=True)


def world_task(task, manifest: dict):
    """The registry task with its test languages replaced by the world's (intermediate tasks unchanged), so
    `xstilts.data.loaders.load(world_task(t, m), split, lang, world_dir)` reads the miniature."""
    task = get_task(task) if isinstance(task, str) else task
    if task.benchmark == INTERMEDIATE:
        return task
    langs = manifest["benchmarks"][task.benchmark][task.name]
    return replace(task, languages=tuple(langs))


def _prepare_dir(out_dir: Path) -> None:
    """Start from an empty folder; only a previous world (marked) is ever deleted."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).is_file():
            raise FileExistsError(
                f"world dir {out_dir} is not empty and holds no {MARKER} marker; refusing to overwrite"
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text("a miniature world built by xstilts.miniworld.build_world\n", encoding="utf-8")


def _write(out_dir: Path, outputs: list[Output]) -> None:
    for o in bar(outputs, desc="miniworld write", leave=False):
        src = SOURCES[o.source]
        if src.key == "bucc2018":
            config = f"{o.language}-en"
        elif src.key == "mewsli-x":
            config = o.split.split("-")[0]
        elif src.key == "xquad-r":
            config = o.language
        else:
            config = src.config_for(o.language) if o.language else src.config
        split = o.split.split("-")[1] if src.key == "mewsli-x" and "-" in o.split else o.split
        records = o.records
        if src.key == "ccgbank":
            records = [{"tokens": t, "tags": g} for t, g in records]
        elif src.key == "xquad-r":
            records = records["data"]
        write_source(out_dir, src.key, config, split, records)


def check_coverage(out_dir: Path, manifest: dict) -> list[str]:
    """Every (task, split, language) a benchmark analogue reads, per `source_for`: the files that are missing."""
    missing = []
    for task in REGISTRY.values():
        wt = world_task(task, manifest)
        langs = ["en"] if task.benchmark == "intermediate" else list(wt.languages)
        for split in ("train", "dev", "test"):
            if not task.refs(split, "en"):
                continue
            per_language = split == "test" or (split == "dev" and task.format == "bitext_mining")
            for lang in langs if per_language else ["en"]:
                if task.format == "answer_retrieval" and split == "test":
                    paths = [readers.xquad_r_path(out_dir, lang)]
                else:
                    paths = []
                    for spec in source_for(wt, split, lang):
                        if spec.kind == "hub":
                            paths.append(spec.path(out_dir))
                        elif spec.source == "bucc2018":
                            paths += list(readers.bucc_paths(out_dir, lang, spec.split).values())
                        elif spec.source == "tatoeba-laser":
                            paths += list(readers.tatoeba_paths(out_dir, iso3_of(lang)).values())
                        elif spec.source == "mewsli-x":
                            paths.append(readers.mewslix_path(out_dir, spec.config, spec.split))
                        elif spec.source == "ccgbank":
                            paths.append(out_dir / "ccgbank" / f"{spec.split}.tsv")
                missing += [f"{task.key} {split} {lang}: {p.relative_to(out_dir)}" for p in paths if not p.is_file()]
    return missing


def build_world(cfg: dict | None, out_dir: Path | str) -> dict:
    """Generate the whole world under `out_dir`; returns the manifest (also `out_dir/manifest.json`)."""
    t0 = time.time()
    cfg = resolve_config(cfg)
    out_dir = Path(out_dir)
    _prepare_dir(out_dir)
    seed = int(cfg["seed"])
    recs = recipes(cfg)
    languages = {code: Language(recipe, seed) for code, (recipe, _) in recs.items()}
    world = G.make_world(random.Random(seed), cfg["n_persons"], cfg["n_orgs"])
    distances = {code: r.distance() for code, (r, _) in recs.items()}
    ranked = sorted((c for c in recs if c != "en"), key=lambda c: (distances[c], c))
    manifest = {
        "seed": seed,
        "config": cfg,
        "languages": [
            {
                "code": code,
                "name": r.name,
                "iso3": iso3_of(code),
                "script": r.script,
                "tier": tier,
                "recipe": r.to_dict(),
                "distance": distances[code],
                "distance_rank": 0 if code == "en" else ranked.index(code) + 1,
            }
            for code, (r, tier) in recs.items()
        ],
        "benchmarks": cfg["task_languages"],
    }
    register_languages(manifest)
    union: dict[str, list[str]] = {}
    for bench in cfg["task_languages"].values():
        for task, langs in bench.items():
            union[task] = sorted(set(union.get(task, [])) | set(langs))
    ctx = Ctx(world, languages, seed, cfg["sizes"], union, cfg["train_sizes"])
    outputs: list[Output] = []
    for _name, gen in bar(GENERATORS.items(), desc="miniworld tasks", leave=False):
        outputs += gen(ctx)
    _write(out_dir, outputs)
    corpus = write_corpus(
        languages,
        world,
        int(cfg["sizes"]["corpus"]),
        out_dir,
        ctx.rng,
        float(cfg["codeswitch_sentences"]),
        float(cfg["codeswitch_words"]),
    )
    missing = check_coverage(out_dir, manifest)
    if missing:
        raise RuntimeError("miniworld: files the task registry reads were not written:\n  " + "\n  ".join(missing[:20]))
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name not in ("manifest.json", MARKER))
    hashes = {str(p.relative_to(out_dir)): sha256(p) for p in files}
    manifest["corpus"] = corpus
    manifest["files"] = hashes
    manifest["fingerprint"] = hashlib.sha256(
        "".join(f"{k}\t{v}\n" for k, v in sorted(hashes.items())).encode()
    ).hexdigest()
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    log.info(
        "miniworld: %d files, %d languages, fingerprint %s, %.1f s",
        len(files),
        len(languages),
        manifest["fingerprint"][:12],
        time.time() - t0,
    )
    return manifest


def load_world(out_dir: Path | str) -> dict:
    """The manifest of a built world; registers its languages so loaders resolve their configs."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"no miniature world at {out_dir}: {path} is missing (build it with build_world)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    register_languages(manifest)
    return manifest
