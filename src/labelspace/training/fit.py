"""Training a run: :func:`train` makes the run folder, fits the model with Lightning (one
device or DDP), and evaluates it.

Every input is validated (dataset, label space, model, device options) before the folder is
created, so a bad command leaves nothing behind; an existing folder is never replaced
without ``overwrite``, and a run that fails after its first checkpoint keeps it for
``--resume``.
"""

from __future__ import annotations

import csv
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelspace.files import atomic_write_json, first_missing, removed_on_failure
from labelspace.training.build import Prepared, prepare
from labelspace.training.config import DivergedError, RunError, TrainConfig
from labelspace.training.evaluate import finish
from labelspace.training.load import load_run
from labelspace.training.module import AtomicCheckpointIO
from labelspace.training.runs import (
    LAST_CHECKPOINT,
    LOG_FILE,
    TRAINING_FILE,
    RunFile,
    check_new_folder,
    check_resumable,
    input_spec,
    open_folder,
    read_checkpoint,
    write_run_file,
)

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import Callback

# what Lightning says about the folders a resumed run continues in (expected, so not shown)
RESUME_WARNINGS = (
    "Experiment logs directory .* exists and is not empty",
    "Checkpoint directory .* exists and is not empty",
    "The dirpath has changed from",
)


def train(
    config: TrainConfig,
    run: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_progress=None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train (or resume) a run and evaluate it on the test set; returns the metrics.

    ``callbacks`` are Lightning callbacks added to the run's own (early stopping, loggers of
    your own, fault injection in tests).

    Everything is checked before the folder is made. A run that fails before its first
    checkpoint (bad luck, divergence, Ctrl-C) leaves no folder behind; one that fails later
    keeps its last good checkpoint for ``--resume``."""
    run = Path(run)
    # Lightning's DDP launcher reruns this command in one child process per extra device; the
    # first process has made the folder already, so a child only trains
    ddp_child = int(os.environ.get("LOCAL_RANK", "0")) > 0
    if resume:
        check_resumable(run)
        saved = load_run(run, ("config",))
        config = saved.config
    elif not ddp_child:
        check_new_folder(run, overwrite=overwrite)  # fail before the slow part
    prepared = prepare(config, on_progress=on_progress)
    trainer = _build_trainer(config, run, prepared, progress, callbacks)
    first_epoch = 0  # a resumed run trains only the epochs after its checkpoint
    if resume:
        first_epoch = min(int(read_checkpoint(run)["epoch"]) + 1, config.epochs)
    created = not resume and not ddp_child
    # a run that fails before its first checkpoint removes its folder and the parents it made
    made = (first_missing(run) or run) if created else None
    if created:  # outside the clean-up: a folder another process made first is not ours
        open_folder(run, overwrite=overwrite)
    with removed_on_failure(made, keep=(run / LAST_CHECKPOINT).is_file):
        if created:
            _write_run_files(run, prepared)
        elif resume and saved.classes != prepared.space.classes:
            raise RunError(f"{run} was trained on other classes than the data gives now")
        start = time.perf_counter()
        try:
            _fit(trainer, prepared, run, resume, first_epoch, rank_zero=not ddp_child)
        except DivergedError as exc:
            state = (
                f"{run / LAST_CHECKPOINT} keeps the last good epoch (--resume continues from it "
                "with the same options; --overwrite starts again)"
                if (run / LAST_CHECKPOINT).is_file()
                else "Nothing was kept: no epoch had finished"
            )
            raise DivergedError(f"{exc}. {state}") from None
        train_seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        return {}
    epochs_run = config.epochs - first_epoch
    training = {
        "train_seconds": round(train_seconds, 2),
        "train_images_per_second": round(
            len(prepared.train_set) * max(epochs_run, 1) / train_seconds, 1
        ),
        "resumed": resume,
    }
    atomic_write_json(run / TRAINING_FILE, training)
    try:
        return finish(run, prepared, **training)
    except Exception as exc:  # the trained model is kept whatever stops its evaluation
        raise RunError(
            f"{run}: training finished and {LAST_CHECKPOINT} is kept, but evaluating it failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else '-'}); fix the "
            f"cause and run `labelspace evaluate {run}` to finish the run without training again"
        ) from exc


def _build_trainer(
    config: TrainConfig,
    run: Path,
    prepared: Prepared,
    progress: bool,
    callbacks: Sequence[Callback] = (),
):
    """The Lightning trainer; built before the folder is made, since it checks the device
    options (``--accelerator gpu`` without a GPU, an unknown ``--strategy``)."""
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    try:
        return L.Trainer(
            default_root_dir=run,
            max_epochs=config.epochs,
            accelerator=config.accelerator,
            devices=config.devices,
            strategy=config.strategy,
            precision=config.precision,
            # every row on disk when it is logged: a run killed later keeps it for --resume
            logger=CSVLogger(run, name="logs", version="", flush_logs_every_n_steps=1),
            callbacks=[
                # without a monitored metric, top-1 of 1 is "the latest": last.ckpt every epoch
                ModelCheckpoint(
                    dirpath=run / "checkpoints",
                    filename="last",
                    save_top_k=1,
                    every_n_epochs=1,
                    enable_version_counter=False,
                ),
                *callbacks,
            ],
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=False,
            log_every_n_steps=min(20, prepared.module.optim.steps_per_epoch),
        )
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise RunError(
            f"--accelerator {config.accelerator} --devices {config.devices} --strategy "
            f"{config.strategy} --precision {config.precision}: {str(exc).splitlines()[0]}"
        ) from None


def _logged_before(run: Path, first_epoch: int) -> list[dict[str, str]]:
    """The rows of ``logs/metrics.csv`` from the epochs a resumed run does not train again."""
    path = run / LOG_FILE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if r.get("epoch") and int(float(r["epoch"])) < first_epoch]


def _fit(
    trainer, prepared: Prepared, run: Path, resume: bool, first_epoch: int, *, rank_zero: bool
) -> None:
    """``trainer.fit``; a resumed run continues from its checkpoint and keeps its log rows."""
    with warnings.catch_warnings():
        if resume:  # Lightning warns that the folders it resumes into are not empty
            for message in RESUME_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
        if prepared.config.freeze_backbone:  # a frozen backbone stays in eval mode: expected
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        if resume and rank_zero:  # Lightning's CSV logger starts a new file: keep earlier rows
            trainer.logger.experiment.metrics[:0] = _logged_before(run, first_epoch)
            trainer.logger.save()
        trainer.fit(
            prepared.module,
            datamodule=prepared.datamodule,
            ckpt_path=str(run / LAST_CHECKPOINT) if resume else None,
        )


def _write_run_files(run: Path, prepared: Prepared) -> None:
    """config.yaml (what was asked, the classes, the input spec) and the label embedding."""
    space = prepared.space
    write_run_file(
        run, RunFile(prepared.config, space.classes, space.synsets, input_spec(prepared.data))
    )
    space.save_embedding(run)
