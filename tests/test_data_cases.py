"""What a new user broke in the dataset readers (issue 25), each case through the CLI: the
exit status, the one-line message and the files left.

Cases: pack into the dataset (3) and into a folder of other files; a streamed image that does
not decode, from files and from shards, and --skip-corrupt streamed as in memory (5); an
image size that cannot fit (8); a shards manifest with an unknown synset (9); the split
message (10, 16); EXIF orientation (11); symlinked subfolders (12); val/ and test/ beside
train/ (13).
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.data import storage
from labelspace.data.datasets import load_dataset
from labelspace.data.errors import CorruptImageError, worker_message
from labelspace.data.images_io import read_image
from labelspace.data.splits import stratified_split
from labelspace.training.runs import LAST_CHECKPOINT, METRICS_FILE

runner = CliRunner()
CLASSES = ("dog", "cat", "truck")
QUICK = ("--epochs", "1", "--batch-size", "4", "--accelerator", "cpu")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Messages on one line: rich wraps at the terminal width, which it reads from COLUMNS."""
    monkeypatch.setenv("COLUMNS", "3000")


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error(result) -> str:
    """The command's one error line (exit status 2, no traceback)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def tree(folder: Path) -> list[str]:
    """Every path under ``folder``, relative, sorted (what a command left)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def save(path: Path, seed: int, size: tuple[int, int] = (12, 12), fmt: str | None = None) -> Path:
    """A random RGB image of ``size`` (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, fmt)
    return path


def make_folder(root: Path, splits=(("train", 5), ("test", 2)), classes=CLASSES) -> Path:
    """``root/<split>/<class>/<i>.png`` for each (split, images per class)."""
    for s, (split, n) in enumerate(splits):
        for c, name in enumerate(classes):
            for i in range(n):
                save(root / split / name / f"{i}.png", seed=100 * s + 10 * c + i)
    return root


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / METRICS_FILE).read_text())


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


# ------------------------------------------------------------------ 3: pack into the dataset
def test_pack_into_the_dataset_is_refused_and_writes_nothing(tmp_path):
    data = make_folder(tmp_path / "data")
    before = tree(data)
    for out in (data / "train" / "shards", data):
        line = one_error(run("pack", data, out))
        assert "lies inside the dataset" in line and "choose a folder outside it" in line
        assert tree(data) == before
    assert sorted(os.listdir(tmp_path)) == ["data"]

    # shards put inside by an older labelspace: the scan says what the folder holds
    assert run("pack", data, tmp_path / "shards").exit_code == 0
    (tmp_path / "shards").rename(data / "train" / "shards")
    line = one_error(run("train", tmp_path / "run", "--data", data, *QUICK))
    assert "train/shards (it holds packed shards (labelspace-shards.json): move them out" in line
    assert not (tmp_path / "run").exists()


def test_pack_into_a_folder_of_other_files_says_what_works(tmp_path):
    data = make_folder(tmp_path / "data")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    for extra in ((), ("--overwrite",)):
        line = one_error(run("pack", data, out, *extra))
        assert "choose a new or empty folder, or delete this one yourself" in line
        assert "pass --overwrite" not in line
    assert tree(out) == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["data", "mine"]


# --------------------------------------------------------- 5: a streamed image that does not decode
def test_a_streamed_test_image_that_does_not_decode_is_named_in_one_line(tmp_path):
    data = make_folder(tmp_path / "data")
    bad = data / "test" / "cat" / "1.png"
    truncate(bad)
    out = tmp_path / "run"
    line = one_error(run("train", out, "--data", data, "--streaming", "--workers", "1", *QUICK))
    assert f"CorruptImageError: cannot decode image {bad}:" in line
    assert "Caught" not in line and f"labelspace evaluate {out}" in line
    assert (out / LAST_CHECKPOINT).is_file() and not (out / METRICS_FILE).exists()

    line = one_error(run("evaluate", out))
    assert line.startswith(f"error: cannot decode image {bad}:") and "--skip-corrupt" in line
    assert not (out / METRICS_FILE).exists()


def test_garbled_bytes_in_a_shard_are_named_in_one_line(tmp_path):
    data = make_folder(tmp_path / "data")
    shards = tmp_path / "shards"
    assert run("pack", data, shards).exit_code == 0
    shard, offset, size, _ = np.load(shards / "test.index.npy")[1]
    tar = shards / f"test-{shard:06d}.tar"
    garbled = bytearray(tar.read_bytes())
    garbled[offset : offset + size] = bytes(size)
    tar.write_bytes(bytes(garbled))

    line = one_error(run("train", tmp_path / "run", "--data", shards, "--workers", "1", *QUICK))
    assert f"cannot decode image {tar}#00000001" in line
    assert f"pack the dataset again (`labelspace pack {data} {shards} --overwrite`)" in line

    out = tmp_path / "skipping"
    result = run("train", out, "--data", shards, "--workers", "1", "--skip-corrupt", *QUICK)
    assert result.exit_code == 0, result.output
    assert metrics(out)["skipped_files"] == [f"{tar}#00000001"]
    assert metrics(out)["test_images"] == 5


def test_skip_corrupt_streamed_records_and_tests_as_in_memory(tmp_path):
    data = make_folder(tmp_path / "data", (("train", 6), ("test", 3)))
    bad_test, bad_train = data / "test" / "cat" / "1.png", data / "train" / "dog" / "2.png"
    truncate(bad_test)
    truncate(bad_train)
    found = {}
    for mode in ("--in-memory", "--streaming"):
        out = tmp_path / mode.strip("-")
        # 15 training images in batches of 5: every one is read (none dropped), the bad too
        result = run("train", out, "--data", data, mode, "--skip-corrupt", "--workers", "1",
                     "--val-fraction", "0.2", "--epochs", "1", "--batch-size", "5",
                     "--accelerator", "cpu")  # fmt: skip
        assert result.exit_code == 0, result.output
        found[mode] = metrics(out)
    memory, streamed = found["--in-memory"], found["--streaming"]
    assert memory["test_images"] == streamed["test_images"] == 8  # 9 less the unreadable one
    expected = [str(bad_train), str(bad_test)]
    assert memory["skipped_files"] == streamed["skipped_files"] == expected


def test_a_worker_error_comes_back_as_its_own_line():
    wrapped = (
        "Caught CorruptImageError in DataLoader worker process 0.\nOriginal Traceback (most "
        'recent call last):\n  File "x.py", line 1, in f\nlabelspace.data.errors.'
        "CorruptImageError: cannot decode image /a/b.jpg: broken data. Delete it."
    )
    err = CorruptImageError(wrapped)
    assert str(err) == "cannot decode image /a/b.jpg: broken data. Delete it."
    assert (err.path, err.reason) == ("/a/b.jpg", "broken data. Delete it.")
    assert worker_message("plain text") == "plain text"


# ------------------------------------------------------------------- 8: sizes that cannot fit
def forbid_decoding(monkeypatch) -> None:
    """From now on, fail the test if pixels are decoded (headers may be read)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(Image.Image, "load", refuse)


@pytest.fixture
def small_memory(monkeypatch):
    """A machine with 1 GiB available, whatever this one has."""
    monkeypatch.setattr(storage, "available_memory", lambda: 1 << 30)


@pytest.mark.parametrize("mode", ["--streaming", None])
def test_an_image_size_whose_batches_cannot_fit_stops_before_decoding(
    tmp_path, small_memory, monkeypatch, mode
):
    data = make_folder(tmp_path / "data")
    forbid_decoding(monkeypatch)
    out = tmp_path / "run"
    args = ["train", out, "--data", data, "--image-size", "10000", "--workers", "1", *QUICK]
    line = one_error(run(*args, *([mode] if mode else [])))  # auto: streams, then this
    assert "at 10000x10000 pixels, the 12 images the training loader holds at once (4 per " in line
    assert "batch, 3 batch(es) with 1 worker(s)) take 13.4 GiB as float32, more than 50 % " in line
    assert "of the 1.0 GiB of memory available; pass --image-size 1930 or smaller, or a " in line
    assert not out.exists()


def test_a_dataset_forced_into_memory_larger_than_memory_is_refused(
    tmp_path, small_memory, monkeypatch
):
    data = make_folder(tmp_path / "data")
    forbid_decoding(monkeypatch)
    out = tmp_path / "run"
    line = one_error(run("train", out, "--data", data, "--image-size", "10000", "--in-memory",
                         *QUICK))  # fmt: skip
    assert "--in-memory: decoded, data's 21 images of 3x10000x10000 take 5.9 GiB, more " in line
    assert "than the 1.0 GiB of memory available; pass --streaming to decode images when " in line
    assert "--image-size 2064 or smaller" in line  # a quarter of 1 GiB for 21 x 3 channels
    assert not out.exists()


def test_auto_streams_what_does_not_fit_and_evaluation_batches_shrink(tmp_path, small_memory):
    from labelspace.data.module import eval_loader

    data = make_folder(tmp_path / "data")
    loaded = load_dataset(str(data), image_size=3000, batch_size=4, workers=0)
    assert loaded.storage == "streaming"  # 21 x 3 x 3000^2 bytes: more than a quarter of 1 GiB
    per_image = 4 * 3 * 3000**2  # float32 bytes
    batch = eval_loader(loaded.test, 512, workers=1).batch_size
    assert batch == (1 << 29) // (3 * per_image) == 1
    assert eval_loader(loaded.test, 512, workers=0).batch_size == (1 << 29) // per_image == 4


# ------------------------------------------------------------ 9: unknown synset in a manifest
def test_a_shards_manifest_with_an_unknown_synset_is_one_line(tmp_path):
    data = make_folder(tmp_path / "data")
    shards = tmp_path / "shards"
    assert run("pack", data, shards).exit_code == 0
    manifest = json.loads((shards / "labelspace-shards.json").read_text())
    manifest["synsets"][1] = "blorf.n.01"
    (shards / "labelspace-shards.json").write_text(json.dumps(manifest))
    out = tmp_path / "run"
    line = one_error(run("train", out, "--data", shards, *QUICK))
    assert f"{shards}/labelspace-shards.json maps the class 'dog' to 'blorf.n.01'" in line
    assert f"`labelspace pack {data} {shards} --mapping FILE --overwrite`" in line
    assert not out.exists()


# --------------------------------------------------------- 10, 16: classes too small to split
def test_a_class_with_one_image_is_named_with_advice_that_helps(tmp_path):
    data = make_folder(tmp_path / "data")
    for i in range(1, 5):
        (data / "train" / "truck" / f"{i}.png").unlink()
    out = tmp_path / "run"
    line = one_error(run("train", out, "--data", data, *QUICK))
    assert "truck (1 image) would keep no image to train on" in line
    assert "add images to this class, or leave it out of the dataset" in line
    assert "--val-fraction" not in line and "class(es) 2" not in line
    assert not out.exists()

    line = one_error(run("compare", tmp_path / "cmp", "--data", data, "--methods", "softmax",
                         "--no-analyze", *QUICK))  # fmt: skip
    assert "truck (1 image)" in line and "--val-fraction" not in line


def test_the_split_message_names_a_few_classes_of_many():
    names = [f"class_{i:04d}" for i in range(1000)]
    targets = [t for t in range(1000) for _ in range(1)]
    with pytest.raises(ValueError) as err:
        stratified_split(targets, 0.05, 0, names)
    text = str(err.value)
    assert "class_0000 (1 image), class_0001 (1 image), class_0002 (1 image) and 997 more" in text
    assert "class_0003" not in text and "--val-fraction" not in text and len(text) < 400
    with pytest.raises(ValueError, match="or lower the validation fraction"):
        stratified_split([0, 0, 1, 1], 0.9, 0, ["a", "b"])  # two images: a lower share helps


# -------------------------------------------------------------------- 11: EXIF orientation
def exif_jpeg(path: Path, orientation: int) -> Path:
    """A 40 x 20 (width x height) JPEG, left half red and right half blue as stored, tagged with
    ``orientation``: a viewer shows it 20 x 40."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20, 0] = 255
    pixels[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", exif=exif, quality=95)
    return path


@pytest.mark.parametrize(("orientation", "top"), [(6, 0), (8, 2)])
def test_exif_orientation_is_applied_in_every_reader(tmp_path, orientation, top):
    """Orientation 6 (turned clockwise to view) puts the stored left half on top; 8 the right."""
    from PIL import ImageOps

    from labelspace.analysis.inference import load_image

    path = exif_jpeg(tmp_path / "photo.jpg", orientation)
    with Image.open(path) as pil:
        viewed = np.asarray(ImageOps.exif_transpose(pil).convert("RGB")).transpose(2, 0, 1)
    pixels = read_image(path, channels=3)
    assert pixels.shape == (3, 40, 20)
    assert torch.equal(pixels, torch.from_numpy(viewed.copy()))
    assert pixels[top, 5, 10] > 200 and pixels[2 - top, 35, 10] > 200  # red/blue halves
    assert torch.equal(load_image(path, 3, None), pixels)  # predict and explain read this way

    data = tmp_path / "data"  # every image 20 x 40 as viewed: one size only with EXIF applied
    for split, n in (("train", 4), ("test", 2)):
        for name in ("dog", "cat"):
            for i in range(n):
                exif_jpeg(data / split / name / f"{i}.jpg", orientation)
    memory = load_dataset(str(data), storage="memory")
    assert memory.image_size == (40, 20)
    assert torch.equal(memory.test.images[0], pixels)
    square = read_image(path, channels=3, size=20)
    streamed = load_dataset(str(data), image_size=20, storage="streaming", workers=0)
    shards = tmp_path / "shards"
    assert run("pack", data, shards).exit_code == 0
    packed = load_dataset(str(shards), image_size=20, workers=0)
    for loaded in (streamed, packed):
        assert torch.equal(loaded.test.read(0), square)
    out = tmp_path / "run"
    result = run("train", out, "--data", data, *QUICK)
    assert result.exit_code == 0, result.output  # read sideways, 40 x 20 and 20 x 40 mixed


# ------------------------------------------------------------ 12: symlinked subfolders
@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_symlinked_subfolder_is_followed_and_loops_are_not(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    data = make_folder(tmp_path / "data")
    more = tmp_path / "elsewhere" / "trucks"
    for i in range(4):
        save(more / f"extra_{i}.png", seed=500 + i)
    for i in range(5):  # truck's own images are all elsewhere now
        (data / "train" / "truck" / f"{i}.png").unlink()
    (data / "train" / "truck" / "linked").symlink_to(more, target_is_directory=True)
    (data / "train" / "truck" / "again").symlink_to(more, target_is_directory=True)
    (data / "train" / "dog" / "up").symlink_to("..", target_is_directory=True)  # a loop
    out = tmp_path / "run"
    result = run("train", out, "--data", data, "--val-fraction", "0.2", *QUICK)
    assert result.exit_code == 0, result.output
    assert "did not follow 2 symbolic link(s)" in caplog.text  # again/ and up/, said once
    assert metrics(out)["train_images"] == 5 + 5 + 4 - 3  # one of each class validated

    empty = make_folder(tmp_path / "broken")
    for i in range(5):
        (empty / "train" / "truck" / f"{i}.png").unlink()
    (empty / "train" / "truck" / "gone").symlink_to(tmp_path / "nowhere")
    line = one_error(run("train", tmp_path / "run2", "--data", empty, *QUICK))
    assert "train/truck (it holds only 1 broken symbolic link(s) (gone))" in line
    assert not (tmp_path / "run2").exists()


# ------------------------------------------------------------- 13: val/ and test/ beside train/
def test_val_beside_train_is_the_test_set(tmp_path):
    data = make_folder(tmp_path / "data", (("train", 5), ("val", 3)))
    out = tmp_path / "run"
    result = run("train", out, "--data", data, *QUICK)
    assert result.exit_code == 0, result.output
    assert metrics(out)["test_images"] == 9  # val/, not 20 % of train/


def test_val_beside_test_is_not_read_and_says_so_without_verbose(tmp_path, caplog):
    caplog.set_level(logging.WARNING)  # what the command line shows without -v
    data = make_folder(tmp_path / "data", (("train", 5), ("test", 2), ("val", 3)))
    out = tmp_path / "run"
    result = run("train", out, "--data", data, *QUICK)
    assert result.exit_code == 0, result.output
    assert "val/ is not read: test/ is the test set" in caplog.text
    assert metrics(out)["test_images"] == 6


def test_a_val_folder_without_class_folders_is_not_read_and_says_so(tmp_path, caplog):
    from labelspace.data.layouts import scan_dataset

    data = make_folder(tmp_path / "data", (("train", 5),))
    save(data / "val" / "unlabelled.png", seed=7)
    with caplog.at_level(logging.WARNING):
        listing = scan_dataset(data)
    assert "val/ is not read: it holds no class folders" in caplog.text
    assert len(listing.test.paths) == 3  # 20 % of each class of train/


@pytest.mark.parametrize("labelled", [True, False])
def test_ilsvrc_test_folder_is_used_when_labelled_and_said_either_way(tmp_path, labelled, caplog):
    from labelspace.data.layouts import scan_dataset

    wnids = ("n02085620", "n02123045")
    data = make_folder(tmp_path / "ilsvrc", (("train", 4), ("val", 2)), classes=wnids)
    if labelled:
        make_folder(data, (("test", 3),), classes=wnids)
    else:
        save(data / "test" / "ILSVRC2012_test_00000001.JPEG", seed=1, fmt="JPEG")
    with caplog.at_level(logging.WARNING):
        listing = scan_dataset(data)
    assert listing.layout == "ilsvrc"
    assert len(listing.test.paths) == (6 if labelled else 4)
    warned = "val/ is not read" in caplog.text
    assert warned == labelled
    assert any("test/ is not read" in note for note in listing.notes) != labelled


def test_skip_log_collects_names_from_worker_processes(tmp_path):
    """The file a streamed dataset's workers write skipped names to."""
    from labelspace.data.streaming import SkipLog

    skips = SkipLog()
    path = Path(skips.path)
    pid = os.fork()
    if pid == 0:  # a forked worker appends, and does not remove the file when it ends
        skips.record("a.jpg")
        del skips
        os._exit(0)
    os.waitpid(pid, 0)
    skips.record("b.jpg")
    skips.record("a.jpg")
    assert skips.names() == ["a.jpg", "b.jpg"]
    del skips
    import gc

    gc.collect()
    assert not path.exists()


def test_peek_reads_headers_only(tmp_path, monkeypatch):
    from labelspace.data.probe import peek

    gray = tmp_path / "g.png"
    Image.new("L", (7, 5)).save(gray)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 9)).save(buffer, "PNG")
    assert peek([b"not an image"]) is None  # (Pillow loads its plugins on this first try)
    forbid_decoding(monkeypatch)
    assert peek([gray]) == (1, (5, 7))
    assert peek([gray, buffer.getvalue()]) == (3, (5, 7))
    assert peek([b"not an image", gray]) == (1, (5, 7))
