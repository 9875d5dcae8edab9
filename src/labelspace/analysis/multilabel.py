"""Several labels from a model trained on one label per image.

A label **set** holds every class whose score reaches a threshold. The threshold is calibrated
on the run's validation split, which has one object per image: it is the score that the true
class reaches in ``coverage`` of the validation images (split conformal prediction), so that a
single-object image's set holds its class with that probability, and an image showing two
objects holds both when the model scores both as it scores one. The score is the method's own
kind: class probabilities for methods that score with logits (a logit is not comparable
between images), and the raw score (minus the Poincaré distance, a cosine, a dot product) for
methods that place images in a label space, where it is. The calibration is kept in
``RUN/multilabel.json``.

:func:`composite_images` builds the test of it: seeded pairs of test images of different
classes, side by side or one pasted into the other, brought back to the input size.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from labelspace.analysis.config import AnalysisConfig
from labelspace.analysis.inference import file_scores, pixel_scores
from labelspace.errors import InputError
from labelspace.files import atomic_write_json
from labelspace.training.load import Run, load_run
from labelspace.training.module import LabelSpaceClassifier
from labelspace.validation import require_open_unit

CALIBRATION_FILE = "multilabel.json"
COMPOSITIONS = ("side-by-side", "pasted")
DEFAULT_COVERAGE = AnalysisConfig.coverage  # one default for predict and analyze


@dataclass(frozen=True)
class Calibration:
    """The threshold of a run's label sets and how it was found."""

    coverage: float  # share of single-object validation images whose class is in their set
    threshold: float
    score: str  # "probabilities" or "scores"
    validation_images: int


def set_scores(module: LabelSpaceClassifier, scores: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The per-class numbers label sets threshold, and their kind (see the module docstring)."""
    if not module.criterion.scores_are_logits:
        return scores, "scores"
    return module.probabilities(scores), "probabilities"


def check_coverage(coverage: float) -> float:
    """``--coverage``, a share strictly between 0 and 1."""
    require_open_unit(coverage=coverage)
    return coverage


def calibrate(
    module: LabelSpaceClassifier, val_scores: torch.Tensor, val_targets: torch.Tensor, coverage
) -> Calibration:
    """The threshold that the true class reaches in ``coverage`` of the validation images."""
    check_coverage(coverage)
    values, kind = set_scores(module, val_scores)
    true = values.gather(1, val_targets[:, None]).squeeze(1).double()
    # the (1 - coverage) quantile, rounded down as split conformal prediction does
    k = max(math.floor(round((1 - coverage) * (len(true) + 1), 9)) - 1, 0)  # 0.1 * 100 is 10
    threshold = float(true.sort().values[min(k, len(true) - 1)])
    return Calibration(coverage, threshold, kind, len(true))


def run_calibration(run: Run, coverage: float = DEFAULT_COVERAGE) -> Calibration:
    """A run's calibration at ``coverage``: read from ``RUN/multilabel.json``, or made on its
    validation split (loading the run's model and data, if not loaded yet) and written there."""
    from labelspace.training.evaluate import predict_set

    check_coverage(coverage)
    path = run.path / CALIBRATION_FILE
    entries = json.loads(path.read_text(encoding="utf-8"))["calibrations"] if path.is_file() else []
    for entry in entries:
        if entry["coverage"] == coverage:
            return Calibration(**entry)
    run.load("model", "data")
    val = predict_set(run, run.val_set)
    calibration = calibrate(run.module, val.scores, val.targets, coverage)
    atomic_write_json(path, {"calibrations": [*entries, asdict(calibration)]})
    return calibration


def label_sets(values: torch.Tensor, threshold: float) -> torch.Tensor:
    """``(N, C)`` booleans: the classes at or above ``threshold``, and always the top class."""
    chosen = values >= threshold
    chosen[torch.arange(len(values)), values.argmax(1)] = True
    return chosen


def composite_images(
    images: torch.Tensor, targets: torch.Tensor, count: int, composition: str, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` composites of two images of different classes, at the images' size, and their
    two classes ``(count, 2)``.

    ``side-by-side``: the two images next to each other, the pair squeezed back to the input
    size. ``pasted``: the second shrunk to half size and pasted into a corner of the first
    (the corner drawn with the pair). Pairs are drawn with ``seed``."""
    if composition not in COMPOSITIONS:
        raise InputError(f"unknown composition {composition!r}; use {' or '.join(COMPOSITIONS)}")
    if len(torch.unique(targets)) < 2:
        raise InputError("composite images need test images of at least two classes")
    gen = torch.Generator().manual_seed(seed)
    first = torch.randint(len(targets), (count,), generator=gen)
    second = torch.randint(len(targets), (count,), generator=gen)
    clash = targets[first] == targets[second]
    while bool(clash.any()):  # redraw the partners of same-class pairs
        second[clash] = torch.randint(len(targets), (int(clash.sum()),), generator=gen)
        clash = targets[first] == targets[second]
    a, b = images[first].float(), images[second].float()
    height, width = a.shape[-2:]
    if composition == "side-by-side":
        pair = torch.cat([a, b], dim=-1)
        out = F.interpolate(pair, size=(height, width), mode="bilinear", antialias=True)
    else:
        small = F.interpolate(b, size=(height // 2, width // 2), mode="bilinear", antialias=True)
        out = a.clone()
        corners = torch.randint(4, (count,), generator=gen)
        for i, corner in enumerate(corners.tolist()):
            top = 0 if corner < 2 else height - height // 2
            left = 0 if corner % 2 == 0 else width - width // 2
            out[i, :, top : top + height // 2, left : left + width // 2] = small[i]
    return out, torch.stack([targets[first], targets[second]], dim=1)


def multilabel_metrics(values: torch.Tensor, pairs: torch.Tensor, threshold: float) -> dict:
    """How often both classes of a composite are in its top 2 and in its label set, how often
    at least one is, and the sets' mean size."""
    top2 = values.topk(2, dim=1).indices
    both_top2 = ((top2 == pairs[:, :1]).any(1) & (top2 == pairs[:, 1:]).any(1)).double()
    chosen = label_sets(values, threshold)
    has = chosen.gather(1, pairs)
    return {
        "both_in_top2": float(both_top2.mean()),
        "both_in_set": float(has.all(1).double().mean()),
        "one_in_set": float(has.any(1).double().mean()),
        "set_size": float(chosen.sum(1).double().mean()),
    }


def analyze_multilabel(
    run: Run,
    *,
    images: int = 1000,
    coverage: float = DEFAULT_COVERAGE,
    seed: int = 0,
) -> dict[str, Any]:
    """Label sets of a run (loaded with its model and data) on ``images`` single test images
    (a stratified, seeded subset) and on as many composites of two, for each composition."""
    from labelspace.data.splits import stratified_subset

    module = run.module.eval()
    calibration = run_calibration(run, coverage)
    subset = stratified_subset(run.test_set, images, seed).in_memory()

    def values_of(images01: torch.Tensor) -> torch.Tensor:
        return set_scores(module, pixel_scores(module, images01, run.input))[0]

    pixels = subset.images.float() / 255
    values = values_of(pixels)
    chosen = label_sets(values, calibration.threshold)
    result: dict[str, Any] = {
        "calibration": asdict(calibration),
        "images": len(subset.targets),
        "single": {
            "class_in_set": float(chosen.gather(1, subset.targets[:, None]).double().mean()),
            "set_size": float(chosen.sum(1).double().mean()),
        },
    }
    for composition in COMPOSITIONS:
        mixed, pairs = composite_images(pixels, subset.targets, len(pixels), composition, seed)
        result[composition] = multilabel_metrics(values_of(mixed), pairs, calibration.threshold)
    return result


def predict_label_sets(
    run: Path | Run,
    images,
    *,
    coverage: float = DEFAULT_COVERAGE,
    data: str | Path | None = None,
) -> tuple[dict[Path, list[tuple[str, float, list[str]]]], Calibration]:
    """``{image: [(class, value, path to the root), ...]}`` for the classes in each image's
    label set, best first, with the calibration used. Images are read first, so a file that
    is not an image fails before the run's data is loaded for a first calibration (from
    ``data``, where the run's dataset is now, if it has moved)."""
    check_coverage(coverage)
    loaded = run if isinstance(run, Run) else load_run(run, data=data)
    scores = file_scores(loaded, [Path(p) for p in images])
    calibration = run_calibration(loaded, coverage)
    values, _ = set_scores(loaded.module, scores)
    chosen = label_sets(values, calibration.threshold)
    space = loaded.space
    answers = {}
    for path, row, keep in zip(images, values, chosen, strict=True):
        order = [int(i) for i in row.argsort(descending=True) if keep[i]]
        answers[Path(path)] = [
            (space.classes[i], float(row[i]), space.path_to_root(i)) for i in order
        ]
    return answers, calibration


def tree_lines(paths: list[list[str]]) -> list[str]:
    """The union of root-ward paths as an indented tree, root first: the set's classes with
    the ancestors they share shown once (``paths``: class first, root last)."""
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for path in paths:
        down = path[::-1]
        if down[0] not in roots:
            roots.append(down[0])
        for parent, child in itertools.pairwise(down):
            siblings = children.setdefault(parent, [])
            if child not in siblings:
                siblings.append(child)
    lines: list[str] = []

    def walk(node: str, depth: int) -> None:
        lines.append("  " * depth + node)
        for child in children.get(node, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines
