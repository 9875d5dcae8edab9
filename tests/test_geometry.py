"""Poincaré-ball math: metric axioms, maps, and finiteness at the boundary."""

import geoopt
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelspace.embeddings.geometry import (
    BOUNDARY_EPS,
    distance,
    expmap0,
    geometry_names,
    get_geometry,
    logmap0,
    max_norm,
    pairwise_distance,
    project,
    riemannian_scale,
)

coords = st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=3, max_size=3)


def point(values: list[float], c: float = 1.0) -> torch.Tensor:
    """A point of the ball from unconstrained coordinates."""
    return expmap0(torch.tensor(values, dtype=torch.float64), c)


@settings(max_examples=200, deadline=None)
@given(coords, coords, coords)
def test_distance_is_a_metric(a, b, c):
    x, y, z = point(a), point(b), point(c)
    dxy, dyx = distance(x, y), distance(y, x)
    assert torch.isclose(dxy, dyx, rtol=1e-9, atol=1e-9)
    assert dxy >= 0
    assert distance(x, x) < 1e-6
    assert distance(x, z) <= distance(x, y) + distance(y, z) + 1e-6


@settings(max_examples=200, deadline=None)
@given(coords, st.sampled_from([0.5, 1.0, 2.0]))
def test_exp_log_round_trip(values, c):
    v = torch.tensor(values, dtype=torch.float64) * 0.5  # stay where tanh is invertible in fp64
    assert torch.allclose(logmap0(expmap0(v, c), c), v, atol=1e-6)
    x = point(values, c)
    assert torch.allclose(expmap0(logmap0(x, c), c), x, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(coords, coords)
def test_distance_matches_geoopt(a, b):
    # away from the clamped boundary, where both libraries clamp differently
    ball = geoopt.PoincareBall(c=1.0)
    x, y = point([v / 2 for v in a]), point([v / 2 for v in b])
    assert torch.isclose(distance(x, y), ball.dist(x, y), rtol=1e-6, atol=1e-6)


def test_distance_from_origin_is_twice_artanh():
    x = torch.tensor([0.3, 0.4], dtype=torch.float64)
    assert torch.isclose(
        distance(torch.zeros(2, dtype=torch.float64), x), 2 * torch.atanh(x.norm())
    )


def test_pairwise_agrees_with_elementwise():
    g = torch.Generator().manual_seed(0)
    x = project(torch.rand(7, 4, generator=g, dtype=torch.float64) * 2 - 1)
    y = project(torch.rand(5, 4, generator=g, dtype=torch.float64) * 2 - 1)
    full = pairwise_distance(x, y)
    elementwise = distance(x[:, None, :], y[None, :, :])
    assert torch.allclose(full, elementwise, atol=1e-6)


def test_finite_at_and_beyond_the_boundary():
    outside = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.6, 0.8], [1e-20, 0.0]], dtype=torch.float32)
    x = project(outside)
    assert (x.norm(dim=-1) <= max_norm() + 1e-6).all()
    d = pairwise_distance(x, x)
    assert torch.isfinite(d).all()
    assert torch.isfinite(logmap0(x)).all()
    assert torch.isfinite(riemannian_scale(x)).all()
    assert torch.isfinite(expmap0(torch.tensor([[1e6, 0.0]]))).all()
    # the two boundary points in opposite directions are far apart but finite
    assert d[0, 1] > 10


def test_project_leaves_interior_points_alone():
    x = torch.tensor([[0.1, 0.2], [0.5, -0.5]])
    assert torch.equal(project(x), x)
    assert max_norm(4.0) == (1 - BOUNDARY_EPS) / 2


# ------------------------------------------------------------------ one object per geometry
VECTOR_GEOMETRIES = [name for name in geometry_names() if get_geometry(name).compares_vectors]


def _points(name: str, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return expmap0(x) if name == "poincare" else x


@pytest.mark.parametrize("name", VECTOR_GEOMETRIES)
def test_rank_keys_order_like_the_scores_higher_is_closer(name):
    geometry = get_geometry(name)
    x, y = _points(name, 6, 0), _points(name, 9, 1)
    keys, scores = geometry.rank_keys(x, y), geometry.scores(x, y)
    assert torch.equal(geometry.finish(keys), scores)
    assert torch.equal(keys.argsort(dim=1, stable=True), scores.argsort(dim=1, stable=True))
    if name != "dot":  # a distance: scores are minus it, so the closest ranks first
        assert torch.allclose(-scores if name != "cosine" else scores, _reference(name, x, y))


def _reference(name: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same quantity from geoopt or by hand: distance, or cosine for the sphere."""
    if name == "poincare":
        return geoopt.PoincareBall(c=1.0).dist(x[:, None], y[None, :])
    if name == "euclidean":
        return torch.cdist(x, y)
    return torch.nn.functional.cosine_similarity(x[:, None], y[None, :], dim=-1)


@pytest.mark.parametrize("name", ["poincare", "euclidean", "cosine"])
def test_distances_agree_with_geoopt(name):
    geometry = get_geometry(name)
    x, y = _points(name, 5, 2), _points(name, 7, 3)
    if name == "cosine":
        x, y = geometry.project(x), geometry.project(y)
        expected = geoopt.Sphere().dist(x[:, None], y[None, :])
    elif name == "poincare":
        expected = geoopt.PoincareBall(c=1.0).dist(x[:, None], y[None, :])
    else:
        expected = torch.cdist(x, y)
    assert torch.allclose(geometry.distance(x, y), expected, atol=1e-6)


def test_projection_puts_points_on_the_space():
    x = torch.tensor([[3.0, 4.0], [0.1, 0.0]], dtype=torch.float64)
    assert torch.allclose(get_geometry("sphere").project(x).norm(dim=-1), torch.ones(2).double())
    assert torch.equal(get_geometry("poincare").project(x), project(x))
    assert torch.equal(get_geometry("euclidean").project(x), x)


def test_embedding_files_and_losses_name_the_same_geometries():
    assert type(get_geometry("sphere")) is type(get_geometry("cosine"))
    assert get_geometry("poincare", 2.0).curvature == 2.0
    assert isinstance(get_geometry("poincare").manifold, geoopt.PoincareBall)
    with pytest.raises(ValueError, match="unknown geometry 'hyperbolic'"):
        get_geometry("hyperbolic")


def test_decoding_and_embedding_evaluation_rank_alike():
    """The nearest label decoding finds is the neighbour the embedding evaluation ranks first."""
    from labelspace.embeddings.evaluate import rank_neighbours
    from labelspace.models.decode import topk_labels

    for manifold in ("poincare", "euclidean", "sphere"):
        table = _points("poincare" if manifold == "poincare" else manifold, 8, 4)
        _, nearest = topk_labels(table[:1], table[1:], get_geometry(manifold).name, 1)
        pair = np.array([[0, 1 + int(nearest[0, 0])]])
        assert rank_neighbours(table, pair, manifold=manifold).mean_rank == 1.0
