"""Edge-list hierarchy files: one edge per line, in either column order.

Two conventions exist and nothing in a line tells them apart:

* labelspace's own ``child<sep>parent`` lists: a tab for ``.tsv``, a comma for ``.csv``, and
  for ``.txt`` a tab or comma (whichever the first data line has);
* the **is_a convention** of ImageNet's ``wordnet.is_a.txt`` and of the ``*_isa.txt`` files of
  the "better mistakes" literature: ``parent child`` per line, separated by whitespace (any
  run of spaces and tabs, so names hold none), in a ``.txt`` whose first data line has
  neither tab nor comma, or whose name marks the convention (:func:`is_a_file_name`).

The column order is never guessed. It is, first to last: ``edge_order`` when given
(``"child-parent"`` or ``"parent-child"``); a header line ``child<sep>parent`` or
``parent<sep>child``; ``parent-child`` for a ``.txt`` whose name marks the is_a convention
(:func:`is_a_file_name`: ``isa.txt``, ``is_a.txt``, or a name ending in ``_isa.txt``,
``-isa.txt``, ``.isa.txt``, ``_is_a.txt``, ``-is_a.txt``, ``.is_a.txt``, case ignored);
``child-parent`` for tab and comma lists. A ``.txt`` whose first data line is a
whitespace-separated pair and whose order none of these gives is refused as ambiguous.
Whole-line ``#`` comments and blank lines are allowed; names are stripped; repeated edges are
ignored.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from labelspace.errors import InputError
from labelspace.hierarchy.file_edges import Edges, HierarchyFileError, read_text

__all__ = [
    "EDGE_LIST_SUFFIXES",
    "EDGE_ORDERS",
    "check_edge_order",
    "is_a_file_name",
    "read_edge_list",
]

EDGE_LIST_SUFFIXES = (".tsv", ".csv", ".txt")
EDGE_ORDERS = ("child-parent", "parent-child")
_WHITESPACE = " "  # the separator token of is_a files: any run of spaces and tabs
_SEPARATOR_NAMES = {"\t": "a tab", ",": "a comma", _WHITESPACE: "whitespace"}
_IS_A_NAME = re.compile(r"(?:^|[._-])is_?a\.txt$", re.IGNORECASE)
_AMBIGUOUS_HINT = (
    "Pass --edge-order parent-child for the is_a convention or --edge-order child-parent "
    "otherwise (in Python: edge_order=...), or name the file *_isa.txt"
)


def is_a_file_name(path: str | Path) -> bool:
    """Whether the file's name marks the is_a convention (``parent child`` per line).

    True for ``isa.txt``, ``is_a.txt`` and names ending in one of them after ``_``, ``-`` or
    ``.`` (``tiered_imagenet_isa.txt``, ``wordnet.is_a.txt``); not for ``visa.txt``.
    """
    return bool(_IS_A_NAME.search(Path(path).name))


def check_edge_order(edge_order: str | None) -> str | None:
    """``edge_order`` if it is None or one of :data:`EDGE_ORDERS`; an InputError otherwise."""
    if edge_order is not None and edge_order not in EDGE_ORDERS:
        raise InputError(
            f"unknown edge order {edge_order!r}; choose {' or '.join(EDGE_ORDERS)} (the "
            "column order of an edge-list file: parent-child is the is_a convention)"
        )
    return edge_order


def read_edge_list(path: Path, edge_order: str | None = None) -> Edges:
    """The edges of an edge-list file; the separator comes from the suffix (or the data),
    the column order as the module docstring says."""
    check_edge_order(edge_order)
    suffix = path.suffix.lower()
    edges = Edges(path)
    sep = {".tsv": "\t", ".csv": ","}.get(suffix)
    order = edge_order
    if suffix == ".txt" and is_a_file_name(path):
        sep = _WHITESPACE
        order = order or "parent-child"
    first_line = True
    for number, raw in enumerate(read_text(path).split("\n"), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if sep is None:  # .txt: the first data line decides
            sep = _detect_separator(text)
        fields = _split(path, number, raw, text, sep)
        if first_line:
            first_line = False
            header = "-".join(f.lower() for f in fields)
            if header in EDGE_ORDERS:
                if edge_order is not None and header != edge_order:
                    raise HierarchyFileError(
                        path,
                        f"the header {raw.strip()!r} says the columns are {header}, but the "
                        f"edge order given is {edge_order}",
                        line=number,
                        hint="Leave out --edge-order (the header says the order) or fix the header",
                    )
                order = header
                continue
        if len(fields) != 2:
            raise HierarchyFileError(
                path,
                f"expected 2 fields ({_columns(order, sep)}) separated by "
                f"{_SEPARATOR_NAMES[sep]}, found {len(fields)}: {raw.rstrip(chr(13))!r}",
                line=number,
                hint=f"Write two names per line, separated by {_SEPARATOR_NAMES[sep]}"
                + (" (quote names that contain commas)" if sep == "," else ""),
            )
        if order is None:
            if sep == _WHITESPACE:
                raise HierarchyFileError(
                    path,
                    f"ambiguous column order: whitespace-separated pairs such as {text!r} are "
                    "parent child in the is_a convention (wordnet.is_a.txt, *_isa.txt) and "
                    "child parent in labelspace's edge lists",
                    line=number,
                    hint=_AMBIGUOUS_HINT,
                )
            order = "child-parent"
        child, parent = fields if order == "child-parent" else fields[::-1]
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
            hint=f"Add one '{_columns(order or 'child-parent', sep or chr(9))}' line per edge",
        )
    return edges


def _detect_separator(text: str) -> str:
    """A tab if the line has one, else a comma if it has one, else whitespace if it has any
    (the is_a convention); a single name keeps the comma (and fails as one field)."""
    if "\t" in text:
        return "\t"
    if "," in text or len(text.split()) < 2:
        return ","
    return _WHITESPACE


def _split(path: Path, number: int, raw: str, text: str, sep: str) -> list[str]:
    if sep == _WHITESPACE:
        return text.split()
    if sep == "\t":  # split before stripping, so "dog<TAB>" reads as an empty parent
        return [f.strip() for f in raw.rstrip("\r").split("\t")]
    try:
        (row,) = csv.reader([text], strict=True, skipinitialspace=True)
    except csv.Error as err:
        raise HierarchyFileError(
            path, f"malformed CSV ({err}): {text!r}", line=number, hint="Check the quotes"
        ) from None
    return [f.strip() for f in row]


def _columns(order: str | None, sep: str) -> str:
    """``child<TAB>parent``, ``parent child``, ... for messages (an order not known yet is
    child-parent for tab and comma lists, and unknown for whitespace-separated ones)."""
    if order is None and sep == _WHITESPACE:
        return "two names"
    shown = "<TAB>" if sep == "\t" else sep
    return (order or "child-parent").replace("-", shown)
