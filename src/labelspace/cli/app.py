"""The ``labelspace`` command: parses, calls the library, prints."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(
    help="labelspace: image classifiers that know what their labels mean.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

SourceArg = Annotated[
    str,
    typer.Argument(
        help="fashion-mnist, cifar10, cifar100, mammals, nouns, a hierarchy file (.tsv/.csv/.json) "
        "or comma-separated class names.",
    ),
]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", help="Override file: name<TAB>synset per line.")
]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    # Lightning's banner lines (GPU available, tips) are noise for a command-line user
    # (set on the rank_zero loggers: importing Lightning resets its top-level logger to INFO)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    return typer.Exit(2)


def _user_errors() -> tuple[type[BaseException], ...]:
    from labelspace.embeddings.store import EmbeddingFileError
    from labelspace.hierarchy.graph import HierarchyError
    from labelspace.hierarchy.wordnet import WordNetNotFoundError

    return (
        HierarchyError,
        EmbeddingFileError,
        WordNetNotFoundError,
        ValueError,
        FileExistsError,
        FileNotFoundError,
    )


def _load(source: str, mapping: Path | None):
    from labelspace.hierarchy.sources import load_source

    with console.status(f"building the hierarchy of {source} ..."):
        return load_source(source, mapping=mapping)


@app.command()
def hierarchy(
    source: SourceArg = "fashion-mnist",
    mapping: MappingOpt = None,
    max_children: Annotated[int, typer.Option(help="Children shown per node.")] = 30,
    tree: Annotated[bool, typer.Option(help="Print the tree.")] = True,
) -> None:
    """Show the hierarchy a dataset, WordNet subtree or file induces."""
    try:
        graph = _load(source, mapping)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    h = graph.hierarchy
    if tree:
        console.print(h.tree(max_children=max_children))
    table = Table(title=f"hierarchy: {graph.name}", show_header=False)
    table.add_row("nodes", f"{len(h):,}")
    table.add_row("classes", f"{len(h.classes):,}")
    table.add_row("direct edges", f"{h.num_edges:,}")
    table.add_row("closure pairs", f"{len(graph.pairs):,}")
    table.add_row("root", h.root)
    table.add_row("max depth", str(int(h.depth.max())))
    for note in h.notes:
        table.add_row("note", note)
    console.print(table)


def _progress() -> Progress:
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


def _evaluate(emb, graph, *, held_out=None, sample_nodes=None, train_pairs=None) -> dict:
    from labelspace.embeddings.evaluate import rank_neighbours, reconstruction

    if emb.labels != graph.labels:
        return {}
    results = {}
    with _progress() as progress:
        task = progress.add_task("evaluating", total=None, info="")

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        kw = dict(
            manifold=emb.manifold,
            curvature=emb.curvature or 1.0,
            sample_nodes=sample_nodes,
            progress=tick,
        )
        known = graph.pairs
        results["reconstruction"] = reconstruction(
            emb.vectors, known if train_pairs is None else train_pairs, **kw
        ).as_dict()
        if held_out is not None:
            results["link_prediction"] = rank_neighbours(
                emb.vectors, known, held_out, **kw
            ).as_dict()
    return results


def _print_results(title: str, results: dict, seconds: float | None = None) -> None:
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


@app.command()
def embed(
    source: SourceArg,
    kind: Annotated[
        str, typer.Option(help="poincare, euclidean, sphere, text, random or onehot.")
    ] = "poincare",
    out: Annotated[Path | None, typer.Option(help="Output file (.safetensors).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    dim: int = 10,
    epochs: int = 150,
    batch_size: int = 128,
    lr: float = 0.3,
    negatives: int = 50,
    init: Annotated[
        str,
        typer.Option(
            help="Where training starts: 'uniform' (tiny random points and a burn-in, the "
            "paper's start) or 'hierarchy' (points laid out by depth and parent direction; "
            "much faster on large hierarchies such as all nouns)."
        ),
    ] = "uniform",
    burnin: Annotated[
        int | None,
        typer.Option(
            help="Burn-in epochs at lr x burnin-lr-factor (default: 20 with --init uniform, "
            "0 with --init hierarchy)."
        ),
    ] = None,
    burnin_lr_factor: float = 0.1,
    direction_lr: Annotated[
        float | None,
        typer.Option(
            help="Step size for turning directions of points far from the origin, which "
            "Riemannian SGD barely turns (default: 0.01 with --init hierarchy, 0: off, with "
            "--init uniform)."
        ),
    ] = None,
    dtype: str = "float32",
    seed: int = 0,
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
) -> None:
    """Train (or compute) a label embedding and save it."""
    from labelspace.embeddings.build import KINDS, build_embedding
    from labelspace.embeddings.evaluate import split_for_link_prediction
    from labelspace.embeddings.poincare import PoincareConfig

    if kind not in KINDS:
        raise _fail(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    out = out or Path(
        f"{source.split('/')[-1].split('.')[0].replace(',', '-')}-{kind}-{dim}d.safetensors"
    )
    if out.exists() and not overwrite:
        raise _fail(f"{out} exists; pass --overwrite to replace it, or choose another --out")
    if plot is not None and plot.exists() and not overwrite:
        raise _fail(f"{plot} exists; pass --overwrite to replace it")
    if plot is not None and kind != "poincare":
        raise _fail("--plot draws the Poincaré disk; it needs --kind poincare")
    if direction_lr and kind != "poincare":
        raise _fail("--direction-lr turns points of the Poincaré ball; it needs --kind poincare")
    config = PoincareConfig(
        dim=dim,
        epochs=epochs,
        negatives=negatives,
        batch_size=batch_size,
        lr=lr,
        init=init,
        burnin_epochs=burnin,
        burnin_lr_factor=burnin_lr_factor,
        direction_lr=direction_lr,
        dtype=dtype,
        seed=seed,
    )
    try:
        config.validate()
        graph = _load(source, mapping)
        held_out = train_pairs = None
        train_graph = graph
        if holdout > 0:
            train_pairs, held_out = split_for_link_prediction(
                graph.pairs, graph.hierarchy.edges(), holdout, seed
            )
            train_graph = replace(graph, pairs=train_pairs)
        if kind in ("poincare", "euclidean") and init == "uniform" and len(graph.pairs) > 100_000:
            console.print(
                f"note: {len(graph.pairs):,} closure pairs; from a uniform start this takes "
                "hundreds of epochs. --init hierarchy starts from the hierarchy's layout and "
                "needs far fewer (see the README's benchmarks)."
            )
        start = time.perf_counter()
        with _progress() as progress:
            task = progress.add_task(
                f"{kind} {graph.name}",
                total=epochs if kind in ("poincare", "euclidean") else None,
                info="",
            )

            def on_epoch(epoch: int, loss: float, _table: object) -> None:
                progress.update(task, completed=epoch + 1, info=f"loss {loss:.4f}")

            emb = build_embedding(
                train_graph, kind, config=config, device=device, on_epoch=on_epoch
            )
        seconds = time.perf_counter() - start
        results = (
            _evaluate(
                emb, graph, held_out=held_out, sample_nodes=sample_nodes, train_pairs=train_pairs
            )
            if evaluate
            else {}
        )
        emb.training["evaluation"] = results
        emb.save(out, overwrite=overwrite)
        if plot is not None:
            from labelspace.reporting.figures import plot_poincare_disk

            plot_poincare_disk(emb, graph.hierarchy, plot, overwrite=overwrite)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    if results:
        _print_results(
            f"{kind} embedding of {graph.name} ({len(emb.labels):,} labels, dim {emb.dim})",
            results,
            seconds,
        )
    console.print(f"saved {out}" + (f" and {plot}" if plot else ""))


@app.command("evaluate-embedding")
def evaluate_embedding(
    path: Annotated[Path, typer.Argument(help="A saved embedding.")],
    source: SourceArg,
    sample_nodes: Annotated[
        int | None, typer.Option(help="Evaluate a random sample of nodes.")
    ] = None,
    mapping: MappingOpt = None,
) -> None:
    """Reconstruction mean rank and MAP of a saved embedding against a hierarchy."""
    from labelspace.embeddings.store import LabelEmbedding

    try:
        emb = LabelEmbedding.load(path)
        graph = _load(source, mapping)
        if emb.labels != graph.labels:
            emb.subset(graph.hierarchy.classes)  # names the missing classes first, if any
            emb = emb.subset(graph.labels)
        results = _evaluate(emb, graph, sample_nodes=sample_nodes)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    _print_results(f"{emb.kind} embedding {path.name} on {graph.name}", results)


@app.command("plot-disk")
def plot_disk(
    path: Annotated[Path, typer.Argument(help="A saved Poincaré embedding.")],
    source: SourceArg,
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("disk.png"),
    overwrite: bool = False,
    max_labels: int = 60,
    mapping: MappingOpt = None,
) -> None:
    """Draw a Poincaré embedding in the disk with its hierarchy's edges."""
    from labelspace.embeddings.store import LabelEmbedding
    from labelspace.reporting.figures import plot_poincare_disk

    try:
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
        emb = LabelEmbedding.load(path)
        graph = _load(source, mapping)
        plot_poincare_disk(emb, graph.hierarchy, out, max_labels=max_labels, overwrite=overwrite)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    console.print(f"wrote {out}")


# --------------------------------------------------------------------------- image models
AttackOpt = Annotated[str, typer.Option(help="pgd or fgsm.")]
EpsOpt = Annotated[
    str, typer.Option(help="Attack budgets in pixel units, comma-separated (8/255 allowed).")
]
AttackImagesOpt = Annotated[int, typer.Option(help="Test images attacked per run.")]
FeatureImagesOpt = Annotated[
    int, typer.Option(help="Test images for silhouettes and the feature map.")
]
FeatureMapOpt = Annotated[str, typer.Option(help="tsne or pca.")]
RunArg = Annotated[Path, typer.Argument(help="Run folder (config, checkpoints, metrics, report).")]
DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="fashion-mnist (Debian idx files), torchvision:fashion-mnist|cifar10|cifar100, or an "
        "ImageFolder root holding train/ and test/.",
    ),
]


def _train_config(**kw):
    from labelspace.models.methods import MethodOptions
    from labelspace.training.runs import TrainConfig

    options = MethodOptions(
        temperature=kw.pop("temperature"),
        clip_r=kw.pop("clip_r"),
        label_radius=(kw.pop("label_radius", 3.0) or None),
        trainable_embedding=kw.pop("trainable_embedding"),
    )
    return TrainConfig(options=options, **kw)


def _names(csv: str | None) -> list[str]:
    """``"cat, truck"`` -> ``["cat", "truck"]``; ``None`` -> ``[]``."""
    return [n.strip() for n in (csv or "").split(",") if n.strip()]


def _print_result(result: dict) -> None:
    _print_metrics(f"{result['method']} on {result['data']} (test)", result["test"])
    if "zero_shot" in result:
        zs = dict(result["zero_shot"])
        unseen = ", ".join(zs.pop("unseen"))
        _print_metrics(f"zero-shot, unseen: {unseen}", zs)


def _print_metrics(title: str, metrics: dict) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        percent = key.startswith(("top", "hp@", "acc@", "zsl_", "gzsl_", "seen_", "hit@"))
        shown = "–" if value != value else (f"{100 * value:.2f} %" if percent else f"{value:.4f}")
        table.add_row(key, shown)
    console.print(table)


def _data_progress():
    progress = _progress()
    task = None

    def update(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            progress.start()
            task = progress.add_task("decoding images", total=total, info="")
        progress.update(task, completed=done)
        if done >= total:
            progress.stop()

    return update


@app.command()
def train(
    run: RunArg,
    data: DataOpt = "fashion-mnist",
    method: Annotated[
        str,
        typer.Option(
            help="softmax, poincare, devise, cosine, cosine-ce, soft-labels, hxe, hsoftmax."
        ),
    ] = "softmax",
    embedding: Annotated[
        str | None,
        typer.Option(
            help="Label embedding: a kind (poincare, text, sphere, ...) or a .safetensors "
            "file; default: the method's."
        ),
    ] = None,
    dim: Annotated[int, typer.Option(help="Dimension of a trained label embedding.")] = 32,
    backbone: Annotated[
        str, typer.Option(help="small-cnn, or any timm model name (resnet18).")
    ] = "small-cnn",
    epochs: int = 5,
    batch_size: int = 128,
    optimizer: Annotated[str, typer.Option(help="adamw or sgd.")] = "adamw",
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    val_fraction: Annotated[
        float, typer.Option(help="Stratified share of train kept for validation.")
    ] = 0.1,
    train_limit: Annotated[
        int | None, typer.Option(help="Use at most this many training images.")
    ] = None,
    test_limit: Annotated[
        int | None, typer.Option(help="Evaluate on at most this many test images.")
    ] = None,
    seed: int = 0,
    temperature: Annotated[float, typer.Option(help="Poincaré loss temperature.")] = 0.1,
    clip_r: Annotated[float, typer.Option(help="Hyperbolic head feature clipping radius.")] = 2.3,
    label_radius: Annotated[
        float,
        typer.Option(help="Poincaré: farthest class this far from the origin (0: as embedded)."),
    ] = 3.0,
    trainable_embedding: Annotated[
        bool, typer.Option(help="Let the label vectors train too.")
    ] = False,
    init_from: Annotated[
        Path | None, typer.Option(help="Start from this run's backbone (two-stage fine-tune).")
    ] = None,
    unseen: Annotated[
        str | None,
        typer.Option(help="Zero-shot: comma-separated classes kept out of training (cat,truck)."),
    ] = None,
    root: Annotated[str | None, typer.Option(help="Where torchvision datasets live.")] = None,
    download: Annotated[
        bool, typer.Option(help="Let torchvision download a missing dataset into --root.")
    ] = False,
    augment: Annotated[
        str | None,
        typer.Option(
            help="none, flip, crop, crop-flip (default: flip for grayscale, else crop-flip)."
        ),
    ] = None,
    mapping: MappingOpt = None,
    skip_corrupt: Annotated[
        bool, typer.Option(help="Skip unreadable images (counted in metrics.json).")
    ] = False,
    accelerator: Annotated[str, typer.Option(help="auto, cpu, gpu.")] = "auto",
    devices: int = 1,
    strategy: Annotated[str, typer.Option(help="auto, ddp, ddp_spawn, ...")] = "auto",
    precision: Annotated[str, typer.Option(help="32-true, 16-mixed, bf16-mixed.")] = "32-true",
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue RUN from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace RUN if it exists.")] = False,
) -> None:
    """Train an image model into RUN and evaluate it on the test set."""
    from labelspace.training.runs import train as train_run

    try:
        config = _train_config(
            data=data,
            method=method,
            embedding=embedding,
            embedding_dim=dim,
            backbone=backbone,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            val_fraction=val_fraction,
            train_limit=train_limit,
            test_limit=test_limit,
            seed=seed,
            temperature=temperature,
            clip_r=clip_r,
            label_radius=label_radius,
            trainable_embedding=trainable_embedding,
            init_from=str(init_from) if init_from else None,
            unseen=_names(unseen),
            root=root,
            mapping=str(mapping) if mapping else None,
            skip_corrupt=skip_corrupt,
            download=download,
            augment=augment,
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            precision=precision,
            workers=workers,
        )
        result = train_run(
            config, run, resume=resume, overwrite=overwrite, on_progress=_data_progress()
        )
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    if result:
        _print_result(result)
        console.print(f"run folder: {run}")


@app.command()
def evaluate(
    run: RunArg,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Open vocabulary: decode against every WordNet noun ('nouns') or the nouns "
            "under a synset (mammal.n.01), and report hit@k and hierarchical precision@k."
        ),
    ] = None,
    images: Annotated[
        str, typer.Option(help="With --labels: 'unseen' (zero-shot classes) or 'all'.")
    ] = "unseen",
) -> None:
    """Evaluate RUN's final weights on its test set (rewrites its metrics)."""
    from labelspace.training.runs import evaluate_run, write_json

    try:
        if labels is None:
            result = evaluate_run(run, on_progress=_data_progress())
        else:
            from labelspace.analysis.openvocab import open_vocabulary

            with console.status(f"decoding against {labels}"):
                result = open_vocabulary(run, labels, images=images)
            path = run / f"openvocab-{labels}-{images}.json"
            write_json(path, result)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    if labels is None:
        _print_result(result)
        return
    shown = {k: v for k, v in result.items() if k.startswith(("hit@", "hp@"))}
    _print_metrics(
        f"{result['num_images']} {images} test images among {result['num_labels']:,} labels "
        f"({labels})",
        shown,
    )
    for example in result["examples"]:
        console.print(f"  {example['class']}: {', '.join(example['top5'])}")
    console.print(f"written: {path}")


@app.command()
def analyze(
    run: RunArg,
    attack: AttackOpt = "pgd",
    eps: EpsOpt = "0,1/255,2/255,4/255,8/255",
    attack_images: AttackImagesOpt = 500,
    feature_images: FeatureImagesOpt = 1000,
    feature_map: FeatureMapOpt = "tsne",
) -> None:
    """Back-off curve, CRM re-ranking, attacks and feature clustering of RUN (analysis.json)."""
    from labelspace.analysis.analyze import ANALYSIS_FILE, AnalysisConfig, analyze_run

    try:
        config = AnalysisConfig(
            attack=attack,
            eps=_eps_list(eps),
            attack_images=attack_images,
            feature_images=feature_images,
            feature_map=feature_map,
        )
        with console.status("analysing") as status:
            result = analyze_run(run, config, on_step=lambda s: status.update(f"analysing: {s}"))
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    backoff = result["backoff"]
    rows = {"back-off AUC": backoff["auc"]}
    if "crm" in backoff:
        rows["CRM top-1"] = backoff["crm"]["top1"]
        rows["CRM mistake severity"] = backoff["crm"]["severity"]
    for point in result["robustness"]["points"]:
        rows[f"{attack} eps={point['eps']:.4f}: top-1"] = point["top1"]
        rows[f"{attack} eps={point['eps']:.4f}: severity"] = point["severity"]
    for level, value in result["representations"]["silhouette"].items():
        rows[f"silhouette at height {level}"] = value
    _print_metrics(f"analysis of {run}", rows)
    console.print(f"written: {run / ANALYSIS_FILE}")


@app.command()
def predict(
    run: RunArg,
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    top: Annotated[int, typer.Option("--top", "-k", help="How many labels to show.")] = 5,
    backoff: Annotated[
        float,
        typer.Option(help="Back off to the deepest ancestor at least this probable (0-1)."),
    ] = 0.9,
) -> None:
    """Top-k labels of each image, each with its path up the hierarchy, and the backed-off
    answer: the most specific label the model is sure of."""
    from labelspace.analysis.predict import backoff_answers, predict_images
    from labelspace.training.runs import load_model

    if not 0 <= backoff <= 1:
        raise _fail(f"--backoff must lie in [0, 1], got {backoff}")
    try:
        model = load_model(run)
        answers = predict_images(run, images, k=top, model=model)
        hedged = backoff_answers(run, images, threshold=backoff, model=model)
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    for path, rows in answers.items():
        table = Table(title=str(path))
        table.add_column("#", justify="right")
        table.add_column("label")
        table.add_column("score", justify="right")
        table.add_column("path up the hierarchy")
        for i, (label, score, chain) in enumerate(rows, 1):
            table.add_row(str(i), label, f"{score:.4f}", " < ".join(chain))
        console.print(table)
        node, confidence, how = hedged[path]
        console.print(
            f"backed off (p >= {backoff:g}): [bold]{node}[/bold] with p = {confidence:.4f} ({how})"
        )


def _eps_list(text: str) -> tuple[float, ...]:
    """``"0,1/255,0.03"`` -> ``(0.0, 0.0039, 0.03)``; a clear error for anything else."""
    values = []
    for part in _names(text):
        num, _, den = part.partition("/")
        try:
            value = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"--eps: {part!r} is not a number or a fraction like 8/255") from None
        if not 0 <= value <= 1:
            raise ValueError(f"--eps: {part} is outside [0, 1] (pixels are in [0, 1])")
        values.append(value)
    if not values:
        raise ValueError("--eps needs at least one budget, e.g. 0,8/255")
    return tuple(values)


def _command_line() -> str:
    import shlex
    import sys

    return " ".join(["labelspace", *(shlex.quote(a) for a in sys.argv[1:])])


def _print_comparison(out: Path, names: list[str], seeds: list[int]) -> None:
    """The report's main columns as a terminal table: means over seeds (report.md has all)."""
    import math

    from labelspace.experiments.compare import load_results
    from labelspace.reporting.comparison import flat_metrics

    columns = [
        ("top1", "top-1 %", True),
        ("severity", "sever.↓", False),
        ("hdist@5", "hdist@5↓", False),
        ("hp@2", "hp@2 %", True),
        ("ece", "ECE↓", False),
        ("backoff_info@99", "info@99", False),
        ("zsl_top1", "ZSL %", True),
        ("gzsl_h_top1", "GZSL H %", True),
    ]
    results = load_results(out, names, seeds)
    flats = {name: [flat_metrics(r) for r in runs] for name, runs in results.items()}
    columns = [c for c in columns if any(c[0] in f[0] for f in flats.values())]
    title = f"comparison in {out}" + (f", mean of {len(seeds)} seeds" if len(seeds) > 1 else "")
    table = Table(title=f"{title} (all columns: report.md)")
    table.add_column("method", no_wrap=True)
    for _, head, _ in columns:
        table.add_column(head, justify="right")
    table.add_column("train s", justify="right")
    for name, runs in flats.items():
        cells = []
        for key, _, percent in [*columns, ("train_seconds", "", False)]:
            values = [f.get(key, math.nan) for f in runs]
            value = sum(values) / len(values)
            if value != value:
                cells.append("–")
            elif key == "train_seconds":
                cells.append(f"{value:.0f}")
            else:
                cells.append(f"{100 * value:.2f}" if percent else f"{value:.3f}")
        table.add_row(name, *cells)
    console.print(table)


@app.command()
def compare(
    out: Annotated[Path, typer.Argument(help="Folder for the runs and the report.")],
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods; 'poincare>softmax' = two-stage fine-tune.")
    ] = "softmax,poincare,devise",
    data: DataOpt = "fashion-mnist",
    backbone: str = "small-cnn",
    epochs: int = 5,
    finetune_epochs: Annotated[
        int | None, typer.Option(help="Epochs of a two-stage fine-tune (default epochs/2).")
    ] = None,
    batch_size: int = 128,
    lr: float = 2e-3,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    dim: int = 32,
    temperature: float = 0.1,
    label_radius: float = 3.0,
    root: str | None = None,
    mapping: MappingOpt = None,
    augment: str | None = None,
    skip_corrupt: bool = False,
    accelerator: str = "auto",
    devices: int = 1,
    workers: int = 0,
    seeds: Annotated[
        int, typer.Option(help="Train every method this many times (seeds seed, seed+1, ...).")
    ] = 1,
    unseen: Annotated[
        str | None,
        typer.Option(help="Zero-shot: comma-separated classes kept out of training (cat,truck)."),
    ] = None,
    analyze: Annotated[
        bool, typer.Option(help="Back-off, attacks and feature analyses of every run.")
    ] = True,
    attack: AttackOpt = "pgd",
    eps: EpsOpt = "0,1/255,2/255,4/255,8/255",
    attack_images: AttackImagesOpt = 500,
    feature_images: FeatureImagesOpt = 1000,
    feature_map: FeatureMapOpt = "tsne",
    overwrite: Annotated[bool, typer.Option(help="Retrain runs that already finished.")] = False,
) -> None:
    """Train several methods with the same backbone, budget and seeds; analyse every run;
    write one report (report.md and a self-contained report.html)."""
    from labelspace.analysis.analyze import AnalysisConfig
    from labelspace.experiments.compare import parse_methods, run_comparison, seed_list

    try:
        names = parse_methods(methods)
        analysis = (
            AnalysisConfig(
                attack=attack,
                eps=_eps_list(eps),
                attack_images=attack_images,
                feature_images=feature_images,
                feature_map=feature_map,
            )
            if analyze
            else None
        )
        base = _train_config(
            data=data,
            backbone=backbone,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            train_limit=train_limit,
            test_limit=test_limit,
            seed=seed,
            embedding_dim=dim,
            temperature=temperature,
            label_radius=label_radius,
            clip_r=2.3,
            trainable_embedding=False,
            root=root,
            mapping=str(mapping) if mapping else None,
            augment=augment,
            skip_corrupt=skip_corrupt,
            accelerator=accelerator,
            devices=devices,
            workers=workers,
            unseen=_names(unseen),
        )
        report = run_comparison(
            names,
            base,
            out,
            finetune_epochs=finetune_epochs,
            seeds=seeds,
            analysis=analysis,
            overwrite=overwrite,
            command=_command_line(),
            on_method=lambda m, i, n: console.rule(f"[{i + 1}/{n}] {m}"),
        )
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    _print_comparison(report.parent, names, seed_list(seed, seeds))
    console.print(f"report: {report}")


@app.command()
def demo(
    out: Annotated[
        Path | None, typer.Option(help="Folder for the demo's files (default runs/demo-<time>).")
    ] = None,
    seed: int = 0,
    epochs: Annotated[int, typer.Option(help="Epochs per image model.")] = 6,
    methods: Annotated[
        str, typer.Option(help="Image methods compared.")
    ] = "softmax,poincare,devise",
    images: Annotated[bool, typer.Option(help="Also train and compare the image models.")] = True,
) -> None:
    """The main job: label spaces of Fashion-MNIST and the mammals, then softmax, Poincaré and
    DeViSE image models trained on Fashion-MNIST and compared in one report."""
    from labelspace.embeddings.build import build_embedding
    from labelspace.embeddings.poincare import PoincareConfig
    from labelspace.reporting.figures import plot_poincare_disk

    out = out or Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    if out.exists() and any(out.iterdir()):
        raise _fail(f"{out} exists and is not empty; choose another --out")
    jobs = [
        ("fashion-mnist", PoincareConfig(dim=5, epochs=300, batch_size=32, seed=seed)),
        ("mammals", PoincareConfig(dim=5, epochs=150, batch_size=128, seed=seed)),
    ]
    summary = Table(title="label-space demo")
    for col in ("hierarchy", "labels", "pairs", "dim", "train s", "mean rank", "MAP"):
        summary.add_column(col, justify="left" if col == "hierarchy" else "right")
    for source, config in jobs:
        graph = _load(source, None)
        console.rule(f"{source}: {len(graph.labels):,} labels, {len(graph.pairs):,} closure pairs")
        if source == "fashion-mnist":
            console.print(graph.hierarchy.tree())
        for cfg, name in (
            (config, f"{source}-poincare-{config.dim}d"),
            (replace(config, dim=2, epochs=2 * config.epochs), f"{source}-poincare-2d"),
        ):
            start = time.perf_counter()
            with _progress() as progress:
                task = progress.add_task(name, total=cfg.epochs, info="")
                emb = build_embedding(
                    graph,
                    "poincare",
                    config=cfg,
                    on_epoch=lambda e, loss, _tab, t=task, p=progress: p.update(
                        t, completed=e + 1, info=f"loss {loss:.4f}"
                    ),
                )
            seconds = time.perf_counter() - start
            results = _evaluate(emb, graph)
            emb.training["evaluation"] = results
            emb.save(out / f"{name}.safetensors")
            r = results["reconstruction"]
            summary.add_row(
                source,
                f"{len(graph.labels):,}",
                f"{len(graph.pairs):,}",
                str(cfg.dim),
                f"{seconds:.1f}",
                f"{r['mean_rank']:.3f}",
                f"{r['map']:.4f}",
            )
            if cfg.dim == 2:
                png = plot_poincare_disk(emb, graph.hierarchy, out / f"{source}-disk.png")
                console.print(f"wrote {png}")
    console.print(summary)
    console.print(f"embeddings and pictures in {out}/")
    if not images:
        return
    from labelspace.analysis.analyze import AnalysisConfig
    from labelspace.experiments.compare import parse_methods, run_comparison

    console.rule("image models on Fashion-MNIST: same backbone, budget and seed")
    try:
        base = _train_config(
            epochs=epochs, seed=seed, temperature=0.1, clip_r=2.3, trainable_embedding=False
        )
        names = parse_methods(methods)
        report = run_comparison(
            names,
            base,
            out / "fashion-mnist",
            analysis=AnalysisConfig(),
            command=_command_line(),
            on_method=lambda m, i, n: console.rule(f"[{i + 1}/{n}] {m}"),
        )
    except _user_errors() as exc:
        raise _fail(str(exc)) from None
    _print_comparison(report.parent, names, [seed])
    console.print(f"report: {report}")


if __name__ == "__main__":
    app()
