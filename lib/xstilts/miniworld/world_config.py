"""The miniature world's parameters: defaults, size presets, validation. Light: no dataset is touched.

`resolve_config(cfg)` fills a profile's `world:` section from `DEFAULT_WORLD` and the size preset and
rejects unknown keys, tasks and languages with the nearest valid spelling; the profile check calls it
in seconds. `GENERATOR_VERSION` enters the world's run id, so a new generator never reuses an old world.
"""

from __future__ import annotations

import copy

from xstilts.benchmarks.official import TASK2LANGS
from xstilts.names import nearest

# Sizes: examples per split (train/dev are English; test is per language), retrieval and corpus sizes.
SIZE_PRESETS = {
    "default": {
        "train": 500,  # English training examples per task (QA: questions)
        "dev": 100,  # English dev examples per task
        "test": 40,  # test examples per language (evaluation multiplies by languages)
        "copa_train": 200,  # English COPA train (the real one has 400)
        "tatoeba": 100,  # aligned pairs per language
        "bucc_gold": 100,  # gold pairs in the BUCC "training" (test) split; sample split has half
        "bucc_distractor_ratio": 1.0,  # monolingual sentences per gold pair, on each side
        "corpus": 5000,  # pretraining sentences per language
    },
    "smoke": {
        "train": 60,
        "dev": 20,
        "test": 20,
        "copa_train": 30,
        "tatoeba": 20,
        "bucc_gold": 16,
        "bucc_distractor_ratio": 1.0,
        "corpus": 300,
    },
}

# The derived languages: nearer ones are tested by the XTREME analogue; the XTREME-R analogue adds the
# far ones (as XTREME-R adds typologically diverse languages). `tier` says which.
DEFAULT_LANGUAGES = [
    {"code": "n1", "name": "MiniN1", "tier": "near", "cognate_share": 0.5, "function_share": 1.0},
    {"code": "n2", "name": "MiniN2", "tier": "near", "cognate_share": 0.15, "adj": "after"},
    {"code": "n3", "name": "MiniN3", "tier": "near", "script": "Cyrl"},
    {"code": "n4", "name": "MiniN4", "tier": "near", "script": "Grek", "order": "sov", "adp": "post"},
    {"code": "n5", "name": "MiniN5", "tier": "near", "script": "Hani", "script_names": False, "spaces": False},
    {"code": "f1", "name": "MiniF1", "tier": "far", "script": "Armn", "order": "reverse", "fuse": True},
    {
        "code": "f2",
        "name": "MiniF2",
        "tier": "far",
        "script": "Deva",
        "order": "sov",
        "adp": "post",
        "fuse": True,
        "share_names": False,
    },
    {
        "code": "f3",
        "name": "MiniF3",
        "tier": "far",
        "script": "Thai",
        "order": "vso",
        "adj": "after",
        "spaces": False,
        "share_names": False,
    },
]

_X = {
    "xnli": "en n1 n2 n3 n4 n5",
    "pawsx": "en n1 n2 n5",
    "udpos": "en n1 n2 n3 n4 n5",
    "panx": "en n1 n2 n3 n4 n5",
    "xquad": "en n1 n3 n4 n5",
    "mlqa": "en n1 n2 n5",
    "tydiqa": "en n2 n3 n4",
    "bucc2018": "n1 n3 n5",
    "tatoeba": "n1 n2 n3 n4 n5",
}
_R = {
    "xnli": _X["xnli"],
    "xcopa": "n1 n3 n5 f1 f2 f3",
    "udpos": _X["udpos"] + " f1 f2",
    "panx": _X["panx"] + " f1 f2 f3",
    "xquad": _X["xquad"] + " f1",
    "mlqa": _X["mlqa"],
    "tydiqa": _X["tydiqa"],
    "mewslix": "en n1 n3 n4 f1 f2",
    "lareqa": _X["xquad"],
    "tatoeba": _X["tatoeba"] + " f1 f2",
}
DEFAULT_TASK_LANGUAGES = {
    "xtreme": {k: v.split() for k, v in _X.items()},
    "xtreme-r": {k: v.split() for k, v in _R.items()},
}

DEFAULT_WORLD = {
    "seed": 0,  # world seed: same seed -> byte-identical files
    "size": "default",  # size preset: default | smoke
    "sizes": {},  # overrides of single preset entries (keys of SIZE_PRESETS["default"])
    "train_sizes": {},  # English training examples of single tasks (keys of TRAIN_SIZE_TASKS), overriding
    # sizes.train (COPA: sizes.copa_train); how a miniature makes a target's training data scarce
    "n_persons": 48,  # people in the world (first names repeat across them)
    "n_orgs": 12,  # organisations
    "languages": DEFAULT_LANGUAGES,  # derived-language recipes (xstilts.miniworld.derivation.Recipe + tier)
    "task_languages": DEFAULT_TASK_LANGUAGES,  # test languages per benchmark analogue and task
    "share_names": None,  # null: per recipe; true/false: force name anchors on/off in every language
    "cognate_share": None,  # null: per recipe; a number in [0, 1]: the same content-word overlap everywhere
    "function_share": None,  # null: per recipe; a number in [0, 1]: the same function-word overlap everywhere
    "codeswitch_sentences": 0.1,  # fraction of non-English corpus sentences that borrow English words
    "codeswitch_words": 0.3,  # in such a sentence, the chance that each word is written as in English
}

# The tasks whose English training examples `train_sizes` can set (the training data of every target and
# intermediate task; XNLI trains on MNLI, XQuAD, MLQA and LAReQA on SQuAD, XCOPA on SIQA then COPA).
TRAIN_SIZE_TASKS = (
    "mnli",
    "snli",
    "anli",
    "pawsx",
    "qqp",
    "sst2",
    "udpos",
    "panx",
    "ccg",
    "squad",
    "tydiqa",
    "copa",
    "siqa",
    "hellaswag",
    "cosmosqa",
    "commonsenseqa",
    "mewslix",
)

BENCHMARK_TASKS = {bench: tuple(tasks) for bench, tasks in TASK2LANGS.items()}  # every task of both benchmarks
# Bump when the generators write different files for the same config: the world's run id includes it, so a
# new version of the code never reuses a world (and the models pretrained on it) built by an older one.
GENERATOR_VERSION = 2


# Keys added after the worlds of GENERATOR_VERSION 2 were first built, with the value that leaves the files
# as they were: they enter a world's identity only when set, so every existing world keeps its run id.
UNSET_KEYS = {"train_sizes": {}}


def identity(resolved: dict) -> dict:
    """What names a world in its run id: the resolved configuration without the UNSET_KEYS left at their
    neutral value (the files are byte-identical to a world built before those keys existed)."""
    return {k: v for k, v in resolved.items() if not (k in UNSET_KEYS and v == UNSET_KEYS[k])}


def resolve_config(cfg: dict | None) -> dict:
    """DEFAULT_WORLD updated by `cfg` (unknown keys rejected), with `sizes` resolved from the preset."""
    cfg = dict(cfg or {})
    for key in cfg:
        if key not in DEFAULT_WORLD:
            raise KeyError(f"world: unknown key {key!r}{nearest(key, DEFAULT_WORLD)} (valid: {sorted(DEFAULT_WORLD)})")
    out = copy.deepcopy(DEFAULT_WORLD)
    out.update(copy.deepcopy(cfg))
    if out["size"] not in SIZE_PRESETS:
        raise KeyError(f"world.size: {out['size']!r} is not a preset; expected one of {sorted(SIZE_PRESETS)}")
    sizes = dict(SIZE_PRESETS[out["size"]])
    for key, value in (out["sizes"] or {}).items():
        if key not in sizes:
            raise KeyError(f"world.sizes: unknown key {key!r}{nearest(key, sizes)} (valid: {sorted(sizes)})")
        sizes[key] = value
    out["sizes"] = sizes
    train_sizes = dict(out["train_sizes"] or {})
    for key, value in train_sizes.items():
        if key not in TRAIN_SIZE_TASKS:
            raise KeyError(
                f"world.train_sizes: unknown task {key!r}{nearest(key, TRAIN_SIZE_TASKS)} (valid: {list(TRAIN_SIZE_TASKS)})"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 3:
            raise ValueError(f"world.train_sizes.{key}: expected an integer >= 3 (examples), got {value!r}")
    out["train_sizes"] = train_sizes
    codes = {"en"} | {lang["code"] for lang in out["languages"]}
    for bench, tasks in out["task_languages"].items():
        if bench not in BENCHMARK_TASKS:
            raise KeyError(
                f"world.task_languages: unknown benchmark {bench!r}; expected one of {sorted(BENCHMARK_TASKS)}"
            )
        for task, langs in tasks.items():
            if task not in BENCHMARK_TASKS[bench]:
                raise KeyError(
                    f"world.task_languages.{bench}: unknown task {task!r}{nearest(task, BENCHMARK_TASKS[bench])}"
                )
            bad = [c for c in langs if c not in codes]
            if bad:
                raise KeyError(
                    f"world.task_languages.{bench}.{task}: languages {bad} are not in world.languages "
                    f"(known: {sorted(codes)})"
                )
        missing = [t for t in BENCHMARK_TASKS[bench] if t not in tasks]
        if missing:
            raise KeyError(f"world.task_languages.{bench}: no languages for tasks {missing}")
    return out


def planned_languages(cfg: dict | None) -> list[str]:
    """Every language code of the world `cfg` describes (English first), without building it."""
    resolved = resolve_config(cfg)
    return ["en"] + [spec["code"] for spec in resolved["languages"]]
