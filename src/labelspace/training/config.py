"""What a training run is asked to do: :class:`TrainConfig`, saved as the run's config.yaml.

The dataclass defaults are the defaults of ``labelspace train`` and ``labelspace compare``
(the CLI reads them from here). Kept free of torch so that the command line can show its
options without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelspace.errors import InputError, LabelspaceError, MissingInputError
from labelspace.models.options import MethodOptions
from labelspace.validation import (
    require_at_least,
    require_choice,
    require_not_negative,
    require_open_unit,
    require_positive,
    require_within,
)

if TYPE_CHECKING:
    from labelspace.models.methods import Method

OPTIMIZERS = ("adamw", "sgd")
SEED_MAX = 2**31 - 1
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# Lightning's names of its precision settings
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")


class RunError(InputError):
    """A run folder, or a run's config, that cannot be used as asked."""


class DivergedError(LabelspaceError, FloatingPointError):
    """The loss, or the scores the model gives, stopped being finite numbers.

    Almost always the options' doing (a learning rate too high, a temperature too low), so the
    CLI reports it as one line that names the likely cause."""


@dataclass
class TrainConfig:
    """Everything ``labelspace train`` needs; saved as the run's config.yaml."""

    data: str = "fashion-mnist"
    root: str | None = None
    mapping: str | None = None
    method: str = "softmax"
    embedding: str | None = None  # default: the method's; a kind or a .safetensors file
    embedding_dim: int = 32  # Poincaré image models: 32-d was closer to softmax than 10-d
    backbone: str = "small-cnn"
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 5e-4
    val_fraction: float = 0.1
    train_limit: int | None = None  # at most this many training images (and a share for val)
    test_limit: int | None = None
    seed: int = 0
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    compile: bool = False  # torch.compile the network (pays on GPUs, not on small CPUs)
    workers: int | None = None  # DataLoader workers; default: 0 in memory, spare cores streaming
    skip_corrupt: bool = False
    image_size: int | None = None  # bring every image to N x N (shorter side, centre crop)
    storage: str = "auto"  # auto | memory | streaming (--in-memory/--streaming)
    pretrained: str | None = None  # timm/state-dict weights file that starts the backbone
    freeze_backbone: bool = False  # train the head only (a linear probe)
    download: bool = False  # torchvision datasets only
    augment: str | None = None  # none | flip | crop | crop-flip; default: by image type
    init_from: str | None = None  # a run whose backbone starts this one (two-stage)
    unseen: list[str] = field(default_factory=list)  # zero-shot: classes kept out of training
    distances: str | None = None  # a published distance file: the cost of every mistake
    options: MethodOptions = field(default_factory=MethodOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise RunError(f"config has unknown keys: {', '.join(sorted(unknown))}")
        raw = dict(raw)
        raw["options"] = MethodOptions(**raw.get("options", {}))
        return cls(**raw)

    def validate(self) -> None:
        """Every option checked before any data is loaded or anything is written.

        The checks that need the data (class names for ``--unseen``, the label embedding's
        content, the size of the training set) run in :func:`labelspace.training.build.prepare`,
        which is also before anything is written."""
        from labelspace.data.storage import STORAGES
        from labelspace.data.transforms import AUGMENTATIONS
        from labelspace.models.methods import get_method

        check_embedding(get_method(self.method), self.embedding)
        require_at_least(1, epochs=self.epochs, devices=self.devices, dim=self.embedding_dim)
        # batch norm (small-cnn, ResNets) cannot normalise a batch of one image
        require_at_least(2, batch_size=self.batch_size)
        require_at_least(
            1, train_limit=self.train_limit, test_limit=self.test_limit, image_size=self.image_size
        )
        require_at_least(0, workers=self.workers)
        require_within(0, SEED_MAX, seed=self.seed)  # seed + epoch seeds NumPy: 32 bits
        require_open_unit(val_fraction=self.val_fraction)
        require_positive(lr=self.lr)
        require_not_negative(weight_decay=self.weight_decay)
        self.options.validate()
        if self.unseen:
            get_method(self.method).check_zero_shot()
        if self.distances is not None:  # read (and checked) now, not after training
            from labelspace.hierarchy.distances import TREE_COST, read_distances

            if self.distances != TREE_COST:
                read_distances(self.distances)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.augment is not None:
            require_choice("augment", self.augment, AUGMENTATIONS)
        require_choice("precision", self.precision, PRECISIONS)
        require_choice("accelerator", self.accelerator, ACCELERATORS)
        require_choice("storage", self.storage, STORAGES)
        if self.init_from is not None:
            check_init_from(Path(self.init_from))
        if self.pretrained is not None:
            check_pretrained(Path(self.pretrained))
        if self.pretrained is not None and self.init_from is not None:
            raise InputError(
                "--pretrained and --init-from both give the backbone's first weights; pass one"
            )


def check_embedding(method: Method, embedding: str | None) -> None:
    """``--embedding`` names something that exists and that the method uses: a kind, a shipped
    embedding (``pretrained:NAME``) or a file. Checked before any data is loaded; the file's
    content is checked once the classes are known."""
    from labelspace.embeddings.build import KINDS
    from labelspace.embeddings.pretrained import PREFIX, catalogue

    if embedding is None:
        return
    if not method.uses_embedding:
        raise InputError(
            f"{method.name} uses no label embedding, so --embedding {embedding} has no meaning; "
            "drop it or choose a method that uses one (`labelspace methods`)"
        )
    if embedding.startswith(PREFIX):
        shipped = catalogue()
        if embedding.removeprefix(PREFIX) not in shipped:
            raise InputError(
                f"unknown pretrained embedding {embedding.removeprefix(PREFIX)!r}; shipped: "
                f"{', '.join(shipped) or 'none'} (`labelspace embeddings` lists them)"
            )
    elif embedding not in KINDS and not Path(embedding).is_file():
        raise InputError(
            f"unknown label embedding {embedding!r}: use one of {', '.join(KINDS)}, "
            "pretrained:NAME (`labelspace embeddings`) or a file written by `labelspace embed`"
        )


RUN_CONFIG_FILE = "config.yaml"  # runs.CONFIG_FILE (that module imports this one)
WEIGHTS_FILE = "a weights file (.safetensors, or a PyTorch state dict) of the same --backbone"


def run_holding(path: Path) -> Path | None:
    """The labelspace run folder that ``path`` is, or whose checkpoint or config.yaml it is
    (``RUN/checkpoints/last.ckpt``); None for anything else."""
    if path.is_dir():
        return path if (path / RUN_CONFIG_FILE).is_file() else None
    if path.suffix != ".ckpt" and path.name != RUN_CONFIG_FILE:
        return None
    for folder in list(path.parents)[:2]:
        if (folder / RUN_CONFIG_FILE).is_file():
            return folder
    return None


def check_pretrained(path: Path) -> None:
    """``--pretrained`` names a weights file: a labelspace run (or its checkpoint) is pointed
    to ``--init-from``, which reads it; another folder or a missing file is refused."""
    run = run_holding(path)
    if run is not None:
        what = "a labelspace run" if run == path else f"part of the labelspace run {run}"
        raise InputError(
            f"--pretrained {path} is {what}; to start from that run's backbone, pass "
            f"--init-from {run} instead"
        )
    if path.is_dir():
        raise InputError(f"--pretrained {path} is a folder; give {WEIGHTS_FILE}")
    if not path.is_file():
        raise MissingInputError(f"--pretrained {path}: no such file; give {WEIGHTS_FILE}")


def check_init_from(path: Path) -> None:
    """``--init-from`` names a run folder (a file inside one is pointed to its folder)."""
    run = run_holding(path)
    if run is not None and run != path:
        raise InputError(f"--init-from {path} is a file of the run {run}; pass --init-from {run}")
    if not path.is_dir():
        raise MissingInputError(f"--init-from {path}: no such run folder")


def check_backbone_start(config: TrainConfig) -> None:
    """A frozen backbone (``--freeze-backbone``) must start from trained weights: frozen at
    its random start, the head would learn from random features. Checked when a run is
    prepared, not by :meth:`TrainConfig.validate`, which also checks saved runs whose
    weights file is gone."""
    if config.freeze_backbone and config.pretrained is None and config.init_from is None:
        raise InputError(
            "--freeze-backbone keeps the backbone as it starts, and without --pretrained FILE "
            "it starts random; give the weights to freeze with --pretrained FILE (or --init-from "
            "RUN, another run's backbone)"
        )
