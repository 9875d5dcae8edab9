"""Do a model's features cluster by meaning? (after Peterson et al. 2018)

Classes are grouped at each level of the label hierarchy (two classes share a group when their
lowest common ancestor is at most that high). The silhouette of the features, labelled by
these coarse groups, says how well the feature space separates the hierarchy's branches; the
fine level (every class its own group) is the reference. 2-D maps (t-SNE or PCA) coloured by
coarse group show the same thing by eye.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from labelspace.data.splits import stratified_sample
from labelspace.embeddings.space import readable_name
from labelspace.hierarchy.graph import Hierarchy

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- groups
def _check_lca_height(lca_height: torch.Tensor) -> torch.Tensor:
    lca_height = torch.as_tensor(lca_height)
    if lca_height.ndim != 2 or lca_height.shape[0] != lca_height.shape[1]:
        raise ValueError(
            f"lca_height must be a square (C, C) matrix, got shape {tuple(lca_height.shape)}"
        )
    if lca_height.shape[0] == 0:
        raise ValueError("lca_height is empty: there are no classes")
    return lca_height


def coarse_groups(lca_height: torch.Tensor, level: int) -> torch.Tensor:
    """Group id of every class at ``level``, shape ``(C,)``.

    Classes i and j share a group when height(LCA(i, j)) <= ``level``, closed transitively
    (connected components), so the groups partition the classes even when ties in a DAG make
    the relation intransitive. Ids are 0..G-1 in order of each group's first class; at level 0
    every class is its own group.
    """
    lca_height = _check_lca_height(lca_height)
    if isinstance(level, bool) or int(level) != level or level < 0:
        raise ValueError(f"level must be an integer >= 0, got {level!r}")
    c = lca_height.shape[0]
    near = lca_height <= level
    near = near | near.T  # a matrix that is not quite symmetric still gives a partition
    near.fill_diagonal_(True)
    groups = torch.full((c,), -1, dtype=torch.long)
    next_id = 0
    for start in range(c):
        if groups[start] >= 0:
            continue
        groups[start] = next_id
        stack = [start]
        while stack:
            i = stack.pop()
            for j in torch.nonzero(near[i] & (groups < 0)).flatten().tolist():
                groups[j] = next_id
                stack.append(j)
        next_id += 1
    return groups


def levels(lca_height: torch.Tensor) -> list[int]:
    """The levels worth scoring: 0 (fine classes) and each distinct off-diagonal LCA height,
    ascending, that leaves at least 2 groups and changes the grouping of the previous one."""
    lca_height = _check_lca_height(lca_height)
    c = lca_height.shape[0]
    off = lca_height[~torch.eye(c, dtype=torch.bool)]
    candidates = sorted({0, *(int(h) for h in off.unique().tolist() if h >= 0)})
    out: list[int] = []
    previous: torch.Tensor | None = None
    for level in candidates:
        groups = coarse_groups(lca_height, level)
        if int(groups.max()) + 1 < 2:
            break  # higher levels only merge more
        if previous is None or not torch.equal(groups, previous):
            out.append(level)
            previous = groups
    return out


# ----------------------------------------------------------------------------- sampling
def _as_numpy(x: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, F) array, got shape {arr.shape}")
    return arr


def _sample(labels: np.ndarray, sample: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded sample of at most ``sample`` rows, each label in proportion
    (:func:`~labelspace.data.splits.stratified_sample`)."""
    if sample < 1:
        raise ValueError(f"sample must be >= 1, got {sample}")
    return stratified_sample(labels, sample, seed).numpy()


# ----------------------------------------------------------------------------- silhouette
def silhouette_by_level(
    features: torch.Tensor | np.ndarray,
    targets: torch.Tensor | np.ndarray,
    lca_height: torch.Tensor,
    *,
    sample: int = 2000,
    seed: int = 0,
    metric: str = "euclidean",
) -> dict[int, float]:
    """Silhouette score of the features labelled by coarse group, for every level of
    :func:`levels`: ``{level: score in [-1, 1]}`` (NaN where the sample holds fewer than 2
    groups, or only singletons).

    Computed with :func:`sklearn.metrics.silhouette_score` on a seeded, class-proportional
    sample of at most ``sample`` images; ``metric`` is passed through to scikit-learn.
    """
    from sklearn.metrics import silhouette_score

    feats = _as_numpy(features, "features")
    y = np.asarray(targets.detach().cpu() if isinstance(targets, torch.Tensor) else targets)
    if y.ndim != 1 or len(y) != len(feats):
        raise ValueError(
            f"features and targets must have the same length, got {len(feats)} features and "
            f"targets of shape {y.shape}"
        )
    lca_height = _check_lca_height(lca_height)
    c = lca_height.shape[0]
    if len(y) and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"targets must be class indices in [0, {c}), got [{y.min()}, {y.max()}]")
    index = _sample(y, sample, seed)
    feats, y = feats[index], y[index]
    out: dict[int, float] = {}
    for level in levels(lca_height):
        labels = coarse_groups(lca_height, level).numpy()[y]
        k = len(np.unique(labels))
        if not 2 <= k <= len(labels) - 1:
            log.warning(
                "silhouette at level %d: %d groups among %d sampled images; need 2..%d",
                level,
                k,
                len(labels),
                len(labels) - 1,
            )
            out[level] = float("nan")
            continue
        out[level] = float(silhouette_score(feats, labels, metric=metric))
    return out


# ----------------------------------------------------------------------------- 2-D maps
def feature_map(
    features: torch.Tensor | np.ndarray,
    *,
    sample: int = 2000,
    seed: int = 0,
    method: str = "tsne",
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D map of a seeded sample of the features: ``(xy (M, 2), index (M,))``, where
    ``index`` are the sampled rows (sorted) and M = min(sample, N).

    ``method="tsne"`` uses t-SNE (PCA init, perplexity min(30, (M - 1) / 3), seeded,
    ``max_iter`` >= 250 optimisation steps); ``method="pca"`` the first two principal
    components (fast).
    """
    feats = _as_numpy(features, "features")
    if method not in ("tsne", "pca"):
        raise ValueError(f"unknown method {method!r}; choose 'tsne' or 'pca'")
    if method == "tsne" and max_iter < 250:
        raise ValueError(f"t-SNE needs max_iter >= 250, got {max_iter}")
    index = _sample(np.zeros(len(feats), dtype=np.int64), sample, seed)  # one stratum
    if len(index) < 3:
        raise ValueError(f"a feature map needs at least 3 images, got {len(index)}")
    if feats.shape[1] < 2:
        raise ValueError(f"a feature map needs at least 2 feature dimensions, got {feats.shape[1]}")
    x = feats[index].astype(np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=seed).fit_transform(x)
    else:
        from sklearn.manifold import TSNE

        m = len(index)
        tsne = TSNE(
            n_components=2,
            init="pca",
            random_state=seed,
            perplexity=min(30, (m - 1) / 3),
            max_iter=max_iter,
        )
        xy = tsne.fit_transform(x)
    return np.asarray(xy, dtype=np.float64), index


# ----------------------------------------------------------------------------- names
def group_names(hierarchy: Hierarchy, lca_height: torch.Tensor, level: int) -> list[str]:
    """A name for each group of :func:`coarse_groups` at ``level``: the lemma of the LCA of
    its classes ("footwear" for ``footwear.n.02``). Names that would repeat keep the full node
    name, so that the legend stays unambiguous."""
    groups = coarse_groups(lca_height, level)
    if len(groups) != len(hierarchy.classes):
        raise ValueError(
            f"lca_height is for {len(groups)} classes but the hierarchy has "
            f"{len(hierarchy.classes)}"
        )
    nodes: list[str] = []
    for g in range(int(groups.max()) + 1):
        members = [hierarchy.classes[i] for i in torch.nonzero(groups == g).flatten().tolist()]
        node = members[0]
        for other in members[1:]:
            node = hierarchy.lca(node, other)
        nodes.append(node)
    names = [readable_name(n) for n in nodes]
    return [names[i] if names.count(names[i]) == 1 else nodes[i] for i in range(len(nodes))]
