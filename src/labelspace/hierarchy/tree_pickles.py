"""Hierarchies published as pickled ``nltk.Tree`` objects (the ``*_tree.pkl`` files).

The "better mistakes" literature ships its hierarchies (tieredImageNet-H, iNaturalist-19,
ImageNet) as pickled nltk trees: inner nodes are trees whose :meth:`label` is the node name,
leaves are plain strings, and the leaves are the classes. The file is read through
:func:`labelspace.hierarchy.safe_pickle.load_pickle`, which admits only plain data and nltk
trees, so a pickle that would run code is refused (:class:`PickleRefusedError`) before any of
it runs. A name that appears in several places is one node with several parents (a DAG).

The classes, unless given, are the leaves in sorted order of their labels, the order the
better-mistakes code gives its classes (an ImageFolder's sorted folder names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labelspace.hierarchy.file_edges import Edges, HierarchyFileError
from labelspace.hierarchy.safe_pickle import PickledTree, load_pickle

__all__ = ["PICKLE_SUFFIXES", "is_pickle_name", "read_tree_pickle"]

PICKLE_SUFFIXES = (".pkl", ".pkl.xz")


def is_pickle_name(path: str | Path) -> bool:
    """Whether the file's name ends in ``.pkl`` or ``.pkl.xz`` (case ignored)."""
    return Path(path).name.lower().endswith(PICKLE_SUFFIXES)


def read_tree_pickle(path: Path) -> Edges:
    """The edges of the nltk tree pickled in ``path`` (``.pkl``, or ``.pkl.xz`` compressed).

    Raises:
        PickleRefusedError: a pickle that asks for anything but plain data and nltk trees, or
            a damaged one.
        HierarchyFileError: a pickle of something other than a tree (a distance dict, say), or
            a tree whose labels are not strings.
    """
    tree = load_pickle(path)
    if not isinstance(tree, PickledTree):
        raise HierarchyFileError(
            path,
            f"the pickle holds {_kind(tree)}, not an nltk tree",
            hint="Give a *_tree.pkl file (a *_distances.pkl.xz file holds distances, not a "
            "hierarchy)",
        )
    edges = Edges(path)
    root = _label(path, tree.label(), "the root")
    edges.node(root)
    stack: list[tuple[str, PickledTree]] = [(root, tree)]
    expanded: set[int] = {id(tree)}  # a pickle can share a subtree, or even contain itself
    while stack:
        parent, node = stack.pop()
        for i, child in enumerate(node):
            where = f"child {i} of {parent!r}"
            if isinstance(child, PickledTree):
                name = _label(path, child.label(), where)
                edges.add(name, parent, where)
                if id(child) not in expanded:
                    expanded.add(id(child))
                    stack.append((name, child))
            else:
                edges.add(_label(path, child, where), parent, where)
    return edges


def _label(path: Path, label: Any, where: str) -> str:
    if not isinstance(label, str) or not label.strip():
        shown = "an empty name" if isinstance(label, str) else _kind(label)
        raise HierarchyFileError(
            path,
            f"the tree's node label at {where} is {shown}, not a name",
            hint="Every label of the tree (inner nodes and leaves) must be a non-empty string",
        )
    return label.strip()


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    kinds = {dict: "a dict", list: "a list", tuple: "a tuple", set: "a set", str: "a string"}
    return kinds.get(type(value), f"a value of type {type(value).__name__}")
