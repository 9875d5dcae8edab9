"""Loading a run back: :func:`load_run`, the one way every command and the API open a run.

A run is loaded by parts, each read once, when it is first asked for:

- ``config``: ``RUN/config.yaml``, checked (always loaded: the other parts need it);
- ``model``: the label space and the model with the weights of ``RUN/checkpoints/last.ckpt``,
  rebuilt from the hyperparameters saved in the checkpoint (``RUN/config.yaml`` for runs
  whose checkpoints predate them), in evaluation mode, without loading the dataset;
- ``data``: the run's dataset and its train / validation / test split;
- ``predictions``: the test set's class scores and targets (``RUN/predictions.safetensors``).

A missing or damaged file is a :class:`~labelspace.training.config.RunError` of one line that
names the file and the fix; a damaged checkpoint is found before the dataset loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from labelspace.embeddings.space import EMBEDDING_FILE, LabelSpace, build_label_space
from labelspace.hierarchy.distances import TREE_COST
from labelspace.training.build import Splits, build_module, embedding_spec, load_data
from labelspace.training.config import RunError, TrainConfig
from labelspace.training.module import LabelSpaceClassifier, Predictions
from labelspace.training.runs import (
    CONFIG_FILE,
    LAST_CHECKPOINT,
    RunFile,
    read_checkpoint,
    read_predictions,
    read_run_file,
)

PARTS = ("config", "model", "data", "predictions")


@dataclass
class Run(Splits):
    """A run folder and the parts of it loaded so far (see :func:`load_run`)."""

    path: Path
    saved: RunFile
    space: LabelSpace | None = None
    module: LabelSpaceClassifier | None = None
    data: Any = None  # labelspace.data.ImageData
    datamodule: Any = None  # labelspace.data.module.ImageDataModule
    predictions: Predictions | None = None
    distances: str | None = None  # a distance file (or TREE_COST) instead of the run's own

    @property
    def config(self) -> TrainConfig:
        return self.saved.config

    @property
    def classes(self) -> list[str]:
        return self.saved.classes

    @property
    def synsets(self) -> list[str]:
        return self.saved.synsets

    @property
    def input(self) -> dict[str, Any]:
        """What an image must look like for the model: channels, size, normalisation."""
        return self.saved.input

    def load(self, *parts: str, on_progress=None) -> Run:
        """Load the ``parts`` not loaded yet (each at most once); returns the run."""
        unknown = [p for p in parts if p not in PARTS]
        if unknown:
            raise ValueError(f"unknown run part(s) {', '.join(unknown)}; use {', '.join(PARTS)}")
        checkpoint = None
        if "model" in parts and self.module is None:
            checkpoint = read_checkpoint(self.path)  # a damaged one is found before the data
        if "data" in parts and self.datamodule is None:
            # the first stage of a two-stage run or its --pretrained file are not needed
            config = replace(self.config, init_from=None, pretrained=None)
            self.data, self.datamodule = load_data(config, on_progress=on_progress)
            if list(self.data.classes) != self.classes:
                raise RunError(f"{self.path} was trained on other classes than the data gives now")
        if checkpoint is not None:
            self._load_model(checkpoint)
        if "predictions" in parts and self.predictions is None:
            self.predictions = read_predictions(self.path)
        return self

    def _load_model(self, checkpoint: dict[str, Any]) -> None:
        saved = self.saved
        if isinstance(checkpoint.get("hyper_parameters"), dict):
            saved = RunFile.from_dict(checkpoint["hyper_parameters"], self.path / LAST_CHECKPOINT)
        config = saved.config
        embedding = None
        if embedding_spec(config) is not None:
            embedding = self.path / EMBEDDING_FILE
            if not embedding.is_file():
                raise RunError(
                    f"{self.path} has no {EMBEDDING_FILE}, the label embedding its model was "
                    "trained with; train the run again with --overwrite"
                )
        space = build_label_space(
            config.data,
            saved.classes,
            saved.synsets,
            embedding,
            distances=self.distances or config.distances,
        )
        # the weights come from the checkpoint: the --pretrained file is not needed any more
        module = build_module(replace(config, pretrained=None, init_from=None), space, saved.input)
        _load_weights(module, self.path, checkpoint["state_dict"])
        self.saved, self.space, self.module = saved, space, module.eval()


def load_run(
    run: str | Path,
    parts: Iterable[str] = ("model",),
    *,
    on_progress=None,
    distances: str | Path | None = None,
) -> Run:
    """Open the run folder ``run`` with the ``parts`` asked for (among :data:`PARTS`;
    ``config`` always), each loaded once; :meth:`Run.load` adds parts later. ``distances``
    (a distance file, or ``"lca-height"`` for the class tree) replaces the cost of mistakes
    the run was trained with."""
    path = Path(run)
    chosen = None if distances is None else str(distances)
    if chosen is not None and chosen != TREE_COST:
        chosen = str(Path(distances).resolve())
    return Run(path, read_run_file(path), distances=chosen).load(*parts, on_progress=on_progress)


def _load_weights(module: LabelSpaceClassifier, run: Path, state: dict[str, torch.Tensor]) -> None:
    """Load a run's checkpoint weights into ``module``; any key mismatch is an error.

    Zero-shot runs saved before the losses learnt :meth:`restrict_to` wrapped their loss as
    ``criterion.inner``; those keys are read as the loss's own.
    """
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
