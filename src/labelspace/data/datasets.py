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
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torchvision import datasets as tv_datasets

from labelspace.data.errors import CorruptImageError, DatasetError, DatasetNotFoundError
from labelspace.data.fashion_mnist import (
    FASHION_MNIST_DIR,
    load_fashion_mnist,
)
from labelspace.data.folders import ProgressCallback, decode_images, load_image_folder
from labelspace.data.images import InMemoryImages
from labelspace.data.splits import stratified_sample
from labelspace.data.streaming import FileImages
from labelspace.data.transforms import (
    AUGMENTATIONS,
    DATASET_STATS,
    channel_stats,
    default_augmentation,
    eval_transform,
    train_transform,
)
from labelspace.errors import InputError
from labelspace.hierarchy.mapping import (
    DATASET_CLASSES,
    dataset_mapping,
    map_names,
    merge_mappings,
    normalize_name,
    read_mapping_file,
)
from labelspace.paths import cache_dir

__all__ = [
    "DATASET_SPECS",
    "STORAGES",
    "ImageData",
    "available_memory",
    "default_torchvision_root",
    "load_dataset",
]

log = logging.getLogger(__name__)

DATASET_SPECS: dict[str, str] = {
    "fashion-mnist": "Fashion-MNIST from the Debian package dataset-fashion-mnist (default)",
    "torchvision:fashion-mnist": "torchvision's FashionMNIST under --root",
    "torchvision:cifar10": "torchvision's CIFAR10 under --root",
    "torchvision:cifar100": "torchvision's CIFAR100 (fine labels) under --root",
    "PATH": "a folder or CSV manifest in one of the layouts of labelspace.data.layouts "
    "(ImageFolder, Tiny ImageNet, ILSVRC-2012, CSV), or shards written by `labelspace pack`",
}
"""The accepted ``spec`` values of :func:`load_dataset`, with what each loads."""

_TORCHVISION = {
    "fashion-mnist": tv_datasets.FashionMNIST,
    "cifar10": tv_datasets.CIFAR10,
    "cifar100": tv_datasets.CIFAR100,
}


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


def default_torchvision_root() -> Path:
    """Where torchvision datasets are looked for without ``root``: ``<cache>/datasets``."""
    return cache_dir() / "datasets"


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


def _known_dataset(classes: list[str]) -> str | None:
    """The dataset whose class list equals ``classes`` (as spelled by normalize_name), if any."""
    wanted = {normalize_name(c) for c in classes}
    for key, names in DATASET_CLASSES.items():
        if {normalize_name(n) for n in names} == wanted:
            return key
    return None


def _load_torchvision(
    key: str, root: str | Path | None, download: bool
) -> tuple[InMemoryImages, InMemoryImages]:
    """Both splits of a torchvision dataset as uint8 tensors."""
    cls = _TORCHVISION[key]
    directory = Path(root).expanduser() if root is not None else default_torchvision_root()
    try:
        splits = [cls(str(directory), train=train, download=download) for train in (True, False)]
    except RuntimeError as err:
        if download:
            raise DatasetError(
                f"torchvision {cls.__name__} under {directory} is unusable after download: {err}; "
                "delete the damaged files and try again"
            ) from None
        raise DatasetNotFoundError(
            f"torchvision {cls.__name__} not found under {directory} ({err}). Pass --root DIR "
            "with the directory that holds it, or --download to download it there"
        ) from None
    except (URLError, OSError) as err:
        raise DatasetError(
            f"downloading torchvision {cls.__name__} to {directory} failed: {err}. Check the "
            "network, or copy the dataset there and run without --download"
        ) from None
    classes = list(splits[0].classes)
    if classes != DATASET_CLASSES[key]:
        raise DatasetError(
            f"torchvision {cls.__name__} under {directory} lists classes {classes[:5]}..., "
            f"expected {DATASET_CLASSES[key][:5]}... in that order; the files are not the "
            "standard dataset"
        )
    out = []
    for split in splits:
        data = torch.as_tensor(split.data)
        # FashionMNIST: (N, H, W) tensor; CIFAR: (N, H, W, 3) NumPy array.
        images = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)
        out.append(InMemoryImages(images.contiguous(), torch.as_tensor(split.targets)))
    return out[0], out[1]


def _load_debian_fashion_mnist(
    directory: str | Path | None, download: bool
) -> tuple[InMemoryImages, InMemoryImages]:
    try:
        return load_fashion_mnist(directory)
    except DatasetNotFoundError as err:
        if download:
            raise DatasetNotFoundError(
                f"{err} (--download only applies to torchvision datasets: use "
                "'torchvision:fashion-mnist' with --download)"
            ) from None
        raise


STORAGES = ("auto", "memory", "streaming")
"""Where a dataset's pixels live: chosen by size, decoded into memory, or decoded when read."""

MEMORY_SHARE = 0.25
"""``auto`` decodes into memory only what takes at most this share of the available memory."""

STATS_SAMPLE = 2000
"""Streamed datasets take their channel statistics from this many training images (seeded);
smaller datasets from all of them, exactly as in memory."""


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``; all RAM elsewhere)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def choose_storage(storage: str, nbytes: int, what: str) -> bool:
    """Whether to stream (True) or decode into memory (False), and say why in the log."""
    if storage not in STORAGES:
        raise InputError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if storage != "auto":
        return storage == "streaming"
    budget = MEMORY_SHARE * available_memory()
    stream = nbytes > budget
    log.info(
        "%s: decoded it takes %.2f GiB, %s %.0f %% of the available memory (%.1f GiB): %s",
        what,
        nbytes / 2**30,
        "more than" if stream else "within",
        100 * MEMORY_SHARE,
        available_memory() / 2**30,
        "streaming it from files (--in-memory to decode it all)"
        if stream
        else "decoding it into memory (--streaming to read it from files instead)",
    )
    return stream


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
    for grayscale and crop-flip for RGB. ``storage``: one of :data:`STORAGES`.

    Raises:
        DatasetError: an unknown spec (listing the options), or a dataset that cannot be
            loaded (subclasses say why: not found, corrupt image, empty class, ...).
        labelspace.hierarchy.mapping.UnmappedNameError: a class name with no WordNet synset.
    """
    if augment is not None and augment not in AUGMENTATIONS:
        raise InputError(f"unknown augmentation {augment!r}; choose one of {list(AUGMENTATIONS)}")
    if storage not in STORAGES:
        raise InputError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
    ):
        raise InputError(f"--image-size must be a positive number of pixels, got {image_size}")
    start = time.perf_counter()
    key = spec.strip().lower()
    torchvision_name = key.removeprefix("torchvision:") if key.startswith("torchvision:") else None
    if key == "fashion-mnist" or torchvision_name in _TORCHVISION:
        loaded = _load_standard(key, torchvision_name, root, mapping, download, image_size)
        if storage == "streaming":
            raise InputError(
                f"--streaming is for datasets read from files or shards; {loaded.name} is "
                "small and always held in memory"
            )
        if on_progress is not None:
            total = len(loaded.train) + len(loaded.test)
            on_progress(total, total)
    elif torchvision_name is not None or not _looks_like_path(spec):
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

    augment = augment or default_augmentation(loaded.train.in_chans)
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


def _load_standard(
    key: str,
    torchvision_name: str | None,
    root: str | Path | None,
    mapping: str | Path | None,
    download: bool,
    image_size: int | None,
) -> _Loaded:
    """Fashion-MNIST (Debian files) or a torchvision dataset, in memory."""
    if key == "fashion-mnist":
        name = key
        train, test = _load_debian_fashion_mnist(root, download)
        source = str(root if root is not None else FASHION_MNIST_DIR)
    else:
        name = torchvision_name
        train, test = _load_torchvision(name, root, download)
        source = f"{key} in {root if root is not None else default_torchvision_root()}"
    if image_size is not None and (image_size, image_size) != train.image_size:
        raise InputError(
            f"--image-size {image_size} is for datasets read from files; {name} images are "
            f"{train.image_size[0]}x{train.image_size[1]}"
        )
    classes = DATASET_CLASSES[name]
    synsets = _class_synsets(classes, name, mapping)
    return _Loaded(name, train, test, classes, synsets, DATASET_STATS[name], source)


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
    known = _known_dataset(listing.classes)
    if known:
        log.info("the classes are the %s classes: using its reviewed mapping", known)
    synsets = _class_synsets(listing.classes, known, mapping)  # mapping errors before decoding
    name = listing.root.resolve().name
    if listing.root.is_file():
        name = listing.root.resolve().stem
    n_images = len(listing.train.paths) + len(listing.test.paths)
    probe = _probe(listing.train.paths, listing.train.targets, image_size, skip_corrupt)
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
    probe = _probe_lazy(splits[0], image_size)
    side = image_size or probe.size
    train, test = (
        s.with_size(in_chans=probe.in_chans, image_size=side, resize=image_size is not None)
        for s in splits
    )
    return _Loaded(
        folder.resolve().name, train, test, list(manifest["classes"]), list(manifest["synsets"]),
        probe.stats, str(folder), storage="shards", notes=list(manifest.get("notes", [])),
    )  # fmt: skip


@dataclass(frozen=True)
class _Probe:
    """What a sample of a dataset's images says: channels, size, normalisation."""

    in_chans: int
    size: int
    stats: tuple[tuple[float, ...], tuple[float, ...]]


def _sample(n: int, targets: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """At most :data:`STATS_SAMPLE` indices in class proportion (all of them when fewer)."""
    if n <= STATS_SAMPLE:
        return torch.arange(n)
    return stratified_sample(torch.as_tensor(targets), STATS_SAMPLE, 0)


def _probe(
    paths: Sequence[Path], targets: Sequence[int], image_size: int | None, skip_corrupt: bool
) -> _Probe:
    """Decode a seeded, class-proportional sample of the training images."""
    pick = _sample(len(paths), targets).tolist()
    decoded = decode_images([paths[i] for i in pick], image_size=image_size, skip_corrupt=True)
    if decoded.skipped and not skip_corrupt:
        raise CorruptImageError(decoded.skipped[0], "not a readable image")
    return _stats_probe(decoded.images)


def _probe_lazy(dataset: Any, image_size: int | None) -> _Probe:
    from labelspace.data.images_io import open_image

    pick = _sample(len(dataset), dataset.targets).tolist()
    first = open_image(dataset.source(pick[0]))
    size = image_size or first.height
    gray = all(open_image(dataset.source(i)).mode == "L" for i in pick[:200])
    channels = 1 if gray else 3
    probe = dataset.with_size(in_chans=channels, image_size=size, resize=image_size is not None)
    images = torch.stack([probe.read(i) for i in pick])
    return _stats_probe(images)


def _stats_probe(images: torch.Tensor) -> _Probe:
    return _Probe(int(images.shape[1]), int(images.shape[2]), channel_stats(images))


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


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
    synsets = _class_synsets(listing.classes, _known_dataset(listing.classes), mapping)
    return pack(
        listing,
        synsets,
        out,
        overwrite=overwrite,
        shard_bytes=shard_mb << 20,
        skip_corrupt=skip_corrupt,
        on_progress=on_progress,
    )
