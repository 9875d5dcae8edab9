"""The training progress bar, without a host sync at every step.

Lightning's bar shows the logged metrics (the training loss) and reads them at every step it
redraws; reading a tensor from an accelerator waits for all the work queued on it, so the
host cannot run ahead and prepare the next steps while the GPU works. :class:`ProgressBar`
reads them at most once per :data:`METRICS_EVERY` seconds and shows the last values read in
between; the step count still moves at every step.
"""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar

__all__ = ["METRICS_EVERY", "ProgressBar"]

METRICS_EVERY = 1.0  # seconds between two reads of the metrics the bar shows


class ProgressBar(RichProgressBar):
    """Lightning's Rich bar, reading the metrics it shows at most every ``every`` seconds."""

    def __init__(self, every: float = METRICS_EVERY) -> None:
        super().__init__()
        self.every = every
        self._read_at = float("-inf")
        self._metrics: dict[str, Any] = {}

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._read_at >= self.every or not self._metrics:
            self._metrics = super().get_metrics(trainer, pl_module)
            self._read_at = now
        return self._metrics
