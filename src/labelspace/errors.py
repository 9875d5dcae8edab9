"""The errors labelspace raises for input it cannot use.

Every error that a user can cause (an unknown option value, a missing or damaged file, a run
folder in the wrong state) derives from :class:`LabelspaceError`. The command line prints
such an error as one line and exits with status 2; anything else is a bug and keeps its
traceback. The subclasses also derive from the built-in error a Python caller would expect
(``ValueError``, ``FileExistsError``, ``FileNotFoundError``), so ``except ValueError`` keeps
working for library users.
"""

from __future__ import annotations


class LabelspaceError(Exception):
    """Base class of every error caused by input: its message says what to do instead."""


class InputError(LabelspaceError, ValueError):
    """An option, argument or input file whose value labelspace cannot use."""


class OutputExistsError(LabelspaceError, FileExistsError):
    """An output file or folder exists already and would be replaced without ``--overwrite``."""


class MissingInputError(LabelspaceError, FileNotFoundError):
    """An input file or folder that does not exist."""
