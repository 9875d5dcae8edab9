"""Dataset commands: ``pack`` (shards for streaming on one machine or many)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelspace.cli import common


def pack(
    data: Annotated[
        str,
        typer.Argument(
            help="A dataset folder (ImageFolder, Tiny ImageNet, ILSVRC-2012) or CSV manifest."
        ),
    ],
    out: Annotated[Path, typer.Argument(help="Folder for the shards.")],
    mapping: common.MappingOpt = None,
    shard_mb: Annotated[int, typer.Option(help="Largest shard size in MiB.")] = 256,
    skip_corrupt: common.SkipCorruptOpt = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it holds shards.")] = False,
) -> None:
    """Pack DATA into tar shards (WebDataset's format) with an index, its class list and
    synsets; `--data OUT` then trains from them, and under DDP every rank reads its own part."""
    from labelspace.data.datasets import pack_dataset
    from labelspace.files import writing

    with writing(out):  # a full disk: one line naming OUT (nothing is left half-written)
        manifest = pack_dataset(
            data,
            out,
            mapping=mapping,
            overwrite=overwrite,
            skip_corrupt=skip_corrupt,
            shard_mb=shard_mb,
            on_progress=common.data_progress("packing images"),
        )
    counts = manifest["counts"]
    shards = sum(len(names) for names in manifest["shards"].values())
    common.console.print(
        f"packed {counts['train']:,} train and {counts['test']:,} test images of "
        f"{len(manifest['classes'])} classes into {shards} shard(s) in {out}"
    )
    for note in manifest.get("notes", []):
        common.console.print(f"note: {note}")
