"""Scoring predictions that any model made: the metrics of a run, for logits from elsewhere.

A researcher with a model trained outside labelspace has, per test image, one score per class
and the true class. :func:`score` gives the same metric table as a run
(:func:`labelspace.metrics.hierarchical.summarize`), the conditional-risk re-ranking (CRM) and
the back-off curve, with the cost of a mistake taken from the class tree or from a published
distance file (:mod:`labelspace.hierarchy.distances`), so the figures stand beside the
literature's. :func:`scored_classes` resolves what the classes are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from labelspace.analysis.backoff import SUM_TOLERANCE, backoff_curve, crm_scores
from labelspace.errors import InputError
from labelspace.hierarchy.distances import TREE_COST
from labelspace.hierarchy.graph import Hierarchy
from labelspace.metrics.hierarchical import check_targets, summarize

__all__ = ["INPUT_KINDS", "ScoredClasses", "score", "scored_classes"]

INPUT_KINDS = ("auto", "logits", "probabilities")


@dataclass
class ScoredClasses:
    """The classes in score order, their hierarchy and the cost of each mistake.

    It offers what the comparison report reads from a run's label space (``classes``,
    ``hierarchy``, ``cost``, ``lca_height``), so scored files get the same report."""

    classes: list[str]
    hierarchy: Hierarchy
    distances: torch.Tensor | None = None
    distance_file: str | None = None
    distance_max: float | None = None

    @cached_property
    def lca_height(self) -> torch.Tensor:
        return self.hierarchy.class_lca_height

    @property
    def cost(self) -> torch.Tensor:
        return self.distances if self.distances is not None else self.lca_height

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def scored_classes(
    classes: str | Sequence[str] | None = None,
    *,
    hierarchy: str | Path | None = None,
    distances: str | Path | None = None,
    mapping: str | Path | None = None,
    edge_order: str | None = None,
) -> ScoredClasses:
    """Resolve the classes of a score file's columns.

    ``hierarchy`` is a hierarchy source (a dataset name, a hierarchy file, ``imagenet``...);
    ``classes`` lists the classes in column order (names, synset names or wnids), or is a
    source itself when given as one string. With only a hierarchy, the columns are its
    classes in its own order; with only classes, their WordNet hierarchy is used; with both,
    the classes must be nodes of the hierarchy. ``distances`` (a distance file) replaces the
    LCA height as the cost of a mistake; each class is looked up by its name, then (for
    WordNet classes) its wnid and synset name.
    """
    from labelspace.hierarchy.sources import load_source

    if classes is None and hierarchy is None:
        raise InputError("give the classes in score order, a hierarchy source, or both")
    if isinstance(classes, str):
        if hierarchy is not None:
            raise InputError("give the classes as a list of names when a hierarchy is given")
        hierarchy, classes = classes, None
    names = None if classes is None else [str(c).strip() for c in classes]
    if names is not None and (not names or any(not n for n in names)):
        raise InputError("the class list is empty or holds an empty name")
    if hierarchy is None:
        graph = load_source(",".join(names or []), mapping=mapping)
    else:
        graph = load_source(str(hierarchy), mapping=mapping, **_order(edge_order))
    tree = graph.hierarchy
    if names is not None and hierarchy is not None:
        tree = _with_classes(tree, names)
    out = ScoredClasses(names if names is not None else list(tree.classes), tree)
    if distances is not None:
        _use_distances(out, graph, distances)
    return out


def _order(edge_order: str | None) -> dict[str, str]:
    return {} if edge_order is None else {"edge_order": edge_order}


def _with_classes(tree: Hierarchy, names: list[str]) -> Hierarchy:
    """The same hierarchy with ``names`` (nodes of it) as its classes, in that order."""
    missing = [n for n in names if n not in tree.index]
    if missing:
        raise InputError(
            f"{len(missing)} of {len(names)} classes are not nodes of the hierarchy: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; give the classes "
            "as the hierarchy names them"
        )
    parents = {
        n: [tree.nodes[p] for p in ps] for n, ps in zip(tree.nodes, tree.parents, strict=True)
    }
    classes = Hierarchy.from_parents(parents, names)
    classes.require_leaf_classes()
    return classes


def _use_distances(out: ScoredClasses, graph: Any, path: str | Path) -> None:
    from labelspace.hierarchy.distances import read_distances
    from labelspace.hierarchy.wnids import wnid
    from labelspace.hierarchy.wordnet import wordnet

    table = read_distances(path)
    nodes = list(out.hierarchy.classes)

    def keys(name: str, node: str) -> list[str]:
        found = [name, node]
        synset = graph.synset_of(node) if hasattr(graph, "synset_of") else None
        if table.key_of(found) is None and synset is not None:
            found.append(wnid(wordnet().synset(synset)))
        return found

    out.distances = table.matrix([keys(c, n) for c, n in zip(out.classes, nodes, strict=True)])
    out.distance_file, out.distance_max = str(table.path), table.max_distance


def as_probabilities(scores: torch.Tensor, kind: str = "auto") -> tuple[torch.Tensor, str]:
    """Probabilities from scores: the scores themselves when they are probabilities (``auto``:
    every row non-negative and summing to 1), else their softmax; also says which, in words."""
    if kind not in INPUT_KINDS:
        raise InputError(f"input kind must be one of {', '.join(INPUT_KINDS)}, got {kind!r}")
    sums = scores.double().sum(dim=1)
    looks = bool((scores >= 0).all()) and float((sums - 1).abs().max()) <= SUM_TOLERANCE
    if kind == "probabilities" and not looks:
        raise InputError(
            "the scores are not probabilities (rows must be non-negative and sum to 1); "
            "pass --input logits"
        )
    if kind == "probabilities" or (kind == "auto" and looks):
        return scores, "the scores (probabilities)"
    return scores.softmax(dim=1), "the softmax of the scores (logits)"


def check_scores(scores: Any, num_classes: int) -> torch.Tensor:
    """An ``(N, C)`` finite float tensor with one column per class, or a one-line error."""
    scores = torch.as_tensor(scores)
    if scores.ndim != 2:
        raise InputError(f"scores must be a 2-D (images, classes) array, got {tuple(scores.shape)}")
    if not scores.is_floating_point():
        scores = scores.double()
    if scores.shape[1] != num_classes:
        raise InputError(
            f"scores have {scores.shape[1]} columns but there are {num_classes} classes; give "
            "the classes in the order of the score columns"
        )
    if scores.shape[0] == 0:
        raise InputError("scores have no rows: nothing to score")
    bad = (~torch.isfinite(scores)).any(dim=1).nonzero().flatten()
    if len(bad):
        raise InputError(
            f"{len(bad)} row(s) of scores are not finite (NaN or infinite), the first row "
            f"{int(bad[0])}; remove them or fix the model's output"
        )
    return scores


def score(
    scores: Any,
    targets: Any,
    classes: str | Sequence[str] | ScoredClasses,
    distances: str | Path | None = None,
    *,
    hierarchy: str | Path | None = None,
    kind: str = "auto",
    backoff: bool = True,
) -> dict[str, Any]:
    """The metrics of a model's ``(N, C)`` scores (logits or probabilities) against
    ``targets`` (N class indices), as a run reports them.

    ``classes`` are the classes in column order (see :func:`scored_classes`) or a resolved
    :class:`ScoredClasses`. Returns ``{"images", "classes", "input", "cost", "metrics",
    "crm", "backoff"}``: ``metrics`` the run's metric table, ``crm`` the same after
    conditional risk minimisation (re-ranked by least expected cost), ``backoff`` the curve
    and its area (omitted with ``backoff=False``).
    """
    space = (
        classes
        if isinstance(classes, ScoredClasses)
        else scored_classes(classes, hierarchy=hierarchy, distances=distances)
    )
    scores = check_scores(scores, space.num_classes)
    try:
        targets = check_targets(torch.as_tensor(targets), space.num_classes, rows=len(scores))
    except ValueError as err:
        raise InputError(f"labels: {err}") from None
    probs, source = as_probabilities(scores, kind)
    cost = space.cost
    reach = space.distance_max
    out: dict[str, Any] = {
        "images": len(targets),
        "classes": space.num_classes,
        "input": source,
        "cost": space.distance_file or TREE_COST,
        "metrics": summarize(scores, targets, cost, probs, max_distance=reach),
    }
    # CRM in float32 where the scores are (a (N, C) x (C, C) product is the whole cost)
    reranked = crm_scores(probs, cost.to(probs.dtype))
    out["crm"] = summarize(reranked, targets, cost, max_distance=reach)
    if backoff:
        curve = backoff_curve(probs.double(), targets, space.hierarchy)
        out["backoff"] = {"curve": curve.to_dict(), "auc": curve.auc, "probabilities": source}
    return out
