"""Bad input and faults in training, evaluation, prediction and comparison: every case ends in a
one-line message that names the fix, and nothing is written or lost.

Each test states the message a user sees and what is (not) left on disk."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.embeddings.store import EmbeddingFileError, LabelEmbedding
from labelspace.errors import InputError, OutputExistsError
from labelspace.experiments.compare import run_comparison
from labelspace.hierarchy.sources import load_source
from labelspace.training.config import DivergedError, RunError, TrainConfig
from labelspace.training.evaluate import evaluate_run
from labelspace.training.fit import train
from labelspace.training.runs import LAST_CHECKPOINT, LOG_FILE, METRICS_FILE

TINY = TrainConfig(
    epochs=1, batch_size=32, train_limit=256, test_limit=100, embedding_dim=5, accelerator="cpu"
)


def cli(*args: str):
    """Run the CLI in-process; returns (exit code, everything it printed)."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: a bug, shown as one
    return result.exit_code, result.output


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(trained_runs) -> Path:
    """The session's softmax run (tests that change it work on ``run_copy``)."""
    return trained_runs("softmax")


class CrashError(Exception):
    """A fault that stops training from outside (as a crash or a kill would)."""


class StopAt(Callback):
    """Raises :class:`CrashError` when epoch ``at_epoch`` starts (after the earlier checkpoints)."""

    def __init__(self, at_epoch: int) -> None:
        self.at_epoch = at_epoch

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == self.at_epoch:
            raise CrashError(f"stopped at epoch {self.at_epoch}")


class Poison(StopAt):
    """Breaks one weight when epoch ``at_epoch`` starts: the next loss is NaN."""

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == self.at_epoch:
            with torch.no_grad():
                next(module.parameters()).fill_(float("nan"))


@pytest.fixture(scope="module")
def stopped_template(tmp_path_factory) -> Path:
    """A two-epoch run stopped after its first epoch's checkpoint."""
    run = tmp_path_factory.mktemp("faults") / "stopped"
    with pytest.raises(CrashError):
        train(replace(TINY, epochs=2), run, progress=False, callbacks=[StopAt(at_epoch=1)])
    assert (run / LAST_CHECKPOINT).is_file() and not (run / METRICS_FILE).exists()
    return run


@pytest.fixture
def stopped_run(stopped_template, tmp_path) -> Path:
    copy = tmp_path / "stopped"
    shutil.copytree(stopped_template, copy)
    return copy


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


# --------------------------------------------------------------------------- embedding files
def _fashion_synsets() -> list[str]:
    return list(load_source("fashion-mnist").hierarchy.classes)


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        (lambda n: torch.full((n, 5), float("nan")), "non-finite values"),
        (lambda n: torch.full((n, 5), 0.9), "outside the Poincaré ball"),
    ],
)
def test_an_embedding_file_with_unusable_vectors_is_refused_before_training(
    tmp_path, vectors, message
):
    synsets = _fashion_synsets()
    path = tmp_path / "bad.safetensors"
    LabelEmbedding(synsets, vectors(len(synsets)), "poincare", "poincare", 1.0).save(path)
    with pytest.raises(EmbeddingFileError, match=message):
        LabelEmbedding.load(path)
    run = tmp_path / "run"
    code, out = cli("train", str(run), "--method", "poincare", "--embedding", str(path))
    assert code == 2 and message in out and "labelspace embed" in out
    assert not run.exists()


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--train-limit", "0", "--train-limit must be >= 1"),
        ("--test-limit", "-3", "--test-limit must be >= 1"),
        ("--batch-size", "1", "--batch-size must be >= 2"),
        ("--lr", "nan", "--lr must be a finite number > 0"),
        ("--temperature", "0", "--temperature must be a finite number > 0"),
        ("--label-radius", "-1", "--label-radius must be a finite number >= 0"),
        ("--dim", "0", "--dim must be >= 1"),
        ("--precision", "8-bit", "unknown --precision"),
        ("--augment", "rotate", "unknown --augment"),
        ("--init-from", "no/such/run", "--init-from no/such/run: no such run folder"),
    ],
)
def test_out_of_range_options_are_refused_before_the_folder_is_made(
    tmp_path, option, value, message
):
    run = tmp_path / "run"
    code, out = cli("train", str(run), option, value)
    assert code == 2 and message in " ".join(out.split())
    assert not run.exists()


# --------------------------------------------------------------------------- divergence
def test_a_diverging_softmax_run_stops_at_once_and_leaves_nothing(tmp_path):
    run = tmp_path / "runs" / "softmax"  # the parent folder, too, is made by the run
    with pytest.raises(DivergedError) as caught:
        train(replace(TINY, lr=1e12), run, progress=False)
    message = str(caught.value)
    assert "training diverged" in message and "--lr" in message
    assert "Nothing was kept" in message
    assert list(tmp_path.iterdir()) == []


def test_a_comparison_that_keeps_nothing_leaves_no_folder(tmp_path):
    out = tmp_path / "studies" / "cmp"
    with pytest.raises(RunError, match=r"every run failed: softmax .*training diverged.*poincare"):
        run_comparison(["softmax", "poincare"], replace(TINY, lr=1e12), out, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_divergence_after_a_good_epoch_keeps_that_epoch_for_resume(stopped_run):
    checkpoint = (stopped_run / LAST_CHECKPOINT).read_bytes()
    with pytest.raises(DivergedError, match="keeps the last good epoch"):
        train(TINY, stopped_run, resume=True, progress=False, callbacks=[Poison(at_epoch=1)])
    assert (stopped_run / LAST_CHECKPOINT).read_bytes() == checkpoint
    assert not (stopped_run / METRICS_FILE).exists()


def test_evaluating_weights_that_give_non_finite_scores_names_the_cause(run_copy):
    ckpt = torch.load(run_copy / LAST_CHECKPOINT, weights_only=True)
    ckpt["state_dict"] = {k: v.float() * float("nan") for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, run_copy / LAST_CHECKPOINT)
    metrics = (run_copy / METRICS_FILE).read_bytes()
    with pytest.raises(DivergedError, match="non-finite class scores"):
        evaluate_run(run_copy)
    assert (run_copy / METRICS_FILE).read_bytes() == metrics


# --------------------------------------------------------------------------- resume
def test_resume_appends_to_the_logs(stopped_run, tmp_path):
    def logged(run: Path) -> list[dict[str, str]]:
        with (run / LOG_FILE).open(newline="") as handle:
            return list(csv.DictReader(handle))

    before = logged(stopped_run)
    assert {r["epoch"] for r in before} == {"0"}
    train(TINY, stopped_run, resume=True, progress=False)
    after = logged(stopped_run)
    assert after[: len(before)] == before  # the first epoch's rows survive as they were
    whole = tmp_path / "whole"
    train(replace(TINY, epochs=2), whole, progress=False)
    assert len(after) == len(logged(whole))  # as many rows as a run never stopped


def test_a_run_stopped_before_its_first_checkpoint_points_to_overwrite(run_copy):
    (run_copy / LAST_CHECKPOINT).unlink()
    (run_copy / METRICS_FILE).unlink()
    before = snapshot(run_copy)
    code, out = cli("train", str(run_copy))
    assert code == 2 and "--overwrite" in out and "no checkpoint" in " ".join(out.split())
    code, out = cli("train", str(run_copy), "--resume")
    assert code == 2 and "--overwrite" in out and "cannot resume" in out
    assert snapshot(run_copy) == before


def test_a_finished_run_is_not_replaced_and_says_how(finished_run):
    before = snapshot(finished_run)
    with pytest.raises(OutputExistsError, match="finished run; pass --overwrite"):
        train(TINY, finished_run, progress=False)
    assert snapshot(finished_run) == before


def test_a_run_path_below_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    code, out = cli("train", str(tmp_path / "file" / "run"))
    assert code == 2 and "is a file, not a folder" in " ".join(out.split())


def test_evaluate_without_a_checkpoint_fails_before_decoding_the_data(run_copy):
    (run_copy / LAST_CHECKPOINT).unlink()
    decoded = []
    with pytest.raises(RunError, match="train it first"):
        evaluate_run(run_copy, on_progress=lambda done, total: decoded.append(done))
    assert decoded == []


# --------------------------------------------------------------------------- predict
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-k", "-1"), "--top (-k) must be >= 1"),
        (("-k", "0"), "--top (-k) must be >= 1"),
        (("--backoff", "1.5"), "--backoff must lie in [0, 1]"),
    ],
)
def test_predict_refuses_out_of_range_options(finished_run, tmp_path, args, message):
    png = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(png)
    code, out = cli("predict", str(finished_run), str(png), *args)
    assert code == 2 and message in out


# --------------------------------------------------------------------------- compare
@pytest.mark.parametrize(
    ("unseen", "message"),
    [
        ("unicorn", "--unseen names no class of this dataset: unicorn"),
        (
            "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot",
            "--unseen leaves 0 seen classes",
        ),
    ],
)
def test_compare_checks_unseen_before_making_its_folder(tmp_path, unseen, message):
    out = tmp_path / "cmp"
    with pytest.raises(InputError, match=message):
        run_comparison(["softmax", "poincare"], replace(TINY, unseen=unseen.split(",")), out)
    assert not out.exists()


def test_compare_checks_every_method_before_training_the_first(tmp_path):
    out = tmp_path / "cmp"
    code, text = cli("compare", str(out), "--methods", "softmax,poincare", "--temperature", "0")
    assert code == 2 and "--temperature must be a finite number > 0" in text
    assert not out.exists()


def test_softmax_with_unseen_classes_says_it_cannot_score_them(tmp_path):
    result = train(replace(TINY, unseen=["Sneaker"]), tmp_path / "run", progress=False)
    zero_shot = result["zero_shot"]
    assert "cannot score classes it never saw" in zero_shot["note"]
    assert zero_shot["gzsl_unseen_top1"] != zero_shot["gzsl_unseen_top1"]  # NaN: not measured
    assert 0 < zero_shot["seen_top1"] <= 1


# --------------------------------------------------------------------------- messages
def test_warnings_are_one_line_without_a_source_path():
    # a real process: pytest captures warnings before the CLI's own handler would see them
    done = subprocess.run(
        [sys.executable, "-m", "labelspace", "hierarchy", "cat,dog", "--no-tree"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "senses" in done.stderr
    assert ".py:" not in done.stderr and "warnings.warn" not in done.stderr


@pytest.mark.slow  # the fast suite resumes softmax runs (test_resume_appends_to_the_logs)
@pytest.mark.parametrize("method", ["frame", "joint", "haf"])
def test_a_stopped_run_of_a_new_method_resumes_to_the_same_metrics(tmp_path, method):
    """Methods added for the accuracy study resume like the others: stopped after its first
    epoch and resumed, a run ends with exactly an uninterrupted run's metrics."""
    config = replace(TINY, method=method, epochs=2)
    whole = train(config, tmp_path / "whole", progress=False)
    with pytest.raises(CrashError):
        train(config, tmp_path / "stopped", progress=False, callbacks=[StopAt(at_epoch=1)])
    resumed = train(config, tmp_path / "stopped", resume=True, progress=False)
    assert resumed["test"] == whole["test"]
