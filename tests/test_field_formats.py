"""Reading the hierarchy files the better-mistakes literature publishes, in hand-made copies:
is_a edge lists (``parent child`` per line) and pickled nltk trees, with the pickle safety rule.

The published files themselves cannot be shipped (CC BY-NC-SA); each test writes a small file
of the same format into tmp_path.
"""

from __future__ import annotations

import lzma
import pickle
from pathlib import Path

import pytest
from nltk import Tree
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.errors import InputError
from labelspace.hierarchy.edge_lists import is_a_file_name
from labelspace.hierarchy.graph import VIRTUAL_ROOT, Hierarchy
from labelspace.hierarchy.io import HierarchyFileError, read_hierarchy
from labelspace.hierarchy.safe_pickle import PickleRefusedError
from labelspace.hierarchy.sources import SourceError, load_source

# animal > {mammal > {dog, cat}, pet > {dog, cat}}: a DAG
PARENTS = {
    "mammal": ["animal"],
    "pet": ["animal"],
    "dog": ["mammal", "pet"],
    "cat": ["mammal", "pet"],
}
EXPECTED = Hierarchy.from_parents(PARENTS)
IS_A = "".join(f"{p} {c}\n" for c, ps in PARENTS.items() for p in ps)  # parent child


def edge_set(h: Hierarchy) -> set[tuple[str, str]]:
    """(child, parent) names of every direct edge but those to a virtual root."""
    edges = {(h.nodes[c], h.nodes[p]) for c, ps in enumerate(h.parents) for p in ps}
    return {(c, p) for c, p in edges if p != VIRTUAL_ROOT}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- is_a edge lists
@pytest.mark.parametrize(
    "name", ["tiered_imagenet_isa.txt", "wordnet.is_a.txt", "mine.is_a.txt", "isa.txt", "A-ISA.TXT"]
)
def test_is_a_file_names_are_read_parent_child(tmp_path: Path, name: str) -> None:
    h = read_hierarchy(write(tmp_path / name, "# comment\n\n" + IS_A.replace(" ", " \t ", 1)))
    assert edge_set(h) == edge_set(EXPECTED)
    assert h.root == "animal" and h.classes == ("cat", "dog")


@pytest.mark.parametrize("name", ["visa.txt", "isa.tsv", "is_a.csv", "this.txt", "isa.txt.bak"])
def test_other_names_are_not_is_a_names(name: str) -> None:
    assert not is_a_file_name(name)


def test_whitespace_pairs_in_an_unrecognised_txt_are_refused_as_ambiguous(tmp_path: Path) -> None:
    path = write(tmp_path / "tree.txt", "# my tree\n" + IS_A)
    with pytest.raises(HierarchyFileError) as err:
        read_hierarchy(path)
    message = str(err.value)
    assert "tree.txt" in message and "ambiguous" in message and err.value.line == 2
    assert "--edge-order parent-child" in message and "--edge-order child-parent" in message
    with pytest.raises(HierarchyFileError, match="ambiguous"):
        load_source(str(path))


def test_edge_order_reads_either_column_order(tmp_path: Path) -> None:
    path = write(tmp_path / "tree.txt", IS_A)
    assert edge_set(read_hierarchy(path, edge_order="parent-child")) == edge_set(EXPECTED)
    flipped = read_hierarchy(path, edge_order="child-parent")  # animal is now the leaf
    assert edge_set(flipped) == {(p, c) for c, p in edge_set(EXPECTED)}
    assert flipped.classes == ("animal",) and flipped.root == VIRTUAL_ROOT  # dog, cat: roots
    graph = load_source(str(path), edge_order="parent-child")
    assert edge_set(graph.hierarchy) == edge_set(EXPECTED) and graph.name == "tree"


def test_an_explicit_edge_order_wins_over_the_file_name(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x_isa.txt", "".join(f"{c} {p}\n" for c, ps in PARENTS.items() for p in ps)
    )
    assert edge_set(read_hierarchy(path, edge_order="child-parent")) == edge_set(EXPECTED)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("h.tsv", "".join(f"{p}\t{c}\n" for c, ps in PARENTS.items() for p in ps)),
        ("h.csv", "".join(f"{p},{c}\n" for c, ps in PARENTS.items() for p in ps)),
        ("h.txt", "".join(f"{p}\t{c}\n" for c, ps in PARENTS.items() for p in ps)),
    ],
)
def test_parent_child_order_for_tab_and_comma_lists(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)
    assert edge_set(read_hierarchy(path, edge_order="parent-child")) == edge_set(EXPECTED)
    # without an order these stay labelspace's child<sep>parent lists, read the other way
    assert edge_set(read_hierarchy(path)) == {(p, c) for c, p in edge_set(EXPECTED)}


def test_a_header_says_the_order(tmp_path: Path) -> None:
    path = write(tmp_path / "tree.txt", "parent child\n" + IS_A)
    assert edge_set(read_hierarchy(path)) == edge_set(EXPECTED)
    assert edge_set(read_hierarchy(path, edge_order="parent-child")) == edge_set(EXPECTED)
    with pytest.raises(HierarchyFileError) as err:
        read_hierarchy(path, edge_order="child-parent")
    assert "header" in str(err.value) and err.value.line == 1


def test_wrong_field_count_in_an_is_a_file(tmp_path: Path) -> None:
    path = write(tmp_path / "t_isa.txt", "animal mammal\nmammal dog pet\n")
    with pytest.raises(HierarchyFileError) as err:
        read_hierarchy(path)
    message = str(err.value)
    assert err.value.line == 2 and "found 3" in message and "(parent child)" in message
    assert "whitespace" in message


def test_cycle_in_an_is_a_file_names_its_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "t_isa.txt", "a b\nb c\nx y\nc a\n")
    with pytest.raises(HierarchyFileError) as err:
        read_hierarchy(path)
    message = str(err.value)
    assert "cycle" in message and "line 1" in message and "line 4" in message
    assert "line 3" not in message


def test_unknown_edge_order_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "tree.txt", IS_A)
    for call in (
        lambda: read_hierarchy(path, edge_order="up-down"),
        lambda: load_source(str(path), edge_order="parent_child"),
    ):
        with pytest.raises(InputError, match="child-parent or parent-child"):
            call()


def test_edge_order_is_refused_where_it_means_nothing(tmp_path: Path) -> None:
    tree = write(tmp_path / "tree.json", '{"animal": ["dog", "cat"]}')
    with pytest.raises(HierarchyFileError, match="not an edge list"):
        read_hierarchy(tree, edge_order="parent-child")
    with pytest.raises(SourceError, match="--edge-order"):
        load_source("cifar10", edge_order="parent-child")
    with pytest.raises(SourceError, match="--edge-order"):
        load_source("dog,cat", edge_order="child-parent")


# ------------------------------------------------------------------------- tree pickles
NLTK_TREE = Tree(
    "animal",
    [Tree("mammal", ["dog", "cat", Tree("rodent", ["rat"])]), Tree("bird", ["owl", "auk"])],
)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize(
    ("name", "stem"), [("t_tree.pkl", "t_tree"), ("t_tree.pkl.xz", "t_tree"), ("T.PKL", "T")]
)
def test_tree_pickle_reads_as_a_hierarchy(
    tmp_path: Path, name: str, stem: str, protocol: int
) -> None:
    data = pickle.dumps(NLTK_TREE, protocol=protocol)
    path = tmp_path / name
    path.write_bytes(lzma.compress(data) if name.endswith(".xz") else data)
    h = read_hierarchy(path)
    assert h.root == "animal"
    assert h.classes == ("auk", "cat", "dog", "owl", "rat")  # the leaves, sorted by label
    assert edge_set(h) == {
        ("mammal", "animal"),
        ("bird", "animal"),
        ("dog", "mammal"),
        ("cat", "mammal"),
        ("rodent", "mammal"),
        ("rat", "rodent"),
        ("owl", "bird"),
        ("auk", "bird"),
    }
    graph = load_source(str(path))
    assert graph.hierarchy == h and not graph.wordnet
    assert graph.name == stem


def test_tree_pickle_with_a_node_under_two_parents(tmp_path: Path) -> None:
    tree = Tree("animal", [Tree("mammal", ["dog", "cat"]), Tree("pet", ["dog", "cat"])])
    path = tmp_path / "dag_tree.pkl"
    path.write_bytes(pickle.dumps(tree))
    h = read_hierarchy(path)
    assert edge_set(h) == edge_set(EXPECTED) and h.classes == EXPECTED.classes


def test_tree_pickle_and_is_a_file_give_one_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "t_tree.pkl").write_bytes(pickle.dumps(NLTK_TREE))
    lines = []
    stack = [NLTK_TREE]
    while stack:
        node = stack.pop()
        for child in node:
            lines.append(f"{node.label()} {child.label() if isinstance(child, Tree) else child}")
            if isinstance(child, Tree):
                stack.append(child)
    write(tmp_path / "t_isa.txt", "\n".join(lines))
    assert read_hierarchy(tmp_path / "t_tree.pkl") == read_hierarchy(tmp_path / "t_isa.txt")


@pytest.mark.parametrize(
    ("content", "fact"),
    [
        ({("a", "b"): 1, ("a", "a"): 0}, "a dict, not an nltk tree"),
        (["a", "b"], "a list, not an nltk tree"),
        (Tree("animal", [3]), "not a name"),
        (Tree(None, ["dog"]), "not a name"),
        (Tree("animal", ["animal"]), "self-loop"),
        (Tree("a", [Tree("b", [Tree("a", ["x"])])]), "cycle"),
    ],
)
def test_pickles_that_are_not_trees_get_one_line(tmp_path: Path, content, fact: str) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(HierarchyFileError) as err:
        read_hierarchy(path)
    assert fact in str(err.value) and "bad.pkl" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_damaged_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut_tree.pkl"
    path.write_bytes(pickle.dumps(NLTK_TREE)[:-20])
    with pytest.raises(PickleRefusedError, match=r"cut_tree\.pkl"):
        read_hierarchy(path)


class _CreatesMarker:
    """Unpickled by plain pickle, this creates the marker file: a stand-in for any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _evil_pickles(marker: Path) -> dict[str, bytes]:
    return {
        "alone": pickle.dumps(_CreatesMarker(marker)),
        "in a tree": pickle.dumps(Tree("animal", ["dog", _CreatesMarker(marker)])),
    }


@pytest.mark.parametrize("where", ["alone", "in a tree"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, where: str) -> None:
    probe = tmp_path / "probe"
    pickle.loads(_evil_pickles(probe)[where])  # plain pickle runs it: the test means something
    assert probe.exists()
    marker = tmp_path / "marker"
    path = tmp_path / "evil_tree.pkl"
    path.write_bytes(_evil_pickles(marker)[where])
    with pytest.raises(PickleRefusedError) as err:
        read_hierarchy(path)
    assert "evil_tree.pkl" in str(err.value) and f"asks for {open.__module__}.open" in str(
        err.value
    )
    with pytest.raises(PickleRefusedError):
        load_source(str(path))
    assert not marker.exists()


def test_the_cli_refuses_a_pickle_that_would_run_code_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_evil_pickles(marker)["alone"])
    result = CliRunner().invoke(app, ["hierarchy", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1  # one message (the console may wrap it), nothing else
    assert "evil.pkl: refused to read this pickle" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_the_python_api_takes_the_edge_order(tmp_path: Path) -> None:
    import labelspace

    path = write(tmp_path / "tree.txt", IS_A)
    space = labelspace.label_space(path, embedding=None, edge_order="parent-child")
    assert space.classes == ["cat", "dog"] and edge_set(space.hierarchy) == edge_set(EXPECTED)
    with pytest.raises(SourceError, match="--edge-order"):
        labelspace.label_space("cifar10", embedding=None, edge_order="parent-child")
