"""``labelspace score``: score files from any model, side by side, with the compare report.

Each scores file is scored against the same labels and classes
(:func:`labelspace.analysis.score.score`); with a report folder the results are written as
``score.json`` and the same Markdown/HTML report as a comparison, one row per file and one
``+CRM`` row each. Everything is read and checked before anything is written, and the report
folder appears whole or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from labelspace.analysis.score import ScoredClasses, score, scored_classes
from labelspace.analysis.score_files import label_indices, read_labels, read_scores
from labelspace.errors import InputError
from labelspace.files import check_output, publish_folder
from labelspace.hierarchy.distances import TREE_COST

log = logging.getLogger(__name__)

SCORE_FILE = "score.json"
REPORT_FILE = "report.md"

__all__ = ["SCORE_FILE", "score_files"]


def _names(paths: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    if names:
        if len(names) != len(paths):
            raise InputError(f"--names gives {len(names)} names for {len(paths)} scores files")
        chosen = list(names)
    else:
        chosen = [p.stem for p in paths]
        if len(set(chosen)) != len(chosen):
            chosen = [str(p) for p in paths]
    if len(set(chosen)) != len(chosen):
        raise InputError(f"two scores files have one name ({', '.join(chosen)}); pass --names")
    return chosen


def score_files(
    paths: Sequence[str | Path],
    *,
    labels: str | Path | None = None,
    label_column: str | None = None,
    classes: str | Sequence[str] | None = None,
    hierarchy: str | Path | None = None,
    distances: str | Path | None = None,
    mapping: str | Path | None = None,
    edge_order: str | None = None,
    kind: str = "auto",
    key: str | None = None,
    names: Sequence[str] | None = None,
    report: str | Path | None = None,
    overwrite: bool = False,
    command: str | None = None,
    on_file: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every file in ``paths``; returns ``{"cost", "classes", "results": {name: ...}}``
    and writes it (and the report) to ``report`` when given."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("give at least one scores file")
    if (labels is None) == (label_column is None):
        raise InputError("give the true labels: --labels FILE or --label-column NAME (CSV)")
    if report is not None:
        check_output(report, overwrite=overwrite, option="--report", folder=True)
    titles = _names(paths, names)
    tables = [read_scores(p, key=key, label_column=label_column) for p in paths]
    if classes is None and hierarchy is None and tables[0].columns:
        classes = tables[0].columns  # a CSV header names the classes
    space = scored_classes(
        classes, hierarchy=hierarchy, distances=distances, mapping=mapping, edge_order=edge_order
    )
    results: dict[str, Any] = {}
    scored: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for path, title, table in zip(paths, titles, tables, strict=True):
        if on_file is not None:
            on_file(title)
        if table.columns and table.columns != space.classes:
            raise InputError(
                f"{path}: its header names other classes, or another order, than the classes "
                "given; give the classes in the order of the score columns"
            )
        raw = table.labels if label_column is not None else read_labels(labels, key=None)
        source = f"{path} column {label_column}" if label_column else str(labels)
        targets = torch.from_numpy(label_indices(raw, space.classes, source))
        scores = torch.from_numpy(table.scores)  # checked by score()
        if len(targets) != len(scores):
            raise InputError(
                f"{source} holds {len(targets)} labels but {path} has {len(scores)} rows of "
                "scores; give one label per row"
            )
        results[title] = score(scores, targets, space, kind=kind)
        scored[title] = (scores, targets)
    out = {
        "cost": space.distance_file or TREE_COST,
        "classes": space.classes,
        "results": results,
    }
    if report is not None:
        _write_report(Path(report), out, scored, space, command, overwrite)
    return out


def _write_report(
    folder: Path,
    out: dict[str, Any],
    scored: dict[str, tuple[torch.Tensor, torch.Tensor]],
    space: ScoredClasses,
    command: str | None,
    overwrite: bool,
) -> None:
    """score.json, report.md/html and plots, built in a temporary sibling and moved in."""
    from labelspace.reporting.comparison import build_report
    from labelspace.reporting.html import write_html_report
    from labelspace.reporting.results import MethodResult

    folder = folder.absolute()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # a folder the umask allows, as mkdir makes (mkdtemp: 0700)
    try:
        results = {}
        for name, result in out["results"].items():
            scores, targets = scored[name]
            metrics = {"data": "scores from outside", "test": result["metrics"]}
            metrics["test_images"] = result["images"]
            analysis = {"backoff": {**result["backoff"], "crm": result["crm"]}}
            results[name] = [MethodResult(name, metrics, scores, targets, analysis)]
        images = next(iter(out["results"].values()))["images"]
        setup = "\n".join(
            [
                f"- Scores: {', '.join(out['results'])} ({images:,} images, "
                f"{len(space.classes):,} classes)",
                "- Mistake cost: "
                + (
                    f"distances from {space.distance_file}"
                    if space.distance_file
                    else "height of the classes' lowest common ancestor in the class tree"
                ),
                *([f"- Command: `{command}`"] if command else []),
            ]
        )
        text = build_report(tmp, results, space, budget="", setup=setup)
        text = text.replace("# labelspace comparison on scores from outside", "# labelspace scores")
        (tmp / REPORT_FILE).write_text(text, encoding="utf-8")
        write_html_report(tmp / REPORT_FILE)
        (tmp / SCORE_FILE).write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")
        publish_folder(tmp, folder, overwrite=overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
