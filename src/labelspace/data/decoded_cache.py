"""Decoded datasets kept on disk, so that a dataset is decoded once and not by every run.

A dataset read from files into memory is decoded image by image (Tiny ImageNet: 110,000
JPEGs, a minute or more on two cores); every run, seed and method of a comparison would pay
that again. :func:`load_decoded` keeps the uint8 tensors it decodes in the cache folder
(``$LABELSPACE_CACHE/decoded/KEY/``, as ``.npy`` files) and later reads them back
memory-mapped, so pages are read from disk only when used and shared between processes.

The key covers everything the pixels depend on: every file's path, size and modification
time, its class, the split, ``image_size``, ``skip_corrupt`` and the version of the decoding
policy; a file added, removed, replaced or touched makes a new key. Only datasets of at
least :data:`MIN_IMAGES` images are kept (smaller ones decode in moments), and only when the
disk has room for them with :data:`SPARE_BYTES` to spare. Anything that goes wrong with the
cache is logged and the dataset is decoded as if there were none. The folder may be removed
at any time to reclaim its space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from labelspace.data.folders import LoadedFolder, ProgressCallback, load_image_folder
from labelspace.data.images import InMemoryImages
from labelspace.data.layouts import Listing
from labelspace.data.transforms import Stats, channel_stats
from labelspace.files import publish_folder
from labelspace.paths import writable_cache_dir

__all__ = ["CACHE_SUBFOLDER", "MIN_IMAGES", "SPARE_BYTES", "dataset_key", "load_decoded"]

log = logging.getLogger(__name__)

CACHE_SUBFOLDER = "decoded"
MIN_IMAGES = 5_000
"""Datasets with fewer images are decoded each time (it takes moments) and not kept."""
SPARE_BYTES = 2 << 30
"""Free disk space left after a decoded dataset is written; with less, it is not kept."""
VERSION = 2  # of the decoding policy (images_io) and of these files: a change must change it
_FILES = ("train_images", "train_targets", "test_images", "test_targets")


def dataset_key(listing: Listing, image_size: int | None, skip_corrupt: bool) -> str:
    """A digest of what the decoded pixels of ``listing`` depend on (see the module doc)."""
    digest = hashlib.sha256()
    header = {"version": VERSION, "image_size": image_size, "skip_corrupt": skip_corrupt}
    digest.update(json.dumps([header, list(listing.classes)]).encode())
    for split in (listing.train, listing.test):
        digest.update(b"\0split")
        for path, target in zip(split.paths, split.targets, strict=True):
            stat = os.stat(path)
            digest.update(f"{os.fsdecode(path)}\0{target}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                          .encode("utf-8", "surrogateescape"))  # fmt: skip
    return digest.hexdigest()[:32]


def load_decoded(
    listing: Listing,
    *,
    image_size: int | None,
    skip_corrupt: bool,
    on_progress: ProgressCallback | None = None,
) -> tuple[LoadedFolder, Stats]:
    """Both splits of ``listing`` in memory (:func:`~labelspace.data.folders.load_image_folder`)
    and the training images' channel statistics, from the cache when they were decoded
    before, and kept there when they are decoded now (the statistics too: computing them
    reads every pixel again)."""
    total = len(listing.train.paths) + len(listing.test.paths)
    root = writable_cache_dir() if total >= MIN_IMAGES else None
    if root is None:
        loaded = load_image_folder(
            listing, image_size=image_size, skip_corrupt=skip_corrupt, on_progress=on_progress
        )
        return loaded, channel_stats(loaded.train.images)
    start = time.perf_counter()
    folder = root / CACHE_SUBFOLDER / dataset_key(listing, image_size, skip_corrupt)
    cached = _read(folder, listing)
    if cached is not None:
        decoded, _ = cached
        log.info(
            "read the decoded images from the cache %s in %.1f s (%.2f GiB, decoded before)",
            folder,
            time.perf_counter() - start,
            (decoded.train.images.numel() + decoded.test.images.numel()) / 2**30,
        )
        if decoded.skipped:
            log.warning(
                "left out %d unreadable image(s) of %d, e.g. %s",
                len(decoded.skipped),
                total,
                decoded.skipped[0],
            )
        if on_progress is not None:
            on_progress(total, total)
        return cached
    loaded = load_image_folder(
        listing, image_size=image_size, skip_corrupt=skip_corrupt, on_progress=on_progress
    )
    stats = channel_stats(loaded.train.images)
    _write(folder, loaded, stats)
    return loaded, stats


def _read(folder: Path, listing: Listing) -> tuple[LoadedFolder, Stats] | None:
    """The decoded dataset kept in ``folder``, memory-mapped; None when there is none (or it
    cannot be read: then it is decoded again)."""
    if not (folder / "meta.json").is_file():
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        # copy-on-write maps: writable tensors that never change the files
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="c") for name in _FILES}
        train = InMemoryImages(
            torch.from_numpy(arrays["train_images"]), torch.from_numpy(arrays["train_targets"])
        )
        test = InMemoryImages(
            torch.from_numpy(arrays["test_images"]), torch.from_numpy(arrays["test_targets"])
        )
        mean, std = meta["mean"], meta["std"]
        stats = (tuple(float(m) for m in mean), tuple(float(s) for s in std))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("the decoded images in %s cannot be read (%s); decoding again", folder, exc)
        return None
    return LoadedFolder(listing, train, test, list(meta.get("skipped", []))), stats


def _write(folder: Path, loaded: LoadedFolder, stats: Stats) -> None:
    """Keep ``loaded`` in ``folder`` (written beside it and renamed in); on any failure, log
    and carry on: the cache only saves time."""
    arrays = {
        "train_images": loaded.train.images,
        "train_targets": loaded.train.targets,
        "test_images": loaded.test.images,
        "test_targets": loaded.test.targets,
    }
    nbytes = sum(a.numel() * a.element_size() for a in arrays.values())
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder.parent).free
        if free < nbytes + SPARE_BYTES:
            log.info(
                "not keeping the decoded images (%.2f GiB) in %s: %.1f GiB free on that disk",
                nbytes / 2**30,
                folder.parent,
                free / 2**30,
            )
            return
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            for name, tensor in arrays.items():
                np.save(tmp / f"{name}.npy", tensor.numpy())
            meta = {
                "skipped": loaded.skipped,
                "source": str(loaded.layout.root),
                "mean": list(stats[0]),
                "std": list(stats[1]),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            publish_folder(tmp, folder, overwrite=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        log.warning("could not keep the decoded images in %s (%s); carrying on", folder, exc)
        return
    log.info(
        "kept the decoded images in %s (%.2f GiB): later runs read them from there",
        folder,
        nbytes / 2**30,
    )
