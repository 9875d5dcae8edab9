"""Walking a class folder: its images in every subfolder, symbolically linked subfolders
included, and what a folder without images holds instead.

A linked subfolder is followed, as torchvision's ImageFolder does, so that a class assembled
from links (``train/cat/extra -> /photos/more_cats``) is read whole. Every real folder is read
once: a link to a folder already read (a second link, or a link to the class folder itself)
is skipped, and so is a link to a folder that holds the class folder (``up -> ..``), which
would loop or read other classes' images. Hidden entries (names starting with ".") are
ignored everywhere. Nothing is decoded: images are recognised by suffix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SHARDS_MANIFEST", "FolderWalk", "walk_folder", "why_empty"]

SHARDS_MANIFEST = "labelspace-shards.json"
"""The manifest that marks a folder written by ``labelspace pack``; defined here, below the
shards package (which builds on listings), so that a scan recognises shards put inside a
dataset."""


@dataclass
class FolderWalk:
    """What a walk of one folder found, each list in walking order."""

    images: list[Path] = field(default_factory=list)
    others: list[Path] = field(default_factory=list)  # visible files without an image suffix
    broken: list[Path] = field(default_factory=list)  # links whose target does not exist
    looped: list[Path] = field(default_factory=list)  # linked folders skipped (read already)
    hidden: int = 0  # hidden entries ignored


def _key(path: Path) -> tuple[int, int]:
    """A folder's identity (device, inode), through links."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def walk_folder(folder: Path, is_image: Callable[[str], bool]) -> FolderWalk:
    """Every file under ``folder``, sorted by kind: images (by ``is_image`` on the name), other
    files, broken links, and linked folders skipped because they were read already or hold
    ``folder``. Real subfolders are read before linked ones, so an image reachable both ways
    is listed under its real path."""
    found = FolderWalk()
    top = Path(os.path.realpath(folder))
    seen = {_key(folder)}
    links: list[Path] = []
    stack = [folder]
    while stack or links:
        if not stack:  # every real folder read: follow the next link
            link = links.pop(0)
            try:
                key, target = _key(link), Path(os.path.realpath(link))
            except OSError:
                found.broken.append(link)
                continue
            if key in seen or top.is_relative_to(target):
                found.looped.append(link)
                continue
            seen.add(key)
            stack.append(link)
            continue
        current = stack.pop()
        subfolders: list[Path] = []
        with os.scandir(current) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = Path(current, entry.name)
                if entry.name.startswith("."):
                    found.hidden += 1
                elif entry.is_dir():  # through a link too
                    if entry.is_symlink():
                        links.append(path)
                    else:
                        st = entry.stat()
                        seen.add((st.st_dev, st.st_ino))
                        subfolders.append(path)
                elif entry.is_symlink() and not os.path.exists(path):
                    found.broken.append(path)
                elif is_image(entry.name):
                    found.images.append(path)
                else:
                    found.others.append(path)
        stack.extend(reversed(subfolders))  # depth first, in name order
    return found


def why_empty(folder: Path, is_image: Callable[[str], bool]) -> str:
    """Why ``folder`` gave no image, in a few words: packed shards, empty, only hidden files,
    only other files, only broken links, or links to folders read already."""
    if (folder / SHARDS_MANIFEST).is_file():
        return f"it holds packed shards ({SHARDS_MANIFEST}): move them out of the dataset"
    found = walk_folder(folder, is_image)
    parts = []
    if found.broken:
        parts.append(
            f"{len(found.broken)} broken symbolic link(s) ({_named(folder, found.broken)})"
        )
    if found.looped:
        parts.append(
            f"{len(found.looped)} symbolic link(s) to folders read already or holding it "
            f"({_named(folder, found.looped)})"
        )
    if found.others:
        parts.append(
            f"{len(found.others)} file(s) without an image suffix ({_named(folder, found.others)})"
        )
    if found.hidden:
        parts.append(f"{found.hidden} hidden entr{'y' if found.hidden == 1 else 'ies'}")
    return f"it holds only {' and '.join(parts)}" if parts else "it is empty"


def _named(folder: Path, paths: list[Path], limit: int = 2) -> str:
    shown = [os.path.relpath(p, folder) for p in paths[:limit]]
    return ", ".join(shown) + (", ..." if len(paths) > limit else "")
