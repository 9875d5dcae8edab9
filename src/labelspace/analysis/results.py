"""``RUN/analysis.json``: what ``labelspace analyze`` found about a run, read back by the
commands that use it (``predict`` takes its fitted temperature) and by reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ANALYSIS_FILE = "analysis.json"


def read_analysis(run: Path) -> dict[str, Any] | None:
    """The run's analysis, or None before ``labelspace analyze`` has run."""
    path = Path(run) / ANALYSIS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def fitted_temperature(run: Path) -> float | None:
    """The temperature that made the run's scores probabilities for back-off (fitted on its
    validation split by ``labelspace analyze``), or None: none fitted yet, or the method has
    probabilities of its own."""
    return (read_analysis(run) or {}).get("backoff", {}).get("temperature")
