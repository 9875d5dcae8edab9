"""``labelspace score``: the metrics of scores that any model made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labelspace.cli import common

SHOWN = (
    ("top1", "top-1 %", 100.0),
    ("top5", "top-5 %", 100.0),
    ("severity", "severity ↓", 1.0),
    ("hdist@1", "hdist@1 ↓", 1.0),
    ("hdist@5", "hdist@5 ↓", 1.0),
    ("hp@5", "hp@5 %", 100.0),
    ("hsim@5", "hsim@5 %", 100.0),
    ("ece", "ECE ↓", 1.0),
)


def score(
    scores: Annotated[
        list[Path],
        typer.Argument(
            help="Scores files (N x C logits or probabilities): .npy, .npz, .safetensors, .csv "
            "or .tsv. Several are scored side by side."
        ),
    ],
    labels: Annotated[
        Path | None,
        typer.Option(help="True labels: class indices or names (.npy/.npz/.safetensors/.txt)."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="The CSV column of the scores file that holds the labels.")
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            help="The classes in score-column order: comma-separated names, synsets or wnids, "
            "or a file with one per line. Default: the hierarchy's classes, or a CSV header."
        ),
    ] = None,
    hierarchy: Annotated[
        str | None,
        typer.Option(
            help="Hierarchy source the classes live in: a dataset (cifar100, imagenet), a "
            "hierarchy file (.tsv/.csv/.json, an is_a .txt, an nltk tree .pkl). Default: "
            "WordNet's, from the class names."
        ),
    ] = None,
    distances: common.DistancesOpt = None,
    mapping: common.MappingOpt = None,
    edge_order: common.EdgeOrderOpt = None,
    input_kind: Annotated[
        str,
        typer.Option(
            "--input",
            help="What the scores are: auto (probabilities if every row is non-negative and "
            "sums to 1), logits or probabilities.",
        ),
    ] = "auto",
    key: Annotated[
        str | None, typer.Option(help="The array to read from a .npz or .safetensors file.")
    ] = None,
    names: Annotated[
        str | None, typer.Option(help="Comma-separated names of the scores files in reports.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every figure as JSON here ('-': stdout).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Folder for score.json and the HTML report of compare."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --report or --json.")] = False,
) -> None:
    """Score predictions made by any model: the metric table, CRM and back-off of a run."""
    from labelspace.analysis.score import INPUT_KINDS as KINDS
    from labelspace.experiments.scoring import score_files
    from labelspace.files import atomic_write_text, check_output
    from labelspace.validation import require_choice

    require_choice("input", input_kind, KINDS)
    if json_out is not None and str(json_out) != "-":
        check_output(json_out, overwrite=overwrite, option="--json")
    with common.console.status("scoring") as status:
        result = score_files(
            scores,
            labels=labels,
            label_column=label_column,
            classes=_classes(classes),
            hierarchy=hierarchy,
            distances=distances,
            mapping=mapping,
            edge_order=edge_order,
            kind=input_kind,
            key=key,
            names=common.names(names) or None,
            report=report,
            overwrite=overwrite,
            command=common.command_line(),
            on_file=lambda name: status.update(f"scoring {name}"),
        )
    text = json.dumps(result, indent=1, default=float)
    if json_out is not None and str(json_out) == "-":
        typer.echo(text)
        return
    _print(result)
    if json_out is not None:
        atomic_write_text(json_out, text)
        common.console.print(f"written: {json_out}")
    if report is not None:
        common.console.print(f"report: {report / 'report.html'}")


def _classes(spec: str | None) -> list[str] | None:
    """A class list from ``a,b,c`` or a file of one class per line."""
    if spec is None:
        return None
    path = Path(spec)
    if "," not in spec and path.is_file():
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return common.names(spec)


def _print(result: dict) -> None:
    table = Table(title=f"{len(result['classes']):,} classes; mistake cost: {result['cost']}")
    table.add_column("scores")
    for _, title, _ in SHOWN:
        table.add_column(title, justify="right")
    table.add_column("back-off AUC", justify="right")
    for name, r in result["results"].items():
        for row, figures in ((name, r["metrics"]), (f"{name} +CRM", r["crm"])):
            cells = [_cell(figures.get(k), scale) for k, _, scale in SHOWN]
            auc = r["backoff"]["auc"] if row == name and "backoff" in r else None
            table.add_row(row, *cells, _cell(auc, 1.0))
    common.console.print(table)


def _cell(value: float | None, scale: float) -> str:
    if value is None or value != value:  # missing or NaN
        return "–"
    return f"{value * scale:.2f}" if scale != 1.0 else f"{value:.3f}"
