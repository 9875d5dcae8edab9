"""One entry point that builds any kind of label embedding for a :class:`LabelGraph`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from labelspace.embeddings.baselines import onehot_embedding, random_embedding
from labelspace.embeddings.poincare import train_poincare
from labelspace.embeddings.poincare_config import PoincareConfig
from labelspace.embeddings.store import LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.sources import LabelGraph, split_own_leaf

ONEHOT_LIMIT = 20_000

OnEpoch = Callable[[int, float, torch.Tensor], None]


@dataclass(frozen=True)
class EmbeddingKind:
    """A registered kind of label embedding: how to build it for a label graph."""

    name: str
    build: Callable[[LabelGraph, PoincareConfig, str, OnEpoch | None], LabelEmbedding]
    summary: str
    trained: bool = False  # trained epoch by epoch (``on_epoch`` is called)


def build_embedding(
    graph: LabelGraph,
    kind: str,
    *,
    config: PoincareConfig | None = None,
    device: str = "cpu",
    on_epoch: OnEpoch | None = None,
) -> LabelEmbedding:
    """Embed the graph's labels with the registered ``kind`` (a key of :data:`KINDS`).

    ``poincare``, ``euclidean``, ``text`` and ``random`` embed every node of the hierarchy
    (classes and their ancestors, so coarser labels have points too); ``sphere`` and
    ``onehot`` are defined for the classes only. ``config`` sets the dimension and seed for
    ``random`` and everything for the trained kinds.
    """
    try:
        entry = KINDS[kind]
    except KeyError:
        raise InputError(
            f"unknown embedding kind {kind!r}; choose one of {', '.join(KINDS)}"
        ) from None
    embedding = entry.build(graph, config or PoincareConfig(), device, on_epoch)
    embedding.check_values(
        f"the {kind} embedding of {graph.name}", fix="its training diverged: lower --lr"
    )
    return embedding


def _trained(manifold: str):
    def build(graph: LabelGraph, config: PoincareConfig, device: str, on_epoch) -> LabelEmbedding:
        # direction steps are a Poincaré-ball optimiser; the flat baseline takes plain SGD
        cfg = replace(config, manifold=manifold)
        cfg = replace(cfg, direction_lr=config.direction_lr if cfg.on_ball else 0.0)
        result = train_poincare(
            graph.pairs,
            len(graph.labels),
            cfg,
            hierarchy=graph.hierarchy,
            device=device,
            on_epoch=on_epoch,
        )
        return LabelEmbedding(
            labels=graph.labels,
            vectors=result.vectors,
            kind=manifold,
            manifold=manifold,
            curvature=1.0 if cfg.on_ball else 0.0,
            synsets=graph.synsets,
            training={"source": graph.name, **result.record()},
        )

    return build


def _sphere(graph: LabelGraph, config: PoincareConfig, device: str, on_epoch) -> LabelEmbedding:
    from labelspace.embeddings.sphere import sphere_embedding

    emb = sphere_embedding(graph.hierarchy)
    emb.training["source"] = graph.name
    emb.synsets = [graph.synset_of(label) for label in emb.labels]
    return emb


def _text(graph: LabelGraph, config: PoincareConfig, device: str, on_epoch) -> LabelEmbedding:
    from labelspace.embeddings.text import text_embedding

    # a class's own leaf (chair.n.01/chair) is described by the class's name ("chair")
    leaves = [split_own_leaf(label) if graph.wordnet else None for label in graph.labels]
    names = [leaf[1] if leaf else None for leaf in leaves]
    emb = text_embedding(
        graph.labels,
        graph.synsets if graph.wordnet else None,
        names=names if any(names) else None,
        device=device,
    )
    emb.training["source"] = graph.name
    return emb


def _poincare_text(
    graph: LabelGraph, config: PoincareConfig, device: str, on_epoch
) -> LabelEmbedding:
    return _concatenated(
        KINDS["poincare"].build(graph, config, device, on_epoch),
        KINDS["text"].build(graph, config, device, None),
    )


def _random(graph: LabelGraph, config: PoincareConfig, device: str, on_epoch) -> LabelEmbedding:
    emb = random_embedding(graph.labels, config.dim, seed=config.seed)
    emb.synsets = graph.synsets
    emb.training["source"] = graph.name
    return emb


def _onehot(graph: LabelGraph, config: PoincareConfig, device: str, on_epoch) -> LabelEmbedding:
    classes = list(graph.hierarchy.classes)
    if len(classes) > ONEHOT_LIMIT:
        raise InputError(
            f"a one-hot embedding of {len(classes)} classes would need a "
            f"{len(classes)}x{len(classes)} matrix; use a smaller hierarchy"
        )
    emb = onehot_embedding(classes)
    emb.synsets = [graph.synset_of(c) for c in classes]
    emb.training["source"] = graph.name
    return emb


def _concatenated(poincare: LabelEmbedding, text: LabelEmbedding) -> LabelEmbedding:
    """Hierarchy and meaning in one Euclidean vector per label: ``[log0(p)/|..|, t/|t|]/sqrt2``.

    A Poincaré point is not a Euclidean vector, so it is first taken to the tangent space at
    the origin (:func:`~labelspace.embeddings.geometry.logmap0`), where its direction keeps the
    hierarchy's layout. Each half is unit-normalised so neither dominates a dot product or a
    cosine; the result has unit norm, ready for the DeViSE and cosine heads.
    """
    from labelspace.embeddings.geometry import logmap0

    tangent = logmap0(poincare.vectors.double(), poincare.curvature).float()
    halves = [torch.nn.functional.normalize(v.float(), dim=-1) for v in (tangent, text.vectors)]
    return LabelEmbedding(
        labels=poincare.labels,
        vectors=torch.cat(halves, dim=-1) / 2**0.5,
        kind="poincare+text",
        manifold="euclidean",
        synsets=poincare.synsets,
        training={"poincare": poincare.training, "text": text.training},
    )


KINDS: dict[str, EmbeddingKind] = {
    k.name: k
    for k in (
        EmbeddingKind(
            "poincare",
            _trained("poincare"),
            "Poincaré ball embedding of the hierarchy (Nickel & Kiela 2017)",
            trained=True,
        ),
        EmbeddingKind(
            "euclidean",
            _trained("euclidean"),
            "the same objective in flat Euclidean space (the paper's baseline)",
            trained=True,
        ),
        EmbeddingKind(
            "sphere",
            _sphere,
            "unit vectors whose dot products follow the hierarchy (Barz & Denzler 2019)",
        ),
        EmbeddingKind(
            "text", _text, "sentence-transformer vectors of each synset's lemma and gloss"
        ),
        EmbeddingKind(
            "poincare+text",
            _poincare_text,
            "log0 of the Poincaré point and the text vector, each unit-normalised, concatenated",
            trained=True,
        ),
        EmbeddingKind("random", _random, "random Gaussian vectors (a control)"),
        EmbeddingKind("onehot", _onehot, "one-hot vectors of the classes (a control)"),
    )
}


def evaluate_embedding(
    embedding: LabelEmbedding,
    graph: LabelGraph,
    *,
    held_out: np.ndarray | None = None,
    train_pairs: np.ndarray | None = None,
    sample_nodes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict]:
    """Reconstruction mean rank and MAP of ``embedding`` on ``graph`` (against ``train_pairs``
    when some pairs were held out), and link prediction of ``held_out`` pairs if given.

    Empty when the embedding's labels are not the graph's nodes (e.g. a class-only kind).
    An unusable ``sample_nodes`` is refused first, by
    :func:`~labelspace.embeddings.evaluate.check_evaluation_options` (as the CLI does).
    """
    from labelspace.embeddings.evaluate import (
        check_evaluation_options,
        rank_neighbours,
        reconstruction,
    )

    check_evaluation_options(sample_nodes)
    if embedding.labels != graph.labels:
        return {}
    options = dict(
        manifold=embedding.manifold,
        curvature=embedding.curvature or 1.0,
        sample_nodes=sample_nodes,
        progress=progress,
    )
    known = graph.pairs
    results = {
        "reconstruction": reconstruction(
            embedding.vectors, known if train_pairs is None else train_pairs, **options
        ).as_dict()
    }
    if held_out is not None:
        results["link_prediction"] = rank_neighbours(
            embedding.vectors, known, held_out, **options
        ).as_dict()
    return results
