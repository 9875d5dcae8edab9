"""Figures and small tables that labelspace writes (matplotlib, headless)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from labelspace.embeddings.geometry import expmap0, logmap0
from labelspace.embeddings.store import LabelEmbedding
from labelspace.hierarchy.graph import Hierarchy


def disk_coordinates(embedding: LabelEmbedding) -> tuple[np.ndarray, str]:
    """2-D coordinates in the unit disk, and a note on how they were obtained.

    A 2-D Poincaré embedding is drawn as it is. A higher-dimensional one is mapped to the
    tangent space at the origin, projected on its two principal directions and mapped back,
    which keeps each point's distance from the origin (its generality) and the main spread.
    """
    if embedding.manifold != "poincare":
        raise ValueError(f"a Poincaré disk needs a Poincaré embedding, not {embedding.manifold!r}")
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
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
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
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically (temp file, then rename), readable by all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, bbox_inches="tight", dpi=fig.dpi)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a figure is not
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
