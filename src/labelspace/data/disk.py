"""Loading a dataset on disk (a layout's files, or packed shards) for
:func:`~labelspace.data.datasets.load_dataset`: its classes' synsets, where its pixels live
(planned from image headers before anything is decoded), its statistics, and its unreadable
images.

With ``skip_corrupt``, unreadable images are left out and listed alike in memory and when
streamed: decoding into memory drops them from both splits; a streamed test split is checked
image by image before the run (so it is tested on exactly the readable images, as in memory),
and a streamed training image that does not decode is replaced by the next readable one and
recorded in the dataset's :class:`~labelspace.data.streaming.SkipLog`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelspace.data.decoded_cache import load_decoded
from labelspace.data.errors import DatasetError, EmptyClassError
from labelspace.data.folders import ProgressCallback
from labelspace.data.layouts.walk import SHARDS_MANIFEST
from labelspace.data.named import known_dataset
from labelspace.data.probe import PEEK_IMAGES, peek, probe_files, probe_lazy, sample
from labelspace.data.storage import Footprint, choose_storage, default_workers
from labelspace.data.streaming import FileImages, LazyImages, SkipLog, drop_unreadable
from labelspace.errors import InputError
from labelspace.hierarchy.mapping import map_names
from labelspace.hierarchy.mapping_files import dataset_mapping, merge_mappings, read_mapping_file
from labelspace.hierarchy.synset_names import UnknownSynsetError, identifier_synset

__all__ = ["Batches", "Loaded", "class_synsets", "load_files", "load_shards"]

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """Both splits (no transforms yet) and what is known about them."""

    name: str
    train: Any  # InMemoryImages or LazyImages
    test: Any
    classes: list[str]
    synsets: list[str]
    stats: tuple[tuple[float, ...], tuple[float, ...]]
    source: str
    storage: str = "memory"
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    augment: str | None = None  # the dataset's default training augmentation, if it has one
    skip_log: SkipLog | None = None  # training images skipped while streaming


@dataclass(frozen=True)
class Batches:
    """How a run will read the dataset: its training batch size and DataLoader workers (None:
    the default for the storage), for the memory plan."""

    batch_size: int | None = None
    workers: int | None = None


def class_synsets(
    classes: list[str], dataset_key: str | None, mapping: str | Path | None
) -> list[str]:
    """Synset of each class: the user's mapping, then the reviewed one, then map_names.

    Two classes that end at one synset are refused (``SharedSynsetError``), before any image
    is decoded.
    """
    overrides: dict[str, str] = dataset_mapping(dataset_key) if dataset_key else {}
    if mapping is not None:
        overrides = merge_mappings(overrides, read_mapping_file(mapping))
    return map_names(classes, overrides=overrides or None)


def load_files(
    spec: str,
    mapping: str | Path | None,
    image_size: int | None,
    skip_corrupt: bool,
    storage: str,
    on_progress: ProgressCallback | None,
    batches: Batches,
) -> Loaded:
    """A dataset in one of the layouts of :mod:`labelspace.data.layouts`."""
    from labelspace.data.layouts import scan_dataset

    listing = scan_dataset(spec)  # layout errors before any mapping or decoding
    known = known_dataset(listing.classes)
    if known:
        log.info("the classes are the %s classes: using its reviewed mapping", known.name)
    synsets = class_synsets(listing.classes, known and known.mapping, mapping)
    name = listing.root.resolve().stem if listing.root.is_file() else listing.root.resolve().name
    paths, targets = listing.train.paths, listing.train.targets
    n_images = len(paths) + len(listing.test.paths)
    peeked = peek(paths[i] for i in sample(len(paths), targets)[:PEEK_IMAGES])
    stream = _plan(storage, n_images, peeked, image_size, name, batches)
    if not stream:
        # the statistics of these images: a folder copy may differ from the original
        loaded, stats = load_decoded(
            listing, image_size=image_size, skip_corrupt=skip_corrupt, on_progress=on_progress
        )
        train, test = loaded.train, loaded.test
        return Loaded(
            name, train, test, listing.classes, synsets, stats, str(listing.root),
            skipped=loaded.skipped, notes=list(listing.notes),
        )  # fmt: skip
    probe = probe_files(paths, targets, image_size, skip_corrupt)
    options = {
        "in_chans": probe.in_chans,
        "image_size": image_size or probe.size,
        "resize": image_size is not None,
        "skip_corrupt": skip_corrupt,
        "skip_log": SkipLog() if skip_corrupt else None,
    }
    train = FileImages(paths, targets, **options)
    test = FileImages(listing.test.paths, listing.test.targets, **options)
    loaded = Loaded(
        name, train, test, listing.classes, synsets, probe.stats, str(listing.root),
        storage="streaming", notes=list(listing.notes), skip_log=options["skip_log"],
    )  # fmt: skip
    return _readable_test(loaded, batches, on_progress, str(listing.root))


def load_shards(
    folder: Path,
    mapping: str | Path | None,
    image_size: int | None,
    skip_corrupt: bool,
    storage: str,
    on_progress: ProgressCallback | None,
    batches: Batches,
) -> Loaded:
    """Shards written by ``labelspace pack``: class list and synsets come with them."""
    from labelspace.data.shards import ShardImages, read_manifest

    if mapping is not None:
        raise InputError(
            f"--mapping: {folder} holds packed shards, whose classes were mapped when they "
            "were packed; pack them again with --mapping to change it"
        )
    if storage == "memory":
        raise InputError(
            f"--in-memory: {folder} holds packed shards, which are always streamed; pass the "
            "original dataset to decode it into memory"
        )
    manifest = read_manifest(folder)
    synsets = _checked_synsets(folder, manifest)
    log_ = SkipLog() if skip_corrupt else None
    splits = [
        ShardImages.open(folder, split, in_chans=3, image_size=1, skip_corrupt=skip_corrupt)
        for split in ("train", "test")
    ]
    for split in splits:
        split.skip_log = log_
    first = splits[0]
    pick = sample(len(first), first.targets)[:PEEK_IMAGES]
    peeked = peek(first.source(i) for i in pick)
    if peeked is not None and manifest["in_chans"] in (1, 3):
        peeked = (manifest["in_chans"], peeked[1])
    _plan("streaming", len(first) + len(splits[1]), peeked, image_size, folder.name, batches)
    probe = probe_lazy(first, image_size, peeked[0] if peeked else None)
    side = image_size or probe.size
    train, test = (
        s.with_size(in_chans=probe.in_chans, image_size=side, resize=image_size is not None)
        for s in splits
    )
    loaded = Loaded(
        folder.resolve().name, train, test, list(manifest["classes"]), synsets, probe.stats,
        str(folder), storage="shards", notes=list(manifest.get("notes", [])), skip_log=log_,
    )  # fmt: skip
    return _readable_test(loaded, batches, on_progress, str(folder))


def _plan(
    storage: str,
    n_images: int,
    peeked: tuple[int, tuple[int, int]] | None,
    image_size: int | None,
    what: str,
    batches: Batches,
) -> bool:
    """Whether to stream, from the image headers; refuses what cannot fit (see
    :func:`~labelspace.data.storage.choose_storage`). Without a readable header the decoding
    that follows names the file: the plan then assumes small RGB images."""
    channels, (height, width) = peeked or (3, (1, 1))
    if image_size is not None:
        height = width = image_size
    footprint = Footprint(n_images, channels, height, width)
    return choose_storage(
        storage, footprint, what, batch_size=batches.batch_size, workers=batches.workers
    )


def _checked_synsets(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """The manifest's synsets, each a WordNet 3.0 noun synset (a manifest edited by hand, or
    written by another WordNet, may name one that is not)."""
    synsets = list(manifest["synsets"])
    for cls, synset in zip(manifest["classes"], synsets, strict=True):
        try:
            known = identifier_synset(synset)
        except UnknownSynsetError:
            known = None
        if known is None:
            source = manifest.get("source") or "DATASET"
            raise DatasetError(
                f"{folder / SHARDS_MANIFEST} maps the class {cls!r} to {synset!r}, which "
                "is not a WordNet 3.0 noun synset; pack the dataset again with a mapping file "
                f"holding the line '{cls}<TAB>SYNSET' (a noun synset such as dog.n.01): "
                f"`labelspace pack {source} {folder} --mapping FILE --overwrite`"
            )
    return synsets


def _readable_test(
    loaded: Loaded, batches: Batches, on_progress: ProgressCallback | None, root: str
) -> Loaded:
    """With ``skip_corrupt``, the streamed test split without its unreadable images, which
    are listed in ``skipped``: the run tests on exactly the readable images, as in memory."""
    test: LazyImages = loaded.test
    if not test.skip_corrupt:
        return loaded
    workers = default_workers(True) if batches.workers is None else batches.workers
    loaded.test, loaded.skipped = drop_unreadable(test, workers, on_progress)
    emptied = sorted(set(test.targets.tolist()) - set(loaded.test.targets.tolist()))
    if emptied:
        names = ", ".join(f"test/{loaded.classes[t]}" for t in emptied)
        raise EmptyClassError(
            f"{root}: every image of class folder(s) {names} is unreadable; replace the "
            "images or remove the folder(s)"
        )
    if loaded.skipped:
        log.warning(
            "left out %d unreadable test image(s) of %d, e.g. %s",
            len(loaded.skipped),
            len(test),
            loaded.skipped[0],
        )
    return loaded
