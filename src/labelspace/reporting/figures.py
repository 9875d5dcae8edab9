"""Every figure labelspace draws (matplotlib on the file-only Agg backend, written atomically).

The Poincaré disk of a label embedding, and the figures of a comparison report: accuracy
against mistake severity, severity histograms, confusion matrices, robustness under attack,
back-off curves and feature maps. The analyses compute; this module draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from labelspace.embeddings.geometry import PoincareBall, expmap0, get_geometry, logmap0
from labelspace.embeddings.store import LabelEmbedding
from labelspace.errors import InputError, OutputExistsError
from labelspace.files import atomic_write
from labelspace.hierarchy.graph import Hierarchy

if TYPE_CHECKING:
    from labelspace.analysis.backoff import BackoffCurve
    from labelspace.reporting.results import MethodResult


def disk_coordinates(embedding: LabelEmbedding) -> tuple[np.ndarray, str]:
    """2-D coordinates in the unit disk, and a note on how they were obtained.

    A 2-D Poincaré embedding is drawn as it is. A higher-dimensional one is mapped to the
    tangent space at the origin, projected on its two principal directions and mapped back,
    which keeps each point's distance from the origin (its generality) and the main spread.
    """
    if not isinstance(get_geometry(embedding.manifold), PoincareBall):
        raise InputError(f"a Poincaré disk needs a Poincaré embedding, not {embedding.manifold!r}")
    c = embedding.curvature or 1.0
    x = embedding.vectors.double()
    if embedding.dim == 2:
        return (x * c**0.5).numpy(), "2-D embedding"
    tangent = logmap0(x, c)
    centred = tangent - tangent.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    flat = tangent @ v[:2].T
    flat = flat * (
        tangent.norm(dim=1, keepdim=True) / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    )
    return (
        expmap0(flat, c) * c**0.5
    ).numpy(), f"{embedding.dim}-D embedding, principal tangent plane"


def plot_poincare_disk(
    embedding: LabelEmbedding,
    hierarchy: Hierarchy,
    path: str | Path,
    *,
    max_labels: int = 60,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw the embedding in the Poincaré disk with the hierarchy's edges; write a PNG.

    Labels go to the most general nodes first (closest to the origin), then to a spread of the
    rest, up to ``max_labels``.
    """
    plt = pyplot()
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    xy, note = disk_coordinates(embedding)
    position = {label: i for i, label in enumerate(embedding.labels)}
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="0.3", lw=1.0))
    for child, parent in hierarchy.edges():
        a, b = hierarchy.nodes[child], hierarchy.nodes[parent]
        if a in position and b in position:
            pa, pb = xy[position[a]], xy[position[b]]
            ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="0.75", lw=0.4, zorder=1)
    depth = np.array(
        [
            hierarchy.depth[hierarchy.index[lbl]] if lbl in hierarchy else 0
            for lbl in embedding.labels
        ]
    )
    ax.scatter(xy[:, 0], xy[:, 1], c=depth, cmap="viridis", s=9, zorder=2)
    radius = np.linalg.norm(xy, axis=1)
    chosen = list(np.argsort(radius)[: max_labels // 2])
    rest = [i for i in np.argsort(radius) if i not in set(chosen)]
    if rest:
        step = max(1, len(rest) // max(1, max_labels - len(chosen)))
        chosen += rest[::step][: max_labels - len(chosen)]
    for i in chosen:
        name = embedding.labels[i].split(".")[0].replace("_", " ")
        ax.annotate(name, xy[i], fontsize=7, xytext=(2, 2), textcoords="offset points", zorder=3)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{embedding.training.get('source', '')} in the Poincaré disk ({note})")
    return save_and_close(fig, path)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(
        path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight", dpi=fig.dpi)
    )


def save_and_close(fig, path: str | Path) -> Path:
    """Lay the figure out tightly, :func:`save_figure` it, then free its memory (even if
    saving failed)."""
    try:
        fig.tight_layout()
        return save_figure(fig, path)
    finally:
        pyplot().close(fig)


def plot_saliency_overlay(image: torch.Tensor, heat: torch.Tensor, path: Path, title: str) -> Path:
    """An image (uint8 ``(C, H, W)``) with a saliency map (``(H, W)`` in [0, 1]) laid over it
    in colour, written as a PNG."""
    plt = pyplot()
    pixels = image.permute(1, 2, 0).numpy()
    fig, ax = plt.subplots(figsize=(3, 3.3))
    ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray")
    ax.imshow(heat.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return save_and_close(fig, path)


# --------------------------------------------------------------------------- comparisons
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


def plot_accuracy_severity_seeds(per_method: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """Top-1 against mistake severity: every seed as a dot, the mean with 95 % CI bars, each
    method named beside its mean (:func:`draw_accuracy_severity_seeds`)."""
    return save_and_close(draw_accuracy_severity_seeds(per_method), path)


def draw_accuracy_severity_seeds(per_method: dict[str, list[dict[str, float]]]):
    """The figure of :func:`plot_accuracy_severity_seeds`, laid out and not saved.

    Rows named ``"<method> +CRM"`` (the same runs re-ranked by CRM) are drawn hollow, in their
    method's colour, so that each method and its test-time re-ranking read as a pair. The
    names are placed inside the axes and apart (:func:`~labelspace.reporting.label_layout.
    place_labels`), however close the means lie."""
    from labelspace.reporting.label_layout import place_labels
    from labelspace.reporting.stats import mean_ci

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    colors: dict[str, str] = {}
    means: list[tuple[float, float]] = []
    named: list[str] = []
    for name, seeds in per_method.items():
        base = name.removesuffix(" +CRM")
        color = colors.setdefault(base, f"C{len(colors) % 10}")
        hollow = base != name
        xs = [m["severity"] for m in seeds if np.isfinite(m.get("severity", np.nan))]
        ys = [100 * m["top1"] for m in seeds if np.isfinite(m.get("severity", np.nan))]
        if not xs:
            continue
        face = "none" if hollow else color
        ax.scatter(xs, ys, s=12, alpha=0.5, edgecolors=color, facecolors=face)
        cx, cy = mean_ci(xs), mean_ci(ys)
        err = (
            (np.nan_to_num(cx.half_width), np.nan_to_num(cy.half_width)) if len(xs) > 1 else (0, 0)
        )
        ax.errorbar(
            cx.mean, cy.mean, xerr=err[0], yerr=err[1], fmt="o", color=color, mfc=face, capsize=3
        )
        means.append((cx.mean, cy.mean))
        named.append(name)
    ax.set_xlabel("mistake severity (mean LCA height of mistakes, lower is better)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    ax.margins(0.12)  # room for the names around the outermost points
    fig.tight_layout()  # the final layout: names are placed in its pixels
    place_labels(ax, means, named, colors=[colors[n.removesuffix(" +CRM")] for n in named])
    return fig


def plot_severity_histograms(
    results: Sequence[MethodResult], lca_height: torch.Tensor, path: Path
) -> Path:
    """How many mistakes each method makes at each LCA height."""
    plt = pyplot()
    from labelspace.metrics.hierarchical import severity_histogram

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
    return save_and_close(fig, path)


def plot_confusions(
    results: Sequence[MethodResult], hierarchy: Hierarchy, class_names: Sequence[str], path: Path
) -> Path:
    """Row-normalised confusion matrices, classes in hierarchy order, one panel per method."""
    plt = pyplot()
    order = hierarchy_order(hierarchy)
    names = [class_names[i] for i in order]
    c = len(order)
    cols = min(len(results), 3)
    rows = (len(results) + cols - 1) // cols
    # a cell per class pair up to about 100 classes; beyond that the panel stops growing
    # (ImageNet's 1,000 classes would make a 120-inch panel that takes most of a minute)
    size = min(3.2 + 0.12 * c, 15.0)
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
    return save_and_close(fig, path)


def plot_robustness(results: dict[str, list[MethodResult]], path: Path) -> Path | None:
    """Top-1 and mistake severity against attack strength, mean ± 95 % CI over seeds."""
    from labelspace.reporting.stats import mean_ci

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    drawn = False
    attack = ""
    for name, runs in results.items():
        points = [r.analysis["robustness"]["points"] for r in runs if r.analysis]
        if not points or len(points) != len(runs):
            continue
        attack = runs[0].analysis["robustness"]["attack"].upper()
        eps = [p["eps"] * 255 for p in points[0]]
        for ax, key, scale in ((ax1, "top1", 100.0), (ax2, "severity", 1.0)):
            stats = [mean_ci([scale * run[j][key] for run in points]) for j in range(len(eps))]
            means = [s.mean for s in stats]
            err = [0.0 if not np.isfinite(s.half_width) else s.half_width for s in stats]
            ax.errorbar(eps, means, yerr=err, marker="o", capsize=3, label=name)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax1.set_ylabel("top-1 accuracy under attack (%)")
    ax2.set_ylabel("mistake severity under attack ↓")
    for ax in (ax1, ax2):
        ax.set_xlabel(f"{attack} L∞ budget ε (× 1/255)")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    return save_and_close(fig, path)


def plot_backoff_curves(
    curves: Mapping[str, BackoffCurve], path: str | Path, title: str | None = None
) -> Path:
    """Correctness (%) against informativeness, one line per method with its AUC; returns the
    written PNG's path. Better methods sit higher: right where they can be specific."""
    if not curves:
        raise ValueError("no curves to plot")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for name, curve in curves.items():
        x, y = curve.points()
        ax.plot(
            x.numpy(),
            100 * y.numpy(),
            marker=".",
            markersize=3,
            label=f"{name} (AUC {curve.auc:.3f})",
        )
    ax.set_xlabel("informativeness (mean predicted depth / mean true depth)")
    ax.set_ylabel("correctness (% predicted node is the class or an ancestor)")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return save_and_close(fig, path)


def plot_feature_maps(
    maps: Mapping[str, tuple[np.ndarray, np.ndarray]],
    group_names: Sequence[str],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """One panel per map (``name -> (xy (M, 2), group id per point)``), points coloured by
    coarse group, with one legend of ``group_names`` for all panels. Writes a PNG atomically."""
    if not maps:
        raise ValueError("no feature maps to plot")
    for name, (xy, groups) in maps.items():
        xy, groups = np.asarray(xy), np.asarray(groups)
        if xy.ndim != 2 or xy.shape[1] != 2 or len(groups) != len(xy):
            raise ValueError(
                f"map {name!r} must be (xy (M, 2), groups (M,)), got shapes {xy.shape} "
                f"and {groups.shape}"
            )
        if len(groups) and (groups.min() < 0 or groups.max() >= len(group_names)):
            raise ValueError(
                f"map {name!r} has group ids outside [0, {len(group_names)}): one name per group"
            )
    from matplotlib.lines import Line2D

    plt = pyplot()

    g = len(group_names)
    cmap = plt.get_cmap("tab10" if g <= 10 else "tab20" if g <= 20 else "turbo")
    colors = [cmap(i) if g <= 20 else cmap(i / max(g - 1, 1)) for i in range(g)]
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 4.5), squeeze=False)
    for ax, (name, (xy, groups)) in zip(axes.flat, maps.items(), strict=True):
        xy, groups = np.asarray(xy), np.asarray(groups, dtype=np.int64)
        ax.scatter(xy[:, 0], xy[:, 1], s=4, c=[colors[k] for k in groups], alpha=0.7, lw=0)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        Line2D([], [], marker="o", ls="", color=colors[i], label=label)
        for i, label in enumerate(group_names)
    ]
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
        frameon=False,
        ncol=1 if g <= 25 else 2,
    )
    if title:
        fig.suptitle(title)
    return save_and_close(fig, path)
