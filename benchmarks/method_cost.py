"""The cost of every method's head and loss against plain softmax + cross-entropy, in one run.

The project's target: with the same backbone and batch, the embedding heads and losses cost at
most 5% images/s against plain cross-entropy, decoding against all 82,115 WordNet nouns
included. Three things are measured in one process:

1. Training step (images/s): forward, loss, backward and an AdamW step over the model and
   loss parameters, for every method of ``labelspace.models.methods.METHODS``, each with its default
   label embedding (poincare, text, sphere), the same backbone and the same batch.
2. Evaluation (images/s): forward + the loss's ``scores`` + argmax, per method.
3. Decoding against 82,115 labels (images/s): ``topk_labels(outputs, table, geometry, k=5)``
   for the poincare, cosine and dot geometries, alone and after the forward pass of the
   method that decodes that way (poincare, cosine, devise); the latter is compared with the
   forward pass + argmax over the 10 softmax logits. The label tables are random points of the
   right geometry (inside the Poincaré ball via ``expmap0``, unit vectors, Gaussian vectors
   for dot), of the dimension the method's head outputs: decoding cost depends on the size of
   the table, not on what its points mean, so the WordNet noun embedding itself is not built.

Batches are real Fashion-MNIST training images, normalised once up front and kept on the
device (no data loader), so the network, loss and decoding are what is timed. Measurements
are interleaved: every round times each method in turn (the order rotates between rounds),
so drift and noise from other processes hit all methods alike. Reported are the median
images/s over rounds and the median of the per-round ratios to softmax (paired, same round);
a ratio of at least 0.95 is within the 5% target. This is a benchmark, not a test: numbers are
wall-clock on whatever machine runs it, so run nothing else meanwhile. Usage:

    python benchmarks/method_cost.py                         # small-cnn, batch 128, CPU
    python benchmarks/method_cost.py --rounds 7 --steps 30 --threads 4 --json out.json
    python benchmarks/method_cost.py --device cuda --backbone resnet18 --batch-size 256
    python benchmarks/method_cost.py --steps 3 --rounds 1    # smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import nn

from labelspace.data import load_dataset
from labelspace.data.transforms import Normalize
from labelspace.embeddings.geometry import expmap0
from labelspace.embeddings.space import LabelSpace, build_label_space
from labelspace.models.backbones import create_backbone
from labelspace.models.decode import topk_labels
from labelspace.models.methods import METHODS, Method, get_method
from labelspace.models.options import MethodOptions
from labelspace.training.module import LabelSpaceNet, OptimConfig

NUM_NOUNS = 82_115  # WordNet 3.0 noun synsets: the label set of open-vocabulary decoding
BASELINE = "softmax"
TARGET = 0.95  # images/s ratio to softmax: at most 5% slower
T = TypeVar("T")
Batches = list[tuple[torch.Tensor, torch.Tensor]]  # (normalised images, targets) on the device

DECODERS = {"poincare": "poincare", "cosine": "cosine", "dot": "devise"}  # geometry -> method

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def say(*objects: Any) -> None:
    """Print and flush at once, so progress shows up in a log file as it happens."""
    console.print(*objects)
    sys.stdout.flush()


# ------------------------------------------------------------------------------ environment
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "logical_cpus": _cpu_count(),
        "python": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def _cpu_count() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


# ------------------------------------------------------------------------------ set-up
@dataclass
class Contender:
    """One method's network, criterion and optimiser, ready to step."""

    method: Method
    space: LabelSpace
    net: LabelSpaceNet
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    out_dim: int
    train_ips: list[float] = field(default_factory=list)
    eval_ips: list[float] = field(default_factory=list)
    last_loss: float | torch.Tensor = float("nan")  # a tensor until read after timing

    @property
    def embedding(self) -> str:
        if not self.method.uses_embedding:
            return "-"
        return f"{self.method.embedding} ({self.space.class_vectors.shape[1]}-d)"


@dataclass
class Decoder:
    """A random label table of one geometry and the method whose outputs are decoded with it."""

    geometry: str
    contender: Contender
    table: torch.Tensor
    curvature: float
    outputs: torch.Tensor  # a fixed batch of the model's outputs, for decoding alone
    decode_ips: list[float] = field(default_factory=list)
    full_ips: list[float] = field(default_factory=list)  # forward + decoding


def label_spaces(data: Any, methods: list[Method], seed: int) -> dict[str | None, LabelSpace]:
    """One label space per embedding kind the methods use (and one without embedding)."""
    spaces: dict[str | None, LabelSpace] = {}
    for kind in dict.fromkeys(m.embedding for m in methods):
        start = time.perf_counter()
        spaces[kind] = build_label_space(
            "fashion-mnist", data.classes, data.synsets, kind, seed=seed
        )
        say(f"  label space {kind or 'none'}: built in {time.perf_counter() - start:.1f} s")
    return spaces


def make_contender(
    method: Method, space: LabelSpace, args: argparse.Namespace, data: Any, device: torch.device
) -> Contender:
    torch.manual_seed(args.seed)  # the same backbone initialisation for every method
    backbone, features = create_backbone(args.backbone, data.in_chans, data.image_size[0])
    head, criterion = method.build(features, space, MethodOptions())
    net = LabelSpaceNet(backbone, head).to(device)
    criterion = criterion.to(device)
    optim = OptimConfig()
    params = [p for p in (*net.parameters(), *criterion.parameters()) if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    with torch.no_grad():
        net.eval()
        out_dim = net(torch.zeros(2, data.in_chans, *data.image_size, device=device)).shape[1]
    return Contender(method, space, net, criterion, optimizer, out_dim)


def random_table(
    geometry: str, num: int, dim: int, curvature: float, seed: int, device: torch.device
) -> torch.Tensor:
    """``num`` random label points of ``geometry``: what decoding cost depends on."""
    gen = torch.Generator().manual_seed(seed)
    points = torch.randn(num, dim, generator=gen)
    if geometry == "poincare":
        points = expmap0(0.5 * points, curvature)  # spread over the ball, strictly inside
    elif geometry == "cosine":
        points = F.normalize(points, dim=-1)
    else:  # dot: about unit norm, like normalised text embeddings
        points = points / dim**0.5
    return points.to(device)


def normalised_batches(
    data: Any, batch_size: int, count: int, seed: int, device: torch.device
) -> Batches:
    """``count`` random batches of training images, normalised once, on the device."""
    train = data.train
    if len(train.images) < batch_size:
        raise SystemExit(f"--batch-size {batch_size} exceeds the {len(train.images)} images")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train.images), generator=gen)
    norm = Normalize(data.mean, data.std)
    batches = []
    for i in range(count):
        idx = order[(i * batch_size) % (len(order) - batch_size + 1) :][:batch_size]
        images = norm(train.images[idx]).to(device)
        batches.append((images, train.targets[idx].to(device)))
    return batches


# ------------------------------------------------------------------------------ timing
def throughput(
    fn: Callable[[int], Any], steps: int, batch_size: int, device: torch.device
) -> float:
    """Images per second of ``steps`` calls of ``fn(step)``, one batch each."""
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        fn(i)
    sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    """bf16 autocast for ``--precision bf16`` (what Lightning's bf16-mixed does), else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def train_step(c: Contender, batches: Batches, precision: str = "32") -> Callable[[int], None]:
    def step(i: int) -> None:
        images, targets = batches[i % len(batches)]
        c.optimizer.zero_grad(set_to_none=True)
        with autocast(images.device, precision):
            loss = c.criterion(c.net(images), targets)
        loss.backward()
        c.optimizer.step()
        c.last_loss = loss.detach()  # read after timing: no sync inside the loop

    return step


def eval_step(
    c: Contender, batches: Batches, precision: str = "32"
) -> Callable[[int], torch.Tensor]:
    def step(i: int) -> torch.Tensor:
        images, _ = batches[i % len(batches)]
        with torch.inference_mode(), autocast(images.device, precision):
            return c.criterion.scores(c.net(images)).argmax(-1)

    return step


def decode_step(
    d: Decoder, args: argparse.Namespace, batches: Batches | None = None
) -> Callable[[int], torch.Tensor]:
    """Decoding alone (``batches`` None: the fixed outputs) or after the forward pass."""

    def step(i: int) -> torch.Tensor:
        with torch.inference_mode():
            if batches is None:
                outputs = d.outputs
            else:
                outputs = d.contender.net(batches[i % len(batches)][0])
            return topk_labels(
                outputs,
                d.table,
                d.geometry,
                args.k,
                curvature=d.curvature,
                chunk_size=args.chunk_size,
            )[1]

    return step


def rotated(items: list[T], shift: int) -> list[T]:
    """``items`` rotated left by ``shift`` places."""
    if not items:
        return []
    shift %= len(items)
    return items[shift:] + items[:shift]


def set_mode(contenders: list[Contender], train: bool) -> None:
    for c in contenders:
        c.net.train(train)
        c.criterion.train(train)


# ------------------------------------------------------------------------------ reporting
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratios(values: list[float], baseline: list[float]) -> list[float]:
    """Per-round ratios: each round's images/s over the baseline's in the same round."""
    return [v / b for v, b in zip(values, baseline, strict=True)]


def verdict(ratio: float) -> str:
    return "[green]yes[/]" if ratio >= TARGET else "[red]no[/]"


def ratio_cells(values: list[float], baseline: list[float]) -> tuple[str, str, str]:
    r = ratios(values, baseline)
    mid = median(r)
    return f"{mid:.3f}", f"{min(r):.3f}–{max(r):.3f}", verdict(mid)


def summary(values: list[float], baseline: list[float]) -> dict[str, Any]:
    r = ratios(values, baseline)
    return {
        "images_per_s": values,
        "median_images_per_s": median(values),
        "ratio_to_softmax": r,
        "median_ratio": median(r),
        "within_5_percent": median(r) >= TARGET,
    }


def method_table(title: str, contenders: list[Contender], which: str) -> Table:
    base = getattr(contenders[0], which)
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("method", "left"),
        ("loss", "left"),
        ("embedding", "left"),
        ("images/s", "right"),
        ("ratio to ce", "right"),
        ("ratio range", "right"),
        ("within 5%", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in contenders:
        values = getattr(c, which)
        table.add_row(
            c.method.name,
            c.method.loss.__name__,
            c.embedding,
            f"{median(values):,.0f}",
            *ratio_cells(values, base),
        )
    return table


def decode_table(decoders: list[Decoder], baseline: list[float], args: argparse.Namespace):
    table = Table(
        title=(
            f"Decoding against {args.labels:,} labels (random tables), top-{args.k}, "
            f"chunks of {args.chunk_size:,}; ratio: forward + decoding over forward + "
            "argmax of the 10 softmax logits"
        ),
        title_justify="left",
    )
    for name in (
        "geometry",
        "model",
        "dim",
        "decode alone img/s",
        "fwd + decode img/s",
        "fwd + argmax img/s",
        "ratio",
        "ratio range",
        "within 5%",
    ):
        table.add_column(name, justify="left" if name in ("geometry", "model") else "right")
    for d in decoders:
        table.add_row(
            d.geometry,
            d.contender.method.name,
            str(d.table.shape[1]),
            f"{median(d.decode_ips):,.0f}",
            f"{median(d.full_ips):,.0f}",
            f"{median(baseline):,.0f}",
            *ratio_cells(d.full_ips, baseline),
        )
    return table


# ------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default="small-cnn", help="small-cnn or a timm model name")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--steps", type=int, default=20, help="timed batches per method per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches per method first")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument(
        "--precision", choices=("32", "bf16"), default="32", help="bf16: bf16 autocast (mixed)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="comma-separated methods (softmax, the baseline, is always included)",
    )
    parser.add_argument("--labels", type=int, default=NUM_NOUNS, help="size of the label tables")
    parser.add_argument("--k", type=int, default=5, help="top-k of the decoding")
    parser.add_argument("--chunk-size", type=int, default=8192, help="topk_labels chunk size")
    parser.add_argument("--no-decode", action="store_true", help="skip the decoding benchmark")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    for name in ("batch_size", "rounds", "steps", "labels", "k", "chunk_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be at least 0")
    try:
        chosen = [get_method(m.strip()) for m in args.methods.split(",") if m.strip()]
    except ValueError as err:
        parser.error(str(err))
    args.method_list = [METHODS[BASELINE], *(m for m in chosen if m.name != BASELINE)]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available here")
    env = environment(device)
    say(
        f"[bold]labelspace throughput[/]  torch {env['torch']}, {env['threads']} threads, "
        f"{env['logical_cpus']} logical CPUs, CPU: {env['cpu']}"
        + (f", GPU: {env['gpu']}" if "gpu" in env else "")
    )
    say(
        f"backbone {args.backbone}, batch {args.batch_size}, device {device}, "
        f"precision {args.precision}, "
        f"{args.rounds} rounds x {args.steps} steps (+{args.warmup} warm-up)"
    )

    start = time.perf_counter()
    data = load_dataset("fashion-mnist")
    say(f"  {data.describe()} (loaded in {time.perf_counter() - start:.1f} s)")
    spaces = label_spaces(data, args.method_list, args.seed)
    contenders = [
        make_contender(m, spaces[m.embedding], args, data, device) for m in args.method_list
    ]
    batches = normalised_batches(data, args.batch_size, 8, args.seed, device)

    decoders: list[Decoder] = []
    if not args.no_decode:
        by_name = {c.method.name: c for c in contenders}
        for geometry, name in DECODERS.items():
            if name not in by_name:
                continue
            c = by_name[name]
            curvature = c.space.curvature if geometry == "poincare" else 1.0
            table = random_table(geometry, args.labels, c.out_dim, curvature, args.seed, device)
            c.net.eval()
            with torch.inference_mode():
                outputs = c.net(batches[0][0])
            decoders.append(Decoder(geometry, c, table, curvature, outputs))
        shapes = ", ".join(f"{d.geometry} {tuple(d.table.shape)}" for d in decoders)
        say(
            f"  decoding tables: {shapes}: random points of each geometry, not the WordNet "
            "noun embedding (the cost depends on the table's size, not on what its points mean)"
        )

    if args.warmup:
        set_mode(contenders, train=True)
        for c in contenders:
            throughput(train_step(c, batches, args.precision), args.warmup, args.batch_size, device)
        set_mode(contenders, train=False)
        for c in contenders:
            throughput(eval_step(c, batches, args.precision), args.warmup, args.batch_size, device)
        for d in decoders:
            throughput(decode_step(d, args), args.warmup, args.batch_size, device)
    say(f"set-up and warm-up took {time.perf_counter() - start:.1f} s; timing (images/s):")

    for r in range(args.rounds):
        order = rotated(contenders, r)  # who goes first changes from round to round
        set_mode(contenders, train=True)
        for c in order:
            c.train_ips.append(
                throughput(
                    train_step(c, batches, args.precision), args.steps, args.batch_size, device
                )
            )
        set_mode(contenders, train=False)
        for c in order:
            c.eval_ips.append(
                throughput(
                    eval_step(c, batches, args.precision), args.steps, args.batch_size, device
                )
            )
        for d in rotated(decoders, r):
            d.decode_ips.append(
                throughput(decode_step(d, args), args.steps, args.batch_size, device)
            )
            d.full_ips.append(
                throughput(decode_step(d, args, batches), args.steps, args.batch_size, device)
            )
        say(
            f"  round {r + 1}/{args.rounds}  train "
            + " ".join(f"{c.method.name} {c.train_ips[-1]:,.0f}" for c in contenders)
            + " | eval "
            + " ".join(f"{c.method.name} {c.eval_ips[-1]:,.0f}" for c in contenders)
            + (" | decode " if decoders else "")
            + " ".join(f"{d.geometry} {d.full_ips[-1]:,.0f}" for d in decoders)
        )

    for c in contenders:
        c.last_loss = float(c.last_loss)
    base = contenders[0]
    say()
    say(
        method_table(
            f"Training step (forward, loss, backward, AdamW), {args.backbone}, batch "
            f"{args.batch_size}: median of {args.rounds} rounds; ratio = median of per-round "
            "images/s ratios to softmax (ce)",
            contenders,
            "train_ips",
        )
    )
    say(
        method_table(
            "Evaluation (forward + scores + argmax): same batch and rounds",
            contenders,
            "eval_ips",
        )
    )
    if decoders:
        say(decode_table(decoders, base.eval_ips, args))
    bad = [c.method.name for c in contenders if not torch.isfinite(torch.tensor(c.last_loss))]
    if bad:
        say(f"[yellow]warning: non-finite training loss for {', '.join(bad)}[/]")
    say(f"total {time.perf_counter() - start:.0f} s")

    if args.json:
        results = {
            "config": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k != "method_list"
            },
            "environment": env,
            "label_tables": "random points of each geometry (not the WordNet noun embedding)",
            "train": {
                c.method.name: {**summary(c.train_ips, base.train_ips), "last_loss": c.last_loss}
                for c in contenders
            },
            "eval": {c.method.name: summary(c.eval_ips, base.eval_ips) for c in contenders},
            "decode": {
                d.geometry: {
                    "method": d.contender.method.name,
                    "labels": args.labels,
                    "dim": d.table.shape[1],
                    "k": args.k,
                    "decode_images_per_s": d.decode_ips,
                    "median_decode_images_per_s": median(d.decode_ips),
                    "forward_plus_decode": summary(d.full_ips, base.eval_ips),
                }
                for d in decoders
            },
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        say(f"wrote {args.json}")


if __name__ == "__main__":
    main()
