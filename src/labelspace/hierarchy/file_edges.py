"""What every hierarchy file reader shares: the error it raises and the edges it collects.

The readers of edge lists (:mod:`labelspace.hierarchy.edge_lists`), JSON trees
(:mod:`labelspace.hierarchy.io`) and tree pickles (:mod:`labelspace.hierarchy.tree_pickles`)
each turn a file into :class:`Edges`, which remembers where each edge was seen, so that a cycle
is reported with the lines (or JSON paths) that make it.
"""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

from labelspace.hierarchy.graph import HierarchyError, find_cycle

__all__ = ["Edges", "HierarchyFileError", "read_text"]


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


class Edges:
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


def read_text(path: Path) -> str:
    """The file as text: UTF-8, with the byte-order mark spreadsheet exports add tolerated."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise HierarchyFileError(
            path, f"cannot be read ({err.strerror})", hint="Check the file's permissions"
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise HierarchyFileError(
            path,
            f"not UTF-8 text (byte {err.start} of the file: {err.reason})",
            line=data[: err.start].count(b"\n") + 1,
            hint="Save the file as UTF-8",
        ) from None
