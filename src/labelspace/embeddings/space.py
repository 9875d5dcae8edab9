"""The label space of a dataset: its classes, their WordNet hierarchy and a label embedding.

Everything downstream of the dataset (heads, losses, decoding, metrics, reports) sees the
classes through one :class:`LabelSpace`, so class ``i`` always means the same row of the
label vectors, the same class node of the hierarchy and the same dataset target.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from labelspace.embeddings.store import LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy

log = logging.getLogger(__name__)

EMBEDDING_FILE = "embedding.safetensors"


@dataclass
class LabelSpace:
    """Classes (dataset names, target order), their synsets, hierarchy and embedding.

    ``hierarchy.classes`` are the synsets in target order. ``embedding`` covers every node of
    the hierarchy where its kind allows (so coarser labels have points too) and is ``None``
    for methods that need no label vectors (softmax and its hierarchical peers).
    """

    classes: list[str]
    synsets: list[str]
    hierarchy: Hierarchy
    embedding: LabelEmbedding | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.classes) != len(self.synsets):
            raise ValueError("classes and synsets must have the same length")
        if list(self.hierarchy.classes) != list(self.synsets):
            raise ValueError("the hierarchy's classes must be the synsets in target order")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @cached_property
    def lca_height(self) -> torch.Tensor:
        """height(LCA) for every pair of classes: the mistake-severity cost matrix."""
        return self.hierarchy.class_lca_height

    @cached_property
    def class_vectors(self) -> torch.Tensor:
        """Label vectors of the classes in target order, ``(C, D)``."""
        if self.embedding is None:
            raise ValueError("this label space has no embedding")
        return self.embedding.subset(list(self.synsets)).vectors.float()

    @property
    def curvature(self) -> float:
        return self.embedding.curvature if self.embedding is not None else 0.0

    def path_to_root(self, target: int) -> list[str]:
        """Readable path of class ``target`` up the hierarchy ("sneaker < shoe < ...")."""
        return [readable_name(n) for n in self.hierarchy.path_to_root(self.synsets[target])]

    def save_embedding(self, folder: Path) -> None:
        if self.embedding is not None:
            self.embedding.save(folder / EMBEDDING_FILE, overwrite=True)


def readable_name(node: str) -> str:
    """``sneaker.n.01`` -> ``sneaker``; other node names unchanged."""
    parts = node.rsplit(".", 2)
    if len(parts) == 3 and parts[1] == "n" and parts[2].isdigit():
        return parts[0].replace("_", " ")
    return node


def build_label_space(
    name: str,
    classes: Sequence[str],
    synsets: Sequence[str],
    embedding: str | Path | LabelEmbedding | None,
    *,
    dim: int = 10,
    seed: int = 0,
    device: str = "cpu",
) -> LabelSpace:
    """The label space of a dataset's classes.

    ``embedding`` is ``None`` (no label vectors), a kind from
    :data:`labelspace.embeddings.build.KINDS` (trained or computed here on the hierarchy the
    classes induce) or a saved embedding file, which must contain every class's synset.
    """
    from labelspace.hierarchy.sources import wordnet_graph

    graph = wordnet_graph(name, list(synsets))
    space = LabelSpace(list(classes), list(synsets), graph.hierarchy)
    if embedding is None:
        return space
    if isinstance(embedding, LabelEmbedding):
        space.embedding = embedding
    elif Path(str(embedding)).suffix == ".safetensors" or Path(str(embedding)).exists():
        space.embedding = LabelEmbedding.load(embedding)
    else:
        from labelspace.embeddings.build import KINDS, build_embedding
        from labelspace.embeddings.poincare import PoincareConfig

        if embedding not in KINDS:
            raise InputError(
                f"unknown label embedding {embedding!r}: use one of {', '.join(KINDS)} or a "
                "file written by `labelspace embed` (.safetensors)"
            )
        log.info("building the %s label embedding of %d classes", embedding, len(classes))
        config = PoincareConfig(dim=dim, seed=seed)
        space.embedding = build_embedding(graph, str(embedding), config=config, device=device)
    space.embedding.subset(list(synsets))  # every class must have a vector: clear error if not
    return space
