"""The packed folder's format: its file names, the tar block size, and the manifest that
describes it, written after the shards and checked before any is read."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from labelspace.data.errors import DatasetError
from labelspace.data.layouts import Listing
from labelspace.data.layouts.walk import SHARDS_MANIFEST

__all__ = [
    "SHARDS_FORMAT",
    "SHARDS_MANIFEST",
    "SHARDS_VERSION",
    "SPLITS",
    "TAR_BLOCK",
    "damaged",
    "index_name",
    "is_packed",
    "new_manifest",
    "read_manifest",
    "shard_name",
    "write_manifest",
]

SHARDS_FORMAT = "labelspace-shards"
SHARDS_VERSION = 1
SPLITS = ("train", "test")

TAR_BLOCK = tarfile.BLOCKSIZE  # 512: a ustar header, and the unit of member data
MANIFEST_KEYS = (
    "format",
    "version",
    "classes",
    "synsets",
    "source",
    "layout",
    "in_chans",
    "counts",
    "shards",
    "notes",
)


def is_packed(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder written by :func:`~labelspace.data.shards.writer.pack` (it
    holds the manifest)."""
    return (Path(path) / SHARDS_MANIFEST).is_file()


def shard_name(split: str, number: int) -> str:
    """The file name of shard ``number`` of ``split``: ``train-000003.tar``."""
    return f"{split}-{number:06d}.tar"


def index_name(split: str) -> str:
    """The file name of the index of ``split``: ``train.index.npy``."""
    return f"{split}.index.npy"


def new_manifest(
    listing: Listing,
    synsets: list[str],
    *,
    in_chans: int | None,
    counts: dict[str, int],
    shards: dict[str, list[str]],
    notes: list[str],
) -> dict[str, Any]:
    """The manifest of ``listing`` packed: its classes and synsets, where it came from, the
    images' channels (None: no image), and each split's image count and shard files."""
    return {
        "format": SHARDS_FORMAT,
        "version": SHARDS_VERSION,
        "classes": list(listing.classes),
        "synsets": list(synsets),
        "source": str(listing.root),
        "layout": listing.layout,
        "in_chans": in_chans,
        "counts": counts,
        "shards": shards,
        "notes": notes,
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` into ``folder`` (a new file, flushed to disk): the last file packed."""
    with open(folder / SHARDS_MANIFEST, "x", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(manifest, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def damaged(folder: Path, problem: str, source: str | None = None) -> DatasetError:
    """The error for a packed folder found damaged: what is wrong, and how to pack it again."""
    return DatasetError(
        f"{folder} is a damaged packed dataset: {problem}. Pack it again with "
        f"`labelspace pack {source or 'DATASET'} {folder} --overwrite`"
    )


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked manifest of the packed folder ``path`` (or of its manifest file).

    Checks the manifest's format, version and keys, and that both indexes and all shards are
    there, the indexes with one row per image; raises
    :class:`~labelspace.data.errors.DatasetError` saying what is wrong otherwise.
    """
    folder = Path(path)
    if folder.name == SHARDS_MANIFEST and folder.is_file():
        folder = folder.parent
    file = folder / SHARDS_MANIFEST
    if not folder.is_dir():
        raise DatasetError(
            f"{folder} is not a folder; give the folder written by `labelspace pack`"
        )
    if not file.is_file():
        raise DatasetError(
            f"{folder} holds no {SHARDS_MANIFEST}, so it is not a packed dataset (or its packing "
            f"did not finish); make one with `labelspace pack DATASET {folder}`"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise damaged(folder, f"{SHARDS_MANIFEST} cannot be read as JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise damaged(folder, f"{SHARDS_MANIFEST} holds no JSON object")
    source = manifest.get("source") if isinstance(manifest.get("source"), str) else None
    if manifest.get("format") != SHARDS_FORMAT:
        raise damaged(folder, f"{SHARDS_MANIFEST} does not say format {SHARDS_FORMAT!r}", source)
    version = manifest.get("version")
    if version != SHARDS_VERSION:
        if isinstance(version, int) and version > SHARDS_VERSION:
            raise DatasetError(
                f"{folder} was packed by a newer labelspace (format version {version}; this one "
                f"reads version {SHARDS_VERSION}); upgrade labelspace, or pack it again with "
                f"`labelspace pack {source or 'DATASET'} {folder} --overwrite`"
            )
        raise damaged(folder, f"{SHARDS_MANIFEST} has format version {version!r}", source)
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise damaged(folder, f"{SHARDS_MANIFEST} lacks {', '.join(missing)}", source)
    problem = _manifest_problem(manifest)
    if problem:
        raise damaged(folder, f"{SHARDS_MANIFEST}: {problem}", source)
    for split in SPLITS:
        for name in manifest["shards"][split]:
            if not (folder / name).is_file():
                raise damaged(folder, f"shard {name} is missing", source)
        rows = _index_rows(folder / index_name(split))
        if isinstance(rows, str):
            raise damaged(folder, rows, source)
        if rows != manifest["counts"][split]:
            raise damaged(
                folder,
                f"{index_name(split)} lists {rows} images but the manifest says "
                f"{manifest['counts'][split]}",
                source,
            )
    return manifest


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the manifest's values (None: nothing)."""
    classes, synsets = manifest["classes"], manifest["synsets"]
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        return "classes is not a list of names"
    if not (isinstance(synsets, list) and all(isinstance(s, str) for s in synsets)):
        return "synsets is not a list of names"
    if len(synsets) != len(classes):
        return f"{len(synsets)} synsets for {len(classes)} classes"
    if manifest["in_chans"] not in (1, 3, None):
        return f"in_chans is {manifest['in_chans']!r}, not 1, 3 or null"
    counts, shards = manifest["counts"], manifest["shards"]
    for split in SPLITS:
        count = counts.get(split) if isinstance(counts, dict) else None
        if not (isinstance(count, int) and count >= 0):
            return f"counts has no number of {split} images"
        names = shards.get(split) if isinstance(shards, dict) else None
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            return f"shards has no list of {split} shard files"
        for name in names:  # plain names in the folder: a manifest may not point elsewhere
            if Path(name).name != name or not name.endswith(".tar"):
                return f"shard {name!r} is not the name of a .tar file in the folder"
    return None


def _index_rows(file: Path) -> int | str:
    """The number of rows of an index file, read from its header; a problem as a string."""
    if not file.is_file():
        return f"{file.name} is missing"
    try:
        index = np.load(file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        return f"{file.name} cannot be read ({str(err).splitlines()[0] if str(err) else err!r})"
    if index.dtype != np.int64 or index.ndim != 2 or index.shape[1] != 4:
        return f"{file.name} holds {index.dtype} {index.shape}, not int64 rows of 4"
    return int(index.shape[0])
