"""Errors raised while loading image datasets.

All derive from :class:`DatasetError`, an :class:`~labelspace.errors.InputError`: the command
line prints the message, which always says what was wrong and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

from labelspace.errors import InputError

__all__ = [
    "ClassMismatchError",
    "CorruptImageError",
    "DatasetError",
    "DatasetNotFoundError",
    "EmptyClassError",
    "IdxFormatError",
    "ImageSizeError",
]


class DatasetError(InputError):
    """A dataset that cannot be loaded as asked."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's files are not where they were looked for."""


class IdxFormatError(DatasetError):
    """A malformed idx file (the MNIST file format); the message names the file."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        super().__init__(f"{path}: {problem}")


class CorruptImageError(DatasetError):
    """An image file that cannot be decoded; ``path`` names it."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"cannot decode image {path}: {reason}. Delete or replace the file, or pass "
            "--skip-corrupt to skip unreadable images and list them in the run report (from "
            "Python: skip_corrupt=True)."
        )


class ImageSizeError(DatasetError):
    """Images of differing sizes where one size was expected."""


class EmptyClassError(DatasetError):
    """Class folders that hold no images."""


class ClassMismatchError(DatasetError):
    """The test split's classes differ from the training split's."""
