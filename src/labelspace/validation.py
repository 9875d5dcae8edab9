"""Option checks shared by every config: one way to refuse a value, in the command line's words.

Each config dataclass (``TrainConfig``, ``MethodOptions``, ``PoincareConfig``,
``AnalysisConfig``) has a ``validate()`` built from these helpers and nothing else, so an
out-of-range number or an unknown name gets the same sentence whichever stage checks it. The
keyword names are the command-line options (``batch_size`` is ``--batch-size``).
"""

from __future__ import annotations

import math
from collections.abc import Collection

from labelspace.errors import InputError


def flag(name: str) -> str:
    """The command-line spelling of an option's field name."""
    return "--" + name.replace("_", "-")


def require_at_least(low: int, **options: int | None) -> None:
    """Whole-number options (None: not given) must be >= ``low``."""
    for name, value in options.items():
        if value is not None and value < low:
            raise InputError(f"{flag(name)} must be >= {low}, got {value}")


def require_positive(**options: float | None) -> None:
    """Options (None: not given) that must be finite numbers > 0 (NaN and inf are refused)."""
    for name, value in options.items():
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{flag(name)} must be a finite number > 0, got {value}")


def require_not_negative(**options: float | None) -> None:
    """Options (None: not given) that must be finite numbers >= 0."""
    for name, value in options.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InputError(f"{flag(name)} must be a finite number >= 0, got {value}")


def require_within(
    low: float,
    high: float,
    *,
    include_low: bool = True,
    include_high: bool = True,
    **options: float | None,
) -> None:
    """Options (None: not given) that must lie between ``low`` and ``high``, each bound
    included unless said otherwise (NaN is refused)."""
    for name, value in options.items():
        if value is None:
            continue
        above = value >= low if include_low else value > low
        below = value <= high if include_high else value < high
        if not (above and below):
            interval = f"{'[' if include_low else '('}{low}, {high}{']' if include_high else ')'}"
            raise InputError(f"{flag(name)} must lie in {interval}, got {value}")


def require_open_unit(**options: float) -> None:
    """Options that must lie strictly between 0 and 1 (a fraction, a coverage)."""
    for name, value in options.items():
        if not 0 < value < 1:
            raise InputError(f"{flag(name)} must lie strictly between 0 and 1, got {value}")


def require_choice(name: str, value: object, choices: Collection[object]) -> None:
    """``value`` must be one of ``choices``; the error lists them."""
    if value not in choices:
        listed = ", ".join(str(c) for c in choices)
        raise InputError(f"unknown {flag(name)} {value!r}; use one of {listed}")


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (what a cell of a table of numbers must be)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
