"""Custom label hierarchies from files: edge lists, nested JSON trees and tree pickles.

Users who do not want WordNet describe their labels in a small file; published hierarchies
come in the same forms:

* ``.tsv`` / ``.csv`` / ``.txt`` edge lists (:mod:`labelspace.hierarchy.edge_lists`): one edge
  per line, ``child<sep>parent`` (tab for ``.tsv``, comma for ``.csv``, either for ``.txt``),
  or ``parent child`` separated by whitespace in the is_a convention of ImageNet's
  ``wordnet.is_a.txt`` and the ``*_isa.txt`` files, chosen by ``edge_order`` or the file name;
  the column order is never guessed. Optional header line, whole-line ``#`` comments and blank
  lines are allowed; names are stripped; repeated edges are ignored.
* ``.json`` nested trees, either verbose ``{"name": "animal", "children": [{"name": "dog"}]}``
  or compact ``{"animal": {"dog": {}, "cat": {"tabby": null}}}``. A leaf is ``{}``, ``null``
  or a name in a list of strings (``{"animal": ["dog", "cat"]}``). A top-level list holds
  several trees. A node may appear under several parents (a DAG).
* ``.pkl`` / ``.pkl.xz`` pickled nltk trees (:mod:`labelspace.hierarchy.tree_pickles`), read
  without running any code the pickle might hold.

Classes default to the leaves (nodes without children), in sorted order. Every problem with a
file raises :class:`HierarchyFileError`, whose message says which file, what is wrong, where,
and what to do. Reading never writes anything; :mod:`labelspace.hierarchy.writing` writes the
TSV form and :mod:`labelspace.hierarchy.export` the is_a, distance and JSON forms.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from labelspace.hierarchy.edge_lists import EDGE_LIST_SUFFIXES, check_edge_order, read_edge_list
from labelspace.hierarchy.file_edges import Edges, HierarchyFileError, read_text
from labelspace.hierarchy.graph import Hierarchy, HierarchyError
from labelspace.hierarchy.tree_pickles import PICKLE_SUFFIXES, is_pickle_name, read_tree_pickle

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".json",)
_FORMAT_HELP = (
    "Use .tsv, .csv or .txt for an edge list (one 'child<sep>parent' pair per line, or "
    "'parent child' in an *_isa.txt file), .json for a nested tree, or .pkl / .pkl.xz for a "
    "pickled nltk tree"
)
_JSON_SHAPES = (
    'Write a tree such as {"name": "animal", "children": [{"name": "dog"}]} or '
    '{"animal": {"dog": {}, "cat": null}}, or a list of such trees'
)

__all__ = [
    "EDGE_LIST_SUFFIXES",
    "JSON_SUFFIXES",
    "PICKLE_SUFFIXES",
    "HierarchyFileError",
    "is_hierarchy_file_name",
    "read_hierarchy",
]


def is_hierarchy_file_name(path: str | os.PathLike[str]) -> bool:
    """Whether the name ends in a suffix :func:`read_hierarchy` reads (case ignored)."""
    path = Path(path)
    return path.suffix.lower() in (*EDGE_LIST_SUFFIXES, *JSON_SUFFIXES) or is_pickle_name(path)


# --------------------------------------------------------------------------------- reading
def read_hierarchy(
    path: str | os.PathLike[str],
    classes: Sequence[str] | None = None,
    *,
    restrict_to_classes: bool = True,
    edge_order: str | None = None,
) -> Hierarchy:
    """Read a hierarchy from an edge list, JSON tree or tree pickle, chosen by the suffix.

    ``classes`` (default: the leaves, sorted by name) and ``restrict_to_classes`` are passed
    on to :meth:`Hierarchy.from_parents`. ``edge_order`` (``"child-parent"`` or
    ``"parent-child"``) gives the column order of an edge list
    (:mod:`labelspace.hierarchy.edge_lists`); other formats refuse it. Several roots are
    joined under a virtual root; the note saying so is in :attr:`Hierarchy.notes` and is logged
    as a warning, since an unintended extra root is usually a misspelt parent name.

    Raises:
        HierarchyFileError: the file cannot be read as a hierarchy (the message says why).
        labelspace.hierarchy.safe_pickle.PickleRefusedError: a pickle that could run code.
    """
    path = Path(path)
    if isinstance(classes, str):
        raise TypeError(f"classes must be a sequence of names, not the string {classes!r}")
    check_edge_order(edge_order)
    if not path.exists():
        relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise HierarchyFileError(path, "file not found", hint=f"Check the path{relative}")
    if not path.is_file():
        raise HierarchyFileError(path, "not a regular file", hint="Give the path of a file")
    suffix = path.suffix.lower()
    if edge_order is not None and suffix not in EDGE_LIST_SUFFIXES:
        raise HierarchyFileError(
            path,
            f"an edge order ({edge_order}) was given, but this is not an edge list",
            hint="Leave out --edge-order: it gives the column order of .tsv, .csv and .txt "
            "edge lists, and a tree says itself which node is the parent",
        )
    if suffix in EDGE_LIST_SUFFIXES:
        edges = read_edge_list(path, edge_order)
    elif suffix in JSON_SUFFIXES:
        edges = _read_json(path)
    elif is_pickle_name(path):
        edges = read_tree_pickle(path)
    else:
        raise HierarchyFileError(
            path,
            f"unknown suffix {path.suffix or '(none)'!r}",
            hint=_FORMAT_HELP,
        )
    edges.check_acyclic()
    if classes is not None:
        _check_classes(path, edges, classes)
    try:
        hierarchy = Hierarchy.from_parents(
            edges.parents, classes, restrict_to_classes=restrict_to_classes
        )
    except HierarchyError as err:  # anything left (e.g. a clash with '<root>'): name the file
        raise HierarchyFileError(path, str(err)) from err
    for note in hierarchy.notes:
        log.warning("%s: %s", path, note)
    return hierarchy


def _check_classes(path: Path, edges: Edges, classes: Sequence[str]) -> None:
    """Name every class missing from the file (with close matches), not just the first few."""
    missing = [c for c in dict.fromkeys(classes) if c not in edges.parents]
    if not missing:
        return
    suggestions = []
    budget = min(50, max(1, 400_000 // len(edges.parents)))  # difflib is slow on big files
    for name in missing[:budget]:
        close = difflib.get_close_matches(name, edges.parents, n=1)
        if close:
            suggestions.append(f"{name!r} -> {close[0]!r}?")
        if len(suggestions) == 5:
            break
    raise HierarchyFileError(
        path,
        f"{len(missing)} of {len(set(classes))} classes missing from the hierarchy: "
        + ", ".join(repr(c) for c in missing),
        hint="Check their spelling or add them to the file"
        + (f" (close matches: {'; '.join(suggestions)})" if suggestions else ""),
    )


# ---------------------------------------------------------------- JSON trees
def _read_json(path: Path) -> Edges:
    """Parse a verbose or compact nested tree (or a list of trees) into edges."""
    text = read_text(path)
    if not text.strip():
        raise HierarchyFileError(path, "empty file", hint=_JSON_SHAPES)
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise HierarchyFileError(
            path,
            f"invalid JSON at column {err.colno} (character {err.pos}): {err.msg}",
            line=err.lineno,
            hint="Fix the JSON syntax there",
        ) from None
    except RecursionError:
        raise HierarchyFileError(path, "JSON nested too deeply") from None
    if duplicates:
        raise HierarchyFileError(
            path,
            f"duplicate key(s) in one JSON object: {', '.join(map(repr, duplicates))} "
            "(JSON would keep only the last)",
            hint="Merge the entries with the same name into one",
        )
    edges = Edges(path)
    if isinstance(data, list):
        for i, item in enumerate(data):
            _walk_item(edges, item, None, f"$[{i}]")
    elif isinstance(data, dict):
        _walk_item(edges, data, None, "$")
    else:
        _shape_error(path, f"found {_kind(data)} at the top level")
    if not edges.parents:
        _shape_error(path, "the tree has no nodes")
    return edges


def _walk_item(edges: Edges, item: Any, parent: str | None, where: str) -> None:
    """One entry of a list (or the top level): a name, a verbose node or a compact mapping."""
    if isinstance(item, str):
        _attach(edges, _name(edges.path, item, where), parent, where)
    elif isinstance(item, dict) and _is_verbose(item):
        _walk_verbose(edges, item, parent, where)
    elif isinstance(item, dict):
        _walk_compact(edges, item, parent, where)
    else:
        _shape_error(edges.path, f"found {_kind(item)} at {where}")


def _is_verbose(obj: dict[str, Any]) -> bool:
    return "name" in obj and (isinstance(obj["name"], str) or "children" in obj)


def _walk_verbose(edges: Edges, obj: dict[str, Any], parent: str | None, where: str) -> None:
    if not isinstance(obj["name"], str):
        _shape_error(edges.path, f"'name' at {where} is {_kind(obj['name'])}, not a string")
    name = _name(edges.path, obj["name"], f"{where}.name")
    _attach(edges, name, parent, where)
    for key, value in obj.items():  # scalar metadata (size, id, ...) is ignored; containers
        if key not in ("name", "children") and isinstance(value, dict | list):  # are typos
            _shape_error(
                edges.path,
                f"unknown key {key!r} holding {_kind(value)} in node {name!r} at {where}",
                "Children go under the key 'children'",
            )
    children = obj.get("children")
    if children is None:
        return
    if not isinstance(children, list):
        _shape_error(
            edges.path, f"'children' of {name!r} at {where} is {_kind(children)}, not a list"
        )
    for i, child in enumerate(children):
        if isinstance(child, dict) and not _is_verbose(child):
            _shape_error(
                edges.path,
                f"child {i} of {name!r} at {where}.children[{i}] has no 'name'",
                'In the verbose form every child is {"name": ..., "children": [...]} or a name',
            )
        _walk_item(edges, child, name, f"{where}.children[{i}]")


def _walk_compact(edges: Edges, obj: dict[str, Any], parent: str | None, where: str) -> None:
    for key, value in obj.items():
        here = _path(where, key)
        name = _name(edges.path, key, here)
        _attach(edges, name, parent, here)
        if value is None:
            continue
        if isinstance(value, dict):
            _walk_compact(edges, value, name, here)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                _walk_item(edges, item, name, f"{here}[{i}]")
        else:
            _shape_error(
                edges.path,
                f"the children of {name!r} at {here} are {_kind(value)}",
                "Give an object of children, a list of names, or {} / null for a leaf",
            )


def _attach(edges: Edges, name: str, parent: str | None, where: str) -> None:
    if parent is None:
        edges.node(name)
    else:
        edges.add(name, parent, where)


def _name(path: Path, value: str, where: str) -> str:
    name = value.strip()
    if not name:
        raise HierarchyFileError(path, f"empty node name at {where}", hint="Name every node")
    return name


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if key.isidentifier() else f"{where}[{json.dumps(key)}]"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kinds |= {list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def _shape_error(path: Path, problem: str, hint: str | None = None) -> NoReturn:
    raise HierarchyFileError(path, f"JSON of the wrong shape: {problem}", hint=hint or _JSON_SHAPES)
