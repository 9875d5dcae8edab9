"""One process per folder: the advisory lock a run or comparison folder is held by.

Two commands writing one run folder lose each other's work (a checkpoint replaced under the
other, a log cut to one row), so ``train``, ``compare``, ``evaluate`` and ``analyze`` hold
their folder's lock while they write into it. The lock is an ``flock`` on
``FOLDER/.labelspace.lock``, which records the holder (PID, host, command, start); a second
process is refused with one line naming that PID, before it writes anything. The kernel drops
an ``flock`` when its holder dies, however it dies, so a lock file left by a killed process is
stale: the next process takes it over, with a note. The holder removes the file when it lets
go.

Within a process the lock is re-entrant (a comparison holds each run's lock while ``train``
takes it again). A file system without ``flock`` falls back to the PID in the file.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from labelspace.errors import LabelspaceError
from labelspace.files import first_missing

try:
    import fcntl
except ImportError:  # Windows: the PID in the file is the lock
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".labelspace.lock"
T = TypeVar("T")

log = logging.getLogger(__name__)

# errors of a file system that has no flock (some network file systems)
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class FolderInUseError(LabelspaceError):
    """Another process holds the folder's lock."""


@dataclass
class FolderLock:
    """A lock this process holds; ``made`` is the outermost folder that taking it created
    (None if the folder existed): what a command that fails may remove."""

    path: Path
    fd: int
    made: Path | None
    depth: int = 1


_held: dict[Path, FolderLock] = {}  # lock file (absolute) -> the lock this process holds


def holding_lock(func: Callable[..., T]) -> Callable[..., T]:
    """``func(folder, ...)`` run while it holds ``folder``'s lock (a folder that does not
    exist is not locked: ``func`` reports it)."""

    @functools.wraps(func)
    def locked(folder: str | os.PathLike[str], *args: Any, **kwargs: Any) -> T:
        with folder_lock(folder, create=False):
            return func(folder, *args, **kwargs)

    return locked


def is_lock_file(path: Path) -> bool:
    """Whether ``path`` is a folder's lock file (not content of the folder)."""
    return path.name == LOCK_FILE


def has_content(folder: Path) -> bool:
    """Whether ``folder`` holds anything but its lock file."""
    return any(not is_lock_file(p) for p in folder.iterdir())


@contextlib.contextmanager
def folder_lock(
    folder: str | os.PathLike[str], *, create: bool = True
) -> Iterator[FolderLock | None]:
    """Hold ``folder``'s lock while the block runs; another holder -> :class:`FolderInUseError`.

    ``create``: make the folder (and its parents) if it does not exist; without it, a missing
    folder is not locked (None) and the caller reports it as missing."""
    folder = Path(folder)
    path = folder.absolute() / LOCK_FILE
    held = _held.get(path)
    if held is not None:  # this process holds it already (a comparison, then its train)
        held.depth += 1
        try:
            yield held
        finally:
            held.depth -= 1
        return
    if not folder.is_dir() and not create:
        yield None
        return
    lock = _acquire(folder, path)
    _held[path] = lock
    try:
        yield lock
    finally:
        del _held[path]
        _release(lock)


def _acquire(folder: Path, path: Path) -> FolderLock:
    """Take the lock of ``folder`` (made if missing), or raise naming its holder."""
    made = first_missing(folder)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed meanwhile (a failed run's clean-up)
            folder.mkdir(parents=True, exist_ok=True)
            continue
        try:
            if not _try_lock(fd, path):
                raise FolderInUseError(_in_use(folder, _read_holder(fd)))
            # the holder before us may have removed the file as it let go: lock the file
            # that is there now, or another process could lock that one as we hold this
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    previous = _read_holder_now(fd)
    if previous and previous.get("pid") != os.getpid():
        log.warning(
            "%s: taking over the lock left by %s, which no longer holds it (killed?)",
            folder,
            _who(previous),
        )
    _write_holder(fd)
    return FolderLock(path, fd, made)


def _try_lock(fd: int, path: Path) -> bool:
    """``flock`` the file without waiting; on a file system without ``flock``, a lock
    recorded by a process alive on this host counts as held."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_FLOCK:
                raise
            log.info("%s: no flock on this file system; the PID in the file is the lock", path)
    holder = _read_holder_now(fd)
    return not holder or not _alive(holder)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _release(lock: FolderLock) -> None:
    """Remove the lock file while still holding it, then let go: a process that opened the
    file meanwhile sees it is gone and takes a new one."""
    try:
        if _same_file(lock.fd, lock.path):
            lock.path.unlink(missing_ok=True)
    finally:
        os.close(lock.fd)


def _write_holder(fd: int) -> None:
    """Record this process in the lock file (PID, host, command, start)."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(["labelspace", *sys.argv[1:]])[:200],
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)


def _read_holder_now(fd: int) -> dict | None:
    try:
        raw = os.pread(fd, 4096, 0)
        holder = json.loads(raw.decode()) if raw.strip() else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _read_holder(fd: int) -> dict | None:
    """The holder recorded in the file; it writes itself there just after it takes the lock,
    so an empty file is read again for a moment."""
    for _ in range(20):
        holder = _read_holder_now(fd)
        if holder:
            return holder
        time.sleep(0.05)
    return None


def _alive(holder: dict) -> bool:
    """Whether the recorded holder runs on this host (one on another host counts as alive)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, TypeError, ValueError):
        return True
    return True


def _who(holder: dict | None) -> str:
    if not holder:
        return "another process"
    host = holder.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"PID {holder.get('pid')}{where}"


def _in_use(folder: Path, holder: dict | None) -> str:
    """One line: the folder is in use, by whom, and what to do."""
    what = ""
    if holder:
        what = f" (`{holder.get('command', '?')}`, since {holder.get('since', '?')})"
    return (
        f"{folder} is in use by another labelspace process: {_who(holder)}{what}; wait for it "
        "to finish, or stop it"
    )
