"""Dataset layouts on disk: which files are the training and test images of which class.

A layout is one entry of :data:`LAYOUTS` (a registry): how to recognise it and how to list its
files. Listing decodes nothing, so a bad layout fails in milliseconds with a message that says
what was found and what was expected. :func:`scan_dataset` tries each layout's ``detect`` in
registry order and scans the first that matches; adding a layout is adding a module with its
``LAYOUT`` and one entry in :data:`LAYOUTS`.

Everywhere, hidden files and folders (names starting with ".", e.g. ``.DS_Store`` or
``._x.jpg``) are ignored, images are recognised by suffix (:data:`IMAGE_EXTENSIONS`, any case),
paths are sorted within each class, classes are sorted, and targets index ``Listing.classes``.

The modules: ``listing`` (what a scanned dataset and a layout are; the shared checks and test
split), ``files`` (file-system steps), one module per layout (``tiny_imagenet``, ``ilsvrc``,
``image_folder``, ``csv_manifest``) and ``scan`` (the registry and :func:`scan_dataset`).
"""

from labelspace.data.layouts.listing import (
    SPLIT_SEED,
    TEST_FRACTION,
    FileSplit,
    Layout,
    Listing,
)
from labelspace.data.layouts.scan import LAYOUTS, scan_dataset

__all__ = [
    "LAYOUTS",
    "SPLIT_SEED",
    "TEST_FRACTION",
    "FileSplit",
    "Layout",
    "Listing",
    "scan_dataset",
]
