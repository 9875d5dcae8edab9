"""The closures of Nickel & Kiela's reference Poincaré implementation, pair for pair.

facebookresearch/poincare-embeddings (wordnet/transitive_closure.py) embeds the closure of all
82,115 WordNet nouns (743,086 pairs) and of the 1,180 mammals (6,540 pairs); they are
reproduced exactly so that benchmarks compare on the same data. They differ from the
transitive closure of the DAG (743,241 pairs) in 155 pairs: an instance's hypernym chain is
followed through instance hypernyms only at its first step. Both are kept in the WordNet cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from labelspace.hierarchy.graph import reachable
from labelspace.hierarchy.nouns import NounGraph, noun_graph
from labelspace.hierarchy.wordnet_cache import cached

# The reference project's mammal filter. It is applied as that project applies it (``re.match``
# on "child parent"), where only the two "^" patterns can ever match; we keep the whole list so
# the rule is the same rule, not a re-interpretation of it.
MAMMAL_FILTER = (
    r"\sliving_thing.n.01",
    r"\sobject.n.01",
    r"\sorganism.n.01",
    r"\sanimal.n.01",
    r"\sentity.n.01",
    r"\sphysical_entity.n.01",
    r"\swhole.n.02",
    r"\svertebrate.n.01",
    r"\schordate.n.01",
    r"\sbeast_of_burden.n.01",
    r"\swork_animal.n.01",
    r"\sfemale.n.01",
    r"\sfissipedia.n.01",
    r"\spup.n.01",
    r"\sabstraction.n.06",
    r"\sgroup.n.01",
    r"^tusker.n.01",
    r"^female_mammal.n.01",
    r"\scub.n.03",
    r"\syoung.n.01",
    r"\syoung_mammal.n.01",
    r"\sdomestic_animal.n.01",
    r"\sracer.n.03",
    r"\smale.n.01",
)


class _ReferenceAncestors:
    """Ancestors of synsets as the reference closure counts them (memoised over the graph).

    A synset's hypernyms and all theirs; for an instance, also everything reachable through
    instance hypernyms, each with its hypernyms (NLTK's ``closure`` of ``hypernyms()`` and of
    ``instance_hypernyms()``, as the reference project walks them).
    """

    def __init__(self, graph: NounGraph) -> None:
        self.graph = graph
        self.memo: dict[int, frozenset[int]] = {}

    def hypernym_closure(self, start: int) -> frozenset[int]:
        memo, hypernyms = self.memo, self.graph.hypernyms
        stack = [start]
        while stack:  # depth first, a node once all its hypernyms are done
            i = stack[-1]
            if i in memo:
                stack.pop()
                continue
            todo = [h for h in hypernyms[i] if h not in memo]
            if todo:
                stack.extend(todo)
                continue
            acc: set[int] = set(hypernyms[i])
            for h in hypernyms[i]:
                acc |= memo[h]
            memo[i] = frozenset(acc)
            stack.pop()
        return memo[start]

    def __call__(self, i: int) -> set[int]:
        found = set(self.hypernym_closure(i))
        instance = self.graph.instance_hypernyms
        if instance[i]:
            seen = {i}
            frontier = list(instance[i])
            while frontier:
                hyper = frontier.pop()
                if hyper in seen:
                    continue
                seen.add(hyper)
                found.add(hyper)
                found |= self.hypernym_closure(hyper)
                frontier.extend(instance[hyper])
        return found


def _sorted_pairs(graph: NounGraph, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Index pairs in the order of their (child name, ancestor name) tuples."""
    names = graph.names
    rank = np.empty(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    arr = np.array(list(pairs), dtype=np.int32).reshape(-1, 2)
    order = np.lexsort((rank[arr[:, 1]], rank[arr[:, 0]]))
    return arr[order]


def _named(graph: NounGraph, pairs: np.ndarray) -> list[tuple[str, str]]:
    names = graph.names
    return [(names[c], names[a]) for c, a in pairs.tolist()]


def _noun_closure_pairs() -> dict[str, np.ndarray]:
    graph = noun_graph()
    ancestors = _ReferenceAncestors(graph)
    return {
        "pairs": _sorted_pairs(graph, ((i, a) for i in range(len(graph)) for a in ancestors(i)))
    }


def _mammal_closure_pairs() -> dict[str, np.ndarray]:
    graph = noun_graph()
    mammal = graph.index["mammal.n.01"]
    children: list[list[int]] = [[] for _ in range(len(graph))]  # hyponyms, instance hyponyms
    for i in range(len(graph)):
        for p in graph.parents(i):
            children[p].append(i)
    below = reachable(children[mammal], children.__getitem__)
    reference = _ReferenceAncestors(graph)
    ancestors = {i: reference(i) for i in below}
    members = {i for i, anc in ancestors.items() if mammal in anc} | {mammal}
    pattern = re.compile("(" + "|".join(MAMMAL_FILTER) + ")")
    names = graph.names
    pairs = (
        (child, parent)
        for child in members - {mammal}
        for parent in ancestors[child]
        if parent in members and not pattern.match(f"{names[child]} {names[parent]}")
    )
    return {"pairs": _sorted_pairs(graph, pairs)}


def _closure_pairs(arrays: dict[str, np.ndarray]) -> np.ndarray:
    pairs = arrays["pairs"]
    n = len(noun_graph())
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.dtype.kind != "i":
        raise ValueError("closure pairs must be an (P, 2) integer table")
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError("closure pairs name synsets the noun graph does not have")
    return pairs


def reference_noun_closure() -> list[tuple[str, str]]:
    """All (noun, ancestor) pairs of the reference closure, sorted."""
    pairs = cached("wordnet-closure-nouns", _noun_closure_pairs, _closure_pairs)
    return _named(noun_graph(), pairs)


def reference_mammal_closure() -> list[tuple[str, str]]:
    """The reference project's filtered mammal closure (pairs among mammals), sorted."""
    pairs = cached("wordnet-closure-mammals", _mammal_closure_pairs, _closure_pairs)
    return _named(noun_graph(), pairs)
