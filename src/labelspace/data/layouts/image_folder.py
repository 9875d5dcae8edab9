"""The ImageFolder layout: train/<class>/ and test/<class>/ (images may sit in subfolders of a
class folder), or train/ alone, from which a seeded, stratified share of each class is the test
set."""

from __future__ import annotations

from pathlib import Path

from labelspace.data.errors import DatasetNotFoundError
from labelspace.data.layouts.files import class_folders, warn_ignored
from labelspace.data.layouts.listing import (
    PERCENT,
    Layout,
    Listing,
    check_not_empty,
    check_same_classes,
    make_listing,
    split_off_test,
)

__all__ = ["LAYOUT", "SPLIT_NOTE"]

SPLIT_NOTE = (
    f"no test/ folder: {PERCENT} of each class of train/ (seeded, stratified) is the test set"
)
"""Said to the user when the test set is split off train/."""


def _detect(root: Path) -> bool:
    """ImageFolder: a folder with train/ (and test/, optionally)."""
    return (root / "train").is_dir()


def _scan(root: Path) -> Listing:
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
        found = {"train": class_folders(train_dir, ignored)}
        found["test"] = class_folders(test_dir, ignored)
        warn_ignored(root, ignored)
        check_not_empty(root, found, "Every class needs images in train/ and test/")
        check_same_classes(root, found["train"], found["test"], "test")
        return make_listing(root, "imagefolder", found["train"], found["test"])
    per_class = class_folders(train_dir, ignored)
    warn_ignored(root, ignored)
    check_not_empty(root, {"train": per_class}, "Every class needs images in train/")
    train, test = split_off_test(
        train_dir, per_class, "add images to them, or add a test/ folder of test images"
    )
    notes = [SPLIT_NOTE]
    if (root / "val").is_dir():
        notes.append("val/ is not read: rename it to test/ to use it as the test set")
    return make_listing(root, "imagefolder", train, test, notes)


LAYOUT = Layout(
    "imagefolder",
    "train/<class>/<image> and test/<class>/<image>, or train/ alone (then "
    f"{PERCENT} of each class, seeded and stratified, is the test set)",
    _detect,
    _scan,
)
