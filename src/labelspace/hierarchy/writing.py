"""Write a hierarchy as a TSV edge list that :func:`~labelspace.hierarchy.io.read_hierarchy`
reads back the same."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from labelspace.errors import MissingInputError
from labelspace.files import atomic_write_text
from labelspace.hierarchy.graph import Hierarchy
from labelspace.hierarchy.io import HierarchyFileError


def write_edge_list(
    hierarchy: Hierarchy, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``hierarchy`` as a TSV edge list (``.tsv`` or ``.txt``) that reads back the same.

    ``read_hierarchy(path, hierarchy.classes) == hierarchy`` for any hierarchy with at least one
    edge built with ``restrict_to_classes=True``; without ``classes`` the read-back takes the
    sorted leaves as classes, which is the default of :meth:`Hierarchy.from_parents`. The file
    is written to a temporary file and moved into place, so a reader never sees half a file;
    an existing file is kept (``FileExistsError``) unless ``overwrite=True``.
    """
    path = Path(path)
    if path.suffix.lower() not in (".tsv", ".txt"):
        raise HierarchyFileError(
            path,
            f"cannot write a tab-separated edge list to a {path.suffix or 'suffix-less'} file",
            hint="Use a .tsv (or .txt) file name",
        )
    if hierarchy.num_edges == 0:
        raise HierarchyFileError(
            path,
            f"the hierarchy is the single node {hierarchy.root!r}: an edge list needs an edge",
            hint="Add a parent or a child to the hierarchy",
        )
    bad = next(_unwritable(hierarchy), None)
    if bad is not None:
        raise HierarchyFileError(
            path,
            f"node name {bad!r} cannot be written to an edge list "
            "(empty, surrounding whitespace, a tab or line break, or a leading '#')",
            hint="Rename the node",
        )
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    lines = [
        f"# labelspace hierarchy: {len(hierarchy)} nodes, {hierarchy.num_edges} edges, "
        f"{len(hierarchy.classes)} classes, root {hierarchy.root}",
        "child\tparent",
    ]
    nodes = hierarchy.nodes
    lines += [f"{nodes[c]}\t{nodes[p]}" for c, ps in enumerate(hierarchy.parents) for p in ps]
    _atomic_write(path, "\n".join(lines) + "\n", overwrite=overwrite)
    return path


def _unwritable(hierarchy: Hierarchy) -> Iterator[str]:
    has_parent = {hierarchy.nodes[c] for c, ps in enumerate(hierarchy.parents) if ps}
    for name in hierarchy.nodes:
        bad = not name or name != name.strip() or any(ch in name for ch in "\t\n\r")
        if bad or (name in has_parent and name.startswith("#")):  # '#...' line = a comment
            yield name


def _atomic_write(path: Path, text: str, *, overwrite: bool) -> None:
    """Write next to ``path`` and move into place; without ``overwrite`` never clobber."""
    if not path.parent.is_dir():
        raise MissingInputError(f"directory {path.parent} does not exist")
    atomic_write_text(path, text, overwrite=overwrite)
