"""Where the model looks: saliency maps of a run's class scores, from Captum.

Two methods, both Captum's (a maintained library rather than hand-written gradients):

- ``gradcam``: Grad-CAM (Selvaraju et al., ICCV 2017) on the backbone's last convolution,
  upsampled to the input size; it needs a convolution to hook, and a run without one gets a
  clear error that names ``ig``;
- ``ig``: Integrated Gradients (Sundararajan et al., ICML 2017) from the dataset's mean image
  (zero after normalisation), the absolute attributions summed over channels.

Both attribute the method's own class score (:meth:`ClassScoreLoss.scores`: a logit, minus a
Poincaré distance, a cosine), so every method is explained by what it ranks with. Maps are
scaled to [0, 1] per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from labelspace.errors import InputError
from labelspace.training.module import LabelSpaceClassifier

SALIENCY_METHODS = ("gradcam", "ig")
IG_STEPS = 32


class SaliencyError(InputError):
    """A run or an option that cannot give saliency maps."""


def check_method(method: str) -> str:
    if method not in SALIENCY_METHODS:
        raise SaliencyError(
            f"unknown saliency method {method!r}; use {' or '.join(SALIENCY_METHODS)}"
        )
    return method


def last_convolution(module: LabelSpaceClassifier) -> nn.Conv2d:
    """The backbone's last 2-D convolution: the layer Grad-CAM explains."""
    convolutions = [m for m in module.net.backbone.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise SaliencyError(
            f"the run's backbone ({type(module.net.backbone).__name__}) has no convolution for "
            "Grad-CAM to explain; use --saliency ig (Integrated Gradients), which needs none"
        )
    return convolutions[-1]


def saliency_maps(
    module: LabelSpaceClassifier,
    images: torch.Tensor,
    targets: torch.Tensor,
    method: str = "gradcam",
) -> torch.Tensor:
    """``(N, H, W)`` maps in [0, 1] of where ``images`` (normalised, ``(N, C, H, W)``) raise
    the score of class ``targets[i]``."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam

    check_method(method)
    module = module.eval()

    def class_scores(x: torch.Tensor) -> torch.Tensor:
        return module.scores(module.net(x))

    images = images.detach().float()
    targets = torch.as_tensor(targets, dtype=torch.long)
    if method == "gradcam":
        attribution = LayerGradCam(class_scores, last_convolution(module)).attribute(
            images, target=targets, relu_attributions=True
        )
        maps = LayerAttribution.interpolate(attribution, images.shape[-2:], "bilinear")[:, 0]
    else:
        attribution = IntegratedGradients(class_scores).attribute(
            images, baselines=torch.zeros_like(images), target=targets, n_steps=IG_STEPS
        )
        maps = attribution.abs().sum(1)
    maps = maps.detach().clamp_min(0)
    peak = maps.flatten(1).max(1).values.clamp_min(1e-12)
    return maps / peak[:, None, None]


def box_scores(maps: torch.Tensor, boxes: Sequence[tuple[int, int, int, int]]) -> dict:
    """The pointing game (is each map's maximum inside its box) and the share of each map's
    mass inside its box; ``boxes`` as (x0, y0, x1, y1) pixels of the map, inclusive."""
    hits, mass = [], []
    for heat, (x0, y0, x1, y1) in zip(maps, boxes, strict=True):
        inside = torch.zeros_like(heat, dtype=torch.bool)
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
        peak = heat == heat.max()
        hits.append(bool((peak & inside).any()))
        mass.append(float(heat[inside].sum() / heat.sum().clamp_min(1e-12)))
    return {
        "pointing_game": float(np.mean(hits)),
        "mass_in_box": float(np.mean(mass)),
        "box_area": float(np.mean([(x1 - x0 + 1) * (y1 - y0 + 1) for x0, y0, x1, y1 in boxes]))
        / maps[0].numel(),
        "images": len(hits),
    }
