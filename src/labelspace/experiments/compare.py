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

from labelspace.analysis.analyze import AnalysisConfig
from labelspace.embeddings.reuse import built_once
from labelspace.errors import InputError, LabelspaceError
from labelspace.files import atomic_write_text, check_output, removed_on_failure
from labelspace.hierarchy.distances import TREE_COST
from labelspace.locks import folder_lock, is_lock_file
from labelspace.models.methods import get_method
from labelspace.signals import Stopped, stop_on_signals
from labelspace.training.config import RunError, TrainConfig
from labelspace.training.fit import train
from labelspace.training.load import load_run
from labelspace.training.runs import LAST_CHECKPOINT, METRICS_FILE

log = logging.getLogger(__name__)

REPORT_FILE = "report.md"
# how a comparison that a signal stopped goes on
RERUN_HINT = (
    "run the same `labelspace compare` command again: it reuses the finished runs and "
    "resumes the stopped one"
)


def parse_methods(spec: str | Sequence[str]) -> list[str]:
    """``softmax,poincare,poincare>softmax,devise@random`` -> validated method names.

    ``a>b`` is a two-stage fine-tune; ``method@embedding`` trains ``method`` against another
    label embedding (a kind such as ``text``, ``poincare+text``, ``random``, or a file).
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise InputError("no methods given; e.g. --methods softmax,poincare,devise")
    for item in items:
        stages = item.split(">")
        if len(stages) > 2:
            raise InputError(f"{item!r}: a two-stage method has exactly one '>'")
        for stage in stages:
            _stage_parts(stage)
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise InputError(
            f"{', '.join(repr(item) for item in repeated)} listed more than once in --methods; "
            "name each method once (--seeds trains a method several times)"
        )
    return items


def _stage_parts(stage: str) -> tuple[str, str | None]:
    """``devise@poincare+text`` -> ``("devise", "poincare+text")``, both validated."""
    from labelspace.training.config import check_embedding

    method, at, embedding = stage.partition("@")
    try:
        found = get_method(method)
        if at and not embedding.strip():
            raise InputError(
                f"nothing after '@': name a label embedding ({method}@text) or drop the '@'"
                if found.uses_embedding
                else f"nothing after '@', and {method} uses no label embedding: drop the '@'"
            )
        check_embedding(found, embedding or None)
    except InputError as exc:
        raise InputError(f"{stage!r}: {exc}") from None
    return method, embedding or None


def stage_config(base: TrainConfig, stage: str) -> TrainConfig:
    method, embedding = _stage_parts(stage)
    return replace(base, method=method, embedding=embedding or base.embedding)


def folder_name(method: str) -> str:
    return method.replace(">", "-then-")


def seed_list(first: int, count: int) -> list[int]:
    if count < 1:
        raise InputError(f"--seeds must be >= 1, got {count}")
    return list(range(first, first + count))


def run_folder(out: Path, method: str, seed: int, seeds: Sequence[int]) -> Path:
    """``OUT/METHOD`` for one seed; ``OUT/seed-S/METHOD`` when a comparison has several."""
    out = Path(out)
    return (
        out / folder_name(method) if len(seeds) == 1 else out / f"seed-{seed}" / folder_name(method)
    )


def run_comparison(
    methods: Sequence[str],
    base: TrainConfig,
    out: Path,
    *,
    finetune_epochs: int | None = None,
    seeds: int = 1,
    analysis: AnalysisConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
    on_method: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Train every method for every seed (reusing finished runs unless ``overwrite``), analyse
    each run (unless ``analysis`` is None) and write the report.

    Seeds are ``base.seed, base.seed + 1, ...``; every method sees the same seeds, so the
    report can pair them in its tests.
    """
    from labelspace.analysis.analyze import analyze_run

    out = check_output(out, overwrite=True, option="OUT", folder=True)
    methods = parse_methods(methods)
    seed_values = seed_list(base.seed, seeds)
    ft_epochs = finetune_epochs or max(1, base.epochs // 2)
    for item in methods:  # every option of every run checked before the first one trains
        for stage in item.split(">"):
            stage_config(base, stage).validate()
    if analysis is not None:
        analysis.validate()
    if ft_epochs < 1:
        raise InputError(f"--finetune-epochs must be >= 1, got {ft_epochs}")
    # a rerun reuses finished runs, resumes interrupted ones and trains missing ones (new
    # methods or seeds); the report is derived from the runs and is always rewritten.
    # A comparison that fails before any run kept a file leaves no folder behind.
    # A run that fails (a diverged model, an evaluation error) does not stop the others: the
    # report covers the methods that finished, lists the failures, and the comparison then
    # ends with an error naming them (a rerun resumes or finishes what failed).
    # Methods that share a label embedding (poincare and joint; each seed its own) get the
    # one built for the first of them (built_once).
    # OUT's lock is held throughout, and each run's while it is trained or analysed; SIGTERM
    # and SIGINT stop the run in training at its next step (a rerun resumes it there).
    with (
        stop_on_signals(),
        folder_lock(out) as lock,
        removed_on_failure(
            lock.made,
            keep=lambda: any(p.is_file() and not is_lock_file(p) for p in out.rglob("*")),
        ),
        built_once(),
    ):
        done: set[Path] = set()
        failures: dict[str, str] = {}  # "method (seed s)" -> what went wrong

        def ensure(name: str, config: TrainConfig, run: Path) -> bool:
            if run in done:
                return True
            try:
                with folder_lock(run):
                    _ensure(name, config, run)
            except Stopped as stop:
                raise stop.explained(hint=RERUN_HINT) from None
            except LabelspaceError as exc:
                failures[f"{name} (seed {config.seed})"] = str(exc)
                log.error("%s (seed %d) failed: %s", name, config.seed, exc)
                return False
            done.add(run)
            return True

        def _ensure(name: str, config: TrainConfig, run: Path) -> None:
            if (run / METRICS_FILE).is_file() and not overwrite:
                log.info("%s: reusing the finished run in %s", name, run)
                _same_cost(run, config.distances)
            elif (run / LAST_CHECKPOINT).is_file() and not overwrite:
                log.info("%s: resuming the interrupted run in %s", name, run)
                train(config, run, resume=True, progress=progress)
            else:
                train(config, run, overwrite=True, progress=progress)
            if analysis is not None:  # sections analysed with the same options are kept
                analyze_run(run, replace(analysis, seed=config.seed, distances=config.distances))

        total = len(methods) * len(seed_values)
        for s, seed in enumerate(seed_values):
            for i, item in enumerate(methods):
                if on_method is not None:
                    label = item if len(seed_values) == 1 else f"{item}, seed {seed}"
                    on_method(label, s * len(methods) + i, total)
                stages = item.split(">")
                first = stage_config(replace(base, seed=seed), stages[0])
                if not ensure(stages[0], first, run_folder(out, stages[0], seed, seed_values)):
                    if len(stages) == 2:
                        failures[f"{item} (seed {seed})"] = f"its first stage {stages[0]} failed"
                    continue
                if len(stages) == 2:
                    init = str(run_folder(out, stages[0], seed, seed_values))
                    second = stage_config(replace(base, seed=seed), stages[1])
                    ensure(
                        item,
                        replace(second, epochs=ft_epochs, init_from=init),
                        run_folder(out, item, seed, seed_values),
                    )
        finished = [m for m in methods if not any(f.startswith(f"{m} (seed") for f in failures)]
        if not finished:
            raise RunError(f"every run failed: {_listed(failures)}")
        report = write_report(
            out,
            finished,
            seed_values,
            command=command,
            failures=failures,
            distances=base.distances,
        )
    if failures:
        raise RunError(
            f"{len(failures)} run(s) failed; the report {report} covers the other methods. "
            f"{_listed(failures)}. Fix the cause and run the same command again: it reuses "
            "the finished runs (a run whose evaluation failed: `labelspace evaluate RUN`)"
        )
    return report


def _same_cost(run: Path, distances: str | None) -> None:
    """A finished run scored with another cost of mistakes is evaluated again with this one
    (its weights are kept: the cost changes the metrics, not the training)."""
    from labelspace.training.evaluate import evaluate_run

    metrics = json.loads((run / METRICS_FILE).read_text(encoding="utf-8"))
    wanted = distances or TREE_COST
    if metrics.get("cost", TREE_COST) != wanted:
        log.info("%s: evaluating again with the mistake cost %s", run, wanted)
        evaluate_run(run, distances=wanted)


def _listed(failures: dict[str, str]) -> str:
    return "; ".join(f"{name}: {why}" for name, why in failures.items())


def load_results(out: Path, methods: Sequence[str], seeds: Sequence[int] = (0,)):
    """``{method: [MethodResult per seed]}`` read from the run folders (analyses included)."""
    from labelspace.analysis.results import read_analysis
    from labelspace.reporting.results import MethodResult

    results: dict[str, list[MethodResult]] = {}
    for item in methods:
        for seed in seeds:
            run = run_folder(out, item, seed, seeds)
            path = run / METRICS_FILE
            if not path.is_file():
                raise RunError(f"{run} has no {METRICS_FILE}: train it first")
            metrics = json.loads(path.read_text(encoding="utf-8"))
            preds = load_run(run, ("predictions",)).predictions
            results.setdefault(item, []).append(
                MethodResult(item, metrics, preds.scores, preds.targets, read_analysis(run), seed)
            )
    return results


def write_report(
    out: Path,
    methods: Sequence[str],
    seeds: Sequence[int] = (0,),
    *,
    command: str | None = None,
    failures: dict[str, str] | None = None,
    distances: str | None = None,
) -> Path:
    """Markdown and HTML report with figures for finished runs under ``out``; ``failures``
    (run -> why) are listed at its end; ``distances`` is the distance file that the runs'
    mistakes were scored with (None: the LCA height in the class tree)."""

    from labelspace.embeddings.space import build_label_space
    from labelspace.reporting.comparison import build_report
    from labelspace.reporting.html import write_html_report

    out = Path(out)
    results = load_results(out, methods, seeds)
    first_run = run_folder(out, methods[0], seeds[0], seeds)
    saved = load_run(first_run, ("config",))
    space = build_label_space(
        saved.config.data, saved.classes, saved.synsets, None, distances=distances
    )
    text = build_report(
        out,
        results,
        space,
        budget=_budget(out, results, seeds),
        setup=_setup(command, seeds, distances),
    )
    if failures:
        text += "\n## Runs that failed\n\n" + "".join(
            f"- **{name}**: {why}\n" for name, why in failures.items()
        )
    report = out / REPORT_FILE
    atomic_write_text(report, text)
    write_html_report(report)
    return report


def _setup(command: str | None, seeds: Sequence[int], distances: str | None = None) -> str:
    import os
    import platform

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    lines = [
        f"- Seeds: {', '.join(map(str, seeds))} (every method trains once per seed; tests "
        "pair runs of the same seed)",
        f"- Hardware: {os.cpu_count()} CPU cores ({platform.machine()}), {device}; "
        f"torch {torch.__version__}",
    ]
    lines.append(
        f"- Mistake cost: distances from {distances}"
        if distances
        else "- Mistake cost: height of the classes' lowest common ancestor in the class tree"
    )
    if command:
        lines.append(f"- Command: `{command}`")
    return "\n".join(lines)


def _budget(out: Path, results, seeds: Sequence[int]) -> str:
    """One line per method: its training budget and mean training time over seeds."""
    rows: list[str] = []
    for item, runs in results.items():
        cfg = load_run(run_folder(out, item, seeds[0], seeds), ("config",)).config
        seconds = [r.metrics["train_seconds"] for r in runs if "train_seconds" in r.metrics]
        extra = f", fine-tuned from {Path(cfg.init_from).name}" if cfg.init_from else ""
        emb = ""
        if get_method(cfg.method).uses_embedding:
            emb = f", label embedding {cfg.embedding or get_method(cfg.method).embedding}"
        unseen = f", unseen classes: {', '.join(cfg.unseen)}" if cfg.unseen else ""
        mean_s = sum(seconds) / len(seconds) if seconds else float("nan")
        rows.append(
            f"- **{item}**: {cfg.backbone}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"{cfg.optimizer} lr {cfg.lr}{emb}{extra}{unseen}; "
            f"{mean_s:.0f} s training per run, {runs[0].metrics['test_images']} test images"
        )
    return "\n".join(rows)
