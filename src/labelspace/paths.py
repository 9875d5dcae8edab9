"""Where labelspace keeps files it builds once and reuses (WordNet layout, noun graph, closures).

The cache is ``$LABELSPACE_CACHE``, or ``~/.cache/labelspace``. It is an optimisation: when it
cannot be used (the variable names a file, a read-only folder, one without permission),
labelspace says so once, naming the path, the variable and the fix, and carries on without it
(what a cache would hold is built again in each process; a build that needs a folder uses a
temporary one). Only what must live there (torchvision downloads) fails, with one line.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path

from labelspace.errors import LabelspaceError

CACHE_VARIABLE = "LABELSPACE_CACHE"

log = logging.getLogger(__name__)

_checked: dict[str, str | None] = {}  # cache path -> why it cannot be written (None: it can)
_scratch: list[Path] = []


class CacheError(LabelspaceError, OSError):
    """The cache folder cannot be used; the message names the path, the variable and the fix."""


def cache_location() -> Path:
    """The configured cache folder, as it is (nothing is created or checked)."""
    root = os.environ.get(CACHE_VARIABLE)
    return Path(root) if root else Path.home() / ".cache" / "labelspace"


def cache_dir() -> Path:
    """The cache folder, created if missing; :class:`CacheError` if it cannot be made.

    For what must be in the cache; an optimisation uses :func:`writable_cache_dir`."""
    path = cache_location()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(_unusable(path, _reason(exc))) from None
    if not path.is_dir():
        raise CacheError(_unusable(path, "it is a file, not a folder"))
    return path


def writable_cache_dir() -> Path | None:
    """The cache folder if files can be written there; else None, after one warning per
    process that names the path, the variable and the fix (the caller carries on without)."""
    path = cache_location()
    key = str(path)
    if key not in _checked:
        _checked[key] = _why_unwritable(path)
        if _checked[key] is not None:
            log.warning(
                "%s; carrying on without the cache (slower: what it would keep is built again)",
                _unusable(path, _checked[key]),
            )
    return None if _checked[key] is not None else path


def scratch_dir() -> Path:
    """A folder of this process, removed when it exits: where a build that needs a folder
    goes when the cache cannot be written."""
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="labelspace-")))
        atexit.register(shutil.rmtree, _scratch[0], ignore_errors=True)
    return _scratch[0]


def _why_unwritable(path: Path) -> str | None:
    """Why no file can be written into ``path`` (made if missing), or None: a real write
    tells, where permission bits would not (root, read-only mounts, ACLs)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            return "it is a file, not a folder"
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return _reason(exc)
    return None


def _reason(exc: OSError) -> str:
    named = exc.filename and not Path(exc.filename).name.startswith(".probe-")
    where = f" ({exc.filename})" if named else ""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return f"a file stands where a folder is needed{where}"
    return f"{(exc.strerror or str(exc)).lower()}{where}"


def _unusable(path: Path, why: str) -> str:
    """One line: which path, set by what, is unusable, why, and what to do."""
    if os.environ.get(CACHE_VARIABLE):
        source = f"the cache folder {path} (${CACHE_VARIABLE})"
        fix = f"point {CACHE_VARIABLE} at a folder you can write to, or unset it"
    else:
        source = f"the cache folder {path} (the default; ${CACHE_VARIABLE} is not set)"
        fix = f"set {CACHE_VARIABLE} to a folder you can write to"
    return f"{source} cannot be used: {why}; {fix}"
