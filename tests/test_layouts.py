"""Tests of labelspace.data.layouts on real files: tiny JPEG and PNG images made in tmp_path.

Each layout is built as it lies on disk (Tiny ImageNet, ILSVRC-2012 in both val/ forms, image
folders, CSV manifests); the real Tiny ImageNet is scanned too when it is in the cache.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from labelspace.data.errors import (
    ClassMismatchError,
    DatasetError,
    DatasetNotFoundError,
    EmptyClassError,
)
from labelspace.data.layouts import (
    LAYOUTS,
    SPLIT_SEED,
    TEST_FRACTION,
    Listing,
    scan_dataset,
)
from labelspace.data.splits import val_count

SIZES = [(8, 8), (6, 10), (12, 7)]  # (width, height): images of different sizes
SPLIT_NOTE = "no test/ folder: 20 % of each class of train/ (seeded, stratified) is the test set"
ILSVRC_NOTE = "ILSVRC-2012's val/ split is the test set (its test/ split has no labels)"
TINY_NOTE = "Tiny ImageNet's val/ split is the test set (its test/ split has no labels)"
REAL_TINY = Path("~/.cache/tiny-imagenet/tiny-imagenet-200").expanduser()


@functools.cache
def encoded(fmt: str, size: tuple[int, int]) -> bytes:
    """A small image of ``size`` encoded as ``fmt``."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (size[0] * 20, 90, 200)).save(buffer, fmt)
    return buffer.getvalue()


def image(path: Path, i: int = 0) -> Path:
    """Write a tiny real image at ``path`` (PNG for .png, else JPEG), of the i-th size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded("PNG" if path.suffix.lower() == ".png" else "JPEG", SIZES[i % 3]))
    return path


def hidden_junk(folder: Path) -> None:
    """macOS debris that must be ignored: .DS_Store and an AppleDouble ._ file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "._ghost.JPEG").write_bytes(b"\0\5\26\7")


def counts(listing: Listing, split: str) -> dict[str, int]:
    """Images per class name in one split."""
    targets = getattr(listing, split).targets
    return {listing.classes[t]: n for t, n in sorted(Counter(targets).items())}


def assert_ordered(listing: Listing) -> None:
    """Targets ascend, paths are sorted within each class, and the splits do not overlap."""
    for split in (listing.train, listing.test):
        assert len(split.paths) == len(split.targets)
        assert split.targets == sorted(split.targets)
        for t in set(split.targets):
            paths = [p for p, u in zip(split.paths, split.targets, strict=True) if u == t]
            assert paths == sorted(paths)
    assert not set(listing.train.paths) & set(listing.test.paths)


# ---------------------------------------------------------------------------- tiny-imagenet
TINY_WNIDS = ["n02000002", "n01000001", "n03000003"]  # wnids.txt order is not sorted


def make_tiny(root: Path, n_train: int = 3, n_val: int = 2) -> Path:
    """A Tiny ImageNet-200 tree: CRLF wnids.txt with blank lines, boxes files, val/, test/."""
    root.mkdir(parents=True)
    (root / "wnids.txt").write_bytes(b"n02000002\r\n\r\nn01000001\r\nn03000003\r\n\r\n")
    (root / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in TINY_WNIDS))
    lines = []
    for w, wnid in enumerate(TINY_WNIDS):
        for i in range(n_train):
            image(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", i)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t7\t7\n")
        for i in range(n_val):
            name = f"val_{w * n_val + i}.JPEG"
            image(root / "val" / "images" / name, i)
            lines.append(f"{name}\t{wnid}\t0\t0\t7\t7")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    image(root / "test" / "images" / "test_0.JPEG")  # unlabelled, never read
    return root


def test_tiny_imagenet_lists_sorted_wnids_and_val_as_test(tmp_path: Path):
    root = make_tiny(tmp_path / "tiny-imagenet-200")
    hidden_junk(root / "val" / "images")
    hidden_junk(root / "train" / "n01000001" / "images")
    listing = scan_dataset(root)
    assert listing.layout == "tiny-imagenet"
    assert listing.root == root
    assert listing.classes == sorted(TINY_WNIDS)
    assert counts(listing, "train") == dict.fromkeys(sorted(TINY_WNIDS), 3)
    assert counts(listing, "test") == dict.fromkeys(sorted(TINY_WNIDS), 2)
    assert listing.notes == [TINY_NOTE]
    assert listing.train.paths[0] == root / "train" / "n01000001" / "images" / "n01000001_0.JPEG"
    # val_2 and val_3 are annotated n01000001, the first class
    assert listing.test.paths[:2] == [root / "val" / "images" / f"val_{i}.JPEG" for i in (2, 3)]
    assert all(p.parent == root / "val" / "images" for p in listing.test.paths)
    assert_ordered(listing)


def test_tiny_imagenet_wnid_without_train_folder_or_images(tmp_path: Path):
    root = make_tiny(tmp_path / "a")
    (root / "wnids.txt").write_text("\n".join([*TINY_WNIDS, "n09999999"]))
    with pytest.raises(DatasetError, match=r"1 wnid\(s\) of wnids.txt have no folder in train/"):
        scan_dataset(root)
    with pytest.raises(DatasetError, match="n09999999"):
        scan_dataset(root)

    root = make_tiny(tmp_path / "b")
    for path in (root / "train" / "n03000003" / "images").iterdir():
        path.unlink()
    hidden_junk(root / "train" / "n03000003" / "images")  # hidden files are no images
    with pytest.raises(EmptyClassError) as err:
        scan_dataset(root)
    assert "no images in train/<wnid>/images/ (n03000003)" in str(err.value)


def test_tiny_imagenet_annotation_errors(tmp_path: Path):
    root = make_tiny(tmp_path / "unknown")
    annotations = root / "val" / "val_annotations.txt"
    annotations.write_text(annotations.read_text() + "val_0.JPEG\tn07777777\t0\t0\t7\t7\n")
    with pytest.raises(DatasetError) as err:
        scan_dataset(root)
    assert "names 1 wnid(s) not in wnids.txt (n07777777 (line 7))" in str(err.value)

    root = make_tiny(tmp_path / "missing")
    (root / "val" / "images" / "val_4.JPEG").unlink()
    with pytest.raises(DatasetError) as err:
        scan_dataset(root)
    assert "names 1 file(s) missing from val/images/ (val_4.JPEG (line 5))" in str(err.value)

    root = make_tiny(tmp_path / "unannotated")
    for i in range(7):
        image(root / "val" / "images" / f"extra_{i}.JPEG")
    with pytest.raises(DatasetError) as err:
        scan_dataset(root)
    message = str(err.value)
    assert "7 image(s) in val/images/ have no line in val/val_annotations.txt" in message
    assert "extra_0.JPEG, extra_1.JPEG, extra_2.JPEG, extra_3.JPEG, extra_4.JPEG and 2 more" in (
        message
    )

    root = make_tiny(tmp_path / "no-val")
    for i in (4, 5):  # the val images of n03000003
        (root / "val" / "images" / f"val_{i}.JPEG").unlink()
    annotations = root / "val" / "val_annotations.txt"
    annotations.write_text("\n".join(annotations.read_text().splitlines()[:4]) + "\n")
    with pytest.raises(EmptyClassError, match=r"1 class\(es\) have no images in val/ \(n03000003"):
        scan_dataset(root)

    root = make_tiny(tmp_path / "no-annotations")
    (root / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"lacks val/val_annotations\.txt"):
        scan_dataset(root)


# ----------------------------------------------------------------------------------- ilsvrc
ILSVRC_WNIDS = ["n01443537", "n01440764"]
N_ILSVRC_TRAIN, N_ILSVRC_VAL = 3, 2


def make_ilsvrc(root: Path, flat_val: bool) -> list[str]:
    """An ILSVRC-2012 tree; with ``flat_val`` the val images lie in val/ and the CSV rows that
    label them are returned (write them with :func:`write_solution`)."""
    for wnid in ILSVRC_WNIDS:
        for i in range(N_ILSVRC_TRAIN):
            image(root / "train" / wnid / f"{wnid}_{i}.JPEG", i)
    rows = []
    for w, wnid in enumerate(ILSVRC_WNIDS):
        for i in range(N_ILSVRC_VAL):
            stem = f"ILSVRC2012_val_{w * N_ILSVRC_VAL + i + 1:08d}"
            if flat_val:
                image(root / "val" / f"{stem}.JPEG", i)
                rows.append(f"{stem},{wnid} 1 2 30 40 {wnid} 5 6 7 8 ")
            else:
                image(root / "val" / wnid / f"{stem}.JPEG", i)
    return rows


def write_solution(folder: Path, rows: list[str]) -> Path:
    """LOC_val_solution.csv (Kaggle's form) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "LOC_val_solution.csv"
    path.write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    return path


def test_ilsvrc_with_class_folder_val(tmp_path: Path):
    root = tmp_path / "imagenet"
    make_ilsvrc(root, flat_val=False)
    hidden_junk(root / "val" / "n01440764")
    hidden_junk(root / "train")
    listing = scan_dataset(root)
    assert listing.layout == "ilsvrc"  # not taken for imagefolder (which would split train/)
    assert listing.classes == sorted(ILSVRC_WNIDS)
    assert counts(listing, "train") == dict.fromkeys(sorted(ILSVRC_WNIDS), N_ILSVRC_TRAIN)
    assert counts(listing, "test") == dict.fromkeys(sorted(ILSVRC_WNIDS), N_ILSVRC_VAL)
    assert listing.notes == [ILSVRC_NOTE]
    assert listing.test.paths[0] == root / "val" / "n01440764" / "ILSVRC2012_val_00000003.JPEG"
    assert_ordered(listing)


@pytest.mark.parametrize("where", ["root", "parent", "val", "kaggle"])
def test_ilsvrc_flat_val_with_solution_csv(tmp_path: Path, where: str):
    # Kaggle: imagenet-object-localization-challenge/{LOC_val_solution.csv,ILSVRC/Data/CLS-LOC}
    root = tmp_path / "ILSVRC" / "Data" / "CLS-LOC"
    rows = make_ilsvrc(root, flat_val=True)
    folder = {"root": root, "parent": root.parent, "val": root / "val", "kaggle": tmp_path}
    write_solution(folder[where], [*rows[::-1], "ILSVRC2012_val_00049999,n01440764 1 2 3 4"])
    hidden_junk(root / "val")
    listing = scan_dataset(root)
    assert listing.layout == "ilsvrc"
    assert listing.notes == [ILSVRC_NOTE]
    assert listing.classes == sorted(ILSVRC_WNIDS)
    assert counts(listing, "test") == dict.fromkeys(sorted(ILSVRC_WNIDS), N_ILSVRC_VAL)
    # ILSVRC2012_val_00000003 and 4 are labelled n01440764, the first class
    assert [p.name for p in listing.test.paths[:2]] == [
        "ILSVRC2012_val_00000003.JPEG",
        "ILSVRC2012_val_00000004.JPEG",
    ]
    assert all(p.parent == root / "val" for p in listing.test.paths)
    assert_ordered(listing)


def test_ilsvrc_errors(tmp_path: Path):
    root = tmp_path / "no-csv" / "imagenet"
    make_ilsvrc(root, flat_val=True)
    with pytest.raises(DatasetNotFoundError) as err:
        scan_dataset(root)
    message = str(err.value)
    assert "holds 4 images without class folders, and no LOC_val_solution.csv" in message
    assert f"looked in {root}, {root.parent}, {root / 'val'}" in message

    root = tmp_path / "unknown" / "imagenet"
    rows = make_ilsvrc(root, flat_val=True)
    write_solution(root, [*rows, "ILSVRC2012_val_00000005,n09999999 1 2 3 4"])
    with pytest.raises(DatasetError) as err:
        scan_dataset(root)
    assert "names 1 wnid(s) without a train/ class folder (n09999999 (line 6))" in str(err.value)

    root = tmp_path / "unlisted" / "imagenet"
    rows = make_ilsvrc(root, flat_val=True)
    write_solution(root, rows[1:])
    with pytest.raises(DatasetError) as err:
        scan_dataset(root)
    assert "1 image(s) of val/ are not in" in str(err.value)
    assert "(ILSVRC2012_val_00000001.JPEG)" in str(err.value)

    root = tmp_path / "class-without-val" / "imagenet"
    rows = make_ilsvrc(root, flat_val=True)
    for i in (1, 2):  # the val images of n01443537
        (root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG").unlink()
    write_solution(root, rows[2:])
    with pytest.raises(EmptyClassError, match=r"1 class\(es\) have no val/ images \(n01443537\)"):
        scan_dataset(root)

    root = tmp_path / "folder-mismatch" / "imagenet"
    make_ilsvrc(root, flat_val=False)
    (root / "val" / "n01443537").rename(root / "val" / "n01443538")
    with pytest.raises(ClassMismatchError) as err:
        scan_dataset(root)
    assert "only in train/: n01443537; only in val/: n01443538" in str(err.value)


# ------------------------------------------------------------------------------ imagefolder
def make_folder(root: Path, sizes: dict[str, tuple[int, int]], test: bool = True) -> Path:
    """train/<class>/ (one image in a subfolder) and, with ``test``, test/<class>/ images."""
    for name, (n_train, n_test) in sizes.items():
        for i in range(n_train):
            sub = "more/" if i == 0 else ""
            image(root / "train" / name / f"{sub}{name}_{i}.{'png' if i % 2 else 'JPG'}", i)
        for i in range(n_test if test else 0):
            image(root / "test" / name / f"{name}_t{i}.jpeg", i)
    return root


def test_image_folder_with_test(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root = make_folder(tmp_path / "pets", {"dog": (3, 2), "cat": (4, 1), "n02958343": (2, 2)})
    hidden_junk(root / "train" / "cat")
    hidden_junk(root / "test" / "dog" / ".thumbnails")  # a hidden folder
    (root / "train" / "dog" / "notes.txt").write_text("not an image")
    (root / "test" / "cat" / "labels.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="labelspace.data.layouts"):
        listing = scan_dataset(root)
    assert listing.layout == "imagefolder"
    assert listing.classes == ["cat", "dog", "n02958343"]
    assert counts(listing, "train") == {"cat": 4, "dog": 3, "n02958343": 2}
    assert counts(listing, "test") == {"cat": 1, "dog": 2, "n02958343": 2}
    assert root / "train" / "cat" / "more" / "cat_0.JPG" in listing.train.paths
    assert listing.notes == []
    assert_ordered(listing)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "ignored 2 file(s) that are not images by suffix" in warnings[0]


def test_image_folder_train_only_is_split_stratified_and_seeded(tmp_path: Path):
    sizes = {"b": (10, 0), "a": (5, 0), "c": (7, 0)}
    root = make_folder(tmp_path / "flowers", sizes, test=False)
    listing = scan_dataset(root)
    assert (SPLIT_SEED, TEST_FRACTION) == (0, 0.2)
    assert listing.layout == "imagefolder"
    assert listing.notes == [SPLIT_NOTE]  # a val/ beside train/ is the test set instead
    assert listing.classes == ["a", "b", "c"]
    held = {name: val_count(n, TEST_FRACTION) for name, (n, _) in sorted(sizes.items())}
    assert counts(listing, "test") == held == {"a": 1, "b": 2, "c": 1}
    assert counts(listing, "train") == {name: sizes[name][0] - n for name, n in held.items()}
    all_files = sorted(p for p in (root / "train").rglob("*") if p.is_file())
    assert sorted(listing.train.paths + listing.test.paths) == all_files
    assert_ordered(listing)
    again = scan_dataset(root)
    assert again.test == listing.test and again.train == listing.train


def test_image_folder_errors(tmp_path: Path):
    root = make_folder(tmp_path / "stray", {"a": (2, 1)})
    image(root / "train" / "loose.jpg")
    with pytest.raises(DatasetError, match=r"holds images outside class folders \(loose.jpg\)"):
        scan_dataset(root)

    root = tmp_path / "no-classes"
    (root / "train" / ".cache").mkdir(parents=True)
    (root / "test").mkdir()
    with pytest.raises(DatasetError, match="train holds no class folders; expected"):
        scan_dataset(root)

    root = make_folder(tmp_path / "empty", {"a": (2, 1), "b": (2, 1), "c": (2, 1)})
    for path in [*(root / "train" / "b").rglob("*.*"), *(root / "test" / "c").iterdir()]:
        path.unlink()
    hidden_junk(root / "test" / "c")
    with pytest.raises(EmptyClassError) as err:
        scan_dataset(root)
    assert (
        "class folder(s) without images: train/b (it is empty); test/c (it holds only 2 hidden "
        "entries)." in str(err.value)
    )

    root = make_folder(tmp_path / "mismatch", {"a": (2, 1), "b": (2, 1)})
    (root / "test" / "b").rename(root / "test" / "z")
    with pytest.raises(ClassMismatchError) as err:
        scan_dataset(root)
    assert "test/ and train/ must hold the same class folders; only in train/: b; only in " in (
        str(err.value)
    )

    root = make_folder(tmp_path / "too-small", {"a": (5, 0), "b": (1, 0)}, test=False)
    with pytest.raises(DatasetError, match=r"class\(es\) b \(1 image\) are too small to split"):
        scan_dataset(root)


# -------------------------------------------------------------------------------------- csv
def make_manifest(tmp_path: Path, header: str, rows: list[str]) -> Path:
    """images/<file> for every row's path (relative ones), and the manifest data.csv."""
    for row in rows[:]:
        path = row.split(",")[0]
        if path and not path.startswith("/") and "missing" not in path:
            image(tmp_path / path, len(path))
    manifest = tmp_path / "data.csv"
    manifest.write_text(header + "\n" + "\n".join(rows) + "\n")
    return manifest


def test_csv_with_split_column(tmp_path: Path):
    absolute = image(tmp_path / "elsewhere" / "z.png")
    rows = [
        "images/dog1.jpg,dog,train",
        "images/cat1.png,cat,Train",
        f"{absolute},cat,test",
        "",
        "images/dog2.jpg,dog,test",
        "images/sub/cat2.jpg, cat ,train",
    ]
    manifest = make_manifest(tmp_path, "path,label,split", rows)
    listing = scan_dataset(manifest)
    assert listing.layout == "csv"
    assert listing.root == manifest
    assert listing.classes == ["cat", "dog"]
    assert listing.train.paths == [
        tmp_path / "images" / "cat1.png",
        tmp_path / "images" / "sub" / "cat2.jpg",
        tmp_path / "images" / "dog1.jpg",
    ]
    assert listing.train.targets == [0, 0, 1]
    assert listing.test.paths == [absolute, tmp_path / "images" / "dog2.jpg"]
    assert listing.test.targets == [0, 1]
    assert listing.notes == []


def test_csv_without_split_column_is_split_seeded(tmp_path: Path):
    rows = [f"img/{label}{i}.jpg,{label}" for label, n in (("x", 6), ("y", 4)) for i in range(n)]
    manifest = make_manifest(tmp_path, "Path,Label", rows)
    listing = scan_dataset(manifest)
    assert listing.classes == ["x", "y"]
    assert counts(listing, "test") == {"x": 1, "y": 1}
    assert counts(listing, "train") == {"x": 5, "y": 3}
    assert listing.notes == [
        "no split column: 20 % of each class of the manifest (seeded, stratified) is the test set"
    ]
    assert scan_dataset(manifest).test == listing.test
    assert_ordered(listing)
    # columns in another order and a column that is not read; Excel's BOM and CRLF lines
    swapped = tmp_path / "swapped.csv"
    lines = ["label,note,path", *(f"{r[-1]},-,{r.split(',')[0]}" for r in rows)]
    swapped.write_bytes("\ufeff".encode() + "\r\n".join(lines).encode() + b"\r\n")
    again = scan_dataset(swapped)
    assert (again.train, again.test) == (listing.train, listing.test)


def test_csv_errors(tmp_path: Path):
    manifest = make_manifest(tmp_path, "file,class", ["images/a.jpg,a"])
    with pytest.raises(DatasetError) as err:
        scan_dataset(manifest)
    assert "lacks the column(s) path, label (found columns: file, class)" in str(err.value)

    rows = ["images/a.jpg,a", "images/missing1.jpg,a", "images/b.jpg,b", "missing2.jpg,b"]
    with pytest.raises(DatasetError) as err:
        scan_dataset(make_manifest(tmp_path, "path,label", rows))
    message = str(err.value)
    assert "data.csv line 3: images/missing1.jpg does not exist" in message
    assert "and 1 more listed files are missing" in message

    with pytest.raises(DatasetError, match=r"line\(s\) 3 have an empty label"):
        scan_dataset(make_manifest(tmp_path, "path,label", ["images/a.jpg,a", "images/b.jpg,"]))

    rows = ["images/a.jpg,a,train", "images/b.jpg,a,val", "images/c.jpg,a,"]
    with pytest.raises(DatasetError) as err:
        scan_dataset(make_manifest(tmp_path, "path,label,split", rows))
    assert "must say train or test, but line 3 says 'val' (and 1 more lines)" in str(err.value)

    rows = ["images/a.jpg,a,train", "images/b.jpg,a,test", "images/c.jpg,b,train"]
    rows += ["images/d.jpg,c,test"]
    with pytest.raises(EmptyClassError) as err:
        scan_dataset(make_manifest(tmp_path, "path,label,split", rows))
    assert "class(es) without train rows: c; without test rows: b;" in str(err.value)


# ------------------------------------------------------------------------- detection, misc
def test_registry_order_and_unknown_layouts(tmp_path: Path):
    assert list(LAYOUTS) == ["tiny-imagenet", "ilsvrc", "imagefolder", "csv"]
    assert all(name == layout.name for name, layout in LAYOUTS.items())

    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        scan_dataset(tmp_path / "nowhere")

    odd = tmp_path / "odd"
    image(odd / "images" / "a.jpg")
    (odd / "labels.txt").write_text("a 0\n")
    hidden_junk(odd)
    with pytest.raises(DatasetError) as err:
        scan_dataset(odd)
    message = str(err.value)
    assert "(found folder(s) images/ and file(s) labels.txt)" in message
    assert ".DS_Store" not in message
    for layout in LAYOUTS.values():
        assert f"{layout.name}: {layout.summary}" in message

    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="found an empty folder"):
        scan_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"found the file labels.txt, which is not a .csv"):
        scan_dataset(odd / "labels.txt")


def test_tiny_imagenet_is_not_taken_for_another_layout(tmp_path: Path):
    root = make_tiny(tmp_path / "tiny")  # it has train/, val/ (and wnid class folders), test/
    assert [name for name, layout in LAYOUTS.items() if layout.detect(root)] == [
        "tiny-imagenet",
        "ilsvrc",
        "imagefolder",
    ]
    listing = scan_dataset(str(root))  # a str path as well
    assert listing.layout == "tiny-imagenet"
    assert not any("test" in p.parts for p in listing.test.paths)


def file_calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Count, from now on, the stat calls (``stat``), file opens (``open``) and image decodes
    (``decode``) made: what scanning costs on any machine, however fast its disk."""
    calls: Counter = Counter()

    def counted(name: str, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "stat", counted("stat", os.stat))
    monkeypatch.setattr(io, "open", counted("open", io.open))
    monkeypatch.setattr(Image, "open", counted("decode", Image.open))
    return calls


def test_scanning_touches_folders_not_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Scanning stats folders and reads the small text files; it never opens, decodes or stats
    # an image, so four times the images cost exactly the same calls.
    datasets = {
        "tiny": (make_tiny(tmp_path / "t1", 2, 1), make_tiny(tmp_path / "t4", 8, 4)),
        "folder": tuple(
            make_folder(tmp_path / f"f{n}", {"a": (2 * n, n), "b": (3 * n, n)}) for n in (1, 4)
        ),
    }
    for kind, (small, large) in datasets.items():
        calls = file_calls(monkeypatch)
        n_small = len(scan_dataset(small).train.paths)
        on_small = dict(calls)
        calls.clear()
        assert len(scan_dataset(large).train.paths) == 4 * n_small
        assert dict(calls) == on_small and on_small["stat"] > 0, kind
        assert calls["decode"] == 0 and calls["open"] <= 2, kind
        monkeypatch.undo()


@pytest.mark.skipif(not (REAL_TINY / "wnids.txt").is_file(), reason="needs Tiny ImageNet")
def test_real_tiny_imagenet(monkeypatch: pytest.MonkeyPatch):
    calls = file_calls(monkeypatch)
    listing = scan_dataset(REAL_TINY)
    assert listing.layout == "tiny-imagenet"
    assert len(listing.classes) == 200
    assert len(listing.train.paths) == 100_000
    assert len(listing.test.paths) == 10_000
    assert set(Counter(listing.train.targets).values()) == {500}
    assert set(Counter(listing.test.targets).values()) == {50}
    # a few calls per class, none per image (110,000 of them): fast on any disk
    assert calls["decode"] == 0 and calls["open"] <= 2
    assert calls["stat"] < 5 * len(listing.classes), calls
