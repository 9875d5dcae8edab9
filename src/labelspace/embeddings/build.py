"""One entry point that builds any kind of label embedding for a :class:`LabelGraph`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from labelspace.embeddings.baselines import onehot_embedding, random_embedding
from labelspace.embeddings.poincare import PoincareConfig, train_poincare
from labelspace.embeddings.store import LabelEmbedding
from labelspace.hierarchy.sources import LabelGraph

KINDS = ("poincare", "euclidean", "sphere", "text", "poincare+text", "random", "onehot")
ONEHOT_LIMIT = 20_000


def build_embedding(
    graph: LabelGraph,
    kind: str,
    *,
    config: PoincareConfig | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, float, torch.Tensor], None] | None = None,
) -> LabelEmbedding:
    """Embed the graph's labels.

    ``poincare``, ``euclidean``, ``text`` and ``random`` embed every node of the hierarchy
    (classes and their ancestors, so coarser labels have points too); ``sphere`` and
    ``onehot`` are defined for the classes only. ``config`` sets the dimension and seed for
    ``random`` and everything for the trained kinds.
    """
    config = config or PoincareConfig()
    labels, synsets = graph.labels, graph.synsets
    if kind in ("poincare", "euclidean"):
        # direction steps are a Poincaré-ball optimiser; the flat baseline takes plain SGD
        direction_lr = config.direction_lr if kind == "poincare" else 0.0
        cfg = replace(config, manifold=kind, direction_lr=direction_lr)
        result = train_poincare(
            graph.pairs,
            len(labels),
            cfg,
            parents=graph.hierarchy.parents,
            device=device,
            on_epoch=on_epoch,
        )
        return LabelEmbedding(
            labels=labels,
            vectors=result.vectors,
            kind=kind,
            manifold=kind,
            curvature=1.0 if kind == "poincare" else 0.0,
            synsets=synsets,
            training={"source": graph.name, **result.record()},
        )
    if kind == "sphere":
        from labelspace.embeddings.sphere import sphere_embedding

        emb = sphere_embedding(graph.hierarchy)
        emb.training["source"] = graph.name
        if graph.wordnet:
            emb.synsets = list(emb.labels)
        return emb
    if kind == "text":
        from labelspace.embeddings.text import text_embedding

        emb = text_embedding(labels, synsets if graph.wordnet else None, device=device)
        emb.training["source"] = graph.name
        return emb
    if kind == "poincare+text":
        return _concatenated(
            build_embedding(graph, "poincare", config=config, device=device, on_epoch=on_epoch),
            build_embedding(graph, "text", config=config, device=device),
        )
    if kind == "random":
        emb = random_embedding(labels, config.dim, seed=config.seed)
        emb.synsets = synsets
        emb.training["source"] = graph.name
        return emb
    if kind == "onehot":
        classes = list(graph.hierarchy.classes)
        if len(classes) > ONEHOT_LIMIT:
            raise ValueError(
                f"a one-hot embedding of {len(classes)} classes would need a "
                f"{len(classes)}x{len(classes)} matrix; use a smaller hierarchy"
            )
        emb = onehot_embedding(classes)
        if graph.wordnet:
            emb.synsets = list(classes)
        emb.training["source"] = graph.name
        return emb
    raise ValueError(f"unknown embedding kind {kind!r}; choose one of {', '.join(KINDS)}")


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
