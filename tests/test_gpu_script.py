"""benchmarks/gpu.sh end to end on the CPU with tiny limits: every step the GPU study runs
(throughput in fp32 and bf16, the comparison of a seed, the report over seeds) works, and a
second call adds a seed and reuses the finished runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_own_images import make_tiny_imagenet

ROOT = Path(__file__).resolve().parents[1]


def run_script(data: Path, out: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "ACCELERATOR": "cpu",
        "EPOCHS": "1",
        "BACKBONE": "small-cnn",
        "BATCH": "8",
        "THROUGHPUT": "--backbones small-cnn --sizes 16 --steps 1 --seconds 0 --rounds 1 "
        "--warmup 1 --images 64",
        "LABELSPACE_CACHE": str(out.parent / "cache"),
    }
    return subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), str(data), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.mark.slow
def test_the_gpu_study_runs_on_the_cpu_and_adds_a_seed_when_rerun(tmp_path):
    data = make_tiny_imagenet(tmp_path / "tiny")
    out = tmp_path / "study"
    first = run_script(data, out)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for precision in ("32", "bf16"):
        figures = json.loads((out / f"throughput-{precision}.json").read_text())
        (result,) = figures["results"]
        assert result["bare_images_per_s"][0] > 0 and result["labelspace_images_per_s"][0] > 0
    for method in ("softmax", "frame", "joint"):
        metrics = json.loads((out / "runs" / "seed-0" / method / "metrics.json").read_text())
        assert metrics["test_images"] == 9 and metrics["data_storage"] == "memory"
    assert "seed 0 joint: top-1" in (out / "summary.txt").read_text()

    trained = (out / "runs" / "seed-0" / "softmax" / "metrics.json").stat().st_mtime_ns
    second = run_script(data, out)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert (out / "runs" / "seed-1" / "joint" / "metrics.json").is_file()
    assert (out / "runs" / "seed-0" / "softmax" / "metrics.json").stat().st_mtime_ns == trained
    report = (out / "runs" / "report.md").read_text()
    assert "over 2 seeds" in report and "+CRM" in report
    assert "seed 1 softmax: top-1" in (out / "summary.txt").read_text()
