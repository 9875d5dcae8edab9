"""Data-path benchmark: images/s of load + augment, and peak resident memory, per way of
reading a dataset.

Two measurements, side by side in one run each:

``throughput``: for each dataset given (the CIFAR-10 JPEG copy, Tiny ImageNet in its official
layout, ...), the training set as labelspace trains on it — decoded into memory, streamed from
files with 0, 1 and 2 DataLoader workers, and streamed from shards written by
``labelspace pack`` with 0, 1 and 2 workers — is iterated in training batches (augmentation
and normalisation included, no model; "batches": uint8 batches augmented and normalised whole,
as runs read them; "per image": each image augmented and normalised alone, as before), and
images/s, the decoded images held in memory and
the memory the DataLoader workers add (their unique set size, USS) are reported. Ways
are interleaved over rounds, so drift hits all of them; reported are medians over rounds.
Building the in-memory set (decoding everything once) is timed separately: it is paid once
per run.

``memory``: peak memory (PSS of the process and its workers, so that pages they share count
once) of whole ``labelspace train`` runs (one epoch, streaming)
on an increasing number of training images, to show that streaming memory does not grow
with the data.

This is a benchmark, not a test: numbers are wall-clock on whatever machine runs it. Usage::

    python benchmarks/data.py throughput --data ../shared/data/cifar10 \\
        --data ~/.cache/tiny-imagenet/tiny-imagenet-200 --image-size 64 --images 4096
    python benchmarks/data.py memory --data ~/.cache/tiny-imagenet/tiny-imagenet-200 \\
        --image-size 64 --limits 10000,100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


# ----------------------------------------------------------------------- memory of a tree
def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                kids.extend(int(c) for c in handle.read().split())
    except OSError:
        pass
    return kids


def _rollup(pid: int, *fields: str) -> int:
    """The sum of some fields of /proc/PID/smaps_rollup, in bytes."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in fields:
                total += int(rest.split()[0]) * 1024
    return total


def _pss(pid: int) -> int:
    """Proportional set size of one process: its resident memory, pages shared with other
    processes (forked DataLoader workers share most of theirs) divided among them."""
    return _rollup(pid, "Pss")


def children_uss(pid: int) -> int:
    """Unique set size of ``pid``'s descendants: the memory only they hold (what DataLoader
    workers add; pages they share with the main process, such as images decoded into memory
    before they forked, are not counted)."""
    total, todo = 0, _children(pid)
    while todo:
        p = todo.pop()
        with suppress(OSError):
            total += _rollup(p, "Private_Clean", "Private_Dirty")
        todo.extend(_children(p))
    return total


def tree_pss(pid: int) -> int:
    """Resident bytes (PSS) of ``pid`` and all its descendants (Linux /proc), so that memory
    shared by the main process and its workers is counted once."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _pss(p)
        except OSError:
            continue
        todo.extend(_children(p))
    return total


@contextmanager
def peak_memory(pid: int, every: float = 0.1) -> Iterator[dict[str, int]]:
    """Samples the tree's memory in a thread: ``result["peak"]`` is the largest total (PSS)
    seen, ``result["children"]`` the largest unique memory of the descendants (workers)."""
    result = {"peak": tree_pss(pid), "children": 0}
    stop = threading.Event()

    def sample() -> None:
        total = tree_pss(pid)
        result["peak"] = max(result["peak"], total)
        result["children"] = max(result["children"], children_uss(pid))

    def poll() -> None:
        while not stop.wait(every):
            sample()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        sample()


# ----------------------------------------------------------------------------- throughput
def _loader_rate(
    dataset, workers: int, batch_size: int, images: int, transform: Callable | None = None
) -> float:
    """Images/s of training batches (shuffled, augmented) until ``images`` are read: per
    image (the dataset's transform) or, with ``transform``, as uint8 batches augmented and
    normalised whole, as the run's data module does."""
    from labelspace.data.module import PixelBatches, train_loader

    if transform is not None:
        dataset = PixelBatches(dataset)
    loader = train_loader(dataset, batch_size, seed=0, workers=workers)
    seen, start = 0, None
    for batch, _ in loader:
        if transform is not None:
            batch = transform(batch)
        if start is None:  # the first batch pays for starting the workers: not timed
            start = time.perf_counter()
            continue
        seen += len(batch)
        if seen >= images:
            break
    del loader
    return seen / max(time.perf_counter() - (start or 0.0), 1e-9)


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from labelspace.data.batch_transforms import batch_transforms
    from labelspace.data.datasets import load_dataset, pack_dataset

    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for spec in args.data:
        name = Path(spec).name
        ways: dict[str, Callable[[], Any]] = {}
        start = time.perf_counter()
        with peak_memory(os.getpid()) as mem:
            in_memory = load_dataset(spec, image_size=args.image_size, storage="memory")
        build = time.perf_counter() - start
        console.print(
            f"{name}: decoded into memory in {build:.1f} s (peak {mem['peak'] / 2**30:.2f} GiB)"
        )
        held = in_memory.train.images.numel() + in_memory.test.images.numel()
        batch_transform, _ = batch_transforms(
            in_memory.mean, in_memory.std, in_memory.augment, in_memory.image_size
        )
        ways["memory, 0 workers, per image"] = lambda d=in_memory: (d.train, 0, None)
        ways["memory, 0 workers, batches"] = lambda d=in_memory, t=batch_transform: (d.train, 0, t)
        streamed = load_dataset(spec, image_size=args.image_size, storage="streaming")
        for w in args.workers:
            ways[f"files, {w} workers, per image"] = lambda d=streamed, w=w: (d.train, w, None)
            ways[f"files, {w} workers, batches"] = lambda d=streamed, w=w, t=batch_transform: (
                d.train,
                w,
                t,
            )
        shards = Path(tempfile.mkdtemp(prefix="labelspace-bench-")) / name
        pack_dataset(spec, shards)
        packed = load_dataset(str(shards), image_size=args.image_size)
        for w in args.workers:
            ways[f"shards, {w} workers, batches"] = lambda d=packed, w=w, t=batch_transform: (
                d.train,
                w,
                t,
            )
        rates: dict[str, list[float]] = {way: [] for way in ways}
        workers_mem: dict[str, int] = dict.fromkeys(ways, 0)
        for r in range(args.rounds):
            order = list(ways)
            order = order[r % len(order) :] + order[: r % len(order)]
            for way in order:
                dataset, workers, transform = ways[way]()
                with peak_memory(os.getpid()) as mem:
                    rate = _loader_rate(dataset, workers, args.batch_size, args.images, transform)
                rates[way].append(rate)
                workers_mem[way] = max(workers_mem[way], mem["children"])
        for way in ways:
            rows.append({
                "data": name,
                "way": way,
                "images_per_second": statistics.median(rates[way]),
                "held_gib": held / 2**30 if way.startswith("memory") else 0.0,
                "workers_uss_gib": workers_mem[way] / 2**30,
                "in_memory_build_seconds": build if way.startswith("memory") else None,
            })  # fmt: skip
        del in_memory, streamed, packed
    table = Table(
        title=f"load + augment, {args.image_size or 'native'} px, batch {args.batch_size}"
    )
    columns = ("data", "way", "images/s", "decoded images held (GiB)", "workers' USS (GiB)")
    for col in columns:
        table.add_column(col, justify="right" if col != "way" else "left")
    for row in rows:
        table.add_row(
            row["data"],
            row["way"],
            f"{row['images_per_second']:,.0f}",
            f"{row['held_gib']:.2f}",
            f"{row['workers_uss_gib']:.2f}",
        )
    console.print(table)
    return rows


# --------------------------------------------------------------------------------- memory
def memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    exe = Path(sys.executable).with_name("labelspace")
    for limit in args.limits:
        run = Path(tempfile.mkdtemp(prefix="labelspace-mem-")) / "run"
        command = [
            str(exe), "train", str(run), "--data", args.data, "--streaming",
            "--epochs", "1", "--test-limit", str(args.test_limit), "--workers", str(args.workers),
        ] + (["--image-size", str(args.image_size)] if args.image_size else []) + (
            ["--train-limit", str(limit)] if limit else []
        )  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with peak_memory(proc.pid, every=0.2) as mem:
            _, err = proc.communicate()
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
        metrics = json.loads((run / "metrics.json").read_text())
        rows.append({
            "train_images": metrics.get("train_images", limit),
            "peak_pss_gib": mem["peak"] / 2**30,
            "seconds": seconds,
            "train_images_per_second": metrics["train_images_per_second"],
        })  # fmt: skip
        console.print(rows[-1])
    table = Table(title=f"peak memory of `labelspace train --streaming`, {args.data}")
    for col in ("train images", "peak PSS, process tree (GiB)", "wall s", "train images/s"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(
            f"{row['train_images']:,}", f"{row['peak_pss_gib']:.2f}", f"{row['seconds']:.0f}",
            f"{row['train_images_per_second']:,.0f}",
        )  # fmt: skip
    console.print(table)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput", help="images/s of load + augment per way of reading")
    t.add_argument("--data", action="append", required=True, help="a dataset path (repeatable)")
    t.add_argument("--image-size", type=int, default=None)
    t.add_argument("--images", type=int, default=4096, help="images read per measurement")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    m = sub.add_parser("memory", help="peak memory of streaming training runs")
    m.add_argument("--data", required=True)
    m.add_argument("--image-size", type=int, default=None)
    m.add_argument(
        "--limits",
        type=lambda s: [0 if x == "all" else int(x) for x in s.split(",")],
        default=[10000],
        help="training images per run, comma-separated; 'all' for the whole training split",
    )
    m.add_argument("--test-limit", type=int, default=1000)
    m.add_argument("--workers", type=int, default=1)
    for p in (t, m):
        p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = throughput(args) if args.what == "throughput" else memory(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
