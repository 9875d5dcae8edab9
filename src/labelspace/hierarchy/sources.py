"""Where a label hierarchy comes from: a dataset's classes, WordNet's mammals or nouns, a file.

Every source gives a :class:`LabelGraph`: the :class:`Hierarchy` plus the closure pairs an
embedding is trained and evaluated on. For ``mammals`` and ``nouns`` the pairs are exactly
those of the reference Poincaré-embedding project (so results compare with published ones);
for all other sources they are the transitive closure of the hierarchy.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy
from labelspace.hierarchy.io import EDGE_LIST_SUFFIXES, JSON_SUFFIXES, read_hierarchy
from labelspace.hierarchy.mapping import (
    DATASET_CLASSES,
    UnmappedNameError,
    dataset_mapping,
    map_names,
    merge_mappings,
    read_mapping_file,
)
from labelspace.hierarchy.wordnet import (
    induced_parents,
    reference_mammal_closure,
    reference_noun_closure,
)

log = logging.getLogger(__name__)

WORDNET_SOURCES = ("mammals", "nouns")


class SourceError(InputError):
    """A hierarchy source that labelspace does not recognise."""


@dataclass(frozen=True)
class LabelGraph:
    """A named hierarchy with the closure pairs (descendant, ancestor) used for embeddings."""

    name: str
    hierarchy: Hierarchy
    pairs: np.ndarray  # (P, 2) indices into hierarchy.nodes
    wordnet: bool  # node names are WordNet synset names

    @property
    def labels(self) -> list[str]:
        return list(self.hierarchy.nodes)

    @property
    def synsets(self) -> list[str | None]:
        return list(self.hierarchy.nodes) if self.wordnet else [None] * len(self.hierarchy)


def from_closure(
    pairs: Sequence[tuple[str, str]], classes: Sequence[str] | None = None
) -> Hierarchy:
    """The hierarchy whose direct edges are the transitive reduction of ``pairs``."""
    ancestors: dict[str, set[str]] = {}
    for child, parent in pairs:
        ancestors.setdefault(child, set()).add(parent)
        ancestors.setdefault(parent, set())
    parents = {
        child: sorted(anc - set().union(*(ancestors[a] for a in anc))) if anc else []
        for child, anc in ancestors.items()
    }
    return Hierarchy.from_parents(parents, classes)


def _indexed(hierarchy: Hierarchy, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    index = hierarchy.index
    return np.array([(index[a], index[b]) for a, b in pairs], dtype=np.int64).reshape(-1, 2)


def wordnet_graph(name: str, synsets: Sequence[str]) -> LabelGraph:
    """The hierarchy WordNet induces on ``synsets`` (all their hypernyms, one root)."""
    hierarchy = Hierarchy.from_parents(induced_parents(synsets), classes=list(synsets))
    return LabelGraph(name, hierarchy, hierarchy.closure(), wordnet=True)


def load_source(spec: str, *, mapping: str | Path | None = None) -> LabelGraph:
    """Resolve a source given on the command line.

    ``spec`` is a dataset name (fashion-mnist, cifar10, cifar100), ``mammals`` or ``nouns``
    (the reference closures), a hierarchy file (.tsv/.csv/.txt edge list or .json tree), or
    a comma-separated list of class names, synset names or wnids (``dog,cat,n04490091``).
    ``mapping`` is an override file (name<TAB>synset) for name lookups; it applies to dataset
    names and class lists only (the other sources name their nodes themselves), and is
    refused with the others rather than ignored.

    Raises:
        SourceError: an unknown source, or a ``mapping`` with a source that does not use one.
        labelspace.hierarchy.mapping.SharedSynsetError: two classes that map to one synset.
    """
    key = spec.strip().lower()
    if mapping is not None and key in WORDNET_SOURCES:
        raise SourceError(
            f"--mapping maps class names to WordNet synsets; {key} is made of synsets "
            "already, so leave --mapping out"
        )
    if key == "mammals":
        pairs = reference_mammal_closure()
        hierarchy = from_closure(pairs)
        return LabelGraph("mammals", hierarchy, _indexed(hierarchy, pairs), wordnet=True)
    if key == "nouns":
        pairs = reference_noun_closure()
        hierarchy = from_closure(pairs)
        return LabelGraph("nouns", hierarchy, _indexed(hierarchy, pairs), wordnet=True)
    if key in DATASET_CLASSES:
        overrides = dataset_mapping(key)
        if mapping is not None:
            overrides = merge_mappings(overrides, read_mapping_file(mapping))
        return wordnet_graph(key, map_names(DATASET_CLASSES[key], overrides=overrides))
    path = Path(spec)
    if path.suffix.lower() in (*EDGE_LIST_SUFFIXES, *JSON_SUFFIXES) or path.exists():
        if mapping is not None:
            raise SourceError(
                f"--mapping maps class names to WordNet synsets; the hierarchy file {spec} "
                "names its nodes itself, so leave --mapping out"
            )
        hierarchy = read_hierarchy(path)
        return LabelGraph(path.stem, hierarchy, hierarchy.closure(), wordnet=False)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    try:
        synsets = map_names(names, overrides=mapping)
    except UnmappedNameError as exc:
        if len(names) > 1:
            raise
        raise SourceError(
            f"unknown hierarchy source {spec!r}. Use a dataset ({', '.join(DATASET_CLASSES)}), "
            f"{' or '.join(WORDNET_SOURCES)}, a hierarchy file (.tsv, .csv, .txt, .json), or a "
            f"comma-separated list of class names (e.g. 'dog,cat,truck'). As a class name: {exc}"
        ) from None
    return wordnet_graph("classes", synsets)
