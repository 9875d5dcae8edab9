"""Image feature extractors: a compact built-in CNN, or any timm model by name.

Every backbone maps images ``(N, in_chans, H, W)`` to features ``(N, F)``; a head from
:mod:`labelspace.models.heads` maps those into logits or the label space. Weights can come
from a local file (:func:`load_pretrained`, ``create_backbone(..., pretrained=FILE)``), and a
backbone can be frozen for a linear probe (:func:`freeze_backbone`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import timm
import torch
from timm.models import adapt_input_conv
from timm.models import load_state_dict as timm_load_state_dict
from timm.models.resnet import ResNet
from torch import nn

from labelspace.errors import InputError, MissingInputError

log = logging.getLogger(__name__)

BACKBONES = ("small-cnn",)
SMALL_IMAGE_SIZE = 64  # resnet-family stems are adapted at this size and below


class SmallCNN(nn.Module):
    """Three conv–BN–ReLU–max-pool stages (32, 64, 128 channels) and a 256-unit FC layer.

    Sized for 28–32 px images (Fashion-MNIST, CIFAR) on a CPU: about 8 M multiply-adds per
    28×28 image. The last pooling is adaptive (to at most 4×4), so any size from 4 px works.
    Parameters and inputs are kept channels-last, which makes oneDNN's CPU convolutions about
    1.5× faster than the default layout (on GPUs it is neutral or faster).
    """

    def __init__(
        self,
        in_chans: int = 1,
        image_size: int = 28,
        num_features: int = 256,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if image_size < 4:
            raise InputError(f"small-cnn needs images of at least 4 px, got {image_size}")
        grid = max(1, min(4, image_size // 8))
        widths = (in_chans, 32, 64, 128)
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(itertools.pairwise(widths)):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2) if i < len(widths) - 2 else nn.AdaptiveMaxPool2d(grid),
            ]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(widths[-1] * grid * grid, num_features, bias=False),
            nn.BatchNorm1d(num_features),
            nn.ReLU(inplace=True),
        )
        self.num_features = num_features
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(images.contiguous(memory_format=torch.channels_last)))


def _adapt_resnet_stem(model: ResNet, in_chans: int) -> None:
    """Make a timm ResNet keep the resolution of small images (the usual CIFAR variant).

    The 7×7 stride-2 stem convolution becomes a 3×3 stride-1 one (a deep stem, as in
    ``resnet18d``, keeps its convolutions but loses the stride) and the stem max-pool is
    removed, so a 32 px image still reaches the last stage at 4×4 instead of 1×1.
    """
    stem = model.conv1
    if isinstance(stem, nn.Conv2d):
        conv = nn.Conv2d(in_chans, stem.out_channels, 3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        model.conv1 = conv
    else:
        first = next(m for m in stem.modules() if isinstance(m, nn.Conv2d))
        first.stride = (1, 1)
    model.maxpool = nn.Identity()


def create_backbone(
    name: str,
    in_chans: int,
    image_size: int,
    *,
    pretrained: str | Path | None = None,
) -> tuple[nn.Module, int]:
    """A feature extractor ``(N, in_chans, H, W) -> (N, F)`` and its feature size ``F``.

    ``name`` is one of :data:`BACKBONES` or any timm model name (created without a
    classifier; timm never downloads anything here). timm ResNet-family models (resnet,
    resnext, seresnet, wide_resnet, ...) get a small-image stem at ``image_size <= 64``; see
    :func:`_adapt_resnet_stem`. Other timm models are used as timm builds them.

    ``pretrained`` is a local weights file for this backbone, loaded with
    :func:`load_pretrained`. The model is then built as those weights expect: a ResNet keeps
    its own stem at any image size (its ``conv1`` is in the file), and a first convolution
    with another number of input channels than the data is adapted (RGB weights for
    grayscale images).
    """
    if name == "small-cnn":
        model = SmallCNN(in_chans, image_size)
        if pretrained is not None:
            load_pretrained(model, pretrained)
        return model, model.num_features
    if not timm.is_model(name):
        raise InputError(
            f"unknown backbone {name!r}: use one of the built-in backbones "
            f"({', '.join(BACKBONES)}) or any timm model name (such as 'resnet18')"
        )
    model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    if isinstance(model, ResNet) and image_size <= SMALL_IMAGE_SIZE:
        if pretrained is None:
            _adapt_resnet_stem(model, in_chans)
        else:
            log.info(
                "%s: keeping the model's own stem at %d px (no small-image stem) because "
                "--pretrained weights were given and their conv1 is that stem",
                name,
                image_size,
            )
    if pretrained is not None:
        load_pretrained(model, pretrained)
    # channels-last convolutions: about 5 % faster for resnet18 on a CPU (oneDNN), and the
    # layout tensor cores want on a GPU; the inputs follow in LabelSpaceNet.forward
    model.to(memory_format=torch.channels_last)
    return model, int(model.num_features)


# ------------------------------------------------------------------------ pretrained weights
_WHAT_FILE = (
    "a .safetensors file or a PyTorch state dict saved with torch.save(model.state_dict(), ...) "
    "holding the weights of the same --backbone"
)
_MAX_LISTED = 5  # keys listed per kind of mismatch in an error message
LABELSPACE_BACKBONE = "net.backbone."  # the backbone's keys in a labelspace checkpoint


def load_pretrained(backbone: nn.Module, path: str | Path) -> None:
    """Load the weights in the local file ``path`` into ``backbone`` (in place).

    The file is a ``.safetensors`` file or a ``torch.save`` file holding a state dict, bare
    or wrapped as ``{"state_dict": ...}`` / ``{"model": ...}`` (an EMA copy, ``state_dict_ema``
    or ``model_ema``, is preferred as timm does); a ``module.`` (DDP) or ``_orig_mod.``
    (torch.compile) key prefix is removed. Pickles are read with ``weights_only=True`` only,
    so a file never runs code. Classifier weights the backbone has not (it is built with
    ``num_classes=0``) are dropped; a first convolution with another number of input
    channels is adapted with :func:`timm.models.adapt_input_conv`. Anything else that does
    not fit is an error rather than a silently half-loaded model.

    Raises:
        MissingInputError: no such file.
        InputError: the file is not a weights file, holds no tensors, or its weights do not
            fit ``backbone`` (the message lists missing/unexpected keys and shape mismatches).
    """
    path = Path(path)
    state = _read_state_dict(path)
    expected = backbone.state_dict()
    state = _drop_classifier(backbone, state, expected)
    state = _adapt_first_conv(backbone, state, expected, path)
    _check_fits(backbone, state, expected, path)
    backbone.load_state_dict(state, strict=True)
    log.info("--pretrained %s: loaded %d tensors into %s", path, len(state), _describe(backbone))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors in a weights file, keyed by cleaned state-dict names.

    timm's ``load_state_dict`` does the reading: it picks safetensors by the file suffix,
    calls ``torch.load(weights_only=True)`` otherwise, unwraps the usual checkpoint dicts and
    strips DDP / torch.compile prefixes. Its own errors advise ``weights_only=False``, which a
    user must not do with a file they did not make, so they are replaced with ours.
    """
    if path.is_dir():
        raise InputError(f"--pretrained {path} is a folder; give {_WHAT_FILE}")
    if not path.is_file():
        raise MissingInputError(f"--pretrained {path}: no such file; give {_WHAT_FILE}")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InputError(f"--pretrained {path}: cannot read it ({err.strerror or err})") from None
    if size == 0:
        raise InputError(f"--pretrained {path}: the file is empty; it should be {_WHAT_FILE}")
    try:
        with warnings.catch_warnings():  # torch's advice for raw pickles is noise here
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            loaded = timm_load_state_dict(str(path), device="cpu", weights_only=True)
    except Exception as err:  # any failure to parse an untrusted file is the file's fault
        raise InputError(
            f"--pretrained {path}: cannot read it as weights ({_read_failure(path, err)}); "
            f"it should be {_WHAT_FILE}"
        ) from err
    tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        found = f" (its entries: {_listed(map(str, loaded))})" if loaded else ""
        raise InputError(
            f"--pretrained {path}: the file holds no tensors{found}; it should be {_WHAT_FILE}"
        )
    if len(tensors) < len(loaded):
        log.debug("--pretrained %s: ignoring %d non-tensors", path, len(loaded) - len(tensors))
    return tensors


def _read_failure(path: Path, err: BaseException) -> str:
    """Why a file could not be read, in a few words (the exception chain has the details)."""
    causes: list[BaseException] = [err]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    text = " ".join(str(c) for c in causes)
    if path.suffix == ".safetensors":
        return f"not a safetensors file: {str(causes[-1]).splitlines()[0][:120]}"
    unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if unsafe:
        return (
            f"it holds a pickled Python object ({unsafe.group(1)}), which is not loaded because "
            "unpickling it could run code"
        )
    if isinstance(causes[-1], EOFError):
        return "the file ends too early"
    return "neither a safetensors file nor a PyTorch file that torch.load(weights_only=True) reads"


def _cfg_names(backbone: nn.Module, field: str) -> list[str]:
    """The module names timm's ``pretrained_cfg[field]`` gives (a name or a sequence of them)."""
    cfg = getattr(backbone, "pretrained_cfg", None)
    value = cfg.get(field) if isinstance(cfg, Mapping) else None
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _drop_classifier(
    backbone: nn.Module, state: dict[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state`` without the classifier weights (``pretrained_cfg["classifier"]``) that the
    backbone, built without a classifier, has no place for."""
    heads = _cfg_names(backbone, "classifier")

    def is_dropped(key: str) -> bool:
        return key not in expected and any(key == h or key.startswith(h + ".") for h in heads)

    dropped = [k for k in state if is_dropped(k)]
    if dropped:
        log.debug("--pretrained: dropping classifier weights %s", ", ".join(dropped))
    return {k: v for k, v in state.items() if k not in dropped}


def _first_conv_key(backbone: nn.Module) -> str | None:
    """State-dict key of the first convolution's weight: timm's ``pretrained_cfg["first_conv"]``,
    else the first ``nn.Conv2d`` of the module (small-cnn's ``features.0``)."""
    names = _cfg_names(backbone, "first_conv")
    if names:
        return names[0] + ".weight"
    for name, module in backbone.named_modules():
        if isinstance(module, nn.Conv2d):
            return name + ".weight"
    return None


def _adapt_first_conv(
    backbone: nn.Module,
    state: dict[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    path: Path,
) -> dict[str, torch.Tensor]:
    """``state`` with its first convolution adapted to the backbone's input channels.

    Only the input-channel dimension may differ; timm's ``adapt_input_conv`` sums the filters
    over the file's channels for one-channel data, or repeats and rescales them for more.
    """
    key = _first_conv_key(backbone)
    if key is None or key not in state or key not in expected:
        return state
    weight, target = state[key], expected[key]
    if weight.ndim != 4 or target.ndim != 4 or weight.shape == target.shape:
        return state
    if weight.shape[0] != target.shape[0] or weight.shape[2:] != target.shape[2:]:
        return state  # not just the channels: reported as a shape mismatch
    file_chans, model_chans = int(weight.shape[1]), int(target.shape[1])
    try:
        adapted = adapt_input_conv(model_chans, weight, base_chans=file_chans)
    except (NotImplementedError, ValueError, AssertionError):
        return state
    log.info(
        "--pretrained %s: adapted %s from %d to %d input channels (as timm does)",
        path,
        key,
        file_chans,
        model_chans,
    )
    return {**state, key: adapted}


def _describe(backbone: nn.Module) -> str:
    """The backbone's name for messages: the timm architecture, or ``small-cnn``."""
    if isinstance(backbone, SmallCNN):
        return "small-cnn"
    cfg = getattr(backbone, "pretrained_cfg", None)
    if isinstance(cfg, Mapping) and cfg.get("architecture"):
        return str(cfg["architecture"])
    return type(backbone).__name__


def _listed(keys: Iterable[str]) -> str:
    """At most :data:`_MAX_LISTED` items, comma-separated, and how many more there are."""
    items = list(keys)
    text = ", ".join(items[:_MAX_LISTED])
    return text + (f", ... ({len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


def _check_fits(
    backbone: nn.Module,
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    path: Path,
) -> None:
    """Raise :class:`InputError` naming every kind of mismatch between file and backbone."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: {tuple(state[k].shape)} in the file vs {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or shapes):
        return
    if any(k.startswith(LABELSPACE_BACKBONE) for k in unexpected):
        raise InputError(
            f"--pretrained {path} is a labelspace checkpoint (its weights are named "
            f"{LABELSPACE_BACKBONE}...); to start from its run's backbone, pass --init-from RUN "
            "(the run folder) instead"
        )
    problems = [
        f"{len(items)} {noun if len(items) == 1 else plural} ({_listed(items)})"
        for items, noun, plural in (
            (missing, "missing key", "missing keys"),
            (unexpected, "unexpected key", "unexpected keys"),
            (shapes, "shape mismatch", "shape mismatches"),
        )
        if items
    ]
    raise InputError(
        f"--pretrained {path}: the weights do not fit the {_describe(backbone)} backbone: "
        f"{'; '.join(problems)}. The file must hold the weights of the same --backbone "
        "(for example saved by timm for that model, or torch.save(model.state_dict()) of it)"
    )


# ----------------------------------------------------------------------------- freezing
def _train_frozen(module: nn.Module, mode: bool = True) -> nn.Module:
    """``module.train`` of a frozen backbone: it and all its submodules stay in eval mode."""
    del mode  # a frozen backbone never trains
    return nn.Module.train(module, False)


def keep_frozen_in_eval(module: nn.Module) -> None:
    """Keep ``module`` in eval mode whatever ``train()`` calls it receives, now and later.

    The instance's ``train`` is replaced by one that always sets eval mode, so a parent's
    ``model.train()`` (which calls ``train`` on every child) leaves BatchNorm running
    statistics untouched and dropout / drop-path off: frozen features stay a fixed function
    of the image. No wrapper is added, so ``state_dict`` keys are those of the bare module and
    checkpoints load into an unfrozen model. The replacement is a ``functools.partial`` of a
    module-level function so ``copy.deepcopy`` (EMA copies) and pickling keep working.
    """
    module.train = functools.partial(_train_frozen, module)  # type: ignore[method-assign]
    module.eval()


def freeze_backbone(backbone: nn.Module) -> None:
    """Freeze ``backbone`` for a linear probe: no parameter requires grad, and it stays in
    eval mode (see :func:`keep_frozen_in_eval`), so neither its weights nor its BatchNorm
    statistics change while the head trains."""
    for param in backbone.parameters():
        param.requires_grad_(False)
    keep_frozen_in_eval(backbone)


def is_frozen(module: nn.Module) -> bool:
    """Whether :func:`freeze_backbone` / :func:`keep_frozen_in_eval` was applied to ``module``."""
    train = module.__dict__.get("train")
    return isinstance(train, functools.partial) and train.func is _train_frozen
