"""Training runs end to end on small real data: every method, run folders, evaluate, predict,
compare, two-stage fine-tune, resume after a real kill, DDP with two CPU processes, bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from cifar_paths import cifar10_copy
from PIL import Image
from typer.testing import CliRunner

from labelspace.analysis.predict import predict_images
from labelspace.cli import app
from labelspace.experiments.compare import REPORT_FILE, parse_methods, run_comparison
from labelspace.models.methods import METHODS
from labelspace.training.build import prepare
from labelspace.training.config import RunError, TrainConfig
from labelspace.training.evaluate import evaluate_run
from labelspace.training.fit import train
from labelspace.training.runs import METRICS_FILE, read_checkpoint, read_predictions

CIFAR = cifar10_copy()
TINY = TrainConfig(epochs=1, batch_size=64, train_limit=1024, test_limit=200, embedding_dim=5)
LABELSPACE = [sys.executable, "-m", "labelspace.cli"]


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


@pytest.fixture(scope="module")
def softmax_run(trained_runs) -> tuple[Path, dict]:
    """The session's softmax run (TINY for two epochs) and what training returned."""
    return trained_runs("softmax"), trained_runs.metrics("softmax")


def test_a_run_folder_holds_config_weights_logs_predictions_and_metrics(softmax_run):
    run, result = softmax_run
    for name in ("config.yaml", "checkpoints/last.ckpt", "logs/metrics.csv", METRICS_FILE):
        assert (run / name).is_file(), name
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["classes"][7] == "Sneaker" and saved["synsets"][7] == "gym_shoe.n.01"
    assert saved["input"] == {
        "in_chans": 1,
        "image_size": 28,
        "mean": pytest.approx(saved["input"]["mean"]),
        "std": pytest.approx(saved["input"]["std"]),
    }
    test = result["test"]
    assert result["test_images"] == 200
    # two short epochs on 384 images learn something: far above chance (10 %)
    assert 0.3 < test["top1"] <= test["top5"] <= 1.0
    assert test["hdist@1"] <= test["hdist@5"]
    assert 0 <= test["ece"] <= 1
    logged = (run / "logs" / "metrics.csv").read_text()
    assert "val_top1" in logged and "train_loss_epoch" in logged


def test_evaluate_recomputes_the_same_metrics(softmax_run, trained_runs, tmp_path):
    _, result = softmax_run
    run = trained_runs.copy("softmax", tmp_path / "softmax")  # evaluating rewrites its files
    again = evaluate_run(run)
    assert again["test"] == pytest.approx(result["test"])
    assert again["train_seconds"] == result["train_seconds"]  # training figures are kept


def test_predict_shows_labels_with_their_path_up_the_hierarchy(softmax_run, tmp_path):
    from labelspace.data import load_dataset

    run, _ = softmax_run
    data = load_dataset("fashion-mnist")
    sneaker = int((data.test.targets == 7).nonzero()[0])
    png = tmp_path / "sneaker.png"
    Image.fromarray(data.test.images[sneaker, 0].numpy()).save(png)
    answers = predict_images(run, [png], k=3)
    rows = answers[png]
    assert len(rows) == 3
    scores = [score for _, score, _ in rows]
    assert scores == sorted(scores, reverse=True) and 0 <= scores[0] <= 1
    chains = {label: chain for label, _, chain in rows}
    if "Sneaker" in chains:
        assert chains["Sneaker"][:2] == ["gym shoe", "shoe"]
    assert all(chain[-1] == "entity" for chain in chains.values())

    result = CliRunner().invoke(app, ["predict", str(run), str(png), "-k", "2"])
    assert result.exit_code == 0, result.output
    assert " < " in result.output and "entity" in result.output


# the fast suite trains the runs that other tests read; every method's head and loss take
# their steps in test_losses.py, and the full suite trains and decodes every method here
FAST_METHODS = ("softmax", "poincare", "joint")


@pytest.mark.parametrize(
    "method", [m if m in FAST_METHODS else pytest.param(m, marks=pytest.mark.slow) for m in METHODS]
)
def test_every_method_trains_and_decodes(method, trained_runs):
    run = trained_runs(method)  # TINY for two epochs, trained once for the session
    test = trained_runs.metrics(method)["test"]
    assert test["top1"] > 0.15, f"{method} learned nothing in one epoch: {test}"
    assert ("ece" in test) == (method not in ("devise", "cosine", "cosine-ce"))
    if METHODS[method].uses_embedding:
        assert (run / "embedding.safetensors").is_file()


def test_compare_writes_a_report_with_two_stage_fine_tuning(tmp_path):
    out = tmp_path / "cmp"
    methods = parse_methods("softmax,poincare,poincare>softmax")
    report = run_comparison(methods, TINY, out, progress=False)
    text = report.read_text()
    assert report.name == REPORT_FILE
    for row in ("| softmax |", "| poincare |", "| poincare>softmax |", "mistake severity"):
        assert row in text
    assert "fine-tuned from poincare" in text
    for png in ("accuracy_severity", "severity_histogram", "confusion"):
        assert (out / "plots" / f"{png}.png").stat().st_size > 5_000
    ft = yaml.safe_load((out / "poincare-then-softmax" / "config.yaml").read_text())
    assert ft["train"]["init_from"] == str(out / "poincare") and ft["train"]["epochs"] == 1
    # a fine-tune starts from the first stage's backbone, not from scratch
    start = prepare(replace(TINY, init_from=str(out / "poincare"))).module.net.backbone
    first = read_checkpoint(out / "poincare")["state_dict"]
    for name, value in start.state_dict().items():
        assert torch.equal(value, first[f"net.backbone.{name}"]), name
    # rerunning reuses finished runs (nothing retrains) and rewrites the derived report
    ckpt = out / "poincare" / "checkpoints" / "last.ckpt"
    before = ckpt.stat().st_mtime_ns
    assert run_comparison(methods, TINY, out, progress=False) == out / REPORT_FILE
    assert ckpt.stat().st_mtime_ns == before


def test_bad_input_fails_before_anything_is_written(tmp_path, softmax_run):
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="unknown method"):
        train(replace(TINY, method="softmaxx"), run, progress=False)
    with pytest.raises(ValueError, match="val-fraction"):
        train(replace(TINY, val_fraction=1.5), run, progress=False)
    with pytest.raises(ValueError, match="fashion-mnist"):
        train(replace(TINY, data="no-such-dataset"), run, progress=False)
    with pytest.raises(ValueError, match="label embedding"):
        train(replace(TINY, method="poincare", embedding="hyperbolic"), run, progress=False)
    with pytest.raises(ValueError, match="unknown pretrained embedding 'nope'"):
        train(replace(TINY, method="poincare", embedding="pretrained:nope"), run, progress=False)
    with pytest.raises(ValueError, match="softmax uses no label embedding"):
        train(replace(TINY, embedding="pretrained:nouns-poincare-10d"), run, progress=False)
    with pytest.raises(RunError, match="cannot resume"):
        train(TINY, run, resume=True, progress=False)
    assert not run.exists()
    # an existing run is never replaced without --overwrite, and is left as it was
    existing, _ = softmax_run
    before = {p: p.stat().st_mtime_ns for p in files_in(existing)}
    with pytest.raises(FileExistsError, match="--overwrite"):
        train(TINY, existing, progress=False)
    assert {p: p.stat().st_mtime_ns for p in files_in(existing)} == before
    # a backbone that does not fit the run it should start from
    with pytest.raises(RunError, match="backbone"):
        train(replace(TINY, backbone="resnet18", init_from=str(existing)), run, progress=False)
    assert not run.exists()


def test_cli_train_reports_errors_without_a_traceback(tmp_path):
    result = CliRunner().invoke(app, ["train", str(tmp_path / "r"), "--method", "nope"])
    assert result.exit_code == 2
    assert "unknown method" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not CIFAR.is_dir(), reason="the CIFAR-10 JPEG copy is not on this machine")
def test_an_image_folder_with_plain_names_trains(tmp_path):
    root = tmp_path / "folder"
    for split, count in (("train", 40), ("test", 10)):
        for name in ("cat", "dog", "truck"):
            target = root / split / name
            target.mkdir(parents=True)
            for src in sorted((CIFAR / split / name).iterdir())[:count]:
                (target / src.name).write_bytes(src.read_bytes())
    broken = root / "train" / "dog" / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    config = replace(TINY, data=str(root), val_fraction=0.25)
    with pytest.raises(ValueError, match=r"broken\.jpg"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    # with the flag the file is skipped, and the run's metrics say which
    result = train(replace(config, skip_corrupt=True), tmp_path / "run", progress=False)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["synsets"] == ["cat.n.01", "dog.n.01", "truck.n.01"]
    assert saved["input"]["in_chans"] == 3 and result["test_images"] == 30
    assert result["skipped_files"] == [str(broken)]


def test_an_embedding_without_the_classes_is_refused(tmp_path):
    from labelspace.embeddings.store import LabelEmbedding

    path = tmp_path / "dogs.safetensors"
    LabelEmbedding(["dog.n.01", "cat.n.01"], torch.zeros(2, 3), "random", "euclidean").save(path)
    with pytest.raises(ValueError, match="lacks 10 of the 10 classes"):
        train(replace(TINY, method="devise", embedding=str(path)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def _in_epoch(run: Path, epoch: int) -> bool:
    """Whether training has logged a step of ``epoch`` (each logged row is on disk at once)."""
    try:
        rows = csv.DictReader((run / "logs" / "metrics.csv").read_text().splitlines())
        return any(row.get("epoch") and int(float(row["epoch"])) == epoch for row in rows)
    except (OSError, csv.Error, ValueError):  # not written yet, or a row half written
        return False


def _train_cli(run: Path, *extra: str, test_limit: int = 200) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["train", str(run), "--train-limit", "4096", "--test-limit", str(test_limit)]
    args += ["--epochs", "3"]
    args += ["--batch-size", "64", "--accelerator", "cpu"]
    return subprocess.Popen(
        [*LABELSPACE, *args, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_metrics(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    proc = _train_cli(killed)
    ckpt = killed / "checkpoints" / "last.ckpt"
    # into the second epoch: the first epoch's checkpoint is written before its first step
    deadline = time.monotonic() + 300
    while not _in_epoch(killed, 1) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read() or "training finished before it was killed"
    assert ckpt.exists(), "no checkpoint after the first epoch"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / METRICS_FILE).exists()
    # killed after the first epoch's checkpoint and before the second one's
    assert torch.load(ckpt, weights_only=True)["epoch"] == 0

    resumed = _train_cli(killed, "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()
    uninterrupted = _train_cli(whole)
    assert uninterrupted.wait() == 0, uninterrupted.stderr.read()
    a = json.loads((killed / METRICS_FILE).read_text())
    b = json.loads((whole / METRICS_FILE).read_text())
    assert a["resumed"] and not b["resumed"]
    assert a["test"] == b["test"]
    # the logs hold every epoch once, the ones before the kill included
    logged = [(run / "logs" / "metrics.csv").read_text().splitlines() for run in (killed, whole)]
    assert len(logged[0]) == len(logged[1])


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path):
    run = tmp_path / "ddp"
    # an odd test set: the two processes score unequal shares of it
    proc = _train_cli(run, "--devices", "2", "--strategy", "ddp", test_limit=199)
    assert proc.wait() == 0, proc.stderr.read()
    result = json.loads((run / METRICS_FILE).read_text())
    assert result["test_images"] == 199 and result["test"]["top1"] > 0.3
    # both processes scored the test set; the scores, put back in order, are the ones a
    # single device gives
    both = read_predictions(run)
    again = evaluate_run(run)
    one = read_predictions(run)
    assert torch.equal(both.targets, one.targets)
    torch.testing.assert_close(both.scores, one.scores, rtol=1e-4, atol=1e-4)
    assert again["test"]["top1"] == pytest.approx(result["test"]["top1"])


@pytest.mark.slow
def test_a_compiled_network_trains_and_saves_plain_weights(tmp_path):
    config = replace(TINY, method="softmax", compile=True)
    result = train(config, tmp_path / "compiled", progress=False)
    assert result["test"]["top1"] > 0.3  # ten classes: chance is 0.1
    state = read_checkpoint(tmp_path / "compiled")["state_dict"]
    assert "net.backbone.features.0.weight" in state  # the names torch.compile would prefix
    assert not any("_orig_mod" in key for key in state)
    again = evaluate_run(tmp_path / "compiled")  # rebuilt without compiling, same weights
    assert again["test"]["top1"] == pytest.approx(result["test"]["top1"])
