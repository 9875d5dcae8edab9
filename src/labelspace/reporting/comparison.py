"""The comparison report: one Markdown table of methods by metrics, and its figures.

Everything here is recomputed from run folders (their metrics.json, predictions and config),
so a report can be rebuilt without training again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from labelspace.analysis.config import parse_eps
from labelspace.reporting.results import MethodResult, crm_rows, flat_metrics
from labelspace.reporting.tables import (
    MAIN_COLUMNS,
    MULTI_COLUMNS,
    SALIENCY_COLUMNS,
    ZERO_SHOT_COLUMNS,
    markdown_table,
    seed_table,
)

log = logging.getLogger(__name__)


def build_report(
    out: Path,
    results: dict[str, list[MethodResult]],
    space,
    *,
    budget: str,
    setup: str,
) -> str:
    """The comparison report (Markdown) and its figures under ``out/plots``."""
    from labelspace.analysis.backoff import BackoffCurve
    from labelspace.reporting.figures import (
        plot_accuracy_severity_seeds,
        plot_backoff_curves,
        plot_confusions,
        plot_feature_maps,
        plot_robustness,
        plot_severity_histograms,
    )
    from labelspace.reporting.stats import compare_seeds

    plots = out / "plots"
    names = list(results)
    first = {name: runs[0] for name, runs in results.items()}
    per_method = {name: [flat_metrics(r) for r in runs] for name, runs in results.items()}
    crm = crm_rows(results)
    baseline = "softmax" if "softmax" in results else names[0]
    comparison = compare_seeds({**per_method, **crm}, baseline=baseline)
    n_seeds = len(next(iter(results.values())))
    data = first[names[0]].metrics["data"]

    lines = [f"# labelspace comparison on {data}", "", setup, "", budget, ""]
    lines += [
        "## Methods by metrics",
        "",
        seed_table(comparison, [*names, *crm], MAIN_COLUMNS),
        "",
        _seed_note(n_seeds, baseline),
        "",
    ]
    if any("zero_shot" in r.metrics for r in first.values()):
        unseen = next(
            r.metrics["zero_shot"]["unseen"] for r in first.values() if "zero_shot" in r.metrics
        )
        lines += [
            f"## Zero-shot (unseen: {', '.join(unseen)})",
            "",
            seed_table(comparison, names, ZERO_SHOT_COLUMNS),
            "",
            "ZSL: unseen test images ranked against the unseen labels only. GZSL: every test "
            "image against every label; H is the harmonic mean of seen and unseen accuracy. "
            "The table of methods by metrics above scores every test image, unseen classes "
            "included, against every label.",
            "",
        ]
        notes = sorted(
            {r.metrics.get("zero_shot", {}).get("note", "") for r in first.values()} - {""}
        )
        lines += [f"Note: {note}." for note in notes] + ([""] if notes else [])
    figures: list[tuple[str, Path | None, str]] = [
        (
            "Accuracy against mistake severity",
            plot_accuracy_severity_seeds({**per_method, **crm}, plots / "accuracy_severity.png"),
            "Small dots: single seeds; large dots with bars: mean and 95 % CI; hollow: the same "
            "runs re-ranked by CRM.",
        )
    ]
    analysed = {n: r for n, r in first.items() if r.analysis}
    if analysed:
        beyond = [
            ("backoff_auc", "back-off AUC", 4, 1.0),
            ("backoff_info@99", "informativeness at 99 % correct", 3, 1.0),
        ]
        eps_keys = sorted(
            {k for m in per_method.values() for k in m[0] if k.startswith("adv_top1@")},
            key=lambda k: parse_eps(k.split("@")[1]),
        )
        beyond += [(k, f"top-1 % under ε={k.split('@')[1]}", 2, 100.0) for k in eps_keys]
        if eps_keys:
            strongest = eps_keys[-1].split("@")[1]
            beyond.append((f"adv_severity@{strongest}", f"severity under ε={strongest} ↓", 3, 1.0))
        levels = sorted(
            {k for m in per_method.values() for k in m[0] if k.startswith("silhouette@")},
            key=lambda k: int(k.split("@h")[1]),
        )
        beyond += [(k, f"silhouette h{k.split('@h')[1]}", 3, 1.0) for k in levels]
        lines += [
            "## Beyond accuracy: back-off, attacks, features",
            "",
            seed_table(comparison, names, beyond),
            "",
            _analysis_note(next(iter(analysed.values())).analysis),
            "",
        ]
        if all("multi_single_size" in per_method[n][0] for n in analysed):
            calibration = next(iter(analysed.values())).analysis["multilabel"]["calibration"]
            lines += [
                "## Several labels from single-label training",
                "",
                seed_table(comparison, list(analysed), MULTI_COLUMNS),
                "",
                "Label sets hold every class whose score reaches a threshold calibrated on the "
                f"validation split: the score the true class reaches in "
                f"{calibration['coverage']:.0%} of single-object images (probabilities for "
                "methods that score with logits, the raw score for label-space methods). "
                "Composites: two test images of different classes side by side (squeezed to "
                "the input size) or the second shrunk to half size and pasted into a corner of "
                "the first; both-in-set counts composites whose set holds both classes.",
                "",
            ]
        if all("saliency_pointing" in per_method[n][0] for n in analysed):
            how = next(iter(analysed.values())).analysis["saliency"]
            lines += [
                "## Where the model looks",
                "",
                seed_table(comparison, list(analysed), SALIENCY_COLUMNS),
                "",
                f"{'Grad-CAM' if how['method'] == 'gradcam' else 'Integrated Gradients'} maps "
                f"of the true class's score on {how['images']} test images with object boxes. "
                "Pointing game: the map's maximum lies in the box. Mass in the box: the share "
                "of the map inside it; a map spread evenly would score the box's share of the "
                "image.",
                "",
            ]
        curves = {
            n: BackoffCurve.from_dict(r.analysis["backoff"]["curve"]) for n, r in analysed.items()
        }
        figures.append(
            (
                "Graceful degradation: back-off curves (seed "
                f"{next(iter(analysed.values())).seed})",
                plot_backoff_curves(curves, plots / "backoff.png"),
                "Each point is one confidence threshold: the model answers with the deepest "
                "ancestor of its top class whose probability reaches it.",
            )
        )
        if all("robustness" in r.analysis for r in analysed.values()):
            figures.append(
                (
                    "Robustness: accuracy and mistake severity under attack",
                    plot_robustness(results, plots / "robustness.png"),
                    "",
                )
            )
        if all("representations" in r.analysis for r in analysed.values()):
            maps = {
                n: (
                    np.asarray(r.analysis["representations"]["map"]["xy"]),
                    np.asarray(r.analysis["representations"]["map"]["group"]),
                )
                for n, r in analysed.items()
            }
            some = next(iter(analysed.values())).analysis["representations"]["map"]
            figures.append(
                (
                    f"Penultimate features ({some['method']}, coloured by coarse class at "
                    f"height {some['level']})",
                    plot_feature_maps(maps, some["group_names"], plots / "features.png"),
                    "",
                )
            )
    from labelspace.metrics.hierarchical import is_integer_cost

    seed0 = list(first.values())
    if is_integer_cost(space.cost):  # heights can be binned; a real-valued cost cannot
        figures.append(
            (
                "Mistakes by severity (first seed)",
                plot_severity_histograms(seed0, space.cost, plots / "severity_histogram.png"),
                "",
            )
        )
    figures += [
        (
            "Confusion matrices, classes in hierarchy order (first seed)",
            plot_confusions(seed0, space.hierarchy, space.classes, plots / "confusion.png"),
            "",
        ),
    ]
    for title, path, caption in figures:
        if path is None:
            continue
        lines += [f"## {title}", "", f"![{title}]({path.relative_to(out).as_posix()})", ""]
        if caption:
            lines += [caption, ""]
    lines += [
        "## Every metric of the first seed",
        "",
        markdown_table(seed0),
        "",
        LEGEND,
        "",
    ]
    return "\n".join(lines)


def _seed_note(n_seeds: int, baseline: str) -> str:
    if n_seeds == 1:
        return "One seed: no confidence intervals or tests; differences may be noise."
    return (
        f"Mean ± half-width of the 95 % confidence interval (Student t) over {n_seeds} seeds. "
        f"`*`: differs from {baseline} in a paired t-test over the same seeds (p < 0.05); "
        f"`(n.s.)`: no significant difference. With {n_seeds} seeds only large, consistent "
        "differences can reach significance. `+CRM`: the same runs re-ranked at test time by "
        "least expected LCA height (Karthik et al. 2021)."
    )


def _analysis_note(analysis: dict[str, Any]) -> str:
    note = (
        "Back-off AUC: area under correctness against informativeness (figure below); "
        "informativeness at 99 % correct: how specific the answers stay (1 = classes, 0 = the "
        "deepest node above all classes) at the threshold where 99 % of them are right. "
    )
    if "robustness" not in analysis:  # scores made elsewhere: back-off only
        return note + f"From {analysis['backoff'].get('probabilities', 'the probabilities')}."
    rob = analysis["robustness"]
    rep = analysis["representations"]
    return note + (
        "From each method's own probabilities where it has them (softmax, Poincaré's softmax "
        "over distances) and from softmax(scores / T) with T fitted on the validation split "
        f"where it has not (DeViSE, cosine). Attacks: {rob['attack'].upper()} ({rob['steps']} "
        f"steps) on {rob['images']} test images (drawn per seed, the same for every method), "
        f"{rob['loss']}; ε=0 is those images unattacked. Silhouette of the penultimate "
        f"features of {rep['images']} test images, "
        "grouping classes whose LCA lies at most h levels up (h0: the classes themselves)."
    )


LEGEND = (
    "Mistake severity: mean cost of (true, predicted) over mistakes, the cost being the height "
    "of their LCA in the class tree or a distance file's distance (see the setup). hdist@k: "
    "mean cost over the top-k predictions of every image. hp@k: hierarchical precision "
    "(DeViSE). hsim@k: hierarchical precision as Bertinetto et al.'s code computes it. "
    "acc@hN: prediction counts as right when it shares an ancestor of height ≤ N with the "
    "truth. ECE only where the method gives probabilities. ↓: lower is better."
)
