"""Where the tests find the CIFAR-10 JPEG copy: $LABELSPACE_CIFAR10, else ../shared/data/cifar10
next to the checkout, else /work/shared/data/cifar10. Tests that need it skip without it."""

import os
from pathlib import Path


def cifar10_copy() -> Path:
    candidates = [
        os.environ.get("LABELSPACE_CIFAR10", ""),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10",
        "/work/shared/data/cifar10",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train").is_dir():
            return Path(candidate)
    return Path("/nonexistent/cifar10")
