"""Building a run's pieces: its data, its label space and its model, checked before anything
is written, so that a bad command leaves nothing behind and a run never trains for minutes
and then fails."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from labelspace.data.module import steps_per_epoch
from labelspace.embeddings.reuse import progress_log
from labelspace.embeddings.space import LabelSpace, build_label_space
from labelspace.models.methods import get_method
from labelspace.training.config import RunError, TrainConfig, check_backbone_start
from labelspace.training.data_paths import recorded_dataset
from labelspace.training.module import LabelSpaceClassifier, LabelSpaceNet, OptimConfig
from labelspace.training.runs import RunFile, input_spec, read_checkpoint

MANY_CLASSES = 500  # from this many classes, building a label space is announced


class Splits:
    """The train, validation and test sets of a run's ``datamodule``."""

    datamodule: Any  # labelspace.data.module.ImageDataModule, or None before the data loads

    @property
    def train_set(self) -> Any:
        return self._split().train_set

    @property
    def val_set(self) -> Any:
        return self._split().val_set

    @property
    def test_set(self) -> Any:
        return self._split().test_set

    def _split(self) -> Any:
        if self.datamodule is None:
            raise ValueError("the run's data is not loaded; load it with parts=('data',)")
        return self.datamodule


@dataclass
class Prepared(Splits):
    """The validated pieces of a run, before anything is written."""

    config: TrainConfig
    data: Any  # labelspace.data.ImageData
    space: LabelSpace
    module: LabelSpaceClassifier
    datamodule: Any  # labelspace.data.module.ImageDataModule


def label_space(
    name: str, classes: Sequence[str], synsets: Sequence[str], embedding, **options: Any
) -> LabelSpace:
    """:func:`~labelspace.embeddings.space.build_label_space`, announced on the progress log
    (shown by the command line) when the classes are :data:`MANY_CLASSES` or more: their
    WordNet hierarchy can take seconds to build."""
    if len(classes) < MANY_CLASSES:
        return build_label_space(name, classes, synsets, embedding, **options)
    what = f"label space of {len(classes):,} classes"
    progress_log.info("%s: building their WordNet hierarchy", what)
    start = time.perf_counter()
    space = build_label_space(name, classes, synsets, embedding, **options)
    progress_log.info("%s: built in %.1f s", what, time.perf_counter() - start)
    return space


def embedding_spec(config: TrainConfig) -> str | None:
    """The label embedding a run asks for (its own or its method's), or None for a method
    without one."""
    method = get_method(config.method)
    if not method.uses_embedding:
        return None
    return config.embedding or method.embedding


def build_module(
    config: TrainConfig,
    space: LabelSpace,
    spec: dict[str, Any],
    steps: int = 1,
) -> LabelSpaceClassifier:
    """The run's model (backbone, head, loss) for images as ``spec`` describes them
    (:func:`~labelspace.training.runs.input_spec`), freshly initialised from the run's seed.

    The module keeps config.yaml's contents as its hyperparameters, so every checkpoint
    says how to rebuild it."""
    from labelspace.models.backbones import create_backbone, freeze_backbone

    method = get_method(config.method)
    torch.manual_seed(config.seed)  # the same seed gives every method the same initial backbone
    backbone, features = create_backbone(
        config.backbone, spec["in_chans"], spec["image_size"], pretrained=config.pretrained
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
    saved = RunFile(config, space.classes, space.synsets, spec)
    return LabelSpaceClassifier(
        LabelSpaceNet(backbone, head),
        criterion,
        method,
        optim,
        seed=config.seed,
        hparams=saved.to_dict(),
    )


def load_data(config: TrainConfig, *, on_progress=None) -> tuple[Any, Any]:
    """The run's dataset and its split into train, validation and test sets (a
    :class:`~labelspace.data.module.ImageDataModule`)."""
    from labelspace.data import load_dataset
    from labelspace.data.module import ImageDataModule

    # batch size and workers: the memory plan refuses batches that cannot fit, before decoding
    loading = ("root", "mapping", "skip_corrupt", "download", "augment", "image_size", "storage",
               "batch_size", "workers")  # fmt: skip
    data = load_dataset(config.data, **_options(config, *loading), on_progress=on_progress)
    unseen: list[int] = []
    if config.unseen:  # checked before a label embedding is trained for these classes
        from labelspace.metrics.zeroshot import resolve_unseen

        unseen = resolve_unseen(config.unseen, data.classes, data.synsets)
    split = ("batch_size", "seed", "val_fraction", "train_limit", "test_limit", "workers")
    datamodule = ImageDataModule(data, **_options(config, *split), unseen=unseen)
    return data, datamodule


def _options(config: TrainConfig, *names: str) -> dict[str, Any]:
    """The training options ``names`` as keyword arguments of the same names."""
    return {name: getattr(config, name) for name in names}


def prepare(config: TrainConfig, *, on_progress=None) -> Prepared:
    """Load the data, build the label space and the model; raises before writing anything.

    Every check that could fail after training (the hierarchy of the classes, the label
    embedding, the options) runs here, so a run never trains for minutes and then fails."""
    config.validate()
    check_backbone_start(config)
    # a folder as its absolute path: the run reloads it from any folder
    config = replace(config, data=recorded_dataset(config.data))
    data, datamodule = load_data(config, on_progress=on_progress)
    space = label_space(
        data.name,
        data.classes,
        data.synsets,
        embedding_spec(config),
        dim=config.embedding_dim,
        seed=config.seed,
        distances=config.distances,
    )
    world = config.devices if isinstance(config.devices, int) else 1
    steps = steps_per_epoch(len(datamodule.train_set), config.batch_size, world)
    module = build_module(config, space, input_spec(data), steps)
    if config.init_from:
        _load_backbone(module, Path(config.init_from))
    if config.compile:  # in place: the weights keep their names in checkpoints
        module.net.compile()
    return Prepared(config, data, space, module, datamodule)


def _load_backbone(module: LabelSpaceClassifier, run: Path) -> None:
    """Two-stage training: start from the backbone of another run (its head is dropped)."""
    state = read_checkpoint(run)["state_dict"]
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
