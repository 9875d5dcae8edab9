"""Evaluating a run: class scores of its final weights on its test set, written as
``RUN/predictions.safetensors`` and the metrics of ``RUN/metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from labelspace.files import atomic_write_json
from labelspace.hierarchy.distances import TREE_COST
from labelspace.locks import holding_lock
from labelspace.models.methods import get_method
from labelspace.training.build import Prepared
from labelspace.training.config import DivergedError
from labelspace.training.load import Run, load_run
from labelspace.training.module import Predictions, predict
from labelspace.training.runs import METRICS_FILE, TRAINING_FILE, write_predictions

# zero-shot figures that need scores for the unseen classes
UNSEEN_FIGURES = ("zsl_", "gzsl_unseen_", "gzsl_h_")


def predict_set(
    run: Prepared | Run,
    dataset: Any,
    *,
    keep_features: bool = False,
    on_progress=None,
    trainer: Any = None,
) -> Predictions:
    """Class scores of a run's model on one of its sets, with its accelerator and precision:
    on one device, or on every device of ``trainer`` (the one that trained it, under DDP);
    ``on_progress(done, total)`` hears how many are scored."""
    config = run.config
    return predict(
        run.module,
        dataset,
        accelerator=config.accelerator,
        precision=config.precision,
        workers=run.datamodule.workers,
        keep_features=keep_features,
        on_progress=on_progress,
        trainer=trainer,
    )


def finish(
    run: Path,
    prepared: Prepared | Run,
    *,
    train_seconds: float | None = None,
    train_images_per_second: float | None = None,
    resumed: bool = False,
    on_progress=None,
    preds: Predictions | None = None,
) -> dict[str, Any]:
    """Evaluate the run's final weights on the test set and write predictions and metrics;
    ``on_progress(done, total)`` hears how many test images are scored. ``preds``: the test
    set's scores when they were already computed (on every device of a DDP run)."""
    from labelspace.metrics.hierarchical import summarize

    if preds is None:
        preds = predict_set(prepared, prepared.test_set, on_progress=on_progress)
    if not bool(torch.isfinite(preds.scores).all()):
        raise DivergedError(
            f"{run}: its weights give non-finite class scores, so its training diverged; "
            "train it again with --overwrite and a lower --lr"
        )
    space = prepared.space
    metrics = summarize(
        preds.scores, preds.targets, space.cost, preds.probs, max_distance=space.distance_max
    )
    zero_shot = None
    if prepared.config.unseen:
        zero_shot = _zero_shot(prepared, preds)
    write_predictions(run, preds.scores, preds.targets)
    result: dict[str, Any] = {
        "method": prepared.config.method,
        "data": prepared.data.name,
        "test": metrics,
        "cost": space.distance_file or TREE_COST,
        **({"zero_shot": zero_shot} if zero_shot else {}),
        "test_images": len(preds.targets),
        "train_images": len(prepared.train_set),
        "data_storage": prepared.data.storage,
        "eval_images_per_second": round(preds.images_per_second, 1),
        "skipped_files": prepared.data.skipped_files(),  # streamed ones skipped in training too
    }
    if train_seconds is not None:
        result["train_seconds"] = round(train_seconds, 2)
        result["train_images_per_second"] = round(train_images_per_second or 0.0, 1)
        result["resumed"] = resumed
    atomic_write_json(run / METRICS_FILE, result)
    return result


def _zero_shot(prepared: Prepared | Run, preds: Predictions) -> dict[str, Any]:
    """The zero-shot figures of a run trained without its unseen classes."""
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
    return zero_shot


@holding_lock  # not while another process trains or evaluates the run
def evaluate_run(
    run: Path,
    *,
    on_progress=None,
    distances: str | Path | None = None,
    data: str | Path | None = None,
    on_scoring=None,
) -> dict[str, Any]:
    """Re-evaluate a run's final weights on its test set; keeps its training figures.

    ``distances`` (a published distance file) replaces the cost of mistakes the run was
    trained with; metrics.json records which cost it used. ``data``: where the run's dataset
    is now, if it has moved (:func:`~labelspace.training.load.load_run`). ``on_progress``
    hears how many images are read, ``on_scoring`` how many test images are scored (both
    ``(done, total)``)."""
    run = Path(run)
    loaded = load_run(
        run, ("model", "data"), on_progress=on_progress, distances=distances, data=data
    )
    previous: dict[str, Any] = {}
    for name in (METRICS_FILE, TRAINING_FILE):  # a finished run, or one whose evaluation failed
        if (run / name).is_file():
            previous = json.loads((run / name).read_text(encoding="utf-8"))
            break
    return finish(  # the training figures of the run are kept
        run,
        loaded,
        train_seconds=previous.get("train_seconds"),
        train_images_per_second=previous.get("train_images_per_second"),
        resumed=previous.get("resumed", False),
        on_progress=on_scoring,
    )
