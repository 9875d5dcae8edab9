"""A label hierarchy as a rooted DAG: closure, ancestors, depth, height and LCA.

Nodes are strings (WordNet synset names, or names from a file). Edges point from a child to
its parents. ``classes`` are the labels a dataset uses; heights are measured down to them.
Definitions follow docs/concepts.md: depth(x) is the longest root-to-x path; height(x) is the
longest path from x down to a class node; LCA(a, b) is the common ancestor of greatest depth,
ties broken by smallest height (then by name, so the answer is deterministic).

Every stage walks a hierarchy through this type: its node order (:attr:`Hierarchy.nodes`, a
topological order), its breadth-first walk, its path to the root, depth and height. The walks
over graphs that are not a :class:`Hierarchy` yet (WordNet's table of all nouns, a parent map
being read) use :func:`reachable`.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from labelspace.errors import InputError

if TYPE_CHECKING:  # imported where tensors are made: importing torch takes about a second
    import torch

VIRTUAL_ROOT = "<root>"
N = TypeVar("N", bound=Hashable)


class HierarchyError(InputError):
    """A hierarchy that cannot be used as given (cycle, self-loop, missing class, ...)."""


@dataclass(frozen=True)
class Hierarchy:
    """An immutable rooted DAG over string nodes, with a list of class nodes.

    Build it with :meth:`from_parents`; the constructor expects validated, indexed input.
    """

    nodes: tuple[str, ...]
    parents: tuple[tuple[int, ...], ...]  # parents[i]: indices of i's direct parents
    classes: tuple[str, ...]
    root: str
    notes: tuple[str, ...] = field(default=(), compare=False)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_parents(
        cls,
        parent_map: Mapping[str, Iterable[str]],
        classes: Sequence[str] | None = None,
        *,
        restrict_to_classes: bool = True,
    ) -> Hierarchy:
        """Build from ``{child: [parents...]}``.

        ``classes`` defaults to the nodes without children. With ``restrict_to_classes`` the
        hierarchy keeps only the classes and their ancestors (the hierarchy they induce).
        Several roots get a virtual root ``<root>`` (recorded in :attr:`notes`).
        """
        graph: dict[str, list[str]] = {}
        for child, ps in parent_map.items():
            ps = list(dict.fromkeys(ps))
            if child in ps:
                raise HierarchyError(f"self-loop: {child!r} is its own parent")
            graph.setdefault(child, []).extend(p for p in ps if p not in graph.get(child, []))
            for p in ps:
                graph.setdefault(p, [])
        if not graph:
            raise HierarchyError("the hierarchy is empty: it has no nodes")
        if classes is None:
            has_child = {p for ps in graph.values() for p in ps}
            classes = sorted(n for n in graph if n not in has_child)
        classes = list(dict.fromkeys(classes))
        missing = [c for c in classes if c not in graph]
        if missing:
            raise HierarchyError(
                f"{len(missing)} class(es) missing from the hierarchy: {', '.join(missing[:20])}"
            )
        everything = set(graph)
        keep = reachable(classes, graph.__getitem__) if restrict_to_classes else everything
        if keep is not everything:
            _topological_order(graph, everything)  # a cycle anywhere in the input is an error
        order = _topological_order(graph, keep)  # parents before children
        if not order:
            raise HierarchyError("no classes given: the hierarchy they induce is empty")
        notes: list[str] = []
        roots = [n for n in order if not graph[n]]
        if len(roots) > 1 and VIRTUAL_ROOT in keep:
            raise HierarchyError(
                f"{len(roots)} roots ({', '.join(roots[:5])}{', ...' if len(roots) > 5 else ''}) "
                f"need a virtual root, but {VIRTUAL_ROOT!r} is already a node; rename that node "
                f"or give the hierarchy a single root"
            )
        if len(roots) > 1:
            notes.append(
                f"{len(roots)} roots ({', '.join(roots[:5])}{', ...' if len(roots) > 5 else ''}) "
                f"joined under a virtual root {VIRTUAL_ROOT!r}"
            )
            graph = {**graph, VIRTUAL_ROOT: []}
            for r in roots:
                graph[r] = [VIRTUAL_ROOT]
            order = [VIRTUAL_ROOT, *order]
            root = VIRTUAL_ROOT
        else:
            root = roots[0]
        index = {n: i for i, n in enumerate(order)}
        parents = tuple(tuple(index[p] for p in graph[n] if p in index) for n in order)
        return cls(tuple(order), parents, tuple(classes), root, tuple(notes))

    # ----------------------------------------------------------------- basic views
    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node: object) -> bool:
        return node in self.index

    @cached_property
    def index(self) -> dict[str, int]:
        """Node name -> position in :attr:`nodes` (a topological order, root first)."""
        return {n: i for i, n in enumerate(self.nodes)}

    @cached_property
    def class_indices(self) -> np.ndarray:
        return np.array([self.index[c] for c in self.classes], dtype=np.int64)

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        kids: list[list[int]] = [[] for _ in self.nodes]
        for child, ps in enumerate(self.parents):
            for p in ps:
                kids[p].append(child)
        return tuple(tuple(k) for k in kids)

    @property
    def num_edges(self) -> int:
        return sum(len(ps) for ps in self.parents)

    def edges(self) -> np.ndarray:
        """Direct (child, parent) index pairs, shape ``(E, 2)``."""
        pairs = [(c, p) for c, ps in enumerate(self.parents) for p in ps]
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)

    # ----------------------------------------------------------------- closure
    @cached_property
    def _ancestor_sets(self) -> tuple[frozenset[int], ...]:
        sets: list[frozenset[int]] = []
        for ps in self.parents:  # topological order: parents are already done
            acc: set[int] = set(ps)
            for p in ps:
                acc |= sets[p]
            sets.append(frozenset(acc))
        return tuple(sets)

    def ancestors(self, node: str, *, include_self: bool = False) -> list[str]:
        """All ancestors of ``node``, deepest first."""
        i = self._require(node)
        found = set(self._ancestor_sets[i]) | ({i} if include_self else set())
        return [self.nodes[j] for j in sorted(found, key=lambda j: (-self.depth[j], j))]

    def closure(self) -> np.ndarray:
        """Transitive closure as (descendant, ancestor) index pairs, shape ``(P, 2)``."""
        counts = np.fromiter((len(s) for s in self._ancestor_sets), dtype=np.int64)
        child = np.repeat(np.arange(len(self.nodes), dtype=np.int64), counts)
        anc = np.fromiter(
            (a for s in self._ancestor_sets for a in sorted(s)), dtype=np.int64, count=counts.sum()
        )
        return np.stack([child, anc], axis=1)

    def path_to_root(self, node: str) -> list[str]:
        """One longest path from ``node`` up to the root (node first): see :meth:`path_up`."""
        return [self.nodes[j] for j in self.path_up(self._require(node))]

    def path_up(self, i: int, *, first_listed: bool = False) -> list[int]:
        """Node indices from node ``i`` up to the root, each step to the deepest parent.

        Ties between parents of one depth go to the lower index; with ``first_listed``, to
        the parent listed first in :attr:`parents` (the rule the Poincaré layout was
        measured with). Either way the path is a longest one.
        """
        depth = self.depth
        path = [i]
        while self.parents[i]:
            if first_listed:
                i = max(self.parents[i], key=depth.__getitem__)
            else:
                i = max(self.parents[i], key=lambda p: (depth[p], -p))
            path.append(i)
        return path

    @cached_property
    def breadth_first(self) -> tuple[int, ...]:
        """Node indices level by level from the root, in the order a breadth-first walk
        reaches them: a node comes once all its parents have (so by depth), and the children
        of a node in index order (the order :class:`graphlib.TopologicalSorter` gives)."""
        waiting = [len(ps) for ps in self.parents]  # parents not yet reached
        queue = deque(i for i, count in enumerate(waiting) if count == 0)
        order: list[int] = []
        while queue:
            i = queue.popleft()
            order.append(i)
            for k in self.children[i]:
                waiting[k] -= 1
                if waiting[k] == 0:
                    queue.append(k)
        return tuple(order)

    def classes_below(self) -> dict[str, list[str]]:
        """Each class that has other classes below it, with those classes (class order).

        Empty when every class is a leaf of the classes, which the metrics need: then
        :attr:`class_lca_height` is 0 exactly on its diagonal.
        """
        position = {int(i): c for c, i in enumerate(self.class_indices)}
        below: dict[int, list[int]] = {}
        for c, i in enumerate(self.class_indices):
            for a in self._ancestor_sets[int(i)]:
                if a in position:
                    below.setdefault(position[a], []).append(c)
        return {self.classes[a]: [self.classes[c] for c in sorted(below[a])] for a in sorted(below)}

    def require_leaf_classes(self) -> None:
        """Raise :class:`HierarchyError` unless every class is a leaf (no class below another).

        Mistake severity, hdist@k, hp@k, soft labels and the sphere embedding measure a
        mistake by the height of the classes' LCA, which must be 0 for a class and itself.
        """
        below = self.classes_below()
        if below:
            shown = "; ".join(
                f"{c!r} is above {', '.join(repr(b) for b in kids[:5])}"
                f"{' ...' if len(kids) > 5 else ''}"
                for c, kids in list(below.items())[:5]
            )
            raise HierarchyError(
                f"{len(below)} class(es) have other classes below them in the hierarchy "
                f"({shown}{' ...' if len(below) > 5 else ''}); every class must be a leaf, so "
                "give each such class a leaf of its own under its node, or remove it"
            )

    # ----------------------------------------------------------------- depth and height
    @cached_property
    def depth(self) -> np.ndarray:
        """Longest root-to-node path length, per node index."""
        d = np.zeros(len(self.nodes), dtype=np.int64)
        for i, ps in enumerate(self.parents):
            if ps:
                d[i] = 1 + max(d[p] for p in ps)
        return d

    @cached_property
    def height(self) -> np.ndarray:
        """Longest path from a node down to a class node, per node index (-1: none below)."""
        h = np.full(len(self.nodes), -1, dtype=np.int64)
        h[self.class_indices] = 0
        for i in range(len(self.nodes) - 1, -1, -1):  # children before parents
            if h[i] < 0:
                continue
            for p in self.parents[i]:
                h[p] = max(h[p], h[i] + 1)
        return h

    # ----------------------------------------------------------------- LCA
    def lca(self, a: str, b: str) -> str:
        """Lowest common ancestor (a node is its own ancestor here)."""
        return self.nodes[self._lca_index(self._require(a), self._require(b))]

    def _lca_index(self, i: int, j: int) -> int:
        common = (self._ancestor_sets[i] | {i}) & (self._ancestor_sets[j] | {j})
        return min(common, key=lambda k: (-self.depth[k], self.height[k], self.nodes[k]))

    @cached_property
    def class_lca(self) -> torch.Tensor:
        """LCA node index for every pair of classes, shape ``(C, C)``.

        The same rule as :meth:`lca` (deepest common ancestor, then the lowest, then the
        first by name), vectorised: every node writes itself into the pairs of classes below
        it (a node is its own ancestor), in the order that leaves the pair's LCA writing
        last."""
        import torch

        idx = np.asarray(self.class_indices, dtype=np.int64)
        position = np.full(len(self.nodes), -1, dtype=np.int64)
        position[idx] = np.arange(len(idx))
        below: dict[int, list[int]] = {}
        for c, i in enumerate(idx.tolist()):
            for a in (*self._ancestor_sets[i], i):  # a node is its own ancestor here
                below.setdefault(a, []).append(c)
        names = np.array(self.nodes, dtype=object)
        # ascending depth, then descending height, then descending name: the last write wins
        visits = sorted(below, key=lambda k: (self.depth[k], -self.height[k], names[k]))
        visits.reverse()
        visits = sorted(visits, key=lambda k: (self.depth[k], -self.height[k]))
        out = np.full((len(idx), len(idx)), -1, dtype=np.int64)
        for k in visits:
            cols = np.asarray(below[k])
            out[np.ix_(cols, cols)] = k
        return torch.from_numpy(out)

    @cached_property
    def class_lca_height(self) -> torch.Tensor:
        """height(LCA(y, y')) for every pair of classes: the mistake-severity cost matrix."""
        import torch

        return torch.as_tensor(self.height)[self.class_lca]

    # ----------------------------------------------------------------- display
    def tree(self, max_children: int = 50):
        """A :class:`rich.tree.Tree` of the hierarchy. A node with several parents (marked
        ``*``) is expanded under the first parent shown and noted "see above" elsewhere."""
        from rich.markup import escape
        from rich.tree import Tree

        classes = set(self.class_indices.tolist())

        def label(i: int) -> str:
            name = escape(self.nodes[i])  # names like "a[b]" must not be read as markup
            text = f"[bold]{name}[/bold]" if i in classes else name
            return text + (" [dim]*[/dim]" if len(self.parents[i]) > 1 else "")

        root = self.index[self.root]
        tree = Tree(label(root))
        shown = {root}
        stack = [(root, tree)]
        while stack:
            i, branch = stack.pop()
            kids = sorted(self.children[i], key=lambda k: self.nodes[k])
            pending = []
            for k in kids[:max_children]:
                if k in shown:
                    branch.add(label(k) + " [dim](see above)[/dim]")
                    continue
                shown.add(k)
                pending.append((k, branch.add(label(k))))
            stack.extend(reversed(pending))  # depth-first, in display order
            if len(kids) > max_children:
                branch.add(f"[dim]... {len(kids) - max_children} more[/dim]")
        return tree

    # ----------------------------------------------------------------- helpers
    def _require(self, node: str) -> int:
        try:
            return self.index[node]
        except KeyError:
            raise HierarchyError(f"{node!r} is not a node of this hierarchy") from None

    def subtree(self, node: str) -> list[str]:
        """``node`` and all its descendants, in node order."""
        found = reachable([self._require(node)], self.children.__getitem__)
        return [self.nodes[j] for j in sorted(found)]


def reachable(start: Iterable[N], step: Callable[[N], Iterable[N]]) -> set[N]:
    """``start`` and every node reached from it by following ``step`` (a node's parents for
    its ancestors, its children for its descendants)."""
    seen: set[N] = set()
    stack = list(start)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(step(n))
    return seen


def _topological_order(graph: Mapping[str, list[str]], keep: set[str]) -> list[str]:
    """Nodes of ``keep`` ordered parents-first (Kahn's algorithm); a cycle is an error.

    The order is the lexicographically smallest topological order, so it depends only on the
    graph, not on set iteration order (which changes between processes with hash seeds).
    """
    indegree = dict.fromkeys(keep, 0)  # number of parents not yet placed
    kids: dict[str, list[str]] = {n: [] for n in keep}
    for n in keep:
        for p in graph[n]:
            if p in keep:
                indegree[n] += 1
                kids[p].append(n)
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for k in kids[n]:
            indegree[k] -= 1
            if indegree[k] == 0:
                heapq.heappush(ready, k)
    if len(order) < len(keep):
        raise HierarchyError(f"cycle in the hierarchy: {' -> '.join(find_cycle(graph, keep))}")
    return order


def find_cycle(graph: Mapping[str, list[str]], keep: set[str]) -> list[str]:
    """One cycle among ``keep`` as a closed list of nodes (first == last)."""
    state: dict[str, int] = {}
    for start in sorted(keep):
        if state.get(start):
            continue
        path: list[str] = []
        stack = [(start, iter(graph[start]))]
        state[start] = 1
        path.append(start)
        while stack:
            node, it = stack[-1]
            nxt = next((p for p in it if p in keep), None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(graph[nxt])))
    return []
