"""The knobs of heads and losses, with their defaults, help and checks: the one place the CLI
reads them from.

Each field's metadata holds its command-line help (``help``), its check (``check``: a
:mod:`labelspace.validation` rule) and, for a field that may be ``None``, the command-line
value that stands for ``None`` (``none``). ``labelspace train`` and ``compare`` generate one
option per field from them (``label_radius`` is ``--label-radius``). Kept free of torch so
that the command line can show its options without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from labelspace.validation import require_not_negative, require_positive

CHECKS = {"positive": require_positive, "not_negative": require_not_negative}


def _option(default: Any, help: str, check: str | None = None, **extra: Any) -> Any:
    """A dataclass field with its command-line help and check."""
    return field(default=default, metadata={"help": help, "check": check, **extra})


@dataclass(frozen=True)
class MethodOptions:
    """Knobs of the heads and losses (recorded in the run's config); each method reads some
    (:attr:`labelspace.models.methods.Method.options`)."""

    temperature: float = _option(0.1, "Poincaré loss temperature.", "positive")
    clip_r: float = _option(2.3, "Hyperbolic head feature clipping radius.", "positive")
    label_radius: float | None = _option(
        3.0,
        "Poincaré: farthest class this far from the origin (0: as embedded).",
        "not_negative",
        none=0.0,
    )
    margin: float = _option(0.1, "devise: margin of the hinge rank loss.", "not_negative")
    beta: float = _option(
        4.0, "soft-labels: sharpness of the hierarchy's soft targets.", "not_negative"
    )
    alpha: float = _option(
        0.1, "hxe: discount of fine-grained mistakes along the path.", "not_negative"
    )
    ce_weight: float = _option(
        0.1, "cosine-ce: weight of the cross-entropy beside the cosine loss.", "not_negative"
    )
    prototype_weight: float = _option(
        1.0, "joint: weight of the Poincaré prototype loss beside cross-entropy.", "not_negative"
    )
    scale: float = _option(
        16.0, "frame: softmax over scale x cosine (inverse temperature).", "positive"
    )
    trainable_embedding: bool = _option(False, "Let the label vectors train too.")

    def validate(self) -> None:
        """Refuse a value no method can use, in the command line's words (exit status 2)."""
        for option in fields(self):
            check = option.metadata.get("check")
            if check is not None:
                CHECKS[check](**{option.name: getattr(self, option.name)})
