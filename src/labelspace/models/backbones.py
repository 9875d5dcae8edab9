"""Image feature extractors: a compact built-in CNN, or any timm model by name.

Every backbone maps images ``(N, in_chans, H, W)`` to features ``(N, F)``; a head from
:mod:`labelspace.models.heads` maps those into logits or the label space.
"""

from __future__ import annotations

import itertools

import timm
import torch
from timm.models.resnet import ResNet
from torch import nn

from labelspace.errors import InputError

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


def create_backbone(name: str, in_chans: int, image_size: int) -> tuple[nn.Module, int]:
    """A feature extractor ``(N, in_chans, H, W) -> (N, F)`` and its feature size ``F``.

    ``name`` is one of :data:`BACKBONES` or any timm model name (created without pretrained
    weights and without a classifier). timm ResNet-family models (resnet, resnext, seresnet,
    wide_resnet, ...) get a small-image stem at ``image_size <= 64``; see
    :func:`_adapt_resnet_stem`. Other timm models are used as timm builds them.
    """
    if name == "small-cnn":
        model = SmallCNN(in_chans, image_size)
        return model, model.num_features
    if not timm.is_model(name):
        raise InputError(
            f"unknown backbone {name!r}: use one of the built-in backbones "
            f"({', '.join(BACKBONES)}) or any timm model name (such as 'resnet18')"
        )
    model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
    if isinstance(model, ResNet) and image_size <= SMALL_IMAGE_SIZE:
        _adapt_resnet_stem(model, in_chans)
    return model, int(model.num_features)
