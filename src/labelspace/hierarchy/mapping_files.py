"""Mapping files (``name<TAB>synset``), and the reviewed ones shipped for named datasets.

A mapping file holds one ``name<TAB>synset`` line per class, the synset given as a synset name
or a wnid; blank lines and ``#`` comments (whole-line, or after whitespace) are ignored.

A dataset labelspace knows by name has its reviewed mapping shipped as
``labelspace/hierarchy/mappings/<name>.tsv``, its classes in label order: the file is the only
place a named dataset's classes are listed, so adding a dataset is adding its file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from labelspace.errors import InputError, MissingInputError
from labelspace.hierarchy.synset_names import UnknownSynsetError, normalize_name, resolve_synset

MAPPINGS_DIR = "mappings"  # in the labelspace.hierarchy package
_SUFFIX = ".tsv"


class MappingFileError(InputError):
    """A malformed mapping file; the message names the file and the line."""

    def __init__(self, source: str, line: int, problem: str):
        self.source = source
        self.line = line
        super().__init__(f"{source}, line {line}: {problem}")


class UnknownDatasetError(InputError):
    """A dataset without a shipped class list and mapping."""


def _strip_comment(line: str) -> str:
    """``line`` without a ``#`` comment that starts the line or follows whitespace."""
    match = re.search(r"(^|\s)#", line)
    return line[: match.start()] if match else line


def _mapping_lines(text: str, source: str) -> Iterator[tuple[int, str, str, str]]:
    """``(line number, line, name, synset as written)`` of each mapping line, format checked."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 2:
            raise MappingFileError(
                source,
                lineno,
                f"expected 2 tab-separated columns 'name<TAB>synset', found {len(columns)}: "
                f"{raw!r}",
            )
        name, ident = columns[0].strip(), columns[1].strip()
        if not name or not ident:
            raise MappingFileError(source, lineno, f"empty name or synset: {raw!r}")
        yield lineno, raw, name, ident


def parse_mapping(text: str, source: str) -> dict[str, str]:
    """Parse ``name<TAB>synset`` lines into name -> canonical synset name."""
    out: dict[str, str] = {}
    first_seen: dict[str, tuple[str, str, int]] = {}  # normalized name -> (name, synset, line)
    for lineno, _, name, ident in _mapping_lines(text, source):
        try:
            synset = resolve_synset(ident)
        except UnknownSynsetError as err:
            raise MappingFileError(source, lineno, str(err)) from None
        key = normalize_name(name)
        if key in first_seen:
            prev_name, prev_synset, prev_line = first_seen[key]
            if prev_synset != synset:
                raise MappingFileError(
                    source,
                    lineno,
                    f"{name!r} maps to {synset}, but line {prev_line} maps {prev_name!r} "
                    f"to {prev_synset}",
                )
        else:
            first_seen[key] = (name, synset, lineno)
        out[name] = synset
    return out


def read_mapping_file(path: str | Path, *, option: str = "--mapping") -> dict[str, str]:
    """Read a ``name<TAB>synset`` mapping file into name -> canonical synset name.

    Synsets may be given as synset names or wnids; they are checked against WordNet 3.0.
    Errors about the file itself name ``option``, the CLI option that gave the path.

    Raises:
        MissingInputError: no such file.
        InputError: a folder, or a file that cannot be read as UTF-8 text.
        MappingFileError: a malformed line, an unknown synset or a conflicting duplicate name.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"{option} {path} is a folder; give a file with one 'name<TAB>synset' line per class"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingInputError(f"{option} {path}: no such file") from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"{option} {path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as "
            "UTF-8 with one 'name<TAB>synset' line per class"
        ) from None
    except OSError as err:
        raise InputError(f"{option} {path}: cannot read it ({err.strerror or err})") from None
    return parse_mapping(text, str(path))


def merge_mappings(reviewed: Mapping[str, str], user: Mapping[str, str]) -> dict[str, str]:
    """``reviewed`` (a shipped mapping) overridden by ``user`` (a --mapping file's entries).

    A user entry replaces the reviewed one of the same name however it is spelled ("Ankle boot"
    and "ankle_boot"), so the two never conflict as two entries for one class.
    """
    mine = {normalize_name(name) for name in user}
    merged = {n: s for n, s in reviewed.items() if normalize_name(n) not in mine}
    merged.update(user)
    return merged


# ------------------------------------------------------------------------ named datasets
def _shipped(name: str) -> Traversable:
    return resources.files("labelspace.hierarchy").joinpath(MAPPINGS_DIR, f"{name}{_SUFFIX}")


@cache
def mapping_names() -> tuple[str, ...]:
    """The datasets with a shipped, reviewed mapping (their file names), sorted."""
    folder = resources.files("labelspace.hierarchy").joinpath(MAPPINGS_DIR)
    return tuple(
        sorted(p.name[: -len(_SUFFIX)] for p in folder.iterdir() if p.name.endswith(_SUFFIX))
    )


def _spelling(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def dataset_key(name: str) -> str | None:
    """The shipped mapping's name for a dataset however it is spelled ("CIFAR-10", "cifar10",
    "FashionMNIST"), or None when labelspace ships no mapping for it."""
    return {_spelling(key): key for key in mapping_names()}.get(_spelling(name))


def dataset_mapping_file(name: str) -> Traversable | None:
    """The shipped, reviewed mapping file of a dataset (any spelling), or None."""
    key = dataset_key(name)
    return None if key is None else _shipped(key)


def _require_key(name: str) -> str:
    key = dataset_key(name)
    if key is None:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(mapping_names())}"
        )
    return key


def _source(key: str) -> str:
    return f"labelspace/hierarchy/{MAPPINGS_DIR}/{key}{_SUFFIX}"


@cache
def _shipped_classes(key: str) -> tuple[str, ...]:
    text = _shipped(key).read_text(encoding="utf-8")
    return tuple(name for _, _, name, _ in _mapping_lines(text, _source(key)))


@cache
def _shipped_mapping(key: str) -> dict[str, str]:
    return parse_mapping(_shipped(key).read_text(encoding="utf-8"), _source(key))


def dataset_classes(name: str) -> list[str]:
    """A named dataset's class names in label order (the order of its shipped file).

    Raises:
        UnknownDatasetError: labelspace ships no mapping for ``name``.
    """
    return list(_shipped_classes(_require_key(name)))


def dataset_mapping(name: str) -> dict[str, str]:
    """The shipped, reviewed class name -> synset name mapping of a dataset.

    Raises:
        UnknownDatasetError: labelspace ships no mapping for ``name``.
    """
    return dict(_shipped_mapping(_require_key(name)))


def dataset_synsets(name: str) -> list[str]:
    """The synset name of each class of a dataset, in its label order."""
    key = _require_key(name)
    mapping = _shipped_mapping(key)
    return [mapping[c] for c in _shipped_classes(key)]


# Each named dataset's classes in label order, read from its shipped file.
DATASET_CLASSES: dict[str, list[str]] = {key: dataset_classes(key) for key in mapping_names()}
