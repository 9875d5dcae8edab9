"""Where labelspace keeps files it builds once and reuses (WordNet layout, noun graph, closures)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache directory: ``$LABELSPACE_CACHE`` or ``~/.cache/labelspace``."""
    root = os.environ.get("LABELSPACE_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "labelspace"
    path.mkdir(parents=True, exist_ok=True)
    return path
