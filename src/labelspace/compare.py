"""``labelspace compare``: several methods, one dataset, the same backbone, budget and seed.

Each method trains into its own run folder under the comparison folder; the report is then
built from those folders alone. A method written ``poincare>softmax`` is the two-stage plan:
train ``poincare``, then put a softmax head on its backbone and fine-tune.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from labelspace.methods import get_method
from labelspace.runs import (
    LAST_CHECKPOINT,
    METRICS_FILE,
    RunError,
    TrainConfig,
    _write_text_atomic,
    read_config,
    read_predictions,
    train,
)

log = logging.getLogger(__name__)

REPORT_FILE = "report.md"


def parse_methods(spec: str | Sequence[str]) -> list[str]:
    """``softmax,poincare,poincare>softmax`` -> validated method names (stages checked)."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise ValueError("no methods given; e.g. --methods softmax,poincare,devise")
    for item in items:
        stages = item.split(">")
        if len(stages) > 2:
            raise ValueError(f"{item!r}: a two-stage method has exactly one '>'")
        for stage in stages:
            get_method(stage)
    if len(set(items)) != len(items):
        raise ValueError("a method is listed twice")
    return items


def folder_name(method: str) -> str:
    return method.replace(">", "-then-")


def run_comparison(
    methods: Sequence[str],
    base: TrainConfig,
    out: Path,
    *,
    finetune_epochs: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_method: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Train every method (skipping finished runs unless ``overwrite``) and write the report."""
    out = Path(out)
    methods = parse_methods(methods)
    if out.exists() and (out / REPORT_FILE).exists() and not overwrite:
        raise FileExistsError(f"{out} holds a comparison already; pass --overwrite to redo it")
    out.mkdir(parents=True, exist_ok=True)
    ft_epochs = finetune_epochs or max(1, base.epochs // 2)
    done: set[str] = set()

    def ensure(name: str, config: TrainConfig) -> None:
        run = out / folder_name(name)
        if name in done:
            return
        if (run / METRICS_FILE).is_file() and not overwrite:
            log.info("%s: reusing the finished run in %s", name, run)
        elif (run / LAST_CHECKPOINT).is_file() and not overwrite:
            log.info("%s: resuming the interrupted run in %s", name, run)
            train(config, run, resume=True, progress=progress)
        else:
            train(config, run, overwrite=True, progress=progress)
        done.add(name)

    for i, item in enumerate(methods):
        if on_method is not None:
            on_method(item, i, len(methods))
        stages = item.split(">")
        ensure(stages[0], replace(base, method=stages[0]))
        if len(stages) == 2:
            init = str(out / folder_name(stages[0]))
            ensure(item, replace(base, method=stages[1], epochs=ft_epochs, init_from=init))
    return write_report(out, methods)


def load_results(out: Path, methods: Sequence[str]):
    from labelspace.compare_report import MethodResult

    results = []
    for item in methods:
        run = Path(out) / folder_name(item)
        path = run / METRICS_FILE
        if not path.is_file():
            raise RunError(f"{run} has no {METRICS_FILE}: train it first")
        metrics = json.loads(path.read_text(encoding="utf-8"))
        preds = read_predictions(run)
        results.append(MethodResult(item, metrics, preds.scores, preds.targets))
    return results


def write_report(out: Path, methods: Sequence[str]) -> Path:
    """Markdown report and figures for finished runs under ``out``."""
    import yaml

    from labelspace import compare_report as cr
    from labelspace.space import build_label_space

    out = Path(out)
    results = load_results(out, methods)
    first_run = out / folder_name(methods[0])
    saved = yaml.safe_load((first_run / "config.yaml").read_text(encoding="utf-8"))
    config = read_config(first_run)
    space = build_label_space(config.data, saved["classes"], saved["synsets"], None)
    plots = out / "plots"
    figures = {
        "Accuracy against mistake severity": cr.plot_accuracy_severity(
            results, plots / "accuracy_severity.png"
        ),
        "Mistakes by severity": cr.plot_severity_histograms(
            results, space.lca_height, plots / "severity_histogram.png"
        ),
        "Confusion matrices (classes in hierarchy order)": cr.plot_confusions(
            results, space.hierarchy, space.classes, plots / "confusion.png"
        ),
    }
    budget = _budget(out, methods)
    lines = [
        f"# labelspace comparison on {results[0].metrics['data']}",
        "",
        budget,
        "",
        cr.markdown_table(results),
        "",
        _legend(),
        "",
    ]
    for title, path in figures.items():
        lines += [f"## {title}", "", f"![{title}]({path.relative_to(out).as_posix()})", ""]
    report = out / REPORT_FILE
    _write_text_atomic(report, "\n".join(lines))
    return report


def _budget(out: Path, methods: Sequence[str]) -> str:
    rows: list[str] = []
    for item in methods:
        cfg = read_config(Path(out) / folder_name(item))
        metrics: dict[str, Any] = json.loads(
            (Path(out) / folder_name(item) / METRICS_FILE).read_text(encoding="utf-8")
        )
        extra = f", fine-tuned from {Path(cfg.init_from).name}" if cfg.init_from else ""
        emb = ""
        if get_method(cfg.method).uses_embedding:
            emb = f", label embedding {cfg.embedding or get_method(cfg.method).embedding}"
        rows.append(
            f"- **{item}**: {cfg.backbone}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer} lr {cfg.lr}, seed {cfg.seed}{emb}{extra}; "
            f"{metrics.get('train_seconds', float('nan')):.0f} s training, "
            f"{metrics['test_images']} test images"
        )
    return "\n".join(rows)


def _legend() -> str:
    return (
        "Mistake severity: mean height of LCA(true, predicted) over mistakes. hdist@k: mean "
        "LCA height over the top-k predictions of every image. hp@k: hierarchical precision "
        "(DeViSE). acc@hN: prediction counts as right when it shares an ancestor of height ≤ N "
        "with the truth. ECE only where the method gives probabilities. ↓: lower is better."
    )
