"""The official tables of the two benchmarks: their names, tasks, test languages and task groups.

Verbatim from google-research/xtreme `evaluate.py` (commit 838c13b): `XTREME_TASK2LANGS`,
`XTREME_R_TASK2LANGS`, `XTREME_GROUP2TASK`, `XTREME_R_GROUP2TASK`. Order matters: it is the key order of
the official output and the summation order of its averages. Two documented extensions
(docs/benchmarks.md §2.8): LAReQA, which `evaluate.py` lists with no language, is scored on the 11
XQuAD-R languages (`LAREQA_LANGUAGES`), and the XTREME-R paper's four categories (`XTREME_R_CATEGORIES`).
Every other module takes benchmark names and language lists from here.
"""

from __future__ import annotations

XTREME = "xtreme"
XTREME_R = "xtreme-r"
BENCHMARKS = (XTREME, XTREME_R)
INTERMEDIATE = "intermediate"  # the English intermediate tasks, registered beside the two benchmarks


def _langs(s: str) -> tuple[str, ...]:
    return tuple(s.split(","))


TASK2LANGS: dict[str, dict[str, tuple[str, ...]]] = {
    XTREME: {
        "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
        "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
        "panx": _langs(
            "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
            "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu"
        ),
        "udpos": _langs(
            "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"
        ),
        "bucc2018": _langs("de,fr,ru,zh"),
        "tatoeba": _langs(
            "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
            "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu"
        ),
        "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi"),
        "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
        "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
    },
    XTREME_R: {
        "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
        "panx": _langs(
            "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,"
            "it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,"
            "lt,pa,gu,ro"
        ),
        "udpos": _langs(
            "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,"
            "nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,lt,pl,uk,wo,ro"
        ),
        "tatoeba": _langs(
            "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,"
            "pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro"
        ),
        "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
        "lareqa": (),  # sic: evaluate.py scores no language of LAReQA (see LAREQA_LANGUAGES)
        "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
        "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro"),
        "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
        "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
    },
}

# evaluate.XTREME_GROUP2TASK / XTREME_R_GROUP2TASK, verbatim: xcopa is in two groups, LAReQA in none.
GROUP2TASK: dict[str, dict[str, list[str]]] = {
    XTREME: {
        "classification": ["pawsx", "xnli"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["bucc2018", "tatoeba"],
    },
    XTREME_R: {
        "classification": ["xnli", "xcopa"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["tatoeba", "mewslix"],
        "multi_choice": ["xcopa"],
    },
}

QA_TASKS = ("xquad", "mlqa", "tydiqa")

# Extension: the XQuAD-R languages LAReQA is scored on (one pooled candidate set of all of them).
LAREQA_LANGUAGES = _langs("ar,de,el,en,es,hi,ru,th,tr,vi,zh")

# Extension: the four categories of the XTREME-R paper and leaderboard (arXiv 2104.07412), whose mean is
# the paper's "Avg" (docs/benchmarks.md §2.8). Retrieval here holds LAReQA, unlike evaluate.py's group.
XTREME_R_CATEGORIES = {
    "classification": ["xnli", "xcopa"],
    "structured_prediction": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["mewslix", "lareqa", "tatoeba"],
}


def check_benchmark(name: str) -> str:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
    return name


def scored_languages(task: str, benchmark: str, extensions: bool = True) -> list[str]:
    """The languages a benchmark scores for a task, in the official order (LAReQA: its XQuAD-R languages
    when `extensions`, none otherwise, as `evaluate.py`)."""
    check_benchmark(benchmark)
    if task not in TASK2LANGS[benchmark]:
        raise ValueError(f"task {task!r} is not part of {benchmark}; its tasks are {', '.join(TASK2LANGS[benchmark])}")
    if task == "lareqa" and extensions:
        return list(LAREQA_LANGUAGES)
    return list(TASK2LANGS[benchmark][task])
