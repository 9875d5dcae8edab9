"""Custom label hierarchies from files: edge lists and nested JSON trees.

Users who do not want WordNet describe their labels in a small file:

* ``.tsv`` / ``.csv`` / ``.txt`` edge lists: one ``child<sep>parent`` pair per line, tab for
  ``.tsv``, comma for ``.csv`` (quote names that contain commas), and for ``.txt`` a tab if the
  first data line has one, else a comma. An optional ``child<sep>parent`` header line, whole-line
  ``#`` comments and blank lines are allowed; names are stripped; repeated edges are ignored.
* ``.json`` nested trees, either verbose ``{"name": "animal", "children": [{"name": "dog"}]}``
  or compact ``{"animal": {"dog": {}, "cat": {"tabby": null}}}``. A leaf is ``{}``, ``null``
  or a name in a list of strings (``{"animal": ["dog", "cat"]}``). A top-level list holds
  several trees. A node may appear under several parents (a DAG).

Classes default to the leaves (nodes without children). Every problem with a file raises
:class:`HierarchyFileError`, whose message says which file, what is wrong, where, and what to
do. Reading never writes anything; :mod:`labelspace.hierarchy.writing` writes the TSV form.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import os
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, NoReturn

from labelspace.hierarchy.graph import Hierarchy, HierarchyError, find_cycle

log = logging.getLogger(__name__)

EDGE_LIST_SUFFIXES = (".tsv", ".csv", ".txt")
JSON_SUFFIXES = (".json",)
_SEPARATOR_NAMES = {"\t": "a tab", ",": "a comma"}
_FORMAT_HELP = (
    "Use .tsv, .csv or .txt for an edge list (one 'child<sep>parent' pair per line) "
    "or .json for a nested tree"
)
_JSON_SHAPES = (
    'Write a tree such as {"name": "animal", "children": [{"name": "dog"}]} or '
    '{"animal": {"dog": {}, "cat": null}}, or a list of such trees'
)

__all__ = [
    "EDGE_LIST_SUFFIXES",
    "JSON_SUFFIXES",
    "HierarchyFileError",
    "read_hierarchy",
]


class HierarchyFileError(HierarchyError):
    """A hierarchy file that cannot be read (or written): which file, what, where, what to do.

    ``path`` and ``line`` (1-based, edge lists only; ``None`` otherwise) are kept as attributes
    so that callers can point at the spot without parsing the message.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        problem: str,
        *,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.hint = hint
        where = f"{self.path}, line {line}" if line is not None else f"{self.path}"
        super().__init__(f"hierarchy file {where}: {problem}" + (f". {hint}" if hint else ""))


# --------------------------------------------------------------------------------- reading
def read_hierarchy(
    path: str | os.PathLike[str],
    classes: Sequence[str] | None = None,
    *,
    restrict_to_classes: bool = True,
) -> Hierarchy:
    """Read a hierarchy from an edge list or JSON tree file, chosen by the file's suffix.

    ``classes`` (default: the leaves) and ``restrict_to_classes`` are passed on to
    :meth:`Hierarchy.from_parents`. Several roots are joined under a virtual root; the note
    saying so is in :attr:`Hierarchy.notes` and is logged as a warning, since an unintended
    extra root is usually a misspelt parent name.
    """
    path = Path(path)
    if isinstance(classes, str):
        raise TypeError(f"classes must be a sequence of names, not the string {classes!r}")
    if not path.exists():
        relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise HierarchyFileError(path, "file not found", hint=f"Check the path{relative}")
    if not path.is_file():
        raise HierarchyFileError(path, "not a regular file", hint="Give the path of a file")
    suffix = path.suffix.lower()
    if suffix in EDGE_LIST_SUFFIXES:
        edges = _read_edge_list(path, suffix)
    elif suffix in JSON_SUFFIXES:
        edges = _read_json(path)
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


class _Edges:
    """(child, parent) pairs collected from a file, each remembered with where it came from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parents: dict[str, list[str]] = {}  # every node is a key, roots map to []
        self.where: dict[tuple[str, str], str] = {}  # first place each edge was seen
        self.lines: dict[tuple[str, str], int] = {}

    def node(self, name: str) -> None:
        self.parents.setdefault(name, [])

    def add(self, child: str, parent: str, where: str, line: int | None = None) -> None:
        if child == parent:
            raise HierarchyFileError(
                self.path,
                f"self-loop: {child!r} is given as its own parent"
                + ("" if line is not None else f" ({where})"),
                line=line,
                hint="Remove that edge: a node cannot be its own parent",
            )
        self.node(parent)
        ps = self.parents.setdefault(child, [])
        if parent not in ps:  # repeated edges are harmless
            ps.append(parent)
            self.where[child, parent] = where
            if line is not None:
                self.lines[child, parent] = line

    def check_acyclic(self) -> None:
        cycle = find_cycle(self.parents, set(self.parents))
        if not cycle:
            return
        pairs = list(pairwise(cycle))
        first_line = min((self.lines[e] for e in pairs if e in self.lines), default=None)
        raise HierarchyFileError(
            self.path,
            f"cycle: {' -> '.join(cycle)} (each arrow goes from a child to its parent; "
            f"edges at {', '.join(self.where[e] for e in pairs)})",
            line=first_line,
            hint="A node cannot be its own ancestor: remove or reverse one of these edges",
        )


def _check_classes(path: Path, edges: _Edges, classes: Sequence[str]) -> None:
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


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise HierarchyFileError(
            path, f"cannot be read ({err.strerror})", hint="Check the file's permissions"
        ) from None
    try:
        return data.decode("utf-8-sig")  # tolerate the BOM that spreadsheet exports add
    except UnicodeDecodeError as err:
        raise HierarchyFileError(
            path,
            f"not UTF-8 text (byte {err.start} of the file: {err.reason})",
            line=data[: err.start].count(b"\n") + 1,
            hint="Save the file as UTF-8",
        ) from None


# ---------------------------------------------------------------- edge lists
def _read_edge_list(path: Path, suffix: str) -> _Edges:
    """Parse ``child<sep>parent`` lines; the separator comes from the suffix (or the data)."""
    edges = _Edges(path)
    sep = {".tsv": "\t", ".csv": ","}.get(suffix)
    header_checked = False
    for number, raw in enumerate(_read_text(path).split("\n"), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if sep is None:  # .txt: the first data line decides
            sep = "\t" if "\t" in text else ","
        # Split before stripping, so that "dog<TAB>" reads as an empty parent, not one field.
        fields = _split(path, number, raw.rstrip("\r") if sep == "\t" else text, sep)
        if not header_checked:
            header_checked = True
            if [f.lower() for f in fields] == ["child", "parent"]:
                continue
        if len(fields) != 2:
            raise HierarchyFileError(
                path,
                f"expected 2 fields (child{_show(sep)}parent) separated by "
                f"{_SEPARATOR_NAMES[sep]}, found {len(fields)}: {raw.rstrip(chr(13))!r}",
                line=number,
                hint=f"Write one child and one parent per line, separated by "
                f"{_SEPARATOR_NAMES[sep]}"
                + (" (quote names that contain commas)" if sep == "," else ""),
            )
        child, parent = fields
        if not child or not parent:
            role = "child" if not child else "parent"
            raise HierarchyFileError(
                path,
                f"empty {role} name in {raw.rstrip(chr(13))!r}",
                line=number,
                hint="Give both a child and a parent name on every line",
            )
        edges.add(child, parent, f"line {number}", number)
    if not edges.parents:
        raise HierarchyFileError(
            path,
            "empty file: no edges (only blank lines, comments or a header)",
            hint=f"Add one 'child{_show(sep or chr(9))}parent' line per edge",
        )
    return edges


def _split(path: Path, number: int, text: str, sep: str) -> list[str]:
    if sep == "\t":
        return [f.strip() for f in text.split("\t")]
    try:
        (row,) = csv.reader([text], strict=True, skipinitialspace=True)
    except csv.Error as err:
        raise HierarchyFileError(
            path, f"malformed CSV ({err}): {text!r}", line=number, hint="Check the quotes"
        ) from None
    return [f.strip() for f in row]


def _show(sep: str) -> str:
    return "<TAB>" if sep == "\t" else sep


# ---------------------------------------------------------------- JSON trees
def _read_json(path: Path) -> _Edges:
    """Parse a verbose or compact nested tree (or a list of trees) into edges."""
    text = _read_text(path)
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
    edges = _Edges(path)
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


def _walk_item(edges: _Edges, item: Any, parent: str | None, where: str) -> None:
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


def _walk_verbose(edges: _Edges, obj: dict[str, Any], parent: str | None, where: str) -> None:
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


def _walk_compact(edges: _Edges, obj: dict[str, Any], parent: str | None, where: str) -> None:
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


def _attach(edges: _Edges, name: str, parent: str | None, where: str) -> None:
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
