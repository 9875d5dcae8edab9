"""The ``explain`` command: saliency maps of image files for their top labels, as PNG
overlays, one file per image and label (images that share a file name keep theirs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelspace.cli import common
from labelspace.cli.common import RunArg, console

EXPLAIN_BATCH = 16  # saliency maps computed at once (one step of the progress bar)


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
