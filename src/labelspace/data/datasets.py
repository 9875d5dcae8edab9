"""One entry point for every supported image dataset: :func:`load_dataset`.

A dataset comes back with transforms set (augmentation for ``train``, normalisation only for
``test``), its class names in target order, and the WordNet synset of each class, so the
label-embedding side can be built for exactly these classes.

Where the pixels live is chosen per dataset (``storage``): small datasets are decoded once into
one uint8 tensor (:class:`~labelspace.data.images.InMemoryImages`); datasets whose decoded size
would not fit comfortably in memory are decoded when read, in DataLoader workers
(:class:`~labelspace.data.streaming.FileImages`); packed shards are always read that way
(:class:`~labelspace.data.shards.ShardImages`). Both kinds offer one interface, so everything
downstream treats them alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelspace.data.disk import Batches, Loaded, class_synsets, load_files, load_shards
from labelspace.data.errors import DatasetError
from labelspace.data.folders import ProgressCallback
from labelspace.data.images import InMemoryImages
from labelspace.data.named import (
    TORCHVISION_PREFIX,
    NamedDataset,
    default_torchvision_root,
    known_dataset,
    named_specs,
)
from labelspace.data.storage import check_storage
from labelspace.data.streaming import SkipLog
from labelspace.data.transforms import (
    AUGMENTATIONS,
    default_augmentation,
    eval_transform,
    train_transform,
)
from labelspace.errors import InputError

__all__ = [
    "DATASET_SPECS",
    "ImageData",
    "load_dataset",
    "pack_dataset",
]

log = logging.getLogger(__name__)

DATASET_SPECS: dict[str, str] = {
    **{
        spec: entry.torchvision_summary if torchvision else entry.files_summary
        for spec, (entry, torchvision) in named_specs().items()
    },
    "PATH": "a folder or CSV manifest in one of the layouts of labelspace.data.layouts "
    "(ImageFolder, Tiny ImageNet, ILSVRC-2012, CSV), or shards written by `labelspace pack`",
}
"""The accepted ``spec`` values of :func:`load_dataset`, with what each loads: the named
datasets of :data:`~labelspace.data.named.NAMED_DATASETS`, or a path."""


@dataclass
class ImageData:
    """A dataset: both splits, what its classes are, and how it is normalised.

    ``train`` carries the training augmentation, ``test`` normalisation only; targets index
    ``classes`` and ``synsets`` (the WordNet 3.0 noun synset name of each class).
    """

    name: str
    train: InMemoryImages
    test: InMemoryImages
    classes: list[str]
    synsets: list[str]
    in_chans: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: list[str] = field(default_factory=list)
    augment: str = "none"
    source: str = ""
    notes: list[str] = field(default_factory=list)  # what loading decided (a split made, ...)
    storage: str = "memory"  # memory | streaming | shards
    skip_log: SkipLog | None = None  # streamed training images skipped as unreadable

    def skipped_files(self) -> list[str]:
        """Every image left out as unreadable: those found when loading (both splits in
        memory, the test split when streamed) and the streamed training images skipped so far
        (by any DataLoader worker)."""
        later = self.skip_log.names() if self.skip_log is not None else []
        return list(dict.fromkeys([*later, *self.skipped]))  # training images first, as in memory

    @property
    def streaming(self) -> bool:
        """Whether images are decoded when read (from files or shards)."""
        return self.storage != "memory"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        """One line for logs and run reports."""
        h, w = self.image_size
        text = (
            f"{self.name}: {len(self.train):,} train / {len(self.test):,} test images, "
            f"{self.num_classes} classes, {self.in_chans}x{h}x{w}, augment={self.augment}"
        )
        if self.streaming:
            text += f", streamed from {'shards' if self.storage == 'shards' else 'files'}"
        if self.skipped:
            text += f", {len(self.skipped)} unreadable image(s) skipped"
        return text


def _options() -> str:
    return "; ".join(f"{spec!r}: {what}" for spec, what in DATASET_SPECS.items())


def load_dataset(
    spec: str = "fashion-mnist",
    *,
    root: str | Path | None = None,
    mapping: str | Path | None = None,
    skip_corrupt: bool = False,
    download: bool = False,
    on_progress: ProgressCallback | None = None,
    image_size: int | None = None,
    augment: str | None = None,
    storage: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
) -> ImageData:
    """Load a dataset with transforms set; see :data:`DATASET_SPECS` for ``spec``.

    ``root``: for ``fashion-mnist`` the directory of the idx files (default
    ``/usr/share/datasets/fashion-mnist``); for ``torchvision:*`` the torchvision root (default
    :func:`default_torchvision_root`); not used with a path. ``mapping``: a
    ``name<TAB>synset`` file whose entries take precedence over the reviewed mappings of the
    standard datasets and over WordNet lookup of folder names. ``image_size`` N brings every
    image of a path dataset to N x N (shorter side to N, centre crop: one policy for training,
    evaluation and prediction). ``skip_corrupt`` and ``on_progress`` apply to path datasets;
    ``augment`` is one of :data:`~labelspace.data.transforms.AUGMENTATIONS`, by default flip
    for grayscale and crop-flip for RGB. ``storage``: one of
    :data:`~labelspace.data.storage.STORAGES`. ``batch_size`` and ``workers`` (a run's
    ``--batch-size`` and ``--workers``) let the memory plan refuse, before anything is
    decoded, an image size at which the batches held at once would not fit in memory.

    Raises:
        DatasetError: an unknown spec (listing the options), or a dataset that cannot be
            loaded (subclasses say why: not found, corrupt image, empty class, ...).
        labelspace.hierarchy.mapping.UnmappedNameError: a class name with no WordNet synset.
    """
    if augment is not None and augment not in AUGMENTATIONS:
        raise InputError(f"unknown augmentation {augment!r}; choose one of {list(AUGMENTATIONS)}")
    check_storage(storage)
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
    ):
        raise InputError(f"--image-size must be a positive number of pixels, got {image_size}")
    start = time.perf_counter()
    key = spec.strip().lower()
    specs = named_specs()
    if key in specs:
        entry, torchvision = specs[key]
        loaded = _load_named(entry, torchvision, key, root, mapping, download, image_size)
        if storage == "streaming":
            raise InputError(
                f"--streaming is for datasets read from files or shards; {loaded.name} is "
                "small and always held in memory"
            )
        if on_progress is not None:
            total = len(loaded.train) + len(loaded.test)
            on_progress(total, total)
    elif key.startswith(TORCHVISION_PREFIX) or not _looks_like_path(spec):
        raise DatasetError(f"unknown dataset {spec!r}; choose one of: {_options()}")
    else:
        if root is not None:
            raise InputError(
                f"--root {root} is for fashion-mnist and torchvision datasets; a dataset on "
                "disk is named by its path alone"
            )
        from labelspace.data.shards import is_packed

        batches = Batches(batch_size, workers)
        folder = Path(spec).expanduser()
        load = load_shards if is_packed(folder) else load_files
        where = folder if load is load_shards else spec
        loaded = load(where, mapping, image_size, skip_corrupt, storage, on_progress, batches)

    augment = augment or loaded.augment or default_augmentation(loaded.train.in_chans)
    mean, std = loaded.stats
    image_hw = loaded.train.image_size
    data = ImageData(
        name=loaded.name,
        train=loaded.train.with_transform(
            train_transform(mean, std, image_size=image_hw, augment=augment)
        ),
        test=loaded.test.with_transform(eval_transform(mean, std)),
        classes=list(loaded.classes),
        synsets=loaded.synsets,
        in_chans=loaded.train.in_chans,
        image_size=image_hw,
        mean=tuple(mean),
        std=tuple(std),
        skipped=loaded.skipped,
        augment=augment,
        source=loaded.source,
        notes=loaded.notes,
        storage=loaded.storage,
        skip_log=loaded.skip_log,
    )
    for note in data.notes:
        log.info("%s: %s", data.name, note)
    log.info("loaded %s in %.1f s", data.describe(), time.perf_counter() - start)
    return data


def _load_named(
    entry: NamedDataset,
    torchvision: bool,
    key: str,
    root: str | Path | None,
    mapping: str | Path | None,
    download: bool,
    image_size: int | None,
) -> Loaded:
    """A named dataset (its own files, or torchvision's copy), in memory."""
    if torchvision:
        train, test = entry.load_torchvision(root, download)
        source = f"{key} in {root if root is not None else default_torchvision_root()}"
    else:
        train, test = entry.load_files(root, download)
        source = str(root if root is not None else entry.files_dir)
    name = entry.name
    if image_size is not None and (image_size, image_size) != train.image_size:
        raise InputError(
            f"--image-size {image_size} is for datasets read from files; {name} images are "
            f"{train.image_size[0]}x{train.image_size[1]}"
        )
    synsets = class_synsets(entry.classes, entry.mapping, mapping)
    return Loaded(
        name, train, test, entry.classes, synsets, entry.stats, source, augment=entry.augment
    )


def _looks_like_path(spec: str) -> bool:
    """Whether ``spec`` names a file system path rather than a dataset name."""
    return Path(spec).expanduser().exists() or any(c in spec for c in "/\\~") or spec[:1] == "."


def pack_dataset(
    spec: str | Path,
    out: str | Path,
    *,
    mapping: str | Path | None = None,
    overwrite: bool = False,
    skip_corrupt: bool = False,
    shard_mb: int = 256,
    on_progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Pack a dataset on disk (any layout of :mod:`labelspace.data.layouts`) into shards.

    The classes are mapped to synsets now (``mapping`` as for :func:`load_dataset`), so the
    shards carry their class list and synsets; ``--data OUT`` then trains from them. Returns
    the manifest (:func:`labelspace.data.shards.pack`)."""
    from labelspace.data.layouts import scan_dataset
    from labelspace.data.shards import pack
    from labelspace.data.shards.writer import check_out

    if shard_mb < 1:
        raise InputError(f"--shard-mb must be >= 1, got {shard_mb}")
    if Path(spec).expanduser().exists():  # before the scan: a bad OUT fails at once
        check_out(Path(out), Path(spec).expanduser(), overwrite=overwrite)
    listing = scan_dataset(spec)
    known = known_dataset(listing.classes)
    synsets = class_synsets(listing.classes, known.mapping if known else None, mapping)
    return pack(
        listing,
        synsets,
        out,
        overwrite=overwrite,
        shard_bytes=shard_mb << 20,
        skip_corrupt=skip_corrupt,
        on_progress=on_progress,
    )
