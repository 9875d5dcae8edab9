"""WordNet-derived arrays cached on disk, rebuilt when WordNet or their format changes.

What labelspace derives from WordNet (its noun table, the reference closures) takes seconds to
build and milliseconds to read, so it is kept in ``cache_dir()`` as arrays (``.npz``, no
pickle), under a version key made of :data:`CACHE_FORMAT` and the path, size and modification
time of every file of the corpus; a cache whose key differs, or that cannot be read, is
rebuilt. A cache folder that cannot be written is read if it holds the file, and otherwise
skipped with one warning (:func:`~labelspace.paths.writable_cache_dir`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from labelspace.files import atomic_write
from labelspace.hierarchy.wordnet import REQUIRED_FILES, corpus_dir, file_stamps
from labelspace.paths import cache_location, writable_cache_dir

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bump when what the caches hold, or how it is derived, changes: old caches are then rebuilt.
CACHE_FORMAT = 1


def version_key() -> str:
    """What the WordNet caches are built from: their format and the corpus's files."""
    corpus = corpus_dir()
    return json.dumps(
        {
            "format": CACHE_FORMAT,
            "corpus": str(corpus.resolve()),
            "files": file_stamps(corpus, [*REQUIRED_FILES, "lexnames"]),
        },
        sort_keys=True,
    )


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a temporary file renamed into place)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez(f, **arrays)

    atomic_write(path, write)


# the settings that decide where the caches are and which corpus they are built from
_SETTINGS = ("LABELSPACE_CACHE", "HOME", "LABELSPACE_WORDNET_DIR", "NLTK_DATA")
# (cache name, those settings) -> what the file holds
_loaded: dict[tuple[str | None, ...], object] = {}


def _memo_key(name: str) -> tuple[str | None, ...]:
    """What decides, within a process, which value the cache ``name`` holds: cheap to read,
    unlike :func:`version_key` and :func:`~labelspace.paths.writable_cache_dir`."""
    return (name, *(os.environ.get(setting) for setting in _SETTINGS))


def cached(
    name: str,
    build: Callable[[], dict[str, np.ndarray]],
    parse: Callable[[dict[str, np.ndarray]], T],
) -> T:
    """``parse(build())``, with the arrays kept in ``<cache folder>/<name>.npz``.

    The file holds :func:`version_key` beside the arrays. One with another key, or one that
    cannot be read or parsed (``parse`` raises on inconsistent arrays), is rebuilt and
    replaced, atomically; if the cache cannot be written, the result is still returned
    (one warning per process names the folder and the fix).
    Within a process each file is checked against WordNet and read once (as the NLTK reader
    is opened once): the key stats some forty files, far too slow for every lookup (a list
    of 21,843 wnids resolves each one through here).
    """
    memo = _memo_key(name)
    if memo in _loaded:
        return _loaded[memo]  # type: ignore[return-value]
    key = version_key()
    path = cache_location() / f"{name}.npz"
    try:
        if path.is_file():  # a cache folder that is a file, or absent, holds no cache
            with np.load(path, allow_pickle=False) as data:
                if data["key"].tobytes().decode() == key:
                    value = parse({k: data[k] for k in data.files if k != "key"})
                    _loaded[memo] = value
                    return value
            log.info("%s was built from other WordNet data or by another format; rebuilding", path)
    except Exception as exc:  # a damaged file: zip, CRC, format, decoding or consistency errors
        log.warning("unreadable WordNet cache %s (%s); rebuilding it", path, exc)
    arrays = build()
    value = parse(arrays)
    if writable_cache_dir() is not None:
        try:
            _write_npz(path, {"key": np.frombuffer(key.encode(), dtype=np.uint8), **arrays})
        except OSError as exc:  # a full disk: the value is still good
            log.warning("could not write the WordNet cache %s: %s", path, exc)
    _loaded[memo] = value
    return value
