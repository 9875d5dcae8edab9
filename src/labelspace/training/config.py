"""What a training run is asked to do: :class:`TrainConfig`, saved as the run's config.yaml.

The dataclass defaults are the defaults of ``labelspace train`` and ``labelspace compare``
(the CLI reads them from here). Kept free of torch so that the command line can show its
options without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from labelspace.errors import InputError
from labelspace.models.options import MethodOptions

OPTIMIZERS = ("adamw", "sgd")


class RunError(InputError):
    """A run folder, or a run's config, that cannot be used as asked."""


@dataclass
class TrainConfig:
    """Everything ``labelspace train`` needs; saved as the run's config.yaml."""

    data: str = "fashion-mnist"
    root: str | None = None
    mapping: str | None = None
    method: str = "softmax"
    embedding: str | None = None  # default: the method's; a kind or a .safetensors file
    embedding_dim: int = 32  # Poincaré image models: 32-d was closer to softmax than 10-d
    backbone: str = "small-cnn"
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 5e-4
    val_fraction: float = 0.1
    train_limit: int | None = None  # at most this many training images (and a share for val)
    test_limit: int | None = None
    seed: int = 0
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    workers: int = 0
    skip_corrupt: bool = False
    download: bool = False  # torchvision datasets only
    augment: str | None = None  # none | flip | crop | crop-flip; default: by image type
    init_from: str | None = None  # a run whose backbone starts this one (two-stage)
    unseen: list[str] = field(default_factory=list)  # zero-shot: classes kept out of training
    options: MethodOptions = field(default_factory=MethodOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise RunError(f"config has unknown keys: {', '.join(sorted(unknown))}")
        raw = dict(raw)
        raw["options"] = MethodOptions(**raw.get("options", {}))
        return cls(**raw)

    def validate(self) -> None:
        """Every option checked before any data is loaded or anything is written."""
        from labelspace.models.methods import get_method

        get_method(self.method)
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("--epochs and --batch-size must be >= 1")
        if not 0 < self.val_fraction < 1:
            raise InputError(f"--val-fraction must lie in (0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"unknown --optimizer {self.optimizer!r}; use {' or '.join(OPTIMIZERS)}"
            )
