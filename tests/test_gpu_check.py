"""`xstilts gpu-check` without a GPU: one line and exit 2; the report's assembly (checks faked, not CUDA);
the 2-rank workers' logic on the CPU (gloo), as they will run over NCCL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts import cli
from xstilts.compute import gpucheck
from xstilts.compute.gpucheck import NO_GPU, plan_inputs, run_checks, summary

ROOT = Path(__file__).resolve().parents[1]


def test_no_gpu_fails_in_one_line(outputs):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "XSTILTS_OUTPUTS": str(outputs)}
    proc = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "gpu-check"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == NO_GPU and proc.stdout == ""
    assert not (outputs / "gpu-check").exists()


def _fake_checks(out: Path):
    def devices(ctx):
        ctx["devices"] = [{"name": "NVIDIA H100 80GB HBM3", "memory_gb": 85.0}]
        return {"count": 1}

    def mfu(ctx):
        return {"mfu_xlmr_large_bf16": 0.33, "mfu_achieved_tflops": 326.4}

    def broken(ctx):
        assert json.loads(out.read_text())["checks"]["mfu_xlmr_large"]["ok"]  # written before the next check
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def floor(ctx):
        return {"ms_per_layer": 0.21}

    def never(ctx):
        raise AssertionError("a check needing 2 GPUs ran on 1")

    return [
        ("devices", devices, 1),
        ("mfu_xlmr_large", mfu, 1),
        ("rehearsal", broken, 1),
        ("launch_floor", floor, 1),
        ("collectives", never, 2),
    ]


def test_report_assembly(tmp_path):
    out = tmp_path / "gpu-check" / "report.json"
    report = run_checks(_fake_checks(out), {"work": tmp_path}, out, gpus=1)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report, default=str))
    checks = report["checks"]
    assert list(checks) == ["devices", "mfu_xlmr_large", "rehearsal", "launch_floor", "collectives"]
    assert checks["devices"]["ok"] and report["devices"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert checks["rehearsal"]["ok"] is False and checks["rehearsal"]["error"].startswith("RuntimeError: CUDA error")
    assert "Traceback" in checks["rehearsal"]["traceback"]
    assert checks["launch_floor"]["ok"]  # a failed check does not stop the next
    assert checks["collectives"] == {"ok": None, "skipped": "needs 2 GPUs, 1 visible"}
    assert report["ok"] is False and report["gpus"] == 1
    assert report["plan_inputs"] == {"mfu": 0.33, "layer_floor_ms": 0.21, "intra_node_gb_s": None}
    assert all("seconds" in e for e in checks.values() if not e.get("skipped"))
    text = summary(report)
    assert "rehearsal: FAILED RuntimeError: CUDA error" in text and "collectives: skipped" in text
    assert "mfu_xlmr_large: ok" in text and "mfu_xlmr_large_bf16=0.33" in text
    assert plan_inputs({}) == {"mfu": None, "layer_floor_ms": None, "intra_node_gb_s": None}


def test_cli_exit_status_follows_the_checks(tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.json"

    def fake(path, work=None):
        return run_checks(_fake_checks(Path(path)), {"work": tmp_path}, Path(path), gpus=1)

    monkeypatch.setattr(gpucheck, "gpu_check", fake)
    assert cli.main(["gpu-check", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "a check FAILED" in printed and str(out) in printed
    assert json.loads(out.read_text())["ok"] is False

    def no_gpu(path, work=None):
        raise gpucheck.NoGPU(NO_GPU)

    monkeypatch.setattr(gpucheck, "gpu_check", no_gpu)
    assert cli.main(["gpu-check", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == NO_GPU


def test_peak_flops_by_name():
    assert gpucheck.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert gpucheck.peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert gpucheck.peak_flops("Some Future GPU") is None


@pytest.mark.parametrize("check", [gpucheck.check_fsdp2, gpucheck.check_fsdp_finetune])
def test_two_rank_workers_on_cpu(check, tmp_path):
    """The workers `make gpu-check` starts under torchrun, here on 2 CPU ranks over gloo: an FSDP2 bf16
    step whose loss matches the unsharded one, and the engine's finetune on 2 ranks."""
    result = check({"work": tmp_path})
    assert result["world_size"] == 2
    if check is gpucheck.check_fsdp2:
        assert result["relative_difference"] < 2e-2 and result["loss_after_step"] < result["loss_sharded"]
        assert result["params_local_rank0"] * 2 == pytest.approx(result["params_total"], rel=0.01)
    else:
        assert result["processes_in_log"] == 2 and result["steps"] == 4 and result["encoder_saved"]
