"""The options of a Poincaré (or flat Euclidean) label embedding, checked before training.

Kept apart from the trainer so that the command line can build and check them without
importing torch (about a second).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelspace.errors import InputError
from labelspace.validation import (
    require_at_least,
    require_choice,
    require_not_negative,
    require_positive,
    require_within,
)

SEED_LIMIT = 2**63  # seeds lie in [0, SEED_LIMIT): what both NumPy and torch accept
MANIFOLDS = ("poincare", "euclidean")
INITS = ("uniform", "hierarchy")
DTYPES = ("float32", "float64")


@dataclass
class PoincareConfig:
    """Hyperparameters of :func:`train_poincare` (recorded with the saved embedding)."""

    dim: int = 10
    epochs: int = 150
    negatives: int = 50
    batch_size: int = 128
    lr: float = 0.3
    burnin_epochs: int | None = None  # None: 20 from the uniform start, 0 from the layout
    burnin_lr_factor: float = 0.1
    init: str = "uniform"  # "uniform" (the paper's start) or "hierarchy" (hierarchy_layout)
    init_range: float = 1e-3  # uniform start: coordinates in [-init_range, init_range]
    init_step: float = 1.0  # hierarchy start: hyperbolic radius added per level of depth
    init_spread: float = 2.0  # hierarchy start: direction noise at the root ...
    init_decay: float = 0.65  # ... multiplied by this per level of depth
    init_link_gap: float | None = 2.0  # hierarchy start: see hierarchy_layout; None: no pull
    direction_lr: float | None = None  # see polar_step; None: 0.01 from the layout on the ball
    manifold: str = "poincare"
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.burnin_epochs is None:
            self.burnin_epochs = 20 if self.init == "uniform" else 0
        if self.direction_lr is None:
            self.direction_lr = 0.01 if self.init == "hierarchy" and self.on_ball else 0.0

    @property
    def on_ball(self) -> bool:
        """Whether the points live on the Poincaré ball (else in flat space, the baseline)."""
        return self.manifold == "poincare"

    def validate(self) -> None:
        """Every option checked before training; messages name the ``embed`` options."""
        require_choice("manifold", self.manifold, MANIFOLDS)
        require_choice("init", self.init, INITS)
        require_at_least(1, dim=self.dim, epochs=self.epochs, negatives=self.negatives)
        require_at_least(1, batch_size=self.batch_size)
        require_positive(lr=self.lr, burnin_lr_factor=self.burnin_lr_factor)
        require_at_least(0, burnin=self.burnin_epochs)
        require_positive(init_step=self.init_step, init_spread=self.init_spread)
        require_within(0, 1, include_low=False, init_decay=self.init_decay)  # 1: no decay
        require_positive(init_link_gap=self.init_link_gap)  # None: no pull along links
        require_not_negative(direction_lr=self.direction_lr)
        if self.direction_lr > 0 and not self.on_ball:
            raise InputError("--direction-lr applies to the Poincaré ball only; set it to 0")
        require_choice("dtype", self.dtype, DTYPES)
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or not 0 <= self.seed < SEED_LIMIT
        ):
            raise InputError(  # NumPy refuses negative seeds, torch those of 64 bits and more
                f"--seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}"
            )


def linear_decay(epochs: int, start: int, final: float) -> list[float]:
    """Factors of the learning rates per epoch: 1 before epoch ``start`` (counted from 0), then
    falling linearly to ``final`` in the last epoch.

    Steps at a constant rate leave every point jittering about where its pairs pull it; the
    small steps at the end let the points settle, which ranks the ancestors of the all-nouns
    embedding markedly better (docs/benchmarks.md).
    """
    require_at_least(1, epochs=epochs)
    require_within(0, epochs, include_high=False, decay_from=start)
    require_within(0, 1, include_low=False, decay_to=final)
    span = epochs - start
    return [1.0] * start + [1.0 - (1.0 - final) * (i + 1) / span for i in range(span)]
