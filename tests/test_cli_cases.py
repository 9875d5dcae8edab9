"""Issue 25's cases through the command line: each one's exit status, its one-line message
and the files it leaves (overlays of images that share a name, a frozen random backbone,
a run given to --pretrained, ...)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from labelspace.analysis.saliency import overlay_stems, unique_names
from labelspace.cli import app
from labelspace.data.fashion_mnist import read_fashion_mnist
from labelspace.training.runs import LAST_CHECKPOINT, read_checkpoint

runner = CliRunner()
QUICK = ["--epochs", "1", "--train-limit", "256", "--test-limit", "64", "--batch-size", "64"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    """The command's error: exactly one line starting with ``error:``."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())  # rich may wrap the line at the terminal width


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Fashion-MNIST test images saved as a/0.png, b/0.png, c/0.png (one name, three
    folders) and a/0.jpg."""
    root = tmp_path_factory.mktemp("own-images")
    pixels, _ = read_fashion_mnist(train=False)
    for i, folder in enumerate("abc"):
        (root / folder).mkdir()
        Image.fromarray(pixels[i, 0].numpy()).save(root / folder / "0.png")
    Image.fromarray(pixels[5, 0].numpy()).save(root / "a" / "0.jpg")
    return root


# ------------------------------------------------------------------ 2: explain's overlays
def test_explain_keeps_an_overlay_per_image_when_names_are_shared(trained_runs, images, tmp_path):
    run = trained_runs("softmax")
    out = tmp_path / "maps"
    paths = [images / f / "0.png" for f in "abc"]
    done = invoke("explain", run, *paths, "--out", out)
    assert done.exit_code == 0, done.output
    written = sorted(p.name for p in out.iterdir())
    assert "wrote 9 overlays" in done.output and len(written) == 9
    for folder in "abc":  # each image keeps its own three, named by its folder
        assert sum(name.startswith(f"{folder}_0-") for name in written) == 3


def test_overlay_names_are_told_apart_only_where_they_clash():
    assert overlay_stems([Path("x/boot.png"), Path("y/shoe.png")]) == ["boot", "shoe"]
    assert overlay_stems([Path("a/0.png"), Path("b/0.png"), Path("c/1.png")]) == [
        "a_0",
        "b_0",
        "1",
    ]
    assert overlay_stems([Path("a/0.png"), Path("a/0.jpg")]) == ["0_png", "0_jpg"]
    assert overlay_stems([Path("p/x/0.png"), Path("q/x/0.png")]) == ["p_x_0", "q_x_0"]
    # one image given twice, and names that differ only in case (one file on some systems)
    assert overlay_stems([Path("a/0.png"), Path("a/0.png")]) == ["0", "0_2"]
    assert overlay_stems([Path("a/Boot.png"), Path("b/boot.png")]) == ["a_Boot", "b_boot"]
    assert unique_names(["m.png", "M.png", "m.png"], suffix=".png") == [
        "m.png",
        "M_2.png",
        "m_3.png",
    ]


# ------------------------------------------------------------- 14: a frozen random backbone
def test_freeze_backbone_without_weights_is_refused_before_anything_is_written(tmp_path):
    run = tmp_path / "probe"
    done = invoke("train", run, "--freeze-backbone", *QUICK)
    assert done.exit_code == 2
    text = one_error_line(done)
    assert "--freeze-backbone" in text and "--pretrained FILE" in text and "--init-from" in text
    assert not run.exists()
    out = tmp_path / "cmp"
    done = invoke("compare", out, "--methods", "softmax", "--freeze-backbone", *QUICK)
    assert done.exit_code == 2 and "--pretrained FILE" in one_error_line(done)
    assert not out.exists()


@pytest.mark.slow  # trains a one-epoch probe
def test_freeze_backbone_from_another_run_trains_a_probe_on_its_features(trained_runs, tmp_path):
    source = trained_runs("softmax")
    run = tmp_path / "probe"
    done = invoke("train", run, "--init-from", source, "--freeze-backbone", *QUICK)
    assert done.exit_code == 0, done.output
    before, after = read_checkpoint(source)["state_dict"], read_checkpoint(run)["state_dict"]
    backbone = [k for k in before if k.startswith("net.backbone.")]
    assert backbone and all(torch.equal(before[k], after[k]) for k in backbone)


# ------------------------------------------------------------ 18: a run given to --pretrained
def test_a_run_or_its_checkpoint_given_to_pretrained_points_to_init_from(trained_runs, tmp_path):
    source = trained_runs("softmax")
    run = tmp_path / "run"
    for given in (source, source / LAST_CHECKPOINT):
        done = invoke("train", run, "--pretrained", given, *QUICK)
        assert done.exit_code == 2
        assert f"--init-from {source}" in one_error_line(done)
        assert not run.exists()
    folder = tmp_path / "weights"
    folder.mkdir()
    done = invoke("train", run, "--pretrained", folder, *QUICK)
    assert done.exit_code == 2 and "is a folder; give a weights file" in one_error_line(done)
    done = invoke("train", run, "--init-from", source / LAST_CHECKPOINT, *QUICK)
    assert done.exit_code == 2 and f"pass --init-from {source}" in one_error_line(done)
    assert not run.exists()


def test_a_moved_labelspace_checkpoint_is_recognised_by_its_weights(trained_runs, tmp_path):
    moved = tmp_path / "model.ckpt"
    shutil.copy(trained_runs("softmax") / LAST_CHECKPOINT, moved)
    run = tmp_path / "run"
    done = invoke("train", run, "--pretrained", moved, *QUICK)
    assert done.exit_code == 2
    text = one_error_line(done)
    assert "is a labelspace checkpoint" in text and "--init-from RUN" in text
    assert not run.exists()
