"""Training a run: :func:`train` makes the run folder, fits the model with Lightning (one
device or DDP), and evaluates it.

Every input is validated (dataset, label space, model, device options) before the run is
written, so a bad command leaves nothing behind; an existing folder is never replaced
without ``overwrite``, and a run that fails after its first checkpoint keeps it for
``--resume``. The run folder's lock (:mod:`labelspace.locks`) is held from before anything is
written until the end, so a second process training or evaluating the same folder is refused.
SIGTERM and SIGINT stop training at the next step with a checkpoint there
(:mod:`labelspace.training.stopping`); the :class:`~labelspace.signals.Stopped` raised says
what was kept and how to go on.
"""

from __future__ import annotations

import contextlib
import csv
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelspace.files import WriteError, atomic_write_json, check_output, removed_on_failure
from labelspace.locks import folder_lock
from labelspace.signals import Stopped, deferred, pending, stop_on_signals
from labelspace.training.build import Prepared, prepare
from labelspace.training.config import DivergedError, RunError, TrainConfig
from labelspace.training.evaluate import finish, predict_set
from labelspace.training.load import load_run
from labelspace.training.module import AtomicCheckpointIO
from labelspace.training.progress_bar import ProgressBar
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
from labelspace.training.stopping import (
    MID_EPOCH_WARNING,
    StopAtStep,
    StopPoint,
    skip_trained_batches,
    worker_died,
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
    on_scoring=None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train (or resume) a run and evaluate it on the test set; returns the metrics.
    ``on_progress(done, total)`` hears the images decoded, ``on_scoring(done, total)`` the
    test images scored after training.

    ``callbacks`` are Lightning callbacks added to the run's own (early stopping, loggers of
    your own, fault injection in tests).

    Everything is checked before the run is written. A run that fails before its first
    checkpoint (bad luck, divergence, a full disk) leaves no folder behind; one that fails
    later keeps its last good checkpoint for ``--resume``. Another process holding the
    folder: :class:`~labelspace.locks.FolderInUseError`. A signal: :class:`Stopped`, after a
    checkpoint at the next step."""
    run = Path(run)
    # Lightning's DDP launcher reruns this command in one child process per extra device; the
    # first process has made the folder and holds its lock, so a child only trains
    ddp_child = int(os.environ.get("LOCAL_RANK", "0")) > 0
    if not resume and not ddp_child:
        check_output(run, overwrite=True, option="RUN", folder=True)  # not a file, nor below one
    state = _State()
    with stop_on_signals():
        lock = (
            contextlib.nullcontext()
            if ddp_child
            else folder_lock(run, create=not resume)  # a missing run to resume: named below
        )
        try:
            with lock as held:
                return _train(
                    config,
                    run,
                    state,
                    held,
                    resume,
                    overwrite,
                    ddp_child,
                    progress,
                    on_progress,
                    on_scoring,
                    callbacks,
                )
        except Stopped as stop:
            raise stop.explained(*_stopped(run, state, resume)) from None
        except WriteError as exc:
            raise exc.with_note(_kept(run, state)) from exc


class _State:
    """How far :func:`train` got, for the message of a run that stops."""

    def __init__(self) -> None:
        self.stage = "preparing"  # then "training", "evaluating"
        self.stopper: StopAtStep | None = None


def _train(
    config: TrainConfig,
    run: Path,
    state: _State,
    held,
    resume: bool,
    overwrite: bool,
    ddp_child: bool,
    progress: bool,
    on_progress,
    on_scoring,
    callbacks: Sequence[Callback],
) -> dict[str, Any]:
    """:func:`train` with the run's lock held."""
    ckpt = run / LAST_CHECKPOINT
    made = held.made if held is not None else None  # the folders taking the lock created
    created = not resume and not ddp_child
    with removed_on_failure(made, keep=ckpt.is_file):
        if resume:
            check_resumable(run)
            saved = load_run(run, ("config",))
            config = saved.config
        elif created:
            check_new_folder(run, overwrite=overwrite)  # fail before the slow part
        prepared = prepare(config, on_progress=on_progress)
        first_epoch, stopped_at = 0, None  # a resumed run trains only what its checkpoint lacks
        if resume:
            checkpoint = read_checkpoint(run)
            stopped_at = StopPoint.of(checkpoint)
            first_epoch = (
                stopped_at.epoch
                if stopped_at is not None
                else min(int(checkpoint["epoch"]) + 1, config.epochs)
            )
            del checkpoint
        state.stopper = StopAtStep(ckpt, mid_epoch=stopped_at is not None)
        trainer = _build_trainer(config, run, prepared, progress, [state.stopper, *callbacks])
        if created:
            open_folder(run, overwrite=overwrite)
        # a run that fails before its first checkpoint removes the folder it replaced
        replaced = run if created and made is None else None
        with removed_on_failure(replaced, keep=ckpt.is_file):
            if created:
                _write_run_files(run, prepared)
            elif resume and saved.classes != prepared.space.classes:
                raise RunError(f"{run} was trained on other classes than the data gives now")
            start = time.perf_counter()
            state.stage = "training"
            try:
                _fit(trainer, prepared, run, first_epoch, stopped_at, resume, not ddp_child)
            except DivergedError as exc:
                kept = (
                    f"{ckpt} keeps the last good epoch (--resume continues from it "
                    "with the same options; --overwrite starts again)"
                    if ckpt.is_file()
                    else "Nothing was kept: no epoch had finished"
                )
                raise DivergedError(f"{exc}. {kept}") from None
            train_seconds = time.perf_counter() - start
    if pending() is not None:  # a signal during the last validation: training had finished
        state.stage = "evaluating"
        raise Stopped(pending())
    state.stage = "evaluating"
    preds = None
    if trainer.world_size > 1:  # every process scores its share of the test set
        try:
            preds = predict_set(
                prepared,
                prepared.test_set,
                trainer=trainer,
                on_progress=on_scoring if trainer.is_global_zero else None,
            )
        except Exception as exc:
            raise _evaluation_failed(run, exc) from exc
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
        return finish(run, prepared, **training, on_progress=on_scoring, preds=preds)
    except WriteError:
        raise
    except Exception as exc:  # the trained model is kept whatever stops its evaluation
        raise _evaluation_failed(run, exc) from exc


def _evaluation_failed(run: Path, exc: Exception) -> RunError:
    """The error of a run whose model trained but whose evaluation failed (the model is kept)."""
    cause = worker_died(exc) or (
        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else '-'}"
    )
    return RunError(
        f"{run}: training finished and {LAST_CHECKPOINT} is kept, but evaluating it failed "
        f"({cause}); fix the cause and run `labelspace evaluate {run}` to finish the run "
        "without training again"
    )


def _stopped(run: Path, state: _State, resume: bool) -> tuple[str, str]:
    """What a run stopped by a signal kept, and how to go on: (status, hint)."""
    ckpt = run / LAST_CHECKPOINT
    go_on = f"`labelspace train {run} --resume` continues from there"
    stopper = state.stopper
    if state.stage == "evaluating":
        return (
            f"training had finished and {ckpt} holds the model",
            f"`labelspace evaluate {run}` finishes the run",
        )
    if state.stage == "training" and stopper is not None and stopper.saved is not None:
        point = stopper.saved
        return (
            f"saved {ckpt} at step {point.step} (epoch {point.epoch + 1} of {stopper.epochs}, "
            f"after {point.batches} of its {stopper.batches} batches)",
            go_on,
        )
    if state.stage == "preparing":  # nothing of the run was written yet
        if resume:
            return f"{run} is as it was", f"`labelspace train {run} --resume` continues it"
        return (f"{run} is as it was" if run.exists() else "nothing was kept"), ""
    why = ""
    if stopper is not None and stopper.save_error is not None:
        why = f"the checkpoint could not be saved ({stopper.save_error}); "
    if ckpt.is_file():
        return f"{why}{ckpt} keeps the run as of its last checkpoint", go_on
    return f"{why}no checkpoint had been saved, so nothing was kept", ""


def _kept(run: Path, state: _State) -> str:
    """What a run that failed for a full disk kept, and how to go on."""
    ckpt = run / LAST_CHECKPOINT
    if state.stage == "evaluating":
        return f"Training had finished and {ckpt} is kept: `labelspace evaluate {run}` finishes"
    if ckpt.is_file():
        return f"{ckpt} keeps the last finished epoch: --resume continues from it"
    return "Nothing was kept"


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
                *([ProgressBar()] if progress else []),
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


def _logged_before(
    run: Path, first_epoch: int, stopped_at: StopPoint | None
) -> list[dict[str, str]]:
    """The rows of ``logs/metrics.csv`` that a resumed run does not log again: those of the
    epochs before ``first_epoch``, and of the steps a run stopped mid-epoch had trained."""
    path = run / LOG_FILE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    def kept(row: dict[str, str]) -> bool:
        if not row.get("epoch"):
            return False
        epoch = int(float(row["epoch"]))
        if epoch < first_epoch:
            return True
        return (
            stopped_at is not None
            and epoch == stopped_at.epoch
            and bool(row.get("step"))
            and int(float(row["step"])) < stopped_at.step
        )

    return [r for r in rows if kept(r)]


def _fit(
    trainer,
    prepared: Prepared,
    run: Path,
    first_epoch: int,
    stopped_at: StopPoint | None,
    resume: bool,
    rank_zero: bool,
) -> None:
    """``trainer.fit``, with signals deferred to the next step; a resumed run continues from
    its checkpoint (in the middle of the epoch a signal stopped) and keeps its log rows."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with warnings.catch_warnings():
        if resume:  # Lightning warns that the folders it resumes into are not empty
            for message in RESUME_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
        if stopped_at is not None:  # the loader starts after the batches already trained
            warnings.filterwarnings("ignore", message=MID_EPOCH_WARNING)
            if trainer.world_size == 1:
                skip_trained_batches(prepared.datamodule, stopped_at.batches)
        if prepared.config.freeze_backbone:  # a frozen backbone stays in eval mode: expected
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        if resume and rank_zero:  # Lightning's CSV logger starts a new file: keep earlier rows
            trainer.logger.experiment.metrics[:0] = _logged_before(run, first_epoch, stopped_at)
            trainer.logger.save()
        try:
            with deferred():
                trainer.fit(
                    prepared.module,
                    datamodule=prepared.datamodule,
                    ckpt_path=str(run / LAST_CHECKPOINT) if resume else None,
                )
        except SIGTERMException:  # Lightning's own stop (under DDP): at an epoch's checkpoint
            raise Stopped(pending() or 15) from None
        except RuntimeError as exc:
            if pending() is not None and worker_died(exc):  # the signal reached a worker
                raise Stopped(pending()) from None
            message = worker_died(exc)
            if message is None:
                raise
            kept = run / LAST_CHECKPOINT
            raise RunError(
                f"{message}. "
                + (
                    f"{kept} keeps the last finished epoch (--resume continues it)"
                    if kept.is_file()
                    else "Nothing was kept"
                )
            ) from exc


def _write_run_files(run: Path, prepared: Prepared) -> None:
    """config.yaml (what was asked, the classes, the input spec) and the label embedding."""
    space = prepared.space
    write_run_file(
        run, RunFile(prepared.config, space.classes, space.synsets, input_spec(prepared.data))
    )
    space.save_embedding(run)
