"""The named datasets: everything the data stage knows of each, in one entry.

A :class:`NamedDataset` holds a dataset's name, the reviewed class mapping it uses (the
hierarchy stage's ``mappings/<name>.tsv``, whose class list is the dataset's label order), its
pixel statistics, its default training augmentation and its loaders: its own files where
labelspace reads them directly (Fashion-MNIST from the Debian package), and torchvision's class
for ``torchvision:<name>``. :data:`NAMED_DATASETS` is the registry; adding a named dataset is
adding one entry. Datasets on disk (folders, CSV manifests, shards) are not named here: their
layout is found by :mod:`labelspace.data.layouts` and their statistics computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.error import URLError

import torch
from torchvision import datasets as tv_datasets

from labelspace.data.errors import DatasetError, DatasetNotFoundError
from labelspace.data.fashion_mnist import FASHION_MNIST_DIR, load_fashion_mnist
from labelspace.data.images import InMemoryImages
from labelspace.hierarchy.mapping_files import dataset_classes, dataset_mapping_file
from labelspace.hierarchy.synset_names import normalize_name
from labelspace.paths import cache_dir

__all__ = [
    "NAMED_DATASETS",
    "TORCHVISION_PREFIX",
    "NamedDataset",
    "default_torchvision_root",
    "known_dataset",
    "named_specs",
]

TORCHVISION_PREFIX = "torchvision:"

Splits = tuple[InMemoryImages, InMemoryImages]
FileLoader = Callable[[str | Path | None], Splits]
"""Reads a dataset's own files from a directory (None: its default place)."""


@dataclass(frozen=True)
class NamedDataset:
    """What the data stage knows of one named dataset.

    ``mean`` and ``std`` are the per-channel statistics of the training images, pixel values
    scaled to [0, 1], fixed so that every run and every copy of the data normalises alike.
    ``files`` loads the dataset's own files for the spec ``name`` (None: only torchvision's
    copy is read, under ``torchvision:name``); ``files_dir`` is where they are by default.
    """

    name: str
    mapping: str  # the reviewed mapping: hierarchy/mappings/<mapping>.tsv
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str  # default training augmentation (labelspace.data.transforms.AUGMENTATIONS)
    torchvision: type
    torchvision_summary: str
    files: FileLoader | None = None
    files_summary: str = ""
    files_dir: Path | None = None

    @property
    def classes(self) -> list[str]:
        """The class names in label order (those of its reviewed mapping)."""
        return dataset_classes(self.mapping)

    @property
    def mapping_file(self) -> Traversable:
        """The reviewed mapping file shipped with the hierarchy stage."""
        found = dataset_mapping_file(self.mapping)
        if found is None:  # a broken installation, not a user error
            raise RuntimeError(f"no shipped mapping {self.mapping!r} for dataset {self.name}")
        return found

    @property
    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.mean, self.std

    def load_torchvision(self, root: str | Path | None, download: bool) -> Splits:
        """Both splits of torchvision's copy under ``root`` as uint8 tensors.

        Raises:
            DatasetNotFoundError: not there (and not downloaded).
            DatasetError: a failed download, damaged files, or classes not the standard ones.
        """
        cls = self.torchvision
        directory = Path(root).expanduser() if root is not None else default_torchvision_root()
        try:
            splits = [
                cls(str(directory), train=train, download=download) for train in (True, False)
            ]
        except RuntimeError as err:
            if download:
                raise DatasetError(
                    f"torchvision {cls.__name__} under {directory} is unusable after download: "
                    f"{err}; delete the damaged files and try again"
                ) from None
            raise DatasetNotFoundError(
                f"torchvision {cls.__name__} not found under {directory} ({err}). Pass --root "
                "DIR with the directory that holds it, or --download to download it there"
            ) from None
        except (URLError, OSError) as err:
            raise DatasetError(
                f"downloading torchvision {cls.__name__} to {directory} failed: {err}. Check the "
                "network, or copy the dataset there and run without --download"
            ) from None
        classes = list(splits[0].classes)
        if classes != self.classes:
            raise DatasetError(
                f"torchvision {cls.__name__} under {directory} lists classes {classes[:5]}..., "
                f"expected {self.classes[:5]}... in that order; the files are not the "
                "standard dataset"
            )
        out = []
        for split in splits:
            data = torch.as_tensor(split.data)
            # FashionMNIST: (N, H, W) tensor; CIFAR: (N, H, W, 3) NumPy array.
            images = data.unsqueeze(1) if data.ndim == 3 else data.permute(0, 3, 1, 2)
            out.append(InMemoryImages(images.contiguous(), torch.as_tensor(split.targets)))
        return out[0], out[1]

    def load_files(self, root: str | Path | None, download: bool) -> Splits:
        """Both splits from the dataset's own files in ``root`` (None: :attr:`files_dir`).

        Raises:
            DatasetNotFoundError: the files are not there (``download`` only says where
                downloading is possible: torchvision's copy).
        """
        assert self.files is not None
        try:
            return self.files(root)
        except DatasetNotFoundError as err:
            if download:
                raise DatasetNotFoundError(
                    f"{err} (--download only applies to torchvision datasets: use "
                    f"'{TORCHVISION_PREFIX}{self.name}' with --download)"
                ) from None
            raise


def default_torchvision_root() -> Path:
    """Where torchvision datasets are looked for without ``root``: ``<cache>/datasets``."""
    return cache_dir() / "datasets"


NAMED_DATASETS: dict[str, NamedDataset] = {
    entry.name: entry
    for entry in (
        NamedDataset(
            "fashion-mnist",
            mapping="fashion-mnist",
            mean=(0.2860,),
            std=(0.3530,),
            augment="flip",
            torchvision=tv_datasets.FashionMNIST,
            torchvision_summary="torchvision's FashionMNIST under --root",
            files=load_fashion_mnist,
            files_summary="Fashion-MNIST from the Debian package dataset-fashion-mnist (default)",
            files_dir=FASHION_MNIST_DIR,
        ),
        NamedDataset(
            "cifar10",
            mapping="cifar10",
            mean=(0.4914, 0.4822, 0.4465),
            std=(0.2470, 0.2435, 0.2616),
            augment="crop-flip",
            torchvision=tv_datasets.CIFAR10,
            torchvision_summary="torchvision's CIFAR10 under --root",
        ),
        NamedDataset(
            "cifar100",
            mapping="cifar100",
            mean=(0.5071, 0.4865, 0.4409),
            std=(0.2673, 0.2564, 0.2762),
            augment="crop-flip",
            torchvision=tv_datasets.CIFAR100,
            torchvision_summary="torchvision's CIFAR100 (fine labels) under --root",
        ),
    )
}
"""The named datasets, by name."""


def named_specs() -> dict[str, tuple[NamedDataset, bool]]:
    """Every ``--data`` name of a named dataset -> its entry and whether it is torchvision's
    copy: ``fashion-mnist`` (own files), ``torchvision:fashion-mnist``, ..."""
    specs: dict[str, tuple[NamedDataset, bool]] = {}
    for entry in NAMED_DATASETS.values():
        if entry.files is not None:
            specs[entry.name] = (entry, False)
        specs[TORCHVISION_PREFIX + entry.name] = (entry, True)
    return specs


def known_dataset(classes: list[str]) -> NamedDataset | None:
    """The named dataset whose class list equals ``classes`` (as spelled by
    :func:`~labelspace.hierarchy.synset_names.normalize_name`), if any: a folder copy of it."""
    wanted = {normalize_name(c) for c in classes}
    for entry in NAMED_DATASETS.values():
        if {normalize_name(n) for n in entry.classes} == wanted:
            return entry
    return None
