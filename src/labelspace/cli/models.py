"""Commands on image models: ``train``, ``evaluate``, ``analyze``, ``predict``, ``methods``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
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
from labelspace.cli.method_options import with_method_options
from labelspace.models.options import MethodOptions
from labelspace.training.config import TrainConfig

TRAIN = TrainConfig()  # the defaults of the training options
OPTIONS = MethodOptions()  # the defaults of the method options
EXPLAIN_BATCH = 16  # saliency maps computed at once by explain (one progress step)


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
    result = train_run(config, run, resume=resume, overwrite=overwrite, on_progress=data_progress())
    if result:
        print_result(result)
        console.print(f"run folder: {run}")


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
) -> None:
    """Evaluate RUN's final weights on its test set (rewrites its metrics)."""
    from labelspace.files import atomic_write_json
    from labelspace.training.evaluate import evaluate_run

    if labels is None:
        chosen = common.absolute(distances)
        print_result(evaluate_run(run, on_progress=data_progress(), distances=chosen))
        return
    if distances is not None:
        raise common.fail("--distances scores the run's classes; leave it out with --labels")
    from labelspace.analysis.openvocab import open_vocabulary

    with console.status(f"decoding against {labels}"):
        result = open_vocabulary(run, labels, images=images)
    path = run / f"openvocab-{labels}-{images}.json"
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
        result = analyze_run(run, config, on_step=lambda s: status.update(f"analysing: {s}"))
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
) -> None:
    """Top-k labels of each image, each with its path up the hierarchy, and the backed-off
    answer: the most specific label the model is sure of (--multi: a set of labels)."""
    from labelspace.analysis.predict import backoff_answers, check_options, predict_images
    from labelspace.training.load import load_run

    check_options(k=top, threshold=backoff)  # before the model loads
    if multi:
        _predict_sets(run, images, coverage)
        return
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


def _predict_sets(run: Path, images: list[Path], coverage: float) -> None:
    """``predict --multi``: each image's calibrated label set, as a table and a tree."""
    from labelspace.analysis.multilabel import check_coverage, predict_label_sets, tree_lines

    check_coverage(coverage)
    with console.status("labelling (a first --multi calibrates on the validation split)"):
        answers, calibration = predict_label_sets(run, images, coverage=coverage)
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


def explain(
    run: RunArg,
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNG overlays.")],
    top: Annotated[int, typer.Option("--top", "-k", help="Explain this many top labels.")] = 3,
    saliency: Annotated[
        str,
        typer.Option(
            help="gradcam (Grad-CAM on the last convolution) or ig (Integrated Gradients)."
        ),
    ] = "gradcam",
    overwrite: Annotated[
        bool, typer.Option(help="Write into an existing, non-empty --out.")
    ] = False,
) -> None:
    """Where the model looks: a saliency map of each image for each of its top labels, laid
    over the image as a PNG (OUT/<image>-<rank>-<label>.png; images that share a file name are
    told apart by their folders, OUT/<folder>_<image>-<rank>-<label>.png)."""
    from labelspace.analysis.inference import class_scores, load_images, normalize_images
    from labelspace.analysis.predict import check_options
    from labelspace.analysis.saliency import (
        check_method,
        last_convolution,
        overlay_stems,
        saliency_maps,
        unique_names,
    )
    from labelspace.files import check_output, first_missing, removed_on_failure
    from labelspace.reporting.figures import plot_saliency_overlay
    from labelspace.training.load import load_run

    check_options(k=top)
    check_method(saliency)
    check_output(out, overwrite=overwrite, option="--out", folder=True)
    model = load_run(run)
    if saliency == "gradcam":
        last_convolution(model.module)  # a run without one: the error, before anything is written
    pixels = load_images(images, model.input)  # all readable, before anything is written
    batch = normalize_images(pixels, model.input)
    scores = class_scores(model.module, batch)
    k = min(top, scores.shape[1])
    ranked = scores.topk(k, dim=1).indices
    stems = overlay_stems(images)
    jobs = [(i, rank) for rank in range(k) for i in range(len(images))]
    labels = [model.space.classes[int(ranked[i, rank])] for i, rank in jobs]
    names = unique_names(
        [
            f"{stems[i]}-{rank + 1}-{_file_safe(label)}.png"
            for (i, rank), label in zip(jobs, labels, strict=True)
        ],
        suffix=".png",
    )
    made = first_missing(out)
    written: set[Path] = set()
    with removed_on_failure(made, keep=lambda: False), common.progress() as bar:
        task = bar.add_task(f"{saliency} maps", total=len(jobs), info="")
        out.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(jobs), EXPLAIN_BATCH):
            chunk = range(start, min(start + EXPLAIN_BATCH, len(jobs)))
            rows, ranks = zip(*(jobs[j] for j in chunk), strict=True)
            maps = saliency_maps(model.module, batch[list(rows)], ranked[rows, ranks], saliency)
            for j, heat in zip(chunk, maps, strict=True):
                i, rank = jobs[j]
                title = f"{labels[j]} (#{rank + 1}, {saliency})"
                written.add(plot_saliency_overlay(pixels[i], heat, out / names[j], title))
            bar.update(task, completed=chunk.stop)
    console.print(f"wrote {len(written)} overlays to {out}")


def _file_safe(label: str) -> str:
    """A label as part of a file name: letters, digits and ``-_.``; anything else ``_``."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
