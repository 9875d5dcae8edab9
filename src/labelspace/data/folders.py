"""Image datasets in ImageFolder layout, decoded once into memory.

Layout: a dataset root holds ``train/`` and ``test/``, each holding one folder per class
(``train/<class>/<image>``; images may sit in subfolders of a class folder). Class folders are
named by a plain name ("airplane"), a WordNet synset name ("airplane.n.01") or an ImageNet wnid
("n02691156"); targets follow the sorted folder names, as in ``torchvision.datasets.ImageFolder``.

Everything that can be checked without decoding is checked first (missing splits, empty class
folders, differing class sets), so a bad layout fails in milliseconds, not after minutes of
decoding. Decoding is strict: an unreadable image is an error naming the file unless
``skip_corrupt`` is set, and then every skipped file is returned for the run report. Images of
differing sizes are an error unless ``image_size`` asks for resizing.

Decoding uses Pillow in one thread: on the 2-core machine a thread pool was measured slower
(its threads only contend), and torchvision.io's decoders are deprecated since 0.29.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from labelspace.data.errors import (
    ClassMismatchError,
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    EmptyClassError,
    ImageSizeError,
)
from labelspace.data.images import InMemoryImages
from labelspace.errors import InputError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodedImages",
    "FolderSplit",
    "ImageFolderLayout",
    "LoadedFolder",
    "ProgressCallback",
    "decode_images",
    "load_image_folder",
    "scan_image_folder",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called as ``on_progress(done, total)`` while images are decoded, and once at the end."""

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff",
})  # fmt: skip
"""File suffixes (lowercase) read as images; other files in class folders are ignored."""

_GRAY_MODES = frozenset({"1", "L", "LA", "La"})

SPLITS = ("train", "test")
_LARGE_BYTES = 8 << 30  # warn before allocating more than this for decoded images


@dataclass(frozen=True)
class FolderSplit:
    """The image files of one split, in target order then path order."""

    directory: Path
    paths: list[Path]
    targets: list[int]


@dataclass(frozen=True)
class ImageFolderLayout:
    """A checked dataset root: its classes (sorted folder names) and both splits' files."""

    root: Path
    classes: list[str]
    train: FolderSplit
    test: FolderSplit


@dataclass
class DecodedImages:
    """Decoded images, which input positions they came from, and the skipped files."""

    images: torch.Tensor  # uint8 (N_kept, C, H, W)
    kept: torch.Tensor  # int64 indices into the input paths, ascending
    skipped: list[str] = field(default_factory=list)


@dataclass
class LoadedFolder:
    """An ImageFolder dataset in memory (no transforms yet)."""

    layout: ImageFolderLayout
    train: InMemoryImages
    test: InMemoryImages
    skipped: list[str]


# ----------------------------------------------------------------------------------- layout
def _list_classes(split_dir: Path) -> dict[str, list[Path]]:
    """Class folder name -> its image files (sorted, found recursively)."""
    stray = sorted(
        p.name for p in split_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if stray:
        raise DatasetError(
            f"{split_dir} holds images outside class folders ({', '.join(stray[:5])}"
            f"{', ...' if len(stray) > 5 else ''}); move each image into {split_dir}/<class>/"
        )
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DatasetError(
            f"{split_dir} holds no class folders; expected {split_dir}/<class>/<image> with one "
            "folder per class"
        )
    classes: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    for class_dir in class_dirs:
        files: list[Path] = []
        # os.walk lists directories with scandir, without a stat call per file.
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for filename in filenames:
                if filename.startswith("."):
                    continue
                path = Path(dirpath, filename)
                is_image = os.path.splitext(filename)[1].lower() in IMAGE_EXTENSIONS
                (files if is_image else ignored).append(path)
        classes[class_dir.name] = sorted(files)
    if ignored:
        examples = ", ".join(str(p.relative_to(split_dir)) for p in sorted(ignored)[:3])
        log.warning(
            "%s: ignored %d file(s) that are not images by suffix (%s); image suffixes are %s",
            split_dir,
            len(ignored),
            examples,
            " ".join(sorted(IMAGE_EXTENSIONS)),
        )
    return classes


def scan_image_folder(root: str | Path) -> ImageFolderLayout:
    """Find and check the class folders and image files of a dataset root; decodes nothing.

    Raises:
        DatasetNotFoundError: ``root``, ``root/train`` or ``root/test`` is missing.
        EmptyClassError: class folders without images (all of them listed).
        ClassMismatchError: ``test/`` and ``train/`` have different class folders.
        DatasetError: images outside class folders, or a split without class folders.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder {root} does not exist; pass a directory that holds train/<class>/ "
            "and test/<class>/ folders of images"
        )
    missing = [s for s in SPLITS if not (root / s).is_dir()]
    if missing:
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DatasetNotFoundError(
            f"{root} lacks {' and '.join(f'{s}/' for s in missing)}; an image-folder dataset "
            f"holds train/<class>/<image> and test/<class>/<image> (found folders: "
            f"{', '.join(present) or 'none'})"
        )
    found = {split: _list_classes(root / split) for split in SPLITS}

    empty = [
        f"{split}/{name}" for split in SPLITS for name, files in found[split].items() if not files
    ]
    if empty:
        raise EmptyClassError(
            f"{root}: class folder(s) without images: {', '.join(empty)}. Every class needs "
            "images in train/ and test/; add images or remove the folder(s)"
        )
    train_classes, test_classes = set(found["train"]), set(found["test"])
    if train_classes != test_classes:
        only_train, only_test = (
            sorted(train_classes - test_classes),
            sorted(test_classes - train_classes),
        )
        parts = []
        if only_train:
            parts.append(f"only in train/: {', '.join(only_train)}")
        if only_test:
            parts.append(f"only in test/: {', '.join(only_test)}")
        raise ClassMismatchError(
            f"{root}: test/ and train/ must hold the same class folders; {'; '.join(parts)}"
        )

    classes = sorted(train_classes)
    splits = {}
    for split in SPLITS:
        paths: list[Path] = []
        targets: list[int] = []
        for target, name in enumerate(classes):
            files = found[split][name]
            paths.extend(files)
            targets.extend([target] * len(files))
        splits[split] = FolderSplit(root / split, paths, targets)
    log.info(
        "%s: %d classes, %d train and %d test images",
        root,
        len(classes),
        len(splits["train"].paths),
        len(splits["test"].paths),
    )
    return ImageFolderLayout(root, classes, splits["train"], splits["test"])


# ---------------------------------------------------------------------------------- decoding
def _reason(err: BaseException) -> str:
    """The first line of an error's message, or its type when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _open_image(path: Path) -> Image.Image:
    """One image, decoded, as an 8-bit grayscale ("L") or RGB Pillow image; alpha is dropped.

    The file is read in one call and parsed from memory: Pillow's JPEG parser reads byte by
    byte, which from a file costs more than the decoding of a 32 x 32 image.
    """
    pil = Image.open(io.BytesIO(path.read_bytes()))
    pil.load()  # decode now, so that a damaged file fails here
    if pil.mode in {"L", "RGB"}:
        return pil
    if pil.mode in _GRAY_MODES:
        return pil.convert("L")
    if pil.mode.startswith("I;16"):  # 16-bit grayscale: keep the high byte
        return Image.fromarray((np.asarray(pil).astype(np.uint16) >> 8).astype(np.uint8), "L")
    if pil.mode in {"I", "F"}:
        raise InputError(f"unsupported pixel mode {pil.mode!r}; save it as 8-bit grayscale")
    return pil.convert("RGB")


def decode_images(
    paths: Sequence[Path],
    *,
    channels: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    skip_corrupt: bool = False,
    on_progress: ProgressCallback | None = None,
) -> DecodedImages:
    """Decode image files into one uint8 tensor ``(N, C, H, W)``.

    ``channels``: 1 or 3, converting as needed; None keeps grayscale only when every image is
    grayscale, else RGB. ``image_size`` (an int or (height, width)) resizes every image of
    another size to it (bilinear, antialiased, aspect ratio not kept); without it all images
    must have one size.

    Raises:
        CorruptImageError: an unreadable file (unless ``skip_corrupt``; then it is skipped and
            listed in ``skipped``).
        ImageSizeError: images of differing sizes and no ``image_size``.
        DatasetError: no image could be decoded.
    """
    if channels not in (None, 1, 3):
        raise InputError(f"channels must be 1, 3 or None (automatic), got {channels}")
    size: tuple[int, int] | None = None
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or min(size) < 1:
            raise InputError(
                f"image_size must be a positive int or (height, width), got {image_size}"
            )
    total = len(paths)
    step = max(1, total // 100)
    buffer: np.ndarray | None = None
    first: Path | None = None
    kept = np.zeros(total, dtype=bool)
    skipped: list[str] = []
    all_gray = True
    resized = 0
    for i, path in enumerate(paths):
        try:
            pil = _open_image(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            # SyntaxError: some Pillow plugins raise it for malformed headers.
            if not skip_corrupt:
                raise CorruptImageError(path, _reason(err)) from None
            log.debug("skipping unreadable image %s: %s", path, _reason(err))
            skipped.append(str(path))
            continue
        hw = (pil.height, pil.width)
        if size is None:
            size = hw  # the first decoded image sets the size
        elif hw != size:
            if image_size is None:
                raise ImageSizeError(
                    f"{path} is {hw[0]}x{hw[1]} (height x width) but {first} is "
                    f"{size[0]}x{size[1]}; images of differing sizes are not resized silently: "
                    "pass image_size (--image-size) to resize every image to one size"
                )
            pil = pil.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            resized += 1
        if buffer is None:
            first = path
            buffer_channels = channels or 3
            nbytes = total * buffer_channels * size[0] * size[1]
            if nbytes > _LARGE_BYTES:
                log.warning(
                    "decoding %d images of %dx%d needs %.1f GiB of memory; pass a smaller "
                    "image_size if that is too much",
                    total,
                    size[0],
                    size[1],
                    nbytes / 2**30,
                )
            buffer = np.empty((total, buffer_channels, *size), dtype=np.uint8)
        if pil.mode == "RGB":
            all_gray = False
            if buffer.shape[1] == 1:
                pil = pil.convert("L")
        array = np.asarray(pil)
        # A grayscale (H, W) array broadcasts over the channels of an RGB buffer.
        buffer[i] = array if array.ndim == 2 else array.transpose(2, 0, 1)
        kept[i] = True
        if on_progress is not None and (i + 1) % step == 0:
            on_progress(i + 1, total)
    if on_progress is not None and total % step != 0:
        on_progress(total, total)

    if buffer is None:
        raise DatasetError(
            f"none of the {total} image files could be decoded"
            + (f" (all {len(skipped)} were unreadable, the first {skipped[0]})" if skipped else "")
        )
    kept_idx = torch.from_numpy(np.flatnonzero(kept))
    images = torch.from_numpy(buffer if len(kept_idx) == total else buffer[kept])
    if channels is None and all_gray:
        images = images[:, :1].clone()
    if skipped:
        log.warning(
            "skipped %d unreadable image(s) of %d, e.g. %s", len(skipped), total, skipped[0]
        )
    if resized:
        log.info("resized %d of %d images to %dx%d", resized, total, *size)
    return DecodedImages(images, kept_idx, skipped)


def load_image_folder(
    layout: ImageFolderLayout | str | Path,
    *,
    channels: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    skip_corrupt: bool = False,
    on_progress: ProgressCallback | None = None,
) -> LoadedFolder:
    """Decode both splits of an ImageFolder dataset into memory (see :func:`decode_images`).

    Both splits are decoded in one pass, so they share channels and size and one progress
    count (train images first). ``layout`` is a root directory or a :func:`scan_image_folder`
    result.

    Raises:
        EmptyClassError: with ``skip_corrupt``, a class left without any readable image.
        and the errors of :func:`scan_image_folder` and :func:`decode_images`.
    """
    if not isinstance(layout, ImageFolderLayout):
        layout = scan_image_folder(layout)
    n_train = len(layout.train.paths)
    decoded = decode_images(
        layout.train.paths + layout.test.paths,
        channels=channels,
        image_size=image_size,
        skip_corrupt=skip_corrupt,
        on_progress=on_progress,
    )
    targets = torch.tensor(layout.train.targets + layout.test.targets, dtype=torch.int64)
    targets = targets[decoded.kept]
    is_train = decoded.kept < n_train
    train = InMemoryImages(decoded.images[is_train], targets[is_train])
    test = InMemoryImages(decoded.images[~is_train], targets[~is_train])

    emptied = [
        f"{split}/{layout.classes[t]}"
        for split, data in (("train", train), ("test", test))
        for t in sorted(set(range(len(layout.classes))) - set(data.targets.unique().tolist()))
    ]
    if emptied:
        raise EmptyClassError(
            f"{layout.root}: every image of class folder(s) {', '.join(emptied)} is unreadable; "
            "replace the images or remove the folder(s)"
        )
    return LoadedFolder(layout, train, test, decoded.skipped)
