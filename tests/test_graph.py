"""Tests of labelspace.hierarchy.graph on a hand-drawn DAG and on random DAGs."""

from __future__ import annotations

import os
import subprocess
import sys
from graphlib import TopologicalSorter
from itertools import combinations_with_replacement

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from labelspace.hierarchy.graph import VIRTUAL_ROOT, Hierarchy, HierarchyError, reachable

# entity
# ├── animal
# │   ├── mammal ── primate ── lemur
# │   │   ├── dog            (dog and cat also sit under pet: multiple inheritance)
# │   │   └── cat
# │   ├── pet ── dog, cat
# │   └── bird ── passerine ── robin
# └── plant ── oak
PARENTS = {
    "animal": ["entity"],
    "plant": ["entity"],
    "mammal": ["animal"],
    "pet": ["animal"],
    "bird": ["animal"],
    "primate": ["mammal"],
    "passerine": ["bird"],
    "dog": ["mammal", "pet"],
    "cat": ["mammal", "pet"],
    "lemur": ["primate"],
    "robin": ["passerine"],
    "oak": ["plant"],
}
DEPTH = {
    "entity": 0,
    "animal": 1,
    "plant": 1,
    "mammal": 2,
    "pet": 2,
    "bird": 2,
    "oak": 2,
    "primate": 3,
    "passerine": 3,
    "dog": 3,
    "cat": 3,
    "lemur": 4,
    "robin": 4,
}
HEIGHT = {
    "dog": 0,
    "cat": 0,
    "lemur": 0,
    "robin": 0,
    "oak": 0,
    "primate": 1,
    "passerine": 1,
    "pet": 1,
    "plant": 1,
    "mammal": 2,
    "bird": 2,
    "animal": 3,
    "entity": 4,
}


@pytest.fixture
def h() -> Hierarchy:
    return Hierarchy.from_parents(PARENTS)


def names(h: Hierarchy, pairs) -> set[tuple[str, str]]:
    return {(h.nodes[a], h.nodes[b]) for a, b in pairs.tolist()}


def naive_ancestors(parents: dict[str, list[str]], node: str) -> set[str]:
    found: set[str] = set()
    stack = list(parents.get(node, []))
    while stack:
        n = stack.pop()
        if n not in found:
            found.add(n)
            stack.extend(parents.get(n, []))
    return found


# ------------------------------------------------------------------------- hand-drawn DAG
def test_nodes_classes_and_root(h: Hierarchy) -> None:
    assert set(h.nodes) == set(DEPTH)
    assert h.classes == ("cat", "dog", "lemur", "oak", "robin")  # the leaves, sorted
    assert h.root == "entity"
    assert h.nodes[0] == "entity"
    assert h.notes == ()
    assert h.num_edges == sum(len(ps) for ps in PARENTS.values())
    for child, ps in enumerate(h.parents):  # topological: parents come first
        assert all(p < child for p in ps)


def test_depth_and_height(h: Hierarchy) -> None:
    assert {n: int(h.depth[h.index[n]]) for n in h.nodes} == DEPTH
    assert {n: int(h.height[h.index[n]]) for n in h.nodes} == HEIGHT
    # the DAG is lopsided on purpose: depth + height is not constant
    assert DEPTH["animal"] == 1 and HEIGHT["animal"] == 3
    assert DEPTH["oak"] == 2 and HEIGHT["oak"] == 0


def test_ancestors(h: Hierarchy) -> None:
    assert set(h.ancestors("dog")) == {"mammal", "pet", "animal", "entity"}
    assert h.ancestors("dog")[-2:] == ["animal", "entity"]  # deepest first
    assert h.ancestors("lemur") == ["primate", "mammal", "animal", "entity"]
    assert h.ancestors("lemur", include_self=True)[0] == "lemur"
    assert h.ancestors("entity") == []
    with pytest.raises(HierarchyError, match="unicorn"):
        h.ancestors("unicorn")


def test_closure_pairs(h: Hierarchy) -> None:
    expected = {(n, a) for n in DEPTH for a in naive_ancestors(PARENTS, n)}
    closure = h.closure()
    assert closure.shape == (len(expected), 2)
    assert names(h, closure) == expected
    assert ("dog", "pet") in expected and ("dog", "bird") not in expected
    assert names(h, h.edges()) == {(c, p) for c, ps in PARENTS.items() for p in ps}


def test_lca(h: Hierarchy) -> None:
    # mammal and pet are both deepest common ancestors of dog and cat (depth 2); pet wins on
    # the smaller height (1 < 2), although "mammal" would win on the name
    assert h.lca("dog", "cat") == "pet"
    assert h.lca("cat", "dog") == "pet"
    assert h.lca("dog", "lemur") == "mammal"
    assert h.lca("dog", "robin") == "animal"
    assert h.lca("lemur", "oak") == "entity"
    assert h.lca("dog", "dog") == "dog"  # a node is its own ancestor
    assert h.lca("dog", "pet") == "pet"
    assert h.lca("primate", "lemur") == "primate"


def test_lca_tie_broken_by_name_when_height_ties() -> None:
    h = Hierarchy.from_parents({"a": ["y", "x"], "b": ["x", "y"], "x": ["r"], "y": ["r"]})
    assert h.lca("a", "b") == "x"


def test_class_lca_height(h: Hierarchy) -> None:
    expected = {
        ("cat", "dog"): 1,
        ("cat", "lemur"): 2,
        ("cat", "oak"): 4,
        ("cat", "robin"): 3,
        ("dog", "lemur"): 2,
        ("dog", "oak"): 4,
        ("dog", "robin"): 3,
        ("lemur", "oak"): 4,
        ("lemur", "robin"): 3,
        ("oak", "robin"): 4,
    }
    m = h.class_lca_height
    assert m.shape == (5, 5)
    for a, b in combinations_with_replacement(range(5), 2):
        ca, cb = h.classes[a], h.classes[b]
        want = 0 if a == b else expected[ca, cb]
        assert int(m[a, b]) == int(m[b, a]) == want, (ca, cb)
    assert h.nodes[int(h.class_lca[0, 1])] == "pet"


def test_path_to_root(h: Hierarchy) -> None:
    assert h.path_to_root("lemur") == ["lemur", "primate", "mammal", "animal", "entity"]
    assert h.path_to_root("entity") == ["entity"]
    path = h.path_to_root("dog")
    assert path[0] == "dog" and path[-1] == "entity" and path[2:] == ["animal", "entity"]
    assert path[1] in {"mammal", "pet"}
    assert len(path) == DEPTH["dog"] + 1  # a longest path


def test_path_up_ties_to_the_lower_index_or_the_parent_listed_first() -> None:
    h = Hierarchy.from_parents({"c": ["b", "a"], "a": ["r"], "b": ["r"]})
    c = h.index["c"]
    assert [h.nodes[i] for i in h.path_up(c)] == ["c", "a", "r"] == h.path_to_root("c")
    assert [h.nodes[i] for i in h.path_up(c, first_listed=True)] == ["c", "b", "r"]


def test_breadth_first_goes_level_by_level_as_graphlib_does(h: Hierarchy) -> None:
    order = h.breadth_first
    assert sorted(order) == list(range(len(h)))
    depths = [int(h.depth[i]) for i in order]
    assert depths == sorted(depths)  # level by level, so every parent comes first
    graph = {i: list(ps) for i, ps in enumerate(h.parents)}
    assert list(order) == list(TopologicalSorter(graph).static_order())


def test_reachable_follows_any_step() -> None:
    step = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": [], "e": ["a"]}.__getitem__
    assert reachable(["a"], step) == {"a", "b", "c", "d"}
    assert reachable([], step) == set()


def test_subtree(h: Hierarchy) -> None:
    assert set(h.subtree("mammal")) == {"mammal", "primate", "lemur", "dog", "cat"}
    assert set(h.subtree("pet")) == {"pet", "dog", "cat"}
    assert h.subtree("oak") == ["oak"]
    assert set(h.subtree("entity")) == set(DEPTH)


def render(h: Hierarchy) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(h.tree())
    return console.export_text()


def test_tree_rendering(h: Hierarchy) -> None:
    text = render(h)
    for name in DEPTH:
        assert name in text
    assert text.count("dog") == 2  # shown under mammal and under pet
    assert text.splitlines()[0].strip() == "entity"


def test_tree_rendering_escapes_markup_in_names() -> None:
    h = Hierarchy.from_parents({"a[x]": ["r"], "[/bold]": ["r"], "c": ["r"]})
    text = render(h)
    assert "a[x]" in text and "[/bold]" in text


# ------------------------------------------------------------------------- errors
def test_self_loop() -> None:
    with pytest.raises(HierarchyError, match=r"self-loop.*'dog'"):
        Hierarchy.from_parents({"dog": ["dog", "animal"]})


def test_cycle_names_its_nodes() -> None:
    with pytest.raises(HierarchyError, match="cycle") as err:
        Hierarchy.from_parents({"leaf": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]})
    message = str(err.value)
    assert all(n in message for n in ("a", "b", "c"))
    assert "leaf" not in message


def test_cycle_without_leaves_is_a_hierarchy_error() -> None:
    with pytest.raises(HierarchyError, match="cycle"):
        Hierarchy.from_parents({"a": ["b"], "b": ["a"]})


def test_cycle_outside_the_classes_is_still_an_error() -> None:
    with pytest.raises(HierarchyError, match=r"cycle.*\bx\b.*\by\b|cycle.*\by\b.*\bx\b"):
        Hierarchy.from_parents({"dog": ["animal"], "x": ["y"], "y": ["x"]}, ["dog"])


def test_empty() -> None:
    with pytest.raises(HierarchyError, match="empty"):
        Hierarchy.from_parents({})


def test_no_classes() -> None:
    with pytest.raises(HierarchyError, match="no classes"):
        Hierarchy.from_parents(PARENTS, [])


def test_missing_classes() -> None:
    with pytest.raises(HierarchyError, match="2 class") as err:
        Hierarchy.from_parents(PARENTS, ["dog", "unicorn", "griffin"])
    assert "unicorn" in str(err.value) and "griffin" in str(err.value)


def test_virtual_root_name_clash() -> None:
    with pytest.raises(HierarchyError, match="<root>"):
        Hierarchy.from_parents({"a": [VIRTUAL_ROOT], "b": ["other"]})


# ------------------------------------------------------------------------- options
def test_restrict_to_classes_drops_unrelated_branches() -> None:
    h = Hierarchy.from_parents(PARENTS, ["dog", "cat"])
    assert set(h.nodes) == {"dog", "cat", "mammal", "pet", "animal", "entity"}
    assert h.classes == ("dog", "cat")  # the given order is kept
    assert int(h.height[h.index["entity"]]) == 3
    full = Hierarchy.from_parents(PARENTS, ["dog", "cat"], restrict_to_classes=False)
    assert set(full.nodes) == set(DEPTH)
    assert int(full.height[full.index["oak"]]) == -1  # no class below
    assert int(full.height[full.index["entity"]]) == 3


def test_classes_may_be_inner_nodes() -> None:
    h = Hierarchy.from_parents(PARENTS, ["mammal", "dog"])
    assert int(h.height[h.index["mammal"]]) == 1
    assert int(h.class_lca_height[0, 1]) == 1  # LCA(mammal, dog) = mammal


def test_several_roots_get_a_virtual_root() -> None:
    h = Hierarchy.from_parents({"dog": ["animal"], "oak": ["plant"], "rock": []})
    assert h.root == VIRTUAL_ROOT
    assert h.nodes[0] == VIRTUAL_ROOT
    assert set(h.nodes) == {VIRTUAL_ROOT, "animal", "plant", "dog", "oak", "rock"}
    assert len(h.notes) == 1
    assert "3 roots" in h.notes[0] and all(r in h.notes[0] for r in ("animal", "plant", "rock"))
    assert h.lca("dog", "oak") == VIRTUAL_ROOT
    assert h.path_to_root("dog") == ["dog", "animal", VIRTUAL_ROOT]


def test_node_order_does_not_depend_on_hash_seed() -> None:
    code = (
        "from labelspace.hierarchy.graph import Hierarchy\n"
        f"print(Hierarchy.from_parents({PARENTS!r}).nodes)\n"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1


def test_equal_hierarchies_from_reordered_input() -> None:
    reordered = {k: list(reversed(v)) for k, v in reversed(PARENTS.items())}
    a, b = Hierarchy.from_parents(PARENTS), Hierarchy.from_parents(reordered)
    assert a.nodes == b.nodes
    assert names(a, a.closure()) == names(b, b.closure())


# ------------------------------------------------------------------------- random DAGs
@st.composite
def random_dags(draw):
    """Node i's parents are drawn from nodes 0..i-1, so every DAG is acyclic."""
    n = draw(st.integers(1, 12))
    parents = {
        f"n{i:02d}": [f"n{j:02d}" for j in draw(st.sets(st.integers(0, i - 1), max_size=3))]
        if i
        else []
        for i in range(n)
    }
    leaves = sorted(set(parents) - {p for ps in parents.values() for p in ps})
    use_default = draw(st.booleans())
    classes = None if use_default else draw(st.lists(st.sampled_from(leaves + list(parents))))
    if classes == []:
        classes = None
    restrict = draw(st.booleans())
    return parents, classes, restrict


@settings(max_examples=200, deadline=None)
@given(random_dags(), st.data())
def test_random_dag_properties(dag, data) -> None:
    given_parents, classes, restrict = dag
    h = Hierarchy.from_parents(given_parents, classes, restrict_to_classes=restrict)

    # the parents the hierarchy should have: the input's, plus the virtual root for roots
    kept = set(h.nodes) - {VIRTUAL_ROOT}
    expected = {n: [p for p in given_parents[n] if p in kept] for n in kept}
    if h.root == VIRTUAL_ROOT:
        assert sum(not ps for ps in expected.values()) > 1
        expected = {n: ps or [VIRTUAL_ROOT] for n, ps in expected.items()}
        expected[VIRTUAL_ROOT] = []
    assert {h.nodes[i]: sorted(h.nodes[p] for p in ps) for i, ps in enumerate(h.parents)} == {
        n: sorted(ps) for n, ps in expected.items()
    }

    # closure == naive transitive closure
    naive = {(n, a) for n in expected for a in naive_ancestors(expected, n)}
    assert names(h, h.closure()) == naive

    # depth and height against naive recursions; ordering along every edge
    def depth(n: str) -> int:
        return 1 + max(depth(p) for p in expected[n]) if expected[n] else 0

    cls = set(h.classes)
    children = {n: [c for c in expected if n in expected[c]] for n in expected}

    def height(n: str) -> int:
        below = [height(c) for c in children[n]]
        best = max([b + 1 for b in below if b >= 0], default=-1)
        return max(best, 0) if n in cls else best

    for n in expected:
        assert h.depth[h.index[n]] == depth(n)
        assert h.height[h.index[n]] == height(n)
    for child, ps in enumerate(h.parents):
        for p in ps:
            assert h.depth[child] > h.depth[p]
            if h.height[child] >= 0:
                assert h.height[p] > h.height[child]

    # the breadth-first walk is graphlib's order; every path up is a longest one
    graph = {i: list(ps) for i, ps in enumerate(h.parents)}
    assert list(h.breadth_first) == list(TopologicalSorter(graph).static_order())
    for i in range(len(h)):
        for first_listed in (False, True):
            path = h.path_up(i, first_listed=first_listed)
            assert len(path) == h.depth[i] + 1 and path[-1] == h.index[h.root]

    # LCA: a common ancestor of maximal depth, then minimal height
    a = data.draw(st.sampled_from(h.nodes))
    b = data.draw(st.sampled_from(h.nodes))
    common = (naive_ancestors(expected, a) | {a}) & (naive_ancestors(expected, b) | {b})
    lca = h.lca(a, b)
    assert lca in common
    assert all(depth(lca) >= depth(c) for c in common)
    assert all(height(lca) <= height(c) for c in common if depth(c) == depth(lca))
    assert h.lca(b, a) == lca


@settings(max_examples=200, deadline=None)
@given(random_dags())
def test_class_lca_is_the_lca_of_every_class_pair(dag) -> None:
    given_parents, classes, restrict = dag
    h = Hierarchy.from_parents(given_parents, classes, restrict_to_classes=restrict)
    for a, x in enumerate(h.classes):
        for b, y in enumerate(h.classes):
            assert h.nodes[int(h.class_lca[a, b])] == (x if a == b else h.lca(x, y))
