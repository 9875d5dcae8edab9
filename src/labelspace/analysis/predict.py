"""``labelspace predict``: top-k labels of image files, each with its path up the hierarchy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from labelspace.errors import InputError
from labelspace.training.runs import LoadedModel, load_model


class ImageFileError(InputError):
    """An image file that cannot be read."""


def check_options(*, k: int = 1, threshold: float = 0.5) -> None:
    """The options of ``predict``: ``k`` labels (>= 1) and a back-off threshold in [0, 1]."""
    if k < 1:
        raise InputError(f"--top (-k) must be >= 1, got {k}")
    if not 0 <= threshold <= 1:  # also refuses NaN
        raise InputError(f"--backoff must lie in [0, 1], got {threshold}")


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


def _image_scores(model: LoadedModel, images: Sequence[Path]) -> torch.Tensor:
    from labelspace.data.transforms import eval_transform

    spec = model.input
    normalize = eval_transform(spec["mean"], spec["std"])
    batch = torch.stack(
        [normalize(load_image(Path(p), spec["in_chans"], spec["image_size"])) for p in images]
    )
    with torch.no_grad():
        return model.module.scores(model.module(batch))


def backoff_answers(
    run: Path, images: Sequence[Path], *, threshold: float = 0.9, model: LoadedModel | None = None
) -> dict[Path, tuple[str, float, str]]:
    """``{image: (node, confidence, how)}``: the deepest ancestor of the top class whose
    probability reaches ``threshold`` (hierarchical back-off).

    Methods without probabilities (DeViSE, cosine) use softmax(scores / T) with the T that
    ``labelspace analyze`` fitted on validation, or T = 1 (said in ``how``) before that.
    """
    from labelspace.analysis.analyze import read_analysis
    from labelspace.analysis.backoff import backoff_label
    from labelspace.embeddings.space import readable_name

    check_options(threshold=threshold)
    model = model or load_model(run)
    scores = _image_scores(model, images)
    probs = model.module.probabilities(scores)
    how = "the method's probabilities"
    if probs is None:
        analysis = read_analysis(Path(run)) or {}
        t = analysis.get("backoff", {}).get("temperature")
        how = (
            f"softmax(scores / {t:.4g}), T fitted on validation"
            if t
            else "softmax(scores), uncalibrated: run `labelspace analyze` to fit T"
        )
        probs = (scores / (t or 1.0)).softmax(-1)
    answers = {}
    for path, row in zip(images, probs, strict=True):
        node, confidence = backoff_label(row.double(), model.space.hierarchy, threshold)
        answers[Path(path)] = (readable_name(node), confidence, how)
    return answers


def predict_images(
    run: Path, images: Sequence[Path], *, k: int = 5, model: LoadedModel | None = None
) -> dict[Path, list[tuple[str, float, list[str]]]]:
    """``{image: [(class name, score, path to the root), ...]}`` best first.

    Scores are probabilities where the method defines them, else its raw scores (cosine
    similarity, dot product or negative distance).
    """
    check_options(k=k)
    model = model or load_model(run)
    scores = _image_scores(model, images)
    probs = model.module.probabilities(scores)
    shown = probs if probs is not None else scores
    k = min(k, shown.shape[1])
    top = shown.topk(k, dim=1)
    answers: dict[Path, list[tuple[str, float, list[str]]]] = {}
    for path, values, indices in zip(images, top.values, top.indices, strict=True):
        answers[Path(path)] = [
            (model.space.classes[int(i)], float(v), model.space.path_to_root(int(i)))
            for v, i in zip(values, indices, strict=True)
        ]
    return answers
