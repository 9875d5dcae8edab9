"""Fashion-MNIST from the idx files of the Debian package ``dataset-fashion-mnist``.

The package installs the four original files, gzipped, in :data:`FASHION_MNIST_DIR`, so the
dataset needs no download. Plain (gunzipped) copies are read too. Every file is checked (magic
number, dimensions, size, label range) and a bad one is named in the error.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import numpy as np
import torch

from labelspace.data.errors import DatasetNotFoundError, IdxFormatError
from labelspace.data.images import InMemoryImages
from labelspace.hierarchy.mapping_files import DATASET_CLASSES

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "fashion_mnist_files",
    "load_fashion_mnist",
    "read_fashion_mnist",
    "read_idx",
]

log = logging.getLogger(__name__)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where ``sudo apt-get install dataset-fashion-mnist`` puts the idx files."""

FASHION_MNIST_CLASSES: list[str] = list(DATASET_CLASSES["fashion-mnist"])
"""Class names in label order ("T-shirt/top", "Trouser", ..., "Ankle boot")."""

_IMAGE_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABEL_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_UBYTE = 0x08
_SIDE = 28
_INSTALL_HINT = (
    "Install the Debian package with 'sudo apt-get install dataset-fashion-mnist' (it puts the "
    f"files in {FASHION_MNIST_DIR}), or pass the directory that holds them (--root)."
)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip-compressed (by content, not by name)."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IdxFormatError(
            path, f"corrupt gzip data ({err}); the file is damaged, reinstall or re-download it"
        ) from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an unsigned-byte idx file (gzipped or plain) into an array of its dimensions.

    Raises:
        IdxFormatError: bad magic number, unsupported element type, or a size that does not
            match the header (a truncated or padded file).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IdxFormatError(
            path, f"not an idx file (magic number starts {data[:4].hex() or 'empty'})"
        )
    if data[2] != _UBYTE:
        raise IdxFormatError(
            path, f"element type 0x{data[2]:02x}; only unsigned bytes (0x08) are supported"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IdxFormatError(path, f"header of {ndim} dimensions is missing or truncated")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise IdxFormatError(
            path,
            f"header says {' x '.join(map(str, dims))} = {expected} bytes of data, found "
            f"{len(data) - header}; the file is truncated or damaged",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def fashion_mnist_files(directory: str | Path | None = None) -> dict[str, Path]:
    """The four idx files in ``directory`` (default :data:`FASHION_MNIST_DIR`).

    Keys are ``train-images``, ``train-labels``, ``test-images``, ``test-labels``; each file
    may be gzipped (``.gz``) or plain.

    Raises:
        DatasetNotFoundError: the directory or some of the files are missing (with the
            apt-get command that installs them).
    """
    directory = Path(directory) if directory is not None else FASHION_MNIST_DIR
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in [
        ("train-images", "train-images-idx3-ubyte"),
        ("train-labels", "train-labels-idx1-ubyte"),
        ("test-images", "t10k-images-idx3-ubyte"),
        ("test-labels", "t10k-labels-idx1-ubyte"),
    ]:
        for candidate in (directory / f"{stem}.gz", directory / stem):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(f"{stem}.gz")
    if missing:
        where = "does not exist" if not directory.is_dir() else f"lacks {', '.join(missing)}"
        raise DatasetNotFoundError(f"Fashion-MNIST not found: {directory} {where}. {_INSTALL_HINT}")
    return found


def _check_magic(path: Path, array: np.ndarray, magic: int) -> None:
    """Check the idx magic number: 0x803 for an image file, 0x801 for a label file."""
    found = (_UBYTE << 8) | array.ndim  # read_idx has checked the element type
    if found != magic:
        kind = "images (3 dimensions)" if magic == _IMAGE_MAGIC else "labels (1 dimension)"
        raise IdxFormatError(
            path,
            f"magic number 0x{found:08x}, expected 0x{magic:08x} for {kind}; is this the "
            "right file?",
        )


def read_fashion_mnist(
    directory: str | Path | None = None, *, train: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as uint8 images ``(N, 1, 28, 28)`` and int64 labels ``(N,)``.

    Raises:
        DatasetNotFoundError: files missing.
        IdxFormatError: a malformed file, images that are not 28 x 28, image and label counts
            that differ, or labels outside 0-9.
    """
    files = fashion_mnist_files(directory)
    split = "train" if train else "test"
    image_path, label_path = files[f"{split}-images"], files[f"{split}-labels"]
    images = read_idx(image_path)
    labels = read_idx(label_path)
    _check_magic(image_path, images, _IMAGE_MAGIC)
    _check_magic(label_path, labels, _LABEL_MAGIC)
    if images.shape[1:] != (_SIDE, _SIDE):
        raise IdxFormatError(
            image_path, f"images are {images.shape[1]} x {images.shape[2]}, expected 28 x 28"
        )
    if len(images) != len(labels):
        raise IdxFormatError(
            label_path,
            f"{len(labels)} labels but {image_path.name} holds {len(images)} images; the files "
            "must come from the same split",
        )
    if len(labels) and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise IdxFormatError(
            label_path, f"label {int(labels.max())} is out of range 0-9 for Fashion-MNIST"
        )
    log.debug("read Fashion-MNIST %s: %d images from %s", split, len(images), image_path)
    # np.frombuffer arrays are read-only; copy into tensors that own their memory.
    image_tensor = torch.from_numpy(images.copy()).unsqueeze(1)
    return image_tensor, torch.from_numpy(labels.astype(np.int64))


def load_fashion_mnist(
    directory: str | Path | None = None,
) -> tuple[InMemoryImages, InMemoryImages]:
    """The train (60,000) and test (10,000) splits, without transforms."""
    train = InMemoryImages(*read_fashion_mnist(directory, train=True))
    test = InMemoryImages(*read_fashion_mnist(directory, train=False))
    return train, test
