"""Dataset layouts on disk: which files are the training and test images of which class.

A layout is one entry of :data:`LAYOUTS` (a registry): how to recognise it and how to list its
files. Listing decodes nothing, so a bad layout fails in milliseconds with a message that says
what was found and what was expected. :func:`scan_dataset` tries each layout's ``detect`` in
registry order and scans the first that matches; adding a layout is adding one entry.

Everywhere, hidden files and folders (names starting with ".", e.g. ``.DS_Store`` or
``._x.jpg``) are ignored, images are recognised by suffix (:data:`IMAGE_EXTENSIONS`, any case),
paths are sorted within each class, classes are sorted, and targets index ``Listing.classes``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from labelspace.data.errors import (
    ClassMismatchError,
    DatasetError,
    DatasetNotFoundError,
    EmptyClassError,
)
from labelspace.data.images_io import IMAGE_EXTENSIONS
from labelspace.data.splits import stratified_split, val_count

__all__ = [
    "LAYOUTS",
    "SPLIT_SEED",
    "TEST_FRACTION",
    "FileSplit",
    "Layout",
    "Listing",
    "scan_dataset",
]

log = logging.getLogger(__name__)

SPLIT_SEED = 0
"""Seed of the stratified test split made when a dataset has no test split of its own."""

TEST_FRACTION = 0.2
"""Fraction of each class held out as the test set when a dataset has no test split."""

_PERCENT = f"{TEST_FRACTION * 100:g} %"
_SPLIT_NOTE = (
    f"no test/ folder: {_PERCENT} of each class of train/ (seeded, stratified) is the test set"
)
_CSV_SPLIT_NOTE = (
    f"no split column: {_PERCENT} of each class of the manifest (seeded, stratified) is the "
    "test set"
)
_TINY_NOTE = "Tiny ImageNet's val/ split is the test set (its test/ split has no labels)"
_ILSVRC_NOTE = "ILSVRC-2012's val/ split is the test set (its test/ split has no labels)"
_ILSVRC_CSV = "LOC_val_solution.csv"
_is_wnid = re.compile(r"n\d{8}").fullmatch

PerClass = dict[str, list[Path]]  # class name -> its image files


@dataclass(frozen=True)
class FileSplit:
    """The image files of one split with their targets (indices into ``Listing.classes``)."""

    paths: list[Path]
    targets: list[int]


@dataclass(frozen=True)
class Listing:
    """A checked dataset: its classes (in target order) and both splits' files."""

    root: Path  # what the user named (a folder, or a CSV manifest file)
    layout: str  # the key of its entry in LAYOUTS
    classes: list[str]
    train: FileSplit
    test: FileSplit
    notes: list[str] = field(default_factory=list)  # said to the user (a split made, ...)


@dataclass(frozen=True)
class Layout:
    """One way of laying out a dataset on disk."""

    name: str
    summary: str  # one line for docs and for "expected ..." messages
    detect: Callable[[Path], bool]
    scan: Callable[[Path], Listing]


# ---------------------------------------------------------------------------------- helpers
def _few(items: Iterable[object], limit: int = 5) -> str:
    """Up to ``limit`` items, comma-separated, then how many more there are."""
    shown = [str(item) for item in items]
    text = ", ".join(shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def _is_image(name: str) -> bool:
    """Whether a file name has an image suffix (any case); as os.path.splitext, but faster."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def _visible(folder: Path) -> tuple[list[str], list[str]]:
    """The sorted names of the subfolders and of the other entries of ``folder``, hidden ones
    left out."""
    dirs: list[str] = []
    files: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith("."):
                (dirs if entry.is_dir() else files).append(entry.name)
    return sorted(dirs), sorted(files)


def _images_in(folder: Path, ignored: list[Path]) -> list[Path]:
    """The image files directly in ``folder``, sorted; other visible files go to ``ignored``."""
    images: list[Path] = []
    for name in _visible(folder)[1]:
        (images if _is_image(name) else ignored).append(folder / name)
    return images


def _images_under(folder: Path, ignored: list[Path]) -> list[Path]:
    """The image files in ``folder`` and its subfolders, sorted; other files go to
    ``ignored``."""
    images: list[Path] = []
    # os.walk lists directories with scandir, without a stat call per file.
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            if not filename.startswith("."):
                (images if _is_image(filename) else ignored).append(Path(dirpath, filename))
    return sorted(images)


def _warn_ignored(root: Path, ignored: list[Path]) -> None:
    """One warning naming a few of the files that were skipped for their suffix."""
    if not ignored:
        return
    examples = _few((os.path.relpath(p, root) for p in sorted(ignored)), 3)
    log.warning(
        "%s: ignored %d file(s) that are not images by suffix (%s); image suffixes are %s",
        root,
        len(ignored),
        examples,
        " ".join(sorted(IMAGE_EXTENSIONS)),
    )


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file's header and its non-blank rows, each with its line number."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    header = next(reader, [])
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    return header, rows


def _read_text(path: Path) -> str:
    """A UTF-8 text file's contents (a BOM is dropped), or a DatasetError saying it is not."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"
        ) from None


def _class_folders(split_dir: Path, ignored: list[Path]) -> PerClass:
    """Class folder name -> its image files (sorted, found recursively) for one split folder.

    Raises:
        DatasetError: images outside class folders, or no class folders at all.
    """
    dirs, files = _visible(split_dir)
    stray = [name for name in files if _is_image(name)]
    if stray:
        raise DatasetError(
            f"{split_dir} holds images outside class folders ({', '.join(stray[:5])}"
            f"{', ...' if len(stray) > 5 else ''}); move each image into {split_dir}/<class>/"
        )
    if not dirs:
        raise DatasetError(
            f"{split_dir} holds no class folders; expected {split_dir}/<class>/<image> with one "
            "folder per class"
        )
    return {name: _images_under(split_dir / name, ignored) for name in dirs}


def _check_not_empty(root: Path, found: dict[str, PerClass], remedy: str) -> None:
    """EmptyClassError listing every class folder (``split/class``) without images."""
    empty = [
        f"{split}/{name}"
        for split, per in found.items()
        for name, files in per.items()
        if not files
    ]
    if empty:
        raise EmptyClassError(
            f"{root}: class folder(s) without images: {', '.join(empty)}. {remedy}; add images "
            "or remove the folder(s)"
        )


def _check_same_classes(
    root: Path, train: Iterable[str], test: Iterable[str], test_name: str
) -> None:
    """ClassMismatchError when the test split's class folders differ from train/'s."""
    train_classes, test_classes = set(train), set(test)
    if train_classes == test_classes:
        return
    parts = []
    if only_train := sorted(train_classes - test_classes):
        parts.append(f"only in train/: {', '.join(only_train)}")
    if only_test := sorted(test_classes - train_classes):
        parts.append(f"only in {test_name}/: {', '.join(only_test)}")
    raise ClassMismatchError(
        f"{root}: {test_name}/ and train/ must hold the same class folders; {'; '.join(parts)}"
    )


def _split_off_test(where: Path, per_class: PerClass, remedy: str) -> tuple[PerClass, PerClass]:
    """Split each class into train and test files: TEST_FRACTION of it, seeded, stratified.

    Raises:
        DatasetError: a class too small to give a test image and keep a training image.
    """
    classes = sorted(per_class)
    too_small = [
        f"{name} ({len(per_class[name])} image{'s' if len(per_class[name]) != 1 else ''})"
        for name in classes
        if val_count(len(per_class[name]), TEST_FRACTION) >= len(per_class[name])
    ]
    if too_small:
        raise DatasetError(
            f"{where}: class(es) {_few(too_small)} are too small to split off a test set "
            f"({_PERCENT} of each class, at least one image, and one left to train); {remedy}"
        )
    paths = [path for name in classes for path in per_class[name]]
    targets = [t for t, name in enumerate(classes) for _ in per_class[name]]
    keep, held = stratified_split(targets, TEST_FRACTION, SPLIT_SEED)
    train: PerClass = {name: [] for name in classes}
    test: PerClass = {name: [] for name in classes}
    for part, indices in ((train, keep), (test, held)):
        for i in indices.tolist():
            part[classes[targets[i]]].append(paths[i])
    return train, test


def _listing(
    root: Path, layout: str, train: PerClass, test: PerClass, notes: list[str] | None = None
) -> Listing:
    """The checked Listing of per-class files (each list sorted): classes sorted.

    Raises:
        EmptyClassError: a class without training or without test images.
    """
    classes = sorted(set(train) | set(test))
    no_train = [name for name in classes if not train.get(name)]
    no_test = [name for name in classes if not test.get(name)]
    if no_train or no_test:
        parts = [f"without training images: {_few(no_train)}"] if no_train else []
        parts += [f"without test images: {_few(no_test)}"] if no_test else []
        raise EmptyClassError(
            f"{root}: class(es) {'; '.join(parts)}; every class needs training and test images"
        )
    splits = []
    for per in (train, test):
        paths: list[Path] = []
        targets: list[int] = []
        for target, name in enumerate(classes):
            files = per[name]
            paths.extend(files)
            targets.extend([target] * len(files))
        splits.append(FileSplit(paths, targets))
    return Listing(root, layout, classes, splits[0], splits[1], list(notes or []))


# ---------------------------------------------------------------------------- tiny-imagenet
def _detect_tiny_imagenet(root: Path) -> bool:
    """Tiny ImageNet: a folder with wnids.txt and train/."""
    return (root / "wnids.txt").is_file() and (root / "train").is_dir()


def _scan_tiny_imagenet(root: Path) -> Listing:
    """List Tiny ImageNet-200: train/<wnid>/images/*.JPEG, and val/ (annotated) as test set.

    Raises:
        DatasetNotFoundError: wnids.txt, train/, val/images/ or val/val_annotations.txt missing.
        EmptyClassError: a wnid without train images or without val images.
        DatasetError: a wnid without train folder; an annotation naming an unknown wnid or a
            missing file, or unreadable; val images without annotation.
    """
    wnids_file, train_dir = root / "wnids.txt", root / "train"
    val_images, annotations = root / "val" / "images", root / "val" / "val_annotations.txt"
    missing = [
        name
        for name, there in (
            ("wnids.txt", wnids_file.is_file()),
            ("train/", train_dir.is_dir()),
            ("val/images/", val_images.is_dir()),
            ("val/val_annotations.txt", annotations.is_file()),
        )
        if not there
    ]
    if missing:
        raise DatasetNotFoundError(
            f"{root} lacks {', '.join(missing)}; Tiny ImageNet holds wnids.txt, "
            "train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt"
        )
    wnids = [line.strip() for line in _read_text(wnids_file).splitlines() if line.strip()]
    if not wnids:
        raise DatasetError(
            f"{wnids_file} is empty; it should list one wnid (e.g. n01443537) per line"
        )
    if twice := sorted(w for w, n in Counter(wnids).items() if n > 1):
        raise DatasetError(f"{wnids_file} lists {_few(twice)} more than once; list each once")
    classes = sorted(wnids)

    folders = set(_visible(train_dir)[0])
    if no_folder := [w for w in classes if w not in folders]:
        raise DatasetError(
            f"{root}: {len(no_folder)} wnid(s) of wnids.txt have no folder in train/ "
            f"({_few(no_folder)}); restore train/<wnid>/images/ for each, or remove those wnids "
            "from wnids.txt"
        )
    if extra := sorted(folders - set(classes)):
        log.warning(
            "%s: ignored %d folder(s) of train/ not listed in wnids.txt (%s)",
            root,
            len(extra),
            _few(extra, 3),
        )
    ignored: list[Path] = []
    train: PerClass = {}
    for wnid in classes:
        images_dir = train_dir / wnid / "images"
        train[wnid] = _images_in(images_dir, ignored) if images_dir.is_dir() else []
    if no_images := [w for w in classes if not train[w]]:
        raise EmptyClassError(
            f"{root}: {len(no_images)} wnid(s) of wnids.txt have no images in "
            f"train/<wnid>/images/ ({_few(no_images)}); add their images, or remove those wnids "
            "from wnids.txt"
        )

    on_disk = {path.name: path for path in _images_in(val_images, ignored)}
    _warn_ignored(root, ignored)
    known = set(classes)
    labels: dict[str, str] = {}
    malformed: list[int] = []
    unknown: list[str] = []
    absent: list[str] = []
    for number, line in enumerate(_read_text(annotations).splitlines(), 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < 2:
            fields = line.split()
        if len(fields) < 2 or not fields[0] or not fields[1]:
            malformed.append(number)
        elif fields[1] not in known:
            unknown.append(f"{fields[1]} (line {number})")
        elif fields[0] not in on_disk:
            absent.append(f"{fields[0]} (line {number})")
        else:
            labels[fields[0]] = fields[1]
    if malformed:
        raise DatasetError(
            f"{annotations}: line(s) {_few(malformed)} do not hold a file name and a wnid; each "
            "line is <file>, <wnid>, x0, y0, x1, y1, tab-separated"
        )
    if unknown:
        raise DatasetError(
            f"{annotations} names {len(unknown)} wnid(s) not in wnids.txt ({_few(unknown)}); "
            "correct those lines, or add the wnids to wnids.txt with their train/ folders"
        )
    if absent:
        raise DatasetError(
            f"{annotations} names {len(absent)} file(s) missing from val/images/ "
            f"({_few(absent)}); restore those images, or remove their lines"
        )
    if unannotated := sorted(set(on_disk) - set(labels)):
        raise DatasetError(
            f"{root}: {len(unannotated)} image(s) in val/images/ have no line in "
            f"val/val_annotations.txt ({_few(unannotated)}); annotate them, or remove them"
        )
    test: PerClass = {wnid: [] for wnid in classes}
    for name in sorted(labels):
        test[labels[name]].append(on_disk[name])
    if no_val := [w for w in classes if not test[w]]:
        raise EmptyClassError(
            f"{root}: {len(no_val)} class(es) have no images in val/ ({_few(no_val)}); every wnid "
            "needs annotated images in val/images/ to be tested: add them, or remove the wnids "
            "from wnids.txt"
        )
    return _listing(root, "tiny-imagenet", train, test, [_TINY_NOTE])


# ----------------------------------------------------------------------------------- ilsvrc
def _detect_ilsvrc(root: Path) -> bool:
    """ILSVRC-2012: train/ and val/, and train/'s class folders all named by wnid."""
    if not ((root / "train").is_dir() and (root / "val").is_dir()):
        return False
    folders = _visible(root / "train")[0]
    return bool(folders) and all(_is_wnid(name) for name in folders)


def _solution_places(root: Path) -> list[Path]:
    """The folders searched for LOC_val_solution.csv: root, its parents (up to 3; Kaggle's
    layout puts the file next to ILSVRC/ of ILSVRC/Data/CLS-LOC/), and val/."""
    parents = list(root.absolute().parents)[:3]
    return [root, *parents[:1], root / "val", *parents[1:]]


def _read_solution(solution: Path, known: set[str]) -> dict[str, str]:
    """LOC_val_solution.csv: image id (file stem) -> wnid, the first word of PredictionString.

    Raises:
        DatasetError: no ImageId,PredictionString header, empty predictions, unknown wnids.
    """
    header, rows = _read_csv(solution)
    header = [cell.strip() for cell in header]
    if "ImageId" not in header or "PredictionString" not in header:
        raise DatasetError(
            f"{solution} lacks the header ImageId,PredictionString (found "
            f"{','.join(header) or 'no header'}); use the {_ILSVRC_CSV} of the ImageNet "
            "localization challenge"
        )
    id_col, pred_col = header.index("ImageId"), header.index("PredictionString")
    labels: dict[str, str] = {}
    malformed: list[int] = []
    unknown: list[str] = []
    for line, row in rows:
        image_id = row[id_col].strip() if id_col < len(row) else ""
        words = row[pred_col].split() if pred_col < len(row) else []
        if not image_id or not words:
            malformed.append(line)
        elif words[0] not in known:
            unknown.append(f"{words[0]} (line {line})")
        else:
            labels[image_id] = words[0]
    if malformed:
        raise DatasetError(
            f"{solution}: line(s) {_few(malformed)} lack an ImageId or a PredictionString; "
            "each row is ImageId,<wnid> x0 y0 x1 y1 ..."
        )
    if unknown:
        raise DatasetError(
            f"{solution} names {len(unknown)} wnid(s) without a train/ class folder "
            f"({_few(unknown)}); the CSV and train/ must be of the same dataset"
        )
    return labels


def _scan_ilsvrc(root: Path) -> Listing:
    """List ILSVRC-2012: train/<wnid>/, val/<wnid>/ or flat val/ with LOC_val_solution.csv.

    Raises:
        DatasetNotFoundError: train/ or val/ missing, or flat val/ without the solution CSV.
        EmptyClassError: class folders without images; classes without val images.
        ClassMismatchError: val/ class folders differ from train/'s.
        DatasetError: non-wnid class folders, val/ mixing images and folders, or a solution
            CSV naming unknown wnids or missing val images.
    """
    train_dir, val_dir = root / "train", root / "val"
    if missing := [f"{p.name}/" for p in (train_dir, val_dir) if not p.is_dir()]:
        raise DatasetNotFoundError(
            f"{root} lacks {' and '.join(missing)}; ILSVRC-2012 holds train/<wnid>/*.JPEG and val/"
        )
    ignored: list[Path] = []
    train = _class_folders(train_dir, ignored)
    if not_wnids := [name for name in train if not _is_wnid(name)]:
        raise DatasetError(
            f"{train_dir} holds class folders not named by wnid ({_few(not_wnids)}); ILSVRC "
            "class folders are named n + 8 digits, e.g. n01440764"
        )
    _check_not_empty(root, {"train": train}, "Every class needs images in train/")
    dirs, files = _visible(val_dir)
    flat = [name for name in files if _is_image(name)]
    if dirs and flat:
        raise DatasetError(
            f"{val_dir} holds both folders ({_few(dirs, 3)}) and {len(flat)} images; expected "
            f"either val/<wnid>/*.JPEG or flat val/*.JPEG with {_ILSVRC_CSV}"
        )
    if dirs:
        val = _class_folders(val_dir, ignored)
        _warn_ignored(root, ignored)
        _check_not_empty(root, {"val": val}, "Every class needs images in val/")
        _check_same_classes(root, train, val, "val")
        return _listing(root, "ilsvrc", train, val, [_ILSVRC_NOTE])
    if not flat:
        raise DatasetError(
            f"{val_dir} holds no images; expected val/<wnid>/*.JPEG, or flat val/*.JPEG with "
            f"{_ILSVRC_CSV}"
        )
    places = _solution_places(root)
    solution = next((p / _ILSVRC_CSV for p in places if (p / _ILSVRC_CSV).is_file()), None)
    if solution is None:
        raise DatasetNotFoundError(
            f"{val_dir} holds {len(flat)} images without class folders, and no {_ILSVRC_CSV} "
            f"gives their classes (looked in {', '.join(str(p) for p in places)}); put the "
            f"{_ILSVRC_CSV} of the ImageNet localization challenge in {root}, or sort val/ "
            "into val/<wnid>/ folders"
        )
    ignored.extend(val_dir / name for name in files if not _is_image(name) and name != _ILSVRC_CSV)
    _warn_ignored(root, ignored)
    labels = _read_solution(solution, set(train))
    stems = {os.path.splitext(name)[0]: name for name in flat}
    if unlisted := [name for stem, name in stems.items() if stem not in labels]:
        raise DatasetError(
            f"{root}: {len(unlisted)} image(s) of val/ are not in {solution} ({_few(unlisted)}); "
            "the CSV and val/ must be of the same dataset: remove those images or use the "
            "matching CSV"
        )
    if len(labels) > len(stems):
        log.warning(
            "%s: %d row(s) of %s name no image in val/", root, len(labels) - len(stems), solution
        )
    val: PerClass = {wnid: [] for wnid in train}
    for stem, name in stems.items():
        val[labels[stem]].append(val_dir / name)
    if no_val := sorted(w for w, files in val.items() if not files):
        raise EmptyClassError(
            f"{root}: {len(no_val)} class(es) have no val/ images ({_few(no_val)}); every class "
            f"of train/ needs val images listed in {solution.name} to be tested"
        )
    return _listing(root, "ilsvrc", train, val, [_ILSVRC_NOTE])


# ------------------------------------------------------------------------------ imagefolder
def _detect_image_folder(root: Path) -> bool:
    """ImageFolder: a folder with train/ (and test/, optionally)."""
    return (root / "train").is_dir()


def _scan_image_folder(root: Path) -> Listing:
    """List train/<class>/ and test/<class>/ (images may sit in subfolders of a class folder);
    without test/, TEST_FRACTION of each class of train/ (seeded, stratified) is the test set.

    Raises:
        DatasetNotFoundError: no train/ folder.
        EmptyClassError: class folders without images (all of them listed).
        ClassMismatchError: test/ and train/ have different class folders.
        DatasetError: images outside class folders, a split without class folders, or (no
            test/) a class too small to split.
    """
    train_dir, test_dir = root / "train", root / "test"
    if not train_dir.is_dir():
        raise DatasetNotFoundError(
            f"{root} lacks train/; an image-folder dataset holds train/<class>/<image> and "
            "(optionally) test/<class>/<image>"
        )
    ignored: list[Path] = []
    if test_dir.is_dir():
        found = {"train": _class_folders(train_dir, ignored)}
        found["test"] = _class_folders(test_dir, ignored)
        _warn_ignored(root, ignored)
        _check_not_empty(root, found, "Every class needs images in train/ and test/")
        _check_same_classes(root, found["train"], found["test"], "test")
        return _listing(root, "imagefolder", found["train"], found["test"])
    per_class = _class_folders(train_dir, ignored)
    _warn_ignored(root, ignored)
    _check_not_empty(root, {"train": per_class}, "Every class needs images in train/")
    train, test = _split_off_test(
        train_dir, per_class, "add images to them, or add a test/ folder of test images"
    )
    notes = [_SPLIT_NOTE]
    if (root / "val").is_dir():
        notes.append("val/ is not read: rename it to test/ to use it as the test set")
    return _listing(root, "imagefolder", train, test, notes)


# -------------------------------------------------------------------------------------- csv
def _detect_csv(root: Path) -> bool:
    """A CSV manifest: a file named *.csv."""
    return root.is_file() and root.suffix.lower() == ".csv"


def _scan_csv(manifest: Path) -> Listing:
    """List a CSV manifest: columns path,label and optionally split (train or test).

    Paths are relative to the CSV file's folder (absolute paths allowed). Without a split
    column, TEST_FRACTION of each class (seeded, stratified) is the test set.

    Raises:
        DatasetError: missing columns, an empty path or label, a split other than train or
            test, a file listed twice or missing, or (no split column) a class too small to
            split.
        EmptyClassError: a class without train rows or without test rows.
    """
    base = manifest.parent
    header, lines = _read_csv(manifest)
    columns = [cell.strip().lower() for cell in header]
    if lacking := [c for c in ("path", "label") if c not in columns]:
        found = ", ".join(cell.strip() for cell in header if cell.strip())
        raise DatasetError(
            f"{manifest} lacks the column(s) {', '.join(lacking)} (found columns: "
            f"{found or 'none'}); its first row must name the columns path,label and, "
            "optionally, split"
        )
    split_col = columns.index("split") if "split" in columns else None
    wanted = (columns.index("path"), columns.index("label"), split_col)
    rows: list[tuple[int, str, str, str]] = []  # line, path, label, split
    for line, row in lines:
        path, label, split = (
            row[i].strip() if i is not None and i < len(row) else "" for i in wanted
        )
        rows.append((line, path, label, split))
    if not rows:
        raise DatasetError(f"{manifest} lists no images; add one row per image below the header")
    if no_path := [line for line, path, _, _ in rows if not path]:
        raise DatasetError(
            f"{manifest}: line(s) {_few(no_path)} have an empty path; give every row the path "
            "of its image file"
        )
    if no_label := [line for line, _, label, _ in rows if not label]:
        raise DatasetError(
            f"{manifest}: line(s) {_few(no_label)} have an empty label; give every row its "
            "class name, or remove the row"
        )
    if split_col is not None and (
        bad := [(line, s) for line, _, _, s in rows if s.lower() not in ("train", "test")]
    ):
        raise DatasetError(
            f"{manifest}: the split column must say train or test, but line {bad[0][0]} says "
            f"{bad[0][1]!r}{f' (and {len(bad) - 1} more lines)' if len(bad) > 1 else ''}"
        )
    first_line: dict[str, int] = {}
    files: list[Path] = []
    missing: list[tuple[int, str, Path]] = []
    for line, path, _, _ in rows:
        full = Path(os.path.normpath(base / path))
        if (earlier := first_line.setdefault(str(full), line)) != line:
            raise DatasetError(
                f"{manifest}: line {line} lists {path} again (first on line {earlier}); list "
                "each image once"
            )
        if not full.is_file():
            missing.append((line, path, full))
        files.append(full)
    if missing:
        line, path, full = missing[0]
        more = f" and {len(missing) - 1} more listed files are missing" if len(missing) > 1 else ""
        raise DatasetError(
            f"{manifest} line {line}: {path} does not exist (looked for {full}){more}; paths are "
            f"relative to the CSV file's folder {base}: correct the paths or remove the rows"
        )
    per: dict[str, PerClass] = {"train": {}, "test": {}}
    for (_, _, label, split), full in zip(rows, files, strict=True):
        part = per[split.lower()] if split_col is not None else per["train"]
        part.setdefault(label, []).append(full)
    for part in per.values():
        for files in part.values():
            files.sort()
    if split_col is None:
        train, test = _split_off_test(
            manifest, per["train"], "add rows for them, or a split column (train or test)"
        )
        return _listing(manifest, "csv", train, test, [_CSV_SPLIT_NOTE])
    classes = sorted(set(per["train"]) | set(per["test"]))
    no_train = [c for c in classes if c not in per["train"]]
    no_test = [c for c in classes if c not in per["test"]]
    if no_train or no_test:
        parts = [f"without train rows: {_few(no_train)}"] if no_train else []
        parts += [f"without test rows: {_few(no_test)}"] if no_test else []
        raise EmptyClassError(
            f"{manifest}: class(es) {'; '.join(parts)}; every label needs rows with split train "
            "and rows with split test: add rows, or remove the class's rows"
        )
    return _listing(manifest, "csv", per["train"], per["test"])


# --------------------------------------------------------------------------------- registry
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "tiny-imagenet",
            "Tiny ImageNet-200: wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
            "val/val_annotations.txt",
            _detect_tiny_imagenet,
            _scan_tiny_imagenet,
        ),
        Layout(
            "ilsvrc",
            "ImageNet ILSVRC-2012: train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, or flat "
            f"val/*.JPEG with {_ILSVRC_CSV}",
            _detect_ilsvrc,
            _scan_ilsvrc,
        ),
        Layout(
            "imagefolder",
            "train/<class>/<image> and test/<class>/<image>, or train/ alone (then "
            f"{_PERCENT} of each class, seeded and stratified, is the test set)",
            _detect_image_folder,
            _scan_image_folder,
        ),
        Layout(
            "csv",
            "a .csv manifest file with the columns path,label and optionally split (train or "
            "test); paths relative to the file's folder",
            _detect_csv,
            _scan_csv,
        ),
    )
}
"""The known layouts, in detection order: :func:`scan_dataset` scans the first that matches."""


def _describe(path: Path) -> str:
    """What is at ``path``, in a few words: a file, or a folder's top-level entries."""
    if not path.is_dir():
        return f"found the file {path.name}, which is not a .csv manifest"
    dirs, files = _visible(path)
    if not dirs and not files:
        return "found an empty folder"
    parts = [f"folder(s) {_few(d + '/' for d in dirs)}"] if dirs else []
    parts += [f"file(s) {_few(files)}"] if files else []
    return f"found {' and '.join(parts)}"


def scan_dataset(path: str | Path) -> Listing:
    """Find the layout of the dataset at ``path`` and list its files, checked; decodes nothing.

    Each layout of :data:`LAYOUTS` is tried in order; the first whose ``detect`` matches is
    scanned.

    Raises:
        DatasetNotFoundError: nothing at ``path``, or a part of the detected layout missing.
        DatasetError: no layout matches (the message says what was found and what is
            expected), or the detected layout's own errors (see each layout's scan function).
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetNotFoundError(
            f"dataset path {root} does not exist; pass a dataset folder (e.g. one holding "
            "train/ and test/) or a .csv manifest file"
        )
    try:
        for layout in LAYOUTS.values():
            if layout.detect(root):
                listing = layout.scan(root)
                log.info(
                    "%s: %s layout, %d classes, %d train and %d test images",
                    root,
                    layout.name,
                    len(listing.classes),
                    len(listing.train.paths),
                    len(listing.test.paths),
                )
                return listing
        found = _describe(root)
    except DatasetError:
        raise
    except OSError as err:  # unreadable folder or file
        raise DatasetError(
            f"cannot read {err.filename or root} ({err.strerror or err}); check its permissions"
        ) from None
    expected = "; ".join(f"{layout.name}: {layout.summary}" for layout in LAYOUTS.values())
    raise DatasetError(
        f"{root} is not a dataset in a known layout ({found}); expected one of these layouts: "
        f"{expected}. Pass the dataset's root folder or its .csv manifest"
    )
