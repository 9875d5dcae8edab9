"""ImageNet's class lists as hierarchy sources (timm's installed wnid lists), the hierarchy they
give before and after the speed-ups, and the shipped embedding that stands in for training on
exactly ImageNet-1k's classes."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.embeddings import build, reuse
from labelspace.embeddings.poincare_config import PoincareConfig
from labelspace.embeddings.pretrained import PRETRAINED_DIR, catalogue, pretrained, shipped_for
from labelspace.embeddings.space import build_label_space
from labelspace.embeddings.store import LabelEmbedding
from labelspace.hierarchy import wnid_lists
from labelspace.hierarchy.mapping import map_names
from labelspace.hierarchy.nouns import _induced_parents_nltk, induced_parents
from labelspace.hierarchy.sources import LabelGraph, SourceError, load_source, split_own_leaf
from labelspace.hierarchy.synset_names import identifier_synset
from labelspace.hierarchy.wnids import synset_from_wnid

SHIPPED_1K = "imagenet-1k-poincare-32d"
# every 73rd wnid of ImageNet-21k: 300 classes, 933 nodes, 3 classes with leaves of their own
SAMPLE_STEP = 73
# sha256 of the sample's hierarchy (nodes, parents, classes, root, closure pairs) as the code
# before the speed-ups built it (commit 61f47f8)
SAMPLE_DIGEST = "1368f5c4aec3e985508ed61ae44af36670c06c1ae5b428dd20d4bd2ab4017de2"

runner = CliRunner()


@pytest.fixture(scope="module")
def imagenet() -> LabelGraph:
    return load_source("imagenet")


@pytest.fixture
def fresh_lists():
    """No wnid list read yet, before and after the test (its entries may be changed)."""
    wnid_lists.wnid_list.cache_clear()
    yield
    wnid_lists.wnid_list.cache_clear()


def _digest(graph: LabelGraph) -> str:
    h = graph.hierarchy
    record = {
        "nodes": list(h.nodes),
        "parents": [list(p) for p in h.parents],
        "classes": list(h.classes),
        "root": h.root,
        "pairs": graph.pairs.tolist(),
    }
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()


# --------------------------------------------------------------------------- the sources
def test_imagenet_is_the_1000_ilsvrc_classes_all_leaves(imagenet):
    h = imagenet.hierarchy
    wnids = wnid_lists.wnid_list("imagenet")
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and list(wnids) == sorted(wnids)
    assert h.classes == tuple(identifier_synset(w) for w in wnids)  # in the file's order
    assert not h.classes_below() and not h.notes
    assert all(not h.children[h.index[c]] for c in h.classes)
    assert (imagenet.name, h.root, len(h), h.num_edges) == ("imagenet", "entity.n.01", 1860, 1937)
    assert len(imagenet.pairs) == 19_646


@pytest.mark.parametrize("spelling", ["imagenet-1k", "ImageNet-1K", "imagenet_1k", "IMAGENET"])
def test_imagenet_1k_is_imagenet(imagenet, spelling):
    graph = load_source(spelling)
    assert graph.name == "imagenet" and graph.hierarchy == imagenet.hierarchy
    assert torch.equal(torch.as_tensor(graph.pairs), torch.as_tensor(imagenet.pairs))


def test_imagenet_is_the_pretrained_imagenet_1k_list_and_an_ilsvrc_folder(imagenet):
    entry = catalogue()[SHIPPED_1K]
    listed = (PRETRAINED_DIR / entry.source).read_text(encoding="utf-8").split()
    assert tuple(listed) == wnid_lists.wnid_list("imagenet")
    assert load_source(entry.hierarchy_source).hierarchy == imagenet.hierarchy
    # an ILSVRC folder's classes are its wnid folders, sorted: the same label space
    wnids = sorted(listed)
    space = build_label_space("ILSVRC2012", wnids, map_names(wnids), None)
    assert space.hierarchy == imagenet.hierarchy


def test_imagenet12k_and_21k():
    for name, classes, nodes in (("imagenet12k", 11_821, 16_233), ("imagenet21k", 21_843, 28_136)):
        graph = load_source(name)
        h = graph.hierarchy
        assert (graph.name, len(h.classes), len(h), h.root) == (name, classes, nodes, "entity.n.01")
        assert not h.classes_below()  # classes above others got leaves of their own
        assert len(h.notes) == sum(1 for c in h.classes if split_own_leaf(c) is not None)


def test_the_name_wins_over_a_file_of_that_name(imagenet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imagenet").write_text("animal\tdog\n", encoding="utf-8")
    assert load_source("imagenet").hierarchy == imagenet.hierarchy
    with pytest.raises(SourceError, match="leave --edge-order out"):
        load_source("imagenet", edge_order="parent-child")


def test_an_unknown_name_lists_the_wnid_lists():
    with pytest.raises(SourceError, match=r"imagenet, imagenet12k, imagenet21k"):
        load_source("imagenet22k")


def test_a_missing_timm_file_says_what_to_do(monkeypatch, fresh_lists):
    entry = wnid_lists.WNID_LISTS["imagenet12k"]
    monkeypatch.setitem(
        wnid_lists.WNID_LISTS, "imagenet12k", replace(entry, resource="data/_info/gone.txt")
    )
    with pytest.raises(wnid_lists.WnidListError, match=r"gone\.txt.*reinstall timm"):
        load_source("imagenet12k")
    result = runner.invoke(app, ["hierarchy", "imagenet12k"])
    assert result.exit_code == 2 and "reinstall timm" in result.output
    monkeypatch.setitem(
        wnid_lists.WNID_LISTS, "imagenet12k", replace(entry, package="no_such_package_here")
    )
    with pytest.raises(wnid_lists.WnidListError, match=r"not installed.*pip install"):
        load_source("imagenet12k")


def test_the_cli_prints_the_tree_and_the_summary():
    result = runner.invoke(app, ["hierarchy", "imagenet", "--max-nodes", "40"])
    assert result.exit_code == 0, result.output
    for text in ("entity.n.01", "1,000", "1,860", "19,646", "more lines not shown"):
        assert text in result.output
    # 4,589 notes, some naming thousands of classes: ten are shown, each shortened
    result = runner.invoke(app, ["hierarchy", "imagenet21k", "--no-tree"])
    assert result.exit_code == 0, result.output
    assert "28,136" in result.output and "4,579 more like these" in result.output
    assert len(result.output.splitlines()) < 200


# --------------------------------------------------------------------------- the speed-ups
def test_the_speed_up_keeps_the_hierarchy():
    """A sample of 300 ImageNet-21k wnids gives what the code before the speed-ups gave, and
    what NLTK's reader (the slow path) gives: the same synsets and parents."""
    wnids = wnid_lists.wnid_list("imagenet21k")[::SAMPLE_STEP]
    graph = load_source(",".join(wnids))
    assert len(wnids) == 300 and len(graph.hierarchy) == 933
    assert _digest(graph) == SAMPLE_DIGEST
    synsets = map_names(list(wnids))
    assert synsets == [synset_from_wnid(w).name() for w in wnids]
    ours, nltk = induced_parents(synsets), _induced_parents_nltk(synsets)
    assert ours.keys() == nltk.keys()
    assert all(sorted(ours[k]) == sorted(nltk[k]) for k in ours)


# --------------------------------------------------------------------------- label spaces
def test_the_shipped_embedding_stands_in_for_training_on_imagenet_classes(caplog):
    wnids = list(wnid_lists.wnid_list("imagenet"))
    with caplog.at_level(logging.INFO, logger="labelspace.progress"):
        space = build_label_space("ILSVRC2012", wnids, map_names(wnids), "poincare", dim=32)
    emb = space.embedding
    assert emb.training["pretrained"] == SHIPPED_1K and emb.training["source"] == "ILSVRC2012"
    assert emb.labels == list(space.hierarchy.nodes)
    assert torch.equal(emb.vectors, pretrained(SHIPPED_1K).subset(emb.labels).vectors)
    assert f"using the shipped pretrained:{SHIPPED_1K}" in caplog.text


def test_the_shipped_embedding_only_for_the_options_it_was_trained_with(imagenet):
    assert shipped_for(imagenet, "poincare", PoincareConfig(dim=32)) is not None
    for kind, config in [
        ("poincare", PoincareConfig(dim=32, seed=1)),
        ("poincare", PoincareConfig(dim=10)),
        ("poincare", PoincareConfig(dim=32, epochs=100)),
        ("euclidean", PoincareConfig(dim=32)),
    ]:
        assert shipped_for(imagenet, kind, config) is None, (kind, config)
    fewer = map_names(list(wnid_lists.wnid_list("imagenet"))[:999])
    space = build_label_space("fewer", fewer, fewer, None)
    other = LabelGraph("fewer", space.hierarchy, space.hierarchy.closure(), wordnet=True)
    assert shipped_for(other, "poincare", PoincareConfig(dim=32)) is None


@pytest.fixture
def counted_builds(monkeypatch) -> list[PoincareConfig]:
    """Every label embedding built from now on (random vectors, built at once), by config."""
    built: list[PoincareConfig] = []

    def fake(graph, kind, *, config, device="cpu", on_epoch=None) -> LabelEmbedding:
        built.append(config)
        vectors = torch.rand(len(graph.labels), config.dim) * 0.1
        return LabelEmbedding(graph.labels, vectors, kind, "poincare", 1.0, graph.synsets)

    monkeypatch.setattr(build, "build_embedding", fake)
    return built


def test_a_comparison_builds_each_label_embedding_once(counted_builds):
    graph = load_source("fashion-mnist")
    config = PoincareConfig(dim=5)
    with reuse.built_once():
        first = reuse.label_embedding(graph, "poincare", config)
        again = reuse.label_embedding(graph, "poincare", config)
        reuse.label_embedding(graph, "poincare", replace(config, seed=1))
    assert len(counted_builds) == 2  # one per seed
    assert torch.equal(first.vectors, again.vectors) and first.vectors is not again.vectors
    reuse.label_embedding(graph, "poincare", config)
    assert len(counted_builds) == 3  # outside a comparison, every call builds


def test_use_shipped_false_trains(counted_builds):
    wnids = list(wnid_lists.wnid_list("imagenet"))
    space = build_label_space("in", wnids, map_names(wnids), "poincare", dim=32, use_shipped=False)
    assert len(counted_builds) == 1 and "pretrained" not in space.embedding.training


def test_training_a_label_embedding_logs_its_progress(monkeypatch, caplog):
    monkeypatch.setattr(reuse, "PROGRESS_EVERY_S", 0.0)
    graph = load_source("fashion-mnist")
    with caplog.at_level(logging.INFO, logger="labelspace.progress"):
        reuse.label_embedding(graph, "poincare", PoincareConfig(dim=2, epochs=3, batch_size=16))
    lines = [r.getMessage() for r in caplog.records if r.name == "labelspace.progress"]
    assert "training it (3 epochs)" in lines[0] and "10 classes (27 nodes)" in lines[0]
    assert any("epoch 1/3" in line for line in lines) and "built in" in lines[-1]
    assert reuse.progress_log.getEffectiveLevel() == logging.INFO  # shown without --verbose
