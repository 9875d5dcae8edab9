"""Commands on image models: ``train``, ``evaluate``, ``analyze``, ``predict``, ``methods``
(``explain`` lives in :mod:`labelspace.cli.explain`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from labelspace.analysis.config import DEFAULT_EPS
from labelspace.cli import common
from labelspace.cli.common import (
    ANALYSIS,
    AttackImagesOpt,
    AttackOpt,
    CoverageOpt,
    DataOpt,
    EpsOpt,
    FeatureImagesOpt,
    FeatureMapOpt,
    MappingOpt,
    MultiImagesOpt,
    MultiOpt,
    RunArg,
    SaliencyImagesOpt,
    SaliencyMethodOpt,
    SaliencyOpt,
    UnseenOpt,
    analysis_config,
    config_from,
    console,
    data_progress,
    names,
    print_metrics,
    print_result,
)
from labelspace.cli.explain import explain  # noqa: F401  (registered with the app from here)
from labelspace.cli.method_options import with_method_options
from labelspace.models.options import MethodOptions
from labelspace.training.config import TrainConfig

TRAIN = TrainConfig()  # the defaults of the training options
OPTIONS = MethodOptions()  # the defaults of the method options


def methods() -> None:
    """List the registered methods and label-embedding kinds, one line each."""
    from labelspace.embeddings.build import KINDS
    from labelspace.models.methods import METHODS

    table = Table(title="methods (--method)")
    for col in ("method", "label embedding", "probabilities", "zero-shot", "description"):
        table.add_column(col)
    for m in METHODS.values():
        table.add_row(
            m.name,
            m.embedding or "–",
            "yes" if m.has_probabilities else "–",
            "yes" if m.zero_shot else "–",
            m.summary,
        )
    console.print(table)
    kinds = Table(title="label-embedding kinds (--embedding, embed --kind)")
    kinds.add_column("kind")
    kinds.add_column("description")
    for k in KINDS.values():
        kinds.add_row(k.name, k.summary)
    console.print(kinds)


@with_method_options
def train(
    run: RunArg,
    data: DataOpt = TRAIN.data,
    method: common.MethodOpt = TRAIN.method,
    embedding: common.EmbeddingOpt = None,
    dim: common.DimOpt = TRAIN.embedding_dim,
    backbone: common.BackboneOpt = TRAIN.backbone,
    epochs: common.EpochsOpt = TRAIN.epochs,
    batch_size: common.BatchSizeOpt = TRAIN.batch_size,
    optimizer: common.OptimizerOpt = TRAIN.optimizer,
    lr: common.LrOpt = TRAIN.lr,
    weight_decay: float = TRAIN.weight_decay,
    val_fraction: common.ValFractionOpt = TRAIN.val_fraction,
    train_limit: common.TrainLimitOpt = None,
    test_limit: common.TestLimitOpt = None,
    seed: common.SeedOpt = TRAIN.seed,
    options: MethodOptions = OPTIONS,  # one option per field (with_method_options)
    init_from: common.InitFromOpt = None,
    unseen: UnseenOpt = None,
    root: common.RootOpt = None,
    download: common.DownloadOpt = TRAIN.download,
    augment: common.AugmentOpt = None,
    mapping: MappingOpt = None,
    skip_corrupt: common.SkipCorruptOpt = TRAIN.skip_corrupt,
    accelerator: common.AcceleratorOpt = TRAIN.accelerator,
    devices: common.DevicesOpt = TRAIN.devices,
    strategy: common.StrategyOpt = TRAIN.strategy,
    precision: common.PrecisionOpt = TRAIN.precision,
    compile: common.CompileOpt = TRAIN.compile,
    workers: common.WorkersOpt = TRAIN.workers,
    image_size: common.ImageSizeOpt = None,
    in_memory: common.InMemoryOpt = None,
    pretrained: common.PretrainedOpt = None,
    freeze_backbone: common.FreezeBackboneOpt = TRAIN.freeze_backbone,
    distances: common.DistancesOpt = None,
    resume: Annotated[bool, typer.Option(help="Continue RUN from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace RUN if it exists.")] = False,
) -> None:
    """Train an image model into RUN and evaluate it on the test set."""
    from labelspace.training.fit import train as train_run

    config = config_from(
        TrainConfig,
        locals(),
        embedding_dim=dim,
        init_from=str(init_from) if init_from else None,
        unseen=names(unseen),
        mapping=str(mapping) if mapping else None,
        storage=common.storage(in_memory),
        pretrained=str(pretrained) if pretrained else None,
        distances=common.absolute(distances),
    )
    result = train_run(
        config,
        run,
        resume=resume,
        overwrite=overwrite,
        on_progress=data_progress(),
        on_scoring=data_progress("scoring the test images"),
    )
    if result:
        print_result(result)
        console.print(f"run folder: {run}")


MovedDataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="PATH",
        help="The run's dataset, if it has moved since training (it must have the run's "
        "classes); default: where the run recorded it.",
    ),
]


def evaluate(
    run: RunArg,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Open vocabulary: decode against every WordNet noun ('nouns') or the nouns "
            "under a synset (mammal.n.01) or several (organism.n.01+artifact.n.01), and report "
            "hit@k and hierarchical precision@k."
        ),
    ] = None,
    images: Annotated[
        str, typer.Option(help="With --labels: 'unseen' (zero-shot classes) or 'all'.")
    ] = "unseen",
    distances: common.DistancesOpt = None,
    data: MovedDataOpt = None,
) -> None:
    """Evaluate RUN's final weights on its test set (rewrites its metrics)."""
    from labelspace.files import atomic_write_json
    from labelspace.training.evaluate import evaluate_run

    if labels is None:
        chosen = common.absolute(distances)
        scoring = data_progress("scoring the test images")
        print_result(
            evaluate_run(
                run, on_progress=data_progress(), distances=chosen, data=data, on_scoring=scoring
            )
        )
        return
    if distances is not None:
        raise common.fail("--distances scores the run's classes; leave it out with --labels")
    from labelspace.analysis.openvocab import open_vocabulary
    from labelspace.locks import folder_lock

    path = run / f"openvocab-{labels}-{images}.json"
    # not while another process trains or evaluates the run: the file lands in its folder
    with folder_lock(run, create=False), common.progress() as bar:
        result = open_vocabulary(
            run, labels, images=images, on_progress=step_progress(bar), data=data
        )
        atomic_write_json(path, result)
    shown = {k: v for k, v in result.items() if k.startswith(("hit@", "hp@"))}
    print_metrics(
        f"{result['num_images']} {images} test images among {result['num_labels']:,} labels "
        f"({labels})",
        shown,
    )
    for example in result["examples"]:
        console.print(f"  {example['class']}: {', '.join(example['top5'])}")
    console.print(f"written: {path}")


def step_progress(bar: Progress) -> Callable[[str, int, int], None]:
    """An ``on_progress(step, done, total)`` callback that shows each step as a bar of
    ``bar`` (a :func:`~labelspace.cli.common.progress`)."""
    tasks: dict[str, TaskID] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            tasks[step] = bar.add_task(step, total=total, info="")
        bar.update(tasks[step], completed=done, total=total)

    return update


def analyze(
    run: RunArg,
    attack: AttackOpt = ANALYSIS.attack,
    eps: EpsOpt = DEFAULT_EPS,
    attack_images: AttackImagesOpt = ANALYSIS.attack_images,
    feature_images: FeatureImagesOpt = ANALYSIS.feature_images,
    feature_map: FeatureMapOpt = ANALYSIS.feature_map,
    multi: MultiOpt = False,
    multi_images: MultiImagesOpt = ANALYSIS.multi_images,
    coverage: CoverageOpt = ANALYSIS.coverage,
    saliency: SaliencyOpt = False,
    saliency_images: SaliencyImagesOpt = ANALYSIS.saliency_images,
    saliency_method: SaliencyMethodOpt = ANALYSIS.saliency_method,
    distances: common.DistancesOpt = None,
    data: MovedDataOpt = None,
) -> None:
    """Back-off curve, CRM re-ranking, attacks and feature clustering of RUN (analysis.json);
    --multi adds label sets on single and composite images, --saliency where the model looks
    against object boxes."""
    from labelspace.analysis.analyze import analyze_run
    from labelspace.analysis.results import ANALYSIS_FILE

    config = analysis_config(
        attack,
        eps,
        attack_images,
        feature_images,
        feature_map,
        multi,
        multi_images,
        coverage,
        saliency,
        saliency_images,
        saliency_method,
        distances=common.absolute(distances),
    )
    with console.status("analysing") as status:
        result = analyze_run(
            run, config, on_step=lambda s: status.update(f"analysing: {s}"), data=data
        )
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
    if "multilabel" in result:
        multi_result = result["multilabel"]
        rows["single image: class in its label set"] = multi_result["single"]["class_in_set"]
        rows["single image: label-set size"] = multi_result["single"]["set_size"]
        for composition in ("side-by-side", "pasted"):
            for key, value in multi_result[composition].items():
                rows[f"{composition}: {key.replace('_', ' ')}"] = value
    if "saliency" in result:
        rows["saliency: pointing game"] = result["saliency"]["pointing_game"]
        rows["saliency: mass in the box"] = result["saliency"]["mass_in_box"]
        rows["saliency: box share of the image"] = result["saliency"]["box_area"]
    print_metrics(f"analysis of {run}", rows)
    console.print(f"written: {run / ANALYSIS_FILE}")


def predict(
    run: RunArg,
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    top: Annotated[int, typer.Option("--top", "-k", help="How many labels to show.")] = 5,
    backoff: Annotated[
        float,
        typer.Option(help="Back off to the deepest ancestor at least this probable (0-1)."),
    ] = 0.9,
    multi: Annotated[
        bool,
        typer.Option(
            "--multi",
            help="Several labels: every class whose score reaches a threshold calibrated on "
            "the run's validation split, shown as a tree with their ancestors.",
        ),
    ] = False,
    coverage: CoverageOpt = ANALYSIS.coverage,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="PATH",
            help="With --multi: the run's dataset, if it has moved since training (its "
            "validation split calibrates the label sets the first time).",
        ),
    ] = None,
) -> None:
    """Top-k labels of each image, each with its path up the hierarchy, and the backed-off
    answer: the most specific label the model is sure of (--multi: a set of labels)."""
    from labelspace.analysis.predict import backoff_answers, check_options, predict_images
    from labelspace.training.load import load_run

    check_options(k=top, threshold=backoff)  # before the model loads
    if multi:
        _predict_sets(run, images, coverage, data)
        return
    if data is not None:
        raise common.fail(
            "--data is read only with --multi (its first calibration loads the run's "
            "validation split); leave it out"
        )
    loaded = load_run(run)
    answers = predict_images(loaded, images, k=top)
    hedged = backoff_answers(loaded, images, threshold=backoff)
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


def _predict_sets(run: Path, images: list[Path], coverage: float, data: str | None) -> None:
    """``predict --multi``: each image's calibrated label set, as a table and a tree."""
    from labelspace.analysis.multilabel import check_coverage, predict_label_sets, tree_lines

    check_coverage(coverage)
    with console.status("labelling (a first --multi calibrates on the validation split)"):
        answers, calibration = predict_label_sets(run, images, coverage=coverage, data=data)
    kind = "probability" if calibration.score == "probabilities" else "score"
    for path, rows in answers.items():
        table = Table(title=f"{path}: {len(rows)} label(s)")
        table.add_column("label")
        table.add_column(kind, justify="right")
        for label, value, _ in rows:
            table.add_row(label, f"{value:.4f}")
        console.print(table)
        console.print("\n".join(tree_lines([chain for _, _, chain in rows])))
    console.print(
        f"set: every class whose {kind} reaches {calibration.threshold:.4g}, the threshold "
        f"that holds the class of {calibration.coverage:.0%} of "
        f"{calibration.validation_images} validation images"
    )
