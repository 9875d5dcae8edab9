"""Decoding a listed dataset (:mod:`labelspace.data.layouts`) once into memory.

Decoding is strict: an unreadable image is an error naming the file unless ``skip_corrupt`` is
set, and then every skipped file is returned for the run report. Images of differing sizes are
an error unless ``image_size`` asks for resizing (the one policy of
:mod:`labelspace.data.images_io`).

Decoding uses Pillow in one thread: on the 2-core machine a thread pool was measured slower
(its threads only contend), and torchvision.io's decoders are deprecated since 0.29.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from labelspace.data.errors import CorruptImageError, DatasetError, EmptyClassError, ImageSizeError
from labelspace.data.images import InMemoryImages
from labelspace.data.images_io import DECODE_ERRORS, decode_error_reason, fit_image, open_image
from labelspace.data.layouts import Listing, scan_dataset
from labelspace.errors import InputError

__all__ = [
    "DecodedImages",
    "LoadedFolder",
    "ProgressCallback",
    "decode_images",
    "differing_sizes",
    "load_image_folder",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called as ``on_progress(done, total)`` while images are decoded, and once at the end."""

_LARGE_BYTES = 8 << 30  # warn before allocating more than this for decoded images


@dataclass
class DecodedImages:
    """Decoded images, which input positions they came from, and the skipped files."""

    images: torch.Tensor  # uint8 (N_kept, C, H, W)
    kept: torch.Tensor  # int64 indices into the input paths, ascending
    skipped: list[str] = field(default_factory=list)


@dataclass
class LoadedFolder:
    """A listed dataset in memory (no transforms yet)."""

    layout: Listing
    train: InMemoryImages
    test: InMemoryImages
    skipped: list[str]


def differing_sizes(
    path: Path, hw: tuple[int, int], first: Path | None, size: tuple[int, int]
) -> ImageSizeError:
    """The error for an image of another size than the first one decoded, without resizing."""
    return ImageSizeError(
        f"{path} is {hw[0]}x{hw[1]} (height x width) but {first} is {size[0]}x{size[1]}; "
        "images of differing sizes are not resized silently: pass --image-size N (shorter "
        "side to N, centre N x N crop) to bring every image to one size"
    )


# ---------------------------------------------------------------------------------- decoding
def decode_images(
    paths: Sequence[Path],
    *,
    channels: int | None = None,
    image_size: int | None = None,
    skip_corrupt: bool = False,
    on_progress: ProgressCallback | None = None,
) -> DecodedImages:
    """Decode image files into one uint8 tensor ``(N, C, H, W)``.

    ``channels``: 1 or 3, converting as needed; None keeps grayscale only when every image is
    grayscale, else RGB. ``image_size`` N brings every image to N x N by the one resize
    policy (shorter side to N, centre crop; :func:`labelspace.data.images_io.fit_image`);
    without it all images must have one size.

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
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise InputError(f"--image-size must be a positive number of pixels, got {image_size}")
        size = (image_size, image_size)
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
            pil = open_image(path)
        except DECODE_ERRORS as err:
            if not skip_corrupt:
                raise CorruptImageError(path, decode_error_reason(err)) from None
            log.debug("skipping unreadable image %s: %s", path, decode_error_reason(err))
            skipped.append(str(path))
            continue
        hw = (pil.height, pil.width)
        if size is None:
            size = hw  # the first decoded image sets the size
        elif image_size is None and hw != size:
            raise differing_sizes(path, hw, first, size)
        if image_size is not None and hw != size:
            pil = fit_image(pil, image_size)
            resized += 1
        if buffer is None:
            first = path
            buffer_channels = channels or 3
            nbytes = total * buffer_channels * size[0] * size[1]
            if nbytes > _LARGE_BYTES:
                log.warning(
                    "decoding %d images of %dx%d needs %.1f GiB of memory; pass --streaming "
                    "or a smaller --image-size if that is too much",
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
    layout: Listing | str | Path,
    *,
    channels: int | None = None,
    image_size: int | None = None,
    skip_corrupt: bool = False,
    on_progress: ProgressCallback | None = None,
) -> LoadedFolder:
    """Decode both splits of an ImageFolder dataset into memory (see :func:`decode_images`).

    Both splits are decoded in one pass, so they share channels and size and one progress
    count (train images first). ``layout`` is a dataset path or a
    :func:`~labelspace.data.layouts.scan_dataset` result.

    Raises:
        EmptyClassError: with ``skip_corrupt``, a class left without any readable image.
        and the errors of :func:`~labelspace.data.layouts.scan_dataset` and
        :func:`decode_images`.
    """
    if isinstance(layout, (str, Path)):
        layout = scan_dataset(layout)
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
