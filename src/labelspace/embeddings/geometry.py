"""The geometries of label spaces: Poincaré-ball math, and one object per geometry.

The functions are the Poincaré ball's math with the clamps that keep it finite near the
boundary. :class:`Geometry` and its registered kinds (:func:`get_geometry`: ``logits``,
``dot``, ``cosine``/``sphere``, ``euclidean``, ``poincare``) own each label space's ranking
key, scores, distance and projection, so that no other module switches on a geometry's name.

The ball of curvature ``-c`` is ``{x : c|x|² < 1}``. Points are kept at norm at most
``(1 - BOUNDARY_EPS) / sqrt(c)``; arcosh is evaluated as ``log(z + sqrt(z² - 1))`` on
``z >= 1``. geoopt's ``PoincareBall`` offers the same operations as a manifold object; these
plain functions exist because the embedding trainer and the chunked evaluation call them on
very large batches where a thin, allocation-light formulation matters.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.nn import functional as F

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


# --------------------------------------------------------------------------- label-space geometries
class Geometry:
    """How the points of one kind of label space are compared: the one place that knows it.

    ``rank_keys(x, y)`` is the ranking key of every pair of rows, ``(n, m)``, **higher is
    closer**: cheap and monotone in the geometry's closeness (no square root or arcosh), the
    key that nearest-label decoding (:mod:`labelspace.models.decode`) and embedding evaluation
    (:mod:`labelspace.embeddings.evaluate`) both sort by. ``finish(keys)`` turns keys into the
    documented scores (minus the distance, or the similarity), ``scores = finish(rank_keys)``.
    ``distance`` is the geodesic distance and ``project`` puts points onto the space.
    Instances come from :func:`get_geometry` by the name embedding files store as ``manifold``
    and losses as ``geometry``.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    compares_vectors: ClassVar[bool] = True  # False: the outputs already are per-label scores

    def __init__(self, curvature: float = 1.0) -> None:
        self.curvature = curvature

    def rank_keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Keys of every pair of rows of ``x`` and ``y``, ``(n, m)``, higher is closer."""
        raise NotImplementedError

    def finish(self, keys: torch.Tensor) -> torch.Tensor:
        """Scores from :meth:`rank_keys` (the same order): similarity or minus the distance."""
        return keys

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores of every pair of rows, higher is better; ``y`` is cast to ``x``'s device and
        dtype."""
        return self.finish(self.rank_keys(x, y.to(device=x.device, dtype=x.dtype)))

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Geodesic distance of every pair of rows, ``(n, m)``."""
        raise NotImplementedError(f"the {self.name} label space has no distance")

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` moved onto the space (unchanged where the space is all of R^D)."""
        return x

    def outside(self, x: torch.Tensor) -> torch.Tensor:
        """Which rows of ``x`` are not points of the space (none where it is all of R^D)."""
        return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)

    def boundary(self) -> str:
        """The space's edge in words, for errors about points beyond it."""
        return f"the {self.name} space"

    def check_points(self, x: torch.Tensor, what: str) -> None:
        """Refuse points that do not lie in the space (ValueError naming ``what``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(curvature={self.curvature})"


GEOMETRY_TYPES: dict[str, type[Geometry]] = {}


def register_geometry(cls: type[Geometry]) -> type[Geometry]:
    """Class decorator: make ``cls`` reachable by its name and aliases."""
    for name in (cls.name, *cls.aliases):
        GEOMETRY_TYPES[name] = cls
    return cls


def geometry_names() -> tuple[str, ...]:
    """The registered geometries' own names (aliases left out), in registration order."""
    return tuple(dict.fromkeys(cls.name for cls in GEOMETRY_TYPES.values()))


def get_geometry(name: str, curvature: float = 1.0) -> Geometry:
    """The geometry called ``name`` (``curvature``: the ball's, for ``poincare``)."""
    try:
        return GEOMETRY_TYPES[name](curvature)
    except KeyError:
        aliases = [f"{a} for {cls.name}" for a, cls in GEOMETRY_TYPES.items() if a != cls.name]
        raise ValueError(
            f"unknown geometry {name!r}; expected one of {', '.join(geometry_names())} "
            f"({', '.join(aliases)})"
        ) from None


@register_geometry
class Logits(Geometry):
    """The outputs are per-label scores already (a softmax head); there are no label vectors."""

    name = "logits"
    compares_vectors = False

    def rank_keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise TypeError("logits are scores already: index their columns, there is nothing to rank")


@register_geometry
class Dot(Geometry):
    """Dot products with the label vectors (DeViSE): the norm carries the score's scale."""

    name = "dot"

    def rank_keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x @ y.T


@register_geometry
class Sphere(Geometry):
    """Directions: cosine similarity, the unit sphere's geometry (``sphere`` in embedding
    files, ``cosine`` in losses); geoopt's ``Sphere`` is its manifold."""

    name = "cosine"
    aliases = ("sphere",)

    def rank_keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.arccos(self.rank_keys(x, y).clamp(-1.0, 1.0))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)

    @property
    def manifold(self):
        import geoopt

        return geoopt.Sphere()


@register_geometry
class Euclidean(Geometry):
    """Flat space: keys are minus the squared distance, scores minus the distance."""

    name = "euclidean"

    def rank_keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        xx = x.pow(2).sum(-1)[:, None]
        yy = y.pow(2).sum(-1)[None, :]
        return -(xx + yy - 2.0 * x @ y.T)

    def finish(self, keys: torch.Tensor) -> torch.Tensor:
        return -(-keys).clamp_min(0.0).sqrt()

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.finish(self.rank_keys(x, y))

    @property
    def manifold(self):
        import geoopt

        return geoopt.Euclidean(ndim=1)


@register_geometry
class PoincareBall(Geometry):
    """The Poincaré ball of curvature ``-curvature``: keys are minus the distance argument
    (:func:`pairwise_distance_argument`), scores minus the distance. The formulas are this
    module's (not geoopt's), so that scores stay the same to the last bit; geoopt's
    ``PoincareBall`` is the manifold trainable label points live on."""

    name = "poincare"

    def rank_keys(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -pairwise_distance_argument(x, y, self.curvature)

    def finish(self, keys: torch.Tensor) -> torch.Tensor:
        return -arcosh(-keys) / self.curvature**0.5

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pairwise_distance(x, y, self.curvature)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return project(x, self.curvature)

    def _check_curvature(self) -> None:
        c = self.curvature
        if not (math.isfinite(c) and c > 0):
            raise ValueError(f"a Poincaré ball needs a curvature > 0, got {c}")

    def outside(self, x: torch.Tensor) -> torch.Tensor:
        self._check_curvature()
        return x.norm(dim=1) >= 1 / math.sqrt(self.curvature)

    def boundary(self) -> str:
        return f"the Poincaré ball (norm >= {1 / math.sqrt(self.curvature):g})"

    def check_points(self, x: torch.Tensor, what: str) -> None:
        self._check_curvature()
        c = self.curvature
        if bool((c * x.pow(2).sum(-1) >= 1.0).any()):
            raise ValueError(
                f"{what} must lie inside the Poincaré ball |x| < 1/sqrt(c) = {c**-0.5:.6g} "
                "(use geometry.project / expmap0)"
            )

    @property
    def manifold(self):
        import geoopt

        return geoopt.PoincareBall(c=self.curvature)
