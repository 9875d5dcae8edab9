"""The comparison report: one Markdown table of methods by metrics, and its figures.

Everything here is recomputed from run folders (their metrics.json, predictions and config),
so a report can be rebuilt without training again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelspace.analysis.config import parse_eps

log = logging.getLogger(__name__)

# (metrics.json key, column title, digits, percent)
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("top1", "top-1 %", 2, True),
    ("top5", "top-5 %", 2, True),
    ("severity", "mistake severity ↓", 3, False),
    ("hdist@1", "hdist@1 ↓", 3, False),
    ("hdist@5", "hdist@5 ↓", 3, False),
    ("hp@1", "hp@1 %", 2, True),
    ("hp@2", "hp@2 %", 2, True),
    ("hp@5", "hp@5 %", 2, True),
    ("ece", "ECE ↓", 3, False),
)


@dataclass
class MethodResult:
    """One method's run, as the report needs it."""

    name: str
    metrics: dict[str, Any]
    scores: torch.Tensor
    targets: torch.Tensor
    analysis: dict[str, Any] | None = None
    seed: int = 0


def _fmt(value: Any, digits: int, scale: float) -> str:
    """``value`` x ``scale`` (100 shows a share as percent), or a dash where there is none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{scale * value:.{digits}f}"


def markdown_table(results: Sequence[MethodResult]) -> str:
    """Methods by metrics, plus coarse accuracies and throughput."""
    heights = sorted(
        {
            int(k[len("acc@h") :])
            for r in results
            for k in r.metrics["test"]
            if k.startswith("acc@h")
        }
    )
    head = ["method", *(title for _, title, _, _ in COLUMNS)]
    head += [f"acc@h{h} %" for h in heights] + ["train img/s", "eval img/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        flat = flat_metrics(r)  # the test metrics and the zero-shot ones
        row = [r.name, *(_fmt(flat.get(key), d, scale) for key, _, d, scale in COLUMNS)]
        row += [_fmt(flat.get(f"acc@h{h}"), 2, 100.0) for h in heights]
        row += [
            _fmt(r.metrics.get("train_images_per_second"), 0, 1.0),
            _fmt(r.metrics.get("eval_images_per_second"), 0, 1.0),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- several seeds
# (key, column title, digits, scale): scale 100 shows a share as percent
COLUMNS: tuple[tuple[str, str, int, float], ...] = (
    ("top1", "top-1 %", 2, 100.0),
    ("top5", "top-5 %", 2, 100.0),
    ("severity", "mistake severity ↓", 3, 1.0),
    ("hdist@1", "hdist@1 ↓", 3, 1.0),
    ("hdist@5", "hdist@5 ↓", 3, 1.0),
    ("hp@2", "hp@2 %", 2, 100.0),
    ("hp@5", "hp@5 %", 2, 100.0),
    ("ece", "ECE ↓", 3, 1.0),
    ("zsl_top1", "ZSL top-1 %", 2, 100.0),
    ("gzsl_seen_top1", "GZSL seen top-1 %", 2, 100.0),
    ("gzsl_unseen_top1", "GZSL unseen top-1 %", 2, 100.0),
    ("gzsl_h_top1", "GZSL H top-1 %", 2, 100.0),
    ("gzsl_unseen_top5", "GZSL unseen top-5 %", 2, 100.0),
    ("gzsl_h_top5", "GZSL H top-5 %", 2, 100.0),
    ("seen_top1", "seen-only top-1 %", 2, 100.0),
)
ZERO_SHOT_PREFIXES = ("zsl_", "gzsl_", "seen_")
MAIN_COLUMNS = tuple(c for c in COLUMNS if not c[0].startswith(ZERO_SHOT_PREFIXES))
ZERO_SHOT_COLUMNS = tuple(c for c in COLUMNS if c[0].startswith(ZERO_SHOT_PREFIXES))


def _eps_name(eps: float) -> str:
    return f"{round(eps * 255)}/255" if eps > 0 else "0"


def flat_metrics(r: MethodResult) -> dict[str, float]:
    """One run's numbers under one flat namespace, for the statistics over seeds."""
    flat = {k: float(v) for k, v in r.metrics["test"].items() if isinstance(v, int | float)}
    zero_shot = r.metrics.get("zero_shot", {})
    flat.update({k: float(v) for k, v in zero_shot.items() if k not in ("unseen", "note")})
    flat["train_seconds"] = float(r.metrics.get("train_seconds", float("nan")))
    a = r.analysis or {}
    if "backoff" in a:
        flat["backoff_auc"] = float(a["backoff"]["auc"])
        curve = a["backoff"]["curve"]
        sure = [
            x
            for x, y in zip(curve["informativeness"], curve["correctness"], strict=True)
            if y >= 0.99
        ]
        flat["backoff_info@99"] = max(sure, default=0.0)
    for point in a.get("robustness", {}).get("points", []):
        name = _eps_name(point["eps"])
        flat[f"adv_top1@{name}"] = float(point["top1"])
        flat[f"adv_severity@{name}"] = float(point["severity"])
    for level, value in a.get("representations", {}).get("silhouette", {}).items():
        flat[f"silhouette@h{level}"] = float(value)
    if "saliency" in a:
        flat["saliency_pointing"] = float(a["saliency"]["pointing_game"])
        flat["saliency_mass"] = float(a["saliency"]["mass_in_box"])
        flat["saliency_box_area"] = float(a["saliency"]["box_area"])
    multi = a.get("multilabel")
    if multi:
        flat["multi_single_in_set"] = float(multi["single"]["class_in_set"])
        flat["multi_single_size"] = float(multi["single"]["set_size"])
        for composition in ("side-by-side", "pasted"):
            for key, value in multi[composition].items():
                flat[f"multi_{composition}_{key}"] = float(value)
    return flat


SALIENCY_COLUMNS = [
    ("saliency_pointing", "pointing game %", 2, 100.0),
    ("saliency_mass", "saliency mass in the box %", 2, 100.0),
    ("saliency_box_area", "box share of the image %", 2, 100.0),
]
# columns that describe the test images, the same for every method of a seed: no test
REFERENCE_COLUMNS = {"saliency_box_area"}
MULTI_COLUMNS = [
    ("multi_single_in_set", "single image: class in set %", 2, 100.0),
    ("multi_single_size", "single: set size", 2, 1.0),
    *(
        (f"multi_{c}_{key}", f"{c}: {label}", digits, scale)
        for c in ("side-by-side", "pasted")
        for key, label, digits, scale in (
            ("both_in_top2", "both in top-2 %", 2, 100.0),
            ("both_in_set", "both in set %", 2, 100.0),
            ("set_size", "set size", 2, 1.0),
        )
    ),
]


def crm_rows(results: dict[str, list[MethodResult]]) -> dict[str, list[dict[str, float]]]:
    """Conditional-risk re-ranking of each method with probabilities, as rows of its own."""
    rows: dict[str, list[dict[str, float]]] = {}
    for name, runs in results.items():
        if all(r.analysis and "crm" in r.analysis.get("backoff", {}) for r in runs):
            rows[f"{name} +CRM"] = [
                {k: float(v) for k, v in r.analysis["backoff"]["crm"].items()} for r in runs
            ]
    return rows


def seed_table(
    comparison, rows: Sequence[str], columns: Sequence[tuple[str, str, int, float]]
) -> str:
    """Methods by metrics: mean ± 95 % CI over seeds; * / (n.s.) against the baseline."""
    from labelspace.reporting.stats import format_cell

    present = [c for c in columns if any(comparison.get(r, c[0]) for r in rows)]
    head = ["method", *(title for _, title, _, _ in present)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row]
        for key, _, digits, scale in present:
            comp = comparison.get(row, key)
            cells.append(
                "–"
                if comp is None
                else format_cell(
                    comp.interval,
                    scale=scale,
                    digits=digits,
                    significant=None if key in REFERENCE_COLUMNS else comp.significant,
                )
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
        figures.append(
            (
                "Robustness: accuracy and mistake severity under attack",
                plot_robustness(results, plots / "robustness.png"),
                "",
            )
        )
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
    seed0 = list(first.values())
    figures += [
        (
            "Mistakes by severity (first seed)",
            plot_severity_histograms(seed0, space.lca_height, plots / "severity_histogram.png"),
            "",
        ),
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
    rob = analysis["robustness"]
    rep = analysis["representations"]
    return (
        "Back-off AUC: area under correctness against informativeness (figure below); "
        "informativeness at 99 % correct: how specific the answers stay (1 = classes, 0 = the "
        "deepest node above all classes) at the threshold where 99 % of them are right. From "
        "each method's own probabilities where it has them (softmax, Poincaré's softmax over "
        "distances) and from softmax(scores / T) with T fitted on the validation split where "
        f"it has not (DeViSE, cosine). Attacks: {rob['attack'].upper()} ({rob['steps']} "
        f"steps) on {rob['images']} test images (drawn per seed, the same for every method), "
        f"{rob['loss']}; ε=0 is those images unattacked. Silhouette of the penultimate "
        f"features of {rep['images']} test images, "
        "grouping classes whose LCA lies at most h levels up (h0: the classes themselves)."
    )


LEGEND = (
    "Mistake severity: mean height of LCA(true, predicted) over mistakes. hdist@k: mean "
    "LCA height over the top-k predictions of every image. hp@k: hierarchical precision "
    "(DeViSE). acc@hN: prediction counts as right when it shares an ancestor of height ≤ N "
    "with the truth. ECE only where the method gives probabilities. ↓: lower is better."
)


# the report's main columns for a terminal: (key, heading); a heading ending in % is a share
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("top1", "top-1 %"),
    ("severity", "sever.↓"),
    ("hdist@5", "hdist@5↓"),
    ("hp@2", "hp@2 %"),
    ("ece", "ECE↓"),
    ("backoff_info@99", "info@99"),
    ("zsl_top1", "ZSL %"),
    ("gzsl_h_top1", "GZSL H %"),
)
TRAIN_SECONDS_COLUMN = ("train_seconds", "train s", 0, 1.0)


def summary_table(
    results: dict[str, list[MethodResult]],
) -> tuple[list[tuple[str, str, int, float]], dict[str, list[float]]]:
    """The main columns that some method has, as (key, heading, digits, scale), then the
    training seconds, and per method the means over seeds of each (for a terminal table;
    report.md has everything)."""
    from labelspace.reporting.stats import seed_mean

    flats = {name: [flat_metrics(r) for r in runs] for name, runs in results.items()}
    columns = [
        (key, head, *((2, 100.0) if head.endswith("%") else (3, 1.0)))
        for key, head in SUMMARY_COLUMNS
        if any(key in f[0] for f in flats.values())
    ]
    columns.append(TRAIN_SECONDS_COLUMN)
    rows = {
        name: [seed_mean([f.get(key, math.nan) for f in runs]) for key, *_ in columns]
        for name, runs in flats.items()
    }
    return columns, rows
