"""The on-disk WordNet cache: read without NLTK, rebuilt when stale or damaged, same results.

Everything here runs the real WordNet 3.0 (Debian's files, and NLTK's reader to compare with)
and real cache files; a cache is built into a temporary ``$LABELSPACE_CACHE`` where a test
changes it.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from nltk.corpus.reader.wordnet import WordNetError

from labelspace.hierarchy import closures, nouns, wordnet_cache
from labelspace.hierarchy import wordnet as wnmod
from labelspace.hierarchy.sources import load_source
from labelspace.hierarchy.synset_names import UnknownSynsetError, resolve_synset


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A cache directory where the noun graph and the mammal closure were built.

    Returns (directory, the files as built, the graph as built).
    """
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABELSPACE_CACHE", str(root))
        patch.setattr(wordnet_cache, "_loaded", {})
        graph = nouns.noun_graph()
        closures.reference_mammal_closure()
    return root, {p.name: p.read_bytes() for p in root.glob("*.npz")}, graph


@pytest.fixture
def cache(built, monkeypatch):
    """The built cache directory as it was built, and no cache file read yet in this process."""
    root, files, _ = built
    for path in root.glob("*.npz"):
        path.unlink()
    for name, data in files.items():
        (root / name).write_bytes(data)
    monkeypatch.setenv("LABELSPACE_CACHE", str(root))
    monkeypatch.setattr(wordnet_cache, "_loaded", {})
    return root


def _forget(monkeypatch):
    """Make the next lookup read the cache file again, as a new process would."""
    monkeypatch.setattr(wordnet_cache, "_loaded", {})


def _no_nltk(monkeypatch):
    """Fail the test if anything opens NLTK's WordNet reader from now on."""

    def refuse():
        raise AssertionError("the WordNet cache should have answered without NLTK")

    monkeypatch.setattr(wnmod, "wordnet", refuse)
    monkeypatch.setattr(nouns, "wordnet", refuse)


def _same_graph(a: nouns.NounGraph, b: nouns.NounGraph) -> bool:
    arrays_a, arrays_b = a.arrays(), b.arrays()
    return arrays_a.keys() == arrays_b.keys() and all(
        np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a
    )


def test_a_built_cache_is_read_without_nltk(built, cache, monkeypatch):
    _, files, graph = built
    assert sorted(files) == ["wordnet-closure-mammals.npz", "wordnet-nouns.npz"]
    assert not list(cache.glob(".*"))  # written through temporary files, renamed into place
    _no_nltk(monkeypatch)
    loaded = nouns.noun_graph()
    assert loaded is not graph
    assert _same_graph(loaded, graph)  # what was built is what is read
    assert loaded.from_wnid("n02084071") == "dog.n.01"
    assert loaded.canonical("automobile.n.01") == "car.n.01"
    assert nouns.noun_graph() is loaded  # read once per process
    assert len(closures.reference_mammal_closure()) == 6_540


def test_the_cached_graph_is_what_nltk_reads(cache, monkeypatch):
    wn = wnmod.wordnet()
    synsets = list(wn.all_synsets("n"))
    _no_nltk(monkeypatch)
    graph = nouns.noun_graph()
    assert graph.names == [s.name() for s in synsets]
    assert graph.offsets.tolist() == [s.offset() for s in synsets]
    parents = nouns.noun_parents()
    for s in synsets:
        expected = {p.name() for p in s.hypernyms() + s.instance_hypernyms()}
        assert set(parents[s.name()]) == expected, s.name()
        assert len(parents[s.name()]) == len(expected)
    # the senses of every noun lemma, as NLTK's reader holds them (its index.noun table) ...
    position = {offset: i for i, offset in enumerate(graph.offsets.tolist())}
    senses = {
        lemma: [position[offset] for offset in by_pos["n"]]
        for lemma, by_pos in wn._lemma_pos_offset_map.items()
        if by_pos.get("n")
    }
    ours = {
        lemma: graph.sense_idx[graph.sense_ptr[j] : graph.sense_ptr[j + 1]].tolist()
        for j, lemma in enumerate(graph.lemmas)
    }
    assert ours == senses
    # ... and as its synset() reads names, up to one past the last sense, for a sample
    rng = np.random.default_rng(0)
    for lemma in rng.choice(sorted(senses), 2000, replace=False).tolist():
        for sense in itertools.count(1):
            name = f"{lemma}.n.{sense:02d}"
            try:
                expected = wn.synset(name).name()
            except WordNetError as err:
                with pytest.raises(nouns.SynsetLookupError, match=re.escape(str(err))):
                    graph.canonical(name)
                break
            assert graph.canonical(name) == expected, name


def test_names_resolve_as_nltk_resolves_them():
    wn = wnmod.wordnet()
    graph = nouns.noun_graph()
    for name in [
        "dog.n.01",
        "automobile.n.01",
        "Dog.N.02",
        "dog.n.00",
        "t-shirt.n.01",
        "mouse.n.4",
    ]:
        assert graph.canonical(name) == wn.synset(name).name(), name
    for bad in ["dog.n.99", "qqqq.n.01", "ice cream.n.01"]:
        with pytest.raises(nouns.SynsetLookupError) as ours:
            graph.canonical(bad)
        with pytest.raises(Exception) as theirs:
            wn.synset(bad)
        assert str(ours.value) == str(theirs.value)
    for offset in [2084071, 3472535, 1740]:
        assert (
            graph.from_wnid(f"n{offset:08d}") == wn.synset_from_pos_and_offset("n", offset).name()
        )
    assert graph.from_wnid("n02084072") is None  # inside dog's line: no synset starts there
    assert resolve_synset("n02084071") == "dog.n.01"
    with pytest.raises(UnknownSynsetError, match="only has"):
        resolve_synset("dog.n.99")


def _nltk_reference_ancestors(synset, memo):
    """The reference closure's ancestors of one synset, walked through NLTK's synsets."""

    def hypernym_closure(s):
        name = s.name()
        if name not in memo:
            acc = set()
            for h in s.hypernyms():
                acc.add(h.name())
                acc |= hypernym_closure(h)
            memo[name] = acc
        return memo[name]

    found = set(hypernym_closure(synset))
    if synset.instance_hypernyms():
        for hyper in synset.closure(lambda s: s.instance_hypernyms()):
            found.add(hyper.name())
            found |= hypernym_closure(hyper)
    return found


def test_reference_closures_equal_the_walk_through_nltk(cache, monkeypatch):
    wn = wnmod.wordnet()
    memo: dict[str, set[str]] = {}
    # mammals: the reference project's recipe, step by step, on NLTK's synsets
    mammal = wn.synset("mammal.n.01")
    below = {s.name(): s for s in mammal.closure(lambda s: s.hyponyms() + s.instance_hyponyms())}
    ancestors = {name: _nltk_reference_ancestors(s, memo) for name, s in below.items()}
    members = {name for name, anc in ancestors.items() if "mammal.n.01" in anc} | {"mammal.n.01"}
    pattern = re.compile("(" + "|".join(closures.MAMMAL_FILTER) + ")")
    expected = sorted(
        (child, parent)
        for child in members - {"mammal.n.01"}
        for parent in ancestors[child]
        if parent in members and not pattern.match(f"{child} {parent}")
    )
    _no_nltk(monkeypatch)
    assert closures.reference_mammal_closure() == expected  # read from the cache
    _forget(monkeypatch)
    (cache / "wordnet-closure-mammals.npz").unlink()
    assert closures.reference_mammal_closure() == expected  # built again from the cached graph
    # nouns: every instance (where the reference walk differs from the DAG) and a sample
    pairs = closures.reference_noun_closure()
    assert (cache / "wordnet-closure-nouns.npz").is_file()
    _forget(monkeypatch)
    assert closures.reference_noun_closure() == pairs
    assert pairs == sorted(pairs)
    by_child: dict[str, set[str]] = {}
    for child, ancestor in pairs:
        by_child.setdefault(child, set()).add(ancestor)
    synsets = list(wn.all_synsets("n"))
    rng = np.random.default_rng(0)
    sample = [s for s in synsets if s.instance_hypernyms()]
    sample += [synsets[i] for i in rng.choice(len(synsets), 3000, replace=False)]
    for s in sample:
        assert by_child.get(s.name(), set()) == _nltk_reference_ancestors(s, memo), s.name()


@pytest.mark.slow
def test_a_new_format_rebuilds(cache, monkeypatch):
    path = cache / "wordnet-closure-mammals.npz"
    before = path.stat().st_ino
    _forget(monkeypatch)
    monkeypatch.setattr(wordnet_cache, "CACHE_FORMAT", wordnet_cache.CACHE_FORMAT + 1)
    assert len(closures.reference_mammal_closure()) == 6_540
    assert path.stat().st_ino != before  # replaced
    _forget(monkeypatch)
    _no_nltk(monkeypatch)
    assert len(closures.reference_mammal_closure()) == 6_540  # the new file is read back


@pytest.mark.slow
def test_changed_wordnet_files_rebuild(built, cache, monkeypatch):
    graph = built[2]
    path = cache / "wordnet-nouns.npz"
    before = path.stat().st_ino
    key = wordnet_cache.version_key()
    data_noun = wnmod.corpus_dir() / "data.noun"
    stat = data_noun.stat()
    try:
        os.utime(data_noun, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert wordnet_cache.version_key() != key
        _forget(monkeypatch)
        assert _same_graph(nouns.noun_graph(), graph)
        assert path.stat().st_ino != before  # rebuilt, not read
    finally:
        os.utime(data_noun, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert wordnet_cache.version_key() == key


def test_changed_source_files_rebuild_the_layout(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in wnmod.REQUIRED_FILES:
        (source / name).write_bytes((wnmod.DEBIAN_WORDNET_DIR / name).read_bytes())
    target = tmp_path / "corpora" / "wordnet"
    assert wnmod.build_layout(source, target) == target
    first = (target / "data.noun").stat().st_ino
    assert wnmod.build_layout(source, target) == target
    assert (target / "data.noun").stat().st_ino == first  # up to date: kept
    stat = (source / "index.noun").stat()
    os.utime(source / "index.noun", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert wnmod.build_layout(source, target) == target
    assert (target / "data.noun").stat().st_ino != first  # copied again
    assert (target / "lexnames").read_text() == wnmod.lexnames_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["wordnet"]  # nothing left over
    for name in wnmod.REQUIRED_FILES:  # a source that is gone leaves the copy in use
        (source / name).unlink()
    assert wnmod.build_layout(source, target) == target


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damaged", "damage"),
    [
        ("wordnet-nouns.npz", lambda path: path.write_bytes(b"not a zip file")),
        ("wordnet-nouns.npz", lambda path: path.write_bytes(path.read_bytes()[:-1000])),
        ("wordnet-closure-mammals.npz", lambda path: path.write_bytes(b"")),
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_a_damaged_cache_is_rebuilt(built, cache, monkeypatch, damaged, damage):
    graph = built[2]
    pairs = closures.reference_mammal_closure()
    _forget(monkeypatch)
    damage(cache / damaged)
    assert _same_graph(nouns.noun_graph(), graph)
    assert closures.reference_mammal_closure() == pairs
    _forget(monkeypatch)
    _no_nltk(monkeypatch)  # the rebuilt file is whole again
    assert _same_graph(nouns.noun_graph(), graph)
    assert closures.reference_mammal_closure() == pairs


@pytest.mark.slow
def test_an_inconsistent_cache_is_rebuilt(built, cache, monkeypatch):
    graph = built[2]
    path = cache / "wordnet-nouns.npz"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["hypernym_idx"] = arrays["hypernym_idx"] + len(graph)  # parents that do not exist
    with open(path, "wb") as f:
        np.savez(f, **arrays)  # the right key, but contents no graph can have
    assert _same_graph(nouns.noun_graph(), graph)
    with np.load(path) as data:
        assert np.array_equal(data["hypernym_idx"], graph.hypernym_idx)


def test_sources_from_the_cache_equal_a_fresh_build(cache, monkeypatch):
    specs = ("mammals", "fashion-mnist", "cifar100", "n02084071,n02121808,n04490091")
    first = {spec: load_source(spec) for spec in specs}
    _forget(monkeypatch)
    for path in cache.glob("*.npz"):
        path.unlink()
    for spec, graph in first.items():
        again = load_source(spec)
        assert again.hierarchy == graph.hierarchy
        assert again.hierarchy.parents == graph.hierarchy.parents
        assert np.array_equal(again.pairs, graph.pairs), spec


def test_a_new_process_builds_hierarchies_without_nltk_or_torch():
    """With a warm cache, showing a dataset's hierarchy needs neither NLTK nor torch."""
    load_source("fashion-mnist")  # the default cache is warm from here on
    script = textwrap.dedent(
        """
        import sys
        from labelspace.embeddings.poincare_config import PoincareConfig
        from labelspace.hierarchy.sources import load_source
        graph = load_source("fashion-mnist")
        mammals = load_source("mammals")
        PoincareConfig(dim=5).validate()
        loaded = [name in sys.modules for name in ("nltk", "torch")]
        print(len(graph.hierarchy), len(mammals.pairs), *loaded)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "LABELSPACE_CACHE"}
    if "LABELSPACE_CACHE" in os.environ:  # the same cache as this process
        env["LABELSPACE_CACHE"] = os.environ["LABELSPACE_CACHE"]
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).parent,
    )
    assert out.stdout.split() == ["27", "6540", "False", "False"], out.stderr
