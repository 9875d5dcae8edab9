"""Users' own images, end to end through the CLI: folders of JPEGs of many sizes, the official
Tiny ImageNet layout streamed, a CSV manifest, packed shards (also under two-process DDP),
pretrained and frozen backbones, and evaluation that fails after training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.data.datasets import load_dataset
from labelspace.data.images_io import read_image
from labelspace.data.module import ImageDataModule
from labelspace.models.backbones import create_backbone
from labelspace.training.runs import LAST_CHECKPOINT, METRICS_FILE, read_checkpoint

runner = CliRunner()
CLASSES = ("dog.n.01", "cat.n.01", "truck.n.01")
LABELSPACE = [sys.executable, "-m", "labelspace"]
QUICK = ("--epochs", "1", "--batch-size", "8", "--accelerator", "cpu")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Messages on one line: rich wraps at the terminal width, which it reads from COLUMNS."""
    monkeypatch.setenv("COLUMNS", "2000")


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def save_image(path: Path, rng: np.random.Generator, size: tuple[int, int], gray=False) -> None:
    """A random image of ``size`` (width, height) whose mean colour depends on its class."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if gray else (size[1], size[0], 3)
    base = 60 + 60 * CLASSES.index(path.parent.name) if path.parent.name in CLASSES else 128
    pixels = np.clip(rng.normal(base, 40, shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


SIZES = ((40, 30), (33, 50), (64, 64), (20, 24), (48, 36))


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """train/ and test/ of JPEGs of five sizes, with hidden files as users' copies have."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for split, n in (("train", 12), ("test", 4)):
        for c in CLASSES:
            for i in range(n):
                save_image(root / split / c / f"{i}.jpg", rng, SIZES[i % len(SIZES)])
            (root / split / c / ".DS_Store").write_bytes(b"\x00\x01junk")
    return root


def test_images_of_many_sizes_train_evaluate_and_predict_at_one_size(mixed_folder, tmp_path):
    out = tmp_path / "run"
    refused = run("train", out, "--data", mixed_folder, *QUICK)
    assert refused.exit_code == 2 and "pass --image-size N" in refused.output
    assert not out.exists()

    result = run("train", out, "--data", mixed_folder, "--image-size", "16", *QUICK)
    assert result.exit_code == 0, result.output
    config = (out / "config.yaml").read_text()
    assert "image_size: 16" in config
    metrics = json.loads((out / METRICS_FILE).read_text())
    assert metrics["test_images"] == 12

    evaluated = run("evaluate", out)
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads((out / METRICS_FILE).read_text())["test"] == metrics["test"]

    image = mixed_folder / "test" / "dog.n.01" / "1.jpg"  # 33 x 50: not square
    predicted = run("predict", out, image, "-k", "2")
    assert predicted.exit_code == 0, predicted.output
    assert str(image) in predicted.output


def test_one_resize_policy_in_memory_streamed_and_for_predict(mixed_folder):
    """The pixels a model sees are the same whichever way the images are read."""
    memory = load_dataset(str(mixed_folder), image_size=16, storage="memory")
    streamed = load_dataset(str(mixed_folder), image_size=16, storage="streaming")
    assert (memory.storage, streamed.storage) == ("memory", "streaming")
    # small data: the streamed statistics come from every image, as in memory
    assert (memory.mean, memory.std) == (streamed.mean, streamed.std)
    for i in range(len(memory.test)):
        torch.testing.assert_close(memory.test[i][0], streamed.test[i][0])
    # the policy: shorter side to 16, then the centre; never squashed
    path = streamed.test.source(1)
    pixels = read_image(path, channels=3, size=16)
    with Image.open(path) as img:
        assert img.size == (33, 50)
        expected = (
            img.convert("RGB").resize((16, 24), Image.Resampling.BILINEAR).crop((0, 4, 16, 20))
        )
    assert torch.equal(pixels, torch.from_numpy(np.array(expected)).permute(2, 0, 1))
    assert torch.equal(memory.test.images[1], pixels)

    # the data module splits both alike
    kwargs = {"batch_size": 4, "seed": 0, "val_fraction": 0.25}
    a, b = ImageDataModule(memory, **kwargs), ImageDataModule(streamed, **kwargs)
    assert torch.equal(a.val_set.targets, b.val_set.targets)
    assert b.workers >= 1 and a.workers == 0  # streamed images are decoded in workers
    # their loaders deliver uint8 batches, normalised on arrival to the per-image pixels
    for module in (a, b):
        module.workers = 0
        images, targets = next(iter(module.test_dataloader()))
        assert images.dtype == torch.uint8
        normalised, _ = module.on_after_batch_transfer((images, targets), 0)
        per_image = torch.stack([module.test_set[i][0] for i in range(len(targets))])
        assert torch.equal(normalised, per_image)


def make_tiny_imagenet(root: Path, wnids=("n02085620", "n02123045", "n04467665")) -> Path:
    """The official Tiny ImageNet layout (chihuahua, tabby, trailer truck), 64 px."""
    rng = np.random.default_rng(1)
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\r\n".join(wnids) + "\r\n")
    lines = []
    for k, wnid in enumerate(wnids):
        images = root / "train" / wnid / "images"
        for i in range(10):
            save_image(images / f"{wnid}_{i}.JPEG", rng, (64, 64))
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
        for i in range(3):
            name = f"val_{3 * k + i}.JPEG"
            save_image(root / "val" / "images" / name, rng, (64, 64))
            lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "val" / "images" / ".DS_Store").write_bytes(b"junk")
    (root / "train" / wnids[0] / ".DS_Store").write_bytes(b"junk")
    return root


def test_tiny_imagenet_layout_streams_and_evaluates(tmp_path):
    root = make_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    out = tmp_path / "run"
    result = run(
        "train", out, "--data", root, "--streaming", "--image-size", "32", "--workers", "1",
        *QUICK,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / METRICS_FILE).read_text())
    assert metrics["data_storage"] == "streaming" and metrics["test_images"] == 9
    assert "synsets:\n- chihuahua.n.03" in (out / "config.yaml").read_text()


def test_a_class_that_is_an_ancestor_of_another_trains_and_evaluates(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "furniture"
    for split, n in (("train", 10), ("test", 3)):
        for c in ("chair", "windsor_chair", "wheelchair"):
            for i in range(n):
                save_image(root / split / c / f"{i}.png", rng, (16, 16))
    out = tmp_path / "run"
    result = run("train", out, "--data", root, "--method", "poincare", "--dim", "4", *QUICK)
    assert result.exit_code == 0, result.output
    assert "severity" in result.output
    saved = (out / "config.yaml").read_text()
    assert "- chair.n.01\n" in saved  # the class keeps its synset; its leaf is re-derived
    evaluated = run("evaluate", out)
    assert evaluated.exit_code == 0, evaluated.output
    hedged = run("predict", out, root / "test" / "windsor_chair" / "0.png", "--backoff", "0.5")
    assert hedged.exit_code == 0, hedged.output


def test_a_csv_manifest_trains(mixed_folder, tmp_path):
    manifest = tmp_path / "manifest.csv"
    rows = ["path,label,split"]
    for split in ("train", "test"):
        for c in CLASSES:
            for i in range(4 if split == "test" else 12):
                rows.append(f"{mixed_folder.name}/{split}/{c}/{i}.jpg,{c},{split}")
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    result = run("train", out, "--data", manifest, "--image-size", "16", *QUICK)
    assert result.exit_code == 0, result.output
    assert json.loads((out / METRICS_FILE).read_text())["test_images"] == 12


def test_packed_shards_train_and_refuse_what_does_not_apply(mixed_folder, tmp_path):
    shards = tmp_path / "shards"
    packed = run("pack", mixed_folder, shards)
    assert packed.exit_code == 0, packed.output
    assert "packed 36 train and 12 test images of 3 classes" in packed.output
    again = run("pack", mixed_folder, shards)
    assert again.exit_code == 2 and "--overwrite" in again.output

    out = tmp_path / "run"
    for bad, message in (
        (("--mapping", tmp_path / "m.tsv"), "were packed"),
        (("--in-memory",), "always streamed"),
    ):
        (tmp_path / "m.tsv").write_text("dog\tdog.n.01\n")
        refused = run("train", out, "--data", shards, "--image-size", "16", *bad, *QUICK)
        assert refused.exit_code == 2 and message in refused.output
        assert not out.exists()
    result = run("train", out, "--data", shards, "--image-size", "16", *QUICK)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / METRICS_FILE).read_text())
    assert metrics["data_storage"] == "shards" and metrics["test_images"] == 12


@pytest.mark.slow
def test_packed_shards_train_under_two_process_ddp(mixed_folder, tmp_path):
    shards = tmp_path / "shards"
    assert run("pack", mixed_folder, shards).exit_code == 0
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["train", str(out), "--data", str(shards), "--image-size", "16", *QUICK]
    proc = subprocess.run(
        [*LABELSPACE, *args, "--devices", "2", "--strategy", "ddp", "--workers", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / METRICS_FILE).read_text())["test_images"] == 12


def test_pretrained_weights_and_a_frozen_backbone(mixed_folder, tmp_path):
    torch.manual_seed(7)
    backbone, _ = create_backbone("small-cnn", 3, 16)
    weights = tmp_path / "small-cnn.safetensors"
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(weights))
    out = tmp_path / "probe"
    result = run(
        "train", out, "--data", mixed_folder, "--image-size", "16", "--pretrained", weights,
        "--freeze-backbone", *QUICK,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    state = read_checkpoint(out)["state_dict"]
    for key, value in backbone.state_dict().items():  # frozen: weights and BN statistics kept
        assert torch.equal(state[f"net.backbone.{key}"], value), key
    # the run loads without the weights file
    weights.unlink()
    assert run("evaluate", out).exit_code == 0

    missing = run("train", tmp_path / "x", "--data", mixed_folder, "--pretrained", weights)
    assert missing.exit_code == 2 and "no such file" in missing.output
    assert not (tmp_path / "x").exists()


def test_an_evaluation_that_fails_keeps_the_model_and_evaluate_finishes_it(mixed_folder, tmp_path):
    broken = mixed_folder / "test" / "cat.n.01" / "2.jpg"
    good = broken.read_bytes()
    broken.write_bytes(good[: len(good) // 3])  # truncated: read only when evaluating
    out = tmp_path / "run"
    result = run("train", out, "--data", mixed_folder, "--image-size", "16", "--streaming",
                 "--workers", "0", *QUICK)  # fmt: skip
    assert result.exit_code == 2
    assert "training finished" in result.output
    assert f"labelspace evaluate {out}" in result.output
    assert (out / LAST_CHECKPOINT).is_file() and not (out / METRICS_FILE).exists()
    again = run("train", out, "--data", mixed_folder, "--image-size", "16", *QUICK)
    assert again.exit_code == 2 and "was not evaluated" in again.output

    broken.write_bytes(good)
    finished = run("evaluate", out)
    assert finished.exit_code == 0, finished.output
    metrics = json.loads((out / METRICS_FILE).read_text())
    assert metrics["test_images"] == 12 and metrics["train_seconds"] > 0


def test_a_comparison_continues_past_a_failed_method_and_reports_it(mixed_folder, tmp_path):
    from labelspace.embeddings.store import LabelEmbedding

    other = tmp_path / "other.safetensors"  # an embedding of other classes: devise fails
    LabelEmbedding(["a.n.01", "b.n.01"], torch.randn(2, 4), "random", "euclidean").save(other)
    out = tmp_path / "cmp"
    result = run(
        "compare", out, "--data", mixed_folder, "--image-size", "16", "--methods",
        f"softmax,devise@{other}", "--no-analyze", "--epochs", "1", "--batch-size", "8",
        "--accelerator", "cpu",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "1 run(s) failed" in result.output and "devise@" in result.output
    assert (out / "softmax" / METRICS_FILE).is_file()
    report = (out / "report.md").read_text()
    assert "## Runs that failed" in report and "softmax" in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--image-size", "0"), "--image-size must be >= 1"),
        (("--data", "fashion-mnist", "--streaming"), "always held in memory"),
        (("--data", "fashion-mnist", "--image-size", "32"), "fashion-mnist images are 28x28"),
    ],
)
def test_bad_data_options_are_refused_before_anything_is_written(tmp_path, args, message):
    out = tmp_path / "run"
    result = run("train", out, *args, *QUICK)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def _no_train_folder(root: Path) -> Path:
    (root / "photos" / "test" / "dog.n.01").mkdir(parents=True)
    return root / "photos"


def _csv_without_label(root: Path) -> Path:
    root.mkdir()
    (root / "m.csv").write_text("path,class\na.jpg,dog\n")
    return root / "m.csv"


def _csv_with_a_missing_file(root: Path) -> Path:
    root.mkdir()
    (root / "m.csv").write_text("path,label,split\nnone.jpg,dog.n.01,train\n")
    return root / "m.csv"


def _tiny_imagenet_with_an_unknown_wnid(root: Path) -> Path:
    tiny = make_tiny_imagenet(root / "tiny-imagenet-200")
    with (tiny / "val" / "val_annotations.txt").open("a") as handle:
        handle.write("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    return tiny


def _flat_ilsvrc_val_without_solutions(root: Path) -> Path:
    rng = np.random.default_rng(3)
    for wnid in ("n02085620", "n02123045"):
        save_image(root / "ilsvrc" / "train" / wnid / "a.JPEG", rng, (16, 16))
    save_image(root / "ilsvrc" / "val" / "ILSVRC2012_val_00000001.JPEG", rng, (16, 16))
    return root / "ilsvrc"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_no_train_folder, "not a dataset in a known layout"),
        (_csv_without_label, "lacks the column(s) label"),
        (_csv_with_a_missing_file, "none.jpg does not exist"),
        (_tiny_imagenet_with_an_unknown_wnid, "not in wnids.txt"),
        (_flat_ilsvrc_val_without_solutions, "no LOC_val_solution.csv"),
    ],
)
def test_bad_layouts_say_what_was_found_and_write_nothing(tmp_path, make, message):
    data = make(tmp_path / "data")
    before = files_in(tmp_path)
    for command in (("train", tmp_path / "run", "--data", data), ("pack", data, tmp_path / "s")):
        result = run(*command)
        assert result.exit_code == 2 and message in result.output, result.output
        assert files_in(tmp_path) == before


def test_saliency_is_measured_against_tiny_imagenet_boxes(tmp_path):
    """analyze --saliency reads val_annotations.txt and maps each box into the model's input:
    boxes over the top-left quarter of the 64 px images cover a quarter of the 32 px input."""
    root = make_tiny_imagenet(tmp_path / "tiny-imagenet-200")
    annotations = root / "val" / "val_annotations.txt"
    quarter = [
        "\t".join([*line.split("\t")[:2], "0", "0", "31", "31"])
        for line in annotations.read_text().splitlines()
    ]
    annotations.write_text("\n".join(quarter) + "\n")
    out = tmp_path / "run"
    assert run("train", out, "--data", root, "--image-size", "32", *QUICK).exit_code == 0
    result = run(
        "analyze", out, "--saliency", "--saliency-images", "6", "--attack-images", "6",
        "--feature-images", "10",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saliency = json.loads((out / "analysis.json").read_text())["saliency"]
    assert saliency["images"] == 6 and saliency["box_area"] == 0.25
    assert 0 <= saliency["pointing_game"] <= 1 and 0 <= saliency["mass_in_box"] <= 1
