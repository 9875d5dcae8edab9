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

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from labelspace.analysis.config import SALIENCY_METHODS
from labelspace.errors import InputError
from labelspace.training.load import Run, load_run
from labelspace.training.module import LabelSpaceClassifier

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


def overlay_stems(paths: Sequence[Path]) -> list[str]:
    """One file-name stem per image for its overlays, no two alike (case ignored, as some
    file systems do), so that images sharing a file name do not overwrite each other's.

    An image keeps its own stem (``boot``) where no other image has it; images that share
    one are named by their paths below the folder they have in common (``a/0.png`` and
    ``b/0.png`` -> ``a_0`` and ``b_0``; ``0.png`` and ``0.jpg`` -> ``0_png`` and ``0_jpg``),
    and an image given twice gets a number (``0_2``)."""
    stems = [Path(p).stem for p in paths]
    groups: dict[str, list[int]] = {}
    for i, stem in enumerate(stems):
        groups.setdefault(stem.casefold(), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        full = [Path(os.path.abspath(paths[i])) for i in members]
        common = Path(os.path.commonpath([str(f.parent) for f in full]))
        below = [f.relative_to(common) for f in full]
        short = ["_".join(b.with_suffix("").parts) for b in below]
        longer = ["_".join((*b.parent.parts, b.name.replace(".", "_"))) for b in below]
        if _distinct(longer) > _distinct(short):  # the same name with other suffixes
            short = longer
        for i, name in zip(members, short, strict=True):
            stems[i] = name
    return unique_names(stems)


def _distinct(names: Sequence[str]) -> int:
    return len({name.casefold() for name in names})


def unique_names(names: Sequence[str], suffix: str = "") -> list[str]:
    """``names`` with ``_2``, ``_3`` ... added (before ``suffix``) to each repeat of a name
    (case ignored), so that every name is new."""
    taken: set[str] = set()
    out = []
    for name in names:
        base = name.removesuffix(suffix) if suffix else name
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base}_{n}{suffix}"
        taken.add(candidate.casefold())
        out.append(candidate)
    return out


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


def read_boxes(listing) -> dict[Path, tuple[int, int, int, int]]:
    """The object boxes of a dataset's test images, by path: Tiny ImageNet's
    ``val/val_annotations.txt`` (file, wnid, x0, y0, x1, y1 in pixels of the 64 x 64 image).
    Layouts without boxes are an error that says which have them."""
    if listing.layout != "tiny-imagenet":
        raise SaliencyError(
            f"{listing.root} ({listing.layout} layout) has no object boxes; the saliency "
            "measurement needs a dataset with boxes: Tiny ImageNet (val/val_annotations.txt)"
        )
    root = Path(listing.root)
    boxes: dict[Path, tuple[int, int, int, int]] = {}
    for line in (root / "val" / "val_annotations.txt").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 6:
            x0, y0, x1, y1 = (int(v) for v in fields[2:6])
            boxes[root / "val" / "images" / fields[0]] = (x0, y0, x1, y1)
    return boxes


def box_in_input(
    box: tuple[int, int, int, int], original: tuple[int, int], size: int
) -> tuple[int, int, int, int]:
    """A box of the original ``(width, height)`` image in the model's ``size x size`` input,
    under the one resize policy (shorter side to ``size``, centre crop), clipped to it."""
    w, h = original
    if (w, h) == (size, size):
        return box
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    sx, sy = new_w / w, new_h / h
    x0, y0, x1, y1 = box

    def clip(v: float) -> int:
        return min(max(int(v), 0), size - 1)

    return (
        clip(x0 * sx - left),
        clip(y0 * sy - top),
        clip((x1 + 1) * sx - left - 1),
        clip((y1 + 1) * sy - top - 1),
    )


def saliency_in_boxes(
    run: Path | Run, *, images: int = 500, method: str = "gradcam", seed: int = 0
) -> dict:
    """The pointing game and the saliency mass inside the object's box for the true class of
    ``images`` test images drawn with ``seed`` (class-stratified), at the run's input size.
    ``run``: a run folder or a loaded run (its model is loaded here if it is not yet)."""
    from PIL import Image

    from labelspace.analysis.inference import load_images, normalize_images
    from labelspace.data.layouts import scan_dataset
    from labelspace.data.splits import stratified_sample

    check_method(method)
    loaded = run if isinstance(run, Run) else load_run(run, ("config",))
    data = loaded.data_source()
    if not Path(data).expanduser().is_dir():  # a named dataset (fashion-mnist, cifar10, ...)
        raise SaliencyError(
            f"{data} has no object boxes; the saliency measurement needs a dataset with boxes: "
            "Tiny ImageNet (val/val_annotations.txt)"
        )
    listing = scan_dataset(data)
    boxes = read_boxes(listing)
    module = loaded.load("model").module
    if method == "gradcam":
        last_convolution(module)
    spec = loaded.input
    targets = np.asarray(listing.test.targets)
    chosen = stratified_sample(targets, images, seed).numpy()
    size = spec["image_size"]
    maps, in_input = [], []
    for start in range(0, len(chosen), 100):
        part = chosen[start : start + 100]
        paths = [listing.test.paths[i] for i in part]
        batch = normalize_images(load_images(paths, spec), spec)
        maps.append(saliency_maps(module, batch, torch.as_tensor(targets[part]), method))
        for p in paths:
            with Image.open(p) as pil:
                in_input.append(box_in_input(boxes[Path(p)], pil.size, size or pil.size[0]))
    result = box_scores(torch.cat(maps), in_input)
    return {"method": method, "target": "the true class", **result}
