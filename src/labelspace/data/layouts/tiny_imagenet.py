"""The Tiny ImageNet-200 layout: wnids.txt, train/<wnid>/images/*.JPEG, and val/ (annotated in
val/val_annotations.txt) as the test set, since its test/ split has no labels.

Scanning is four steps, each with its own errors: the parts are there, wnids.txt lists the
classes, train/ holds their images, val_annotations.txt labels every image of val/images/.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from labelspace.data.errors import DatasetError, DatasetNotFoundError, EmptyClassError
from labelspace.data.layouts.files import PerClass, few, images_in, read_text, visible, warn_ignored
from labelspace.data.layouts.listing import Layout, Listing, make_listing

__all__ = ["LAYOUT"]

log = logging.getLogger(__name__)

_NOTE = "Tiny ImageNet's val/ split is the test set (its test/ split has no labels)"


def _detect(root: Path) -> bool:
    """Tiny ImageNet: a folder with wnids.txt and train/."""
    return (root / "wnids.txt").is_file() and (root / "train").is_dir()


def _scan(root: Path) -> Listing:
    """List Tiny ImageNet-200: train/<wnid>/images/*.JPEG, and val/ (annotated) as test set.

    Raises:
        DatasetNotFoundError: wnids.txt, train/, val/images/ or val/val_annotations.txt missing.
        EmptyClassError: a wnid without train images or without val images.
        DatasetError: a wnid without train folder; an annotation naming an unknown wnid or a
            missing file, or unreadable; val images without annotation.
    """
    _check_parts(root)
    classes = _read_wnids(root / "wnids.txt")
    ignored: list[Path] = []
    train = _train_images(root, classes, ignored)
    on_disk = {path.name: path for path in images_in(root / "val" / "images", ignored)}
    warn_ignored(root, ignored)
    labels = _val_labels(root / "val" / "val_annotations.txt", set(classes), on_disk)
    if unannotated := sorted(set(on_disk) - set(labels)):
        raise DatasetError(
            f"{root}: {len(unannotated)} image(s) in val/images/ have no line in "
            f"val/val_annotations.txt ({few(unannotated)}); annotate them, or remove them"
        )
    test: PerClass = {wnid: [] for wnid in classes}
    for name in sorted(labels):
        test[labels[name]].append(on_disk[name])
    if no_val := [w for w in classes if not test[w]]:
        raise EmptyClassError(
            f"{root}: {len(no_val)} class(es) have no images in val/ ({few(no_val)}); every wnid "
            "needs annotated images in val/images/ to be tested: add them, or remove the wnids "
            "from wnids.txt"
        )
    return make_listing(root, "tiny-imagenet", train, test, [_NOTE])


def _check_parts(root: Path) -> None:
    """DatasetNotFoundError naming every part of the layout that is missing."""
    missing = [
        name
        for name, there in (
            ("wnids.txt", (root / "wnids.txt").is_file()),
            ("train/", (root / "train").is_dir()),
            ("val/images/", (root / "val" / "images").is_dir()),
            ("val/val_annotations.txt", (root / "val" / "val_annotations.txt").is_file()),
        )
        if not there
    ]
    if missing:
        raise DatasetNotFoundError(
            f"{root} lacks {', '.join(missing)}; Tiny ImageNet holds wnids.txt, "
            "train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt"
        )


def _read_wnids(wnids_file: Path) -> list[str]:
    """The classes: the wnids of wnids.txt, sorted; each listed once."""
    wnids = [line.strip() for line in read_text(wnids_file).splitlines() if line.strip()]
    if not wnids:
        raise DatasetError(
            f"{wnids_file} is empty; it should list one wnid (e.g. n01443537) per line"
        )
    if twice := sorted(w for w, n in Counter(wnids).items() if n > 1):
        raise DatasetError(f"{wnids_file} lists {few(twice)} more than once; list each once")
    return sorted(wnids)


def _train_images(root: Path, classes: list[str], ignored: list[Path]) -> PerClass:
    """Each class's images in train/<wnid>/images/; folders of train/ not in wnids.txt are
    ignored with a warning."""
    train_dir = root / "train"
    folders = set(visible(train_dir)[0])
    if no_folder := [w for w in classes if w not in folders]:
        raise DatasetError(
            f"{root}: {len(no_folder)} wnid(s) of wnids.txt have no folder in train/ "
            f"({few(no_folder)}); restore train/<wnid>/images/ for each, or remove those wnids "
            "from wnids.txt"
        )
    if extra := sorted(folders - set(classes)):
        log.warning(
            "%s: ignored %d folder(s) of train/ not listed in wnids.txt (%s)",
            root,
            len(extra),
            few(extra, 3),
        )
    train: PerClass = {}
    for wnid in classes:
        images_dir = train_dir / wnid / "images"
        train[wnid] = images_in(images_dir, ignored) if images_dir.is_dir() else []
    if no_images := [w for w in classes if not train[w]]:
        raise EmptyClassError(
            f"{root}: {len(no_images)} wnid(s) of wnids.txt have no images in "
            f"train/<wnid>/images/ ({few(no_images)}); add their images, or remove those wnids "
            "from wnids.txt"
        )
    return train


def _val_labels(annotations: Path, known: set[str], on_disk: dict[str, Path]) -> dict[str, str]:
    """val_annotations.txt: file name -> wnid, for files of val/images/ and wnids of ``known``.

    Every problem line is collected first, so one error names them all.
    """
    labels: dict[str, str] = {}
    malformed: list[int] = []
    unknown: list[str] = []
    absent: list[str] = []
    for number, line in enumerate(read_text(annotations).splitlines(), 1):
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
            f"{annotations}: line(s) {few(malformed)} do not hold a file name and a wnid; each "
            "line is <file>, <wnid>, x0, y0, x1, y1, tab-separated"
        )
    if unknown:
        raise DatasetError(
            f"{annotations} names {len(unknown)} wnid(s) not in wnids.txt ({few(unknown)}); "
            "correct those lines, or add the wnids to wnids.txt with their train/ folders"
        )
    if absent:
        raise DatasetError(
            f"{annotations} names {len(absent)} file(s) missing from val/images/ "
            f"({few(absent)}); restore those images, or remove their lines"
        )
    return labels


LAYOUT = Layout(
    "tiny-imagenet",
    "Tiny ImageNet-200: wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
    "val/val_annotations.txt",
    _detect,
    _scan,
)
