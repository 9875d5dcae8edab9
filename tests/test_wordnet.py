"""Offline WordNet 3.0 and the reference closures."""

import pytest

from labelspace.hierarchy import closures, wnids
from labelspace.hierarchy import wordnet as wnmod
from labelspace.hierarchy.sources import SourceError, from_closure, load_source


def test_wnids_are_imagenet_ids():
    dog = wnids.synset_from_wnid("n02084071")
    assert dog.name() == "dog.n.01"
    assert wnids.wnid(dog) == "n02084071"
    assert wnmod.wordnet().get_version() == "3.0"


def test_a_wnid_is_n_and_eight_digits():
    assert wnids.is_wnid("n02084071")
    for other in ["v01831531", "N02084071", "n0208407", "n020840711", "dog.n.01", " n02084071"]:
        assert not wnids.is_wnid(other), other
    assert wnids.is_offset_id("v01831531")  # a verb's id: the form, refused as not a noun
    assert wnids.is_identifier("dog.n.01") and wnids.is_identifier("n02084071")
    assert not wnids.is_identifier("t_shirt/top")


def test_lexnames_has_45_lines_in_order():
    lines = wnmod.lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[44] == "44\tadj.ppl\t3"


def test_reference_noun_closure_counts():
    pairs = closures.reference_noun_closure()
    assert len(pairs) == 743_086
    assert len({n for p in pairs for n in p}) == 82_115
    assert ("dog.n.01", "entity.n.01") in set(pairs)


def test_reference_mammal_closure_counts():
    pairs = closures.reference_mammal_closure()
    nodes = {n for p in pairs for n in p}
    assert len(pairs) == 6_540
    assert len(nodes) == 1_180
    assert "mammal.n.01" in nodes
    # the reference filter drops tusker's and female_mammal's outgoing pairs
    assert not any(child in ("tusker.n.01", "female_mammal.n.01") for child, _ in pairs)


def test_mammal_hierarchy_from_closure_is_consistent():
    graph = load_source("mammals")
    h = graph.hierarchy
    assert h.root == "mammal.n.01"
    assert len(h) == 1_180
    assert {tuple(p) for p in graph.pairs} == {tuple(p) for p in h.closure()}


def test_from_closure_reduces_transitively():
    h = from_closure([("b", "a"), ("c", "b"), ("c", "a")])
    assert h.parents[h.index["c"]] == (h.index["b"],)


def test_missing_wordnet_files_name_them_and_write_nothing(tmp_path):
    source = tmp_path / "wn"
    source.mkdir()
    (source / "data.noun").write_text("x")
    target = tmp_path / "cache" / "corpora" / "wordnet"
    with pytest.raises(wnmod.WordNetNotFoundError, match=r"index\.noun") as info:
        wnmod.build_layout(source, target)
    assert "apt-get install wordnet-base wordnet-sense-index" in str(info.value)
    assert not target.exists()
    assert not any((tmp_path / "cache").rglob("*")) if (tmp_path / "cache").exists() else True


def test_build_layout_copies_files_not_links(tmp_path):
    target = tmp_path / "corpora" / "wordnet"
    out = wnmod.build_layout(wnmod.DEBIAN_WORDNET_DIR, target)
    assert (out / "lexnames").read_text() == wnmod.lexnames_text()
    assert not (out / "data.noun").is_symlink()
    assert (out / "index.sense").stat().st_size > 0


def test_unknown_source_says_what_is_accepted():
    with pytest.raises(SourceError, match="fashion-mnist"):
        load_source("qwzxvbnm")
