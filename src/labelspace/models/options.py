"""The knobs of heads and losses, with their defaults: the one place the CLI reads them from.

Kept free of torch so that the command line can show its options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodOptions:
    """Knobs of the heads and losses (recorded in the run's config)."""

    temperature: float = 0.1  # Poincaré loss: softmax over -distance / temperature
    clip_r: float = 2.3  # hyperbolic head: feature clipping radius (Guo et al. 2022)
    label_radius: float | None = 3.0  # Poincaré labels: farthest class this far from 0
    margin: float = 0.1  # DeViSE hinge
    beta: float = 4.0  # soft labels
    alpha: float = 0.1  # hierarchical cross-entropy
    ce_weight: float = 0.1  # cosine + cross-entropy
    prototype_weight: float = 1.0  # joint: weight of the Poincaré prototype loss beside CE
    scale: float = 16.0  # frame: softmax over scale x cosine to the fixed class vectors
    trainable_embedding: bool = False
