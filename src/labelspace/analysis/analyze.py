"""``labelspace analyze RUN``: what a trained run does beyond accuracy.

Four questions, each answered from the run's final weights and its test set:

- back-off: how correctness trades against informativeness when the model may answer with
  a coarser node (:mod:`labelspace.analysis.backoff`), and conditional-risk re-ranking as the
  test-time peer for methods with probabilities;
- robustness: accuracy and mistake severity under FGSM/PGD (:mod:`labelspace.analysis.attacks`);
- representations: silhouette of the penultimate features by coarse class at each level,
  and a 2-D map of them (:mod:`labelspace.analysis.representations`);
- calibration of scores that are not probabilities: DeViSE and cosine scores become
  probabilities for back-off through a temperature fitted on the validation split.

The results go to ``RUN/analysis.json`` (written atomically) so reports can be rebuilt.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from labelspace.analysis.config import AnalysisConfig
from labelspace.analysis.inference import pixel_normalizer
from labelspace.analysis.results import ANALYSIS_FILE
from labelspace.data.splits import stratified_subset
from labelspace.files import atomic_write_json
from labelspace.locks import holding_lock
from labelspace.training.evaluate import predict_set
from labelspace.training.load import Run, load_run

log = logging.getLogger(__name__)

# the optional sections and the options that belong to each alone
SECTION_OPTIONS = {
    "multilabel": ("multi", "multi_images", "coverage"),
    "saliency": ("saliency", "saliency_images", "saliency_method"),
}
OWN_OPTIONS = {option for options in SECTION_OPTIONS.values() for option in options}


def fit_temperature(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature T minimising the NLL of ``softmax(scores / T)`` (Guo et al. 2017).

    A 1-D problem: a log-spaced grid from 1e-3 to 1e2 refined once around its best point is
    exact enough for back-off and cannot diverge as an optimiser could on raw dot products.
    """

    def nll(t: float) -> float:
        return torch.nn.functional.cross_entropy(scores.double() / t, targets).item()

    grid = torch.logspace(-3, 2, 51).tolist()
    best = min(grid, key=nll)
    fine = torch.logspace(math.log10(best) - 0.1, math.log10(best) + 0.1, 21).tolist()
    return float(min(fine, key=nll))


def probabilities_for_backoff(
    run: Run, scores: torch.Tensor
) -> tuple[torch.Tensor, str, float | None]:
    """The method's own probabilities, or softmax(scores / T) with T fitted on validation;
    also says which, and T where one was fitted (``run`` loaded with its model and data)."""
    module = run.module
    probs = module.probabilities(scores)
    if probs is not None:
        return probs, "the method's probabilities", None
    val = predict_set(run, run.val_set)
    t = fit_temperature(val.scores, val.targets)
    return (scores / t).softmax(-1), f"softmax(scores / {t:.4g}), T fitted on validation", t


def _backoff(run: Run, scores: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    from labelspace.analysis.backoff import backoff_curve, crm_scores
    from labelspace.metrics.hierarchical import summarize

    space = run.space
    probs, source, temperature = probabilities_for_backoff(run, scores)
    curve = backoff_curve(probs.double(), targets, space.hierarchy)
    out: dict[str, Any] = {
        "probabilities": source,
        "temperature": temperature,
        "curve": curve.to_dict(),
        "auc": curve.auc,
    }
    if temperature is None:  # CRM needs the method's own probabilities, not fitted ones
        reranked = crm_scores(probs, space.cost.to(probs.dtype))
        out["crm"] = summarize(reranked, targets, space.cost, max_distance=space.distance_max)
    return out


def _robustness(run: Run, cfg: AnalysisConfig, on_progress=None) -> dict[str, Any]:
    from labelspace.analysis.attacks import attack_dataset
    from labelspace.metrics.hierarchical import mistake_severity

    module = run.module.eval()
    # attacks work on pixels in [0, 1]: the few attacked images are decoded into memory
    subset = stratified_subset(run.test_set, cfg.attack_images, cfg.seed).in_memory()
    normalize = pixel_normalizer(run.input)

    def forward(images01: torch.Tensor) -> torch.Tensor:
        return module.net(normalize(images01))

    def loss_fn(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # one attack for every method: a hinge loss (DeViSE) has zero gradient once its margins
        # hold, which would mask gradients and flatter the method, not test it
        return torch.nn.functional.cross_entropy(module.scores(outputs), targets)

    scores = attack_dataset(
        forward,
        loss_fn,
        module.scores,
        subset.images,
        subset.targets,
        list(cfg.eps),
        attack=cfg.attack,
        steps=cfg.attack_steps,
        seed=cfg.seed,
        on_progress=on_progress,
    )
    cost = run.space.cost
    rows = []
    for eps, s in scores.items():
        pred = s.argmax(-1)
        rows.append(
            {
                "eps": float(eps),
                "top1": (pred == subset.targets).double().mean().item(),
                "severity": mistake_severity(pred, subset.targets, cost),
            }
        )
    return {
        "attack": cfg.attack,
        "steps": cfg.attack_steps,
        "images": len(subset.targets),
        "loss": "cross-entropy over the method's class scores",
        "points": rows,
    }


def _representations(run: Run, cfg: AnalysisConfig) -> dict[str, Any]:
    from labelspace.analysis import representations as rep

    subset = stratified_subset(run.test_set, cfg.feature_images, cfg.seed)
    preds = predict_set(run, subset, keep_features=True)
    lca = run.space.lca_height
    silhouette = rep.silhouette_by_level(
        preds.features, preds.targets, lca, sample=cfg.feature_images, seed=cfg.seed
    )
    levels = sorted(silhouette)
    map_level = _map_level(lca, levels)
    xy, index = rep.feature_map(
        preds.features, sample=cfg.feature_images, seed=cfg.seed, method=cfg.feature_map
    )
    groups = rep.coarse_groups(lca, map_level)[preds.targets[torch.as_tensor(index)]]
    return {
        "images": len(preds.targets),
        "silhouette": {str(k): v for k, v in silhouette.items()},
        "map": {
            "method": cfg.feature_map,
            "level": map_level,
            "group_names": rep.group_names(run.space.hierarchy, lca, map_level),
            "xy": [[round(float(a), 3), round(float(b), 3)] for a, b in xy],
            "group": groups.tolist(),
        },
    }


def _map_level(lca: torch.Tensor, levels: Sequence[int]) -> int:
    """The level whose coarse groups colour the feature map: the first with 3-6 groups."""
    from labelspace.analysis.representations import coarse_groups

    for level in levels:
        if 3 <= int(coarse_groups(lca, level).max()) + 1 <= 6:
            return level
    return levels[min(1, len(levels) - 1)] if levels else 0


@holding_lock  # not while another process trains or evaluates the run
def analyze_run(
    run: Path,
    config: AnalysisConfig | None = None,
    *,
    overwrite: bool = True,
    on_step: Callable[[str], None] | None = None,
    on_progress=None,
    data: str | Path | None = None,
) -> dict[str, Any]:
    """Back-off, robustness and representations of a finished run, label sets with
    ``config.multi`` and saliency against object boxes with ``config.saliency`` ->
    ``RUN/analysis.json``.

    Sections that an earlier analysis with the same options already holds are kept, so
    adding ``multi`` or ``saliency`` to an analysed run computes only that section.
    ``data``: where the run's dataset is now, if it has moved (it must have the run's
    classes)."""
    from labelspace.analysis.multilabel import analyze_multilabel
    from labelspace.analysis.saliency import saliency_in_boxes

    run = Path(run)
    config = config or AnalysisConfig()
    config.validate()
    path = run / ANALYSIS_FILE
    if path.is_file() and not overwrite:
        return json.loads(path.read_text(encoding="utf-8"))
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    # the run's model, data and predictions load only if a section needs them, each once
    loaded: list[Run] = []

    def part(*parts: str) -> Run:
        if not loaded:
            loaded.append(load_run(run, ("config",), distances=config.distances, data=data))
        return loaded[0].load(*parts)

    def ready() -> Run:
        return part("model", "data")

    def preds():
        return part("predictions").predictions

    result: dict[str, Any] = {"config": {**asdict(config), "eps": list(config.eps)}}
    before = previous.get("config", {})
    same = {k: v for k, v in before.items() if k not in OWN_OPTIONS} == {
        k: v for k, v in result["config"].items() if k not in OWN_OPTIONS
    }
    steps = [
        ("backoff", lambda: _backoff(ready(), preds().scores, preds().targets)),
        ("robustness", lambda: _robustness(ready(), config, on_progress)),
        ("representations", lambda: _representations(ready(), config)),
    ]
    if config.multi:
        multi = {"images": config.multi_images, "coverage": config.coverage, "seed": config.seed}
        steps.append(("multilabel", lambda: analyze_multilabel(ready(), **multi)))
    if config.saliency:
        boxes = {"images": config.saliency_images, "method": config.saliency_method}
        steps.append(("saliency", lambda: saliency_in_boxes(part(), **boxes, seed=config.seed)))
    for name, step in steps:
        own = SECTION_OPTIONS.get(name, ())
        if same and name in previous and all(before.get(k) == getattr(config, k) for k in own):
            result[name] = previous[name]  # the same options gave it already
            continue
        if on_step is not None:
            on_step(name)
        log.info("%s: %s", run.name, name)
        result[name] = step()
    for name, own in SECTION_OPTIONS.items():  # a section asked for before is kept
        if name not in result and same and name in previous:
            result[name] = previous[name]
            result["config"].update({k: before[k] for k in own if k in before})
    atomic_write_json(path, result)
    return result
