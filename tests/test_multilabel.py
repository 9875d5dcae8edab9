"""Several labels from single-label training: calibrated label sets, composites, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from labelspace.analysis.multilabel import (
    CALIBRATION_FILE,
    calibrate,
    composite_images,
    label_sets,
    multilabel_metrics,
    tree_lines,
)
from labelspace.cli import app
from labelspace.training.load import load_run

runner = CliRunner()


@pytest.fixture(scope="module")
def run(trained_runs, tmp_path_factory):
    """A copy of the session's softmax run: label sets write their calibration into it."""
    return trained_runs.copy("softmax", tmp_path_factory.mktemp("multi") / "softmax")


def test_the_threshold_holds_the_true_class_of_the_asked_share_of_validation_images(run):
    prepared = load_run(run, ("model", "data"))
    torch.manual_seed(0)
    logits = torch.randn(99, 10) * 3
    targets = torch.randint(0, 10, (99,))
    calibration = calibrate(prepared.module, logits, targets, 0.9)
    assert calibration.score == "probabilities" and calibration.validation_images == 99
    true = logits.softmax(-1).gather(1, targets[:, None]).squeeze(1)
    # split conformal: the floor(0.1 * 100) = 10th smallest true-class probability
    assert calibration.threshold == pytest.approx(float(true.sort().values[9]))
    covered = (true >= calibration.threshold).double().mean()
    assert covered >= 0.9
    tighter = calibrate(prepared.module, logits, targets, 0.5)
    assert tighter.threshold > calibration.threshold  # a lower coverage, a higher bar
    with pytest.raises(ValueError, match="coverage"):
        calibrate(prepared.module, logits, targets, 1.0)


def test_label_sets_always_hold_the_top_class():
    values = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    chosen = label_sets(values, threshold=0.9)  # nothing reaches it: the top class stays
    assert chosen.tolist() == [[True, False, False], [False, False, True]]
    assert label_sets(values, 0.25).sum(1).tolist() == [2, 1]


def test_composites_pair_different_classes_and_keep_each_image_where_it_was_put():
    torch.manual_seed(0)
    images = torch.rand(12, 1, 8, 8)
    targets = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    side, pairs = composite_images(images, targets, 50, "side-by-side", seed=3)
    again, same_pairs = composite_images(images, targets, 50, "side-by-side", seed=3)
    assert torch.equal(side, again) and torch.equal(pairs, same_pairs)  # seeded
    assert side.shape == (50, 1, 8, 8) and pairs.shape == (50, 2)
    assert bool((pairs[:, 0] != pairs[:, 1]).all())
    pasted, _ = composite_images(images, targets, 50, "pasted", seed=3)
    assert pasted.shape == images[:1].expand(50, -1, -1, -1).shape
    with pytest.raises(ValueError, match="composition"):
        composite_images(images, targets, 5, "collage")
    with pytest.raises(ValueError, match="two classes"):
        composite_images(images[:3], targets[:3], 5, "pasted")


def test_pasting_keeps_three_quarters_of_the_first_image():
    images = torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)])
    out, pairs = composite_images(images, torch.tensor([0, 1]), 20, "pasted", seed=0)
    for composite, (a, _) in zip(out, pairs.tolist(), strict=True):
        background = 0.0 if a == 0 else 1.0
        assert float((composite == background).float().mean()) == 0.75
        assert float((composite == 1.0 - background).float().mean()) == 0.25


def test_multilabel_metrics_by_hand():
    values = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])
    pairs = torch.tensor([[0, 1], [1, 2]])
    m = multilabel_metrics(values, pairs, threshold=0.25)
    # image 0: top-2 {0, 1} holds both, set {0, 1}; image 1: top-2 {0, 2}, set {0, 2}
    assert m == {"both_in_top2": 0.5, "both_in_set": 0.5, "one_in_set": 1.0, "set_size": 2.0}


def test_tree_lines_show_shared_ancestors_once():
    lines = tree_lines([["cat", "feline", "animal"], ["dog", "canine", "animal"]])
    assert lines == ["animal", "  feline", "    cat", "  canine", "    dog"]


def test_predict_multi_and_analyze_multi_from_the_cli(run, tmp_path):
    image = tmp_path / "grey.png"
    Image.new("L", (28, 28), 120).save(image)
    done = runner.invoke(app, ["predict", str(run), str(image), "--multi"])
    assert done.exit_code == 0, done.output
    assert "label(s)" in done.output and "entity" in done.output
    saved = json.loads((run / CALIBRATION_FILE).read_text())["calibrations"]
    assert [c["coverage"] for c in saved] == [0.9]
    # a second call reuses the calibration; another coverage adds one
    assert runner.invoke(app, ["predict", str(run), str(image), "--multi"]).exit_code == 0
    runner.invoke(app, ["predict", str(run), str(image), "--multi", "--coverage", "0.5"])
    saved = json.loads((run / CALIBRATION_FILE).read_text())["calibrations"]
    assert [c["coverage"] for c in saved] == [0.9, 0.5]
    done = runner.invoke(
        app,
        ["analyze", str(run), "--multi", "--multi-images", "100", "--attack-images", "20",
         "--feature-images", "50", "--feature-map", "pca"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    multi = json.loads((run / "analysis.json").read_text())["multilabel"]
    assert multi["images"] == 100 and set(multi) >= {"single", "side-by-side", "pasted"}
    assert 0 < multi["pasted"]["set_size"] <= 10
    # the same analysis again keeps every section without loading the run's predictions
    before = (run / "analysis.json").read_text()
    predictions = run / "predictions.safetensors"
    predictions.rename(tmp_path / "predictions.safetensors")
    try:
        again = runner.invoke(
            app,
            ["analyze", str(run), "--multi", "--multi-images", "100", "--attack-images", "20",
             "--feature-images", "50", "--feature-map", "pca"],
        )  # fmt: skip
    finally:
        (tmp_path / "predictions.safetensors").rename(predictions)
    assert again.exit_code == 0, again.output
    assert (run / "analysis.json").read_text() == before


def test_predict_multi_refuses_bad_input_and_writes_nothing(tmp_path, run):
    fresh = tmp_path / "copy"
    import shutil

    shutil.copytree(run, fresh)
    (fresh / CALIBRATION_FILE).unlink(missing_ok=True)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    done = runner.invoke(app, ["predict", str(fresh), str(text), "--multi"])
    assert done.exit_code != 0 and "not a readable image" in done.output
    assert "BytesIO" not in done.output  # the file is named, not a buffer
    assert not (fresh / CALIBRATION_FILE).exists()
    done = runner.invoke(app, ["predict", str(fresh), str(text), "--multi", "--coverage", "1.5"])
    assert done.exit_code != 0 and "--coverage" in done.output
