"""Where a dataset's pixels live, decided before anything is decoded: in memory, or decoded
when read; and whether its batches fit in memory at all.

Small datasets are decoded once into one uint8 tensor; a dataset whose decoded size would not
fit comfortably in memory is decoded when read, in DataLoader workers. :func:`choose_storage`
makes that choice for ``auto`` from a :class:`Footprint` (read from image headers, not pixels)
and says why in the log. It also refuses, with the figures and the fix, what cannot work: a
dataset forced into memory that is larger than the memory available, and an image size at
which the batches the loaders hold at once would not fit (``--image-size 10000`` on a laptop)
instead of a worker killed for memory minutes later.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from labelspace.data.errors import DatasetError
from labelspace.errors import InputError

__all__ = [
    "BATCH_SHARE",
    "MEMORY_SHARE",
    "PREFETCH",
    "STORAGES",
    "Footprint",
    "available_memory",
    "check_storage",
    "choose_storage",
    "default_workers",
    "fitting_batch",
]

log = logging.getLogger(__name__)

STORAGES = ("auto", "memory", "streaming")
"""Where a dataset's pixels live: chosen by size, decoded into memory, or decoded when read."""

MEMORY_SHARE = 0.25
"""``auto`` decodes into memory only what takes at most this share of the available memory."""

BATCH_SHARE = 0.5
"""The batches the loaders hold at once (as float32) may take at most this share of the
available memory: the model, its activations and the optimizer need the rest."""

PREFETCH = 2
"""Batches each DataLoader worker prepares ahead (torch's default ``prefetch_factor``)."""

GIB = 2**30


@dataclass(frozen=True)
class Footprint:
    """What a dataset's images take decoded: how many, their channels and pixel size."""

    images: int
    channels: int
    height: int
    width: int

    @property
    def image_bytes(self) -> int:
        """One decoded image, uint8."""
        return self.channels * self.height * self.width

    @property
    def nbytes(self) -> int:
        """Every image decoded, uint8 (what memory storage holds)."""
        return self.images * self.image_bytes

    def describe(self) -> str:
        return f"{self.images:,} images of {self.channels}x{self.height}x{self.width}"


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


def default_workers(streaming: bool) -> int:
    """DataLoader workers when ``--workers`` is not given: none for images in memory (the
    main process indexes a tensor faster than workers could), one per spare core for
    streamed images (which must be decoded), at most 8."""
    if not streaming:
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def check_storage(storage: str) -> None:
    """InputError unless ``storage`` is one of :data:`STORAGES`."""
    if storage not in STORAGES:
        raise InputError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")


def _batches_held(workers: int) -> int:
    """Batches a loader holds at once: each worker's prefetched ones, and the one in use."""
    return PREFETCH * workers + 1


def fitting_batch(requested: int, image_bytes: int, workers: int) -> int:
    """The largest batch size up to ``requested`` whose batches in flight (float32 images of
    ``image_bytes`` uint8 bytes each) fit in :data:`BATCH_SHARE` of the available memory; at
    least 1. Evaluation uses it, so that a large image size lowers its batch of 512."""
    budget = BATCH_SHARE * available_memory()
    fits = int(budget // (4 * image_bytes * _batches_held(workers)))
    return max(1, min(requested, fits))


def _largest_side(budget: float, per_pixel: float) -> int:
    """The largest side N at which N x N images fit in ``budget``, at ``per_pixel`` bytes for
    each pixel position (images x channels x bytes a value)."""
    return max(1, math.isqrt(int(budget // per_pixel)))


def choose_storage(
    storage: str,
    footprint: Footprint,
    what: str,
    *,
    batch_size: int | None = None,
    workers: int | None = None,
) -> bool:
    """Whether to stream (True) or decode into memory (False), said in the log; raises what
    cannot work, before anything is decoded.

    ``auto`` streams what takes more than :data:`MEMORY_SHARE` of the available memory.
    With ``batch_size`` (and ``workers``: None is :func:`default_workers`), the batches the
    loaders hold at once must fit in :data:`BATCH_SHARE` of it.

    Raises:
        DatasetError: ``memory`` for a dataset larger than the memory available, or batches
            that would not fit; the message gives the figures and the largest
            ``--image-size`` that fits.
    """
    check_storage(storage)
    available = available_memory()
    nbytes = footprint.nbytes
    if storage == "auto":
        stream = nbytes > MEMORY_SHARE * available
        log.info(
            "%s: decoded it takes %.2f GiB, %s %.0f %% of the available memory (%.1f GiB): %s",
            what,
            nbytes / GIB,
            "more than" if stream else "within",
            100 * MEMORY_SHARE,
            available / GIB,
            "streaming it from files (--in-memory to decode it all)"
            if stream
            else "decoding it into memory (--streaming to read it from files instead)",
        )
    else:
        stream = storage == "streaming"
    if not stream and nbytes > available:
        side = _largest_side(MEMORY_SHARE * available, footprint.images * footprint.channels)
        if batch_size is not None:  # and the batches must fit at that size too
            held = batch_size * _batches_held(
                default_workers(False) if workers is None else workers
            )
            side = min(side, _largest_side(BATCH_SHARE * available, held * 4 * footprint.channels))
        raise DatasetError(
            f"--in-memory: decoded, {what}'s {footprint.describe()} take {nbytes / GIB:.1f} GiB, "
            f"more than the {available / GIB:.1f} GiB of memory available; pass --streaming "
            f"to decode images when they are read, or --image-size {side} or smaller"
        )
    if batch_size is not None:
        _check_batches(footprint, what, batch_size, workers, stream, available)
    return stream


def _check_batches(
    footprint: Footprint,
    what: str,
    batch_size: int,
    workers: int | None,
    stream: bool,
    available: int,
) -> None:
    """DatasetError when the training batches the loaders hold at once do not fit."""
    workers = default_workers(stream) if workers is None else workers
    held = batch_size * _batches_held(workers)
    nbytes = held * 4 * footprint.image_bytes  # float32 once transformed
    budget = BATCH_SHARE * available
    if nbytes <= budget:
        return
    side = _largest_side(budget, held * 4 * footprint.channels)
    raise DatasetError(
        f"{what}: at {footprint.height}x{footprint.width} pixels, the {held:,} images the "
        f"training loader holds at once ({batch_size} per batch, {_batches_held(workers)} "
        f"batch(es) with {workers} worker(s)) take {nbytes / GIB:.1f} GiB as float32, more "
        f"than {100 * BATCH_SHARE:.0f} % of the {available / GIB:.1f} GiB of memory available; "
        f"pass --image-size {side} or smaller, or a smaller --batch-size"
    )
