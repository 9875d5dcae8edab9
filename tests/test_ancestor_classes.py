"""A class whose WordNet synset lies above another class's synset (chair above windsor chair and
wheelchair) gets a leaf of its own under its synset, so that every class is a leaf and the
metrics, back-off, every label embedding and zero-shot work. Real WordNet, no mocks."""

from __future__ import annotations

import warnings

import pytest
import torch

from labelspace.analysis.backoff import backoff_curve, backoff_label
from labelspace.embeddings.build import KINDS
from labelspace.embeddings.space import LabelSpace, build_label_space, readable_name
from labelspace.embeddings.store import EmbeddingFileError, LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy, HierarchyError
from labelspace.hierarchy.mapping import SharedSynsetError, map_names
from labelspace.hierarchy.sources import load_source, own_leaf, split_own_leaf, wordnet_graph
from labelspace.metrics.hierarchical import summarize
from labelspace.metrics.zeroshot import resolve_unseen
from labelspace.models.methods import METHODS
from labelspace.models.options import MethodOptions

CLASSES = ["chair", "windsor_chair", "wheelchair", "dog"]
LEAF = "chair.n.01/chair"


def _synsets(names: list[str]) -> list[str]:
    with warnings.catch_warnings():  # "chair" and "dog" have several senses: the first is meant
        warnings.simplefilter("ignore")
        return map_names(names)


@pytest.fixture(scope="module")
def synsets() -> list[str]:
    found = _synsets(CLASSES)
    assert found == ["chair.n.01", "windsor_chair.n.01", "wheelchair.n.01", "dog.n.01"]
    return found


@pytest.fixture(scope="module")
def space(synsets) -> LabelSpace:
    return build_label_space("chairs", CLASSES, synsets, None)


@pytest.fixture(scope="module")
def spaces(synsets) -> dict[str, LabelSpace]:
    """One label space per embedding kind (text loads the bundled sentence encoder)."""
    return {kind: build_label_space("chairs", CLASSES, synsets, kind, dim=4) for kind in KINDS}


def test_the_ancestor_class_gets_a_leaf_of_its_own_and_its_synset_stays_inner(space, synsets):
    h = space.hierarchy
    assert space.synsets == synsets  # the dataset's synsets, as config.yaml keeps them
    assert space.nodes == [LEAF, *synsets[1:]] == list(h.classes)
    assert [h.nodes[p] for p in h.parents[h.index[LEAF]]] == ["chair.n.01"]
    assert "chair.n.01" in h and "chair.n.01" not in h.classes
    assert h.classes_below() == {}
    assert space.notes == [
        "class 'chair' is an ancestor of 'windsor_chair', 'wheelchair' in WordNet: it gets its "
        "own leaf chair.n.01/chair under chair.n.01"
    ]
    assert list(h.notes) == space.notes
    assert readable_name(LEAF) == "chair" and readable_name("windsor_chair.n.01") == "windsor chair"
    assert space.path_to_root(0)[:3] == ["chair", "seat", "furniture"]
    # the same classes always give the same hierarchy (a saved run is rebuilt from them)
    assert build_label_space("chairs", CLASSES, synsets, None).hierarchy == h
    # `labelspace embed "chair,windsor chair,..."` names the leaf alike
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = load_source("chair, Windsor chair, wheelchair, dog")
    assert list(graph.hierarchy.classes) == space.nodes


def test_leaf_names_never_collide_with_synset_names():
    assert own_leaf("chair.n.01", "Chair") == LEAF
    assert own_leaf("chair.n.01", "chair.n.01") == LEAF  # a synset name as the class name
    assert own_leaf("chair.n.01", "n03001627") == LEAF  # a wnid
    assert own_leaf("top.n.10", "T-shirt/top") == "top.n.10/t_shirt/top"
    assert split_own_leaf("top.n.10/t_shirt/top") == ("top.n.10", "t_shirt/top")
    assert split_own_leaf("24/7.n.01/24/7") == ("24/7.n.01", "24/7")
    for synset in ("chair.n.01", "24/7.n.01", "read/write_head.n.01", "<root>"):
        assert split_own_leaf(synset) is None


def test_lca_height_is_zero_exactly_on_the_diagonal(space):
    lca = space.lca_height
    h = space.hierarchy
    assert torch.equal(lca.diagonal(), torch.zeros(4, dtype=lca.dtype))
    assert bool((lca + torch.eye(4, dtype=lca.dtype) > 0).all())
    # the chair leaf and windsor chair meet at chair.n.01 (height 2: windsor chair sits under
    # straight chair), as do wheelchair and both; dog meets them far higher
    assert h.lca(LEAF, "windsor_chair.n.01") == h.lca(LEAF, "wheelchair.n.01") == "chair.n.01"
    height = int(h.height[h.index["chair.n.01"]])
    assert height == 2
    assert lca[0, 1] == lca[0, 2] == lca[1, 2] == height
    assert bool((lca[3, :3] > height).all())


def test_metrics_backoff_and_zero_shot_work(space, synsets):
    torch.manual_seed(0)
    scores = torch.randn(50, 4)
    targets = torch.arange(50) % 4
    metrics = summarize(scores, targets, space.lca_height, scores.softmax(1))
    for key in ("top1", "severity", "hdist@1", "hdist@5", "hp@1", "hp@2", "hp@5", "ece"):
        assert key in metrics
    # unsure between the chair leaf and windsor chair: back off to chair.n.01
    probs = torch.tensor([0.4, 0.35, 0.15, 0.1], dtype=torch.float64)
    assert backoff_label(probs, space.hierarchy, 0.0) == (LEAF, pytest.approx(0.4))
    node, confidence = backoff_label(probs, space.hierarchy, 0.8)
    assert (node, readable_name(node)) == ("chair.n.01", "chair")
    assert confidence == pytest.approx(0.9)
    curve = backoff_curve(scores.double().softmax(1), targets, space.hierarchy)
    assert 0 <= curve.auc <= 1
    assert resolve_unseen(["chair"], CLASSES, synsets) == [0]
    assert resolve_unseen(["chair.n.01", "windsor chair"], CLASSES, synsets) == [0, 1]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_embedding_kind_has_a_vector_per_class_and_reloads(kind, spaces, synsets, tmp_path):
    space = spaces[kind]
    vectors = space.class_vectors
    assert vectors.shape[0] == 4 and bool(torch.isfinite(vectors).all())
    assert torch.cdist(vectors, vectors).add(torch.eye(4)).min() > 1e-4  # four distinct points
    assert LEAF in space.embedding.labels
    assert space.embedding.synsets[space.embedding.index(LEAF)] is None  # not a WordNet synset
    space.save_embedding(tmp_path)
    loaded = build_label_space("chairs", CLASSES, synsets, tmp_path / "embedding.safetensors")
    assert loaded.nodes == space.nodes and loaded.hierarchy == space.hierarchy
    assert torch.equal(loaded.class_vectors, vectors)
    assert loaded.embedding.labels == space.embedding.labels


def test_the_text_of_the_leaf_is_the_class_name(spaces):
    from labelspace.embeddings.text import text_embedding

    emb = spaces["text"].embedding
    leaf = emb.vectors[emb.index(LEAF)]
    assert torch.allclose(leaf, text_embedding(["chair"]).vectors[0], atol=1e-5)
    assert not torch.allclose(leaf, emb.vectors[emb.index("chair.n.01")], atol=1e-3)


def test_the_sphere_embedding_follows_the_hierarchy_with_the_leaf(spaces):
    space = spaces["sphere"]
    v = space.class_vectors.double()
    max_height = float(space.hierarchy.height.max())
    expected = 1 - space.lca_height.double() / max_height
    assert torch.allclose(v @ v.T, expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_builds_and_scores_the_classes(name, space, spaces):
    kind = METHODS[name].embedding
    method_space = space if kind is None else spaces[kind]
    head, loss = METHODS[name].build(8, method_space, MethodOptions())
    with torch.no_grad():
        scores = loss.scores(head(torch.randn(3, 8)))
    assert scores.shape == (3, 4) and bool(torch.isfinite(scores).all())
    assert not any(n.endswith("#self") for n in getattr(loss, "output_nodes", ()))


def test_an_embedding_file_without_the_leaf_is_refused_with_the_reason(synsets, tmp_path):
    """Say an embedding of all WordNet nouns: it has chair.n.01 but not the class's leaf."""
    labels = [n for n in wordnet_graph("chairs", synsets, CLASSES).labels if n != LEAF]
    path = LabelEmbedding(labels, torch.randn(len(labels), 3), "random", "euclidean").save(
        tmp_path / "nouns.safetensors"
    )
    with pytest.raises(EmbeddingFileError, match=r"no vector for chair\.n\.01/chair.*ancestor"):
        build_label_space("chairs", CLASSES, synsets, path)


def test_water_lily_gets_a_leaf_above_lotus():
    names = ["water_lily", "lotus"]
    space = build_label_space("lilies", names, _synsets(names), None)
    assert space.nodes == ["water_lily.n.01/water_lily", "lotus.n.01"]
    assert space.lca_height.tolist() == [[0, 1], [1, 0]]


def test_other_class_problems_are_input_errors_before_training(synsets):
    with pytest.raises(SharedSynsetError):
        build_label_space("chairs", ["chair", "seat"], ["chair.n.01", "chair.n.01"], None)
    inner = Hierarchy.from_parents({"a": ["r"], "b": ["r"], "x": ["a"]}, ["a", "x", "b"])
    with pytest.raises(HierarchyError, match="'a' is above 'x'") as err:
        LabelSpace(["a", "x", "b"], ["a", "x", "b"], inner)
    assert isinstance(err.value, InputError)
