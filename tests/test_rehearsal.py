"""The dress rehearsal (docs/rehearsal.md): the paper profile's own code path on a generated Hugging Face cache.

One module-scoped fixture builds the fixture hub, serves it on 127.0.0.1 and runs `xstilts data rehearsal`
against it, as `make data PROFILE=rehearsal` does: the HF_HOME it fills is written by huggingface_hub and
datasets themselves. The tests then read every source back offline through the loaders' public path, check
the lock, the model downloads and `make data`'s report, and run a reduced rehearsal (two sizes, one per
model family, the XL slot trained over 2 processes with FSDP2; five targets; three arms) through every phase. The full rehearsal is `make reproduce
PROFILE=rehearsal` (its time is in README.md).
"""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.registry import REGISTRY, get_task
from xstilts.benchmarks.sources import HUB, SOURCES
from xstilts.data import fixture_hub
from xstilts.data.contract import DEFAULT_CONFIG, PARQUET_EXPORT
from xstilts.data.hub_cache import needed_specs
from xstilts.data.loaders import load, read_source

ROOT = Path(__file__).resolve().parents[1]
REPO_LOCK = ROOT / "lib" / "xstilts" / "data" / "revisions.lock.json"
pytestmark = pytest.mark.slow


def _run(*args, env, **kw):
    return subprocess.run([*args], cwd=ROOT, env=env, text=True, capture_output=True, **kw)


def _xstilts(*args, env):
    return _run(sys.executable, "-m", "xstilts.cli", *args, env=env)


def _env(root: Path) -> dict:
    """The rehearsal's environment, as the Makefile sets it for PROFILE=rehearsal."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "HF_ENDPOINT")}
    fixtures = root / "fixtures"
    env.update(
        HF_HOME=str(fixtures / "hf_home"),
        XSTILTS_LOCK=str(fixtures / "revisions.lock.json"),
        XSTILTS_RELEASES=str(fixtures / "releases"),
        XSTILTS_CCGBANK=str(fixtures / "ccgbank"),
        XSTILTS_OUTPUTS=str(root / "outputs"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal")
    env = _env(root)
    fixtures = root / "fixtures"
    repo_lock = REPO_LOCK.read_bytes()
    build = _xstilts("fixture-hub", "build", str(fixtures), env=env)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    data = _xstilts(
        "fixture-hub", "serve", str(fixtures), "--", sys.executable, "-m", "xstilts.cli", "data", "rehearsal", env=env
    )
    return {"root": root, "env": env, "fixtures": fixtures, "data": data, "repo_lock": repo_lock}


@pytest.fixture
def offline_cache(rehearsal, monkeypatch):
    """This process reads the rehearsal's HF_HOME, lock and release folder (the libraries read their cache
    folders at call time; HF_HUB_OFFLINE is set for every test by conftest.py)."""
    import datasets
    from huggingface_hub import constants

    hf_home = Path(rehearsal["env"]["HF_HOME"])
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(hf_home / "datasets"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    for key in ("XSTILTS_LOCK", "XSTILTS_RELEASES", "XSTILTS_CCGBANK"):
        monkeypatch.setenv(key, rehearsal["env"][key])
    return hf_home


def _refs(fixtures: Path, kind: str, repo: str) -> dict:
    return json.loads((fixtures / "hub" / kind / repo / fixture_hub.REFS).read_text())


def test_make_data_fetches_and_locks_every_source_as_against_the_hub(rehearsal):
    data, fixtures = rehearsal["data"], rehearsal["fixtures"]
    assert data.returncode == 0, data.stdout[-4000:] + data.stderr[-4000:]
    report = data.stdout.strip().splitlines()
    assert report[-1] == "all ok"
    lines = {line.split()[2]: line.split()[0] for line in report if line.startswith("  ")}
    sources = {s for t in REGISTRY.values() for s in t.sources if SOURCES[s].kind != "local"}
    assert {*sources, "intermediate.ccg", *(m[0] for m in fixture_hub.MODELS.values())} == set(lines)
    assert set(lines.values()) == {"ok"}
    lock = json.loads(Path(rehearsal["env"]["XSTILTS_LOCK"]).read_text())
    for src in {SOURCES[s] for s in sources if SOURCES[s].kind == HUB}:  # the commit of the branch it names
        assert lock["datasets"][src.dataset] == _refs(fixtures, "datasets", src.dataset)[src.branch]
    for repo, *_ in fixture_hub.MODELS.values():
        assert lock["models"][repo] == _refs(fixtures, "models", repo)["main"]
    assert (
        "bucc2018/de-en/de-en.training.gold" in lock["releases"]
        and "mewsli-x/candidate_set_entities.jsonl" in lock["releases"]
    )
    assert REPO_LOCK.read_bytes() == rehearsal["repo_lock"]  # the repository's lock is never written


def test_model_downloads_take_only_what_the_loaders_read(rehearsal):
    hub = Path(rehearsal["env"]["HF_HOME"]) / "hub"
    for slot, (repo, _, _, weights) in fixture_hub.MODELS.items():
        (snap,) = (hub / f"models--{repo.replace('/', '--')}" / "snapshots").iterdir()
        files = sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file() or p.is_symlink())
        weight = "pytorch_model.bin" if weights == "pytorch" else "model.safetensors"
        assert files == sorted(["config.json", "tokenizer.json", weight]), slot
    out = rehearsal["data"].stdout
    assert (
        "xlm-roberta-xxl-tiny" in out and "no safetensors in the repository: PyTorch weights pytorch_model.bin" in out
    )


def test_every_source_reads_back_the_rows_written(rehearsal, offline_cache):
    """Every hub config and split the registry uses, through the loaders' public path at the locked revision,
    offline: exactly the rows the fixture repositories hold; the release sources through `load`."""
    written = json.loads((rehearsal["fixtures"] / fixture_hub.WRITTEN).read_text())
    specs = needed_specs(list(REGISTRY))
    hub_specs = [s for s in specs if s.kind == HUB]
    assert {s.source for s in hub_specs} == {k for t in REGISTRY.values() for k in t.sources if SOURCES[k].kind == HUB}
    for spec in hub_specs:
        rows = read_source(spec).to_list()
        assert rows == written[spec.dataset][spec.config or DEFAULT_CONFIG][spec.split], (spec.dataset, spec.config)
    export = [s for s in hub_specs if SOURCES[s.source].branch == PARQUET_EXPORT]
    assert {s.dataset for s in export} >= {"allenai/cosmos_qa", "Rowan/hellaswag", "aps/super_glue"}
    releases = [
        ("xtreme.bucc2018", split, lang, 5)
        for lang in get_task("xtreme.bucc2018").languages
        for split in ("dev", "test")
    ]
    releases += [("xtreme-r.tatoeba", "test", lang, 4) for lang in ("az", "lt", "pl", "uk", "ro")]
    releases += [("xtreme-r.lareqa", "test", lang, 3) for lang in get_task("xtreme-r.lareqa").languages]
    releases += [("xtreme-r.mewslix", "test", lang, 2) for lang in get_task("xtreme-r.mewslix").languages]
    releases += [("xtreme-r.mewslix", "train", "en", 8), ("xtreme-r.mewslix", "dev", "en", 4)]
    releases += [("intermediate.ccg", "train", "en", 8), ("intermediate.ccg", "dev", "en", 4)]
    for key, split, lang, n in releases:
        data = load(key, split, lang)
        assert (len(data.queries) if isinstance(data, F.RetrievalSet) else len(data)) == n, (key, split, lang)


def test_offline_reads_keep_datasets_cache_warnings_out_of_the_reports(rehearsal, offline_cache):
    """Offline, datasets warns on every load that it serves a cached config, and where; the loader checks
    that folder against the lock, so nothing of it reaches a report (the rehearsal's data report held 780)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    library = logging.getLogger("datasets")  # the loggers of datasets' modules propagate to it
    library.addHandler(handler)
    try:
        specs = [s for s in needed_specs(list(REGISTRY)) if s.kind == HUB]
        read = [s for s in specs if SOURCES[s.source].branch != PARQUET_EXPORT][:5]
        for spec in read:
            read_source(spec)
    finally:
        library.removeHandler(handler)
    assert read and not [r.getMessage() for r in records], records[:3]


def test_a_failing_source_does_not_stop_the_others(rehearsal, tmp_path):
    """`make data` against a hub where allenai/cosmos_qa has no export branch and google/xquad's answers
    drifted: both reported, every other source fetched and locked, exit status 2."""
    hub = tmp_path / "hub"
    shutil.copytree(rehearsal["fixtures"] / "hub", hub)
    refs = hub / "datasets" / "allenai" / "cosmos_qa" / fixture_hub.REFS
    refs.write_text(json.dumps({"main": json.loads(refs.read_text())["main"]}))
    repo = "google/xquad"
    (commit,) = _refs(hub.parent, "datasets", repo).values()
    files = {
        p.relative_to(hub / "datasets" / repo / commit).as_posix(): p.read_bytes()
        for p in (hub / "datasets" / repo / commit).rglob("*")
        if p.is_file()
    }
    from datasets import Features, List, Value

    from xstilts.data.schemas import config_features

    features = Features(
        {
            **config_features(repo, "xquad.th"),
            "answers": {"text": List(Value("string")), "answer_start": List(Value("string"))},
        }
    )
    rows = [
        {**r, "answers": {"text": r["answers"]["text"], "answer_start": [str(a) for a in r["answers"]["answer_start"]]}}
        for r in json.loads((rehearsal["fixtures"] / fixture_hub.WRITTEN).read_text())[repo]["xquad.th"]["validation"]
    ]
    files["xquad.th/validation-00000-of-00001.parquet"] = fixture_hub._parquet(rows, features)[0]
    _, card, body = files["README.md"].decode().split("---\n", 2)
    meta = yaml.safe_load(card)  # the card declares the drift too (datasets casts to the card's features)
    (info,) = [i for i in meta["dataset_info"] if i["config_name"] == "xquad.th"]
    (answers,) = [f for f in info["features"] if f["name"] == "answers"]
    answers["struct"] = [{**f, "list": "string"} if f["name"] == "answer_start" else f for f in answers["struct"]]
    files["README.md"] = f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n{body}".encode()
    fixture_hub.write_repo(hub, "dataset", repo, {"main": files})
    env = _env(tmp_path)
    proc = _run(
        sys.executable,
        "-c",
        "import sys; from xstilts.data import fixture_hub; sys.exit(fixture_hub.serve_and_run(sys.argv[1], sys.argv[2:]))",
        str(hub),
        sys.executable,
        "-c",
        "from xstilts.data.hub_cache import prepare; import sys; "
        "sys.exit(prepare(['intermediate.cosmosqa', 'xtreme.xquad', 'intermediate.sst2'], []))",
        env=env,
    )
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = {
        line.split()[2]: line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.startswith("  ") and len(line.split()) > 2
    }
    assert report["cosmosqa"].split()[0] == "missing" and "RevisionNotFound" in report["cosmosqa"]
    assert (
        report["xquad"].split()[0] == "mismatch"
        and "answers: expected {text: List(Value('string')), answer_start: List(Value('int32'))} vs found"
        in report["xquad"]
    )
    assert report["squad"].split()[0] == "ok" and report["sst2"].split()[0] == "ok"
    lock = json.loads(Path(env["XSTILTS_LOCK"]).read_text())
    assert {"nyu-mll/glue", "rajpurkar/squad", "google/xquad"} <= set(
        lock["datasets"]
    ) and "allenai/cosmos_qa" not in lock["datasets"]


REDUCED = """extends: rehearsal
description: the reduced rehearsal of tests/test_rehearsal.py
workers: 1
models:
  - {name: large, hub: xstilts-rehearsal/xlm-roberta-large-tiny, params: 75024, lr_grid: [1.0e-5, 3.0e-5]}
  - {name: xl, hub: xstilts-rehearsal/xlm-roberta-xl-tiny, params: 106176, ranks: 2, lr_grid: [5.0e-6, 1.0e-5]}
lr_pilot: {protocols: [xnli], seeds: 2}
arms: [none, hellaswag, multitask]
multitask_tasks: [mnli, cosmosqa, ccg]
targets: [xtreme.xnli, xtreme-r.udpos, xtreme-r.xcopa, xtreme.bucc2018, xtreme-r.mewslix]
seeds: {none: 2, intermediate: 1}
"""

CHAIN = """
import json, sys
from xstilts.study.runstore import PHASES
from xstilts.study.steps import run_phase
for phase in PHASES:
    run_phase(sys.argv[1], phase)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("xstilts.miniworld"))))
"""


@pytest.fixture(scope="module")
def reduced(rehearsal):
    profile = rehearsal["root"] / "rehearsal-reduced.yaml"
    profile.write_text(REDUCED)
    proc = _run(sys.executable, "-c", CHAIN, str(profile), env=rehearsal["env"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return {"out": rehearsal["root"] / "outputs" / "rehearsal-reduced", "proc": proc, **rehearsal}


def test_the_reduced_rehearsal_runs_every_phase_without_the_miniature(reduced):
    assert json.loads(reduced["proc"].stdout.strip().splitlines()[-1]) == []  # no xstilts.miniworld module imported
    scores = pd.read_csv(reduced["out"] / "results" / "scores.csv")
    assert set(zip(scores["benchmark"], scores["task"])) == {
        ("xtreme", "xnli"),
        ("xtreme-r", "udpos"),
        ("xtreme-r", "xcopa"),
        ("xtreme", "bucc2018"),
        ("xtreme-r", "mewslix"),
    }
    assert set(scores["arm"]) == {"none", "hellaswag", "multitask"} and set(scores["model"]) == {"large", "xl"}
    assert set(scores.loc[scores["task"] == "udpos", "language"]) >= {"uk", "pl", "ro", "lt", "wo", "hi"}
    assert (reduced["out"] / "results" / "estimates.csv").is_file()


def test_the_xl_slot_trains_over_two_processes(reduced):
    sizes = {}
    for phase in ("pretrained", "intermediate", "target"):  # the lr pilot's runs, then the arms'
        for run_dir in (reduced["out"] / "runs" / phase).iterdir():
            metrics = json.loads((run_dir / "metrics.json").read_text())
            if "world_size" in metrics:  # a trained run
                spec = json.loads((run_dir / "spec.json").read_text())
                model = spec["id"].split("-")[0] if phase == "intermediate" else spec["spec"]["model"]
                sizes.setdefault((phase, model), set()).add(metrics["world_size"])
    assert sizes == {
        (phase, m): {w} for phase in ("pretrained", "intermediate", "target") for m, w in (("large", 1), ("xl", 2))
    }


def test_each_size_trains_at_the_lr_its_pilot_chose(reduced):
    runs = reduced["out"] / "runs"
    chosen = {}
    for sel in runs.glob("pretrained/lr-*"):
        metrics = json.loads((sel / "metrics.json").read_text())
        assert metrics["pilot_runs"] == 4 and metrics["seed_sd_df"] == 2  # 2 lrs x 2 seeds of XNLI-en dev
        chosen[metrics["model"]] = metrics["lr"]
    assert chosen["large"] in (1e-5, 3e-5) and chosen["xl"] in (5e-6, 1e-5)
    trained = [d for p in ("intermediate", "target") for d in runs.glob(f"{p}/*") if (d / "finetune.json").exists()]
    assert len(trained) > 10
    for run_dir in trained:
        spec = json.loads((run_dir / "spec.json").read_text())["spec"]
        model = run_dir.name.split("-")[0]
        expected = chosen[model] * spec["train"]["lr_times"]
        assert json.loads((run_dir / "finetune.json").read_text())["hp"]["lr"] == pytest.approx(expected)
    pilot = pd.read_csv(reduced["out"] / "results" / "lr_pilot.csv")  # every pilot run, for the report
    assert len(pilot) == 8 and set(pilot["model"]) == {"large", "xl"} and pilot["dev_score"].between(0, 100).all()


def test_the_reproduction_check_runs_as_a_dry_run(reduced):
    check = pd.read_csv(reduced["out"] / "results" / "reproduction.csv")
    xnli = check[(check.system == "xlmr") & (check.task == "xnli") & (check.model == "large")].iloc[0]
    assert xnli["status"] in ("ok", "differs") and xnli["arm"] == "none" and xnli["published"] == 79.2
    assert set(check["status"]) <= {"ok", "differs", "not run", "no published number"}
    effects = pd.read_csv(reduced["out"] / "results" / "effects.csv")
    assert {"best_per_target", "mnli"} <= set(effects["effect"])


def test_run_specs_name_the_hub_ids_locked_revisions_and_model_classes(reduced):
    lock = json.loads(Path(reduced["env"]["XSTILTS_LOCK"]).read_text())
    classes = {}
    for run_dir in (reduced["out"] / "runs" / "pretrained").iterdir():
        spec = json.loads((run_dir / "spec.json").read_text())["spec"]
        if "hub" not in spec:  # the lr pilot's runs and selections
            continue
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert spec["revision"] == lock["models"][spec["hub"]] == metrics["revision"]
        classes[spec["hub"]] = metrics["model_class"]
    assert classes == {
        "xstilts-rehearsal/xlm-roberta-large-tiny": "XLMRobertaModel",
        "xstilts-rehearsal/xlm-roberta-xl-tiny": "XLMRobertaXLModel",
    }
    (data_dir,) = (reduced["out"] / "runs" / "data").iterdir()
    spec = json.loads((data_dir / "spec.json").read_text())["spec"]
    assert spec["datasets"] and all(spec["datasets"][repo] == lock["datasets"][repo] for repo in spec["datasets"])


def test_the_rehearsal_profile_names_the_fixture_checkpoints(rehearsal):
    from xstilts.study.profile import load_profile

    cfg = load_profile("rehearsal", check_licences=False).cfg
    manifest = json.loads((rehearsal["fixtures"] / fixture_hub.MANIFEST).read_text())
    assert [(m["name"], m["hub"], m["params"]) for m in cfg["models"]] == [
        (slot, manifest["models"][slot]["hub"], manifest["models"][slot]["params"]) for slot in fixture_hub.MODELS
    ]
    paper = load_profile("paper", check_licences=False).cfg
    assert cfg["arms"] == paper["arms"] and cfg["targets"] == paper["targets"] and cfg["world"] is None
