"""What a scanned dataset is (:class:`Listing`, :class:`FileSplit`), what a layout is
(:class:`Layout`), and the checks and the seeded test split every layout shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from labelspace.data.errors import ClassMismatchError, DatasetError, EmptyClassError
from labelspace.data.layouts.files import PerClass, few, is_image
from labelspace.data.layouts.walk import why_empty
from labelspace.data.splits import stratified_split, val_count

__all__ = [
    "PERCENT",
    "SPLIT_SEED",
    "TEST_FRACTION",
    "FileSplit",
    "Layout",
    "Listing",
    "check_not_empty",
    "check_same_classes",
    "make_listing",
    "split_off_test",
]

SPLIT_SEED = 0
"""Seed of the stratified test split made when a dataset has no test split of its own."""

TEST_FRACTION = 0.2
"""Fraction of each class held out as the test set when a dataset has no test split."""

PERCENT = f"{TEST_FRACTION * 100:g} %"


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


def check_not_empty(root: Path, found: dict[str, PerClass], remedy: str) -> None:
    """EmptyClassError naming the class folders (``split/class``, the splits being folders of
    ``root``) without images, each with what it holds instead (empty, other files, broken
    links, packed shards, ...)."""
    empty = [
        (split, name) for split, per in found.items() for name, files in per.items() if not files
    ]
    if empty:
        shown = [
            f"{split}/{name} ({why_empty(root / split / name, is_image)})"
            for split, name in empty[:5]
        ]
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        raise EmptyClassError(
            f"{root}: class folder(s) without images: {'; '.join(shown)}{more}. {remedy}; add "
            "images or remove the folder(s)"
        )


def check_same_classes(
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


def split_off_test(where: Path, per_class: PerClass, remedy: str) -> tuple[PerClass, PerClass]:
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
            f"{where}: class(es) {few(too_small)} are too small to split off a test set "
            f"({PERCENT} of each class, at least one image, and one left to train); {remedy}"
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


def make_listing(
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
        parts = [f"without training images: {few(no_train)}"] if no_train else []
        parts += [f"without test images: {few(no_test)}"] if no_test else []
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
