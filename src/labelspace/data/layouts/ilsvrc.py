"""The ImageNet ILSVRC-2012 layout: train/<wnid>/*.JPEG, and val/ as the test set (its test/
split has no labels), either sorted into val/<wnid>/ or flat with the localization challenge's
LOC_val_solution.csv giving each image's class. A test/ of class folders (labelled: a split of
one's own, not ILSVRC's) is the test set instead, and val/ is then not read, with a warning."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from labelspace.data.errors import DatasetError, DatasetNotFoundError, EmptyClassError
from labelspace.data.layouts.files import (
    PerClass,
    class_folders,
    few,
    is_image,
    read_csv,
    visible,
    warn_ignored,
)
from labelspace.data.layouts.listing import (
    Layout,
    Listing,
    check_not_empty,
    check_same_classes,
    make_listing,
)
from labelspace.hierarchy.wnids import is_wnid

__all__ = ["LAYOUT", "SOLUTION_CSV"]

log = logging.getLogger(__name__)

_NOTE = "ILSVRC-2012's val/ split is the test set (its test/ split has no labels)"
_TEST_NOT_READ = (
    "test/ is not read: it holds no class folders (ILSVRC-2012's test images have no labels)"
)
_VAL_NOT_READ = (
    "test/ holds class folders, so it is the test set and val/ is not read (the validation "
    "images are a share of train/); move val/'s images into train/ to train on them"
)
SOLUTION_CSV = "LOC_val_solution.csv"
"""The file that gives the classes of a flat val/ folder."""


def _detect(root: Path) -> bool:
    """ILSVRC-2012: train/ and val/, and train/'s class folders all named by wnid."""
    if not ((root / "train").is_dir() and (root / "val").is_dir()):
        return False
    folders = visible(root / "train")[0]
    return bool(folders) and all(is_wnid(name) for name in folders)


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
    header, rows = read_csv(solution)
    header = [cell.strip() for cell in header]
    if "ImageId" not in header or "PredictionString" not in header:
        raise DatasetError(
            f"{solution} lacks the header ImageId,PredictionString (found "
            f"{','.join(header) or 'no header'}); use the {SOLUTION_CSV} of the ImageNet "
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
            f"{solution}: line(s) {few(malformed)} lack an ImageId or a PredictionString; "
            "each row is ImageId,<wnid> x0 y0 x1 y1 ..."
        )
    if unknown:
        raise DatasetError(
            f"{solution} names {len(unknown)} wnid(s) without a train/ class folder "
            f"({few(unknown)}); the CSV and train/ must be of the same dataset"
        )
    return labels


def _scan(root: Path) -> Listing:
    """List ILSVRC-2012: train/<wnid>/, val/<wnid>/ or flat val/ with LOC_val_solution.csv;
    test/<wnid>/ instead of val/ when test/ holds class folders.

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
    train = class_folders(train_dir, ignored)
    if not_wnids := [name for name in train if not is_wnid(name)]:
        raise DatasetError(
            f"{train_dir} holds class folders not named by wnid ({few(not_wnids)}); ILSVRC "
            "class folders are named n + 8 digits, e.g. n01440764"
        )
    check_not_empty(root, {"train": train}, "Every class needs images in train/")
    test_dir = root / "test"
    test_folders = visible(test_dir)[0] if test_dir.is_dir() else []
    if test_folders and all(is_wnid(name) for name in test_folders):  # labelled: one's own
        test = class_folders(test_dir, ignored)
        warn_ignored(root, ignored)
        check_not_empty(root, {"test": test}, "Every class needs images in test/")
        check_same_classes(root, train, test, "test")
        log.warning("%s: %s", root, _VAL_NOT_READ)
        return make_listing(root, "ilsvrc", train, test, [_VAL_NOT_READ])
    notes = [_NOTE]
    if test_dir.is_dir():
        notes.append(_TEST_NOT_READ)
    dirs, files = visible(val_dir)
    flat = [name for name in files if is_image(name)]
    if dirs and flat:
        raise DatasetError(
            f"{val_dir} holds both folders ({few(dirs, 3)}) and {len(flat)} images; expected "
            f"either val/<wnid>/*.JPEG or flat val/*.JPEG with {SOLUTION_CSV}"
        )
    if dirs:
        val = class_folders(val_dir, ignored)
        warn_ignored(root, ignored)
        check_not_empty(root, {"val": val}, "Every class needs images in val/")
        check_same_classes(root, train, val, "val")
        return make_listing(root, "ilsvrc", train, val, notes)
    if not flat:
        raise DatasetError(
            f"{val_dir} holds no images; expected val/<wnid>/*.JPEG, or flat val/*.JPEG with "
            f"{SOLUTION_CSV}"
        )
    val = _flat_val(root, train, files, ignored)
    return make_listing(root, "ilsvrc", train, val, notes)


def _flat_val(root: Path, train: PerClass, files: list[str], ignored: list[Path]) -> PerClass:
    """Each class's images of a flat val/ (``files``: its visible files), by the solution CSV.

    Raises:
        DatasetNotFoundError: no solution CSV in the places searched.
        DatasetError: the CSV and val/ disagree (images without a row, unknown wnids).
        EmptyClassError: a class of train/ without val images.
    """
    val_dir = root / "val"
    flat = [name for name in files if is_image(name)]
    places = _solution_places(root)
    solution = next((p / SOLUTION_CSV for p in places if (p / SOLUTION_CSV).is_file()), None)
    if solution is None:
        raise DatasetNotFoundError(
            f"{val_dir} holds {len(flat)} images without class folders, and no {SOLUTION_CSV} "
            f"gives their classes (looked in {', '.join(str(p) for p in places)}); put the "
            f"{SOLUTION_CSV} of the ImageNet localization challenge in {root}, or sort val/ "
            "into val/<wnid>/ folders"
        )
    ignored.extend(val_dir / name for name in files if not is_image(name) and name != SOLUTION_CSV)
    warn_ignored(root, ignored)
    labels = _read_solution(solution, set(train))
    stems = {os.path.splitext(name)[0]: name for name in flat}
    if unlisted := [name for stem, name in stems.items() if stem not in labels]:
        raise DatasetError(
            f"{root}: {len(unlisted)} image(s) of val/ are not in {solution} ({few(unlisted)}); "
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
            f"{root}: {len(no_val)} class(es) have no val/ images ({few(no_val)}); every class "
            f"of train/ needs val images listed in {solution.name} to be tested"
        )
    return val


LAYOUT = Layout(
    "ilsvrc",
    "ImageNet ILSVRC-2012: train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, or flat "
    f"val/*.JPEG with {SOLUTION_CSV}",
    _detect,
    _scan,
)
