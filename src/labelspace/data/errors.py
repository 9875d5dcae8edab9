"""Errors raised while loading image datasets.

All derive from :class:`DatasetError`, an :class:`~labelspace.errors.InputError`: the command
line prints the message, which always says what was wrong and what to do about it.
"""

from __future__ import annotations

import re
from pathlib import Path

from labelspace.errors import InputError

__all__ = [
    "CORRUPT_REMEDY",
    "ClassMismatchError",
    "CorruptImageError",
    "DatasetError",
    "DatasetNotFoundError",
    "EmptyClassError",
    "IdxFormatError",
    "ImageSizeError",
    "worker_message",
]


class DatasetError(InputError):
    """A dataset that cannot be loaded as asked.

    Raised in a DataLoader worker (a streamed image that does not decode), the error comes
    back to the main process as torch re-raises it: ``type(error)(text)``, where ``text`` is
    "Caught X in DataLoader worker process N." and the worker's whole traceback. The message
    is then the worker's own line again, so the command line still prints one line.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(worker_message(message) if isinstance(message, str) else message, *args)


def worker_message(text: str) -> str:
    """The error's own message in ``text`` as torch's DataLoader re-raises a worker's error
    ("Caught X in DataLoader worker process N.\nOriginal Traceback ...": the traceback's last
    line, after the error's name); ``text`` itself otherwise."""
    first, _, rest = text.partition("\n")
    if not (first.startswith("Caught ") and rest.startswith("Original Traceback")):
        return text
    name = first.split()[1]
    for line in reversed(rest.splitlines()):
        head, sep, message = line.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == name:
            return message
    return first


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's files are not where they were looked for."""


class IdxFormatError(DatasetError):
    """A malformed idx file (the MNIST file format); the message names the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class CorruptImageError(DatasetError):
    """An image file that cannot be decoded; ``path`` names it, ``remedy`` says what to do
    (by default: replace the file, or skip unreadable images).

    Built with one argument (a whole message, as torch re-raises a worker's error), ``path``
    and ``reason`` are read back from the message."""

    def __init__(self, path: str | Path, reason: str | None = None, remedy: str | None = None):
        if reason is None:
            message = worker_message(str(path))
            found = _CORRUPT.match(message)
            self.path, self.reason = found.groups() if found else ("", message)
            super().__init__(message)
            return
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{_CORRUPT_START}{path}: {reason}. {remedy or CORRUPT_REMEDY}")


CORRUPT_REMEDY = (
    "Delete or replace the file, or pass --skip-corrupt to skip unreadable images and list "
    "them in the run report (from Python: skip_corrupt=True)."
)
_CORRUPT_START = "cannot decode image "
_CORRUPT = re.compile(re.escape(_CORRUPT_START) + r"(.*?): (.*)")


class ImageSizeError(DatasetError):
    """Images of differing sizes where one size was expected."""


class EmptyClassError(DatasetError):
    """Class folders that hold no images."""


class ClassMismatchError(DatasetError):
    """The test split's classes differ from the training split's."""
