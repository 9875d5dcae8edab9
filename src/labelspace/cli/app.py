"""The ``labelspace`` command: the app, its global options and its commands.

Each command group lives in its own module and imports the library only when it runs, so that
``labelspace --help`` answers without loading torch.
"""

from __future__ import annotations

import logging
import warnings
from typing import Annotated

import typer

from labelspace.cli import data, experiments, labels, models, scoring
from labelspace.cli.common import LabelspaceGroup, err_console

app = typer.Typer(
    cls=LabelspaceGroup,
    help="labelspace: image classifiers that know what their labels mean.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    logging.captureWarnings(True)
    if not verbose:  # one line, as the user's own mistake reads: no source path, no code line
        warnings.formatwarning = _one_line_warning
    # Lightning's banner lines (GPU available, tips) are noise for a command-line user
    # (set on the rank_zero loggers: importing Lightning resets its top-level logger to INFO);
    # so is its "SLURM auto-requeueing enabled": labelspace handles the signals itself
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.trainer.connectors.signal_connector",
    ):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*")  # raised inside geoopt
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Just the message: the log handler marks it WARNING (``--verbose`` shows its source)."""
    return str(message)


# label spaces
app.command()(labels.hierarchy)
app.command()(labels.embed)
app.command("evaluate-embedding")(labels.evaluate_embedding)
app.command("plot-disk")(labels.plot_disk)
app.command()(labels.embeddings)
# datasets
app.command()(data.pack)
# image models
app.command()(models.methods)
app.command()(models.train)
app.command()(models.evaluate)
app.command()(models.analyze)
app.command()(models.predict)
app.command()(models.explain)
app.command()(scoring.score)
# comparisons
app.command()(experiments.compare)
app.command()(experiments.demo)
