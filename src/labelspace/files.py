"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything labelspace writes (run configs, metrics, predictions, checkpoints, embeddings,
hierarchy files, figures, reports, caches) goes through :func:`atomic_write`: the content is
written to a temporary file beside the target and moved into place with one rename. Without
``overwrite`` the move is a hard link, which fails if the target appeared in the meantime, so
a file written concurrently by someone else is never clobbered.

A write that the machine refuses (a full disk, a quota, a read-only file system, no
permission, a file-size limit) becomes a :class:`WriteError`: one line that names the file and
the fix, with the temporary file removed, so nothing half-written is left.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labelspace.errors import InputError, LabelspaceError, MissingInputError, OutputExistsError

# errno -> (what the system said, what to do): faults of the machine, not of the input
WRITE_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "free some space there or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some of your quota or write elsewhere"),
    errno.EFBIG: (
        "file too large (a file-size limit: `ulimit -f`, or the file system's)",
        "raise the limit or write elsewhere",
    ),
    errno.EROFS: ("read-only file system", "write to a folder on a writable file system"),
    errno.EACCES: ("permission denied", "write to a folder you may write to"),
    errno.EPERM: ("operation not permitted", "write to a folder you may write to"),
}


class WriteError(LabelspaceError, OSError):
    """A file the machine would not let labelspace write (full disk, quota, read-only,
    permission, size limit); the message names the path and the fix. ``errno`` is the
    system's, so ``except OSError`` code keeps working."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def with_note(self, note: str) -> WriteError:
        """The same fault, with what the command kept said after it."""
        error = WriteError(f"{self}. {note}")
        error.errno, error.filename = self.errno, self.filename
        return error


def write_fault(path: str | os.PathLike[str] | None, exc: OSError) -> WriteError | None:
    """``exc`` as a :class:`WriteError` naming ``path`` (the file or folder being written;
    None: the one the system names), or None if it is not a fault of the machine."""
    if isinstance(exc, WriteError):
        return exc
    fault = WRITE_FAULTS.get(exc.errno or 0)
    if fault is None:
        return None
    what, fix = fault
    named = exc.filename
    if path is None and named is None:
        message = f"a write failed: {what}; {fix}"
    else:
        target = Path(path if path is not None else named)
        message = f"cannot write {target}: {what}; {fix}"
        # a file outside the target's folder (a temporary file of a library) is named too
        names = [n for n in (named, getattr(exc, "filename2", None)) if n is not None]
        if path is not None and names and not any(_within(Path(n), target) for n in names):
            message += f" (the system named {named}: check $TMPDIR too)"
    error = WriteError(message)
    error.errno = exc.errno
    error.filename = str(path) if path is not None else named
    return error


def _within(path: Path, target: Path) -> bool:
    folder = target if target.is_dir() else target.parent
    try:
        path.absolute().relative_to(folder.absolute())
    except ValueError:
        return False
    return True


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a fault of the machine raised in the block into a :class:`WriteError` naming
    ``path`` (the file or folder the block writes). Permission errors on files outside
    ``path`` (an input that cannot be read) are left as they are."""
    try:
        yield
    except OSError as exc:
        denied = exc.errno in (errno.EACCES, errno.EPERM) and exc.filename is not None
        if denied and not _within(Path(exc.filename), Path(path)):
            raise
        fault = write_fault(path, exc)
        if fault is None or fault is exc:
            raise
        raise fault from exc


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], object],
    *,
    overwrite: bool = True,
) -> Path:
    """Create ``path`` by calling ``write(tmp)`` on a temporary sibling, then moving it in.

    The temporary file exists (empty, with the permissions a new file gets under the umask)
    when ``write`` runs; ``write`` may reopen it by name. On any error the temporary file is
    removed and ``path`` is left as it was.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise MissingInputError(f"cannot write {path}: folder {path.parent} does not exist")
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    with writing(path):
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask applies
    mode = tmp.stat().st_mode & 0o777
    try:
        with writing(path):
            write(tmp)
            os.chmod(tmp, mode)  # a writer that replaces the file (safetensors) makes it private
            if overwrite:
                os.replace(tmp, path)
            else:
                _publish_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    option: str = "output",
    folder: bool = False,
) -> Path:
    """Check, before any work starts, that ``path`` can be written; returns it as a Path.

    Refused, with a message naming ``option`` (the CLI option or argument that gave the path):
    an existing file or folder without ``overwrite``; a folder where a file is to be written
    (or the reverse), which ``overwrite`` does not replace; a path below an existing file.
    """
    path = Path(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{option} {path}: {parent} is a file, not a folder")
            break
    if path.exists():
        if path.is_dir() != folder:
            what = "a folder" if path.is_dir() else "a file"
            wanted = "a folder" if folder else "a file"
            raise InputError(f"{option} {path} is {what}; give the path of {wanted}")
        if not overwrite and (not folder or any(path.iterdir())):
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    return path


def first_missing(path: str | os.PathLike[str]) -> Path | None:
    """The outermost of ``path`` and its ancestors that does not exist (None if ``path`` does):
    what to remove so that a failed command that made ``path`` leaves no folder behind."""
    path = Path(path).absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


@contextmanager
def removed_on_failure(folder: Path | None, keep: Callable[[], bool]) -> Iterator[None]:
    """Remove ``folder`` (made by the block; None: nothing to remove) if the block fails, any
    exception or Ctrl-C, unless ``keep()`` says the folder holds something worth keeping."""
    try:
        yield
    except BaseException:
        if folder is not None and folder.exists() and not keep():
            shutil.rmtree(folder, ignore_errors=True)
        raise


def publish_folder(tmp: Path, folder: Path, *, overwrite: bool) -> None:
    """Rename the finished folder ``tmp`` to ``folder``, its sibling: a missing or empty
    ``folder`` is replaced in one step; a non-empty one only with ``overwrite``, swapped out
    and put back if the swap fails, so a reader sees the old folder or the new one."""
    try:
        os.rename(tmp, folder)
        return
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not overwrite:  # a folder that filled up since it was checked
        raise OutputExistsError(f"{folder} exists; pass --overwrite to replace it")
    old = folder.with_name(f".{folder.name}.{secrets.token_hex(6)}.old")
    os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _publish_new(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist yet."""
    try:
        os.link(tmp, path)  # atomic, and fails if the file appeared meanwhile
    except FileExistsError:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it") from None
    except OSError:  # a file system without hard links: check, then rename
        if path.exists():
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it") from None
        os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 text (``\\n`` line ends) atomically, flushed to disk before the rename."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_write(path, write, overwrite=overwrite)


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, overwrite: bool = True) -> Path:
    """Write ``data`` as indented JSON atomically (serialised before anything is written)."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n", overwrite=overwrite)
