"""Issue 25's cases through the command line: each one's exit status, its one-line message
and the files it leaves (overlays of images that share a name, a frozen random backbone,
a run given to --pretrained, ...)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

import labelspace
from labelspace.analysis.results import ANALYSIS_FILE
from labelspace.analysis.saliency import overlay_stems, unique_names
from labelspace.cli import app
from labelspace.data.fashion_mnist import read_fashion_mnist
from labelspace.training.runs import CONFIG_FILE, LAST_CHECKPOINT, METRICS_FILE, read_checkpoint

runner = CliRunner()
QUICK = ["--epochs", "1", "--train-limit", "256", "--test-limit", "64", "--batch-size", "64"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Messages on one line: rich wraps at the terminal width, which it reads from COLUMNS."""
    monkeypatch.setenv("COLUMNS", "2000")


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


# ------------------------------------------------------------ 15: a dataset that has moved
FOLDER_CLASSES = ("cat.n.01", "dog.n.01", "truck.n.01")
FOLDER_RUN = ["--epochs", "1", "--batch-size", "8", "--val-fraction", "0.25"]


def make_folder(root: Path, classes=FOLDER_CLASSES) -> Path:
    """train/ and test/ of 16 x 16 PNGs: 8 and 2 per class."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 2)):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> Path:
    """A run trained from its parent folder on the folder dataset ``d/tiny``, typed relative."""
    home = tmp_path_factory.mktemp("folder-run")
    make_folder(home / "d" / "tiny")
    before = Path.cwd()
    os.chdir(home)
    try:
        done = invoke("train", "run", "--data", "d/tiny", *FOLDER_RUN)
    finally:
        os.chdir(before)
    assert done.exit_code == 0, done.output
    return home / "run"


def recorded_data(run: Path) -> str:
    return yaml.safe_load((run / CONFIG_FILE).read_text())["train"]["data"]


def test_a_run_records_its_dataset_folder_as_an_absolute_path(
    folder_run, trained_runs, tmp_path, monkeypatch
):
    assert recorded_data(folder_run) == str(folder_run.parent / "d" / "tiny")
    checkpoint = read_checkpoint(folder_run)["hyper_parameters"]["train"]
    assert checkpoint["data"] == recorded_data(folder_run)
    monkeypatch.chdir(tmp_path)  # another folder: the run still finds its dataset
    done = invoke("evaluate", folder_run)
    assert done.exit_code == 0, done.output
    assert "scoring the test images" in done.output  # progress, not minutes of silence
    assert recorded_data(trained_runs("softmax")) == "fashion-mnist"  # a name stays a name


def test_an_older_run_with_a_relative_path_is_found_beside_it_or_named(
    folder_run, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    shutil.copytree(folder_run.parent / "d", home / "d")
    run = shutil.copytree(folder_run, home / "runs" / "old")
    config = yaml.safe_load((run / CONFIG_FILE).read_text())
    config["train"]["data"] = "d/tiny"  # as runs recorded it before: relative to where it ran
    (run / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    metrics = (run / METRICS_FILE).read_text()
    done = invoke("evaluate", run)  # found in home/, a folder above the run
    assert done.exit_code == 0, done.output
    shutil.rmtree(home / "d")
    (run / METRICS_FILE).write_text(metrics)
    done = invoke("evaluate", run)
    assert done.exit_code == 2
    text = one_error_line(done)
    assert "relative path d/tiny" in text and str(elsewhere) in text
    assert str(run.parent) in text and "--data PATH" in text
    assert (run / METRICS_FILE).read_text() == metrics  # nothing rewritten


def test_data_points_evaluate_and_analyze_at_a_moved_dataset(folder_run, tmp_path):
    run = shutil.copytree(folder_run, tmp_path / "run")
    moved = tmp_path / "moved"
    shutil.copytree(folder_run.parent / "d" / "tiny", moved)
    config = yaml.safe_load((run / CONFIG_FILE).read_text())
    config["train"]["data"] = str(tmp_path / "gone")  # the folder it was trained on is gone
    (run / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    metrics = (run / METRICS_FILE).read_text()

    done = invoke("evaluate", run)
    assert done.exit_code == 2
    assert "does not exist any more" in one_error_line(done) and "--data PATH" in done.output
    assert (run / METRICS_FILE).read_text() == metrics

    assert invoke("evaluate", run, "--data", moved).exit_code == 0
    assert labelspace.evaluate(run, data=moved)["test_images"] == 6  # the Python API too
    quick = ["--attack-images", "4", "--feature-images", "10", "--feature-map", "pca"]
    done = invoke("analyze", run, "--data", moved, "--eps", "0", *quick)
    assert done.exit_code == 0, done.output
    assert (run / ANALYSIS_FILE).is_file()

    other = make_folder(tmp_path / "other", ("cat.n.01", "dog.n.01", "bicycle.n.01"))
    done = invoke("evaluate", run, "--data", other)
    assert done.exit_code == 2
    text = one_error_line(done)
    assert f"--data {other} does not hold the classes" in text and "missing: truck.n.01" in text
    done = invoke("evaluate", run, "--data", tmp_path / "nowhere")
    assert done.exit_code == 2 and "no such file or folder" in one_error_line(done)
    done = invoke("predict", run, moved / "test" / "cat.n.01" / "0.png", "--data", moved)
    assert done.exit_code == 2 and "only with --multi" in one_error_line(done)


# ------------------------------------------------------------ 17: embedding names in full
@pytest.mark.parametrize("columns", ["120", "80", "40"])
def test_embeddings_never_cuts_a_name(columns, monkeypatch):
    from labelspace.embeddings.pretrained import catalogue

    monkeypatch.setenv("COLUMNS", columns)
    done = invoke("embeddings")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    for name in catalogue():
        assert any(name in line for line in lines), (name, done.output)
    assert "…" not in done.output


# ------------------------------------------------------- 19: progress of the long steps
def test_text_embeddings_of_many_labels_report_progress(tmp_path, monkeypatch):
    from labelspace.analysis import openvocab
    from labelspace.embeddings.text import text_embedding

    labels = openvocab.label_set("footwear.n.02")[:5]
    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path))
    monkeypatch.setattr(openvocab, "TEXT_CHUNK", 2)
    heard: list[tuple[str, int, int]] = []
    emb = openvocab.text_label_embedding(labels, "five", lambda *step: heard.append(step))
    assert [(done, total) for _, done, total in heard] == [(2, 5), (4, 5), (5, 5)]
    assert "text embeddings of 5 labels" in heard[0][0]
    whole = text_embedding(labels, labels, batch_size=256)
    assert emb.labels == labels and torch.allclose(emb.vectors, whole.vectors, atol=1e-5)
    assert (tmp_path / "text-five.safetensors").is_file()  # cached for the next time


def test_open_vocabulary_shows_progress_and_takes_wnids(trained_runs, tmp_path):
    run = trained_runs.copy("devise", tmp_path / "devise")
    done = invoke("evaluate", run, "--labels", "n03380867", "--images", "all")  # footwear.n.02
    assert done.exit_code == 0, done.output
    assert "decoding among 55 labels" in done.output
    assert (run / "openvocab-n03380867-all.json").is_file()
    done = invoke("evaluate", run, "--labels", "n00000001", "--images", "all")
    assert done.exit_code == 2 and "is not a WordNet noun synset" in one_error_line(done)


@pytest.mark.slow  # a command in its own process: the log handler the command line sets up
def test_building_a_label_space_is_reported_without_verbose(tmp_path):
    args = ["train", str(tmp_path / "run"), "--method", "poincare", "--dim", "6", *QUICK]
    proc = subprocess.run(
        [sys.executable, "-m", "labelspace", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = " ".join(proc.stderr.split())
    assert "poincare label embedding of 10 classes" in said and "built in" in said


def test_a_label_space_of_many_classes_is_announced(caplog):
    from labelspace.hierarchy.sources import load_source
    from labelspace.training.build import MANY_CLASSES, label_space

    classes = list(load_source("imagenet").hierarchy.classes[:MANY_CLASSES])
    with caplog.at_level(logging.INFO, logger="labelspace.progress"):
        space = label_space("imagenet-part", classes, classes, None)
        label_space("few", classes[:3], classes[:3], None)  # quick: not announced
    assert space.num_classes == MANY_CLASSES
    said = [r.getMessage() for r in caplog.records if r.name == "labelspace.progress"]
    assert said[0] == "label space of 500 classes: building their WordNet hierarchy"
    assert "label space of 500 classes: built in" in said[1] and len(said) == 2


# ------------------------------------------------------------------------------ nits
def test_open_vocabulary_hints_agree_with_what_works(trained_runs, tmp_path):
    softmax = trained_runs("softmax")
    for images in ("unseen", "all"):
        done = invoke("evaluate", softmax, "--labels", "nouns", "--images", images)
        assert done.exit_code == 2
        text = one_error_line(done)
        assert "cannot decode other labels, with any --images" in text
        assert "pass" not in text  # no hint towards an option that is then refused
    assert not list(softmax.glob("openvocab-*"))
    devise = trained_runs.copy("devise", tmp_path / "devise")
    done = invoke("evaluate", devise, "--labels", "footwear.n.02")
    assert done.exit_code == 2 and "pass --images all" in one_error_line(done)
    assert invoke("evaluate", devise, "--labels", "footwear.n.02", "--images", "all").exit_code == 0


@pytest.mark.parametrize(
    ("methods", "said"),
    [
        ("devise@", "'devise@': nothing after '@': name a label embedding (devise@text)"),
        ("softmax@", "'softmax@': nothing after '@', and softmax uses no label embedding"),
        ("softmax@text", "'softmax@text': softmax uses no label embedding"),
        ("softmax,devise,softmax", "'softmax' listed more than once in --methods"),
        ("devise@text, devise@text,hxe", "'devise@text' listed more than once"),
    ],
)
def test_compare_methods_are_checked_and_named(methods, said, tmp_path):
    out = tmp_path / "cmp"
    done = invoke("compare", out, "--methods", methods, *QUICK)
    assert done.exit_code == 2
    assert said in one_error_line(done)
    assert not out.exists()


def test_method_names_in_the_accuracy_severity_plot_stay_inside_and_apart():
    """Four methods on a 92-class folder as the issue drew them: softmax at the right edge,
    frame on top of joint, and their CRM re-rankings beside them."""
    import matplotlib.pyplot as plt

    from labelspace.reporting.figures import draw_accuracy_severity_seeds

    means = {
        "softmax": (0.62, 2.41),
        "frame": (0.600, 2.200),
        "joint": (0.601, 2.201),
        "poincare": (0.55, 2.25),
        "softmax +CRM": (0.618, 2.40),
        "frame +CRM": (0.599, 2.202),
    }
    per_method = {
        name: [{"top1": top1 + d, "severity": severity + d} for d in (0.0, 0.004, -0.004)]
        for name, (top1, severity) in means.items()
    }
    fig = draw_accuracy_severity_seeds(per_method)
    try:
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        frame = ax.get_window_extent(renderer)
        texts = [t for t in ax.texts if t.get_text() in means]
        assert sorted(t.get_text() for t in texts) == sorted(means)
        boxes = [t.get_window_extent(renderer) for t in texts]
        for box in boxes:
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, box
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, box
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (a, b)
    finally:
        plt.close(fig)
