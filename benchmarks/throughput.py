"""Images per second of labelspace's training loop against a bare PyTorch loop, side by side.

The bare loop is the practical limit: the same network (built by labelspace for the run, so
the same weights, layout and head), the same criterion, optimizer and one-cycle schedule,
batch size and precision, reading the same uint8 images from a tensor already on the device,
augmenting them with the same batched crop and flip and normalising them, with no framework
around it. labelspace's loop is what ``labelspace train`` runs: the dataset loaded from files
into memory, the run folder, Lightning's trainer with the run's callbacks, logger and progress
bar, the data module's loaders and the on-device augmentation. Only steady-state steps are
timed, from the start of step ``--warmup`` until at least ``--steps`` steps and ``--seconds``
seconds have passed (the device is synced at both ends; the epoch then stops), so start-up,
validation, the checkpoint and the test are not counted.

The images are random: what a step costs does not depend on what the pixels show. Every
round times labelspace and then the bare loop (the order alternates between rounds), and the
ratio is the median of the per-round ratios; the goal is at least 0.90 (within 10 %). Usage:

    python benchmarks/throughput.py                                  # CPU, both backbones, 32/64 px
    python benchmarks/throughput.py --device cuda --precision bf16 --batch-size 256
    python benchmarks/throughput.py --backbones small-cnn --sizes 32 --steps 1 --seconds 0 \
        --rounds 1 --images 256                                       # smoke
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from PIL import Image
from rich.console import Console
from rich.table import Table

from labelspace.data.batch_transforms import augment_batch
from labelspace.data.module import to_device
from labelspace.data.transforms import Normalize
from labelspace.training.build import Prepared, build_module, prepare
from labelspace.training.config import TrainConfig
from labelspace.training.fit import train
from labelspace.training.module import build_optimizer
from labelspace.training.runs import input_spec

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
GOAL = 0.90  # labelspace's images/s over the bare loop's
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def say(*objects: Any) -> None:
    console.print(*objects)
    sys.stdout.flush()


def write_folder(root: Path, size: int, train: int, test: int, seed: int) -> Path:
    """An ImageFolder of random RGB PNGs (``train`` and ``test`` images over 10 classes)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for i in range(count):
            folder = root / split / CLASSES[i % len(CLASSES)]
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png", compress_level=0)
    return root


class Window:
    """When to stop timing: after ``steps`` steps and ``seconds`` seconds, both."""

    def __init__(self, args: argparse.Namespace, batch_size: int, device: torch.device) -> None:
        self.steps, self.seconds, self.batch_size, self.device = (
            args.steps,
            args.seconds,
            batch_size,
            device,
        )
        self.start: float | None = None
        self.done = 0
        self.images_per_second: float | None = None

    def begin(self) -> None:
        sync(self.device)
        self.start = time.perf_counter()

    def step(self, last: bool = False) -> bool:
        """Count a timed step; True (with the figure set) when the window is over."""
        self.done += 1
        if self.start is None or (self.done < self.steps and not last):
            return False
        if not last and time.perf_counter() - self.start < self.seconds:
            return False
        sync(self.device)
        self.images_per_second = self.done * self.batch_size / (time.perf_counter() - self.start)
        return True


class StepTimer(Callback):
    """Times labelspace's training steps after ``warmup``; stops the epoch when done."""

    def __init__(self, warmup: int, window: Window, steps_in_epoch: int) -> None:
        self.warmup, self.window, self.steps_in_epoch = warmup, window, steps_in_epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            self.window.begin()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx < self.warmup or self.window.images_per_second is not None:
            return
        if self.window.step(last=batch_idx + 1 >= self.steps_in_epoch):
            trainer.should_stop = True


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def labelspace_loop(config: TrainConfig, run: Path, args: argparse.Namespace) -> float:
    """``labelspace train`` of (part of) one epoch; the timed images/s."""
    window = Window(args, config.batch_size, torch.device(args.device))
    timer = StepTimer(args.warmup, window, config.train_limit // config.batch_size)
    train(config, run, overwrite=True, progress=args.progress_bar, callbacks=[timer])
    if window.images_per_second is None:
        raise SystemExit("the training epoch had no step after --warmup: raise --images")
    return window.images_per_second


def bare_loop(config: TrainConfig, prepared: Prepared, args: argparse.Namespace) -> float:
    """The same network, loss, optimizer, schedule, batch and precision in a plain loop over
    a uint8 tensor on the device; the timed images/s. ``prepared``: the run's images, classes
    and label space (a fresh network is built from them)."""
    device = torch.device(args.device)
    data = prepared.data
    steps_total = len(prepared.train_set) // config.batch_size  # as in the run's one epoch
    module = build_module(config, prepared.space, input_spec(data), steps_total)
    net, criterion = module.net.to(device), module.criterion.to(device)
    if config.compile:
        net.compile()
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, module.optim)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=steps_total, pct_start=0.3
    )
    images = prepared.train_set.images.to(device)
    targets = prepared.train_set.targets.to(device)
    normalize = Normalize(data.mean, data.std)
    padding = prepared.datamodule.train_transform.padding
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=args.precision == "bf16")
    net.train()
    criterion.train()
    gen = torch.Generator().manual_seed(config.seed)
    window = Window(args, config.batch_size, device)
    for step in range(steps_total):
        if step == args.warmup:
            window.begin()
        index = to_device(torch.randint(len(images), (config.batch_size,), generator=gen), device)
        batch = augment_batch(images[index], crop_padding=padding, flip=True)
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = criterion(net(normalize(batch)), targets[index])
        loss.backward()
        optimizer.step()
        schedule.step()
        if step >= args.warmup and window.step(last=step + 1 == steps_total):
            break
    if window.images_per_second is None:
        raise SystemExit("the bare loop had no step after --warmup: raise --images")
    return window.images_per_second


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbones", default="small-cnn,resnet18")
    parser.add_argument("--sizes", default="32,64", help="image sizes in pixels")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps, at least")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds, at least")
    parser.add_argument(
        "--images", type=int, default=4096, help="training images of the epoch (at most)"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", choices=("32", "bf16"), default="32")
    parser.add_argument("--compile", action="store_true", help="torch.compile both networks")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--progress-bar", action="store_true", help="labelspace's bar on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--workdir", type=Path, help="where the images and runs go (temporary)")
    args = parser.parse_args(argv)
    for name in ("batch_size", "steps", "rounds", "images"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the first step is never timed)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    return args


def measure(backbone: str, size: int, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both loops for one backbone and image size, ``--rounds`` times."""
    per_epoch = max(args.images, args.batch_size * (args.warmup + args.steps))
    folder = root / f"images-{size}"
    if not folder.exists():  # one folder per size, for every backbone
        write_folder(folder, size, per_epoch * 10 // 9 + 40, 40, args.seed)
    config = TrainConfig(
        data=str(folder),
        method="softmax",
        backbone=backbone,
        epochs=1,
        batch_size=args.batch_size,
        train_limit=per_epoch,
        test_limit=20,
        seed=args.seed,
        accelerator="gpu" if args.device.startswith("cuda") else "cpu",
        precision="bf16-mixed" if args.precision == "bf16" else "32-true",
        compile=args.compile,
        storage="memory",
    )
    prepared = prepare(config)  # the bare loop's images, classes and label space, as the run's
    ours: list[float] = []
    bare: list[float] = []
    for r in range(args.rounds):
        order = ("labelspace", "bare") if r % 2 == 0 else ("bare", "labelspace")
        for which in order:
            if which == "labelspace":
                run = root / f"run-{backbone}-{size}"
                ours.append(labelspace_loop(replace(config), run, args))
            else:
                bare.append(bare_loop(config, prepared, args))
        say(
            f"  {backbone} {size} px round {r + 1}/{args.rounds}: labelspace "
            f"{ours[-1]:,.0f} images/s, bare loop {bare[-1]:,.0f}, ratio {ours[-1] / bare[-1]:.3f}"
        )
    ratios = [a / b for a, b in zip(ours, bare, strict=True)]
    return {
        "backbone": backbone,
        "image_size": size,
        "labelspace_images_per_s": ours,
        "bare_images_per_s": bare,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*(LeafSpec|does not have many workers).*")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    say(
        f"[bold]labelspace training loop against a bare loop[/]  torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads" + (f", GPU {gpu}" if gpu else ", CPU")
    )
    say(
        f"batch {args.batch_size}, precision {args.precision}, "
        f"{'compiled, ' if args.compile else ''}{args.rounds} rounds of at least {args.steps} "
        f"timed steps and {args.seconds:g} s (after {args.warmup})"
    )
    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for backbone in [b.strip() for b in args.backbones.split(",") if b.strip()]:
            for size in [int(s) for s in args.sizes.split(",")]:
                results.append(measure(backbone, size, Path(tmp), args))
    table = Table(
        title=f"images/s (median of {args.rounds} rounds); ratio: median of per-round ratios",
        title_justify="left",
    )
    for name in ("backbone", "px", "labelspace", "bare loop", "ratio", "range", "within 10 %"):
        table.add_column(name, justify="left" if name == "backbone" else "right")
    for r in results:
        table.add_row(
            r["backbone"],
            str(r["image_size"]),
            f"{statistics.median(r['labelspace_images_per_s']):,.0f}",
            f"{statistics.median(r['bare_images_per_s']):,.0f}",
            f"{r['median_ratio']:.3f}",
            f"{min(r['ratios']):.3f}–{max(r['ratios']):.3f}",
            "[green]yes[/]" if r["median_ratio"] >= GOAL else "[red]no[/]",
        )
    say(table)
    if args.json:
        payload = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "device": gpu or "cpu",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "results": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        say(f"wrote {args.json}")


if __name__ == "__main__":
    main()
