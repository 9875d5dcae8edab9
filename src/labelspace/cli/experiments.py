"""Commands that compare methods: ``compare`` and the end-to-end ``demo``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from labelspace.analysis.config import DEFAULT_EPS
from labelspace.cli import common
from labelspace.cli.labels import evaluate_with_progress, train_embedding
from labelspace.cli.method_options import with_method_options
from labelspace.cli.models import OPTIONS, TRAIN
from labelspace.embeddings.poincare_config import PoincareConfig
from labelspace.models.options import MethodOptions
from labelspace.training.config import TrainConfig, check_backbone_start

DEFAULT_METHODS = "softmax,poincare,devise"


@with_method_options
def compare(
    out: Annotated[Path, typer.Argument(help="Folder for the runs and the report.")],
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods; 'poincare>softmax' = two-stage fine-tune.")
    ] = DEFAULT_METHODS,
    data: common.DataOpt = TRAIN.data,
    backbone: common.BackboneOpt = TRAIN.backbone,
    epochs: common.EpochsOpt = TRAIN.epochs,
    finetune_epochs: Annotated[
        int | None, typer.Option(help="Epochs of a two-stage fine-tune (default epochs/2).")
    ] = None,
    batch_size: common.BatchSizeOpt = TRAIN.batch_size,
    lr: common.LrOpt = TRAIN.lr,
    train_limit: common.TrainLimitOpt = None,
    test_limit: common.TestLimitOpt = None,
    seed: common.SeedOpt = TRAIN.seed,
    dim: common.DimOpt = TRAIN.embedding_dim,
    options: MethodOptions = OPTIONS,  # one option per field (with_method_options)
    root: common.RootOpt = None,
    mapping: common.MappingOpt = None,
    augment: common.AugmentOpt = None,
    skip_corrupt: common.SkipCorruptOpt = TRAIN.skip_corrupt,
    accelerator: common.AcceleratorOpt = TRAIN.accelerator,
    devices: common.DevicesOpt = TRAIN.devices,
    precision: common.PrecisionOpt = TRAIN.precision,
    compile: common.CompileOpt = TRAIN.compile,
    workers: common.WorkersOpt = TRAIN.workers,
    image_size: common.ImageSizeOpt = None,
    in_memory: common.InMemoryOpt = None,
    pretrained: common.PretrainedOpt = None,
    freeze_backbone: common.FreezeBackboneOpt = TRAIN.freeze_backbone,
    seeds: Annotated[
        int, typer.Option(help="Train every method this many times (seeds seed, seed+1, ...).")
    ] = 1,
    unseen: common.UnseenOpt = None,
    analyze: Annotated[
        bool, typer.Option(help="Back-off, attacks and feature analyses of every run.")
    ] = True,
    attack: common.AttackOpt = common.ANALYSIS.attack,
    eps: common.EpsOpt = DEFAULT_EPS,
    attack_images: common.AttackImagesOpt = common.ANALYSIS.attack_images,
    feature_images: common.FeatureImagesOpt = common.ANALYSIS.feature_images,
    feature_map: common.FeatureMapOpt = common.ANALYSIS.feature_map,
    multi: common.MultiOpt = False,
    saliency: common.SaliencyOpt = False,
    distances: common.DistancesOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Retrain runs that already finished.")] = False,
) -> None:
    """Train several methods with the same backbone, budget and seeds; analyse every run;
    write one report (report.md and a self-contained report.html)."""
    from labelspace.experiments.compare import parse_methods, run_comparison, seed_list

    chosen = parse_methods(methods)
    analysis = (
        common.analysis_config(
            attack, eps, attack_images, feature_images, feature_map, multi, saliency=saliency
        )
        if analyze
        else None
    )
    base = common.config_from(
        TrainConfig,
        locals(),
        embedding_dim=dim,
        mapping=str(mapping) if mapping else None,
        unseen=common.names(unseen),
        storage=common.storage(in_memory),
        pretrained=str(pretrained) if pretrained else None,
        distances=common.absolute(distances),
    )
    check_backbone_start(base)  # the first stage of each method starts from --pretrained
    report = run_comparison(
        chosen,
        base,
        out,
        finetune_epochs=finetune_epochs,
        seeds=seeds,
        analysis=analysis,
        overwrite=overwrite,
        command=common.command_line(),
        on_method=lambda m, i, n: common.console.rule(f"[{i + 1}/{n}] {m}"),
    )
    common.print_comparison(report.parent, chosen, seed_list(seed, seeds))
    common.console.print(f"report: {report}")


# the demo's label spaces: (hierarchy, embedding settings); each is also trained in 2-D
DEMO_EMBEDDINGS = (
    ("fashion-mnist", {"dim": 5, "epochs": 300, "batch_size": 32}),
    ("mammals", {"dim": 5, "epochs": 150, "batch_size": 128}),
)


def demo(
    out: Annotated[
        Path | None, typer.Option(help="Folder for the demo's files (default runs/demo-<time>).")
    ] = None,
    seed: int = 0,
    epochs: Annotated[int, typer.Option(help="Epochs per image model.")] = 6,
    methods: Annotated[str, typer.Option(help="Image methods compared.")] = DEFAULT_METHODS,
    images: Annotated[bool, typer.Option(help="Also train and compare the image models.")] = True,
) -> None:
    """The main job: label spaces of Fashion-MNIST and the mammals, then softmax, Poincaré and
    DeViSE image models trained on Fashion-MNIST and compared in one report."""
    from labelspace.reporting.figures import plot_poincare_disk

    out = out or Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    if out.exists() and any(out.iterdir()):
        raise common.fail(f"{out} exists and is not empty; choose another --out")
    summary = Table(title="label-space demo")
    for col in ("hierarchy", "labels", "pairs", "dim", "train s", "mean rank", "MAP"):
        summary.add_column(col, justify="left" if col == "hierarchy" else "right")
    for source, settings in DEMO_EMBEDDINGS:
        config = PoincareConfig(seed=seed, **settings)
        graph = common.load_graph(source, None)
        common.console.rule(
            f"{source}: {len(graph.labels):,} labels, {len(graph.pairs):,} closure pairs"
        )
        if source == "fashion-mnist":
            common.console.print(graph.hierarchy.tree())
        for cfg in (config, replace(config, dim=2, epochs=2 * config.epochs)):
            name = f"{source}-poincare-{cfg.dim}d"
            emb, seconds = train_embedding(graph, "poincare", cfg, name=name)
            results = evaluate_with_progress(emb, graph)
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
                common.console.print(f"wrote {png}")
    common.console.print(summary)
    common.console.print(f"embeddings and pictures in {out}/")
    if not images:
        return
    from labelspace.analysis.config import AnalysisConfig
    from labelspace.experiments.compare import parse_methods, run_comparison

    common.console.rule("image models on Fashion-MNIST: same backbone, budget and seed")
    chosen = parse_methods(methods)
    report = run_comparison(
        chosen,
        TrainConfig(epochs=epochs, seed=seed),
        out / "fashion-mnist",
        analysis=AnalysisConfig(),
        command=common.command_line(),
        on_method=lambda m, i, n: common.console.rule(f"[{i + 1}/{n}] {m}"),
    )
    common.print_comparison(report.parent, chosen, [seed])
    common.console.print(f"report: {report}")
