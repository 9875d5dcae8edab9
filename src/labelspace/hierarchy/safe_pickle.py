"""Reading the field's pickled hierarchy and distance files without running their code.

The published hierarchy files of the better-mistakes literature are pickles: ``*_tree.pkl``
holds an ``nltk.Tree`` and ``*_distances.pkl.xz`` a ``{(wnid, wnid): distance}`` dict.
``pickle.load`` would run whatever a pickle asks for, so a file from the internet could run
code. :func:`load_pickle` admits only plain builtins (dict, list, tuple, set, str, numbers,
None) and ``nltk.tree.Tree``, which it rebuilds as :class:`PickledTree` (nltk is not
imported); a pickle that asks for anything else is refused with one line.
"""

from __future__ import annotations

import lzma
import os
import pickle
from pathlib import Path
from typing import Any

from labelspace.errors import InputError, MissingInputError

__all__ = ["PickleRefusedError", "PickledTree", "load_pickle", "open_maybe_xz"]

# the module paths nltk has used for its Tree class (nltk >= 3.7 moved it to nltk.tree.tree)
_TREE_GLOBALS = {("nltk.tree", "Tree"), ("nltk.tree.tree", "Tree"), ("nltk", "Tree")}
# what the pickles of builtin containers may ask for under older protocols
_BUILTIN_GLOBALS = {
    ("builtins", name)
    for name in ("dict", "list", "tuple", "set", "frozenset", "str", "int", "float", "bool")
} | {("__builtin__", name) for name in ("dict", "list", "tuple", "set", "frozenset")}


class PickleRefusedError(InputError):
    """A pickle that is damaged or asks for something other than plain data or a tree."""


class PickledTree(list):
    """An ``nltk.Tree`` read from a pickle: a list of children with a :meth:`label`.

    Children are ``PickledTree`` nodes or plain labels (leaves), as in nltk.
    """

    def __init__(self, label: Any = None, children: Any = ()) -> None:
        super().__init__(children)
        self._label = label

    def label(self) -> Any:
        return self._label

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("a tree's state must be a dict")
        self._label = state.get("_label")

    def __repr__(self) -> str:
        return f"PickledTree({self._label!r}, {list(self)!r})"


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TREE_GLOBALS:
            return PickledTree
        if (module, name) in _BUILTIN_GLOBALS:
            import builtins

            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}")


def open_maybe_xz(path: Path):
    """Open ``path`` for binary reading, decompressing it when its name ends in ``.xz``."""
    return lzma.open(path, "rb") if path.suffix.lower() == ".xz" else path.open("rb")


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """The object in a (possibly ``.xz``-compressed) pickle of plain data or nltk trees.

    Raises:
        MissingInputError: no such file.
        PickleRefusedError: the pickle asks for any other class or function (it could run
            code), or it is damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: no such file")
    try:
        with open_maybe_xz(path) as handle:
            return _RestrictedUnpickler(handle).load()
    except pickle.UnpicklingError as err:
        raise PickleRefusedError(
            f"{path}: refused to read this pickle: {err}; labelspace reads only pickles of "
            "plain data (dicts, lists, tuples, strings, numbers) and nltk trees, since any "
            "other pickle can run code. Convert it to a text file instead"
        ) from None
    except (EOFError, lzma.LZMAError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise PickleRefusedError(
            f"{path}: not a readable pickle ({type(err).__name__}: {err}); check that the file "
            "is complete and is a pickle (.pkl, or .pkl.xz when compressed)"
        ) from None
