"""Reading a model's scores and the true labels from the files other tools write.

Scores are an ``(N, C)`` array of logits or probabilities, one row per image and one column
per class: ``.npy``, ``.npz`` or ``.safetensors`` (the only array, or the one named by
``key``), or a CSV/TSV table of numbers. A CSV may have a header row; then one of its columns
can hold the labels (``label_column``) and the other columns' names are the classes. Labels
are ``N`` class indices or class names: an array file, a text file with one per line, or that
CSV column. Every problem is an :class:`ScoreFileError` that names the file and what to do.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelspace.errors import InputError, MissingInputError
from labelspace.validation import is_number

__all__ = ["SCORE_SUFFIXES", "ScoreFileError", "ScoreTable", "read_labels", "read_scores"]

ARRAY_SUFFIXES = (".npy", ".npz", ".safetensors")
TABLE_SUFFIXES = (".csv", ".tsv")
SCORE_SUFFIXES = (*ARRAY_SUFFIXES, *TABLE_SUFFIXES)
_PREFERRED_KEYS = ("scores", "logits", "probs", "probabilities", "outputs")


class ScoreFileError(InputError):
    """A scores or labels file that cannot be read as asked."""

    def __init__(self, path: Path, problem: str, hint: str = "") -> None:
        super().__init__(f"{path}: {problem}" + (f". {hint}" if hint else ""))


@dataclass
class ScoreTable:
    """Scores read from a file, with what a table's header said about them."""

    scores: np.ndarray  # (N, C)
    columns: list[str] | None = None  # class names from a CSV header
    labels: list[str] | None = None  # the label column of a CSV, as written


def _existing(path: str | os.PathLike[str], what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{what} file {path} not found; check the path")
    return path


def read_scores(
    path: str | os.PathLike[str], *, key: str | None = None, label_column: str | None = None
) -> ScoreTable:
    """The ``(N, C)`` scores in ``path`` (see the module docstring for the formats)."""
    path = _existing(path, "scores")
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _read_table(path, label_column)
    if label_column is not None:
        raise ScoreFileError(path, "--label-column needs a CSV or TSV scores file")
    if suffix not in ARRAY_SUFFIXES:
        raise ScoreFileError(
            path,
            f"unknown suffix {path.suffix or '(none)'!r}",
            f"Give scores as {', '.join(SCORE_SUFFIXES)}",
        )
    array = _read_array(path, key)
    if array.ndim != 2:
        raise ScoreFileError(path, f"scores must be 2-D (images, classes), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ScoreFileError(path, f"scores must be numbers, got dtype {array.dtype}")
    return ScoreTable(np.ascontiguousarray(array))


def _read_array(path: Path, key: str | None) -> np.ndarray:
    """One array from ``.npy`` / ``.npz`` / ``.safetensors`` (pickled objects refused)."""
    try:
        if path.suffix.lower() == ".npy":
            if key is not None:
                raise ScoreFileError(path, "--key names an array of a .npz or .safetensors file")
            return np.load(path, allow_pickle=False)
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return _pick(path, {k: archive[k] for k in archive.files}, key)
        from safetensors.numpy import load_file

        return _pick(path, load_file(str(path)), key)
    except ScoreFileError:
        raise
    except ValueError as err:  # object arrays need pickle: refused
        raise ScoreFileError(path, f"not a plain numeric array ({err})") from None
    except Exception as err:  # a damaged file: zip, header or safetensors errors
        raise ScoreFileError(
            path, f"cannot be read ({type(err).__name__}: {err})", "Check the file is complete"
        ) from None


def _pick(path: Path, arrays: dict[str, np.ndarray], key: str | None) -> np.ndarray:
    if not arrays:
        raise ScoreFileError(path, "holds no arrays")
    if key is not None:
        if key not in arrays:
            raise ScoreFileError(
                path, f"has no array {key!r}", f"Its arrays: {', '.join(sorted(arrays))}"
            )
        return arrays[key]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    preferred = [k for k in _PREFERRED_KEYS if k in arrays]
    if len(preferred) == 1:
        return arrays[preferred[0]]
    raise ScoreFileError(
        path,
        f"holds several arrays ({', '.join(sorted(arrays))})",
        "Name the scores with --key",
    )


def _read_table(path: Path, label_column: str | None) -> ScoreTable:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [r for r in csv.reader(handle, delimiter=delimiter) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ScoreFileError(path, f"cannot be read ({err})") from None
    if not rows:
        raise ScoreFileError(path, "is empty", "Write one row of scores per image")
    header = None if all(is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header is not None else rows
    labels = None
    if label_column is not None:
        if header is None or label_column not in header:
            raise ScoreFileError(
                path,
                f"has no column named {label_column!r}",
                "The label column is named in the CSV's header row"
                + (f"; its columns: {', '.join(header)}" if header else ""),
            )
        at = header.index(label_column)
        labels = [r[at].strip() if at < len(r) else "" for r in body]
        body = [r[:at] + r[at + 1 :] for r in body]
        header = header[:at] + header[at + 1 :]
    width = len(header) if header is not None else len(body[0]) if body else 0
    for number, row in enumerate(body, start=2 if header is not None else 1):
        if len(row) != width:
            raise ScoreFileError(
                path, f"row {number} has {len(row)} scores, expected {width}", "Fix that row"
            )
    try:
        scores = np.array(body, dtype=np.float64).reshape(len(body), width)
    except ValueError:
        number, bad = next(
            (n, c) for n, r in enumerate(body, start=1) for c in r if not is_number(c)
        )
        raise ScoreFileError(
            path, f"{bad!r} in row {number} is not a number", "Scores must be numbers"
        ) from None
    return ScoreTable(scores, header, labels)


def read_labels(path: str | os.PathLike[str], *, key: str | None = None) -> list[str] | np.ndarray:
    """The true labels in ``path``: an integer array (``.npy``/``.npz``/``.safetensors``) or
    the lines of a text/CSV file (indices or class names, as written)."""
    path = _existing(path, "labels")
    if path.suffix.lower() in ARRAY_SUFFIXES:
        array = _read_array(path, key)
        if array.ndim != 1 and not (array.ndim == 2 and array.shape[1] == 1):
            raise ScoreFileError(path, f"labels must be 1-D (images,), got shape {array.shape}")
        return array.reshape(-1)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ScoreFileError(path, f"cannot be read ({err})") from None
    values = [line.split(",")[0].strip() for line in lines if line.strip()]
    if not values:
        raise ScoreFileError(path, "holds no labels", "Write one label per line")
    return values


def label_indices(
    labels: Sequence[str] | np.ndarray, classes: Sequence[str], source: str
) -> np.ndarray:
    """Class indices of labels given as indices or as class names (of ``classes``)."""
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        return labels.astype(np.int64)
    if isinstance(labels, np.ndarray) and labels.dtype.kind == "f":
        if not np.all(labels == np.round(labels)):
            raise InputError(f"{source}: labels must be class indices, not fractions")
        return labels.astype(np.int64)
    texts = [str(v).strip() for v in labels]
    position = {c: i for i, c in enumerate(classes)}
    rest = texts[1:]
    header = len(texts) > 1 and not _is_index(texts[0]) and texts[0] not in position
    if header and (all(map(_is_index, rest)) or all(t in position for t in rest)):
        texts = rest  # a header line such as "label"
    if all(_is_index(t) for t in texts):
        return np.array([int(t) for t in texts], dtype=np.int64)
    unknown = [t for t in dict.fromkeys(texts) if t not in position]
    if unknown:
        raise InputError(
            f"{source}: {len(unknown)} label(s) are neither class indices nor classes: "
            f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}; give class "
            "indices or the class names in score order"
        )
    return np.array([position[t] for t in texts], dtype=np.int64)


def _is_index(text: str) -> bool:
    return text.lstrip("-").isdigit()
