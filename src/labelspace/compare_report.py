"""The comparison report: one Markdown table of methods by metrics, and its figures.

Everything here is recomputed from run folders (their metrics.json, predictions and config),
so a report can be rebuilt without training again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelspace.hierarchy.graph import Hierarchy

log = logging.getLogger(__name__)

# (metrics.json key, column title, digits, percent)
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("top1", "top-1 %", 2, True),
    ("top5", "top-5 %", 2, True),
    ("severity", "mistake severity ↓", 3, False),
    ("hdist@1", "hdist@1 ↓", 3, False),
    ("hdist@5", "hdist@5 ↓", 3, False),
    ("hp@1", "hp@1 %", 2, True),
    ("hp@2", "hp@2 %", 2, True),
    ("hp@5", "hp@5 %", 2, True),
    ("ece", "ECE ↓", 3, False),
)


@dataclass
class MethodResult:
    """One method's run, as the report needs it."""

    name: str
    metrics: dict[str, Any]
    scores: torch.Tensor
    targets: torch.Tensor


def _fmt(value: Any, digits: int, percent: bool) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}" if percent else f"{value:.{digits}f}"


def markdown_table(results: Sequence[MethodResult]) -> str:
    """Methods by metrics, plus coarse accuracies and throughput."""
    heights = sorted(
        {
            int(k[len("acc@h") :])
            for r in results
            for k in r.metrics["test"]
            if k.startswith("acc@h")
        }
    )
    head = ["method", *(title for _, title, _, _ in COLUMNS)]
    head += [f"acc@h{h} %" for h in heights] + ["train img/s", "eval img/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        test = r.metrics["test"]
        row = [r.name, *(_fmt(test.get(key), d, p) for key, _, d, p in COLUMNS)]
        row += [_fmt(test.get(f"acc@h{h}"), 2, True) for h in heights]
        row += [
            _fmt(r.metrics.get("train_images_per_second"), 0, False),
            _fmt(r.metrics.get("eval_images_per_second"), 0, False),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def hierarchy_order(hierarchy: Hierarchy) -> list[int]:
    """Class positions in depth-first order of the hierarchy (siblings by name), so that a
    confusion matrix shows related classes next to each other."""
    class_pos = {hierarchy.index[c]: i for i, c in enumerate(hierarchy.classes)}
    order: list[int] = []
    seen: set[int] = set()
    stack = [hierarchy.index[hierarchy.root]]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in class_pos:
            order.append(class_pos[node])
        kids = sorted(hierarchy.children[node], key=lambda k: hierarchy.nodes[k], reverse=True)
        stack.extend(kids)
    return order


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _savefig(fig, path: Path) -> Path:
    from labelspace.report import save_figure

    save_figure(fig, path)
    _pyplot().close(fig)
    return path


def plot_accuracy_severity(results: Sequence[MethodResult], path: Path) -> Path:
    """Top-1 accuracy against mistake severity: better methods sit top-left."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for r in results:
        x, y = r.metrics["test"].get("severity"), 100 * r.metrics["test"]["top1"]
        ax.scatter([x], [y], s=40)
        ax.annotate(r.name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlabel("mistake severity (mean LCA height of mistakes, lower is better)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _savefig(fig, path)


def plot_severity_histograms(
    results: Sequence[MethodResult], lca_height: torch.Tensor, path: Path
) -> Path:
    """How many mistakes each method makes at each LCA height."""
    plt = _pyplot()
    from labelspace.metrics import severity_histogram

    max_h = int(lca_height.max())
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, r in enumerate(results):
        counts = severity_histogram(r.scores.argmax(-1), r.targets, lca_height).numpy()
        xs = np.arange(1, len(counts) + 1) + (i - (len(results) - 1) / 2) * width
        ax.bar(xs, counts, width=width, label=r.name)
    ax.set_xticks(range(1, max_h + 1))
    ax.set_xlabel("height of LCA(true, predicted) for mistakes")
    ax.set_ylabel("mistakes (test images)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _savefig(fig, path)


def plot_confusions(
    results: Sequence[MethodResult], hierarchy: Hierarchy, class_names: Sequence[str], path: Path
) -> Path:
    """Row-normalised confusion matrices, classes in hierarchy order, one panel per method."""
    plt = _pyplot()
    order = hierarchy_order(hierarchy)
    names = [class_names[i] for i in order]
    c = len(order)
    cols = min(len(results), 3)
    rows = (len(results) + cols - 1) // cols
    size = 3.2 + 0.12 * c
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[len(results) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, results, strict=False):
        pred = r.scores.argmax(-1)
        conf = torch.zeros(c, c)
        conf.index_put_((r.targets, pred), torch.ones(len(pred)), accumulate=True)
        conf = conf / conf.sum(1, keepdim=True).clamp_min(1)
        conf = conf[order][:, order]
        ax.imshow(conf.numpy(), cmap="Blues", vmin=0, vmax=1)
        ax.set_title(r.name, fontsize=10)
        if c <= 30:
            ax.set_xticks(range(c), names, rotation=90, fontsize=7)
            ax.set_yticks(range(c), names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.tight_layout()
    return _savefig(fig, path)
