"""One entry point for every supported image dataset: :func:`load_dataset`.

A dataset comes back in memory with transforms set (augmentation for ``train``, normalisation
only for ``test``), its class names in target order, and the WordNet synset of each class, so
the label-embedding side can be built for exactly these classes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError

import torch
from torchvision import datasets as tv_datasets

from labelspace.data.errors import DatasetError, DatasetNotFoundError
from labelspace.data.fashion_mnist import (
    FASHION_MNIST_DIR,
    load_fashion_mnist,
)
from labelspace.data.folders import ProgressCallback, load_image_folder, scan_image_folder
from labelspace.data.images import InMemoryImages
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

__all__ = ["DATASET_SPECS", "ImageData", "default_torchvision_root", "load_dataset"]

log = logging.getLogger(__name__)

DATASET_SPECS: dict[str, str] = {
    "fashion-mnist": "Fashion-MNIST from the Debian package dataset-fashion-mnist (default)",
    "torchvision:fashion-mnist": "torchvision's FashionMNIST under --root",
    "torchvision:cifar10": "torchvision's CIFAR10 under --root",
    "torchvision:cifar100": "torchvision's CIFAR100 (fine labels) under --root",
    "PATH": "an image-folder dataset root holding train/<class>/<image> and test/<class>/<image>",
}
"""The accepted ``spec`` values of :func:`load_dataset`, with what each loads."""

_TORCHVISION = {
    "fashion-mnist": tv_datasets.FashionMNIST,
    "cifar10": tv_datasets.CIFAR10,
    "cifar100": tv_datasets.CIFAR100,
}


@dataclass
class ImageData:
    """A dataset in memory: both splits, what its classes are, and how it is normalised.

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


def load_dataset(
    spec: str = "fashion-mnist",
    *,
    root: str | Path | None = None,
    mapping: str | Path | None = None,
    skip_corrupt: bool = False,
    download: bool = False,
    on_progress: ProgressCallback | None = None,
    image_size: int | tuple[int, int] | None = None,
    augment: str | None = None,
) -> ImageData:
    """Load a dataset into memory with transforms set; see :data:`DATASET_SPECS` for ``spec``.

    ``root``: for ``fashion-mnist`` the directory of the idx files (default
    ``/usr/share/datasets/fashion-mnist``); for ``torchvision:*`` the torchvision root (default
    :func:`default_torchvision_root`); not used with a folder path. ``mapping``: a
    ``name<TAB>synset`` file whose entries take precedence over the reviewed mappings of the
    standard datasets and over WordNet lookup of folder names. ``skip_corrupt``,
    ``on_progress`` and ``image_size`` apply to folder datasets (see
    :func:`labelspace.data.folders.decode_images`); ``augment`` is one of
    :data:`~labelspace.data.transforms.AUGMENTATIONS`, by default flip for grayscale and
    crop-flip for RGB.

    Raises:
        DatasetError: an unknown spec (listing the options), or a dataset that cannot be
            loaded (subclasses say why: not found, corrupt image, empty class, ...).
        labelspace.hierarchy.mapping.UnmappedNameError: a class name with no WordNet synset.
    """
    if augment is not None and augment not in AUGMENTATIONS:
        raise InputError(f"unknown augmentation {augment!r}; choose one of {list(AUGMENTATIONS)}")
    start = time.perf_counter()
    key = spec.strip().lower()
    skipped: list[str] = []
    torchvision_name = key.removeprefix("torchvision:") if key.startswith("torchvision:") else None
    if key == "fashion-mnist" or torchvision_name in _TORCHVISION:
        if key == "fashion-mnist":
            name = key
            train, test = _load_debian_fashion_mnist(root, download)
            source = str(root if root is not None else FASHION_MNIST_DIR)
        else:
            name = torchvision_name
            train, test = _load_torchvision(name, root, download)
            source = f"{key} in {root if root is not None else default_torchvision_root()}"
        if image_size is not None and _pair(image_size) != train.image_size:
            raise InputError(
                f"image_size={image_size} is for image-folder datasets; {name} images are "
                f"{train.image_size[0]}x{train.image_size[1]}"
            )
        classes = DATASET_CLASSES[name]
        synsets = _class_synsets(classes, name, mapping)
        mean, std = DATASET_STATS[name]
        if on_progress is not None:
            on_progress(len(train) + len(test), len(train) + len(test))
    elif torchvision_name is not None or not _looks_like_path(spec):
        raise DatasetError(f"unknown dataset {spec!r}; choose one of: {_options()}")
    else:
        if root is not None:
            raise InputError(
                f"root={root!r} is for fashion-mnist and torchvision datasets; a folder "
                "dataset is named by its path alone"
            )
        layout = scan_image_folder(spec)  # layout errors before any mapping or decoding
        classes = layout.classes
        known = _known_dataset(classes)
        if known:
            log.info("class folders are the %s classes: using its reviewed mapping", known)
        synsets = _class_synsets(classes, known, mapping)  # mapping errors before decoding
        loaded = load_image_folder(
            layout, image_size=image_size, skip_corrupt=skip_corrupt, on_progress=on_progress
        )
        train, test, skipped = loaded.train, loaded.test, loaded.skipped
        name, source = layout.root.resolve().name, str(layout.root)
        mean, std = channel_stats(train.images)  # a folder copy may differ from the original

    augment = augment or default_augmentation(train.in_chans)
    data = ImageData(
        name=name,
        train=train.with_transform(
            train_transform(mean, std, image_size=train.image_size, augment=augment)
        ),
        test=test.with_transform(eval_transform(mean, std)),
        classes=list(classes),
        synsets=synsets,
        in_chans=train.in_chans,
        image_size=train.image_size,
        mean=tuple(mean),
        std=tuple(std),
        skipped=skipped,
        augment=augment,
        source=source,
    )
    log.info("loaded %s in %.1f s", data.describe(), time.perf_counter() - start)
    return data


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _looks_like_path(spec: str) -> bool:
    """Whether ``spec`` names a file system path rather than a dataset name."""
    return Path(spec).expanduser().exists() or any(c in spec for c in "/\\~") or spec[:1] == "."
