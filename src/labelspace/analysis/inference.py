"""A loaded run's model on images: read image files as the model expects them, bring pixels
to its input normalisation, and score them by the method's own class scores.

Every analysis that runs the model outside :func:`~labelspace.training.evaluate.predict_set`
(predict, label sets, saliency, attacks) goes through here, so an image is read and
normalised one way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from labelspace.errors import InputError
from labelspace.training.module import LabelSpaceClassifier

BATCH = 256  # images scored at once


class ImageFileError(InputError):
    """An image file that cannot be read."""


def load_image(path: Path, in_chans: int, image_size: int) -> torch.Tensor:
    """Read an image as the model expects it: ``in_chans`` channels, resized to
    ``image_size`` by the one resize policy (shorter side, then centre crop; see
    :mod:`labelspace.data.images_io`), uint8 ``(C, H, W)``."""
    from labelspace.data.images_io import DECODE_ERRORS, decode_error_reason, read_image

    try:
        return read_image(Path(path), channels=in_chans, size=image_size)
    except FileNotFoundError:
        raise ImageFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageFileError(f"{path}: a folder, not an image file") from None
    except DECODE_ERRORS as exc:
        raise ImageFileError(f"{path}: not a readable image ({decode_error_reason(exc)})") from None


def load_images(paths: Sequence[Path], spec: dict[str, Any]) -> list[torch.Tensor]:
    """Every image of ``paths`` read for a model whose input is ``spec`` (a run's
    :attr:`~labelspace.training.load.Run.input`); the first unreadable one is an error."""
    return [load_image(Path(p), spec["in_chans"], spec["image_size"]) for p in paths]


def normalize_images(images: Sequence[torch.Tensor], spec: dict[str, Any]) -> torch.Tensor:
    """uint8 images as one model input batch, normalised as the data stage normalises
    evaluation images (:func:`~labelspace.data.transforms.eval_transform`)."""
    from labelspace.data.transforms import eval_transform

    normalize = eval_transform(spec["mean"], spec["std"])
    return torch.stack([normalize(image) for image in images])


def pixel_normalizer(spec: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``(N, C, H, W)`` float pixels in [0, 1] to the model's input: minus the mean, over the
    std, differentiably (attacks and composite images work on such pixels)."""
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1)

    def normalize(pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - mean) / std

    return normalize


def class_scores(module: LabelSpaceClassifier, batch: torch.Tensor) -> torch.Tensor:
    """The method's class scores of a normalised batch, without gradients."""
    with torch.no_grad():
        return module.scores(module(batch))


def pixel_scores(module: LabelSpaceClassifier, pixels: torch.Tensor, spec: dict[str, Any]):
    """The class scores of float pixels in [0, 1], :data:`BATCH` images at a time."""
    normalize = pixel_normalizer(spec)
    return torch.cat([class_scores(module, normalize(x)) for x in pixels.split(BATCH)])


def file_scores(run, paths: Sequence[Path]) -> torch.Tensor:
    """The class scores of image files under a loaded run's model (``load_run(run)``)."""
    return class_scores(run.module, normalize_images(load_images(paths, run.input), run.input))
