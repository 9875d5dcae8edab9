"""``labelspace predict``: top-k labels of image files, each with its path up the hierarchy,
and the backed-off answer (the most specific label the model is sure of)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from labelspace.analysis.inference import file_scores
from labelspace.errors import InputError
from labelspace.training.load import Run, load_run
from labelspace.validation import require_within


def check_options(*, k: int = 1, threshold: float = 0.5) -> None:
    """The options of ``predict``: ``k`` labels (>= 1) and a back-off threshold in [0, 1]."""
    if k < 1:
        raise InputError(f"--top (-k) must be >= 1, got {k}")
    require_within(0, 1, backoff=threshold)


def _loaded(run: Path | Run) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def backoff_answers(
    run: Path | Run, images: Sequence[Path], *, threshold: float = 0.9
) -> dict[Path, tuple[str, float, str]]:
    """``{image: (node, confidence, how)}``: the deepest ancestor of the top class whose
    probability reaches ``threshold`` (hierarchical back-off). ``run``: a run folder, or one
    loaded with its model.

    Methods without probabilities (DeViSE, cosine) use softmax(scores / T) with the T that
    ``labelspace analyze`` fitted on validation, or T = 1 (said in ``how``) before that.
    """
    from labelspace.analysis.backoff import backoff_label
    from labelspace.analysis.results import fitted_temperature
    from labelspace.embeddings.space import readable_name

    check_options(threshold=threshold)
    loaded = _loaded(run)
    scores = file_scores(loaded, images)
    probs = loaded.module.probabilities(scores)
    how = "the method's probabilities"
    if probs is None:
        t = fitted_temperature(loaded.path)
        how = (
            f"softmax(scores / {t:.4g}), T fitted on validation"
            if t
            else "softmax(scores), uncalibrated: run `labelspace analyze` to fit T"
        )
        probs = (scores / (t or 1.0)).softmax(-1)
    answers = {}
    for path, row in zip(images, probs, strict=True):
        node, confidence = backoff_label(row.double(), loaded.space.hierarchy, threshold)
        answers[Path(path)] = (readable_name(node), confidence, how)
    return answers


def predict_images(
    run: Path | Run, images: Sequence[Path], *, k: int = 5
) -> dict[Path, list[tuple[str, float, list[str]]]]:
    """``{image: [(class name, score, path to the root), ...]}`` best first. ``run``: a run
    folder, or one loaded with its model.

    Scores are probabilities where the method defines them, else its raw scores (cosine
    similarity, dot product or negative distance).
    """
    check_options(k=k)
    loaded = _loaded(run)
    scores = file_scores(loaded, images)
    probs = loaded.module.probabilities(scores)
    shown = probs if probs is not None else scores
    k = min(k, shown.shape[1])
    top = shown.topk(k, dim=1)
    space = loaded.space
    answers: dict[Path, list[tuple[str, float, list[str]]]] = {}
    for path, values, indices in zip(images, top.values, top.indices, strict=True):
        answers[Path(path)] = [
            (space.classes[int(i)], float(v), space.path_to_root(int(i)))
            for v, i in zip(values, indices, strict=True)
        ]
    return answers
