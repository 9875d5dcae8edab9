"""Commands on hierarchies and label embeddings: ``hierarchy``, ``embed``,
``evaluate-embedding`` and ``plot-disk``."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labelspace.cli.common import (
    EdgeOrderOpt,
    MappingOpt,
    SourceArg,
    config_from,
    console,
    fail,
    load_graph,
    progress,
)
from labelspace.cli.tree_display import MAX_NODES, limit_tree, shown_notes
from labelspace.embeddings.poincare_config import PoincareConfig

POINCARE = PoincareConfig()  # the defaults of the embedding options


def hierarchy(
    source: SourceArg = "fashion-mnist",
    mapping: MappingOpt = None,
    edge_order: EdgeOrderOpt = None,
    max_children: Annotated[int, typer.Option(help="Children shown per node.")] = 30,
    tree: Annotated[bool, typer.Option(help="Print the tree.")] = True,
    max_nodes: Annotated[
        int, typer.Option(help="Lines of the tree shown (0: all; ImageNet-21k has 28,136 nodes).")
    ] = MAX_NODES,
    export: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Also write the hierarchy to this folder in the better-mistakes formats: "
            "isa.txt, distances.txt.xz, tree.json, classes.txt.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="With --export: replace an existing non-empty folder.")
    ] = False,
) -> None:
    """Show the hierarchy of a dataset, WordNet's mammals or nouns, a class list or a file."""
    from labelspace.files import check_output

    if export is not None:
        check_output(export, overwrite=overwrite, option="--export", folder=True)
    graph = load_graph(source, mapping, edge_order)
    h = graph.hierarchy
    if export is not None:
        from labelspace.hierarchy.export import export_hierarchy

        with console.status(f"writing {export} ..."):
            export_hierarchy(graph, export, overwrite=overwrite)
    if tree:
        console.print(limit_tree(h.tree(max_children=max_children), max_nodes))
    table = Table(title=f"hierarchy: {graph.name}", show_header=False)
    table.add_row("nodes", f"{len(h):,}")
    table.add_row("classes", f"{len(h.classes):,}")
    table.add_row("direct edges", f"{h.num_edges:,}")
    table.add_row("closure pairs", f"{len(graph.pairs):,}")
    table.add_row("root", h.root)
    table.add_row("max depth", str(int(h.depth.max())))
    for note in shown_notes(h.notes):
        table.add_row("note", note)
    console.print(table)
    if export is not None:
        console.print(f"wrote {export}: isa.txt, distances.txt.xz, tree.json, classes.txt")


def train_embedding(graph, kind: str, config: PoincareConfig, *, name: str, device: str = "cpu"):
    """Build ``kind`` on ``graph`` with a progress bar; returns the embedding and seconds."""
    from labelspace.embeddings.build import KINDS, build_embedding

    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(name, total=config.epochs if KINDS[kind].trained else None, info="")

        def on_epoch(epoch: int, loss: float, _table: object) -> None:
            bar.update(task, completed=epoch + 1, info=f"loss {loss:.4f}")

        emb = build_embedding(graph, kind, config=config, device=device, on_epoch=on_epoch)
    return emb, time.perf_counter() - start


def evaluate_with_progress(emb, graph, **options) -> dict:
    """:func:`labelspace.embeddings.build.evaluate_embedding` with a progress bar."""
    from labelspace.embeddings.build import evaluate_embedding

    with progress() as bar:
        task = bar.add_task("evaluating", total=None, info="")
        return evaluate_embedding(
            emb,
            graph,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **options,
        )


def print_results(title: str, results: dict, seconds: float | None = None) -> None:
    table = Table(title=title)
    for col in ("task", "mean rank", "MAP", "nodes", "pairs"):
        table.add_column(col, justify="right" if col != "task" else "left")
    for task, r in results.items():
        table.add_row(
            task, f"{r['mean_rank']:.3f}", f"{r['map']:.4f}", f"{r['nodes']:,}", f"{r['pairs']:,}"
        )
    console.print(table)
    if seconds is not None:
        console.print(f"training time: {seconds:.1f} s")


def embed(
    source: SourceArg,
    kind: Annotated[
        str,
        typer.Option(
            help="poincare, euclidean, sphere, text, poincare+text, random or onehot "
            "(`labelspace methods` describes them)."
        ),
    ] = "poincare",
    out: Annotated[Path | None, typer.Option(help="Output file (.safetensors).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    dim: int = POINCARE.dim,
    epochs: int = POINCARE.epochs,
    batch_size: int = POINCARE.batch_size,
    lr: float = POINCARE.lr,
    negatives: int = POINCARE.negatives,
    init: Annotated[
        str,
        typer.Option(
            help="Where training starts: 'uniform' (tiny random points and a burn-in, the "
            "paper's start) or 'hierarchy' (points laid out by depth and parent direction; "
            "much faster on large hierarchies such as all nouns)."
        ),
    ] = POINCARE.init,
    burnin: Annotated[
        int | None,
        typer.Option(
            help="Burn-in epochs at lr x burnin-lr-factor (default: 20 with --init uniform, "
            "0 with --init hierarchy)."
        ),
    ] = None,
    burnin_lr_factor: float = POINCARE.burnin_lr_factor,
    direction_lr: Annotated[
        float | None,
        typer.Option(
            help="Step size for turning directions of points far from the origin, which "
            "Riemannian SGD barely turns (default: 0.01 with --init hierarchy, 0: off, with "
            "--init uniform)."
        ),
    ] = None,
    dtype: str = POINCARE.dtype,
    seed: int = POINCARE.seed,
    device: str = "cpu",
    evaluate: Annotated[bool, typer.Option(help="Report reconstruction mean rank and MAP.")] = True,
    sample_nodes: Annotated[
        int | None, typer.Option(help="Evaluate a random sample of nodes.")
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Hold out this fraction of non-basic pairs for link prediction.")
    ] = 0.0,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the Poincaré disk to this PNG.")
    ] = None,
    mapping: MappingOpt = None,
    edge_order: EdgeOrderOpt = None,
) -> None:
    """Train (or compute) a label embedding and save it."""
    from labelspace.embeddings.build import KINDS
    from labelspace.embeddings.evaluate import check_evaluation_options, split_for_link_prediction
    from labelspace.files import check_output

    # every option is checked here, before the hierarchy is built or anything is trained
    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    out = out or Path(
        f"{source.split('/')[-1].split('.')[0].replace(',', '-')}-{kind}-{dim}d.safetensors"
    )
    check_output(out, overwrite=overwrite, option="--out")
    if plot is not None:
        check_output(plot, overwrite=overwrite, option="--plot")
        if plot.resolve() == out.resolve():
            raise fail(f"--plot {plot} is the --out file; give the figure another name")
    check_evaluation_options(sample_nodes, holdout)
    if plot is not None and kind != "poincare":
        raise fail("--plot draws the Poincaré disk; it needs --kind poincare")
    if direction_lr and kind != "poincare":
        raise fail("--direction-lr turns points of the Poincaré ball; it needs --kind poincare")
    config = config_from(PoincareConfig, locals(), burnin_epochs=burnin)
    config.validate()
    graph = load_graph(source, mapping, edge_order)
    held_out = train_pairs = None
    train_graph = graph
    if holdout > 0:
        train_pairs, held_out = split_for_link_prediction(
            graph.pairs, graph.hierarchy.edges(), holdout, seed
        )
        train_graph = replace(graph, pairs=train_pairs)
    if KINDS[kind].trained and init == "uniform" and len(graph.pairs) > 100_000:
        console.print(
            f"note: {len(graph.pairs):,} closure pairs; from a uniform start this takes "
            "hundreds of epochs. --init hierarchy starts from the hierarchy's layout and "
            "needs far fewer (see docs/benchmarks.md)."
        )
    emb, seconds = train_embedding(
        train_graph, kind, config, name=f"{kind} {graph.name}", device=device
    )
    results = {}
    if evaluate:
        results = evaluate_with_progress(
            emb, graph, held_out=held_out, sample_nodes=sample_nodes, train_pairs=train_pairs
        )
    emb.training["evaluation"] = results
    emb.save(out, overwrite=overwrite)
    if plot is not None:
        from labelspace.reporting.figures import plot_poincare_disk

        plot_poincare_disk(emb, graph.hierarchy, plot, overwrite=overwrite)
    if results:
        print_results(
            f"{kind} embedding of {graph.name} ({len(emb.labels):,} labels, dim {emb.dim})",
            results,
            seconds,
        )
    console.print(f"saved {out}" + (f" and {plot}" if plot else ""))


def evaluate_embedding(
    path: Annotated[Path, typer.Argument(help="A saved embedding.")],
    source: SourceArg,
    sample_nodes: Annotated[
        int | None, typer.Option(help="Evaluate a random sample of nodes.")
    ] = None,
    mapping: MappingOpt = None,
    edge_order: EdgeOrderOpt = None,
) -> None:
    """Reconstruction mean rank and MAP of a saved embedding against a hierarchy."""
    from labelspace.embeddings.evaluate import check_evaluation_options
    from labelspace.embeddings.store import LabelEmbedding

    check_evaluation_options(sample_nodes)
    emb = LabelEmbedding.load(path)
    graph = load_graph(source, mapping, edge_order)
    if emb.labels != graph.labels:
        emb.subset(graph.hierarchy.classes)  # names the missing classes first, if any
        emb = emb.subset(graph.labels)
    results = evaluate_with_progress(emb, graph, sample_nodes=sample_nodes)
    print_results(f"{emb.kind} embedding {path.name} on {graph.name}", results)


def plot_disk(
    path: Annotated[Path, typer.Argument(help="A saved Poincaré embedding.")],
    source: SourceArg,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("disk.png"),
    overwrite: bool = False,
    max_labels: int = 60,
    mapping: MappingOpt = None,
    edge_order: EdgeOrderOpt = None,
) -> None:
    """Draw a Poincaré embedding in the disk with its hierarchy's edges."""
    from labelspace.embeddings.store import LabelEmbedding
    from labelspace.files import check_output
    from labelspace.reporting.figures import plot_poincare_disk

    check_output(out, overwrite=overwrite, option="--out")
    emb = LabelEmbedding.load(path)
    graph = load_graph(source, mapping, edge_order)
    plot_poincare_disk(emb, graph.hierarchy, out, max_labels=max_labels, overwrite=overwrite)
    console.print(f"wrote {out}")


EMBEDDING_COLUMNS = ("name", "source", "nodes", "dim", "MAP", "mean rank", "MB")
NUMBER_COLUMNS_WIDTH = 50  # the table's number columns and every border


def embeddings() -> None:
    """The pretrained label spaces shipped with labelspace, with their reconstruction quality
    (use one with --embedding pretrained:NAME, or labelspace.pretrained(NAME) in Python)."""
    from labelspace.embeddings.pretrained import catalogue

    rows = [_embedding_row(entry) for entry in catalogue().values()]
    title = "pretrained label spaces (--embedding pretrained:NAME)"
    longest = max((len(row[0]) for row in rows), default=4)
    sources = max((len(row[1]) for row in rows), default=6)
    if console.width < longest + sources + NUMBER_COLUMNS_WIDTH:
        # the name is what pretrained:NAME needs, so it is never cut: where the table does
        # not fit, each name is printed in full on a line of its own, its figures below it
        console.print(title, highlight=False)
        for name, *values in rows:
            console.print(name, highlight=False, soft_wrap=True)
            figures = zip(EMBEDDING_COLUMNS[1:], values, strict=True)
            console.print("  " + ", ".join(f"{k} {v}" for k, v in figures), highlight=False)
        return
    table = Table(title=title)
    table.add_column("name", no_wrap=True, min_width=longest)
    for column in EMBEDDING_COLUMNS[1:]:
        table.add_column(column, justify="left" if column == "source" else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _embedding_row(entry) -> tuple[str, ...]:
    """A shipped embedding's cells: name, source, nodes, dim, MAP, mean rank, MB."""
    quality = entry.quality["all"]
    return (
        entry.name,
        entry.source.removeprefix("sources/").removesuffix(".txt"),
        f"{entry.nodes:,}",
        str(entry.dim),
        f"{quality['map']:.4f}",
        f"{quality['mean_rank']:.3f}",
        f"{entry.path.stat().st_size / 1e6:.2f}" if entry.path.is_file() else "missing",
    )
