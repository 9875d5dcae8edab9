"""Heads that several method families share: linear logits and linear label-space vectors.

Besides the modules, the head factories the method registry names: each builds the head a
loss needs from the number of backbone features, the built loss (its ``num_outputs``) and the
method options. A family's own heads (the Poincaré ball's, HAF's) live in its module of
:mod:`labelspace.models.methods`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from labelspace.models.methods.base import ClassScoreLoss
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
