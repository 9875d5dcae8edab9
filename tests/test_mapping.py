"""Tests of labelspace.hierarchy.mapping against the real (offline) WordNet 3.0."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from labelspace.errors import InputError, MissingInputError
from labelspace.hierarchy.mapping import (
    AmbiguousNameWarning,
    SharedSynsetError,
    UnmappedNameError,
    map_names,
)
from labelspace.hierarchy.mapping_files import (
    DATASET_CLASSES,
    MappingFileError,
    UnknownDatasetError,
    dataset_classes,
    dataset_key,
    dataset_mapping,
    dataset_mapping_file,
    dataset_synsets,
    mapping_names,
    merge_mappings,
    read_mapping_file,
)
from labelspace.hierarchy.synset_names import UnknownSynsetError, normalize_name, resolve_synset
from labelspace.hierarchy.wnids import synset_from_wnid, wnid
from labelspace.hierarchy.wordnet import wordnet


@pytest.fixture(scope="module")
def wn():
    """The WordNet reader, loaded once for this module."""
    return wordnet()


def quiet_map(names, overrides=None):
    """map_names, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return map_names(names, overrides=overrides)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.tsv"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- input forms
def test_wnid_synset_name_and_plain_name(wn):
    assert quiet_map(["n02084071"]) == ["dog.n.01"]
    assert quiet_map(["N02084071 "]) == ["dog.n.01"]
    assert quiet_map(["dog.n.01"]) == ["dog.n.01"]
    assert quiet_map(["automobile.n.01"]) == ["car.n.01"]  # made canonical
    assert quiet_map(["automobile"]) == ["car.n.01"]  # one sense: no warning


def test_order_is_kept(wn):
    names = ["truck", "airplane", "n02084071", "automobile"]
    with pytest.warns(AmbiguousNameWarning):  # "truck" has two senses
        result = map_names(names)
    assert result == ["truck.n.01", "airplane.n.01", "dog.n.01", "car.n.01"]


def test_dataset_spellings(wn):
    with pytest.warns(AmbiguousNameWarning, match=r"'Ankle boot' matched only its part 'boot'"):
        assert map_names(["Ankle boot"]) == ["boot.n.01"]
    assert quiet_map(["T-shirt/top"]) == ["jersey.n.03"]  # the T-shirt, unambiguous
    with pytest.warns(AmbiguousNameWarning, match="car_side"):
        assert map_names(["car_side"]) == ["car.n.01"]
    # A modifier that is a kind of its head settles the sense: the tree, not the wood.
    assert quiet_map(["maple_tree"]) == ["maple.n.02"]
    assert quiet_map(["pickup_truck", "lawn_mower", "oak_tree"]) == [
        "pickup.n.01",
        "lawn_mower.n.01",
        "oak.n.02",
    ]
    with pytest.warns(AmbiguousNameWarning):
        assert map_names(["aquarium_fish"]) == ["fish.n.01"]
    with pytest.warns(AmbiguousNameWarning, match="sweet_pepper.n.02"):
        assert map_names(["sweet_pepper"]) == ["sweet_pepper.n.01"]
    assert quiet_map(["  Lawn Mower  "]) == ["lawn_mower.n.01"]


def test_plurals(wn):
    with pytest.warns(AmbiguousNameWarning):
        assert map_names(["mice", "Sneakers", "wolves"]) == [
            "mouse.n.01",
            "gym_shoe.n.01",
            "wolf.n.01",
        ]
    assert quiet_map(["bicycles", "skyscrapers"]) == ["bicycle.n.01", "skyscraper.n.01"]


def test_normalize_name():
    assert normalize_name("  Ankle  boot ") == "ankle_boot"
    assert normalize_name("T-shirt/top") == "t_shirt/top"
    assert normalize_name("lawn-mower") == normalize_name("Lawn Mower") == "lawn_mower"


# ------------------------------------------------------------------------------- ambiguity
def test_ambiguous_warning_names_choice_and_alternatives(wn):
    with pytest.warns(AmbiguousNameWarning) as record:
        assert map_names(["mouse"]) == ["mouse.n.01"]
    assert len(record) == 1
    message = str(record[0].message)
    assert "mouse.n.01" in message
    assert wn.synset("mouse.n.01").definition() in message  # the chosen sense's gloss
    assert "mouse.n.04" in message  # the computer mouse is offered ...
    assert wn.synset("mouse.n.04").definition() in message  # ... with its gloss
    assert "shiner.n.01" in message
    # how to override: a --mapping line first, the Python keyword after it
    assert "in a --mapping file with the line 'mouse<TAB>" in message
    assert message.index("--mapping") < message.index("overrides=")
    assert issubclass(AmbiguousNameWarning, UserWarning)


def test_one_warning_per_ambiguous_name(wn):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(SharedSynsetError, match="spellings of one name"):  # after the loop
            map_names(["mouse", "apple", "Mouse", "automobile"])
    messages = [str(w.message) for w in record if w.category is AmbiguousNameWarning]
    assert len(messages) == 2
    assert sum("'mouse'" in m or "'Mouse'" in m for m in messages) == 1
    assert sum("'apple'" in m for m in messages) == 1


def test_classes_sharing_a_synset_are_an_error(wn):
    with pytest.raises(SharedSynsetError) as info:
        quiet_map(["automobile", "dog", "car.n.01"], overrides={"dog": "dog.n.01"})
    assert isinstance(info.value, ValueError)
    assert info.value.groups == {"car.n.01": ["automobile", "car.n.01"]}
    assert str(info.value) == (
        "class names 'automobile' and 'car.n.01' both map to car.n.01. Each class needs a synset "
        "of its own, or their label embeddings would coincide: map one of them to another "
        "synset in a --mapping file (one 'name<TAB>synset' line per class; from Python: "
        "map_names(names, overrides={name: synset}))."
    )
    with pytest.raises(SharedSynsetError, match=r"'automobile', 'car' and 'n02958343' all map"):
        quiet_map(["automobile", "car", "n02958343"], overrides={"car": "car.n.01"})
    with pytest.raises(SharedSynsetError, match="all but one of them"):
        quiet_map(["automobile", "car", "n02958343"], overrides={"car": "car.n.01"})
    # the fix the message gives works
    assert quiet_map(["automobile", "car.n.01"], overrides={"automobile": "truck.n.01"}) == [
        "truck.n.01",
        "car.n.01",
    ]


def test_one_class_twice_is_an_error(wn):
    with pytest.raises(SharedSynsetError, match=r"^class name 'dog.n.01' is given twice\. "):
        quiet_map(["dog.n.01", "cat.n.01", "dog.n.01"])
    with pytest.raises(SharedSynsetError) as info:
        quiet_map(["Lawn Mower", "lawn-mower"])
    message = str(info.value)
    assert "'Lawn Mower' and 'lawn-mower' are spellings of one name" in message
    assert "both map to lawn_mower.n.01" in message
    assert "give each class once, under a name of its own" in message


def test_conflicting_override_spellings_are_an_input_error(wn):
    with pytest.raises(InputError, match="both name one class"):
        map_names(["mouse"], overrides={"Mouse": "mouse.n.01", "mouse": "mouse.n.04"})


# -------------------------------------------------------------------------------- unmapped
def test_unmapped_error_lists_every_name_with_candidates(wn):
    names = ["blorfzzq", "sneakr", "dog.n.01", "qwxzvkj"]
    with pytest.raises(UnmappedNameError) as info:
        map_names(names)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.names == ["blorfzzq", "sneakr", "qwxzvkj"]
    message = str(err)
    for name in err.names:
        assert repr(name) in message
    assert "gym_shoe.n.01" in err.candidates["sneakr"]  # "sneaker"
    assert len(err.candidates["sneakr"]) <= 5
    assert wn.synset("gym_shoe.n.01").definition() in message
    assert "name<TAB>synset" in message  # how to fix: a --mapping file first
    assert "in a --mapping file with one 'name<TAB>synset' line per name" in message
    assert message.index("--mapping") < message.index("overrides=")


def test_missing_identifiers_are_errors(wn):
    for bad in ["n99999999", "n02084072", "dog.n.99", "qqqq.n.01", "v01831531", "run.v.01"]:
        with pytest.raises(UnknownSynsetError, match=bad):
            map_names([bad])
    with pytest.raises(UnknownSynsetError):
        resolve_synset("dog")
    assert resolve_synset("n02084071") == "dog.n.01"
    with pytest.raises(TypeError):
        map_names("dog")


# ------------------------------------------------------------------------------- overrides
def test_dict_overrides_win(wn):
    overrides = {"mouse": "mouse.n.04", "Ankle Boot": "n03472535", "dog.n.01": "cat.n.01"}
    result = quiet_map(["Mouse", "ankle_boot", "dog.n.01", "automobile"], overrides=overrides)
    assert result == ["mouse.n.04", "gym_shoe.n.01", "cat.n.01", "car.n.01"]
    with pytest.raises(UnknownSynsetError, match="mouse"):
        map_names(["mouse"], overrides={"mouse": "mouse.n.99"})


def test_file_overrides_win(wn, tmp_path):
    path = write(
        tmp_path,
        "# my mapping\n\nmouse\tmouse.n.04\t# the computer device\nblorfzzq\tn02084071\n",
    )
    assert read_mapping_file(path) == {"mouse": "mouse.n.04", "blorfzzq": "dog.n.01"}
    for overrides in (path, str(path)):
        assert quiet_map(["mouse", "blorfzzq"], overrides=overrides) == [
            "mouse.n.04",
            "dog.n.01",
        ]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("mouse\tmouse.n.01\nbag\n", 2, "2 tab-separated columns"),
        ("# c\nmouse\tmouse.n.01\textra\n", 2, "found 3"),
        ("mouse mouse.n.01\n", 1, "found 1"),
        ("\n\nmouse\tmouse.n.77\n", 3, "mouse.n.77"),
        ("mouse\tn99999999\n", 1, "n99999999"),
        ("mouse\tmouse\n", 1, "neither a synset name"),
        ("mouse\tmouse.n.01\napple\tapple.n.01\nMouse\tmouse.n.04\n", 3, "line 1"),
        ("\tmouse.n.01\n", 1, "empty"),
    ],
)
def test_malformed_override_file(wn, tmp_path, text, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(MappingFileError) as info:
        read_mapping_file(path)
    assert info.value.line == line
    message = str(info.value)
    assert str(path) in message
    assert f"line {line}" in message
    assert problem in message
    with pytest.raises(MappingFileError):
        map_names(["mouse"], overrides=path)


def test_missing_or_unreadable_mapping_file_names_the_option(wn, tmp_path):
    missing = tmp_path / "nosuch.tsv"
    with pytest.raises(MissingInputError) as info:
        read_mapping_file(missing)
    assert str(info.value) == f"--mapping {missing}: no such file"
    with pytest.raises(MissingInputError, match="no such file"):
        map_names(["mouse"], overrides=missing)
    with pytest.raises(InputError) as info:
        read_mapping_file(tmp_path)
    assert str(info.value) == (
        f"--mapping {tmp_path} is a folder; give a file with one 'name<TAB>synset' line per class"
    )
    binary = write(tmp_path, "")
    binary.write_bytes(b"mouse\tmouse.n.01\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 17: "):
        read_mapping_file(binary)


def test_merge_mappings_replaces_a_respelled_name(wn):
    reviewed = {"Ankle boot": "boot.n.01", "Bag": "bag.n.04"}
    merged = merge_mappings(reviewed, {"ankle_boot": "gym_shoe.n.01"})
    assert merged == {"Bag": "bag.n.04", "ankle_boot": "gym_shoe.n.01"}
    assert quiet_map(["Ankle boot", "Bag"], overrides=merged) == ["gym_shoe.n.01", "bag.n.04"]


def test_duplicate_with_same_synset_is_fine(wn, tmp_path):
    path = write(tmp_path, "mouse\tmouse.n.01\nmouse\tn02330245\n")
    assert read_mapping_file(path) == {"mouse": "mouse.n.01"}


# --------------------------------------------------------------------------- shipped files
@pytest.mark.parametrize("dataset", sorted(DATASET_CLASSES))
def test_shipped_mapping_is_complete_and_valid(wn, dataset):
    classes = DATASET_CLASSES[dataset]
    mapping = dataset_mapping(dataset)
    assert set(mapping) == set(classes)
    assert len(classes) == len(set(classes))
    synsets = dataset_synsets(dataset)
    assert len(synsets) == len(classes)
    assert len(set(synsets)) == len(synsets)  # distinct senses
    for name in synsets:
        synset = wn.synset(name)
        assert synset.pos() == "n" and synset.name() == name
        assert synset_from_wnid(wnid(synset)) == synset
    assert quiet_map(classes, overrides=mapping) == synsets


def test_dataset_class_lists():
    assert len(DATASET_CLASSES["fashion-mnist"]) == 10
    assert DATASET_CLASSES["fashion-mnist"][0] == "T-shirt/top"
    assert DATASET_CLASSES["fashion-mnist"][9] == "Ankle boot"
    assert DATASET_CLASSES["cifar10"][1] == "automobile"
    assert len(DATASET_CLASSES["cifar100"]) == 100
    assert DATASET_CLASSES["cifar100"] == sorted(DATASET_CLASSES["cifar100"])
    assert DATASET_CLASSES["cifar100"][50] == "mouse"


def test_named_datasets_are_the_shipped_mapping_files():
    assert mapping_names() == ("cifar10", "cifar100", "fashion-mnist")
    assert list(DATASET_CLASSES) == list(mapping_names())
    assert dataset_key("CIFAR-10") == "cifar10" and dataset_key("FashionMNIST") == "fashion-mnist"
    assert dataset_key("imagenet") is None and dataset_mapping_file("imagenet") is None
    shipped = dataset_mapping_file("Fashion-MNIST")
    assert shipped is not None and shipped.name == "fashion-mnist.tsv"
    assert dataset_classes("fashion-mnist") == DATASET_CLASSES["fashion-mnist"]
    assert list(dataset_mapping("cifar10")) == DATASET_CLASSES["cifar10"]  # label order


def test_unknown_dataset():
    with pytest.raises(UnknownDatasetError, match="cifar100") as info:
        dataset_synsets("imagenet")
    assert "fashion-mnist" in str(info.value) and "cifar10" in str(info.value)
    assert dataset_mapping("CIFAR-10") == dataset_mapping("cifar10")
    assert dataset_synsets("FashionMNIST") == dataset_synsets("fashion-mnist")


def test_spot_checks(wn):
    cifar100 = dataset_mapping("cifar100")
    assert cifar100["mouse"] == "mouse.n.01"
    fish = wn.synset("fish.n.01")
    assert fish in wn.synset(cifar100["ray"]).closure(lambda s: s.hypernyms())
    for name, ancestor in [
        ("seal", "mammal.n.01"),
        ("tank", "military_vehicle.n.01"),
        ("plain", "land.n.04"),
        ("table", "furniture.n.01"),
        ("girl", "person.n.01"),
        ("maple_tree", "tree.n.01"),
        ("keyboard", "device.n.01"),
    ]:
        ancestors = wn.synset(cifar100[name]).closure(lambda s: s.hypernyms())
        assert wn.synset(ancestor) in ancestors, name
    cifar10 = dataset_mapping("cifar10")
    assert cifar10["automobile"] == "car.n.01"
    assert cifar10["dog"] == "dog.n.01"
    assert wnid(wn.synset(cifar10["dog"])) == "n02084071"
    fashion = dict(
        zip(DATASET_CLASSES["fashion-mnist"], dataset_synsets("fashion-mnist"), strict=True)
    )
    assert fashion["Sneaker"] == "gym_shoe.n.01"
    assert fashion["Ankle boot"] == "boot.n.01"
    assert fashion["T-shirt/top"] == "top.n.10"


@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10", "cifar100"])
def test_shipped_classes_are_leaves_of_their_hierarchy(dataset):
    """Classes are mutually exclusive labels: none may be an ancestor of another."""
    from labelspace.hierarchy.sources import load_source

    h = load_source(dataset).hierarchy
    assert all(h.height[h.index[c]] == 0 for c in h.classes)
