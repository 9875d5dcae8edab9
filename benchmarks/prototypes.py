"""Can a head reach fixed class points? Fixed against learnt class vectors, on features that
separate the classes perfectly.

Each class gets a random feature mean; an image's features are its class mean plus unit
Gaussian noise, so a linear classifier separates the classes almost perfectly. A linear head
is then trained (AdamW, the training defaults' learning rate, 600 steps of 128) to score the
classes in several ways:

- softmax: class weights learnt (through a bottleneck as narrow as the label space);
- cosine to fixed directions, and the Poincaré distance softmax to fixed points: the class
  vectors are given (the hierarchy's Poincaré points, their directions, or random ones);
- the Poincaré distance softmax to points that start at the hierarchy's and are learnt too
  (``--trainable-embedding``).

Accuracy is measured on fresh draws. No image model is trained: this isolates what fixed
class vectors ask of the features. Usage::

    python benchmarks/prototypes.py --tiny-imagenet path/to/tiny-imagenet-200
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import geoopt
import torch
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.nn import functional as F

from labelspace.data.layouts import scan_dataset
from labelspace.embeddings.geometry import expmap0, logmap0
from labelspace.embeddings.space import build_label_space
from labelspace.hierarchy.mapping import map_names
from labelspace.hierarchy.mapping_files import DATASET_CLASSES, dataset_synsets
from labelspace.models.methods.poincare import (
    HyperbolicHead,
    PoincareLoss,
    poincare_class_points,
)

Scorer = Callable[[torch.Tensor], torch.Tensor]


def fit(head: nn.Module, score: Scorer, loss: Callable, num_classes: int, args) -> float:
    """Train ``head`` on separable synthetic features; top-1 on fresh draws."""
    gen = torch.Generator().manual_seed(args.seed)
    means = torch.randn(num_classes, args.features, generator=gen)
    params = [*head.parameters(), *getattr(score, "__self__", nn.Module()).parameters()]
    # learnt Poincaré points are a geoopt ManifoldParameter: a Riemannian step keeps them inside
    opt = geoopt.optim.RiemannianAdam(params, lr=args.lr)
    for _ in range(args.steps):
        y = torch.randint(0, num_classes, (128,), generator=gen)
        x = means[y] + torch.randn(128, args.features, generator=gen)
        opt.zero_grad()
        loss(head(x), y).backward()
        opt.step()
    y = torch.randint(0, num_classes, (4000,), generator=gen)
    x = means[y] + torch.randn(4000, args.features, generator=gen)
    with torch.no_grad():
        return float((score(head(x)).argmax(1) == y).float().mean())


def rows(points: torch.Tensor, args) -> dict[str, float]:
    """Top-1 of each way of scoring, for the class points ``points`` (C, D) in the ball."""
    num_classes, dim = points.shape
    torch.manual_seed(args.seed)
    random_dirs = F.normalize(torch.randn(num_classes, dim), dim=-1)
    out: dict[str, float] = {}

    bottleneck = nn.Sequential(nn.Linear(args.features, dim), nn.Linear(dim, num_classes))
    out["softmax, weights learnt"] = fit(
        bottleneck, lambda o: o, F.cross_entropy, num_classes, args
    )
    for name, dirs in (
        ("cosine to fixed hierarchy directions", F.normalize(logmap0(points), dim=-1)),
        ("cosine to fixed random directions", random_dirs),
    ):
        lin = nn.Linear(args.features, dim)

        def cosine(o: torch.Tensor, d: torch.Tensor = dirs) -> torch.Tensor:
            return F.normalize(o, dim=-1) @ d.T

        out[name] = fit(
            lin, cosine, lambda o, y, s=cosine: F.cross_entropy(16 * s(o), y), num_classes, args
        )
    radius = args.label_radius / 2  # tangent norm of a point at that distance from 0
    for name, pts, trainable in (
        ("Poincaré, fixed hierarchy points", points, False),
        ("Poincaré, fixed random points", expmap0(random_dirs * radius), False),
        ("Poincaré, hierarchy points learnt", points, True),
    ):
        loss = PoincareLoss(pts, temperature=0.1, trainable=trainable)
        out[name] = fit(HyperbolicHead(args.features, dim), loss.scores, loss, num_classes, args)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny-imagenet", help="a Tiny ImageNet-200 folder (official layout)")
    parser.add_argument("--dims", default="32,128", help="label-space dimensions")
    parser.add_argument("--features", type=int, default=64, help="feature width")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--label-radius", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # small problems: one thread is fastest and leaves the rest free
    sets = {"cifar10": (DATASET_CLASSES["cifar10"], dataset_synsets("cifar10"))}
    if args.tiny_imagenet:
        wnids = scan_dataset(args.tiny_imagenet).classes
        sets["tiny-imagenet"] = (wnids, map_names(wnids))
    table = Table(title=f"top-1 % on separable features ({args.features} wide)")
    table.add_column("scoring")
    results: dict[str, dict[str, float]] = {}
    for name, (classes, synsets) in sets.items():
        for dim in (int(d) for d in args.dims.split(",")):
            column = f"{name} ({len(classes)}), {dim}-d"
            table.add_column(column, justify="right")
            space = build_label_space(name, classes, synsets, "poincare", dim=dim, seed=0)
            points = poincare_class_points(space, args.label_radius)
            results[column] = rows(points, args)
    for scoring in next(iter(results.values())):
        table.add_row(scoring, *(f"{100 * r[scoring]:.1f}" for r in results.values()))
    Console().print(table)


if __name__ == "__main__":
    main()
