"""File-system steps shared by the layouts: visible entries, images by suffix, class folders
(symbolically linked subfolders followed: :mod:`~labelspace.data.layouts.walk`), text and CSV
files read as UTF-8, and the warnings about skipped files."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from labelspace.data.errors import DatasetError
from labelspace.data.images_io import IMAGE_EXTENSIONS
from labelspace.data.layouts.walk import walk_folder

__all__ = [
    "PerClass",
    "class_folders",
    "few",
    "images_in",
    "images_under",
    "is_image",
    "read_csv",
    "read_text",
    "visible",
    "warn_ignored",
]

log = logging.getLogger(__name__)

PerClass = dict[str, list[Path]]  # class name -> its image files


def few(items: Iterable[object], limit: int = 5) -> str:
    """Up to ``limit`` items, comma-separated, then how many more there are."""
    shown = [str(item) for item in items]
    text = ", ".join(shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def is_image(name: str) -> bool:
    """Whether a file name has an image suffix (any case); as os.path.splitext, but faster."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def visible(folder: Path) -> tuple[list[str], list[str]]:
    """The sorted names of the subfolders and of the other entries of ``folder``, hidden ones
    left out."""
    dirs: list[str] = []
    files: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith("."):
                (dirs if entry.is_dir() else files).append(entry.name)
    return sorted(dirs), sorted(files)


def images_in(folder: Path, ignored: list[Path]) -> list[Path]:
    """The image files directly in ``folder``, sorted; other visible files go to ``ignored``."""
    images: list[Path] = []
    for name in visible(folder)[1]:
        (images if is_image(name) else ignored).append(folder / name)
    return images


def images_under(folder: Path, ignored: list[Path]) -> list[Path]:
    """The image files in ``folder`` and its subfolders, linked subfolders included (each real
    folder once), sorted; other files, broken links and linked folders skipped go to
    ``ignored``."""
    found = walk_folder(folder, is_image)
    ignored.extend(found.others + found.broken + found.looped)
    return sorted(found.images)


def warn_ignored(root: Path, ignored: list[Path]) -> None:
    """One warning per kind of entry skipped: files without an image suffix, broken symbolic
    links, and linked folders not followed (read already, or holding their class folder)."""
    looped = [p for p in ignored if p.is_dir()]
    broken = [p for p in ignored if p.is_symlink() and not p.exists()]
    special = set(looped) | set(broken)
    others = [p for p in ignored if p not in special]

    def shown(paths: list[Path]) -> str:
        return few((os.path.relpath(p, root) for p in sorted(paths)), 3)

    if others:
        log.warning(
            "%s: ignored %d file(s) that are not images by suffix (%s); image suffixes are %s",
            root,
            len(others),
            shown(others),
            " ".join(sorted(IMAGE_EXTENSIONS)),
        )
    if broken:
        log.warning(
            "%s: ignored %d broken symbolic link(s) (%s): their targets do not exist",
            root,
            len(broken),
            shown(broken),
        )
    if looped:
        log.warning(
            "%s: did not follow %d symbolic link(s) to folders read already or holding the "
            "class folder (%s): each folder is read once",
            root,
            len(looped),
            shown(looped),
        )


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A CSV file's header and its non-blank rows, each with its line number."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = next(reader, [])
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    return header, rows


def read_text(path: Path) -> str:
    """A UTF-8 text file's contents (a BOM is dropped), or a DatasetError saying it is not."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"
        ) from None


def class_folders(split_dir: Path, ignored: list[Path]) -> PerClass:
    """Class folder name -> its image files (sorted, found recursively) for one split folder.

    Raises:
        DatasetError: images outside class folders, or no class folders at all.
    """
    dirs, files = visible(split_dir)
    stray = [name for name in files if is_image(name)]
    if stray:
        raise DatasetError(
            f"{split_dir} holds images outside class folders ({', '.join(stray[:5])}"
            f"{', ...' if len(stray) > 5 else ''}); move each image into {split_dir}/<class>/"
        )
    if not dirs:
        raise DatasetError(
            f"{split_dir} holds no class folders; expected {split_dir}/<class>/<image> with one "
            "folder per class"
        )
    return {name: images_under(split_dir / name, ignored) for name in dirs}
