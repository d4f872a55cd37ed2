"""The run store's promises: manifests that catch damage, failures recorded and not retried twice in one
execution, repairs that redo a damaged run and every run reading it, and steps that refuse to start
before their inputs are complete."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from xstilts.study.integrity import dependants, inspect, repair
from xstilts.study.runstore import FAILED, MARKER, Run, RunFailed, RunStore


def _work(files: dict[str, str]):
    def work(run_dir):
        for name, text in files.items():
            (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / name).write_text(text)
        return {"ok": True}

    return work


def _chain():
    """data -> pretrained -> intermediate -> target x2 -> analysis, ids chained through the specs."""
    data = Run("data", "world", {"seed": 0})
    pre = Run("pretrained", "mlm-xs", {"data": data.id})
    inter = Run("intermediate", "xs-mnli", {"parent": pre.id, "data": data.id})
    t_none = Run("target", "xs-none", {"parent": pre.id, "data": data.id})
    t_mnli = Run("target", "xs-mnli-t", {"parent": inter.id, "data": data.id})
    analysis = Run("analysis", "analysis", {"targets": sorted([t_none.id, t_mnli.id])})
    return {
        "data": [data],
        "pretrained": [pre],
        "intermediate": [inter],
        "target": [t_none, t_mnli],
        "analysis": [analysis],
    }


def _complete_all(store, plan):
    for runs in plan.values():
        for run in runs:
            store.execute(run, _work({"a.txt": run.id, "sub/b.bin": "x" * 100}))


def test_the_marker_holds_a_manifest_that_catches_deleted_truncated_and_changed_files(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("target", "r", {"x": 1})
    store.execute(run, _work({"a.txt": "hello", "eval/en.jsonl": "0123456789"}))
    files = json.loads((store.path(run) / MARKER).read_text())["files"]
    assert set(files) >= {"a.txt", "eval/en.jsonl", "metrics.json", "spec.json", "log.txt"}
    assert store.check(run, deep=True) == []
    (store.path(run) / "eval/en.jsonl").write_text("0123")  # truncated
    assert store.check(run) == ["eval/en.jsonl has 4 bytes, 10 expected"]
    (store.path(run) / "eval/en.jsonl").write_text("9876543210")  # same size, other bytes
    assert store.check(run) == [] and store.check(run, deep=True) == [
        "eval/en.jsonl has other content than when the run completed"
    ]
    (store.path(run) / "a.txt").unlink()
    assert "a.txt is missing" in store.check(run)


def test_a_failed_run_records_its_error_and_is_retried_later_but_not_in_the_same_execution(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("target", "r", {"x": 1})
    since = time.time()

    def boom(run_dir):
        raise ValueError("loss is NaN at step 12\nmore detail")

    with pytest.raises(RunFailed, match="loss is NaN at step 12"):
        store.execute(run, boom)
    failure = store.failure(run)
    assert failure["error"] == "ValueError: loss is NaN at step 12"
    assert "Traceback" in failure["traceback"] and failure["type"] == "ValueError"
    assert store.is_failed(run) and store.failed_since(run, since)
    assert not store.failed_since(run, time.time() + 1)  # a later execution retries it
    assert store.execute(run, _work({"a.txt": "ok"})) == {"ok": True}
    assert not store.is_failed(run) and not (store.path(run) / FAILED).exists()


FAILING_WORKER = """
import sys, time
from pathlib import Path
from xstilts.study.runstore import Run, RunStore
def work(run_dir):
    time.sleep(1.5)
    raise RuntimeError("CUDA out of memory")
try:
    RunStore("t", root=Path(sys.argv[1])).execute(Run("target", "r", {"x": 1}), work)
except RuntimeError:
    pass
"""


def test_a_process_waiting_on_a_run_learns_that_its_holder_failed_it(tmp_path):
    store = RunStore("t", root=tmp_path / "runs")
    run = Run("target", "r", {"x": 1})
    script = tmp_path / "worker.py"
    script.write_text(FAILING_WORKER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs")])
    lock = store.path(run).with_name(store.path(run).name + ".lock")
    deadline = time.time() + 30
    while not lock.exists() and time.time() < deadline:
        time.sleep(0.05)
    with pytest.raises(RunFailed, match="CUDA out of memory"):
        store.execute(run, _work({}))  # waits for the holder instead of doing the run a second time
    assert proc.wait(timeout=30) == 0


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("target", "r", {"x": 1})
    store.fail(run, RuntimeError("out of memory"))
    lock = store.path(run).with_name(store.path(run).name + ".lock")
    lock.write_text(f"{socket.gethostname()} 999999999\n")
    assert store.execute(run, _work({})) == {"ok": True}


def test_dependants_follow_the_chain_of_reads():
    plan = _chain()
    pre = plan["pretrained"][0]
    got = [r.prefix for r in dependants(plan, {pre.id})]
    assert got == ["xs-mnli", "xs-none", "xs-mnli-t", "analysis"]
    inter = plan["intermediate"][0]
    assert [r.prefix for r in dependants(plan, {inter.id})] == ["xs-mnli-t", "analysis"]


def test_repair_makes_a_damaged_run_and_its_readers_incomplete_and_drops_their_notebooks(tmp_path):
    store = RunStore("t", root=tmp_path / "runs")
    plan = _chain()
    _complete_all(store, plan)
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("0_data", "1_pretrained", "2_intermediate", "3_target", "4_analysis"):
        (notebooks / f"{name}.ipynb").write_text("{}")
    inter = plan["intermediate"][0]
    (store.path(inter) / "sub/b.bin").write_text("short")
    report = inspect(store, plan)
    assert [r.id for r, _ in report.damaged] == [inter.id] and report.complete == report.planned
    redo = repair(store, plan)
    assert sorted(r.prefix for r in redo) == ["analysis", "xs-mnli", "xs-mnli-t"]
    assert store.is_complete(plan["target"][0]) and store.is_complete(plan["pretrained"][0])
    assert not any(store.is_complete(r) for r in redo)
    assert sorted(p.stem for p in notebooks.glob("*.ipynb")) == ["0_data", "1_pretrained"]
    assert repair(store, plan) == []  # nothing damaged any more: nothing to do


def test_runs_command_lists_failed_and_damaged_runs_and_exits_non_zero(tmp_path, outputs, capsys):
    from xstilts.cli import main
    from xstilts.study.grid import plan_runs
    from xstilts.study.profile import load_profile

    plan = plan_runs(load_profile("smoke"))
    store = RunStore("smoke")
    data, tok = plan["data"][0], plan["pretrained"][0]
    store.execute(data, _work({"world/manifest.json": "{}"}))
    store.fail(tok, RuntimeError("tokenizer training ran out of memory"))
    assert main(["runs", "smoke"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("failed") and tok.id in line and "ran out of memory" in line for line in out)
    assert out[-1] == f"runs: 1/{sum(len(v) for v in plan.values())} complete"
    store.execute(tok, _work({"tokenizer/vocab.txt": "a b c"}))
    assert main(["runs", "smoke", "--verify"]) == 0
    (store.path(data) / "world/manifest.json").unlink()
    assert main(["runs", "smoke", "--verify"]) == 1
    out = capsys.readouterr().out
    assert f"damaged  data/{data.id}: world/manifest.json is missing" in out
    assert main(["repair", "smoke"]) == 0
    assert not store.is_complete(data) and not store.is_complete(tok)  # the tokenizer reads the data run
    assert os.path.isdir(store.path(data))


@pytest.mark.slow
def test_a_failing_run_does_not_stop_its_phase_and_only_it_is_retried(outputs, monkeypatch, capsys):
    from xstilts.cli import main
    from xstilts.study import steps
    from xstilts.study.grid import plan_runs
    from xstilts.study.profile import load_profile
    from xstilts.study.runstore import PhaseFailed

    for phase in ("data", "pretrained", "intermediate"):
        steps.run_phase("smoke", phase)
    targets = plan_runs(load_profile("smoke"))["target"]
    victim = targets[3]
    real = steps._target_work

    def flaky(s, run, run_dir):
        if run.id == victim.id:
            raise FloatingPointError("loss is NaN at step 3")
        return real(s, run, run_dir)

    monkeypatch.setattr(steps, "_target_work", flaky)
    with pytest.raises(PhaseFailed, match=f"1 of {len(targets)} runs failed .first: {victim.id}: FloatingPointError"):
        steps.run_phase("smoke", "target")
    store = RunStore("smoke")
    assert [r.id for r in targets if not store.is_complete(r)] == [victim.id]
    assert store.failure(victim)["error"] == "FloatingPointError: loss is NaN at step 3"
    assert main(["runs", "smoke"]) == 1
    assert f"failed   target/{victim.id}: FloatingPointError: loss is NaN at step 3" in capsys.readouterr().out
    markers = {r.id: (store.path(r) / MARKER).stat().st_mtime_ns for r in targets if r.id != victim.id}
    monkeypatch.setattr(steps, "_target_work", real)
    steps.run_phase("smoke", "target")  # the next execution retries it, and only it
    assert all(store.is_complete(r) for r in targets) and not store.is_failed(victim)
    assert {
        r: (store.path(next(t for t in targets if t.id == r)) / MARKER).stat().st_mtime_ns for r in markers
    } == markers


def test_prune_leaves_a_run_whose_lock_another_live_process_holds(tmp_path):
    store = RunStore("t", root=tmp_path)
    run = Run("intermediate", "r", {"x": 1})
    store.execute(run, _work({"encoder/config.json": "{}", "a.txt": "x"}))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = store.path(run).with_name(store.path(run).name + ".lock")
        lock.write_text(f"{socket.gethostname()} {holder.pid}\n")
        assert store.prune(run, ["encoder"]) == []  # the holder prunes it
        assert (store.path(run) / "encoder/config.json").is_file()
    finally:
        holder.kill()
        holder.wait()
    assert store.prune(run, ["encoder"]) == ["encoder"]  # a dead holder's lock is taken over
    assert not (store.path(run) / "encoder").exists() and store.check(run, deep=True) == []
    assert json.loads((store.path(run) / MARKER).read_text())["pruned"] == ["encoder"]


_PRUNE = """
import sys
from pathlib import Path
from xstilts.study.runstore import Run, RunStore
RunStore("t", root=Path(sys.argv[1])).prune(Run("intermediate", "r", {"x": 1}), ["encoder"])
"""


def test_two_workers_pruning_the_same_run_at_once_both_succeed(tmp_path):
    """Both local workers prune at the end of the target phase; unlocked, one's rmtree raced the other's
    (FileNotFoundError: 'config.json') and failed its worker after every run was complete."""
    for attempt in range(3):
        root = tmp_path / str(attempt)
        store = RunStore("t", root=root)
        run = Run("intermediate", "r", {"x": 1})
        store.execute(run, _work({f"encoder/f{i}.bin": "x" for i in range(1500)} | {"encoder/config.json": "{}"}))
        procs = [subprocess.Popen([sys.executable, "-c", _PRUNE, str(root)], stderr=subprocess.PIPE) for _ in range(2)]
        for p in procs:
            assert p.wait() == 0, p.stderr.read().decode()
        assert not (store.path(run) / "encoder").exists() and store.check(run, deep=True) == []
