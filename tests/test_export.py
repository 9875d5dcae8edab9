"""Exporting a hierarchy in the better-mistakes formats (isa.txt, distances.txt.xz, tree.json,
classes.txt) and reading every file back: the same class tree, the same mistake costs."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.errors import OutputExistsError
from labelspace.hierarchy.distances import read_distances
from labelspace.hierarchy.export import (
    EXPORT_FILES,
    MAX_EXPORT_NODES,
    export_hierarchy,
    lca_height_blocks,
    tree_json,
)
from labelspace.hierarchy.graph import Hierarchy
from labelspace.hierarchy.io import HierarchyFileError, read_hierarchy
from labelspace.hierarchy.sources import load_source

TINY_IMAGENET = (
    Path(__file__).parents[1] / "src/labelspace/pretrained/sources/tiny-imagenet-200.txt"
)
# leaves at depths 2 to 4, and 'pet' (with children) under two parents
FILE_EDGES = {
    "mammal": ["animal"],
    "domestic": ["animal"],
    "pet": ["mammal", "domestic"],
    "dog": ["pet"],
    "cat": ["pet"],
    "rodent": ["mammal"],
    "mouse": ["rodent"],
    "vole": ["rodent"],
    "whale": ["mammal"],
    "cow": ["domestic"],
    "bird": ["animal"],
    "owl": ["bird"],
}


def edge_set(h: Hierarchy) -> set[tuple[str, str]]:
    return {(h.nodes[c], h.nodes[p]) for c, ps in enumerate(h.parents) for p in ps}


def distance_lines(folder: Path) -> list[tuple[str, str, int]]:
    with lzma.open(folder / "distances.txt.xz", "rt", encoding="utf-8") as handle:
        return [
            (a, b, int(d)) for a, b, d in (line.split(" ") for line in handle.read().splitlines())
        ]


def node_distance(h: Hierarchy, a: str, b: str) -> int:
    """The definition, pair by pair: 0 for a node with itself, else the height of the LCA."""
    return 0 if a == b else int(h.height[h.index[h.lca(a, b)]])


@pytest.fixture
def file_source(tmp_path: Path) -> str:
    path = tmp_path / "animals.tsv"
    path.write_text("".join(f"{c}\t{p}\n" for c, ps in FILE_EDGES.items() for p in ps))
    return str(path)


@pytest.mark.parametrize("source", ["fashion-mnist", "cifar100", "tiny-imagenet-200", "file"])
def test_export_reads_back_with_the_same_class_costs(
    tmp_path: Path, file_source: str, source: str
) -> None:
    spec = {"file": file_source, "tiny-imagenet-200": ",".join(TINY_IMAGENET.read_text().split())}
    graph = load_source(spec.get(source, source))
    h = graph.hierarchy
    folder = export_hierarchy(graph, tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPORT_FILES)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers
    classes = (folder / "classes.txt").read_text().splitlines()
    assert classes == list(h.classes)

    isa_lines = (folder / "isa.txt").read_text().splitlines()
    assert isa_lines == sorted(isa_lines) and len(isa_lines) == h.num_edges
    from_isa = read_hierarchy(folder / "isa.txt", classes, edge_order="parent-child")
    from_json = read_hierarchy(folder / "tree.json", classes)
    for back in (from_isa, from_json):
        assert edge_set(back) == edge_set(h) and back.classes == h.classes
        assert torch.equal(back.class_lca_height, h.class_lca_height)

    lines = distance_lines(folder)
    n = len(h)
    assert len(lines) == n * (n + 1) // 2
    assert all(a <= b for a, b, _ in lines) and lines == sorted(lines)
    assert {(a, b) for a, b, _ in lines} == {(a, b) for a in h.nodes for b in h.nodes if a <= b}
    assert all(d == 0 for a, b, d in lines if a == b)
    costs = read_distances(folder / "distances.txt.xz").matrix(classes)
    assert torch.equal(costs, h.class_lca_height.to(costs.dtype))


@pytest.mark.parametrize("source", ["fashion-mnist", "file"])
def test_every_node_pair_distance_is_the_height_of_the_lca(
    tmp_path: Path, file_source: str, source: str
) -> None:
    h = load_source(file_source if source == "file" else source).hierarchy
    lines = distance_lines(export_hierarchy(h, tmp_path / "out"))
    assert [d for _, _, d in lines] == [node_distance(h, a, b) for a, b, _ in lines]
    if source == "file":  # a DAG whose leaves lie at several depths
        found = {(a, b): d for a, b, d in lines}
        assert found["dog", "mouse"] == 2  # LCA mammal: mammal > pet > dog is its longest path
        assert found["cow", "dog"] == 2  # LCA domestic, 2 above dog
        assert found["animal", "owl"] == 3  # an ancestor pair: the ancestor's height
        assert found["mouse", "vole"] == 1


def test_distance_blocks_agree_with_one_block(file_source: str) -> None:
    h = load_source(file_source).hierarchy
    order = np.arange(len(h))[::-1].copy()
    whole = np.vstack([block for _, block in lca_height_blocks(h, order, len(h))])
    pieces = list(lca_height_blocks(h, order, 4))
    assert [start for start, _ in pieces] == list(range(0, len(h), 4))
    assert np.array_equal(np.vstack([block for _, block in pieces]), whole)
    names = [h.nodes[i] for i in order]
    expected = [[node_distance(h, a, b) for b in names] for a in names]
    assert whole.tolist() == expected


def test_tree_json_expands_a_node_with_two_parents_once(file_source: str) -> None:
    h = load_source(file_source).hierarchy
    text = json.dumps(tree_json(h))
    assert text.count('"name": "pet"') == 2  # under mammal and under domestic
    assert text.count('"name": "dog"') == 1  # pet's children are written once


def test_an_existing_folder_is_kept_unless_overwrite(tmp_path: Path, file_source: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    export_hierarchy(load_source(file_source), out)  # an empty folder is fine
    (out / "mine.txt").write_text("keep me")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_hierarchy(load_source("fashion-mnist"), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    export_hierarchy(load_source("fashion-mnist"), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPORT_FILES)  # replaced whole
    assert "footwear.n.02" in (out / "isa.txt").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["animals.tsv", "out"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_folder(tmp_path: Path) -> None:
    unwritable = Hierarchy.from_parents({"a": ["root"], "b\udc80": ["root"]})  # no UTF-8 form
    with pytest.raises(UnicodeEncodeError):
        export_hierarchy(unwritable, tmp_path / "new" / "deeper" / "out")
    assert list(tmp_path.iterdir()) == []  # not even the parent folders it made
    old = tmp_path / "old"
    export_hierarchy(Hierarchy.from_parents({"a": ["root"], "b": ["root"]}), old)
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    with pytest.raises(UnicodeEncodeError):
        export_hierarchy(unwritable, old, overwrite=True)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


@pytest.mark.parametrize(
    ("parents", "fact"),
    [
        ({"golden retriever": ["dog"], "husky": ["dog"]}, "'golden retriever'"),
        ({"#1": ["dog"], "husky": ["dog"]}, "'#1'"),
        ({"dog": []}, "single node"),
    ],
)
def test_hierarchies_the_files_cannot_hold_are_refused(tmp_path: Path, parents, fact) -> None:
    with pytest.raises(HierarchyFileError) as err:
        export_hierarchy(Hierarchy.from_parents(parents), tmp_path / "out")
    assert fact in str(err.value) and "out" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_hierarchy_too_large_for_the_distance_file_is_refused(tmp_path: Path) -> None:
    star = Hierarchy.from_parents({f"leaf{i:05d}": ["root"] for i in range(MAX_EXPORT_NODES)})
    with pytest.raises(HierarchyFileError) as err:
        export_hierarchy(star, tmp_path / "out")
    assert "20,001 nodes" in str(err.value) and "200,030,001 node pairs" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_and_edge_order(tmp_path: Path) -> None:
    runner = CliRunner()
    source = tmp_path / "tree.txt"
    source.write_text("".join(f"{p} {c}\n" for c, ps in FILE_EDGES.items() for p in ps))
    out = tmp_path / "out"
    args = ["hierarchy", str(source), "--no-tree", "--export", str(out)]
    ambiguous = runner.invoke(app, args)
    assert ambiguous.exit_code == 2 and "--edge-order parent-child" in ambiguous.output
    assert not out.exists()

    ok = runner.invoke(app, [*args, "--edge-order", "parent-child"])
    assert ok.exit_code == 0, ok.output
    assert f"wrote {out}" in " ".join(ok.output.split())
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPORT_FILES)
    isa = (out / "isa.txt").read_text()
    assert "mammal pet\n" in isa and "domestic pet\n" in isa and isa.count("\n") == 13

    again = runner.invoke(app, [*args, "--edge-order", "parent-child"])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert [line.startswith("error: ") for line in again.stderr.splitlines()].count(True) == 1
    replaced = runner.invoke(app, [*args, "--edge-order", "parent-child", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (out / "isa.txt").read_text() == isa

    bad = runner.invoke(app, ["hierarchy", "cifar10", "--edge-order", "up"])
    assert bad.exit_code == 2 and "child-parent or parent-child" in bad.stderr
