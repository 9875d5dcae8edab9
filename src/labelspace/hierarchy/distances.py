"""Published distance files: the cost of every mistake, as the field's tables measure it.

The better-mistakes literature (Bertinetto et al. 2020 and the work that compares with it)
scores mistakes with distance files published beside its hierarchies, not with the height of
the LCA inside the class tree: ``*_distances.txt[.xz]`` holds one ``a b d`` line per node pair
(whitespace separated; each unordered pair once, ``a <= b``, and ``a a 0``), and
``*_distances.pkl[.xz]`` the same as a pickled ``{(a, b): d}`` dict, read here through
:func:`labelspace.hierarchy.safe_pickle.load_pickle` so that it cannot run code.

:func:`read_distances` reads and checks a file once; :meth:`DistanceFile.matrix` gives the
``(C, C)`` cost matrix of a list of classes, each class found under the first of its keys that
the file holds (a class name, its wnid, its synset name). Every problem is a
:class:`DistanceFileError` that names the file and the first offenders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from labelspace.errors import InputError, MissingInputError
from labelspace.hierarchy.safe_pickle import load_pickle, open_maybe_xz
from labelspace.validation import is_number

__all__ = [
    "DISTANCE_SUFFIXES",
    "TREE_COST",
    "DistanceFile",
    "DistanceFileError",
    "read_distances",
]

# the name of the default cost (the LCA height in the class tree) where a distance file could
# be named: what metrics.json records, and what --distances takes to go back to it
TREE_COST = "lca-height"
DISTANCE_SUFFIXES = (".txt", ".txt.xz", ".pkl", ".pkl.xz")
_SHOWN = 3  # offenders named in a message


class DistanceFileError(InputError):
    """A distance file that cannot give the cost of every class pair: which file, what, where."""

    def __init__(self, path: Path, problem: str, hint: str = "") -> None:
        self.path = path
        super().__init__(f"distance file {path}: {problem}" + (f". {hint}" if hint else ""))


@dataclass(frozen=True)
class DistanceFile:
    """A checked distance file: node names and one entry per unordered pair that it gives.

    ``first``/``second`` index :attr:`names` with ``first <= second``; ``values`` are the
    distances; ``max_distance`` is the largest distance in the whole file (hierarchical
    precision normalises by it, as the field's code does).
    """

    path: Path
    names: tuple[str, ...]
    first: np.ndarray
    second: np.ndarray
    values: np.ndarray
    index: dict[str, int] = field(repr=False, compare=False, default_factory=dict)

    @property
    def max_distance(self) -> float:
        return float(self.values.max())

    def key_of(self, keys: Sequence[str]) -> str | None:
        """The first of ``keys`` that names a node of the file (None: none does)."""
        return next((k for k in keys if k in self.index), None)

    def matrix(self, classes: Sequence[str | Sequence[str]]) -> torch.Tensor:
        """``(C, C)`` float64 costs of the classes; a class is a key or a list of candidate
        keys (its name, its wnid, its synset name: the first the file holds is used).

        Raises:
            DistanceFileError: a class that the file does not name, or a class pair it has
                no distance for (the first few of each are named).
        """
        candidates = [[c] if isinstance(c, str) else list(c) for c in classes]
        found = [self.key_of(keys) for keys in candidates]
        missing = [keys for keys, key in zip(candidates, found, strict=True) if key is None]
        if missing:
            shown = ", ".join(" / ".join(map(repr, dict.fromkeys(k))) for k in missing[:_SHOWN])
            raise DistanceFileError(
                self.path,
                f"{len(missing)} of {len(candidates)} classes are not in the file: {shown}"
                + (" ..." if len(missing) > _SHOWN else ""),
                "Use the distance file made for these classes (its node names must be the "
                "classes' names, wnids or synset names)",
            )
        position = np.full(len(self.names), -1, dtype=np.int64)
        columns = np.array([self.index[k] for k in found], dtype=np.int64)
        if len(set(columns.tolist())) != len(columns):
            dupes = [k for k in dict.fromkeys(found) if found.count(k) > 1]
            raise DistanceFileError(
                self.path,
                f"several classes are the same node of the file: {', '.join(dupes[:_SHOWN])}",
                "Give each class its own node",
            )
        position[columns] = np.arange(len(columns))
        a, b = position[self.first], position[self.second]
        keep = (a >= 0) & (b >= 0)
        out = np.full((len(columns), len(columns)), np.nan)
        out[a[keep], b[keep]] = self.values[keep]
        out[b[keep], a[keep]] = self.values[keep]
        np.fill_diagonal(out, 0.0)  # a node and itself: 0 (checked when given)
        gaps = np.argwhere(np.isnan(out))
        gaps = gaps[gaps[:, 0] < gaps[:, 1]]
        if len(gaps):
            shown = ", ".join(f"{found[i]} {found[j]}" for i, j in gaps[:_SHOWN])
            raise DistanceFileError(
                self.path,
                f"no distance for {len(gaps):,} class pair(s): {shown}"
                + (" ..." if len(gaps) > _SHOWN else ""),
                "A distance file must give every pair of the classes",
            )
        return torch.from_numpy(out)


def read_distances(path: str | os.PathLike[str]) -> DistanceFile:
    """Read and check a distance file (``.txt``, ``.txt.xz``, ``.pkl``, ``.pkl.xz``).

    Negative or non-finite distances, a node with a non-zero distance to itself, and a pair
    given twice with two different distances are errors naming the first offenders. Read
    once per file version (cached on the path, size and modification time).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"distance file {path} not found; check the path")
    stat = path.stat()
    return _read(path.resolve(), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _read(path: Path, _size: int, _mtime: int) -> DistanceFile:
    name = path.name.lower()
    if name.endswith((".pkl", ".pkl.xz")):
        pairs, values = _from_pickle(path)
    elif name.endswith((".txt", ".txt.xz")):
        pairs, values = _from_text(path)
    else:
        raise DistanceFileError(
            path,
            f"unknown suffix {''.join(path.suffixes) or '(none)'!r}",
            "Give a text file of 'a b distance' lines (.txt or .txt.xz) or a pickled "
            "{(a, b): distance} dict (.pkl or .pkl.xz)",
        )
    if len(values) == 0:
        raise DistanceFileError(path, "no distances in the file", "Give one 'a b d' per pair")
    names, inverse = np.unique(pairs.ravel(), return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    first, second = inverse.min(axis=1), inverse.max(axis=1)
    _check_values(path, pairs, values, first == second)
    first, second, values = _merge_repeats(path, names, first, second, values)
    names = tuple(str(n) for n in names)
    index = {n: i for i, n in enumerate(names)}
    return DistanceFile(path, names, first, second, values, index)


def _from_text(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open_maybe_xz(path) as handle:
            text = handle.read().decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise DistanceFileError(path, f"cannot be read ({err})", "Check the file") from None
    tokens = text.split()
    lines = sum(1 for line in text.splitlines() if line.strip())
    if "#" in text or len(tokens) != 3 * lines:  # comments or a bad line: read line by line
        rows = [line.split() for line in text.splitlines()]
        rows = [r for r in rows if r and not r[0].startswith("#")]
        bad = next((r for r in rows if len(r) != 3), None)
        if bad is not None:
            raise DistanceFileError(
                path,
                f"expected 3 fields 'a b distance' on every line, found {' '.join(bad)!r}",
                "Write one node pair and its distance per line, separated by spaces",
            )
        tokens = [t for r in rows for t in r]
    table = np.array(tokens, dtype=str).reshape(-1, 3)
    try:
        values = table[:, 2].astype(np.float64)
    except ValueError:
        wrong = next(r for r in table.tolist() if not is_number(r[2]))
        raise DistanceFileError(
            path, f"the distance in {' '.join(wrong)!r} is not a number", "Fix that line"
        ) from None
    return table[:, :2], values


def _from_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = load_pickle(path)
    if not isinstance(data, dict) or not data:
        raise DistanceFileError(
            path,
            f"the pickle holds {type(data).__name__}"
            + (" (empty)" if isinstance(data, dict) else ""),
            "A distance pickle holds a non-empty {(a, b): distance} dict",
        )
    wrong = next(
        (
            (k, v)
            for k, v in data.items()
            if not (isinstance(k, tuple) and len(k) == 2 and all(isinstance(x, str) for x in k))
            or isinstance(v, bool)
            or not isinstance(v, int | float)
        ),
        None,
    )
    if wrong is not None:
        raise DistanceFileError(
            path,
            f"entry {wrong[0]!r}: {wrong[1]!r} is not a (name, name): number pair",
            "A distance pickle holds a {(a, b): distance} dict",
        )
    pairs = np.array(list(data.keys()), dtype=str).reshape(-1, 2)
    return pairs, np.fromiter(data.values(), dtype=np.float64, count=len(data))


def _check_values(path: Path, pairs: np.ndarray, values: np.ndarray, same: np.ndarray) -> None:
    """Non-finite, negative and non-zero self distances, named by their pairs."""
    for bad, what, hint in (
        (~np.isfinite(values), "not finite", "Every distance must be a number"),
        (values < 0, "negative", "Distances cannot be negative"),
        (same & (values != 0), "non-zero distance(s) of a node to itself", "Make them 0"),
    ):
        where = np.flatnonzero(bad)
        if len(where):
            shown = ", ".join(
                f"{a} {b} {v:g}"
                for (a, b), v in zip(pairs[where[:_SHOWN]], values[where[:_SHOWN]], strict=True)
            )
            raise DistanceFileError(
                path,
                f"{len(where):,} distance(s) {what}: {shown}" + (" ..." if len(where) > 3 else ""),
                hint,
            )


def _merge_repeats(
    path: Path, names: np.ndarray, first: np.ndarray, second: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per unordered pair; a pair given twice must have one distance (symmetry)."""
    key = first.astype(np.int64) * len(names) + second
    order = np.argsort(key, kind="stable")
    key, first, second, values = key[order], first[order], second[order], values[order]
    repeat = np.flatnonzero(key[1:] == key[:-1])
    clash = repeat[values[repeat] != values[repeat + 1]]
    if len(clash):
        shown = ", ".join(
            f"{names[first[i]]} {names[second[i]]}: {values[i]:g} and {values[i + 1]:g}"
            for i in clash[:_SHOWN]
        )
        raise DistanceFileError(
            path,
            f"{len(clash):,} pair(s) given twice with different distances (asymmetric): {shown}"
            + (" ..." if len(clash) > _SHOWN else ""),
            "A distance is symmetric: give each pair one distance",
        )
    unique = np.ones(len(key), dtype=bool)
    unique[repeat + 1] = False
    return first[unique], second[unique], values[unique]
