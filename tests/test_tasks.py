"""The task registry and the language table: official language lists, protocols, sources, CLI."""

import json
import re

import pytest

from xstilts.benchmarks import formats as F
from xstilts.benchmarks.languages import BUILTIN_CODES, Language, by_iso3, by_name, get_language, register, unregister
from xstilts.benchmarks.registry import (
    REGISTRY,
    LicenceGatedError,
    check_available,
    get_task,
    intermediate_tasks,
    protocol_languages,
    targets,
)
from xstilts.benchmarks.sources import LOCKED, SOURCES, TYDIQA_PREFIX
from xstilts.cli import main
from xstilts.data.schemas import HUB_FEATURES

# google-research/xtreme evaluate.py XTREME_TASK2LANGS / XTREME_R_TASK2LANGS, copied as literals on purpose
OFFICIAL = {
    "xtreme": {
        "pawsx": "de,en,es,fr,ja,ko,zh",
        "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
        "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu",
        "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh",
        "bucc2018": "de,fr,ru,zh",
        "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu",
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
        "mlqa": "en,es,de,ar,hi,vi,zh",
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
    },
    "xtreme-r": {
        "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
        "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu,qu,pl,uk,az,lt,pa,gu,ro",
        "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh,lt,pl,uk,wo,ro",
        "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu,az,lt,pl,uk,ro",
        "xcopa": "et,ht,id,it,qu,sw,ta,th,tr,vi,zh",
        "lareqa": "ar,de,el,en,es,hi,ru,th,tr,vi,zh",  # evaluate.py: []; the XQuAD-R languages, pooled
        "mewslix": "ar,de,en,es,fa,ja,pl,ro,ta,tr,uk",
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi,ro",
        "mlqa": "en,es,de,ar,hi,vi,zh",
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
    },
}
METRICS = {
    "accuracy",
    "seqeval_f1",
    "squad",
    "mlqa",
    "bucc_f1",
    "tatoeba_acc",
    "mewslix_map20",
    "lareqa_map20",
    "token_accuracy",
}


@pytest.mark.parametrize("benchmark", ["xtreme", "xtreme-r"])
def test_targets_have_exactly_the_official_languages(benchmark):
    got = {t.name: ",".join(t.languages) for t in targets(benchmark)}
    assert got == OFFICIAL[benchmark]
    assert all(t.key == f"{benchmark}.{t.name}" and t.benchmarks == (benchmark,) for t in targets(benchmark))


def test_registry_sizes_and_fields():
    assert len(targets("xtreme")) == 9 and len(targets("xtreme-r")) == 10
    inter = intermediate_tasks()
    assert [t.name for t in inter] == [
        "anli_plus",
        "mnli",
        "qqp",
        "sst2",
        "squad",
        "hellaswag",
        "cosmosqa",
        "commonsenseqa",
        "ccg",
    ]
    assert len(REGISTRY) == 28
    for t in REGISTRY.values():
        assert t.format in F.FORMATS and t.metric in METRICS, t.key
        assert all(get_language(lang) for lang in t.languages)
        if t.format == F.MULTIPLE_CHOICE:
            assert t.num_choices in (2, 4, 5), t.key
        if t.format in (F.CLASSIFICATION, F.TAGGING) and not t.licence_gated:
            assert t.labels, t.key
        assert t.notes, t.key
        for ref in (*t.train, *t.dev, *t.test, *(r for _, refs in t.test_overrides for r in refs)):
            assert ref.split in SOURCES[ref.source].splits, (t.key, ref)


def test_protocols_share_runs_where_the_protocol_is_the_same():
    assert get_task("xtreme.xnli").protocol == get_task("xtreme-r.xnli").protocol == "xnli"
    assert get_task("xtreme.tatoeba").protocol == "tatoeba" and get_task("xtreme-r.tatoeba").protocol == "tatoeba-r"
    assert len(protocol_languages("udpos")) == 38 and len(protocol_languages("panx")) == 48
    assert get_task("xtreme.xnli").train[0].source == "mnli"  # XNLI trains on MNLI
    assert [r.part for r in get_task("xtreme-r.xcopa").train] == ["siqa", "copa"]
    assert get_task("xtreme-r.xcopa").train_schedule == "sequence"
    anli = get_task("intermediate.anli_plus")
    assert anli.train_schedule == "mixture" and {r.source for r in anli.train} == {"mnli", "snli", "anli"}
    assert get_task("xtreme.bucc2018").train == () and get_task("xtreme.tatoeba").train_name is None
    assert dict(get_task("xtreme-r.udpos").test_overrides)["pl"][0].configs == ("pl_lfg", "pl_pdb", "pl_pud")


def test_sources_are_pinned_or_locked_and_schemas_declared():
    for src in SOURCES.values():
        assert src.revision == LOCKED or re.fullmatch(r"[0-9a-f]{40}", src.revision), src.key
        if src.kind == "hub":
            assert src.schema in HUB_FEATURES, src.key


def test_unknown_keys_name_the_nearest():
    with pytest.raises(KeyError, match="xtreme.xnli"):
        get_task("xtreme.xlni")
    with pytest.raises(KeyError, match="xtreme-r"):
        targets("xtreme_r")
    with pytest.raises(KeyError, match="nearest valid: zh"):
        get_language("zz")


def test_ccg_is_licence_gated(tmp_path, monkeypatch):
    monkeypatch.delenv("XSTILTS_CCGBANK", raising=False)
    with pytest.raises(LicenceGatedError, match="XSTILTS_CCGBANK"):
        check_available("intermediate.ccg")
    monkeypatch.setenv("XSTILTS_CCGBANK", str(tmp_path))
    with pytest.raises(LicenceGatedError, match="train.tsv"):
        check_available("intermediate.ccg")
    (tmp_path / "train.tsv").write_text("a\tN\n")
    (tmp_path / "dev.tsv").write_text("a\tN\n")
    check_available("intermediate.ccg")
    check_available("xtreme.xnli")  # not gated


def test_language_table_codes_and_registration():
    assert len(BUILTIN_CODES) == 50
    assert (get_language("fa").iso3, get_language("sw").iso3, get_language("zh").iso3) == ("pes", "swh", "cmn")
    assert by_iso3("pes").code == "fa" and by_name("German").code == "de"
    assert all(get_language(c).name.lower() == p for c, p in TYDIQA_PREFIX.items())
    assert SOURCES["xtreme.udpos"].config_for("el") == "udpos.Greek"
    assert SOURCES["xtreme.tatoeba"].config_for("zh") == "tatoeba.cmn"
    synthetic = Language("q1", "Quuxish", "qqa", "Cyrl")
    try:
        register(synthetic)
        assert get_language("q1") is synthetic
        assert SOURCES["xtreme.panx"].config_for("q1") == "PAN-X.q1"
        with pytest.raises(ValueError, match="already registered"):
            register(Language("q1", "Other", "qqb", "Latn"))
    finally:
        unregister("q1")


def test_cli_json_and_table(capsys):
    assert main(["tasks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 28
    for row in rows:
        assert {"key", "name", "benchmarks", "languages", "format", "metric", "source"} <= set(row)
    xnli = next(r for r in rows if r["key"] == "xtreme-r.xnli")
    assert xnli["benchmarks"] == ["xtreme-r"] and xnli["source"].startswith("facebook/xnli")
    assert main(["tasks"]) == 0
    table = capsys.readouterr().out
    assert "intermediate.ccg" in table and "xtreme-r.lareqa" in table
