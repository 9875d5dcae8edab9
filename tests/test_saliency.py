"""Where the model looks: Captum saliency maps, the explain command, and box scores."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from labelspace.analysis.saliency import (
    SaliencyError,
    box_in_input,
    box_scores,
    last_convolution,
    saliency_maps,
)
from labelspace.cli import app
from labelspace.data.fashion_mnist import read_fashion_mnist
from labelspace.training.load import load_run

runner = CliRunner()


@pytest.fixture(scope="module")
def run(trained_runs):
    """The session's softmax run (the tests here only read it)."""
    return trained_runs("softmax")


@pytest.fixture(scope="module")
def shoe(tmp_path_factory):
    images, _ = read_fashion_mnist(train=False)
    path = tmp_path_factory.mktemp("images") / "boot.png"
    Image.fromarray(images[0, 0].numpy()).save(path)
    return path


@pytest.mark.parametrize("method", ["gradcam", "ig"])
def test_maps_lie_in_0_1_and_follow_the_image(run, method):
    prepared = load_run(run, ("model", "data"))
    images = torch.stack([prepared.test_set[i][0] for i in range(4)])
    targets = torch.tensor([prepared.test_set[i][1] for i in range(4)])
    maps = saliency_maps(prepared.module, images, targets, method)
    assert maps.shape == (4, 28, 28)
    assert float(maps.min()) >= 0 and torch.allclose(maps.flatten(1).max(1).values, torch.ones(4))
    # an empty image has nothing to point at: its map differs from a real image's
    blank = torch.full_like(images[:1], float(images.min()))
    assert not torch.allclose(saliency_maps(prepared.module, blank, targets[:1], method), maps[:1])


def test_a_backbone_without_convolution_is_a_clear_error(run):
    prepared = load_run(run, ("model", "data"))
    prepared.module.net.backbone = nn.Sequential(nn.Flatten(), nn.Linear(784, 256))
    with pytest.raises(SaliencyError, match="--saliency ig"):
        last_convolution(prepared.module)


def test_box_scores_by_hand():
    maps = torch.zeros(2, 4, 4)
    maps[0, 1, 1] = 1.0  # peak inside the box (0, 0)-(1, 1)
    maps[0, 3, 3] = 1.0 / 3
    maps[1, 3, 0] = 1.0  # peak outside
    maps[1, 0, 0] = 1.0 / 4
    scores = box_scores(maps, [(0, 0, 1, 1), (0, 0, 1, 1)])
    assert scores["pointing_game"] == 0.5
    assert scores["mass_in_box"] == pytest.approx((0.75 + 0.2) / 2)
    assert scores["box_area"] == pytest.approx(4 / 16) and scores["images"] == 2


def test_boxes_follow_the_resize_policy_into_the_input():
    # a square image halves; a 100 x 50 image: height to 32 (x 0.64), then the centre 32 columns
    assert box_in_input((10, 20, 41, 51), (64, 64), 32) == (5, 10, 20, 25)
    assert box_in_input((0, 0, 99, 49), (100, 50), 32) == (0, 0, 31, 31)
    assert box_in_input((60, 10, 69, 19), (100, 50), 32) == (22, 6, 27, 11)  # edges 22.4, 27.8
    assert box_in_input((3, 4, 5, 6), (32, 32), 32) == (3, 4, 5, 6)


def test_saliency_needs_a_dataset_with_boxes(run):
    before = (run / "analysis.json").read_text() if (run / "analysis.json").exists() else None
    done = runner.invoke(app, ["analyze", str(run), "--saliency", "--attack-images", "10"])
    assert done.exit_code != 0 and "has no object boxes" in done.output
    after = (run / "analysis.json").read_text() if (run / "analysis.json").exists() else None
    assert after == before


def test_explain_writes_one_overlay_per_image_and_label(run, shoe, tmp_path):
    out = tmp_path / "maps"
    done = runner.invoke(app, ["explain", str(run), str(shoe), "--out", str(out), "-k", "2"])
    assert done.exit_code == 0, done.output
    written = sorted(p.name for p in out.iterdir())
    assert (
        len(written) == 2 and written[0].startswith("boot-1-") and written[1].startswith("boot-2-")
    )
    assert all(Image.open(out / name).format == "PNG" for name in written)
    # an existing, non-empty folder is kept unless --overwrite
    again = runner.invoke(app, ["explain", str(run), str(shoe), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_explain_refuses_bad_input_and_writes_nothing(run, shoe, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    out = tmp_path / "maps"
    done = runner.invoke(app, ["explain", str(run), str(shoe), str(text), "--out", str(out)])
    assert done.exit_code != 0 and "not a readable image" in done.output
    assert not out.exists()
    done = runner.invoke(
        app, ["explain", str(run), str(shoe), "--out", str(out), "--saliency", "x"]
    )
    assert done.exit_code != 0 and "gradcam or ig" in done.output
    assert not out.exists()
