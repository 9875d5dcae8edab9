"""Where a label hierarchy comes from: a dataset's classes, WordNet's mammals or nouns, a file.

Every source gives a :class:`LabelGraph`: the :class:`Hierarchy` plus the closure pairs an
embedding is trained and evaluated on. For ``mammals`` and ``nouns`` the pairs are exactly
those of the reference Poincaré-embedding project (so results compare with published ones);
for all other sources they are the transitive closure of the hierarchy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from labelspace.errors import InputError
from labelspace.hierarchy.closures import reference_mammal_closure, reference_noun_closure
from labelspace.hierarchy.edge_lists import check_edge_order
from labelspace.hierarchy.graph import Hierarchy
from labelspace.hierarchy.io import is_hierarchy_file_name, read_hierarchy
from labelspace.hierarchy.mapping import UnmappedNameError, map_names, refuse_shared
from labelspace.hierarchy.mapping_files import (
    dataset_classes,
    dataset_mapping,
    mapping_names,
    merge_mappings,
    read_mapping_file,
)
from labelspace.hierarchy.nouns import induced_parents
from labelspace.hierarchy.synset_names import normalize_name
from labelspace.hierarchy.wnid_lists import WNID_LISTS, wnid_list, wnid_list_key
from labelspace.hierarchy.wnids import is_identifier

log = logging.getLogger(__name__)

WORDNET_SOURCES = ("mammals", "nouns")
OWN_LEAF_SEPARATOR = "/"
# synset, then the class: the shortest prefix that ends like a noun synset name (WordNet's own
# names may hold a "/", as in 24/7.n.01, but never ".n.01/")
_OWN_LEAF = re.compile(r"^(?P<synset>.+?\.n\.\d{2,})/(?P<name>.+)$")


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
        """The WordNet synset of each node; None for a class's own leaf (:func:`own_leaf`)
        and for every node of a hierarchy that is not WordNet's."""
        return [self.synset_of(n) for n in self.hierarchy.nodes]

    def synset_of(self, node: str) -> str | None:
        if not self.wordnet or split_own_leaf(node) is not None:
            return None
        return node


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


def own_leaf(synset: str, name: str) -> str:
    """The class node of class ``name`` when other classes lie below its ``synset``.

    ``chair.n.01/chair``: the synset, ``/`` and the class name as :func:`normalize_name` spells
    it (a class named by a synset name or a wnid is named by the synset's lemma). The name
    never ends like a synset name (``.n.01``), so it is never a WordNet synset, and it is the
    same whenever the same classes are given.
    """
    label = normalize_name(name)
    if not label or is_identifier(label):
        label = synset.rsplit(".", 2)[0].lower()
    return f"{synset}{OWN_LEAF_SEPARATOR}{label}"


def split_own_leaf(node: str) -> tuple[str, str] | None:
    """``(synset, class name)`` of a node made by :func:`own_leaf`; None for any other node."""
    match = _OWN_LEAF.match(node)
    if match is None or is_identifier(node):
        return None
    return match["synset"], match["name"]


def wordnet_graph(
    name: str, synsets: Sequence[str], classes: Sequence[str] | None = None
) -> LabelGraph:
    """The hierarchy WordNet induces on ``synsets`` (all their hypernyms, one root).

    ``classes`` names the classes (default: their synsets). Every class node is a leaf: a
    class whose synset lies above another class's synset (chair above windsor chair) gets a
    leaf of its own under that synset (:func:`own_leaf`, ``chair.n.01/chair``) as its class
    node, and the synset stays an inner node, a coarser label (back-off may answer "chair"
    for a Windsor chair). Each such class gets a line in :attr:`Hierarchy.notes`, also
    logged. The same classes and synsets always give the same hierarchy.

    Raises:
        labelspace.hierarchy.mapping.SharedSynsetError: two classes with one synset.
    """
    synsets = list(synsets)
    names = list(synsets) if classes is None else list(classes)
    if len(names) != len(synsets):
        raise ValueError(f"{len(names)} classes but {len(synsets)} synsets: give one each")
    refuse_shared(names, synsets)
    parents = dict(induced_parents(synsets))
    hierarchy = Hierarchy.from_parents(parents, classes=synsets)
    below = hierarchy.classes_below()
    if below:
        name_of = dict(zip(synsets, names, strict=True))
        nodes, notes = [], []
        for cls, synset in zip(names, synsets, strict=True):
            if synset not in below:
                nodes.append(synset)
                continue
            leaf = own_leaf(synset, cls)
            parents[leaf] = [synset]
            nodes.append(leaf)
            kids = ", ".join(repr(name_of[k]) for k in below[synset])
            notes.append(
                f"class {cls!r} is an ancestor of {kids} in WordNet: it gets its own leaf "
                f"{leaf} under {synset}"
            )
        hierarchy = Hierarchy.from_parents(parents, classes=nodes)
        hierarchy = replace(hierarchy, notes=(*hierarchy.notes, *notes))
        for note in notes:
            log.info(note)
    hierarchy.require_leaf_classes()
    return LabelGraph(name, hierarchy, hierarchy.closure(), wordnet=True)


def _is_file_path(path: Path) -> bool:
    """Whether ``path`` exists; a class list too long to be a file name is not one."""
    try:
        return path.exists()
    except OSError:  # e.g. ENAMETOOLONG for a list of 200 wnids
        return False


def load_source(
    spec: str, *, mapping: str | Path | None = None, edge_order: str | None = None
) -> LabelGraph:
    """Resolve a source given on the command line.

    ``spec`` is a dataset name (one with a shipped mapping: :func:`mapping_names`), an
    ImageNet wnid list (``imagenet`` or ``imagenet-1k``, ``imagenet12k``, ``imagenet21k``:
    :data:`~labelspace.hierarchy.wnid_lists.WNID_LISTS`, classes named by wnid),
    ``mammals`` or ``nouns`` (the reference closures), a hierarchy file (.tsv/.csv/.txt edge
    list, .json tree, or .pkl/.pkl.xz pickled nltk tree, whose classes are its leaves in sorted
    order), or a comma-separated list of class names, synset names or wnids
    (``dog,cat,n04490091``).
    ``mapping`` is an override file (name<TAB>synset) for name lookups; it applies to dataset
    names and class lists only (the other sources name their nodes themselves), and is
    refused with the others rather than ignored. ``edge_order`` (``"child-parent"`` or
    ``"parent-child"``, the is_a convention) is the column order of an edge-list file
    (:mod:`labelspace.hierarchy.edge_lists`); it too is refused with any other source.

    Raises:
        SourceError: an unknown source, or a ``mapping`` or ``edge_order`` with a source that
            does not use one.
        labelspace.hierarchy.mapping.SharedSynsetError: two classes that map to one synset.
    """
    check_edge_order(edge_order)
    key = spec.strip().lower()
    path = Path(spec)
    # a name (mammals, a dataset, a wnid list) wins over a file of that name
    named = key in WORDNET_SOURCES or key in mapping_names() or wnid_list_key(key) is not None
    is_file = not named and (is_hierarchy_file_name(path) or _is_file_path(path))
    if edge_order is not None and not is_file:
        raise SourceError(
            f"--edge-order gives the column order of an edge-list file; {spec} is not a file, "
            "so leave --edge-order out"
        )
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
    if key in mapping_names():
        overrides = dataset_mapping(key)
        if mapping is not None:
            overrides = merge_mappings(overrides, read_mapping_file(mapping))
        names = dataset_classes(key)
        return wordnet_graph(key, map_names(names, overrides=overrides), names)
    if (listed := wnid_list_key(key)) is not None:  # ImageNet's: classes named by wnid
        names = list(wnid_list(listed))
        return wordnet_graph(listed, map_names(names, overrides=mapping), names)
    if is_file:
        if mapping is not None:
            raise SourceError(
                f"--mapping maps class names to WordNet synsets; the hierarchy file {spec} "
                "names its nodes itself, so leave --mapping out"
            )
        hierarchy = read_hierarchy(path, edge_order=edge_order)
        name = path.name[: -len(".pkl.xz")] if path.name.lower().endswith(".pkl.xz") else path.stem
        return LabelGraph(name, hierarchy, hierarchy.closure(), wordnet=False)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    try:
        synsets = map_names(names, overrides=mapping)
    except UnmappedNameError as exc:
        if len(names) > 1:
            raise
        raise SourceError(
            f"unknown hierarchy source {spec!r}. Use a dataset "
            f"({', '.join([*mapping_names(), *WNID_LISTS])}), "
            f"{' or '.join(WORDNET_SOURCES)}, a hierarchy file (.tsv, .csv, .txt, .json, .pkl), "
            "or a comma-separated list of class names (e.g. 'dog,cat,truck'). As a class "
            f"name: {exc}"
        ) from None
    return wordnet_graph("classes", synsets, names)
