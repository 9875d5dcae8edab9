"""Pretrained label spaces shipped with the package: Poincaré embeddings of WordNet hierarchies.

Each is one embedding file in ``labelspace/pretrained/`` with an entry of ``manifest.json``:
its source (a hierarchy source of :func:`labelspace.hierarchy.sources.load_source`), the
options it was trained with, its reconstruction mean rank and MAP (on every node, and on a
seeded sample of nodes, which the test suite re-measures), its size and its SHA-256. A file
whose checksum does not match is refused, so a damaged or replaced file never trains a model.
``scripts/build_pretrained.py`` (``make pretrained``) rebuilds them all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelspace.embeddings.store import EmbeddingFileError, LabelEmbedding
from labelspace.errors import InputError

if TYPE_CHECKING:
    from labelspace.embeddings.poincare_config import PoincareConfig
    from labelspace.hierarchy.sources import LabelGraph

log = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
MANIFEST = PRETRAINED_DIR / "manifest.json"
PREFIX = "pretrained:"


@dataclass(frozen=True)
class Pretrained:
    """One shipped embedding, as its manifest entry describes it."""

    name: str
    source: str
    file: str
    sha256: str
    dim: int
    nodes: int
    quality: dict[str, Any]  # {"all": {map, mean_rank}, "sample": {nodes, seed, map, mean_rank}}
    options: dict[str, Any]

    @property
    def path(self) -> Path:
        return PRETRAINED_DIR / self.file

    @property
    def hierarchy_source(self) -> str:
        """What :func:`~labelspace.hierarchy.sources.load_source` builds its hierarchy from."""
        return source_spec(self.source)


def source_spec(source: str) -> str:
    """A source as ``load_source`` takes it: a wnid list shipped in ``pretrained/sources/``
    becomes the comma-separated class list it holds; any other source is itself."""
    if source.startswith("sources/"):
        return ",".join((PRETRAINED_DIR / source).read_text(encoding="utf-8").split())
    return source


def catalogue() -> dict[str, Pretrained]:
    """The shipped embeddings by name (empty if the manifest is missing)."""
    if not MANIFEST.is_file():
        return {}
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))["embeddings"]
    return {e["name"]: Pretrained(**e) for e in entries}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained(name: str) -> LabelEmbedding:
    """The shipped embedding ``name`` (``pretrained:`` prefix allowed), checksum verified."""
    name = name.removeprefix(PREFIX)
    entries = catalogue()
    if name not in entries:
        raise InputError(
            f"unknown pretrained embedding {name!r}; shipped: {', '.join(entries) or 'none'} "
            "(`labelspace embeddings` lists them)"
        )
    entry = entries[name]
    if not entry.path.is_file():
        raise EmbeddingFileError(
            f"pretrained embedding {name}: {entry.path} is missing; reinstall labelspace or "
            "rebuild it with `make pretrained`"
        )
    if sha256(entry.path) != entry.sha256:
        raise EmbeddingFileError(
            f"pretrained embedding {name}: {entry.path} does not match its checksum (damaged "
            "or replaced); reinstall labelspace or rebuild it with `make pretrained`"
        )
    return LabelEmbedding.load(entry.path)


def shipped_for(graph: LabelGraph, kind: str, config: PoincareConfig) -> LabelEmbedding | None:
    """The shipped embedding that training ``kind`` on ``graph`` with ``config`` stands for:
    one of the same kind, trained with exactly these options (dimension, seed, epochs, ...) on
    exactly this graph (the same nodes in the same order, the same closure pairs), so training
    would give it again; None when no shipped one is.

    So a run on ImageNet-1k's classes with the default 32-d Poincaré label space takes
    ``imagenet-1k-poincare-32d`` in a second instead of training it for minutes (the same
    vectors, bit for bit, on the machine that built it). Its training record names it
    (``"pretrained"``). A shipped file that fails its checksum is passed over with a warning:
    training the embedding instead is always possible.
    """
    import numpy as np

    from labelspace.hierarchy.sources import load_source

    labels = graph.labels
    wanted = asdict(config)
    for entry in catalogue().values():
        if (
            entry.dim != config.dim
            or entry.nodes != len(labels)
            or entry.options.get("seed") != config.seed
        ):
            continue  # told apart by the manifest, without reading the file
        try:
            shipped = pretrained(entry.name)
        except EmbeddingFileError as err:
            log.warning("%s; training the embedding instead", err)
            continue
        if shipped.kind != kind or shipped.training.get("config") != wanted:
            continue
        trained_on = load_source(entry.hierarchy_source)
        if trained_on.labels != labels or not np.array_equal(trained_on.pairs, graph.pairs):
            continue
        found = shipped.subset(labels)
        found.synsets = graph.synsets
        found.training = {**found.training, "source": graph.name, "pretrained": entry.name}
        return found
    return None
