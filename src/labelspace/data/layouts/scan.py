"""The registry of layouts and :func:`scan_dataset`, which finds a dataset's layout and lists
its files."""

from __future__ import annotations

import logging
from pathlib import Path

from labelspace.data.errors import DatasetError, DatasetNotFoundError
from labelspace.data.layouts import csv_manifest, ilsvrc, image_folder, tiny_imagenet
from labelspace.data.layouts.files import few, visible
from labelspace.data.layouts.listing import Layout, Listing

__all__ = ["LAYOUTS", "scan_dataset"]

log = logging.getLogger(__name__)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (tiny_imagenet.LAYOUT, ilsvrc.LAYOUT, image_folder.LAYOUT, csv_manifest.LAYOUT)
}
"""The known layouts, in detection order: :func:`scan_dataset` scans the first that matches."""


def _describe(path: Path) -> str:
    """What is at ``path``, in a few words: a file, or a folder's top-level entries."""
    if not path.is_dir():
        return f"found the file {path.name}, which is not a .csv manifest"
    dirs, files = visible(path)
    if not dirs and not files:
        return "found an empty folder"
    parts = [f"folder(s) {few(d + '/' for d in dirs)}"] if dirs else []
    parts += [f"file(s) {few(files)}"] if files else []
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
