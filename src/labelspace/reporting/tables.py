"""The report's tables: which metrics appear as columns, and how they are shown (one seed,
mean ± CI over seeds, or a terminal summary)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from labelspace.reporting.results import MethodResult, flat_metrics

# (key, column title, digits, scale): scale 100 shows a share as percent
COLUMNS: tuple[tuple[str, str, int, float], ...] = (
    ("top1", "top-1 %", 2, 100.0),
    ("top5", "top-5 %", 2, 100.0),
    ("severity", "mistake severity ↓", 3, 1.0),
    ("hdist@1", "hdist@1 ↓", 3, 1.0),
    ("hdist@5", "hdist@5 ↓", 3, 1.0),
    ("hp@2", "hp@2 %", 2, 100.0),
    ("hp@5", "hp@5 %", 2, 100.0),
    ("hsim@5", "hsim@5 %", 2, 100.0),
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
