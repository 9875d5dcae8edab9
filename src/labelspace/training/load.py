"""Loading a run back: :func:`load_run`, the one way every command and the API open a run.

A run is loaded by parts, each read once, when it is first asked for:

- ``config``: ``RUN/config.yaml``, checked (always loaded: the other parts need it);
- ``model``: the label space and the model with the weights of ``RUN/checkpoints/last.ckpt``,
  rebuilt from the hyperparameters saved in the checkpoint (``RUN/config.yaml`` for runs
  whose checkpoints predate them), in evaluation mode, without loading the dataset;
- ``data``: the run's dataset and its train / validation / test split (from where the run
  recorded it, or from ``data=`` for a dataset that has moved: see
  :mod:`labelspace.training.data_paths`);
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

from labelspace.embeddings.space import EMBEDDING_FILE, LabelSpace
from labelspace.hierarchy.distances import TREE_COST
from labelspace.training.build import Splits, build_module, embedding_spec, label_space, load_data
from labelspace.training.config import RunError, TrainConfig
from labelspace.training.data_paths import DATA_OPTION, given_dataset, locate_dataset
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
    data_given: bool = False  # config.data is where --data says the dataset is now

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
            source = self.data_source()
            # the first stage of a two-stage run or its --pretrained file are not needed
            config = replace(self.config, data=source, init_from=None, pretrained=None)
            self.data, self.datamodule = load_data(config, on_progress=on_progress)
            self._check_classes(source, list(self.data.classes))
        if checkpoint is not None:
            self._load_model(checkpoint)
        if "predictions" in parts and self.predictions is None:
            self.predictions = read_predictions(self.path)
        return self

    def data_source(self) -> str:
        """The run's dataset as ``load_dataset`` takes it: where ``--data`` says it is now, or
        where the run recorded it (found, or an error that names ``--data PATH``)."""
        if self.data_given:
            return self.config.data
        return locate_dataset(self.config.data, self.path)

    def _check_classes(self, source: str, found: list[str]) -> None:
        """The dataset loaded from ``source`` has the run's classes, in the run's order."""
        if found == self.classes:
            return
        missing = [c for c in self.classes if c not in set(found)]
        extra = [c for c in found if c not in set(self.classes)]
        differ = (
            "; ".join(
                f"{what}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                for what, names in (("missing", missing), ("not the run's", extra))
                if names
            )
            or "the same classes in another order"
        )
        if self.data_given:
            raise RunError(
                f"--data {source} does not hold the classes {self.path} was trained on "
                f"({differ}); give the run's own dataset"
            )
        raise RunError(
            f"{self.path} was trained on other classes than {source} gives now ({differ}); "
            f"if the run's dataset has moved, pass it with {DATA_OPTION}"
        )

    def _load_model(self, checkpoint: dict[str, Any]) -> None:
        saved = self.saved
        if isinstance(checkpoint.get("hyper_parameters"), dict):
            saved = RunFile.from_dict(checkpoint["hyper_parameters"], self.path / LAST_CHECKPOINT)
            # the dataset where it is now (found, or given with --data), as config.yaml's
            saved = replace(saved, config=replace(saved.config, data=self.config.data))
        config = saved.config
        embedding = None
        if embedding_spec(config) is not None:
            embedding = self.path / EMBEDDING_FILE
            if not embedding.is_file():
                raise RunError(
                    f"{self.path} has no {EMBEDDING_FILE}, the label embedding its model was "
                    "trained with; train the run again with --overwrite"
                )
        space = label_space(
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
    data: str | Path | None = None,
) -> Run:
    """Open the run folder ``run`` with the ``parts`` asked for (among :data:`PARTS`;
    ``config`` always), each loaded once; :meth:`Run.load` adds parts later. ``distances``
    (a distance file, or ``"lca-height"`` for the class tree) replaces the cost of mistakes
    the run was trained with. ``data`` is where the run's dataset is now, if it has moved
    (it must have the run's classes); without it, the dataset the run recorded, found
    (:func:`~labelspace.training.data_paths.locate_dataset`). ``config.data`` says which."""
    path = Path(run)
    chosen = None if distances is None else str(distances)
    if chosen is not None and chosen != TREE_COST:
        chosen = str(Path(distances).resolve())
    saved = read_run_file(path)
    if data is not None:
        source = given_dataset(data)
    else:
        try:  # an older run's relative path, found now; where it is not, loading data says so
            source = locate_dataset(saved.config.data, path)
        except RunError:
            source = saved.config.data
    saved = replace(saved, config=replace(saved.config, data=source))
    loaded = Run(path, saved, distances=chosen, data_given=data is not None)
    return loaded.load(*parts, on_progress=on_progress)


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
