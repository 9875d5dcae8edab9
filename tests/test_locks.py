"""One process per run folder and per comparison folder: a second `train`, `compare`,
`evaluate` or `analyze` on a folder another process holds is refused with one line naming
that process's PID, exits 2 and writes nothing; a lock left by a killed process is taken over
with a note.

The holder is always a real process: a small Python program that takes the lock, or a real
`labelspace` command (the slow tests race two of them, as the issue's reproduction did)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import cli, wide_console  # noqa: F401  (an autouse fixture)

from labelspace.locks import LOCK_FILE, FolderInUseError, folder_lock

LABELSPACE = [sys.executable, "-m", "labelspace"]
TINY = ("--epochs", "1", "--train-limit", "256", "--test-limit", "100", "--batch-size", "32")
QUICK = (*TINY, "--accelerator", "cpu")

# a process that takes FOLDER's lock, says so, and holds it until its stdin closes
HOLDER = """
import sys
from labelspace.locks import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def holder(tmp_path) -> Iterator:
    """Start a process that holds a folder's lock: ``holder(folder)`` -> the process."""
    started: list[subprocess.Popen] = []

    def start(folder: Path) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait()


def test_train_into_a_run_folder_another_process_holds_is_refused_and_writes_nothing(
    tmp_path, holder
):
    run = tmp_path / "run"
    proc = holder(run)
    before = snapshot(run)
    code, out = cli("train", run, *QUICK)
    assert code == 2
    assert f"{run} is in use by another labelspace process: PID {proc.pid}" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert snapshot(run) == before  # the holder's lock file, untouched; nothing else


def test_resume_and_overwrite_of_a_run_in_use_are_refused_too(tmp_path, holder):
    run = tmp_path / "run"
    proc = holder(run)
    (run / "config.yaml").write_text("a run another process is writing\n")
    before = snapshot(run)
    for extra in ("--resume", "--overwrite"):
        code, out = cli("train", run, *QUICK, extra)
        assert code == 2 and f"PID {proc.pid}" in out, out
    assert snapshot(run) == before


def test_compare_into_a_folder_in_use_is_refused_and_writes_nothing(tmp_path, holder):
    out_dir = tmp_path / "cmp"
    proc = holder(out_dir)
    code, out = cli("compare", out_dir, "--methods", "softmax,hxe", *QUICK, "--no-analyze")
    assert code == 2 and f"{out_dir} is in use by another labelspace process: PID {proc.pid}" in out
    assert sorted(p.name for p in out_dir.iterdir()) == [LOCK_FILE]


@pytest.mark.parametrize(
    "command", [["evaluate"], ["analyze"], ["evaluate", "--labels", "mammal.n.01"]]
)
def test_evaluating_or_analysing_a_run_another_process_trains_is_refused(tmp_path, holder, command):
    run = tmp_path / "run"
    proc = holder(run)
    code, out = cli(command[0], run, *command[1:])
    assert code == 2
    assert f"{run} is in use by another labelspace process: PID {proc.pid}" in out
    assert "wait for it to finish, or stop it" in out


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_note(tmp_path, holder, caplog):
    run = tmp_path / "run"
    proc = holder(run)
    proc.send_signal(signal.SIGKILL)  # no clean-up: the lock file stays, naming the dead PID
    proc.wait()
    left = json.loads((run / LOCK_FILE).read_text())
    assert left["pid"] == proc.pid
    code, out = cli("evaluate", run)
    # the lock is taken over (with a note), then evaluate says what the folder lacks
    notes = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert notes == [
        f"{run}: taking over the lock left by PID {proc.pid}, which no longer holds it (killed?)"
    ]
    assert code == 2 and "is not a labelspace run" in out
    assert not (run / LOCK_FILE).exists()


def test_the_lock_is_reentrant_in_a_process_and_removed_when_let_go(tmp_path):
    folder = tmp_path / "a" / "b"
    with folder_lock(folder) as outer:
        assert outer.made == tmp_path / "a"  # what a failed command may remove
        with folder_lock(folder) as inner:
            assert inner is outer and (folder / LOCK_FILE).is_file()
        assert (folder / LOCK_FILE).is_file()  # still held by the outer block
    assert folder.is_dir() and not (folder / LOCK_FILE).exists()


def test_a_held_lock_refuses_in_the_library_too(tmp_path, holder):
    folder = tmp_path / "run"
    proc = holder(folder)
    with pytest.raises(FolderInUseError, match=f"PID {proc.pid}"), folder_lock(folder):
        pass


# --------------------------------------------------------------------------- real races
def _started(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*LABELSPACE, *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "2000", **(env or {})},
    )


def _paused_with_lock(folder: Path, proc: subprocess.Popen) -> int:
    """Once ``proc`` holds ``folder``'s lock, pause it there (SIGSTOP: it keeps the lock, so
    the race does not depend on how fast either command is); returns its recorded PID."""
    while proc.poll() is None:
        try:
            pid = json.loads((folder / LOCK_FILE).read_text())["pid"]
        except (OSError, ValueError, KeyError):
            continue
        proc.send_signal(signal.SIGSTOP)
        return pid
    raise AssertionError(f"the first command ended first: {proc.stderr.read()}")


def _epochs_logged(run: Path) -> list[int]:
    rows = csv.DictReader((run / "logs" / "metrics.csv").read_text().splitlines())
    return sorted({int(float(r["epoch"])) for r in rows if r.get("val_top1")})


@pytest.mark.slow
def test_two_compares_into_one_folder_one_runs_the_other_is_refused(tmp_path):
    """The issue's reproduction: the second comparison is refused at once, naming the first's
    PID, and the first one's runs keep every row of their logs."""
    out_dir = tmp_path / "race"
    args = ["compare", str(out_dir), "--methods", "softmax,hxe", "--no-analyze"]
    args += [*TINY, "--epochs", "2", "--accelerator", "cpu"]
    first = _started(args)
    pid = _paused_with_lock(out_dir, first)
    second = subprocess.run(
        [*LABELSPACE, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "2000"}
    )
    first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert f"{out_dir} is in use by another labelspace process: PID {pid}" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.wait() == 0, first.stderr.read()
    for method in ("softmax", "hxe"):
        assert _epochs_logged(out_dir / method) == [0, 1]
        assert (out_dir / method / "metrics.json").is_file()
    assert (out_dir / "report.md").is_file() and not (out_dir / LOCK_FILE).exists()


@pytest.mark.slow
def test_two_trains_into_one_run_folder_one_runs_the_other_is_refused(tmp_path):
    run = tmp_path / "run"
    args = ["train", str(run), *TINY, "--epochs", "2", "--accelerator", "cpu"]
    first = _started(args)
    pid = _paused_with_lock(run, first)
    try:
        for extra in ((), ("--overwrite",), ("--resume",)):
            second = subprocess.run(
                [*LABELSPACE, *args, *extra],
                capture_output=True,
                text=True,
                env={**os.environ, "COLUMNS": "2000"},
            )
            assert second.returncode == 2, second.stderr
            assert f"in use by another labelspace process: PID {pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait() == 0, first.stderr.read()
    assert _epochs_logged(run) == [0, 1]
    assert json.loads((run / "metrics.json").read_text())["resumed"] is False
    assert not (run / LOCK_FILE).exists()
