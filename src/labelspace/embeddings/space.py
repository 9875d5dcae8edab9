"""The label space of a dataset: its classes, their WordNet hierarchy and a label embedding.

Everything downstream of the dataset (heads, losses, decoding, metrics, reports) sees the
classes through one :class:`LabelSpace`, so class ``i`` always means the same row of the
label vectors, the same class node of the hierarchy and the same dataset target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from labelspace.embeddings.store import EmbeddingFileError, LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy
from labelspace.hierarchy.sources import own_leaf, split_own_leaf, wordnet_graph

EMBEDDING_FILE = "embedding.safetensors"


@dataclass
class LabelSpace:
    """Classes (dataset names, target order), their synsets, hierarchy and embedding.

    ``synsets`` are the classes' WordNet synsets, as the dataset maps them (what a run's
    config.yaml keeps). ``hierarchy.classes`` are the class nodes, :attr:`nodes`: a class's
    synset, or, for a class whose synset lies above another class's synset, a leaf of its own
    under that synset (``chair.n.01/chair``; see
    :func:`~labelspace.hierarchy.sources.wordnet_graph`), so that every class is a leaf.
    ``embedding`` covers every node of the hierarchy where its kind allows (so coarser labels
    have points too) and is ``None`` for methods that need no label vectors (softmax and its
    hierarchical peers).
    """

    classes: list[str]
    synsets: list[str]
    hierarchy: Hierarchy
    embedding: LabelEmbedding | None = None
    notes: list[str] = field(default_factory=list)
    distances: torch.Tensor | None = None  # (C, C) costs from a published distance file
    distance_file: str | None = None
    distance_max: float | None = None  # the file's largest distance (hsim@k's scale)

    def __post_init__(self) -> None:
        if len(self.classes) != len(self.synsets):
            raise ValueError("classes and synsets must have the same length")
        nodes = self.hierarchy.classes
        if len(nodes) != len(self.synsets) or not all(
            node == synset or (node == own_leaf(synset, name) and self._parents(node) == [synset])
            for name, synset, node in zip(self.classes, self.synsets, nodes, strict=True)
        ):
            raise ValueError(
                "the hierarchy's classes must be the synsets in target order, or leaves of "
                "their own directly under them"
            )
        self.hierarchy.require_leaf_classes()

    def _parents(self, node: str) -> list[str]:
        h = self.hierarchy
        return [h.nodes[p] for p in h.parents[h.index[node]]]

    @property
    def nodes(self) -> list[str]:
        """The class nodes of the hierarchy and the embedding, in target order."""
        return list(self.hierarchy.classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @cached_property
    def lca_height(self) -> torch.Tensor:
        """height(LCA) for every pair of classes: the mistake-severity cost matrix."""
        return self.hierarchy.class_lca_height

    @property
    def cost(self) -> torch.Tensor:
        """The cost of each mistake, ``(C, C)``: a distance file's distances where one was
        given (:meth:`use_distances`), else the LCA height in the class tree."""
        return self.distances if self.distances is not None else self.lca_height

    def use_distances(self, path: str | Path | None) -> None:
        """Score mistakes with a published distance file (None: the LCA height again).

        Each class is looked up in the file by its name, then its synset's wnid, then its
        synset name. ``"lca-height"`` (:data:`~labelspace.hierarchy.distances.TREE_COST`)
        means the class tree, as None does."""
        from labelspace.hierarchy.distances import TREE_COST

        if path is None or str(path) == TREE_COST:
            self.distances = self.distance_file = self.distance_max = None
            return
        from labelspace.hierarchy.distances import read_distances
        from labelspace.hierarchy.wnids import wnid
        from labelspace.hierarchy.wordnet import wordnet

        table = read_distances(path)

        def keys(name: str, synset: str) -> list[str]:
            if table.key_of([name, synset]) is not None:
                return [name, synset]
            return [name, wnid(wordnet().synset(synset)), synset]

        self.distances = table.matrix(
            [keys(c, s) for c, s in zip(self.classes, self.synsets, strict=True)]
        )
        self.distance_file, self.distance_max = str(table.path), table.max_distance

    @cached_property
    def class_vectors(self) -> torch.Tensor:
        """Label vectors of the classes in target order, ``(C, D)``."""
        if self.embedding is None:
            raise ValueError("this label space has no embedding")
        return self.embedding.subset(self.nodes).vectors.float()

    @property
    def curvature(self) -> float:
        return self.embedding.curvature if self.embedding is not None else 0.0

    def path_to_root(self, target: int) -> list[str]:
        """Readable path of class ``target`` up the hierarchy ("sneaker < shoe < ...").

        A class's own leaf and its synset read alike ("chair"); the name is shown once."""
        names = [readable_name(n) for n in self.hierarchy.path_to_root(self.nodes[target])]
        return [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]

    def save_embedding(self, folder: Path) -> None:
        if self.embedding is not None:
            self.embedding.save(folder / EMBEDDING_FILE, overwrite=True)


def readable_name(node: str) -> str:
    """``sneaker.n.01`` -> ``sneaker``; a class's own leaf ``chair.n.01/chair`` -> ``chair``;
    other node names unchanged."""
    leaf = split_own_leaf(node)
    if leaf is not None:
        return leaf[1].replace("_", " ")
    parts = node.rsplit(".", 2)
    if len(parts) == 3 and parts[1] == "n" and parts[2].isdigit():
        return parts[0].replace("_", " ")
    return node


PRETRAINED_PREFIX = "pretrained:"


def build_label_space(
    name: str,
    classes: Sequence[str],
    synsets: Sequence[str],
    embedding: str | Path | LabelEmbedding | None,
    *,
    dim: int = 10,
    seed: int = 0,
    device: str = "cpu",
    distances: str | Path | None = None,
    use_shipped: bool = True,
) -> LabelSpace:
    """The label space of a dataset's classes.

    ``embedding`` is ``None`` (no label vectors), a kind from
    :data:`labelspace.embeddings.build.KINDS` (trained or computed here on the hierarchy the
    classes induce), ``pretrained:NAME`` (a shipped embedding,
    :mod:`labelspace.embeddings.pretrained`) or a saved embedding file; a file or shipped
    embedding must contain every class's node (:attr:`LabelSpace.nodes`). ``distances``
    is a published distance file that gives the cost of every mistake instead of the LCA
    height (:meth:`LabelSpace.use_distances`). A kind is built by
    :func:`~labelspace.embeddings.reuse.label_embedding`, which logs its progress; with
    ``use_shipped``, a shipped embedding trained with the same options on the same hierarchy
    stands in for training (ImageNet-1k's classes in a 32-d Poincaré space, for one).
    """
    graph = wordnet_graph(name, list(synsets), list(classes))
    notes = list(graph.hierarchy.notes)
    space = LabelSpace(list(classes), list(synsets), graph.hierarchy, notes=notes)
    space.use_distances(distances)
    if embedding is None:
        return space
    if isinstance(embedding, LabelEmbedding):
        space.embedding = embedding
    elif str(embedding).startswith(PRETRAINED_PREFIX):
        from labelspace.embeddings.pretrained import pretrained

        shipped = pretrained(str(embedding))
        have = set(shipped.labels)
        # keep the hierarchy's nodes (a nouns embedding holds 82,115); the classes are checked
        space.embedding = shipped.subset([n for n in space.hierarchy.nodes if n in have])
    elif Path(str(embedding)).suffix == ".safetensors" or Path(str(embedding)).exists():
        space.embedding = LabelEmbedding.load(embedding)
        _check_own_leaves(space, embedding)
    else:
        from labelspace.embeddings.build import KINDS
        from labelspace.embeddings.poincare_config import PoincareConfig
        from labelspace.embeddings.reuse import label_embedding

        if embedding not in KINDS:
            raise InputError(
                f"unknown label embedding {embedding!r}: use one of {', '.join(KINDS)} or a "
                "file written by `labelspace embed` (.safetensors)"
            )
        config = PoincareConfig(dim=dim, seed=seed)
        space.embedding = label_embedding(
            graph, str(embedding), config, device=device, shipped=use_shipped
        )
    space.embedding.subset(space.nodes)  # every class must have a vector: clear error if not
    return space


def _check_own_leaves(space: LabelSpace, path: str | Path) -> None:
    """An embedding file without the classes' own leaves: say why they are needed."""
    have = set(space.embedding.labels)
    nodes = zip(space.nodes, space.synsets, strict=True)
    lacking = [node for node, synset in nodes if node != synset and node not in have]
    if lacking:
        # ImageNet-21k has 4,589 such leaves, and notes that name thousands of classes
        shown = ", ".join(lacking[:10])
        if len(lacking) > 10:
            shown += f" and {len(lacking) - 10:,} more"
        why = "; ".join(note[:300] for note in space.notes[:3])
        if len(space.notes) > 3:
            why += "; ..."
        raise EmbeddingFileError(
            f"{path} has no vector for {shown} ({why}). "
            "Embed these classes with `labelspace embed` given the dataset or its class names "
            "(comma-separated), which makes those leaves, and pass that file instead"
        )
