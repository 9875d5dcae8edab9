"""How ``labelspace analyze`` probes a run: :class:`AnalysisConfig` and its defaults.

The CLI reads its defaults from here. Kept free of torch so that the command line can show
its options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelspace.errors import InputError
from labelspace.validation import require_at_least, require_choice, require_open_unit

ATTACKS = ("fgsm", "pgd")
FEATURE_MAPS = ("tsne", "pca")
SALIENCY_METHODS = ("gradcam", "ig")
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
    """How much of the test set each analysis uses, and the attack's settings.

    Checked by :meth:`validate`, which every entry point (the CLI, :func:`analyze_run`,
    comparisons, the API) calls before it loads a run."""

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
    distances: str | None = None  # a published distance file: the cost of every mistake

    def validate(self) -> None:
        """Every option checked before a run is loaded or anything is written."""
        require_choice("attack", self.attack, ATTACKS)
        require_choice("feature_map", self.feature_map, FEATURE_MAPS)
        if not self.eps or any(not 0 <= e <= 1 for e in self.eps):
            raise InputError(f"--eps: budgets must lie in [0, 1] (pixel units), got {self.eps}")
        require_at_least(1, attack_steps=self.attack_steps, attack_images=self.attack_images)
        require_at_least(10, feature_images=self.feature_images)
        require_at_least(2, multi_images=self.multi_images)
        require_choice("saliency_method", self.saliency_method, SALIENCY_METHODS)
        require_at_least(1, saliency_images=self.saliency_images)
        require_open_unit(coverage=self.coverage)
