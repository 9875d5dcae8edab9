"""Runs: one folder per trained model, holding everything its report needs.

::

    RUN/config.yaml             what was asked (reload it to rebuild the model)
    RUN/embedding.safetensors   the label embedding the run used (if any)
    RUN/checkpoints/last.ckpt   weights + optimiser state after the last finished epoch, and
                                the contents of config.yaml as its hyperparameters
    RUN/logs/                   Lightning CSV logs (loss and validation accuracy per epoch)
    RUN/predictions.safetensors test-set class scores and targets
    RUN/training.json           training time (written when training ends)
    RUN/metrics.json            test metrics, timings, skipped files (the run is finished)
    RUN/analysis.json           back-off, attacks and features (``labelspace analyze``)

This module reads and writes the folder's files; :mod:`labelspace.training.fit` trains into
it, :mod:`labelspace.training.evaluate` evaluates it and :mod:`labelspace.training.load`
loads it back. Reports are written by ``labelspace compare`` from these files.

An existing folder is never replaced without ``overwrite``. While a process writes into a run
folder it holds the folder's lock (``RUN/.labelspace.lock``, :mod:`labelspace.locks`), which
is not part of the run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save_file

from labelspace.errors import OutputExistsError
from labelspace.files import atomic_write, atomic_write_text, check_output
from labelspace.locks import has_content, is_lock_file
from labelspace.training.config import RunError, TrainConfig
from labelspace.training.module import Predictions

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.safetensors"
LAST_CHECKPOINT = "checkpoints/last.ckpt"
LOG_FILE = "logs/metrics.csv"
TRAINING_FILE = "training.json"  # training time, written before the model is evaluated
INPUT_KEYS = ("in_chans", "image_size", "mean", "std")

__all__ = [
    "CONFIG_FILE",
    "LAST_CHECKPOINT",
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "RunError",
    "RunFile",
    "TrainConfig",
]


@dataclass(frozen=True)
class RunFile:
    """A run's config.yaml, checked: the training options, the classes and the input spec.

    The same mapping is saved in every checkpoint as its hyperparameters, so a checkpoint
    says how to rebuild its model."""

    config: TrainConfig
    classes: list[str]
    synsets: list[str]
    input: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain values only: YAML and ``torch.load(weights_only=True)`` read them back."""
        return {
            "train": self.config.to_dict(),
            "classes": list(self.classes),
            "synsets": list(self.synsets),
            "input": dict(self.input),
        }

    @classmethod
    def from_dict(cls, raw: Any, path: Path) -> RunFile:
        """Check a mapping read from ``path``; anything amiss is named, with the fix."""

        def damaged(why: str) -> RunError:
            return _damaged(path, why)

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
            # the first stage of a two-stage run, or the pretrained weights, may have been
            # deleted since: this run does not need them any more
            replace(config, init_from=None, pretrained=None).validate()
        except RunError:
            raise
        except (TypeError, ValueError) as exc:
            raise damaged(f"its training options: {exc}") from None
        return cls(config, classes, synsets, spec)


def input_spec(data) -> dict[str, Any]:
    """What an image must look like for the model: channels, size, normalisation."""
    return {
        "in_chans": int(data.in_chans),
        "image_size": int(data.image_size[0]),
        "mean": [float(m) for m in data.mean],
        "std": [float(s) for s in data.std],
    }


def read_run_file(run: Path) -> RunFile:
    """Read and check ``RUN/config.yaml``; a damaged file is named as such, with the fix."""
    path = Path(run) / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run} is not a labelspace run (no {CONFIG_FILE})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"not YAML: {str(exc).splitlines()[0]}") from None
    return RunFile.from_dict(raw, path)


def _damaged(path: Path, why: str) -> RunError:
    return RunError(f"{path} is damaged ({why}); train the run again with --overwrite")


def write_run_file(run: Path, saved: RunFile) -> None:
    """``RUN/config.yaml``: what was asked, the classes and the input spec."""
    text = yaml.safe_dump(saved.to_dict(), sort_keys=False, allow_unicode=True)
    atomic_write_text(run / CONFIG_FILE, text)


def read_checkpoint(run: Path) -> dict[str, Any]:
    """The run's last checkpoint (weights, epoch, hyperparameters); a missing or damaged file
    is a clear error."""
    ckpt = Path(run) / LAST_CHECKPOINT
    if not ckpt.is_file():
        raise RunError(
            f"{run} has no {LAST_CHECKPOINT}: not a finished or resumable run; train it first "
            "(labelspace train)"
        )
    try:
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint.get("state_dict"), dict):  # no weights: damaged too
            raise KeyError("state_dict")
    except Exception as exc:  # torch raises many types for damaged files (EOF, unpickling)
        raise RunError(
            f"{ckpt} is damaged ({type(exc).__name__}: {(str(exc) or '-').splitlines()[0][:120]}); "
            "train the run again with --overwrite"
        ) from None
    return checkpoint


def write_predictions(run: Path, scores: torch.Tensor, targets: torch.Tensor) -> None:
    """``RUN/predictions.safetensors``: the test set's class scores and targets."""
    tensors = {"scores": scores.contiguous(), "targets": targets.contiguous()}
    atomic_write(run / PREDICTIONS_FILE, lambda tmp: save_file(tensors, str(tmp)))


def read_predictions(run: Path) -> Predictions:
    """The test set's class scores and targets the run was evaluated with."""
    path = Path(run) / PREDICTIONS_FILE
    if not path.is_file():
        raise RunError(f"{run} has no {PREDICTIONS_FILE}: `labelspace evaluate {run}` writes it")
    tensors = load_file(str(path))
    return Predictions(tensors["scores"], tensors["targets"], None, None, float("nan"))


def check_new_folder(run: Path, *, overwrite: bool) -> None:
    """Refuse, before any work, a RUN that would replace a run without ``--overwrite``."""
    check_output(run, overwrite=True, option="RUN", folder=True)  # not a file, nor below one
    if overwrite or not run.exists() or not has_content(run):
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


def check_resumable(run: Path) -> None:
    """A run that ``--resume`` can continue: a folder with a checkpoint."""
    if not run.is_dir():
        raise RunError(f"cannot resume {run}: no such run folder")
    if not (run / LAST_CHECKPOINT).is_file():
        raise RunError(
            f"cannot resume {run}: it has no {LAST_CHECKPOINT} (it stopped before its first "
            "epoch ended); pass --overwrite instead of --resume to start it again"
        )


def open_folder(run: Path, *, overwrite: bool) -> None:
    """Create the run folder (replacing an old run only with ``overwrite``); the folder's
    lock file stays."""
    check_new_folder(run, overwrite=overwrite)
    run.mkdir(parents=True, exist_ok=True)
    for entry in run.iterdir():
        if is_lock_file(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
