"""Coarse groups, silhouette by hierarchy level, 2-D feature maps and group names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from toy_hierarchy import LCA

from labelspace.analysis.representations import (
    coarse_groups,
    feature_map,
    group_names,
    levels,
    silhouette_by_level,
)
from labelspace.reporting.figures import plot_feature_maps


@pytest.fixture(autouse=True)
def _one_thread():
    """t-SNE's OpenMP threads crawl on a busy shared CPU; tiny inputs need only one."""
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, [0, 1, 2, 3, 4]),
        (1, [0, 0, 1, 2, 3]),
        (2, [0, 0, 0, 1, 2]),
        (3, [0, 0, 0, 0, 0]),
        (7, [0, 0, 0, 0, 0]),
    ],
)
def test_coarse_groups(level, expected):
    groups = coarse_groups(LCA, level)
    assert groups.dtype == torch.long
    assert groups.tolist() == expected


def test_coarse_groups_close_transitively_and_number_by_first_class():
    # 0~2 and 2~1 at level 1, but 0 and 1 only meet at 2: one component {0, 1, 2}; 3 alone
    lca = torch.tensor([[0, 2, 1, 2], [2, 0, 1, 2], [1, 1, 0, 2], [2, 2, 2, 0]])
    assert coarse_groups(lca, 1).tolist() == [0, 0, 0, 1]
    # ids follow the first class of each group
    lca = torch.tensor([[0, 2, 1], [2, 0, 2], [1, 2, 0]])
    assert coarse_groups(lca, 1).tolist() == [0, 1, 0]


def test_levels():
    assert levels(LCA) == [0, 1, 2]
    # level 3 changes nothing (0 and 2 already meet through 1 at level 2), so it is skipped;
    # level 4 leaves a single group
    lca = torch.tensor([[0, 1, 3, 4], [1, 0, 2, 4], [3, 2, 0, 4], [4, 4, 4, 0]])
    assert levels(lca) == [0, 1, 2]
    assert levels(torch.zeros(1, 1, dtype=torch.long)) == []


def _blobs(spread: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features: one tight blob per level-2 group ({0,1,2}, {3}, {4}); classes inside the
    first group are not separated at all."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.arange(5).repeat_interleave(40)
    centres = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    group = coarse_groups(LCA, 2)[targets]
    feats = centres[group] + spread * torch.randn(len(targets), 3, generator=g)
    return feats, targets


def test_silhouette_is_high_at_the_coarse_level_where_blobs_separate():
    feats, targets = _blobs(0.3)
    s = silhouette_by_level(feats, targets, LCA)
    assert set(s) == {0, 1, 2}
    assert s[2] > 0.9
    assert s[2] > max(s[0], s[1]) + 0.3  # finer labels split a blob: much lower


def test_silhouette_of_random_features_is_near_zero():
    g = torch.Generator().manual_seed(1)
    targets = torch.randint(0, 5, (600,), generator=g)
    feats = torch.randn(600, 8, generator=g)
    s = silhouette_by_level(feats, targets, LCA, sample=500)
    assert all(abs(v) < 0.1 for v in s.values())
    again = silhouette_by_level(feats.numpy(), targets.numpy(), LCA, sample=500)
    assert again == s  # seeded sample: the same numbers


def test_feature_map_shape_and_repeatability():
    feats, _ = _blobs(0.3)
    xy, index = feature_map(feats, sample=60, seed=4, max_iter=250)
    assert xy.shape == (60, 2) and index.shape == (60,)
    assert len(set(index.tolist())) == 60 and index.max() < len(feats)
    xy2, index2 = feature_map(feats, sample=60, seed=4, max_iter=250)
    np.testing.assert_array_equal(index, index2)
    np.testing.assert_allclose(xy, xy2)
    xy, index = feature_map(feats, sample=5000, method="pca")
    assert xy.shape == (len(feats), 2)
    np.testing.assert_array_equal(index, np.arange(len(feats)))


def test_plot_feature_maps(tmp_path):
    feats, targets = _blobs(0.3)
    groups = coarse_groups(LCA, 2)[targets].numpy()
    xy, index = feature_map(feats, method="pca")
    maps = {"pca": (xy, groups[index]), "raw": (feats[:, :2].numpy(), groups)}
    path = plot_feature_maps(maps, ["X", "c3", "c4"], tmp_path / "maps" / "f.png", title="toy")
    assert path.exists() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_group_names_on_fashion_mnist(fashion):
    lca = fashion.class_lca_height
    footwear = [fashion.classes.index(f"{c}.n.01") for c in ("sandal", "gym_shoe", "boot")]
    level = int(lca[footwear][:, footwear].max())
    groups = coarse_groups(lca, level)
    assert len({int(groups[i]) for i in footwear}) == 1
    names = group_names(fashion, lca, level)
    assert len(names) == int(groups.max()) + 1
    assert "footwear" in names
    assert names[int(groups[footwear[0]])] == "footwear"
    # fine level: every class names itself
    assert group_names(fashion, lca, 0)[fashion.classes.index("gym_shoe.n.01")] == "gym shoe"


def test_bad_inputs(fashion):
    feats, targets = _blobs(0.3)
    with pytest.raises(ValueError, match="same length"):
        silhouette_by_level(feats, targets[:-1], LCA)
    with pytest.raises(ValueError, match="level"):
        coarse_groups(LCA, -1)
    with pytest.raises(ValueError, match="square"):
        coarse_groups(LCA[:3], 1)
    with pytest.raises(ValueError, match="class indices"):
        silhouette_by_level(feats, targets + 5, LCA)
    with pytest.raises(ValueError, match="method"):
        feature_map(feats, method="umap")
    with pytest.raises(ValueError, match="classes"):
        group_names(fashion, LCA, 1)
