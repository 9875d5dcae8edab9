"""Poincaré-ball math: metric axioms, maps, and finiteness at the boundary."""

import geoopt
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelspace.embeddings.geometry import (
    BOUNDARY_EPS,
    distance,
    expmap0,
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
