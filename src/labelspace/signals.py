"""Stopping on a signal: what a scheduler or Ctrl-C asks for ends in a status line and a
non-zero exit, never in a silent exit 0.

While :func:`stop_on_signals` is active (``train`` and ``compare`` hold it), SIGTERM (what a
cluster scheduler sends before it preempts or ends a job) and SIGINT (Ctrl-C) raise
:class:`Stopped`: at once, or, inside :func:`deferred` (training), where that code next checks
:func:`pending` (training checks after every step, saves a checkpoint there, then raises). A
second Ctrl-C stops at once. Under SLURM, SIGUSR1 (``#SBATCH --signal=SIGUSR1@90``) stops the
same way, and :func:`requeue` then puts the job back in the queue.

:class:`Stopped` derives from ``BaseException``, as ``KeyboardInterrupt`` does, so no
``except Exception`` swallows it. The command line prints it as one line and exits with
128 + the signal's number (143 for SIGTERM, 130 for SIGINT), the status a shell gives a
process that the signal killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass


class Stopped(BaseException):
    """A signal stopped the command: ``status`` says what was kept, ``hint`` how to go on."""

    def __init__(self, signum: int, status: str = "", hint: str = "") -> None:
        super().__init__(signum, status, hint)
        self.signum = signum
        self.status = status
        self.hint = hint

    @property
    def signame(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: what a shell reports for a process the signal killed."""
        return 128 + self.signum

    def __str__(self) -> str:
        parts = [p for p in (self.status, self.hint) if p]
        return f"stopped by {self.signame}" + (": " + "; ".join(parts) if parts else "")

    def explained(self, status: str | None = None, hint: str | None = None) -> Stopped:
        """The same stop, with what was kept and how to go on said anew."""
        return Stopped(
            self.signum,
            self.status if status is None else status,
            self.hint if hint is None else hint,
        )


@dataclass
class _Watch:
    pid: int  # the process that watches (a forked DataLoader worker inherits the handler)
    signum: int | None = None  # the first signal received
    deferring: int = 0


_watch: _Watch | None = None


def under_slurm() -> bool:
    return "SLURM_JOB_ID" in os.environ


def _signals() -> tuple[int, ...]:
    extra = (signal.SIGUSR1,) if under_slurm() and hasattr(signal, "SIGUSR1") else ()
    return (signal.SIGTERM, signal.SIGINT, *extra)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT (and SIGUSR1 under SLURM) raise
    :class:`Stopped` (see :func:`deferred`); the previous handlers come back after it.

    Nested blocks share the outermost one's handlers; outside the main thread (where Python
    cannot set handlers) the block runs without them."""
    global _watch
    if _watch is not None or threading.current_thread() is not threading.main_thread():
        yield
        return
    watch = _Watch(os.getpid())
    previous = {signum: signal.getsignal(signum) for signum in _signals()}
    _watch = watch
    try:
        install()
        yield
        if watch.signum is not None:  # received where nothing checked: stop all the same
            raise Stopped(watch.signum)
    finally:
        _watch = None
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def install() -> None:
    """(Re)install the handlers of the active :func:`stop_on_signals`: Lightning replaces the
    SIGTERM handler while it fits, and training takes it back."""
    if _watch is not None and threading.current_thread() is threading.main_thread():
        for signum in _signals():
            signal.signal(signum, _handle)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """In the block a signal is only recorded: the block checks :func:`pending` where it can
    stop cleanly (a second Ctrl-C still stops at once)."""
    if _watch is None:
        yield
        return
    _watch.deferring += 1
    try:
        yield
    finally:
        _watch.deferring -= 1


def pending() -> int | None:
    """The signal received and not yet acted on, if any."""
    return _watch.signum if _watch is not None else None


def _handle(signum: int, frame: object) -> None:
    watch = _watch
    if watch is None:
        return
    if os.getpid() != watch.pid:  # a forked DataLoader worker: its parent stops it
        if signum != signal.SIGINT:  # Ctrl-C reaches the worker too: the parent handles it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return
    first = watch.signum is None
    if first:
        watch.signum = signum
    if watch.deferring and (first or signum != signal.SIGINT):
        return  # stop at the next check (a repeated SIGTERM changes nothing)
    raise Stopped(watch.signum or signum, "" if first else "asked twice, so at once")


def requeue(stop: Stopped) -> str | None:
    """Under SLURM, after SIGUSR1: put the job back in the queue (``scontrol requeue``) from
    the first process of the job; returns what happened, for the status line."""
    if not under_slurm() or stop.signum != getattr(signal, "SIGUSR1", None):
        return None
    if os.environ.get("SLURM_PROCID", "0") != "0" or os.environ.get("LOCAL_RANK", "0") != "0":
        return None
    job = os.environ["SLURM_JOB_ID"]
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    try:
        done = subprocess.run(
            ["scontrol", "requeue", job], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        return f"could not requeue SLURM job {job} (scontrol: {exc.strerror})"
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        return f"could not requeue SLURM job {job} ({why[0] if why else done.returncode})"
    return f"requeued SLURM job {job}"
