"""Signals: SIGTERM (a scheduler's warning) and SIGINT (Ctrl-C) stop `train` and `compare` at
the next training step with a checkpoint there, print one status line saying what was saved
and how to go on, and exit 143 or 130; `--resume` (or the same `compare` again) continues.

Real signals throughout: sent to a `labelspace` process from outside, or, where the moment
matters (while the data is read, after training), by the process to itself from one of the
callbacks the library takes."""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from labelspace.locks import LOCK_FILE
from labelspace.signals import Stopped
from labelspace.training.config import TrainConfig
from labelspace.training.evaluate import evaluate_run
from labelspace.training.fit import train
from labelspace.training.runs import LAST_CHECKPOINT, METRICS_FILE, read_checkpoint
from labelspace.training.stopping import STOP_KEY

LABELSPACE = [sys.executable, "-m", "labelspace"]
TINY = TrainConfig(
    epochs=1, batch_size=32, train_limit=256, test_limit=100, embedding_dim=5, accelerator="cpu"
)
# three epochs of 64 steps: time to signal a process in its second epoch
LONGER = ["--train-limit", "4096", "--test-limit", "200", "--epochs", "3", "--batch-size", "64"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*LABELSPACE, *args, "--accelerator", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "2000", **(env or {})},
    )


def _rows(run: Path) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader((run / "logs" / "metrics.csv").read_text().splitlines()))
    except (OSError, csv.Error):
        return []


def _in_epoch(run: Path, epoch: int) -> bool:
    """Whether training has logged a step of ``epoch`` (each logged row is on disk at once)."""
    try:
        return any(r.get("epoch") and int(float(r["epoch"])) == epoch for r in _rows(run))
    except ValueError:  # a row half written
        return False


def _signal_in_epoch(proc: subprocess.Popen, run: Path, epoch: int, signum: int) -> None:
    while not _in_epoch(run, epoch):
        assert proc.poll() is None, proc.stderr.read() or "training ended before the signal"
    proc.send_signal(signum)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def _steps_logged_once(run: Path) -> None:
    steps = [r["step"] for r in _rows(run) if r.get("train_loss_step")]
    assert len(steps) == len(set(steps)), "a step logged twice"
    epochs = sorted({int(float(r["epoch"])) for r in _rows(run) if r.get("val_top1")})
    assert epochs == [0, 1, 2]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_a_checkpoint_at_the_next_step_and_resume_finishes(tmp_path, signum, status):
    run = tmp_path / "run"
    proc = _cli("train", str(run), *LONGER)
    _signal_in_epoch(proc, run, 1, signum)
    assert proc.wait() == status
    line = _one_line(proc.stderr.read())
    name = signal.Signals(signum).name
    assert line.startswith(f"stopped by {name}: saved {run / LAST_CHECKPOINT} at step ")
    assert "(epoch 2 of 3, after " in line
    assert line.endswith(f"`labelspace train {run} --resume` continues from there")
    checkpoint = read_checkpoint(run)
    assert checkpoint[STOP_KEY]["epoch"] == 1 and 0 < checkpoint[STOP_KEY]["batches"] < 64
    assert not (run / METRICS_FILE).exists() and not (run / LOCK_FILE).exists()

    resumed = _cli("train", str(run), "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    metrics = json.loads((run / METRICS_FILE).read_text())
    assert metrics["resumed"] and metrics["test_images"] == 200 and metrics["test"]["top1"] > 0.5
    assert read_checkpoint(run)["global_step"] == 3 * 64  # every step once, none twice
    _steps_logged_once(run)


@pytest.mark.slow
def test_sigterm_stops_a_comparison_and_the_same_command_goes_on(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", str(out), "--methods", "softmax,hxe", "--no-analyze", *LONGER]
    proc = _cli(*args)
    _signal_in_epoch(proc, out / "softmax", 1, signal.SIGTERM)
    assert proc.wait() == 143
    line = _one_line(proc.stderr.read())
    assert line.startswith(f"stopped by SIGTERM: saved {out / 'softmax' / LAST_CHECKPOINT}")
    assert line.endswith(
        "run the same `labelspace compare` command again: it reuses the finished runs and "
        "resumes the stopped one"
    )
    assert not (out / "hxe").exists() and not (out / LOCK_FILE).exists()

    again = _cli(*args)
    assert again.wait() == 0, again.stderr.read()
    assert json.loads((out / "softmax" / METRICS_FILE).read_text())["resumed"]
    assert (out / "report.md").is_file()


@pytest.mark.slow
def test_sigusr1_under_slurm_saves_stops_and_requeues_the_job(tmp_path):
    """`#SBATCH --signal=SIGUSR1@90`: the run saves at its next step and asks SLURM to
    requeue the job (a stand-in `scontrol` on PATH records the request)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "scontrol-args"
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" > {record}\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    run = tmp_path / "run"
    env = {"SLURM_JOB_ID": "4242", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = _cli("train", str(run), *LONGER, env=env)
    _signal_in_epoch(proc, run, 1, signal.SIGUSR1)
    assert proc.wait() == 128 + signal.SIGUSR1
    line = _one_line(proc.stderr.read())
    assert line.startswith(f"stopped by SIGUSR1: saved {run / LAST_CHECKPOINT}")
    assert line.endswith("continues from there; requeued SLURM job 4242")
    assert record.read_text().split() == ["requeue", "4242"]


# --------------------------------------------------------------------------- in the process
class SignalAt(Callback):
    """Sends ``signum`` to this process at a chosen point of training."""

    def __init__(self, signum: int = signal.SIGTERM, *, batch: int | None = None) -> None:
        self.signum = signum
        self.batch = batch

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        if self.batch is not None and batch_idx == self.batch and trainer.current_epoch == 0:
            os.kill(os.getpid(), self.signum)

    def on_validation_start(self, trainer, module) -> None:
        if self.batch is None:  # the last epoch's validation: training is all but done
            os.kill(os.getpid(), self.signum)


class Seen(Callback):
    """Records a fingerprint of every training image (its pixel sum: flips keep it)."""

    def __init__(self) -> None:
        self.images: Counter[float] = Counter()

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        sums = batch[0].double().flatten(1).sum(1)
        self.images.update(round(float(s), 3) for s in sums)


def test_a_signal_while_the_data_is_read_stops_at_once_and_leaves_nothing(tmp_path):
    run = tmp_path / "new" / "run"
    sent = []

    def progress(done: int, total: int) -> None:
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Stopped) as stop:
        train(TINY, run, progress=False, on_progress=progress)
    assert sent and stop.value.exit_code == 143
    assert str(stop.value) == "stopped by SIGTERM: nothing was kept"
    assert not (tmp_path / "new").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is given back


def test_a_signal_in_the_last_validation_stops_after_training_with_the_model_kept(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(Stopped) as stop:
        train(TINY, run, progress=False, callbacks=[SignalAt()])
    assert str(stop.value) == (
        f"stopped by SIGTERM: training had finished and {run / LAST_CHECKPOINT} holds the "
        f"model; `labelspace evaluate {run}` finishes the run"
    )
    assert STOP_KEY not in read_checkpoint(run)  # the epoch's own checkpoint
    assert not (run / METRICS_FILE).exists()
    assert evaluate_run(run)["test_images"] == 100


def test_a_run_resumed_in_the_middle_of_an_epoch_sees_each_image_once(tmp_path):
    """Stopped after 4 batches (the signal comes during the fourth) and resumed, the epoch
    trains on exactly the images of an uninterrupted epoch: the loader starts after the
    batches already trained."""
    whole, stopped = Seen(), Seen()
    train(TINY, tmp_path / "whole", progress=False, callbacks=[whole])
    run = tmp_path / "stopped"
    with pytest.raises(Stopped):
        train(TINY, run, progress=False, callbacks=[stopped, SignalAt(batch=3)])
    assert read_checkpoint(run)[STOP_KEY] == {"epoch": 0, "batches": 4, "step": 4}
    assert sum(stopped.images.values()) == 4 * TINY.batch_size
    train(replace(TINY), run, resume=True, progress=False, callbacks=[stopped])
    assert stopped.images == whole.images
    steps = [read_checkpoint(r)["global_step"] for r in (tmp_path / "whole", run)]
    assert steps[0] == steps[1]
    assert torch.isfinite(
        torch.tensor(json.loads((run / METRICS_FILE).read_text())["test"]["top1"])
    )
