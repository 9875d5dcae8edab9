"""Fixtures shared by the test modules: the Fashion-MNIST hierarchy, and one tiny trained run
per method, trained once per session on a little of the real Fashion-MNIST.

A test that only reads a run takes it from ``trained_runs``; a test that changes a run (adds a
calibration, damages a file) works on a copy (``trained_runs.copy``). Tests that need a run
trained with other options (unseen classes, another embedding) train their own.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from labelspace.training.config import TrainConfig

# two short epochs on 1,024 images (a tenth held out for validation), 200 test images
TINY_RUN = TrainConfig(epochs=2, batch_size=64, train_limit=1024, test_limit=200, embedding_dim=5)


class TrainedRuns:
    """Finished runs of :data:`TINY_RUN`, one per method, each trained on first request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._metrics: dict[str, dict[str, Any]] = {}

    def config(self, method: str) -> TrainConfig:
        return replace(TINY_RUN, method=method)

    def __call__(self, method: str) -> Path:
        """The finished run of ``method`` (read it, never change it: see :meth:`copy`)."""
        import labelspace

        run = self.root / method
        if method not in self._metrics:
            self._metrics[method] = labelspace.train(self.config(method), run)
        return run

    def metrics(self, method: str) -> dict[str, Any]:
        """What training returned (the run's metrics.json)."""
        self(method)
        return self._metrics[method]

    def copy(self, method: str, to: Path) -> Path:
        """A copy of the run of ``method`` at ``to``, for a test that changes it."""
        shutil.copytree(self(method), to)
        return to


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory: pytest.TempPathFactory) -> TrainedRuns:
    return TrainedRuns(tmp_path_factory.mktemp("trained-runs"))


@pytest.fixture(scope="session")
def fashion():
    """The Fashion-MNIST classes' WordNet hierarchy."""
    from labelspace.hierarchy.sources import load_source

    return load_source("fashion-mnist").hierarchy
