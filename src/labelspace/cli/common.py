"""What every command shares: consoles, error handling, progress bars, tables, option types.

Nothing here imports torch, Lightning or matplotlib: ``labelspace --help`` must stay fast, so
each command imports the library it needs when it runs.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from labelspace.analysis.config import AnalysisConfig
from labelspace.errors import LabelspaceError

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


class LabelspaceGroup(TyperGroup):
    """Turns a :class:`LabelspaceError` (bad input) into one line on stderr and exit status 2,
    as it does a fault of the machine (a full disk, a read-only folder: the path and the fix);
    a command a signal stopped prints what it kept and exits 128 + the signal's number.

    Any other exception is a bug and keeps its traceback.
    """

    def invoke(self, ctx: typer.Context) -> Any:
        from labelspace.files import write_fault
        from labelspace.signals import Stopped, requeue

        try:
            return super().invoke(ctx)
        except LabelspaceError as exc:
            raise fail(str(exc)) from None
        except Stopped as stop:
            requeued = requeue(stop)
            line = f"{stop}; {requeued}" if requeued else str(stop)  # "stopped by SIGTERM: ..."
            err_console.print(line, style="bold yellow", markup=False, highlight=False)
            raise typer.Exit(stop.exit_code) from None
        except OSError as exc:  # written outside labelspace's own writers
            fault = write_fault(None, exc)
            if fault is None:
                raise
            raise fail(str(fault)) from None


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` and return the exit (status 2) for the caller to raise."""
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    return typer.Exit(2)


# --------------------------------------------------------------------------- option types
SourceArg = Annotated[
    str,
    typer.Argument(
        help="fashion-mnist, cifar10, cifar100, imagenet (or imagenet-1k), imagenet12k, "
        "imagenet21k (ImageNet's wnids, from timm), mammals, nouns, a hierarchy file "
        "(.tsv/.csv/.txt/.json, or a pickled nltk tree .pkl[.xz]) or comma-separated class names.",
    ),
]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", help="Override file: name<TAB>synset per line.")
]
EdgeOrderOpt = Annotated[
    str | None,
    typer.Option(
        "--edge-order",
        metavar="ORDER",
        help="Column order of an edge-list SOURCE: child-parent, or parent-child (the is_a "
        "convention of wordnet.is_a.txt and *_isa.txt files, assumed for those names).",
    ),
]
RunArg = Annotated[Path, typer.Argument(help="Run folder (config, checkpoints, metrics, report).")]
DistancesOpt = Annotated[
    Path | None,
    typer.Option(
        "--distances",
        help="A published distance file (.txt[.xz] of 'a b distance' lines, or .pkl[.xz]): "
        "the cost of every mistake for all metrics and CRM, instead of the LCA height in the "
        "class tree.",
    ),
]


def absolute(path: Path | None) -> str | None:
    """A path as an absolute string (runs record paths that work from any folder); the word
    ``lca-height`` (the default cost, for ``--distances``) as it is."""
    if path is None or str(path) == "lca-height":
        return None if path is None else str(path)
    return str(path.absolute())


DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="fashion-mnist (Debian idx files), torchvision:fashion-mnist|cifar10|cifar100, a "
        "folder (ImageFolder train/[test/], Tiny ImageNet, ILSVRC-2012), a CSV manifest "
        "(path,label[,split]) or shards from `labelspace pack`.",
    ),
]
UnseenOpt = Annotated[
    str | None,
    typer.Option(
        help="Zero-shot: comma-separated classes kept out of training (cat,truck), or "
        "random:N[:SEED] for N classes drawn with SEED (default 0)."
    ),
]
# the training options that ``train`` and ``compare`` share
MethodOpt = Annotated[
    str, typer.Option(help="A method from `labelspace methods` (softmax, poincare, ...).")
]
EmbeddingOpt = Annotated[
    str | None,
    typer.Option(
        help="Label embedding: a kind (poincare, text, sphere, ...), pretrained:NAME (a shipped "
        "one: `labelspace embeddings`) or a .safetensors file; default: the method's."
    ),
]
DimOpt = Annotated[int, typer.Option(help="Dimension of a trained label embedding.")]
BackboneOpt = Annotated[str, typer.Option(help="small-cnn, or any timm model name (resnet18).")]
EpochsOpt = Annotated[int, typer.Option(help="Training epochs.")]
BatchSizeOpt = Annotated[int, typer.Option(help="Images per batch (at least 2).")]
OptimizerOpt = Annotated[str, typer.Option(help="adamw or sgd.")]
LrOpt = Annotated[float, typer.Option(help="Learning rate.")]
ValFractionOpt = Annotated[
    float, typer.Option(help="Stratified share of train kept for validation.")
]
TrainLimitOpt = Annotated[int | None, typer.Option(help="Use at most this many training images.")]
TestLimitOpt = Annotated[
    int | None, typer.Option(help="Evaluate on at most this many test images.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the data split, order and initialisation.")]
InitFromOpt = Annotated[
    Path | None, typer.Option(help="Start from this run's backbone (two-stage fine-tune).")
]
RootOpt = Annotated[str | None, typer.Option(help="Where torchvision datasets live.")]
DownloadOpt = Annotated[
    bool, typer.Option(help="Let torchvision download a missing dataset into --root.")
]
AugmentOpt = Annotated[
    str | None,
    typer.Option(help="none, flip, crop, crop-flip (default: flip for grayscale, else crop-flip)."),
]
SkipCorruptOpt = Annotated[
    bool, typer.Option(help="Skip unreadable images (counted in metrics.json).")
]
AcceleratorOpt = Annotated[str, typer.Option(help="auto, cpu, gpu.")]
DevicesOpt = Annotated[int, typer.Option(help="Devices (GPUs or processes) to train on.")]
StrategyOpt = Annotated[str, typer.Option(help="auto, ddp, ddp_spawn, ...")]
PrecisionOpt = Annotated[str, typer.Option(help="32-true, 16-mixed, bf16-mixed.")]
WorkersOpt = Annotated[
    int | None,
    typer.Option(help="DataLoader worker processes (default: 0 in memory, spare cores streaming)."),
]
ImageSizeOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help="Bring every image to N x N: shorter side to N, then the centre (a random crop "
        "in training, per --augment).",
    ),
]
InMemoryOpt = Annotated[
    bool | None,
    typer.Option(
        "--in-memory/--streaming",
        help="Decode the images into memory, or read them from files in the loader workers "
        "(default: by the decoded size against the available memory).",
        show_default=False,
    ),
]
PretrainedOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Start the backbone from these weights (timm .safetensors or state dict).",
    ),
]
CompileOpt = Annotated[
    bool,
    typer.Option(
        "--compile/--no-compile",
        help="torch.compile the network: faster steps on a GPU after a minute of compiling; "
        "slower on small CPUs.",
    ),
]
FreezeBackboneOpt = Annotated[
    bool, typer.Option(help="Train the head only, the backbone frozen (a linear probe).")
]


def storage(in_memory: bool | None) -> str:
    """``--in-memory/--streaming`` as the ``storage`` of a TrainConfig."""
    return "auto" if in_memory is None else ("memory" if in_memory else "streaming")


AttackOpt = Annotated[str, typer.Option(help="pgd or fgsm.")]
EpsOpt = Annotated[
    str, typer.Option(help="Attack budgets in pixel units, comma-separated (8/255 allowed).")
]
AttackImagesOpt = Annotated[int, typer.Option(help="Test images attacked per run.")]
FeatureImagesOpt = Annotated[
    int, typer.Option(help="Test images for silhouettes and the feature map.")
]
FeatureMapOpt = Annotated[str, typer.Option(help="tsne or pca.")]
MultiOpt = Annotated[
    bool,
    typer.Option(
        "--multi",
        help="Also label sets: on single test images and on composites of two (side by side, "
        "one pasted into the other).",
    ),
]
MultiImagesOpt = Annotated[
    int, typer.Option(help="With --multi: test images, and composites of each kind.")
]
CoverageOpt = Annotated[
    float,
    typer.Option(
        help="Label sets hold the class of this share of single-object validation images."
    ),
]
SaliencyOpt = Annotated[
    bool,
    typer.Option(
        "--saliency",
        help="Also where the model looks: the pointing game and the saliency mass inside the "
        "object's box (datasets with boxes: Tiny ImageNet).",
    ),
]
SaliencyImagesOpt = Annotated[int, typer.Option(help="With --saliency: test images measured.")]
SaliencyMethodOpt = Annotated[
    str, typer.Option(help="With --saliency: gradcam or ig (Integrated Gradients).")
]
ANALYSIS = AnalysisConfig()  # the defaults of the analysis options


def analysis_config(
    attack: str,
    eps: str,
    attack_images: int,
    feature_images: int,
    feature_map: str,
    multi: bool = False,
    multi_images: int = ANALYSIS.multi_images,
    coverage: float = ANALYSIS.coverage,
    saliency: bool = False,
    saliency_images: int = ANALYSIS.saliency_images,
    saliency_method: str = ANALYSIS.saliency_method,
    distances: str | None = None,
) -> AnalysisConfig:
    """The analysis options of ``analyze``, ``compare`` and ``demo``, validated."""
    from labelspace.analysis.config import parse_eps

    config = config_from(AnalysisConfig, locals(), eps=parse_eps(eps))
    config.validate()
    return config


# --------------------------------------------------------------------------- helpers
def config_from(cls: type[T], values: Mapping[str, Any], /, **converted: Any) -> T:
    """A config dataclass from a command's options (``values``: its ``locals()``).

    Every option named like a field is passed as it is; ``converted`` gives the fields that
    need another name or type. The dataclass holds the defaults and validates."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{**{k: v for k, v in values.items() if k in names}, **converted})


def names(csv: str | None) -> list[str]:
    """``"cat, truck"`` -> ``["cat", "truck"]``; ``None`` -> ``[]``."""
    return [n.strip() for n in (csv or "").split(",") if n.strip()]


def command_line() -> str:
    """The command as typed, for reports."""
    return " ".join(["labelspace", *(shlex.quote(a) for a in sys.argv[1:])])


def load_graph(source: str, mapping: Path | None, edge_order: str | None = None):
    """The label graph of a hierarchy source, with a status line while WordNet is read."""
    from labelspace.hierarchy.sources import load_source

    with console.status(f"building the hierarchy of {source} ..."):
        return load_source(source, mapping=mapping, edge_order=edge_order)


def progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def data_progress(what: str = "decoding images") -> Callable[[int, int], None]:
    """A progress callback that shows a bar once images start being read."""
    bar = progress()
    task = None

    def update(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(what, total=total, info="")
        bar.update(task, completed=done)
        if done >= total:
            bar.stop()

    return update


PERCENT_KEYS = ("top", "hp@", "acc@", "zsl_", "gzsl_", "seen_", "hit@")


def print_metrics(title: str, metrics: Mapping[str, float]) -> None:
    """A two-column table; accuracies in %, NaN as a dash."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        percent = key.startswith(PERCENT_KEYS)
        shown = "–" if value != value else (f"{100 * value:.2f} %" if percent else f"{value:.4f}")
        table.add_row(key, shown)
    console.print(table)


def print_result(result: dict) -> None:
    """A run's test metrics, and its zero-shot figures where it has unseen classes."""
    print_metrics(f"{result['method']} on {result['data']} (test)", result["test"])
    if "zero_shot" in result:
        zs = dict(result["zero_shot"])
        unseen = ", ".join(zs.pop("unseen"))
        note = zs.pop("note", None)
        print_metrics(f"zero-shot, unseen: {unseen}", zs)
        if note:
            console.print(f"note: {note}")


def print_comparison(out: Path, methods: list[str], seeds: list[int]) -> None:
    """The comparison report's main columns as a terminal table (means over seeds)."""
    from labelspace.experiments.compare import load_results
    from labelspace.reporting.tables import summary_table

    columns, rows = summary_table(load_results(out, methods, seeds))
    title = f"comparison in {out}" + (f", mean of {len(seeds)} seeds" if len(seeds) > 1 else "")
    table = Table(title=f"{title} (all columns: report.md)")
    table.add_column("method", no_wrap=True)
    for _, heading, _, _ in columns:
        table.add_column(heading, justify="right")
    for name, values in rows.items():
        cells = [
            "–" if value != value else f"{scale * value:.{digits}f}"
            for (_, _, digits, scale), value in zip(columns, values, strict=True)
        ]
        table.add_row(name, *cells)
    console.print(table)
