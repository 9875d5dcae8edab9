"""Where a dataset's pixels live: decoded into memory, or decoded when read.

Small datasets are decoded once into one uint8 tensor; a dataset whose decoded size would not
fit comfortably in memory is decoded when read, in DataLoader workers. :func:`choose_storage`
makes that choice for ``auto`` and says why in the log.
"""

from __future__ import annotations

import logging
import os

from labelspace.errors import InputError

__all__ = ["MEMORY_SHARE", "STORAGES", "available_memory", "choose_storage"]

log = logging.getLogger(__name__)

STORAGES = ("auto", "memory", "streaming")
"""Where a dataset's pixels live: chosen by size, decoded into memory, or decoded when read."""

MEMORY_SHARE = 0.25
"""``auto`` decodes into memory only what takes at most this share of the available memory."""


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


def check_storage(storage: str) -> None:
    """InputError unless ``storage`` is one of :data:`STORAGES`."""
    if storage not in STORAGES:
        raise InputError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")


def choose_storage(storage: str, nbytes: int, what: str) -> bool:
    """Whether to stream (True) or decode into memory (False), and say why in the log."""
    check_storage(storage)
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
