"""Training with Lightning: the classifier module, its data loaders, and one call that trains.

Repeatability: every epoch re-seeds the global RNGs with ``seed + epoch`` and the sampler
shuffles with ``seed + epoch`` too, so an epoch depends only on the weights it starts from.
Checkpoints are written at the end of each epoch, so a run killed mid-epoch resumes from the
last finished epoch and ends exactly where an uninterrupted run would.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from labelspace.models.methods import Method, MethodOptions, class_probabilities, class_scores

log = logging.getLogger(__name__)


class LabelSpaceNet(nn.Module):
    """Backbone + head: images in, head outputs (logits or points of the label space) out."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule (AdamW or SGD with momentum; one-cycle lr per step)."""

    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 5e-4
    epochs: int = 5
    steps_per_epoch: int = 1


class LabelSpaceClassifier(L.LightningModule):
    """The network, its criterion and the rule that turns outputs into class scores."""

    def __init__(
        self,
        net: LabelSpaceNet,
        criterion: nn.Module,
        method: Method,
        options: MethodOptions,
        curvature: float,
        optim: OptimConfig,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.net = net
        self.criterion = criterion  # a module: some losses own parameters (cosine-ce)
        self.method = method
        self.options = options
        self.curvature = curvature
        self.optim = optim
        self.seed = seed

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return class_scores(self.method, self.criterion, outputs, self.curvature)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor | None:
        return class_probabilities(self.method, self.criterion, scores, self.options)

    def on_train_epoch_start(self) -> None:
        # an epoch depends only on (seed, epoch) and the weights: resumed runs match
        L.seed_everything(self.seed + self.current_epoch, workers=True, verbose=False)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        images, targets = batch
        loss = self.criterion(self(images), targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the {self.method.name} loss became {loss.item()} at epoch {self.current_epoch}; "
                "lower the learning rate (--lr) or, for poincare, raise --temperature"
            )
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        images, targets = batch
        outputs = self(images)
        loss = self.criterion(outputs, targets)
        top1 = (self.scores(outputs).argmax(-1) == targets).float().mean()
        self.log("val_loss", loss, on_epoch=True, sync_dist=True)
        self.log("val_top1", top1, on_epoch=True, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        cfg = self.optim
        if cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "sgd":
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True
            )
        else:
            raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use adamw or sgd")
        total = max(1, cfg.epochs * cfg.steps_per_epoch)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total, pct_start=0.15 if total > 20 else 0.3
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class EpochSeededSampler(Sampler[int]):
    """Shuffles with ``seed + epoch`` (Lightning calls :meth:`set_epoch` every epoch)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        # the global RNG drives the augmentations; Lightning may fetch the first batch before
        # any epoch hook runs, so the epoch's seed is set here, where iteration starts
        torch.manual_seed(self.seed + self.epoch)
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=gen).tolist())


def train_loader(dataset: Dataset, batch_size: int, seed: int, workers: int = 0) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSeededSampler(len(dataset), seed),
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=len(dataset) > batch_size,
    )


def eval_loader(dataset: Dataset, batch_size: int, workers: int = 0) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it into place, so a run killed
    while saving never leaves a truncated checkpoint behind."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


@dataclass
class Predictions:
    """Class scores on a dataset (rank by them), with targets and throughput."""

    scores: torch.Tensor  # (N, C), higher is better
    targets: torch.Tensor  # (N,)
    probs: torch.Tensor | None
    features: torch.Tensor | None
    images_per_second: float


@torch.no_grad()
def predict(
    module: LabelSpaceClassifier,
    dataset: Dataset,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    keep_features: bool = False,
) -> Predictions:
    """Scores of every image of ``dataset`` (evaluation mode, no augmentation)."""
    module = module.to(device).eval()
    scores, targets, feats = [], [], []
    start = time.perf_counter()
    for images, target in eval_loader(dataset, batch_size):
        images = images.to(device)
        features = module.net.backbone(images)
        outputs = module.net.head(features)
        scores.append(module.scores(outputs).float().cpu())
        targets.append(target)
        if keep_features:
            feats.append(features.float().cpu())
    seconds = time.perf_counter() - start
    all_scores = torch.cat(scores)
    return Predictions(
        scores=all_scores,
        targets=torch.cat(targets),
        probs=module.probabilities(all_scores),
        features=torch.cat(feats) if keep_features else None,
        images_per_second=len(all_scores) / max(seconds, 1e-9),
    )


def steps_per_epoch(num_images: int, batch_size: int, world_size: int) -> int:
    per_rank = math.ceil(num_images / max(world_size, 1))
    return max(1, per_rank // batch_size if per_rank > batch_size else 1)
