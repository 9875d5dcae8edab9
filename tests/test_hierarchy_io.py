"""Tests of labelspace.hierarchy.io: reading edge lists and JSON trees, writing edge lists."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelspace.hierarchy.graph import VIRTUAL_ROOT, Hierarchy, HierarchyError
from labelspace.hierarchy.io import HierarchyFileError, read_hierarchy
from labelspace.hierarchy.writing import write_edge_list

# animal > {mammal > {dog, cat}, pet > {dog, cat}}
PARENTS = {
    "mammal": ["animal"],
    "pet": ["animal"],
    "dog": ["mammal", "pet"],
    "cat": ["mammal", "pet"],
}
EXPECTED = Hierarchy.from_parents(PARENTS)


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def parent_names(h: Hierarchy) -> dict[str, set[str]]:
    return {h.nodes[i]: {h.nodes[p] for p in ps} for i, ps in enumerate(h.parents)}


def read_error(path: Path, classes=None) -> HierarchyFileError:
    with pytest.raises(HierarchyFileError) as err:
        read_hierarchy(path, classes)
    assert isinstance(err.value, HierarchyError)
    assert path.name in str(err.value)
    return err.value


# ------------------------------------------------------------------------- edge lists
def test_tsv_with_header_comments_blanks_whitespace_and_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "h.tsv",
        "# my labels\n"
        "child\tparent\n"
        "\n"
        "  mammal \t animal\n"
        "pet\tanimal\n"
        "   # indented comment\n"
        "dog\tmammal\n"
        "dog\tpet\n"
        "dog\tmammal\n"  # duplicate edge
        "cat\tmammal\n"
        "cat\tpet\n",
    )
    h = read_hierarchy(path)
    assert h == EXPECTED
    assert h.classes == ("cat", "dog")
    assert h.root == "animal"


def test_tsv_without_header_and_crlf(tmp_path: Path) -> None:
    lines = [f"{c}\t{p}" for c, ps in PARENTS.items() for p in ps]
    path = write(tmp_path, "h.tsv", "\r\n".join(lines) + "\r\n")
    assert read_hierarchy(path) == EXPECTED


def test_csv_with_header_bom_and_quoted_comma(tmp_path: Path) -> None:
    text = (
        "\ufeffChild, Parent\n"
        "mammal,animal\npet,animal\ndog,mammal\ndog,pet\ncat,mammal\ncat,pet\n"
        '"cat, tabby", cat\n'
    )
    h = read_hierarchy(write(tmp_path, "h.csv", text))
    assert parent_names(h)["cat, tabby"] == {"cat"}
    assert h.classes == ("cat, tabby", "dog")


@pytest.mark.parametrize("sep", ["\t", ","])
def test_txt_detects_the_separator(tmp_path: Path, sep: str) -> None:
    text = "# comment\n" + "".join(f"{c}{sep}{p}\n" for c, ps in PARENTS.items() for p in ps)
    assert read_hierarchy(write(tmp_path, "h.txt", text)) == EXPECTED


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    text = "".join(f"{c}\t{p}\n" for c, ps in PARENTS.items() for p in ps)
    assert read_hierarchy(write(tmp_path, "H.TSV", text)) == EXPECTED


def test_names_with_spaces_and_hash_inside(tmp_path: Path) -> None:
    path = write(tmp_path, "h.tsv", "golden retriever\tdog breed #1\n")
    h = read_hierarchy(str(path))  # str paths work too
    assert parent_names(h) == {"dog breed #1": set(), "golden retriever": {"dog breed #1"}}


def test_classes_argument(tmp_path: Path) -> None:
    text = "".join(f"{c}\t{p}\n" for c, ps in PARENTS.items() for p in ps) + "oak\tplant\n"
    path = write(tmp_path, "h.tsv", text)
    h = read_hierarchy(path, ["dog", "pet"])
    assert h.classes == ("dog", "pet")
    assert set(h.nodes) == {"dog", "pet", "mammal", "animal"}
    full = read_hierarchy(path, ["dog", "pet"], restrict_to_classes=False)
    assert "oak" in full.nodes and full.root == VIRTUAL_ROOT


# ------------------------------------------------------------------------- JSON
VERBOSE = {
    "name": "animal",
    "children": [
        {"name": "mammal", "children": [{"name": "dog"}, {"name": "cat", "children": []}]},
        {"name": "pet", "children": ["dog", {"name": "cat", "children": None}]},
    ],
}
COMPACT_VARIANTS = [
    {"animal": {"mammal": {"dog": {}, "cat": None}, "pet": {"dog": None, "cat": {}}}},
    {"animal": {"mammal": ["dog", "cat"], "pet": ["cat", "dog"]}},
    {"animal": [{"mammal": ["dog", "cat"]}, {"pet": {"dog": {}, "cat": {}}}]},
]


def test_json_verbose(tmp_path: Path) -> None:
    assert read_hierarchy(write(tmp_path, "h.json", json.dumps(VERBOSE))) == EXPECTED


@pytest.mark.parametrize("tree", COMPACT_VARIANTS)
def test_json_compact(tmp_path: Path, tree: dict) -> None:
    h = read_hierarchy(write(tmp_path, "h.json", json.dumps(tree, indent=2)))
    assert h == EXPECTED
    assert parent_names(h)["dog"] == {"mammal", "pet"}  # a DAG: dog has two parents


def test_json_compact_example_from_the_docs(tmp_path: Path) -> None:
    text = '{"animal": {"dog": {}, "cat": {"tabby": null}}}'
    h = read_hierarchy(write(tmp_path, "h.json", text))
    assert parent_names(h) == {
        "animal": set(),
        "dog": {"animal"},
        "cat": {"animal"},
        "tabby": {"cat"},
    }
    assert h.classes == ("dog", "tabby")


def test_json_merges_children_of_a_repeated_node(tmp_path: Path) -> None:
    tree = {"animal": {"dog": {"puppy": {}}}, "pet": {"dog": {}}}
    h = read_hierarchy(write(tmp_path, "h.json", json.dumps(tree)))
    assert h.classes == ("puppy",)  # dog has a child somewhere, so it is no leaf
    assert parent_names(h)["dog"] == {"animal", "pet"}
    assert h.root == VIRTUAL_ROOT


def test_json_verbose_ignores_scalar_metadata(tmp_path: Path) -> None:
    tree = {"name": "animal", "id": 7, "children": [{"name": "dog", "size": 3}]}
    h = read_hierarchy(write(tmp_path, "h.json", json.dumps(tree)))
    assert parent_names(h) == {"animal": set(), "dog": {"animal"}}


def test_json_top_level_list_of_trees(tmp_path: Path) -> None:
    tree = [{"name": "animal", "children": ["dog"]}, {"plant": ["oak"]}, "rock"]
    h = read_hierarchy(write(tmp_path, "h.json", json.dumps(tree)))
    assert h.root == VIRTUAL_ROOT
    assert set(h.classes) == {"dog", "oak", "rock"}


def test_all_formats_give_the_same_hierarchy(tmp_path: Path) -> None:
    edges = [(c, p) for c, ps in PARENTS.items() for p in ps]
    files = [
        write(tmp_path, "a.tsv", "".join(f"{c}\t{p}\n" for c, p in edges)),
        write(tmp_path, "a.csv", "child,parent\n" + "".join(f"{c},{p}\n" for c, p in edges)),
        write(tmp_path, "a.json", json.dumps(VERBOSE)),
        write(tmp_path, "b.json", json.dumps(COMPACT_VARIANTS[0])),
    ]
    hierarchies = [read_hierarchy(f) for f in files]
    assert all(h == EXPECTED for h in hierarchies)
    assert all(h.nodes == EXPECTED.nodes and h.parents == EXPECTED.parents for h in hierarchies)


# ------------------------------------------------------------------------- several roots
def test_several_roots_get_a_virtual_root_and_a_logged_note(tmp_path: Path, caplog) -> None:
    path = write(tmp_path, "forest.tsv", "dog\tanimal\noak\tplant\n")
    with caplog.at_level(logging.WARNING, logger="labelspace.hierarchy.io"):
        h = read_hierarchy(path)
    assert h.root == VIRTUAL_ROOT
    assert parent_names(h)["animal"] == {VIRTUAL_ROOT}
    assert len(h.notes) == 1 and "animal" in h.notes[0] and "plant" in h.notes[0]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(logged) == 1
    assert "forest.tsv" in logged[0] and h.notes[0] in logged[0]


def test_single_root_logs_nothing(tmp_path: Path, caplog) -> None:
    path = write(tmp_path, "h.tsv", "dog\tanimal\n")
    with caplog.at_level(logging.DEBUG, logger="labelspace.hierarchy.io"):
        read_hierarchy(path)
    assert caplog.records == []


# ------------------------------------------------------------------------- bad files
def test_missing_file(tmp_path: Path) -> None:
    err = read_error(tmp_path / "nowhere.tsv")
    assert "not found" in str(err)
    assert not (tmp_path / "nowhere.tsv").exists()


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.tsv").mkdir()
    assert "not a regular file" in str(read_error(tmp_path / "dir.tsv"))


def test_unknown_suffix(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "h.yaml", "animal: [dog]\n"))
    assert "'.yaml'" in str(err)
    assert ".tsv" in str(err) and ".json" in str(err)  # says what to use instead


@pytest.mark.parametrize(
    "text", ["", "\n\n  \n", "# only a comment\n\n# another\n", "child\tparent\n# nothing\n"]
)
def test_empty_edge_list(tmp_path: Path, text: str) -> None:
    err = read_error(write(tmp_path, "empty.tsv", text))
    assert "empty file" in str(err)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("dog\tanimal\ncat\tmammal\tanimal\n", "found 3"),
        ("dog\tanimal\ncat mammal\n", "found 1"),
        ("dog\tanimal\ncat\tmammal\t\n", "found 3"),  # a trailing tab is a third field
    ],
)
def test_wrong_number_of_fields(tmp_path: Path, text: str, found: str) -> None:
    err = read_error(write(tmp_path, "fields.tsv", text))
    assert err.line == 2
    assert "line 2" in str(err) and found in str(err) and "expected 2 fields" in str(err)
    assert "cat" in str(err)  # the offending line is shown


def test_wrong_number_of_fields_csv(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "fields.csv", "# c\ndog,animal\n\ntabby,cat,pet\n"))
    assert "line 4" in str(err) and "found 3" in str(err) and "quote" in str(err)


@pytest.mark.parametrize(
    ("name", "text", "role"),
    [
        ("x.tsv", "mammal\tanimal\ndog\t\n", "parent"),
        ("x.tsv", "mammal\tanimal\n\tanimal\n", "child"),
        ("x.csv", "mammal,animal\n ,animal\n", "child"),
        ("x.csv", 'mammal,animal\ndog,""\n', "parent"),
    ],
)
def test_empty_field(tmp_path: Path, name: str, text: str, role: str) -> None:
    err = read_error(write(tmp_path, name, text))
    assert f"empty {role}" in str(err) and "line 2" in str(err)


def test_self_loop(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "loop.tsv", "dog\tanimal\n# c\ndog\tdog\n"))
    assert "self-loop" in str(err) and "'dog'" in str(err) and "line 3" in str(err)


def test_cycle_names_nodes_and_lines(tmp_path: Path) -> None:
    text = "leaf\tanimal\nanimal\tmammal\nmammal\tdog\nx\ty\ndog\tanimal\n"
    err = read_error(write(tmp_path, "cycle.tsv", text))
    message = str(err)
    assert "cycle" in message
    for node in ("animal", "mammal", "dog"):
        assert node in message
    for line in ("line 2", "line 3", "line 5"):
        assert line in message
    assert "leaf" not in message and "line 1" not in message


def test_cycle_away_from_the_leaves(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "cycle.csv", "dog,animal\nx,y\ny,x\n"))
    assert "cycle" in str(err) and "line 2" in str(err) and "line 3" in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    err = read_error(
        write(tmp_path, "latin.tsv", "dog\tanimal\ncaf\xe9\tdrink\n".encode("latin-1"))
    )
    assert "UTF-8" in str(err) and err.line == 2


@pytest.mark.parametrize("text", ['{"animal": {"dog": }', '{"animal":\n  ["dog" "cat"]}'])
def test_invalid_json(tmp_path: Path, text: str) -> None:
    err = read_error(write(tmp_path, "bad.json", text))
    assert "invalid JSON" in str(err) and "column" in str(err)
    assert err.line == text.count("\n") + 1
    assert f"line {err.line}" in str(err)


def test_empty_json_file(tmp_path: Path) -> None:
    assert "empty file" in str(read_error(write(tmp_path, "empty.json", "  \n")))


@pytest.mark.parametrize(
    ("tree", "fact"),
    [
        (42, "top level"),
        ({}, "no nodes"),
        ([], "no nodes"),
        ({"animal": "dog"}, "$.animal"),
        ({"animal": {"dog": 3}}, "$.animal.dog"),
        ({"animal": ["dog", 7]}, "$.animal[1]"),
        ({"name": "animal", "children": {"name": "dog"}}, "not a list"),
        ({"name": 5, "children": []}, "not a string"),
        ({"name": "animal", "chidren": [{"name": "dog"}]}, "'chidren'"),
        ({"name": "animal", "children": [{"dog": {}}]}, "no 'name'"),
        ({"animal": {"": {}}}, "empty node name"),
    ],
)
def test_json_of_the_wrong_shape(tmp_path: Path, tree, fact: str) -> None:
    err = read_error(write(tmp_path, "shape.json", json.dumps(tree)))
    assert fact in str(err)


def test_json_duplicate_keys(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "dup.json", '{"animal": {"dog": {}, "dog": {"puppy": {}}}}'))
    assert "duplicate" in str(err) and "'dog'" in str(err)


def test_json_self_loop_and_cycle(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "loop.json", '{"animal": {"animal": {}}}'))
    assert "self-loop" in str(err) and "'animal'" in str(err)
    err = read_error(write(tmp_path, "cycle.json", '{"a": {"b": {"c": {"a": {}}}}}'))
    assert "cycle" in str(err) and all(n in str(err) for n in ("a", "b", "c"))


def test_missing_classes_are_all_listed(tmp_path: Path) -> None:
    names = [f"missing{i}" for i in range(30)]
    path = write(tmp_path, "h.tsv", "dog\tanimal\ncat\tanimal\n")
    err = read_error(path, ["dog", *names, "catt"])
    message = str(err)
    assert "31 of 32 classes" in message
    assert all(repr(n) in message for n in names) and "'catt'" in message
    assert "'cat'" in message  # the close match is suggested


def test_classes_must_not_be_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, "h.tsv", "dog\tanimal\n")
    with pytest.raises(TypeError):
        read_hierarchy(path, "dog")


def test_virtual_root_name_clash_names_the_file(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "clash.tsv", f"a\t{VIRTUAL_ROOT}\nb\tother\n"))
    assert VIRTUAL_ROOT in str(err)


def test_failed_read_changes_nothing(tmp_path: Path) -> None:
    text = "a\tb\nb\ta\n"
    path = write(tmp_path, "cycle.tsv", text)
    before = sorted(p.name for p in tmp_path.iterdir())
    mtime = path.stat().st_mtime_ns
    read_error(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert path.read_text() == text and path.stat().st_mtime_ns == mtime


# ------------------------------------------------------------------------- writing
def test_round_trip(tmp_path: Path) -> None:
    h = Hierarchy.from_parents(
        {**PARENTS, "primate": ["mammal"], "lemur": ["primate"], "oak": ["plant"]}
    )
    path = write_edge_list(h, tmp_path / "out.tsv")
    assert path == tmp_path / "out.tsv"
    back = read_hierarchy(path)
    assert back == h
    assert back.nodes == h.nodes and back.parents == h.parents and back.root == VIRTUAL_ROOT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]  # no temporary left


def test_round_trip_with_given_classes_and_tricky_names(tmp_path: Path) -> None:
    parents = {
        "golden retriever": ["dog, domestic"],
        "C#": ["language [x]"],
        "dog, domestic": ["thing"],
        "language [x]": ["thing"],
        "chat": ["thing"],
        "über": ["chat"],
    }
    h = Hierarchy.from_parents(parents, ["über", "golden retriever", "C#", "chat"])
    path = write_edge_list(h, tmp_path / "out.txt")
    assert read_hierarchy(path, h.classes) == h
    assert read_hierarchy(path).classes == ("C#", "golden retriever", "über")  # the leaves


def test_overwrite_refused_leaves_file_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path, "out.tsv", "precious\tdata\n")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_edge_list(EXPECTED, path)
    assert path.read_text() == "precious\tdata\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]
    write_edge_list(EXPECTED, path, overwrite=True)
    assert read_hierarchy(path) == EXPECTED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_write_refuses_what_cannot_round_trip(tmp_path: Path) -> None:
    with pytest.raises(HierarchyFileError, match=r"\.csv"):
        write_edge_list(EXPECTED, tmp_path / "out.csv")
    with pytest.raises(HierarchyFileError, match="single node"):
        write_edge_list(Hierarchy.from_parents({"alone": []}), tmp_path / "one.tsv")
    for bad in ("tab\there", " padded", "#comment"):
        h = Hierarchy.from_parents({bad: ["root"]})
        with pytest.raises(HierarchyFileError, match="cannot be written"):
            write_edge_list(h, tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError):
        write_edge_list(EXPECTED, tmp_path / "no" / "such" / "dir.tsv")
    assert list(tmp_path.iterdir()) == []


@st.composite
def random_hierarchies(draw):
    n = draw(st.integers(2, 10))
    names = draw(
        st.lists(
            st.text(st.sampled_from("ab ,#[]é-"), min_size=1, max_size=5)
            .map(str.strip)
            .filter(lambda s: s and not s.startswith("#")),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    parents = {
        names[i]: [names[j] for j in draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=3))]
        for i in range(1, n)
    }
    return Hierarchy.from_parents(parents)


@settings(max_examples=60, deadline=None)
@given(random_hierarchies())
def test_round_trip_random(h: Hierarchy) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_edge_list(h, Path(tmp) / "h.tsv")
        back = read_hierarchy(path)
    assert back == h
    assert back.nodes == h.nodes and back.parents == h.parents
