"""Runs: one folder per trained model, holding everything its report needs.

::

    RUN/config.yaml             what was asked (reload it to rebuild the model)
    RUN/embedding.safetensors   the label embedding the run used (if any)
    RUN/checkpoints/last.ckpt   weights + optimiser state after the last finished epoch
    RUN/logs/                   Lightning CSV logs (loss and validation accuracy per epoch)
    RUN/predictions.safetensors test-set class scores and targets
    RUN/training.json           training time (written when training ends)
    RUN/metrics.json            test metrics, timings, skipped files (the run is finished)
    RUN/analysis.json           back-off, attacks and features (``labelspace analyze``)

Reports are written by ``labelspace compare`` into the comparison folder, from these files.

Every input is validated (dataset, label space, model) before the folder is created, so a bad
command leaves nothing behind; an existing folder is never replaced without ``overwrite``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from safetensors.torch import load_file, save_file

from labelspace.data.module import steps_per_epoch
from labelspace.embeddings.space import EMBEDDING_FILE, LabelSpace, build_label_space
from labelspace.errors import OutputExistsError
from labelspace.files import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    check_output,
    first_missing,
    removed_on_failure,
)
from labelspace.models.methods import get_method
from labelspace.training.config import DivergedError, RunError, TrainConfig
from labelspace.training.module import (
    AtomicCheckpointIO,
    LabelSpaceClassifier,
    LabelSpaceNet,
    OptimConfig,
    Predictions,
    predict,
)

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.safetensors"
LAST_CHECKPOINT = "checkpoints/last.ckpt"
LOG_FILE = "logs/metrics.csv"
TRAINING_FILE = "training.json"  # training time, written before the model is evaluated
# what Lightning says about the folders a resumed run continues in (expected, so not shown)
RESUME_WARNINGS = (
    "Experiment logs directory .* exists and is not empty",
    "Checkpoint directory .* exists and is not empty",
    "The dirpath has changed from",
)
# zero-shot figures that need scores for the unseen classes
UNSEEN_FIGURES = ("zsl_", "gzsl_unseen_", "gzsl_h_")

__all__ = [
    "CONFIG_FILE",
    "LAST_CHECKPOINT",
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "RunError",
    "TrainConfig",
    "evaluate_run",
    "load_model",
    "load_run",
    "prepare",
    "train",
]


# --------------------------------------------------------------------------- building blocks
@dataclass
class Prepared:
    """The validated pieces of a run, before anything is written."""

    config: TrainConfig
    data: Any  # labelspace.data.ImageData
    space: LabelSpace
    module: LabelSpaceClassifier
    datamodule: Any  # labelspace.data.module.ImageDataModule

    @property
    def train_set(self) -> Any:
        return self.datamodule.train_set

    @property
    def val_set(self) -> Any:
        return self.datamodule.val_set

    @property
    def test_set(self) -> Any:
        return self.datamodule.test_set


def _embedding_spec(config: TrainConfig) -> str | None:
    method = get_method(config.method)
    if not method.uses_embedding:
        return None
    return config.embedding or method.embedding


def build_module(
    config: TrainConfig,
    space: LabelSpace,
    in_chans: int,
    image_size: int,
    steps: int = 1,
) -> LabelSpaceClassifier:
    from labelspace.models.backbones import create_backbone, freeze_backbone

    method = get_method(config.method)
    torch.manual_seed(config.seed)  # the same seed gives every method the same initial backbone
    backbone, features = create_backbone(
        config.backbone, in_chans, image_size, pretrained=config.pretrained
    )
    if config.freeze_backbone:
        freeze_backbone(backbone)
    head, criterion = method.build(features, space, config.options)
    if config.unseen:
        from labelspace.metrics.zeroshot import resolve_unseen

        unseen = set(resolve_unseen(config.unseen, space.classes, space.synsets))
        criterion.restrict_to(
            [t for t in range(space.num_classes) if t not in unseen], space.num_classes
        )
    optim = OptimConfig(config.optimizer, config.lr, config.weight_decay, config.epochs, steps)
    return LabelSpaceClassifier(
        LabelSpaceNet(backbone, head), criterion, method, optim, seed=config.seed
    )


def prepare(config: TrainConfig, *, on_progress=None) -> Prepared:
    """Load the data, build the label space and the model; raises before writing anything.

    Every check that could fail after training (the hierarchy of the classes, the label
    embedding, the options) runs here, so a run never trains for minutes and then fails."""
    from labelspace.data import load_dataset
    from labelspace.data.module import ImageDataModule

    config.validate()
    data = load_dataset(
        config.data,
        root=config.root,
        mapping=config.mapping,
        skip_corrupt=config.skip_corrupt,
        download=config.download,
        augment=config.augment,
        on_progress=on_progress,
        image_size=config.image_size,
        storage=config.storage,
    )
    unseen: list[int] = []
    if config.unseen:  # checked before a label embedding is trained for these classes
        from labelspace.metrics.zeroshot import resolve_unseen

        unseen = resolve_unseen(config.unseen, data.classes, data.synsets)
    space = build_label_space(
        data.name,
        data.classes,
        data.synsets,
        _embedding_spec(config),
        dim=config.embedding_dim,
        seed=config.seed,
    )
    datamodule = ImageDataModule(
        data,
        batch_size=config.batch_size,
        seed=config.seed,
        val_fraction=config.val_fraction,
        train_limit=config.train_limit,
        test_limit=config.test_limit,
        unseen=unseen,
        workers=config.workers,
    )
    world = config.devices if isinstance(config.devices, int) else 1
    steps = steps_per_epoch(len(datamodule.train_set), config.batch_size, world)
    module = build_module(config, space, data.in_chans, data.image_size[0], steps)
    if config.init_from:
        _load_backbone(module, Path(config.init_from))
    return Prepared(config, data, space, module, datamodule)


def _load_backbone(module: LabelSpaceClassifier, run: Path) -> None:
    """Two-stage training: start from the backbone of another run (its head is dropped)."""
    state = load_weights(run)
    backbone = {
        k[len("net.backbone.") :]: v for k, v in state.items() if k.startswith("net.backbone.")
    }
    try:
        module.net.backbone.load_state_dict(backbone)
    except RuntimeError as exc:
        raise RunError(
            f"--init-from {run}: its backbone does not fit this one (same --backbone and data "
            f"needed): {str(exc).splitlines()[0]}"
        ) from None


def load_weights(run: Path) -> dict[str, torch.Tensor]:
    """The weights of the run's last checkpoint; a missing or damaged file is a clear error."""
    ckpt = run / LAST_CHECKPOINT
    if not ckpt.is_file():
        raise RunError(
            f"{run} has no {LAST_CHECKPOINT}: not a finished or resumable run; train it first "
            "(labelspace train)"
        )
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    except Exception as exc:  # torch raises many types for damaged files (EOF, unpickling)
        raise RunError(
            f"{ckpt} is damaged ({type(exc).__name__}: {(str(exc) or '-').splitlines()[0][:120]}); "
            "train the run again with --overwrite"
        ) from None
    return state


# --------------------------------------------------------------------------- the run folder
@dataclass(frozen=True)
class RunFile:
    """A run's config.yaml, checked: the training options, the classes and the input spec."""

    config: TrainConfig
    classes: list[str]
    synsets: list[str]
    input: dict[str, Any]


INPUT_KEYS = ("in_chans", "image_size", "mean", "std")


def read_run(run: Path) -> RunFile:
    """Read and check ``RUN/config.yaml``; a damaged file is named as such, with the fix."""
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run} is not a labelspace run (no {CONFIG_FILE})")

    def damaged(why: str) -> RunError:
        return RunError(f"{path} is damaged ({why}); train the run again with --overwrite")

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise damaged(f"not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("train"), dict):
        raise damaged("no 'train' section")
    classes, synsets, spec = raw.get("classes"), raw.get("synsets"), raw.get("input")
    names_ok = all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in (classes, synsets)
    )
    if not names_ok or len(classes) != len(synsets) or len(classes) < 2:
        raise damaged("its 'classes' and 'synsets' are not two lists of names of one length")
    if not isinstance(spec, dict) or not set(INPUT_KEYS) <= set(spec):
        raise damaged(f"its 'input' lacks one of {', '.join(INPUT_KEYS)}")
    try:
        config = TrainConfig.from_dict(raw["train"])
        # the first stage of a two-stage run, or the pretrained weights, may have been deleted
        # since: this run does not need them any more
        replace(config, init_from=None, pretrained=None).validate()
    except RunError:
        raise
    except (TypeError, ValueError) as exc:
        raise damaged(f"its training options: {exc}") from None
    return RunFile(config, classes, synsets, spec)


def read_config(run: Path) -> TrainConfig:
    """The training options of a run (``RUN/config.yaml``, checked)."""
    return read_run(run).config


def _check_new_folder(run: Path, *, overwrite: bool) -> None:
    """Refuse, before any work, a RUN that would replace a run without ``--overwrite``."""
    check_output(run, overwrite=True, option="RUN", folder=True)  # not a file, nor below one
    if overwrite or not run.exists() or not any(run.iterdir()):
        return
    if (run / METRICS_FILE).is_file():
        raise OutputExistsError(
            f"{run} holds a finished run; pass --overwrite to replace it "
            "(`labelspace evaluate` re-evaluates it as it is)"
        )
    if (run / TRAINING_FILE).is_file() and (run / LAST_CHECKPOINT).is_file():
        raise OutputExistsError(
            f"{run} holds a trained run that was not evaluated; `labelspace evaluate {run}` "
            "finishes it, --overwrite replaces it"
        )
    if (run / LAST_CHECKPOINT).is_file():
        raise OutputExistsError(
            f"{run} holds an unfinished run; pass --resume to continue it from its last "
            "checkpoint or --overwrite to replace it"
        )
    raise OutputExistsError(
        f"{run} exists but holds no checkpoint to resume from (a run stopped before its first "
        "epoch ended, or another folder); pass --overwrite to replace it"
    )


def _check_resumable(run: Path) -> None:
    if not run.is_dir():
        raise RunError(f"cannot resume {run}: no such run folder")
    if not (run / LAST_CHECKPOINT).is_file():
        raise RunError(
            f"cannot resume {run}: it has no {LAST_CHECKPOINT} (it stopped before its first "
            "epoch ended); pass --overwrite instead of --resume to start it again"
        )


def _open_folder(run: Path, *, overwrite: bool) -> None:
    """Create the run folder (replacing an old run only with ``overwrite``)."""
    _check_new_folder(run, overwrite=overwrite)  # again: another process may have been quicker
    if run.exists() and any(run.iterdir()):
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)


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
        _check_resumable(run)
        saved = read_run(run)
        config = saved.config
    elif not ddp_child:
        _check_new_folder(run, overwrite=overwrite)  # fail before the slow part
    prepared = prepare(config, on_progress=on_progress)
    trainer = _build_trainer(config, run, prepared, progress, callbacks)
    first_epoch = 0  # a resumed run trains only the epochs after its checkpoint
    if resume:
        ckpt = torch.load(run / LAST_CHECKPOINT, map_location="cpu", weights_only=True)
        first_epoch = min(int(ckpt["epoch"]) + 1, config.epochs)
    created = not resume and not ddp_child
    # a run that fails before its first checkpoint removes its folder and the parents it made
    made = (first_missing(run) or run) if created else None
    if created:  # outside the clean-up: a folder another process made first is not ours
        _open_folder(run, overwrite=overwrite)
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
    atomic_write_text(
        run / CONFIG_FILE,
        yaml.safe_dump(
            {
                "train": prepared.config.to_dict(),
                "classes": prepared.space.classes,
                "synsets": prepared.space.synsets,
                "input": input_spec(prepared.data),
            },
            sort_keys=False,
            allow_unicode=True,
        ),
    )
    prepared.space.save_embedding(run)


def predict_set(prepared: Prepared, dataset: Any, *, keep_features: bool = False) -> Predictions:
    """Class scores of a run's model on one of its sets, with its accelerator and precision
    (evaluation uses one device)."""
    config = prepared.config
    return predict(
        prepared.module,
        dataset,
        accelerator=config.accelerator,
        precision=config.precision,
        workers=prepared.datamodule.workers,
        keep_features=keep_features,
    )


def finish(
    run: Path,
    prepared: Prepared,
    *,
    train_seconds: float | None = None,
    train_images_per_second: float | None = None,
    resumed: bool = False,
) -> dict[str, Any]:
    """Evaluate the run's final weights on the test set and write predictions and metrics."""
    from labelspace.metrics.hierarchical import summarize

    preds = predict_set(prepared, prepared.test_set)
    if not bool(torch.isfinite(preds.scores).all()):
        raise DivergedError(
            f"{run}: its weights give non-finite class scores, so its training diverged; "
            "train it again with --overwrite and a lower --lr"
        )
    metrics = summarize(preds.scores, preds.targets, prepared.space.lca_height, preds.probs)
    zero_shot = None
    if prepared.config.unseen:
        from labelspace.metrics.zeroshot import resolve_unseen, zero_shot_metrics

        space = prepared.space
        unseen = resolve_unseen(prepared.config.unseen, space.classes, space.synsets)
        zero_shot = {
            "unseen": [space.classes[t] for t in unseen],
            **zero_shot_metrics(preds.scores, preds.targets, unseen),
        }
        if not get_method(prepared.config.method).uses_embedding:
            # a head with one output per trained class has no score for a class it never saw:
            # figures on unseen classes would be ties broken by index, so they are not given
            zero_shot = {
                k: float("nan") if k.startswith(UNSEEN_FIGURES) else v for k, v in zero_shot.items()
            }
            zero_shot["note"] = (
                f"{prepared.config.method} cannot score classes it never saw (its head has no "
                "output for them): only the seen-class figures are measured"
            )
    tensors = {"scores": preds.scores.contiguous(), "targets": preds.targets.contiguous()}
    atomic_write(run / PREDICTIONS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    result: dict[str, Any] = {
        "method": prepared.config.method,
        "data": prepared.data.name,
        "test": metrics,
        **({"zero_shot": zero_shot} if zero_shot else {}),
        "test_images": len(preds.targets),
        "train_images": len(prepared.train_set),
        "data_storage": prepared.data.storage,
        "eval_images_per_second": round(preds.images_per_second, 1),
        "skipped_files": list(prepared.data.skipped),
    }
    if train_seconds is not None:
        result["train_seconds"] = round(train_seconds, 2)
        result["train_images_per_second"] = round(train_images_per_second or 0.0, 1)
        result["resumed"] = resumed
    atomic_write_json(run / METRICS_FILE, result)
    return result


def input_spec(data) -> dict[str, Any]:
    """What an image must look like for the model: channels, size, normalisation."""
    return {
        "in_chans": int(data.in_chans),
        "image_size": int(data.image_size[0]),
        "mean": [float(m) for m in data.mean],
        "std": [float(s) for s in data.std],
    }


@dataclass
class LoadedModel:
    """A run's model with its final weights, rebuilt without loading its dataset."""

    config: TrainConfig
    space: LabelSpace
    module: LabelSpaceClassifier
    input: dict[str, Any]


def load_model(run: Path) -> LoadedModel:
    """The run's label space and model with the weights of its last checkpoint."""
    run = Path(run)
    saved = read_run(run)
    config, spec = saved.config, saved.input
    embedding = str(run / EMBEDDING_FILE) if _embedding_spec(config) is not None else None
    space = build_label_space(config.data, saved.classes, saved.synsets, embedding)
    # the weights come from the checkpoint: the --pretrained file is not needed any more
    module = build_module(
        replace(config, pretrained=None), space, spec["in_chans"], spec["image_size"]
    )
    load_final_weights(module, run)
    return LoadedModel(config, space, module.eval(), spec)


def load_final_weights(
    module: LabelSpaceClassifier, run: Path, state: dict[str, torch.Tensor] | None = None
) -> None:
    """Load a run's last checkpoint into ``module``; any key mismatch is an error.

    Zero-shot runs saved before the losses learnt :meth:`restrict_to` wrapped their loss as
    ``criterion.inner``; those keys are read as the loss's own.
    """
    state = state if state is not None else load_weights(run)
    state = {k.replace("criterion.inner.", "criterion."): v for k, v in state.items()}
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that differ: the checkpoint is another model's
        missing, unexpected = [str(exc).splitlines()[-1].strip()], []
    if missing or unexpected:
        raise RunError(
            f"{run}: {LAST_CHECKPOINT} does not match the model its {CONFIG_FILE} describes "
            f"({(missing or unexpected)[:3]}); train the run again with --overwrite"
        )


def evaluate_run(run: Path, *, on_progress=None) -> dict[str, Any]:
    """Re-evaluate a run's final weights on its test set; keeps its training figures."""
    run = Path(run)
    prepared = load_run(run, on_progress=on_progress)
    previous: dict[str, Any] = {}
    for name in (METRICS_FILE, TRAINING_FILE):  # a finished run, or one whose evaluation failed
        if (run / name).is_file():
            previous = json.loads((run / name).read_text(encoding="utf-8"))
            break
    return finish(  # the training figures of the run are kept
        run,
        prepared,
        train_seconds=previous.get("train_seconds"),
        train_images_per_second=previous.get("train_images_per_second"),
        resumed=previous.get("resumed", False),
    )


def load_run(run: Path, *, on_progress=None) -> Prepared:
    """Rebuild a run's data, label space and model with its final weights."""
    run = Path(run)
    config = read_config(run)
    state = load_weights(run)  # a missing or damaged checkpoint is found before the data
    if (run / EMBEDDING_FILE).is_file() and _embedding_spec(config) is not None:
        config = replace(config, embedding=str(run / EMBEDDING_FILE))
    prepared = prepare(replace(config, init_from=None, pretrained=None), on_progress=on_progress)
    load_final_weights(prepared.module, run, state)
    prepared.module.eval()
    return prepared


def read_predictions(run: Path) -> Predictions:
    tensors = load_file(str(Path(run) / PREDICTIONS_FILE))
    return Predictions(tensors["scores"], tensors["targets"], None, None, float("nan"))
