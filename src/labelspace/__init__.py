"""labelspace: image classifiers that know what their labels mean.

The names below are the Python API (:mod:`labelspace.api`, documented in docs/api.md). They
are loaded on first use, so that ``import labelspace`` (and the command line's ``--help``)
stays fast: torch is imported only when a function needs it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "AnalysisConfig",
    "LabelSpace",
    "LabelspaceError",
    "MethodOptions",
    "TrainConfig",
    "backoff",
    "compare",
    "evaluate",
    "label_space",
    "methods",
    "predict",
    "pretrained",
    "resume",
    "score",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from labelspace import api

        return getattr(api, name)
    raise AttributeError(f"module 'labelspace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
