"""The errors labelspace raises for input it cannot use.

Every error that a user can cause (an unknown option value, a missing or damaged file, a run
folder in the wrong state) derives from :class:`LabelspaceError`. The command line prints
such an error as one line and exits with status 2; anything else is a bug and keeps its
traceback. The subclasses also derive from the built-in error a Python caller would expect
(``ValueError``, ``FileExistsError``, ``FileNotFoundError``), so ``except ValueError`` keeps
working for library users. The ``require_*`` helpers check numeric options and phrase the
error in the command line's terms.
"""

from __future__ import annotations

import math


class LabelspaceError(Exception):
    """Base class of every error caused by input: its message says what to do instead."""


class InputError(LabelspaceError, ValueError):
    """An option, argument or input file whose value labelspace cannot use."""


class OutputExistsError(LabelspaceError, FileExistsError):
    """An output file or folder exists already and would be replaced without ``--overwrite``."""


class MissingInputError(LabelspaceError, FileNotFoundError):
    """An input file or folder that does not exist."""


# --------------------------------------------------------------------------- option checks
# The keyword names are the command-line options (``batch_size`` is ``--batch-size``), so the
# configs of every stage refuse an out-of-range number with the same words.
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def require_at_least(low: int, **options: int | None) -> None:
    """Whole-number options (None: not given) must be >= ``low``."""
    for name, value in options.items():
        if value is not None and value < low:
            raise InputError(f"{_flag(name)} must be >= {low}, got {value}")


def require_positive(**options: float) -> None:
    """Options that must be finite numbers > 0 (NaN and inf are refused)."""
    for name, value in options.items():
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{_flag(name)} must be a finite number > 0, got {value}")


def require_not_negative(**options: float | None) -> None:
    """Options (None: not given) that must be finite numbers >= 0."""
    for name, value in options.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InputError(f"{_flag(name)} must be a finite number >= 0, got {value}")
