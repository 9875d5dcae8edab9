"""Heads: map backbone features to softmax logits or to points of a label space.

Besides the modules, the head factories the method registry names: each builds the head a
loss needs from the number of backbone features, the built loss (its ``num_outputs`` and,
for the ball, its curvature) and the method options.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from labelspace.embeddings.geometry import expmap0

if TYPE_CHECKING:
    from labelspace.models.losses import ClassScoreLoss
    from labelspace.models.options import MethodOptions


class SoftmaxHead(nn.Module):
    """Linear logits, one per output (classes, or hierarchy nodes for a hierarchical softmax)."""

    def __init__(self, in_features: int, num_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class EmbeddingHead(nn.Module):
    """Linear projection into a Euclidean label space; unit vectors when ``normalize``.

    Normalise for cosine-based label spaces (the output then lies on the unit sphere); leave
    it off for dot-product spaces such as DeViSE, where the norm carries the score's scale.
    """

    def __init__(self, in_features: int, dim: int, normalize: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, dim)
        self.normalize = normalize

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.linear(features)
        return F.normalize(out, dim=-1) if self.normalize else out


class HyperbolicHead(nn.Module):
    """Linear projection, feature clipping, then the exponential map onto the Poincaré ball.

    Clipping follows Guo et al., "Clipped Hyperbolic Classifiers Are Super-Hyperbolic
    Classifiers" (CVPR 2022): the Euclidean vector is rescaled to norm at most ``clip_r``
    before :func:`~labelspace.embeddings.geometry.expmap0`. Outputs therefore stay at norm
    ``<= tanh(sqrt(c) * clip_r) / sqrt(c)``, away from the boundary where gradients vanish,
    and are finite and inside the ball for any finite input.
    """

    def __init__(
        self, in_features: int, dim: int, curvature: float = 1.0, clip_r: float = 2.3
    ) -> None:
        super().__init__()
        if curvature <= 0 or clip_r <= 0:
            raise ValueError("curvature and clip_r must be positive")
        self.linear = nn.Linear(in_features, dim)
        self.curvature = curvature
        self.clip_r = clip_r

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        v = self.linear(features)
        norm = v.norm(dim=-1, keepdim=True).clamp_min(1e-15)
        v = v * (self.clip_r / norm).clamp(max=1.0)
        return expmap0(v, self.curvature)


class JointHead(nn.Module):
    """Class logits and a point of the Poincaré ball from the same features, concatenated.

    The joint loss (:class:`~labelspace.models.losses.JointLoss`) trains both: cross-entropy
    on the logits, the distance softmax to the hierarchy's class points on the ball point.
    One tensor out keeps every caller (training, evaluation, attacks) unchanged; the loss
    splits it.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        dim: int,
        curvature: float = 1.0,
        clip_r: float = 2.3,
    ) -> None:
        super().__init__()
        self.logits = SoftmaxHead(in_features, num_classes)
        self.ball = HyperbolicHead(in_features, dim, curvature, clip_r)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.logits(features), self.ball(features)], dim=-1)


class HAFHead(nn.Module):
    """Class logits and the logits of each coarse level, from unit weight vectors (HAF).

    Each coarse group's weight vector is the normalised sum of its classes' unit weight
    vectors (``members``: per level, a ``(groups, classes)`` 0/1 matrix), each with a bias of
    its own: the geometric consistency of Garg et al. (ECCV 2022) held exactly.
    """

    def __init__(self, in_features: int, num_classes: int, members: list[torch.Tensor]) -> None:
        super().__init__()
        self.classes = nn.Linear(in_features, num_classes)
        self.level_bias = nn.ParameterList(torch.nn.Parameter(torch.zeros(len(m))) for m in members)
        for i, m in enumerate(members):
            self.register_buffer(f"members_{i}", m.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = F.normalize(self.classes.weight, dim=-1)
        out = [features @ weights.T + self.classes.bias]
        for i, bias in enumerate(self.level_bias):
            coarse = F.normalize(getattr(self, f"members_{i}") @ weights, dim=-1)
            out.append(features @ coarse.T + bias)
        return torch.cat(out, dim=-1)


# ------------------------------------------------------------------ factories for the registry
def linear(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Logits: one per class (or per tree node for a hierarchical softmax)."""
    return SoftmaxHead(in_features, loss.num_outputs)


def euclidean(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Unnormalised label-space vectors, for dot-product label spaces (DeViSE)."""
    return EmbeddingHead(in_features, loss.num_outputs, normalize=False)


def unit_sphere(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Unit vectors, for cosine label spaces."""
    return EmbeddingHead(in_features, loss.num_outputs, normalize=True)


def hyperbolic(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Points of the loss's Poincaré ball, clipped at ``options.clip_r``."""
    curvature = getattr(loss, "curvature", 1.0)
    return HyperbolicHead(in_features, loss.num_outputs, curvature, options.clip_r)


def joint(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Class logits and a Poincaré ball point side by side (:class:`JointHead`)."""
    curvature = getattr(loss, "curvature", 1.0)
    dim = loss.num_outputs - loss.num_classes
    return JointHead(in_features, loss.num_classes, dim, curvature, options.clip_r)


def haf(in_features: int, loss: ClassScoreLoss, options: MethodOptions) -> nn.Module:
    """Class and coarse-level logits from unit weight vectors (:class:`HAFHead`)."""
    return HAFHead(in_features, loss.num_classes, loss.members)
