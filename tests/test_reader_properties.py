"""Property test of the dataset readers: random datasets on disk either load exactly the images
they should (counted by class and split) or fail with one line (a LabelspaceError).

Folder datasets get random trees of class folders: images of mixed formats, modes, sizes and
EXIF orientations (some in subfolders, some in symbolically linked folders, linked twice),
hidden files, other files, broken links, links back up (loops), unreadable images, a test/ or
val/ split or none, and a class folder that is itself a link. CSV manifests get random column
orders, encodings (UTF-8 with or without BOM, and Latin-1, which is refused), line endings,
blank lines, padded cells, non-ASCII paths, and rows naming missing or repeated files.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from labelspace.data.datasets import load_dataset
from labelspace.data.errors import (
    ClassMismatchError,
    CorruptImageError,
    DatasetError,
    EmptyClassError,
)
from labelspace.data.images_io import read_image
from labelspace.data.layouts import TEST_FRACTION
from labelspace.data.splits import val_count
from labelspace.errors import LabelspaceError

pytestmark = pytest.mark.slow

NAMES = ("dog.n.01", "cat.n.01", "truck.n.01", "frog.n.01")
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
           "WEBP": ".webp", "PPM": ".ppm"}  # fmt: skip
SIZE = 6  # --image-size: every image to 6 x 6, whatever its own size


# ---------------------------------------------------------------------------------- images
@dataclass(frozen=True)
class Picture:
    fmt: str
    mode: str
    width: int
    height: int
    orientation: int  # EXIF orientation (JPEG only; 1: upright)
    upper: bool  # suffix in upper case

    def encode(self, seed: int) -> bytes:
        rng = np.random.default_rng(seed)
        pixels = rng.integers(0, 256, (self.height, self.width, 3), dtype=np.uint8)
        pil = Image.fromarray(pixels).convert(self.mode)
        if self.fmt in ("JPEG", "BMP", "PPM") and pil.mode not in ("L", "RGB"):
            pil = pil.convert("RGB")
        buffer = io.BytesIO()
        extra = {}
        if self.fmt == "JPEG" and self.orientation != 1:
            exif = Image.Exif()
            exif[0x0112] = self.orientation
            extra["exif"] = exif
        pil.save(buffer, self.fmt, **extra)
        return buffer.getvalue()

    def suffix(self) -> str:
        return FORMATS[self.fmt].upper() if self.upper else FORMATS[self.fmt]

    def viewed(self) -> tuple[int, int]:
        """(height, width) as a viewer shows it: orientations 5 to 8 turn it a quarter."""
        turned = self.fmt == "JPEG" and self.orientation >= 5
        return (self.width, self.height) if turned else (self.height, self.width)


pictures = st.builds(
    Picture,
    fmt=st.sampled_from(sorted(FORMATS)),
    mode=st.sampled_from(["RGB", "L", "RGBA", "P"]),
    width=st.integers(3, 12),
    height=st.integers(3, 12),
    orientation=st.integers(1, 8),
    upper=st.booleans(),
)


# ------------------------------------------------------------------------------ folder trees
@dataclass
class ClassFolder:
    """What one class folder of one split holds."""

    images: list[Picture]
    nested: list[Picture]  # in a subfolder
    linked: list[Picture]  # in a folder outside the dataset, linked as a subfolder
    link_twice: bool  # a second link to that same folder (followed once)
    corrupt: int  # files with an image suffix that do not decode
    hidden: int
    others: int  # files without an image suffix
    broken: bool  # a broken link named like an image
    loop: bool  # a link to the split folder above (not followed)

    @property
    def readable(self) -> int:
        return len(self.images) + len(self.nested) + len(self.linked)


filled_folders = st.builds(
    ClassFolder,
    images=st.lists(pictures, min_size=1, max_size=3),
    nested=st.lists(pictures, max_size=2),
    linked=st.lists(pictures, max_size=2),
    link_twice=st.booleans(),
    corrupt=st.sampled_from([0, 0, 0, 1]),
    hidden=st.integers(0, 2),
    others=st.integers(0, 1),
    broken=st.booleans(),
    loop=st.booleans(),
)
empty_folders = st.builds(
    ClassFolder,
    images=st.just([]),
    nested=st.just([]),
    linked=st.just([]),
    link_twice=st.just(False),
    corrupt=st.just(0),
    hidden=st.integers(0, 2),
    others=st.integers(0, 1),
    broken=st.booleans(),
    loop=st.booleans(),
)


@st.composite
def class_folders(draw) -> ClassFolder:
    """A class folder with images, or (one in twelve) one without."""
    return draw(empty_folders if draw(st.integers(0, 11)) == 0 else filled_folders)


@dataclass
class FolderCase:
    classes: list[str]
    train: dict[str, ClassFolder]
    held: str | None  # "test", "val" or None (split off train/)
    held_folders: dict[str, ClassFolder]
    drop_held_class: bool  # the held split lacks one class folder
    linked_class: bool  # the first class folder of train/ is itself a link
    skip_corrupt: bool
    storage: str
    written: dict[str, list[Path]] = field(default_factory=dict)  # corrupt files, per split
    pictures: list[tuple[Path, Picture]] = field(default_factory=list)  # a few images written


@st.composite
def folder_cases(draw) -> FolderCase:
    classes = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    held = draw(st.sampled_from(["test", "val", None]))
    train = {c: draw(class_folders()) for c in classes}
    if held is None:  # unreadable files only where the split is fixed, so counts are exact
        train = {c: replace(f, corrupt=0) for c, f in train.items()}
    return FolderCase(
        classes=classes,
        train=train,
        held=held,
        held_folders={c: draw(class_folders()) for c in classes} if held else {},
        drop_held_class=held is not None and len(classes) > 1 and draw(st.integers(0, 9)) == 0,
        linked_class=draw(st.booleans()),
        skip_corrupt=draw(st.booleans()),
        storage=draw(st.sampled_from(["memory", "streaming"])),
    )


def write_class(
    folder: Path, outside: Path, spec: ClassFolder, seed: int, written: list
) -> list[Path]:
    """Write one class folder (its first images and pictures go to ``written``); returns its
    unreadable files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, pic in enumerate(spec.images):
        (folder / f"img{i}{pic.suffix()}").write_bytes(pic.encode(seed + i))
        written.append((folder / f"img{i}{pic.suffix()}", pic))
    for i, pic in enumerate(spec.nested):
        (folder / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
        (folder / "sub" / "deeper" / f"n{i}{pic.suffix()}").write_bytes(pic.encode(seed + 50 + i))
    if spec.linked:
        outside.mkdir(parents=True)
        for i, pic in enumerate(spec.linked):
            (outside / f"l{i}{pic.suffix()}").write_bytes(pic.encode(seed + 80 + i))
        (folder / "linked").symlink_to(outside, target_is_directory=True)
        if spec.link_twice:
            (folder / "linked_again").symlink_to(outside, target_is_directory=True)
    corrupt = []
    for i in range(spec.corrupt):
        corrupt.append(folder / f"bad{i}.jpg")
        corrupt[-1].write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    for i in range(spec.hidden):
        (folder / f".hidden{i}.jpg").write_bytes(b"\x00\x05\x16\x07")
    for i in range(spec.others):
        (folder / f"notes{i}.txt").write_text("not an image")
    if spec.broken:
        (folder / "gone.jpg").symlink_to(folder / "nowhere.jpg")
    if spec.loop:
        (folder / "up").symlink_to("..", target_is_directory=True)
    return corrupt


def write_folder(root: Path, case: FolderCase) -> None:
    splits = {"train": case.train, **({case.held: case.held_folders} if case.held else {})}
    for s, (split, folders) in enumerate(splits.items()):
        case.written[split] = []
        for c, name in enumerate(case.classes):
            if split != "train" and case.drop_held_class and c == 0:
                continue
            folder = root / "data" / split / name
            if split == "train" and c == 0 and case.linked_class:
                folder = root / "elsewhere-class"
                (root / "data" / split).mkdir(parents=True, exist_ok=True)
                (root / "data" / split / name).symlink_to(folder, target_is_directory=True)
            outside = root / "outside" / split / name
            seed = 1000 * s + 100 * c
            case.written[split] += write_class(folder, outside, folders[name], seed, case.pictures)


def expected_folder(case: FolderCase) -> tuple[type[Exception] | None, dict, dict]:
    """The error to expect (None: success) and, on success, the expected image counts per
    class of train and test."""
    files = {name: f.readable + f.corrupt for name, f in case.train.items()}
    if any(n == 0 for n in files.values()):
        return EmptyClassError, {}, {}
    if case.held:
        kept = [f for c, f in case.held_folders.items()
                if not (case.drop_held_class and c == case.classes[0])]  # fmt: skip
        if any(f.readable + f.corrupt == 0 for f in kept):
            return EmptyClassError, {}, {}
        if case.drop_held_class:
            return ClassMismatchError, {}, {}
    elif any(val_count(n, TEST_FRACTION) >= n for n in files.values()):
        return DatasetError, {}, {}
    streamed = case.storage == "streaming"
    train_bad = sum(f.corrupt for f in case.train.values())
    test_bad = sum(f.corrupt for f in case.held_folders.values())
    if not case.skip_corrupt and (train_bad or (test_bad and not streamed)):
        return CorruptImageError, {}, {}  # a streamed test set is read when evaluated
    readable = sum(f.readable for f in (*case.train.values(), *case.held_folders.values()))
    if case.skip_corrupt and (
        readable == 0 or (streamed and not any(f.readable for f in case.train.values()))
    ):
        return DatasetError, {}, {}  # nothing (or no training image) decodes
    # streamed training images are not read before training: unreadable ones still count
    train = {n: f.readable + (f.corrupt if streamed else 0) for n, f in case.train.items()}
    if not case.held:
        test = {n: val_count(files[n], TEST_FRACTION) for n in case.classes}
        return None, {n: train[n] - test[n] for n in case.classes}, test
    test = {
        n: f.readable + (f.corrupt if streamed and not case.skip_corrupt else 0)
        for n, f in case.held_folders.items()
    }
    if any(n == 0 for n in (*test.values(), *train.values())):
        return EmptyClassError, {}, {}  # every image of a class unreadable
    return None, train, test


def counts(images, classes: list[str]) -> dict[str, int]:
    found = Counter(images.targets.tolist())
    return {name: found.get(t, 0) for t, name in enumerate(classes)}


def assert_one_line(err: BaseException) -> None:
    assert isinstance(err, LabelspaceError), repr(err)
    assert "\n" not in str(err) and str(err)


def loaded_or_refused(load: Callable[[], Any], error: type[Exception] | None) -> Any:
    """``load()``'s dataset, or None when it was refused: in one line, with the ``error``
    expected (a case expected to load must load)."""
    try:
        data = load()
    except LabelspaceError as err:
        assert_one_line(err)
        assert error is not None and isinstance(err, error), (error, err)
        event(f"refused: {type(err).__name__}")
        return None
    assert error is None, f"expected {error.__name__}"
    return data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=folder_cases())
def test_folder_datasets_load_exactly_their_images_or_fail_in_one_line(case: FolderCase):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_folder(root, case)
        for path, pic in case.pictures[:4]:  # read upright, as a viewer shows it
            assert read_image(path, channels=3).shape[1:] == pic.viewed()
        error, train, test = expected_folder(case)
        data = loaded_or_refused(
            lambda: load_dataset(str(root / "data"), image_size=SIZE, storage=case.storage,
                                 skip_corrupt=case.skip_corrupt, workers=0),
            error,
        )  # fmt: skip
        if data is None:
            return
        event(f"loaded, {case.storage}")
        assert data.classes == sorted(case.classes)
        found_train, found_test = counts(data.train, data.classes), counts(data.test, data.classes)
        assert (found_train, found_test) == (train, test)
        unreadable = {str(p) for split in case.written.values() for p in split}
        assert set(data.skipped_files()) <= unreadable
        if case.skip_corrupt:  # streamed: the test split's, found before training
            wanted = (
                unreadable
                if case.storage == "memory"
                else set(map(str, case.written.get(case.held or "", [])))
            )
            assert set(data.skipped_files()) == wanted


# ---------------------------------------------------------------------------- CSV manifests
@dataclass
class CsvCase:
    rows: list[tuple[str, str, str]]  # path, label, split
    with_split: bool
    order: list[str]  # the columns as written
    encoding: str  # utf-8, utf-8-sig or latin-1
    newline: str
    blank_lines: bool
    pad: bool  # spaces around cells
    missing: bool  # one row names no file
    repeated: bool  # one row repeats another's file
    pictures: list[Picture]


@st.composite
def csv_cases(draw) -> CsvCase:
    n = draw(st.integers(1, 10))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    labels = draw(st.lists(st.sampled_from(names), min_size=n, max_size=n))
    splits = draw(st.lists(st.sampled_from(["train", "test", "Train", "TEST"]), min_size=n,
                           max_size=n))  # fmt: skip
    folders = draw(st.lists(st.sampled_from(["a", "b c", "été", "sub/dir"]), min_size=n,
                            max_size=n))  # fmt: skip
    rows = [(f"{folders[i]}/img {i}.x", labels[i], splits[i]) for i in range(n)]
    with_split = draw(st.booleans())
    columns = ["path", "label", *(["split"] if with_split else [])]
    return CsvCase(
        rows=rows,
        with_split=with_split,
        order=draw(st.permutations(columns)),
        encoding=draw(st.sampled_from(["utf-8", "utf-8-sig"] * 3 + ["latin-1"])),
        newline=draw(st.sampled_from(["\n", "\r\n"])),
        blank_lines=draw(st.booleans()),
        pad=draw(st.booleans()),
        missing=draw(st.integers(0, 11)) == 0,
        repeated=draw(st.integers(0, 11)) == 0,
        pictures=draw(st.lists(pictures, min_size=n, max_size=n)),
    )


def write_csv(root: Path, case: CsvCase) -> Path:
    lines = [",".join(case.order)]
    rows = list(case.rows)
    for (path, _, _), pic in zip(rows, case.pictures, strict=True):
        file = root / path.replace(".x", pic.suffix())
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(pic.encode(len(lines)))
    rows = [(p.replace(".x", pic.suffix()), lab, s) for (p, lab, s), pic in
            zip(rows, case.pictures, strict=True)]  # fmt: skip
    if case.missing:
        rows.append(("a/missing.png", rows[0][1], rows[0][2]))
    if case.repeated:
        rows.append(rows[0])
    for path, label, split in rows:
        cells = {"path": path, "label": label, "split": split}
        values = [f"  {cells[c]} " if case.pad else cells[c] for c in case.order]
        lines.append(",".join(f'"{v}"' if "," in v else v for v in values))
        if case.blank_lines:
            lines.append("")
    manifest = root / "manifest.csv"
    manifest.write_bytes(case.newline.join(lines).encode(case.encoding, errors="replace"))
    return manifest


def expected_csv(case: CsvCase) -> tuple[type[Exception] | None, dict, dict]:
    non_ascii = any(not p.isascii() for p, _, _ in case.rows)
    if case.encoding == "latin-1" and non_ascii:
        return DatasetError, {}, {}  # not UTF-8
    if case.missing or case.repeated:
        return DatasetError, {}, {}
    labels = sorted({lab for _, lab, _ in case.rows})
    if case.with_split:
        train = Counter(lab for _, lab, s in case.rows if s.lower() == "train")
        test = Counter(lab for _, lab, s in case.rows if s.lower() == "test")
        if any(not train[lab] or not test[lab] for lab in labels):
            return EmptyClassError, {}, {}
        return None, {lab: train[lab] for lab in labels}, {lab: test[lab] for lab in labels}
    total = Counter(lab for _, lab, _ in case.rows)
    if any(val_count(total[lab], TEST_FRACTION) >= total[lab] for lab in labels):
        return DatasetError, {}, {}
    test = {lab: val_count(total[lab], TEST_FRACTION) for lab in labels}
    return None, {lab: total[lab] - test[lab] for lab in labels}, test


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_cases())
def test_csv_manifests_load_exactly_their_rows_or_fail_in_one_line(case: CsvCase):
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_csv(Path(tmp), case)
        error, train, test = expected_csv(case)
        data = loaded_or_refused(
            lambda: load_dataset(str(manifest), image_size=SIZE, storage="memory"), error
        )
        if data is None:
            return
        event("loaded")
        assert (counts(data.train, data.classes), counts(data.test, data.classes)) == (
            train,
            test,
        )
        assert os.path.basename(data.name) == "manifest"
