"""How ``labelspace analyze`` probes a run: :class:`AnalysisConfig` and its defaults.

The CLI reads its defaults from here. Kept free of torch so that the command line can show
its options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelspace.errors import InputError

ATTACKS = ("fgsm", "pgd")
FEATURE_MAPS = ("tsne", "pca")
DEFAULT_EPS = "0,1/255,2/255,4/255,8/255"  # attack budgets in pixel units (pixels in [0, 1])


def parse_eps(text: str) -> tuple[float, ...]:
    """``"0,1/255,0.03"`` -> ``(0.0, 0.0039, 0.03)``; a clear error for anything else."""
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        num, _, den = part.partition("/")
        try:
            value = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            raise InputError(f"--eps: {part!r} is not a number or a fraction like 8/255") from None
        if not 0 <= value <= 1:
            raise InputError(f"--eps: {part} is outside [0, 1] (pixels are in [0, 1])")
        values.append(value)
    if not values:
        raise InputError("--eps needs at least one budget, e.g. 0,8/255")
    return tuple(values)


@dataclass(frozen=True)
class AnalysisConfig:
    """How much of the test set each analysis uses, and the attack's settings."""

    attack: str = "pgd"
    eps: tuple[float, ...] = parse_eps(DEFAULT_EPS)
    attack_steps: int = 10
    attack_images: int = 500
    feature_images: int = 1000
    feature_map: str = "tsne"
    seed: int = 0
    multi: bool = False  # also label sets on single and composite test images
    multi_images: int = 1000
    coverage: float = 0.9  # label sets hold the class of this share of validation images
    saliency: bool = False  # also where the model looks, against object boxes
    saliency_images: int = 500
    saliency_method: str = "gradcam"

    def __post_init__(self) -> None:
        if self.attack not in ATTACKS:
            raise InputError(f"unknown attack {self.attack!r}; use one of {', '.join(ATTACKS)}")
        if self.feature_map not in FEATURE_MAPS:
            raise InputError(
                f"unknown feature map {self.feature_map!r}; use {' or '.join(FEATURE_MAPS)}"
            )
        if not self.eps or any(not 0 <= e <= 1 for e in self.eps):
            raise InputError(f"attack budgets must lie in [0, 1] (pixel units), got {self.eps}")
        if self.attack_steps < 1 or self.attack_images < 1 or self.feature_images < 10:
            raise InputError("need attack steps >= 1, attack images >= 1 and feature images >= 10")
        if self.multi_images < 2:
            raise InputError(f"--multi-images must be >= 2, got {self.multi_images}")
        if self.saliency_method not in ("gradcam", "ig"):
            raise InputError(f"unknown saliency method {self.saliency_method!r}; use gradcam or ig")
        if self.saliency_images < 1:
            raise InputError(f"--saliency-images must be >= 1, got {self.saliency_images}")
        if not 0 < self.coverage < 1:
            raise InputError(f"--coverage must lie strictly between 0 and 1, got {self.coverage}")
