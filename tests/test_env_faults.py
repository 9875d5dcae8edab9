"""Faults of the machine, not of the input: an unusable `LABELSPACE_CACHE`, a full disk, a
read-only output, a file-size limit, a DataLoader worker killed for memory. Each ends in one
line that names the path or variable and the fix, with nothing half-written left behind;
where the cache is only an optimisation, the command warns once and carries on.

The faults are real: a 2 MB tmpfs for the full disk and a read-only tmpfs (mounted where the
tests run as root and may mount; skipped elsewhere), `RLIMIT_FSIZE` for the size limit (any
user), a file or a read-only mount where the cache should be, SIGKILL to a real worker (what
the kernel's OOM killer sends)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_run import cli, wide_console  # noqa: F401  (an autouse fixture)
from PIL import Image

from labelspace.training.runs import LAST_CHECKPOINT, METRICS_FILE, read_checkpoint

LABELSPACE = [sys.executable, "-m", "labelspace"]
QUICK = ("--epochs", "1", "--train-limit", "256", "--test-limit", "100", "--batch-size", "32")
QUICK = (*QUICK, "--accelerator", "cpu")
FULL_DISK = "no space left on the device; free some space there or write elsewhere"
READ_ONLY = "read-only file system; write to a folder on a writable file system"


def labelspace(*args: str, env: dict[str, str] | None = None, **kwargs):
    return subprocess.run(
        [*LABELSPACE, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "2000", **(env or {})},
        **kwargs,
    )


def error_line(output: str) -> str:
    """The one line of a failed command (warnings about class names aside)."""
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _mounted(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``folder`` with ``options``, or a skip where mounting is not allowed."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A real 2 MB file system: what the issue filled."""
    yield from _mounted(tmp_path / "disk", "size=2m")


@pytest.fixture
def read_only(tmp_path) -> Iterator[Path]:
    yield from _mounted(tmp_path / "ro", "ro,size=1m")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """An ImageFolder of 60 noisy 128 px PNGs of cats and dogs (3 MB: more than the disk)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("test", 6)):
        for name in ("cat", "dog"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


# --------------------------------------------------------------------------- the cache
def _cache_warning(stderr: str, path: Path) -> str:
    lines = [line for line in stderr.splitlines() if "cannot be used" in line]
    assert len(lines) == 1, stderr  # once, however many caches the command would use
    assert f"the cache folder {path} ($LABELSPACE_CACHE) cannot be used" in lines[0]
    assert "point LABELSPACE_CACHE at a folder you can write to, or unset it" in lines[0]
    assert "carrying on without the cache" in lines[0]
    return lines[0]


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_a_cache_variable_naming_a_file_is_named_once_and_the_command_carries_on(tmp_path, where):
    file = tmp_path / "not-a-folder"
    file.write_text("mine\n")
    cache = file if where == "a file" else file / "cache"
    done = labelspace("hierarchy", "cat,dog", "--no-tree", env={"LABELSPACE_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr
    assert "a file stands where a folder is needed" in _cache_warning(done.stderr, cache)
    assert "entity.n.01" in done.stdout  # the hierarchy, built without the cache
    assert file.read_text() == "mine\n"


def test_a_read_only_cache_is_named_once_and_the_command_carries_on(read_only):
    done = labelspace("hierarchy", "cat,dog", "--no-tree", env={"LABELSPACE_CACHE": str(read_only)})
    assert done.returncode == 0, done.stderr
    assert "read-only file system" in _cache_warning(done.stderr, read_only)
    assert files_in(read_only) == []


def test_the_default_cache_unusable_says_to_set_the_variable(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("a file where ~/.cache should be\n")
    env = {k: v for k, v in os.environ.items() if k != "LABELSPACE_CACHE"}
    done = subprocess.run(
        [*LABELSPACE, "hierarchy", "cat,dog", "--no-tree"],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(home), "COLUMNS": "2000"},
    )
    assert done.returncode == 0, done.stderr
    cache = home / ".cache" / "labelspace"
    assert (
        f"the cache folder {cache} (the default; $LABELSPACE_CACHE is not set) cannot be used"
        in done.stderr
    )
    assert "set LABELSPACE_CACHE to a folder you can write to" in done.stderr


def test_what_must_live_in_the_cache_fails_with_one_line_naming_the_variable(tmp_path, monkeypatch):
    """torchvision's datasets live in the cache unless --root says otherwise."""
    file = tmp_path / "not-a-folder"
    file.write_text("")
    monkeypatch.setenv("LABELSPACE_CACHE", str(file))
    code, out = cli("train", tmp_path / "run", "--data", "torchvision:cifar10", *QUICK)
    assert code == 2
    assert f"the cache folder {file} ($LABELSPACE_CACHE) cannot be used" in error_line(out)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- a full disk
def test_pack_onto_a_full_disk_names_the_output_and_leaves_nothing(small_disk, photos):
    out = small_disk / "shards"
    code, output = cli("pack", photos, out)
    assert code == 2
    assert error_line(output) == f"error: cannot write {out}: {FULL_DISK}"
    assert files_in(small_disk) == []


def test_train_onto_a_full_disk_names_the_file_and_leaves_nothing(small_disk):
    run = small_disk / "runs" / "fm"
    code, output = cli("train", run, *QUICK)  # the first checkpoint (4.7 MB) does not fit
    assert code == 2
    assert error_line(output) == (
        f"error: cannot write {run / LAST_CHECKPOINT}: {FULL_DISK}. Nothing was kept"
    )
    assert files_in(small_disk) == []


def test_explain_onto_a_full_disk_names_the_overlay(small_disk, photos, trained_runs):
    disk = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(bytes(disk.f_bavail * disk.f_frsize - 4096))  # all but 4 kB
    out = small_disk / "maps"
    images = [photos / "test" / "cat" / "0.png", photos / "test" / "dog" / "0.png"]
    code, output = cli("explain", trained_runs("softmax"), *images, "--out", out)
    assert code == 2
    line = error_line(output)
    assert line.startswith(f"error: cannot write {out}/") and line.endswith(FULL_DISK)
    assert files_in(small_disk) == ["filler"]


@pytest.mark.slow
def test_a_file_size_limit_names_the_file_and_leaves_nothing(tmp_path):
    """Any user can set RLIMIT_FSIZE: writing past it fails with EFBIG, as a full disk does
    with ENOSPC (Python ignores SIGXFSZ, so the write fails rather than the process)."""
    run = tmp_path / "run"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    done = labelspace("train", run, *QUICK, preexec_fn=limit)
    assert done.returncode == 2
    assert error_line(done.stderr) == (
        f"error: cannot write {run / LAST_CHECKPOINT}: file too large (a file-size limit: "
        "`ulimit -f`, or the file system's); raise the limit or write elsewhere. Nothing was kept"
    )
    assert not run.exists()


@pytest.mark.parametrize("command", ["train", "compare", "pack"])
def test_a_read_only_output_is_one_line(read_only, photos, command):
    out = read_only / "out"
    args = {
        "train": ("train", out, *QUICK),
        "compare": ("compare", out, "--methods", "softmax,hxe", *QUICK, "--no-analyze"),
        "pack": ("pack", photos, out),
    }[command]
    code, output = cli(*args)
    assert code == 2
    assert error_line(output) == f"error: cannot write {out}: {READ_ONLY}"


# --------------------------------------------------------------------------- memory
def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds workers through /proc")
def test_a_worker_killed_for_memory_is_one_line_with_the_fix(tmp_path, photos):
    """The kernel's OOM killer sends SIGKILL to the process that grew: here a streaming
    DataLoader worker, killed once the run has its first checkpoint."""
    run = tmp_path / "run"
    args = ["train", str(run), "--data", str(photos), "--streaming", "--workers", "1"]
    args += ["--epochs", "1000", "--batch-size", "4", "--image-size", "32", "--accelerator", "cpu"]
    proc = subprocess.Popen(
        [*LABELSPACE, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "2000", "OMP_NUM_THREADS": "1"},
    )
    while not (run / LAST_CHECKPOINT).is_file() or not _children(proc.pid):
        assert proc.poll() is None, proc.stderr.read()
    worker = _children(proc.pid)[0]
    os.kill(worker, signal.SIGKILL)
    assert proc.wait() == 2
    # torch reports the death from its SIGCHLD handler or, if its poll sees it first, as an
    # unexpected exit: either way one line, the worker's PID and the fix
    line = error_line(proc.stderr.read())
    assert line in {
        f"error: a DataLoader worker (pid {worker}) {how}: most often the system ran out of "
        "memory; use fewer --workers, --streaming, a smaller --image-size or --batch-size. "
        f"{run / LAST_CHECKPOINT} keeps the last finished epoch (--resume continues it)"
        for how in ("is killed by signal: Killed", "exited unexpectedly")
    }, line
    assert not (run / METRICS_FILE).exists()
    assert read_checkpoint(run)["epoch"] >= 0  # the kept checkpoint is whole
