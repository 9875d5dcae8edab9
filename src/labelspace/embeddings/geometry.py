"""Poincaré-ball math with the clamps that keep it finite near the boundary.

The ball of curvature ``-c`` is ``{x : c|x|² < 1}``. Points are kept at norm at most
``(1 - BOUNDARY_EPS) / sqrt(c)``; arcosh is evaluated as ``log(z + sqrt(z² - 1))`` on
``z >= 1``. geoopt's ``PoincareBall`` offers the same operations as a manifold object; these
plain functions exist because the embedding trainer and the chunked evaluation call them on
very large batches where a thin, allocation-light formulation matters.
"""

from __future__ import annotations

import torch

BOUNDARY_EPS = 1e-5
_MIN_NORM = 1e-15


def max_norm(c: float = 1.0) -> float:
    """Largest norm a point may have in the ball of curvature -c."""
    return (1.0 - BOUNDARY_EPS) / c**0.5


def project(x: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Pull points outside the clamped ball back onto its edge (along the ray)."""
    norm = x.norm(dim=-1, keepdim=True).clamp_min(_MIN_NORM)
    limit = max_norm(c)
    return torch.where(norm > limit, x * (limit / norm), x)


def arcosh(z: torch.Tensor) -> torch.Tensor:
    """Stable arcosh for ``z >= 1`` (inputs below 1 from rounding are clamped)."""
    z = z.clamp_min(1.0)
    return torch.log(z + torch.sqrt((z - 1.0) * (z + 1.0)))


def distance_argument(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """``1 + 2c|x-y|² / ((1-c|x|²)(1-c|y|²))``: monotone in the distance, cheaper to rank by."""
    sq = (x - y).pow(2).sum(-1)
    alpha = (1.0 - c * x.pow(2).sum(-1)).clamp_min(_MIN_NORM)
    beta = (1.0 - c * y.pow(2).sum(-1)).clamp_min(_MIN_NORM)
    return 1.0 + 2.0 * c * sq / (alpha * beta)


def distance(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Geodesic distance in the Poincaré ball of curvature -c (broadcasts over leading dims)."""
    return arcosh(distance_argument(x, y, c)) / c**0.5


def pairwise_distance_argument(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """:func:`distance_argument` for all pairs of rows, ``(n, m)``, via one matrix product."""
    xx = x.pow(2).sum(-1)
    yy = y.pow(2).sum(-1)
    sq = (xx[:, None] + yy[None, :] - 2.0 * x @ y.T).clamp_min(0.0)
    alpha = (1.0 - c * xx).clamp_min(_MIN_NORM)
    beta = (1.0 - c * yy).clamp_min(_MIN_NORM)
    return 1.0 + 2.0 * c * sq / (alpha[:, None] * beta[None, :])


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Poincaré distance for all pairs of rows, ``(n, m)``."""
    return arcosh(pairwise_distance_argument(x, y, c)) / c**0.5


def expmap0(v: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Exponential map at the origin: tangent vector -> point of the ball (then clamped)."""
    sqrt_c = c**0.5
    norm = v.norm(dim=-1, keepdim=True).clamp_min(_MIN_NORM)
    return project(torch.tanh(sqrt_c * norm) * v / (sqrt_c * norm), c)


def logmap0(x: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Logarithmic map at the origin: point of the ball -> tangent vector."""
    sqrt_c = c**0.5
    norm = x.norm(dim=-1, keepdim=True).clamp_min(_MIN_NORM)
    scaled = (sqrt_c * norm).clamp(max=1.0 - BOUNDARY_EPS)
    return torch.atanh(scaled) * x / (sqrt_c * norm)


def riemannian_scale(x: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Inverse metric factor ``((1 - c|x|²) / 2)²`` turning Euclidean into Riemannian gradients."""
    return ((1.0 - c * x.pow(2).sum(-1, keepdim=True)) / 2.0).pow(2)


def scale_in_tangent_space(x: torch.Tensor, factor: float, c: float = 1.0) -> torch.Tensor:
    """Move points along their rays from the origin: ``expmap0(factor * logmap0(x))``.

    Distances from the origin (generality) scale by ``factor``; directions are kept. Used to
    bring a label embedding whose points sit at the ball's edge within reach of an image head.
    """
    return expmap0(factor * logmap0(x, c), c)


def radius_factor(x: torch.Tensor, radius: float, c: float = 1.0) -> float:
    """The :func:`scale_in_tangent_space` factor that puts the farthest point of ``x`` at
    hyperbolic distance ``radius`` from the origin."""
    farthest = 2.0 * logmap0(x.double(), c).norm(dim=-1).max()  # d(0, x) = 2 |logmap0(x)|
    return float(radius / farthest.clamp_min(1e-12))
