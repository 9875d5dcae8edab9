"""The ImageFolder layout: train/<class>/ and test/<class>/ or val/<class>/ (images may sit in
subfolders of a class folder), or train/ alone, from which a seeded, stratified share of each
class is the test set."""

from __future__ import annotations

import logging
from pathlib import Path

from labelspace.data.errors import DatasetNotFoundError
from labelspace.data.layouts.files import class_folders, visible, warn_ignored
from labelspace.data.layouts.listing import (
    PERCENT,
    Layout,
    Listing,
    check_not_empty,
    check_same_classes,
    make_listing,
    split_off_test,
)

__all__ = ["LAYOUT", "SPLIT_NOTE", "VAL_NOTE"]

log = logging.getLogger(__name__)

SPLIT_NOTE = (
    f"no test/ folder: {PERCENT} of each class of train/ (seeded, stratified) is the test set"
)
"""Said to the user when the test set is split off train/."""

VAL_NOTE = "no test/ folder: val/ is the test set (ImageFolder's train/ + val/ convention)"
"""Said to the user when val/ beside train/ is the test set."""


def _detect(root: Path) -> bool:
    """ImageFolder: a folder with train/ (and test/ or val/, optionally)."""
    return (root / "train").is_dir()


def _scan(root: Path) -> Listing:
    """List train/<class>/ and the test set's <class>/ folders (images may sit in subfolders
    of a class folder): test/, else val/ (torchvision's ImageFolder convention, and ImageNet's:
    val/ is the held-out set), else TEST_FRACTION of each class of train/ (seeded, stratified).
    A val/ beside test/, or one without class folders, is not read, with a warning.

    Raises:
        DatasetNotFoundError: no train/ folder.
        EmptyClassError: class folders without images (all of them listed).
        ClassMismatchError: the test set's class folders differ from train/'s.
        DatasetError: images outside class folders, a split without class folders, or (no
            test/ or val/) a class too small to split.
    """
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DatasetNotFoundError(
            f"{root} lacks train/; an image-folder dataset holds train/<class>/<image> and "
            "(optionally) test/<class>/<image> or val/<class>/<image>"
        )
    ignored: list[Path] = []
    found = {"train": class_folders(train_dir, ignored)}
    val_dir = root / "val"
    labelled_val = val_dir.is_dir() and bool(visible(val_dir)[0])
    held = "test" if (root / "test").is_dir() else "val" if labelled_val else None
    if held is None:
        warn_ignored(root, ignored)
        check_not_empty(root, found, "Every class needs images in train/")
        train, test = split_off_test(
            train_dir, found["train"], "add images to them, or add a test/ folder of test images"
        )
        notes = [SPLIT_NOTE]
        if val_dir.is_dir():  # without class folders its images have no labels
            notes.append(VAL_UNLABELLED)
            log.warning("%s: %s", root, VAL_UNLABELLED)
        return make_listing(root, "imagefolder", train, test, notes)
    found[held] = class_folders(root / held, ignored)
    warn_ignored(root, ignored)
    check_not_empty(root, found, f"Every class needs images in train/ and {held}/")
    check_same_classes(root, found["train"], found[held], held)
    notes = [VAL_NOTE] if held == "val" else []
    if held == "test" and (root / "val").is_dir():
        notes.append(VAL_NOT_READ)
        log.warning("%s: %s", root, VAL_NOT_READ)
    return make_listing(root, "imagefolder", found["train"], found[held], notes)


VAL_NOT_READ = (
    "val/ is not read: test/ is the test set, and the validation images are a share of train/; "
    "move val/'s images into train/ to train on them, or remove val/"
)
"""Said (as a warning) when val/ lies beside test/."""

VAL_UNLABELLED = (
    "val/ is not read: it holds no class folders, so its images have no labels; sort them "
    "into val/<class>/ to make val/ the test set"
)
"""Said (as a warning) when val/ beside train/ holds no class folders."""


LAYOUT = Layout(
    "imagefolder",
    "train/<class>/<image> and test/<class>/<image> (or val/<class>/<image>), or train/ alone "
    f"(then {PERCENT} of each class, seeded and stratified, is the test set)",
    _detect,
    _scan,
)
