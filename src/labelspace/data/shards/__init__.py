"""Packed shards: a large dataset as a few big files, read by offset on one machine or many.

``labelspace pack`` turns a dataset listing (:class:`~labelspace.data.layouts.Listing`) into a
folder ``OUT``::

    OUT/train-000000.tar, OUT/train-000001.tar, ...   shards of the training images
    OUT/test-000000.tar, ...                          shards of the test images
    OUT/train.index.npy, OUT/test.index.npy           int64 (N, 4): shard, offset, size, target
    OUT/labelspace-shards.json                        the manifest: classes, synsets, counts, ...

**Format: WebDataset's tar convention.** A shard is a plain POSIX (ustar) tar file whose
members are ``<key>.<ext>``, the original encoded image bytes unchanged (``.jpg``, ``.png``, ...
after the source file's suffix), and ``<key>.cls``, the target as decimal text. Any WebDataset
reader, or plain ``tar``, reads them, so a packed dataset is not locked into labelspace; they
are written with Python's :mod:`tarfile`, so packing adds no dependency. Keys are the image's
position in its split, zero-padded (``00000042``), and shards keep the listing's order.
LitData was considered and not chosen: it would bring boto3, obstore and requests, and under
DDP it drops samples to keep ranks level.

**Reading: map-style, by offset.** labelspace adds an index: for every image, its shard, the
byte offset of its data in that tar, its size and its target (one int64 row, the only memory
held per image). :class:`ShardImages` is a map-style dataset (a
:class:`~labelspace.data.streaming.LazyImages`): reading image ``i`` is one seek and one read
in its shard, so Lightning's DistributedSampler decides which rank reads which images exactly
as for images in memory or in files: every rank reads only its own part, and each epoch every
image is read once over all ranks. When the number of images is not a multiple of the number
of ranks, the DistributedSampler repeats up to ``ranks - 1`` images (``drop_last=False``) so
that every rank runs the same number of steps; nothing is dropped.

**Safety.** Every image is decoded once before it is written, so a corrupt file stops the pack
(or is skipped, with ``skip_corrupt``) instead of failing hours into training. Everything is
written into a temporary sibling folder that is moved into place at the end: a failure or
Ctrl-C leaves no ``OUT`` and no temporary folder, and an existing ``OUT`` is replaced only with
``overwrite`` (and only if it is empty or a packed folder, never an arbitrary folder).
"""

from labelspace.data.shards.manifest import (
    SHARDS_FORMAT,
    SHARDS_MANIFEST,
    SHARDS_VERSION,
    is_packed,
    read_manifest,
)
from labelspace.data.shards.reader import ShardImages
from labelspace.data.shards.writer import pack

__all__ = [
    "SHARDS_FORMAT",
    "SHARDS_MANIFEST",
    "SHARDS_VERSION",
    "ShardImages",
    "is_packed",
    "pack",
    "read_manifest",
]
