"""What stops training from outside: a signal, at a step boundary, with a checkpoint that
``--resume`` reads; a DataLoader worker the system killed, as one line.

:class:`StopAtStep` is the run's callback: after each training step it checks for a signal
(:mod:`labelspace.signals`); if one came, it saves ``RUN/checkpoints/last.ckpt`` there, marked
with the epoch and the batches of it already trained, and raises
:class:`~labelspace.signals.Stopped`. Lightning's own SIGTERM handling would stop without a
checkpoint, also in the middle of validation, and exit with status 0, so on one device the
callback takes SIGTERM back when training starts; under DDP Lightning's handling stays (it
stops every rank at the same step) and the checkpoint kept is the last finished epoch's.

A resumed run continues that epoch: Lightning restores the step, the optimiser and the
schedule, and :func:`skip_trained_batches` makes the epoch's loader (the same seeded order)
start after the batches already trained, so each image is still seen once per epoch. Random
augmentations after the stop differ from those of an uninterrupted run, so its metrics are
close to, not equal to, that run's (a run resumed from an epoch's end matches it exactly).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from torch.utils.data import Sampler

from labelspace.files import WriteError
from labelspace.signals import Stopped, install, pending

STOP_KEY = "labelspace_stop"  # in a checkpoint saved at a signal: where in its epoch it stopped
# what Lightning says when a run resumes in the middle of an epoch (the loader handles it here)
MID_EPOCH_WARNING = "You're resuming from a checkpoint that ended before the epoch ended"


@dataclass(frozen=True)
class StopPoint:
    """Where a signal stopped training: 0-based epoch, batches of it trained, global step."""

    epoch: int
    batches: int
    step: int

    @classmethod
    def of(cls, checkpoint: dict[str, Any]) -> StopPoint | None:
        """The stop point a checkpoint was saved at (None: saved at an epoch's end)."""
        raw = checkpoint.get(STOP_KEY)
        if not isinstance(raw, dict):
            return None
        return cls(int(raw["epoch"]), int(raw["batches"]), int(raw["step"]))


class StopAtStep(Callback):
    """Saves ``checkpoint`` and raises :class:`Stopped` at the first step boundary after a
    signal (one device); ``saved`` is then where, ``save_error`` why it could not save."""

    def __init__(self, checkpoint: Path, *, mid_epoch: bool = False) -> None:
        self.checkpoint = checkpoint
        self.mid_epoch = mid_epoch  # resuming from a checkpoint saved at a signal
        self.saved: StopPoint | None = None
        self.save_error: WriteError | None = None
        self.epochs = 0
        self.batches = 0
        self._saving: StopPoint | None = None

    def on_train_start(self, trainer, module) -> None:
        self.epochs = int(trainer.max_epochs or 0)
        self.batches = int(trainer.num_training_batches)
        if trainer.world_size == 1:
            install()  # Lightning set its own SIGTERM handler just before this hook
        if self.mid_epoch:  # Lightning does not start an epoch it resumes: the model's own
            module.on_train_epoch_start()  # set-up of the epoch (seed, counters) runs here

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        signum = pending()
        if signum is None or trainer.world_size > 1:
            return
        point = StopPoint(trainer.current_epoch, batch_idx + 1, trainer.global_step)
        self._saving = point
        try:
            trainer.save_checkpoint(self.checkpoint, weights_only=False)  # all, to resume
            self.saved = point
        except WriteError as exc:  # a full disk: the last finished epoch's checkpoint stays
            self.save_error = exc
        finally:
            self._saving = None
        raise Stopped(signum)

    def on_save_checkpoint(self, trainer, module, checkpoint: dict[str, Any]) -> None:
        if self._saving is not None:
            point = self._saving
            checkpoint[STOP_KEY] = {
                "epoch": point.epoch,
                "batches": point.batches,
                "step": point.step,
            }


class _SkipFirst(Sampler[int]):
    """``sampler``'s indices, without the first ``skip`` of its next pass (later passes
    whole); ``set_epoch`` goes to ``sampler``."""

    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)


def skip_trained_batches(datamodule, batches: int) -> None:
    """Make the datamodule's next training pass start after its first ``batches`` batches
    (those a run stopped mid-epoch had trained); one device only."""
    make_loader = datamodule.train_dataloader

    def train_dataloader():
        loader = make_loader()
        index_batches = loader.batch_sampler  # a BatchSampler over the seeded order
        index_batches.sampler = _SkipFirst(index_batches.sampler, batches * loader.batch_size)
        return loader

    datamodule.train_dataloader = train_dataloader


# "DataLoader worker (pid 123) is killed by signal: Killed.", "... (pid(s) 1, 2) exited ..."
_WORKER_DIED = re.compile(r"DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\) (.*)")


def worker_died(exc: BaseException) -> str | None:
    """A DataLoader worker that died (the kernel's OOM killer, mostly) as one line, or None."""
    found = _WORKER_DIED.search(str(exc)) if isinstance(exc, RuntimeError) else None
    if found is None:
        return None
    how = found.group(2).split(". ")[0].rstrip(".")
    return (
        f"a DataLoader worker (pid {found.group(1)}) {how}: most often the system ran out of "
        "memory; use fewer --workers, --streaming, a smaller --image-size or --batch-size"
    )
