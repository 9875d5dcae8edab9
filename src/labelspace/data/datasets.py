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

from labelspace.data.errors import DatasetError
from labelspace.data.folders import ProgressCallback, load_image_folder
from labelspace.data.images import InMemoryImages
from labelspace.data.named import (
    TORCHVISION_PREFIX,
    NamedDataset,
    default_torchvision_root,
    known_dataset,
    named_specs,
)
from labelspace.data.probe import probe_files, probe_lazy
from labelspace.data.storage import check_storage, choose_storage
from labelspace.data.streaming import FileImages
from labelspace.data.transforms import (
    AUGMENTATIONS,
    channel_stats,
    default_augmentation,
    eval_transform,
    train_transform,
)
from labelspace.errors import InputError
from labelspace.hierarchy.mapping import map_names
from labelspace.hierarchy.mapping_files import dataset_mapping, merge_mappings, read_mapping_file

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


def _class_synsets(
    classes: list[str], dataset_key: str | None, mapping: str | Path | None
) -> list[str]:
    """Synset of each class: the user's mapping, then the reviewed one, then map_names.

    Two classes that end at one synset are refused (``SharedSynsetError``), before any image
    is decoded.
    """
    overrides: dict[str, str] = dataset_mapping(dataset_key) if dataset_key else {}
    if mapping is not None:
        overrides = merge_mappings(overrides, read_mapping_file(mapping))
    return map_names(classes, overrides=overrides or None)


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
    :data:`~labelspace.data.storage.STORAGES`.

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

        if is_packed(Path(spec).expanduser()):
            folder = Path(spec).expanduser()
            loaded = _load_shards(folder, mapping, image_size, skip_corrupt, storage)
        else:
            loaded = _load_files(spec, mapping, image_size, skip_corrupt, storage, on_progress)

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
    )
    for note in data.notes:
        log.info("%s: %s", data.name, note)
    log.info("loaded %s in %.1f s", data.describe(), time.perf_counter() - start)
    return data


@dataclass
class _Loaded:
    """Both splits (no transforms yet) and what is known about them."""

    name: str
    train: Any  # InMemoryImages or LazyImages
    test: Any
    classes: list[str]
    synsets: list[str]
    stats: tuple[tuple[float, ...], tuple[float, ...]]
    source: str
    storage: str = "memory"
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    augment: str | None = None  # the dataset's default training augmentation, if it has one


def _load_named(
    entry: NamedDataset,
    torchvision: bool,
    key: str,
    root: str | Path | None,
    mapping: str | Path | None,
    download: bool,
    image_size: int | None,
) -> _Loaded:
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
    synsets = _class_synsets(entry.classes, entry.mapping, mapping)
    return _Loaded(
        name, train, test, entry.classes, synsets, entry.stats, source, augment=entry.augment
    )


def _load_files(
    spec: str,
    mapping: str | Path | None,
    image_size: int | None,
    skip_corrupt: bool,
    storage: str,
    on_progress: ProgressCallback | None,
) -> _Loaded:
    """A dataset in one of the layouts of :mod:`labelspace.data.layouts`."""
    from labelspace.data.layouts import scan_dataset

    listing = scan_dataset(spec)  # layout errors before any mapping or decoding
    known = known_dataset(listing.classes)
    if known:
        log.info("the classes are the %s classes: using its reviewed mapping", known.name)
    synsets = _class_synsets(
        listing.classes, known and known.mapping, mapping
    )  # mapping errors before decoding
    name = listing.root.resolve().name
    if listing.root.is_file():
        name = listing.root.resolve().stem
    n_images = len(listing.train.paths) + len(listing.test.paths)
    probe = probe_files(listing.train.paths, listing.train.targets, image_size, skip_corrupt)
    side = image_size or probe.size
    stream = choose_storage(storage, n_images * probe.in_chans * side * side, name)
    if not stream:
        loaded = load_image_folder(
            listing, image_size=image_size, skip_corrupt=skip_corrupt, on_progress=on_progress
        )
        train, test = loaded.train, loaded.test
        stats = channel_stats(train.images)  # a folder copy may differ from the original
        return _Loaded(
            name, train, test, listing.classes, synsets, stats, str(listing.root),
            skipped=loaded.skipped, notes=list(listing.notes),
        )  # fmt: skip
    options = {
        "in_chans": probe.in_chans,
        "image_size": side,
        "resize": image_size is not None,
        "skip_corrupt": skip_corrupt,
    }
    train = FileImages(listing.train.paths, listing.train.targets, **options)
    test = FileImages(listing.test.paths, listing.test.targets, **options)
    return _Loaded(
        name, train, test, listing.classes, synsets, probe.stats, str(listing.root),
        storage="streaming", notes=list(listing.notes),
    )  # fmt: skip


def _load_shards(
    folder: Path, mapping: str | Path | None, image_size: int | None, skip_corrupt: bool,
    storage: str,
) -> _Loaded:  # fmt: skip
    """Shards written by ``labelspace pack``: class list and synsets come with them."""
    from labelspace.data.shards import ShardImages, read_manifest

    if mapping is not None:
        raise InputError(
            f"--mapping: {folder} holds packed shards, whose classes were mapped when they "
            "were packed; pack them again with --mapping to change it"
        )
    if storage == "memory":
        raise InputError(
            f"--in-memory: {folder} holds packed shards, which are always streamed; pass the "
            "original dataset to decode it into memory"
        )
    manifest = read_manifest(folder)
    splits = [
        ShardImages.open(folder, split, in_chans=3, image_size=1, skip_corrupt=skip_corrupt)
        for split in ("train", "test")
    ]
    probe = probe_lazy(splits[0], image_size)
    side = image_size or probe.size
    train, test = (
        s.with_size(in_chans=probe.in_chans, image_size=side, resize=image_size is not None)
        for s in splits
    )
    return _Loaded(
        folder.resolve().name, train, test, list(manifest["classes"]), list(manifest["synsets"]),
        probe.stats, str(folder), storage="shards", notes=list(manifest.get("notes", [])),
    )  # fmt: skip


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

    if shard_mb < 1:
        raise InputError(f"--shard-mb must be >= 1, got {shard_mb}")
    listing = scan_dataset(spec)
    known = known_dataset(listing.classes)
    synsets = _class_synsets(listing.classes, known.mapping if known else None, mapping)
    return pack(
        listing,
        synsets,
        out,
        overwrite=overwrite,
        shard_bytes=shard_mb << 20,
        skip_corrupt=skip_corrupt,
        on_progress=on_progress,
    )
