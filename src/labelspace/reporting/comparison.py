"""The comparison report: one Markdown table of methods by metrics, and its figures.

Everything here is recomputed from run folders (their metrics.json, predictions and config),
so a report can be rebuilt without training again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labelspace.hierarchy.graph import Hierarchy

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


def _fmt(value: Any, digits: int, percent: bool) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{100 * value:.{digits}f}" if percent else f"{value:.{digits}f}"


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
        test = r.metrics["test"]
        row = [r.name, *(_fmt(test.get(key), d, p) for key, _, d, p in COLUMNS)]
        row += [_fmt(test.get(f"acc@h{h}"), 2, True) for h in heights]
        row += [
            _fmt(r.metrics.get("train_images_per_second"), 0, False),
            _fmt(r.metrics.get("eval_images_per_second"), 0, False),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def hierarchy_order(hierarchy: Hierarchy) -> list[int]:
    """Class positions in depth-first order of the hierarchy (siblings by name), so that a
    confusion matrix shows related classes next to each other."""
    class_pos = {hierarchy.index[c]: i for i, c in enumerate(hierarchy.classes)}
    order: list[int] = []
    seen: set[int] = set()
    stack = [hierarchy.index[hierarchy.root]]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in class_pos:
            order.append(class_pos[node])
        kids = sorted(hierarchy.children[node], key=lambda k: hierarchy.nodes[k], reverse=True)
        stack.extend(kids)
    return order


def _pyplot():
    from labelspace.reporting.figures import pyplot

    return pyplot()


def _savefig(fig, path: Path) -> Path:
    from labelspace.reporting.figures import save_figure

    save_figure(fig, path)
    _pyplot().close(fig)
    return path


def plot_accuracy_severity(results: Sequence[MethodResult], path: Path) -> Path:
    """Top-1 accuracy against mistake severity: better methods sit top-left."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for r in results:
        x, y = r.metrics["test"].get("severity"), 100 * r.metrics["test"]["top1"]
        ax.scatter([x], [y], s=40)
        ax.annotate(r.name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xlabel("mistake severity (mean LCA height of mistakes, lower is better)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _savefig(fig, path)


def plot_severity_histograms(
    results: Sequence[MethodResult], lca_height: torch.Tensor, path: Path
) -> Path:
    """How many mistakes each method makes at each LCA height."""
    plt = _pyplot()
    from labelspace.metrics.hierarchical import severity_histogram

    max_h = int(lca_height.max())
    width = 0.8 / max(len(results), 1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, r in enumerate(results):
        counts = severity_histogram(r.scores.argmax(-1), r.targets, lca_height).numpy()
        xs = np.arange(1, len(counts) + 1) + (i - (len(results) - 1) / 2) * width
        ax.bar(xs, counts, width=width, label=r.name)
    ax.set_xticks(range(1, max_h + 1))
    ax.set_xlabel("height of LCA(true, predicted) for mistakes")
    ax.set_ylabel("mistakes (test images)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _savefig(fig, path)


def plot_confusions(
    results: Sequence[MethodResult], hierarchy: Hierarchy, class_names: Sequence[str], path: Path
) -> Path:
    """Row-normalised confusion matrices, classes in hierarchy order, one panel per method."""
    plt = _pyplot()
    order = hierarchy_order(hierarchy)
    names = [class_names[i] for i in order]
    c = len(order)
    cols = min(len(results), 3)
    rows = (len(results) + cols - 1) // cols
    size = 3.2 + 0.12 * c
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[len(results) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, results, strict=False):
        pred = r.scores.argmax(-1)
        conf = torch.zeros(c, c)
        conf.index_put_((r.targets, pred), torch.ones(len(pred)), accumulate=True)
        conf = conf / conf.sum(1, keepdim=True).clamp_min(1)
        conf = conf[order][:, order]
        ax.imshow(conf.numpy(), cmap="Blues", vmin=0, vmax=1)
        ax.set_title(r.name, fontsize=10)
        if c <= 30:
            ax.set_xticks(range(c), names, rotation=90, fontsize=7)
            ax.set_yticks(range(c), names, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    fig.tight_layout()
    return _savefig(fig, path)


# --------------------------------------------------------------------------- several seeds
# (key, column title, digits, scale): scale 100 shows a share as percent
MAIN_COLUMNS: tuple[tuple[str, str, int, float], ...] = (
    ("top1", "top-1 %", 2, 100.0),
    ("top5", "top-5 %", 2, 100.0),
    ("severity", "mistake severity ↓", 3, 1.0),
    ("hdist@1", "hdist@1 ↓", 3, 1.0),
    ("hdist@5", "hdist@5 ↓", 3, 1.0),
    ("hp@2", "hp@2 %", 2, 100.0),
    ("hp@5", "hp@5 %", 2, 100.0),
    ("ece", "ECE ↓", 3, 1.0),
)
ZERO_SHOT_COLUMNS: tuple[tuple[str, str, int, float], ...] = (
    ("zsl_top1", "ZSL top-1 %", 2, 100.0),
    ("gzsl_seen_top1", "GZSL seen top-1 %", 2, 100.0),
    ("gzsl_unseen_top1", "GZSL unseen top-1 %", 2, 100.0),
    ("gzsl_h_top1", "GZSL H top-1 %", 2, 100.0),
    ("gzsl_unseen_top5", "GZSL unseen top-5 %", 2, 100.0),
    ("gzsl_h_top5", "GZSL H top-5 %", 2, 100.0),
    ("seen_top1", "seen-only top-1 %", 2, 100.0),
)


def _eps_name(eps: float) -> str:
    return f"{round(eps * 255)}/255" if eps > 0 else "0"


def flat_metrics(r: MethodResult) -> dict[str, float]:
    """One run's numbers under one flat namespace, for the statistics over seeds."""
    flat = {k: float(v) for k, v in r.metrics["test"].items() if isinstance(v, int | float)}
    flat.update({k: float(v) for k, v in r.metrics.get("zero_shot", {}).items() if k != "unseen"})
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
    return flat


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
                    comp.interval, scale=scale, digits=digits, significant=comp.significant
                )
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_accuracy_severity_seeds(per_method: dict[str, list[dict[str, float]]], path: Path) -> Path:
    """Top-1 against mistake severity: every seed as a dot, the mean with 95 % CI bars."""
    from labelspace.reporting.stats import mean_ci

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    for i, (name, seeds) in enumerate(per_method.items()):
        xs = [m["severity"] for m in seeds if np.isfinite(m.get("severity", np.nan))]
        ys = [100 * m["top1"] for m in seeds if np.isfinite(m.get("severity", np.nan))]
        if not xs:
            continue
        color = f"C{i % 10}"
        ax.scatter(xs, ys, s=12, alpha=0.5, color=color)
        cx, cy = mean_ci(xs), mean_ci(ys)
        err = (
            (np.nan_to_num(cx.half_width), np.nan_to_num(cy.half_width)) if len(xs) > 1 else (0, 0)
        )
        ax.errorbar(cx.mean, cy.mean, xerr=err[0], yerr=err[1], fmt="o", color=color, capsize=3)
        ax.annotate(name, (cx.mean, cy.mean), textcoords="offset points", xytext=(6, 4), fontsize=9)
    ax.set_xlabel("mistake severity (mean LCA height of mistakes, lower is better)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _savefig(fig, path)


def plot_robustness(results: dict[str, list[MethodResult]], path: Path) -> Path | None:
    """Top-1 and mistake severity against attack strength, mean ± 95 % CI over seeds."""
    from labelspace.reporting.stats import mean_ci

    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    drawn = False
    attack = ""
    for name, runs in results.items():
        points = [r.analysis["robustness"]["points"] for r in runs if r.analysis]
        if not points or len(points) != len(runs):
            continue
        attack = runs[0].analysis["robustness"]["attack"].upper()
        eps = [p["eps"] * 255 for p in points[0]]
        for ax, key, scale in ((ax1, "top1", 100.0), (ax2, "severity", 1.0)):
            stats = [mean_ci([scale * run[j][key] for run in points]) for j in range(len(eps))]
            means = [s.mean for s in stats]
            err = [0.0 if not np.isfinite(s.half_width) else s.half_width for s in stats]
            ax.errorbar(eps, means, yerr=err, marker="o", capsize=3, label=name)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax1.set_ylabel("top-1 accuracy under attack (%)")
    ax2.set_ylabel("mistake severity under attack ↓")
    for ax in (ax1, ax2):
        ax.set_xlabel(f"{attack} L∞ budget ε (× 1/255)")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return _savefig(fig, path)


def build_report(
    out: Path,
    results: dict[str, list[MethodResult]],
    space,
    *,
    budget: str,
    setup: str,
) -> str:
    """The comparison report (Markdown) and its figures under ``out/plots``."""
    from labelspace.analysis.backoff import BackoffCurve, plot_backoff_curves
    from labelspace.analysis.representations import plot_feature_maps
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
    figures: list[tuple[str, Path | None, str]] = [
        (
            "Accuracy against mistake severity",
            plot_accuracy_severity_seeds(per_method, plots / "accuracy_severity.png"),
            "Small dots: single seeds; large dots with bars: mean and 95 % CI.",
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
            key=lambda k: eval_fraction(k.split("@")[1]),
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


def eval_fraction(text: str) -> float:
    """``"8/255"`` -> 0.0314; ``"0"`` -> 0."""
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


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
