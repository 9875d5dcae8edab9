"""Training with Lightning: the classifier module, its data loaders, and one call that trains.

Repeatability: every epoch re-seeds the global RNGs with ``seed + epoch`` and the sampler
shuffles with ``seed + epoch`` too, so an epoch depends only on the weights it starts from.
Checkpoints are written at the end of each epoch, so a run killed mid-epoch resumes from the
last finished epoch and ends exactly where an uninterrupted run would.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import geoopt
import lightning as L
import torch
import torchmetrics
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn
from torch.utils.data import Dataset

from labelspace.data.images import InMemoryImages
from labelspace.data.module import EVAL_BATCH_SIZE, PixelBatches, eval_loader
from labelspace.data.streaming import LazyImages
from labelspace.data.transforms import Normalize
from labelspace.errors import InputError
from labelspace.files import atomic_write
from labelspace.models.methods import Method
from labelspace.models.methods.base import ClassScoreLoss
from labelspace.training.config import OPTIMIZERS, DivergedError

log = logging.getLogger(__name__)

DIVERGENCE_CHECK_EVERY = 50  # training steps between two reads of the non-finite loss count


class LabelSpaceNet(nn.Module):
    """Backbone + head: images in, head outputs (logits or points of the label space) out."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim == 4:  # the backbones' convolutions are channels-last
            images = images.contiguous(memory_format=torch.channels_last)
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
    """The network and its criterion, which also turns outputs into class scores."""

    def __init__(
        self,
        net: LabelSpaceNet,
        criterion: ClassScoreLoss,
        method: Method,
        optim: OptimConfig,
        seed: int = 0,
        hparams: dict | None = None,
    ) -> None:
        super().__init__()
        if hparams is not None:
            # saved in every checkpoint (not logged): how to rebuild this model, as the
            # run's config.yaml says it
            self.save_hyperparameters(hparams, logger=False)
        self.net = net
        self.criterion = criterion  # a module: some losses own parameters (cosine-ce)
        self.method = method
        self.optim = optim
        self.seed = seed
        self.val_top1 = torchmetrics.classification.MulticlassAccuracy(
            criterion.num_classes, average="micro"
        )
        # a loss with several ways to decode (joint): each one's validation top-1, so that the
        # module keeps the best after every epoch (the choice is saved with the weights)
        self.val_decoder_top1 = nn.ModuleList(
            torchmetrics.classification.MulticlassAccuracy(criterion.num_classes, average="micro")
            for _ in criterion.decoders
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.criterion.scores(outputs)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor | None:
        return self.criterion.probabilities(scores)

    def on_train_epoch_start(self) -> None:
        # an epoch depends only on (seed, epoch) and the weights: resumed runs match
        L.seed_everything(self.seed + self.current_epoch, workers=True, verbose=False)
        self._train_nonfinite = torch.zeros((), dtype=torch.long, device=self.device)
        if self.frozen_backbone:  # a linear probe keeps its batch-norm statistics
            self.net.backbone.eval()

    @property
    def frozen_backbone(self) -> bool:
        return not any(p.requires_grad for p in self.net.backbone.parameters())

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        images, targets = batch
        loss = self.criterion(self(images), targets)
        # counted on the device, not synced per step: read every DIVERGENCE_CHECK_EVERY steps
        # (a diverged run stops early) and before the epoch's checkpoint is written
        self._train_nonfinite += (~torch.isfinite(loss)).long()
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if (batch_idx + 1) % DIVERGENCE_CHECK_EVERY == 0:
            self._check_training_loss()

    def _check_training_loss(self) -> None:
        bad = getattr(self, "_train_nonfinite", None)
        if bad is not None and int(bad) > 0:
            self._diverged(f"the training loss was not finite in {int(bad)} step(s)")

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> dict:
        images, targets = batch
        if images.dtype == torch.uint8:  # normalised here, on the device (see predict)
            images = self.input_transform(images)
        features = self.net.backbone(images)
        out = {"scores": self.scores(self.net.head(features)).float().cpu(), "targets": targets}
        if getattr(self, "keep_features", False):
            out["features"] = features.float().cpu()
        return out

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        images, targets = batch
        outputs = self(images)
        loss = self.criterion(outputs, targets)
        scores = self.scores(outputs)
        # counted on the device (no host sync per batch), checked once per validation epoch
        self._val_nonfinite += (~torch.isfinite(scores)).sum() + (~torch.isfinite(loss)).sum()
        self.val_top1(scores, targets)
        for metric, decoded in zip(
            self.val_decoder_top1, self.criterion.decoder_scores(outputs), strict=True
        ):
            metric.update(decoded, targets)
        self.log("val_loss", loss, on_epoch=True, sync_dist=True)
        self.log("val_top1", self.val_top1, on_epoch=True, prog_bar=True)

    def on_validation_epoch_start(self) -> None:
        self._val_nonfinite = torch.zeros((), dtype=torch.long, device=self.device)

    def on_validation_epoch_end(self) -> None:
        # the last optimiser step of an epoch can break the weights after the last training
        # loss was checked; this hook runs before the epoch's checkpoint is written, so a
        # broken model is stopped here and never replaces the last good checkpoint
        self._check_training_loss()
        if int(self._val_nonfinite) > 0:
            self._diverged("the model's validation loss or class scores are no longer finite")
        self._choose_decoder()

    def _choose_decoder(self) -> None:
        """Decode with the loss's best way on this epoch's validation set (ties: the first).

        The metrics are synced over DDP ranks, so every rank makes the same choice; it is
        made before the epoch's checkpoint is written, which therefore carries it."""
        if not self.val_decoder_top1:
            return
        top1 = [float(metric.compute()) for metric in self.val_decoder_top1]
        for name, value in zip(self.criterion.decoders, top1, strict=True):
            self.log(f"val_top1_{name}", value, sync_dist=False)
        for metric in self.val_decoder_top1:
            metric.reset()
        self.criterion.choose_best_decoder(top1)

    def _diverged(self, what: str) -> None:
        hint = "lower the learning rate (--lr)"
        if self.method.divergence_hint:
            hint += f" or {self.method.divergence_hint}"
        raise DivergedError(
            f"training diverged: {what} at epoch {self.current_epoch} "
            f"(step {self.global_step}); {hint}"
        )

    def configure_optimizers(self):
        cfg = self.optim
        opt = build_optimizer([p for p in self.parameters() if p.requires_grad], cfg)
        total = max(1, cfg.epochs * cfg.steps_per_epoch)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total, pct_start=0.15 if total > 20 else 0.3
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def build_optimizer(params: list[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW or SGD with Nesterov momentum; Riemannian versions when a parameter lives on a
    manifold (trainable Poincaré label points, a geoopt ``ManifoldParameter``).

    geoopt's optimisers take Euclidean steps for ordinary parameters, so one optimiser serves
    both. Its Adam couples weight decay into the gradient, so the AdamW variant applies
    decoupled decay to the Euclidean parameters itself (:class:`RiemannianAdamW`), exactly as
    torch's AdamW would; label points on the ball get no decay.
    """
    if cfg.optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {cfg.optimizer!r}; use {' or '.join(OPTIMIZERS)}")
    on_manifold = [p for p in params if isinstance(p, geoopt.ManifoldParameter)]
    flat = [p for p in params if not isinstance(p, geoopt.ManifoldParameter)]
    if cfg.optimizer == "sgd":
        sgd = geoopt.optim.RiemannianSGD if on_manifold else torch.optim.SGD
        return sgd(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)
    if not on_manifold:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    groups = [
        {"params": flat, "decoupled_weight_decay": cfg.weight_decay},
        {"params": on_manifold, "decoupled_weight_decay": 0.0},
    ]
    return RiemannianAdamW([g for g in groups if g["params"]], lr=cfg.lr)


class RiemannianAdamW(geoopt.optim.RiemannianAdam):
    """geoopt's RiemannianAdam with AdamW's decoupled weight decay per parameter group
    (``decoupled_weight_decay``): the decay is applied after the gradients are computed and
    before the Adam step, as torch's AdamW does."""

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                decay = group.get("decoupled_weight_decay", 0.0)
                for p in group["params"]:
                    if decay and p.grad is not None:
                        p.mul_(1.0 - group["lr"] * decay)
        super().step()
        return loss


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file and renames it into place, so a run killed
    while saving never leaves a truncated checkpoint behind."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        save = super().save_checkpoint
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: save(checkpoint, tmp, storage_options))


@dataclass
class Predictions:
    """Class scores on a dataset (rank by them), with targets and throughput."""

    scores: torch.Tensor  # (N, C), higher is better
    targets: torch.Tensor  # (N,)
    probs: torch.Tensor | None
    features: torch.Tensor | None
    images_per_second: float


class _ScoredImages(L.Callback):
    """Tells ``on_progress(done, total)`` how many images :func:`predict` has scored."""

    def __init__(self, on_progress, total: int, devices: int = 1) -> None:
        self.on_progress, self.total, self.done, self.devices = on_progress, total, 0, devices

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, *_: object) -> None:
        self.done += len(batch[1]) * self.devices  # each device scores its share alike
        self.on_progress(min(self.done, self.total), self.total)


def predict(
    module: LabelSpaceClassifier,
    dataset: Dataset,
    *,
    accelerator: str = "cpu",
    precision: str = "32-true",
    workers: int = 0,
    batch_size: int = EVAL_BATCH_SIZE,
    keep_features: bool = False,
    on_progress=None,
    trainer: L.Trainer | None = None,
) -> Predictions:
    """Scores of every image of ``dataset`` (evaluation mode, no augmentation).

    Runs through Lightning's ``Trainer.predict`` on one device, so ``accelerator`` and
    ``precision`` (a run's ``--accelerator`` and ``--precision``) apply to evaluation as they
    do to training; or with ``trainer``, the trainer that trained the model, on all its
    devices: under DDP every process scores its share and every process gets all the scores,
    in the dataset's order. ``on_progress(done, total)`` hears of every batch scored (a large
    test set takes minutes)."""
    if trainer is None:
        trainer = L.Trainer(
            accelerator=accelerator,
            devices=1,
            precision=precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[] if on_progress is None else [_ScoredImages(on_progress, len(dataset))],
        )
    elif on_progress is not None:
        trainer.callbacks.append(_ScoredImages(on_progress, len(dataset), trainer.world_size))
    total = len(dataset)
    module.keep_features = keep_features
    transform = getattr(dataset, "transform", None)
    if isinstance(dataset, (InMemoryImages, LazyImages)) and isinstance(transform, Normalize):
        # uint8 batches, normalised on the device in predict_step: a quarter of the bytes to
        # copy, and no per-image work in Python
        module.input_transform = transform
        dataset = PixelBatches(dataset)
    start = time.perf_counter()
    with warnings.catch_warnings():  # evaluation of a small set in the main process is fine
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        loader = eval_loader(
            dataset, batch_size, workers, pin_memory=trainer.strategy.root_device.type == "cuda"
        )
        batches = trainer.predict(module, dataloaders=loader)
    seconds = time.perf_counter() - start
    module.keep_features = False
    all_scores = torch.cat([b["scores"] for b in batches])
    targets = torch.cat([b["targets"] for b in batches]).cpu()
    features = torch.cat([b["features"] for b in batches]) if keep_features else None
    if trainer.world_size > 1:
        all_scores, targets, features = _in_dataset_order(
            trainer, total, all_scores, targets, features
        )
    return Predictions(
        scores=all_scores,
        targets=targets,
        probs=module.probabilities(all_scores),
        features=features,
        images_per_second=len(all_scores) / max(seconds, 1e-9),
    )


def _in_dataset_order(
    trainer: L.Trainer, total: int, *shares: torch.Tensor | None
) -> list[torch.Tensor | None]:
    """Every process's share of a prediction pass, gathered and put in the dataset's order.

    Lightning predicts through an unrepeated distributed sampler: process ``r`` scores
    images ``r, r + W, r + 2W, ...`` of ``W`` processes, so its ``j``-th row is image
    ``j * W + r``. Shares are padded to one length for the gather; the padding lands past the
    last image and is cut off."""
    world = trainer.world_size
    rows = -(-total // world)
    device = trainer.strategy.root_device
    out: list[torch.Tensor | None] = []
    for share in shares:
        if share is None:
            out.append(None)
            continue
        padded = share.new_zeros((rows, *share.shape[1:]))
        padded[: len(share)] = share
        gathered = trainer.strategy.all_gather(padded.to(device))  # (W, rows, ...)
        out.append(gathered.transpose(0, 1).reshape(-1, *share.shape[1:])[:total].cpu())
    return out
