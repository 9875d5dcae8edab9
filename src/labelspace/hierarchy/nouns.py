"""WordNet's noun synsets as flat tables, read from the corpus's own files and cached.

What labelspace's hierarchies need of WordNet is small: the noun synsets' names and offsets,
their (instance) hypernyms and the noun lemmas' senses. :class:`NounGraph` reads these from
the corpus's index.noun and data.noun (as NLTK reads them; the tests compare the two on every
noun), and :func:`noun_graph` keeps them in the WordNet cache
(:mod:`labelspace.hierarchy.wordnet_cache`), so a hierarchy is built without importing NLTK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from labelspace.hierarchy.graph import Hierarchy, reachable
from labelspace.hierarchy.wordnet import INSTALL_HINT, WordNetNotFoundError, corpus_dir, wordnet
from labelspace.hierarchy.wordnet_cache import cached


class SynsetLookupError(LookupError):
    """A noun synset name that names no synset (the message is NLTK's for the same name)."""


def _csr(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and values of a list of integer lists (row i is ``values[ptr[i]:ptr[i + 1]]``)."""
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(row) for row in lists])
    values = np.fromiter((v for row in lists for v in row), dtype=np.int32, count=int(ptr[-1]))
    return ptr, values


def _rows(ptr: np.ndarray, values: np.ndarray) -> list[list[int]]:
    flat = values.tolist()
    bounds = ptr.tolist()
    return [flat[a:b] for a, b in pairwise(bounds)]


def _check_csr(ptr: np.ndarray, values: np.ndarray, rows: int, limit: int, what: str) -> None:
    if (
        ptr.dtype.kind != "i"
        or values.dtype.kind != "i"
        or ptr.shape != (rows + 1,)
        or ptr[0] != 0
        or ptr[-1] != len(values)
        or (np.diff(ptr) < 0).any()
        or (len(values) and (values.min() < 0 or values.max() >= limit))
    ):
        raise ValueError(f"inconsistent {what} table")


def _encode_lines(lines: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\n".join(lines).encode(), dtype=np.uint8)


def _decode_lines(blob: np.ndarray) -> list[str]:
    return blob.tobytes().decode().split("\n") if len(blob) else []


_VERSION = re.compile(r"Word[nN]et (\d+\+?|\d+\.\d+) Copyright")  # as NLTK finds it


def _data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a WordNet index or data file, past its licence header.

    The header (lines that start with a space) names the WordNet version; labelspace needs
    3.0, whose offsets are ImageNet's wnids.
    """
    with open(path, encoding="utf-8") as f:
        version = None
        for number, line in enumerate(f, 1):
            if line[:1].isspace():
                match = _VERSION.search(line) if version is None else None
                version = match.group(1) if match else version
                continue
            if version != "3.0":
                raise WordNetNotFoundError(
                    f"labelspace needs WordNet 3.0 (its offsets are ImageNet's wnids); {path} "
                    f"holds WordNet {version or '(version not stated)'}. {INSTALL_HINT}"
                )
            yield number, line


@dataclass(frozen=True, eq=False)
class NounGraph:
    """WordNet's noun synsets as flat tables (what labelspace's hierarchies need of WordNet).

    Synset ``i`` is ``names[i]`` at byte offset ``offsets[i]`` of data.noun (file order, so
    offsets ascend). Its hypernyms and instance hypernyms are rows of two CSR tables (sorted
    by offset, so the order does not depend on NLTK's set order); noun lemma ``lemmas[j]`` has
    the senses (synset indices, most frequent first) in row ``j`` of a third.
    """

    names: list[str]
    offsets: np.ndarray
    hypernym_ptr: np.ndarray
    hypernym_idx: np.ndarray
    instance_ptr: np.ndarray
    instance_idx: np.ndarray
    lemmas: list[str]
    sense_ptr: np.ndarray
    sense_idx: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        offsets = self.offsets
        if offsets.dtype.kind != "i" or offsets.shape != (n,) or (np.diff(offsets) <= 0).any():
            raise ValueError("synset offsets must ascend, one per name")
        _check_csr(self.hypernym_ptr, self.hypernym_idx, n, n, "hypernym")
        _check_csr(self.instance_ptr, self.instance_idx, n, n, "instance hypernym")
        _check_csr(self.sense_ptr, self.sense_idx, len(self.lemmas), n, "sense")

    # ------------------------------------------------------------------- building and storing
    @classmethod
    def from_files(cls, corpus: Path) -> NounGraph:
        """Read the graph from a WordNet 3.0 corpus's index.noun and data.noun (about a second).

        The files are read as NLTK's reader reads them (tests compare the two on every noun):
        a synset is named after its first lemma and that lemma's sense number in index.noun;
        its hypernyms and instance hypernyms are its semantic ``@`` and ``@i`` pointers.
        """
        senses: dict[str, list[int]] = {}  # lemma -> offsets of its senses, as index.noun
        for number, line in _data_lines(corpus / "index.noun"):
            tokens = line.split()
            try:
                count, pointers = int(tokens[2]), int(tokens[3])
                first = 4 + pointers + 2  # after the pointer symbols and the two sense counts
                offsets = [int(t) for t in tokens[first : first + count]]
                if len(offsets) != count:
                    raise ValueError("fewer offsets than synsets")
            except (IndexError, ValueError) as exc:
                raise ValueError(f"{corpus / 'index.noun'}, line {number}: {exc}") from None
            senses[tokens[0]] = offsets
        names: list[str] = []
        offsets_in_file: list[int] = []
        links: list[tuple[list[int], list[int]]] = []  # hypernym, instance hypernym offsets
        for number, line in _data_lines(corpus / "data.noun"):
            tokens = line.split("|", 1)[0].split()  # the gloss follows "|"
            try:
                offset, pos, lemmas = int(tokens[0]), tokens[2], int(tokens[3], 16)
                lemma = re.match(r"(.*?)(\(.*\))?$", tokens[4]).group(1).lower()
                at = 4 + 2 * lemmas
                hypernyms: list[int] = []
                instance: list[int] = []
                for k in range(int(tokens[at])):
                    symbol, target, target_pos, source_target = tokens[
                        at + 1 + 4 * k : at + 5 + 4 * k
                    ]
                    if source_target == "0000" and target_pos == "n":  # a semantic pointer
                        if symbol == "@":
                            hypernyms.append(int(target))
                        elif symbol == "@i":
                            instance.append(int(target))
                sense = senses[lemma].index(offset) + 1
            except (IndexError, KeyError, ValueError) as exc:
                raise ValueError(f"{corpus / 'data.noun'}, line {number}: {exc!r}") from None
            names.append(f"{lemma}.{pos}.{sense:02d}")
            offsets_in_file.append(offset)
            links.append((hypernyms, instance))
        position = {offset: i for i, offset in enumerate(offsets_in_file)}
        hypernym_ptr, hypernym_idx = _csr([sorted({position[o] for o in h}) for h, _ in links])
        instance_ptr, instance_idx = _csr([sorted({position[o] for o in i}) for _, i in links])
        lemmas = list(senses)
        sense_ptr, sense_idx = _csr([[position[o] for o in senses[x]] for x in lemmas])
        return cls(
            names=names,
            offsets=np.asarray(offsets_in_file, dtype=np.int64),
            hypernym_ptr=hypernym_ptr,
            hypernym_idx=hypernym_idx,
            instance_ptr=instance_ptr,
            instance_idx=instance_idx,
            lemmas=lemmas,
            sense_ptr=sense_ptr,
            sense_idx=sense_idx,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "names": _encode_lines(self.names),
            "offsets": self.offsets,
            "hypernym_ptr": self.hypernym_ptr,
            "hypernym_idx": self.hypernym_idx,
            "instance_ptr": self.instance_ptr,
            "instance_idx": self.instance_idx,
            "lemmas": _encode_lines(self.lemmas),
            "sense_ptr": self.sense_ptr,
            "sense_idx": self.sense_idx,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> NounGraph:
        fields = {name: np.asarray(arrays[name]) for name in cls.__dataclass_fields__}
        fields["names"] = _decode_lines(fields["names"])
        fields["lemmas"] = _decode_lines(fields["lemmas"])
        return cls(**fields)

    # ------------------------------------------------------------------------------- lookups
    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def index(self) -> dict[str, int]:
        """Canonical synset name -> position."""
        return {name: i for i, name in enumerate(self.names)}

    @cached_property
    def _lemma_index(self) -> dict[str, int]:
        return {lemma: j for j, lemma in enumerate(self.lemmas)}

    @cached_property
    def hypernyms(self) -> list[list[int]]:
        return _rows(self.hypernym_ptr, self.hypernym_idx)

    @cached_property
    def instance_hypernyms(self) -> list[list[int]]:
        return _rows(self.instance_ptr, self.instance_idx)

    def parents(self, i: int) -> list[int]:
        """Hypernyms, then instance hypernyms, of synset ``i``."""
        return self.hypernyms[i] + self.instance_hypernyms[i]

    def from_wnid(self, identifier: str) -> str | None:
        """Name of the noun synset with wnid ``identifier`` (``n`` + 8 digits), or None."""
        offset = int(identifier[1:])
        i = int(np.searchsorted(self.offsets, offset))
        return self.names[i] if i < len(self.offsets) and self.offsets[i] == offset else None

    def canonical(self, name: str) -> str:
        """The synset a noun synset name such as ``automobile.n.01`` denotes, as NLTK reads it.

        Raises :class:`SynsetLookupError` (with NLTK's message) for an unknown lemma or sense.
        """
        lemma, pos, sense = name.lower().rsplit(".", 2)
        if pos != "n":
            raise ValueError(f"{name!r} is not a noun synset name")
        j = self._lemma_index.get(lemma)
        if j is None:
            raise SynsetLookupError(f"No lemma {lemma!r} with part of speech {pos!r}")
        senses = self.sense_idx[self.sense_ptr[j] : self.sense_ptr[j + 1]].tolist()
        try:
            return self.names[senses[int(sense) - 1]]  # as NLTK indexes: ".00" is the last sense
        except IndexError:
            count = len(senses)
            raise SynsetLookupError(
                f"Lemma {lemma!r} with part of speech {pos!r} only has {count} "
                f"{'sense' if count == 1 else 'senses'}"
            ) from None


def noun_graph() -> NounGraph:
    """WordNet's noun graph, from the cache (read from the corpus when missing or stale)."""
    return cached(
        "wordnet-nouns",
        lambda: NounGraph.from_files(corpus_dir()).arrays(),
        NounGraph.from_arrays,
    )


def noun_parents() -> dict[str, list[str]]:
    """Every noun synset name mapped to its hypernyms and instance hypernyms."""
    g = noun_graph()
    names = g.names
    return {names[i]: [names[p] for p in g.parents(i)] for i in range(len(g))}


def induced_parents(synsets: Iterable[str]) -> dict[str, list[str]]:
    """Parent map of the given synsets and all their (instance) hypernym ancestors."""
    synsets = list(synsets)
    g = noun_graph()
    try:
        start = [
            g.index[name] if name in g.index else g.index[g.canonical(name)] for name in synsets
        ]
    except (ValueError, SynsetLookupError):  # not a noun synset name: as NLTK reads it
        return _induced_parents_nltk(synsets)
    names = g.names
    return {names[i]: [names[p] for p in g.parents(i)] for i in sorted(reachable(start, g.parents))}


def _induced_parents_nltk(synsets: Iterable[str]) -> dict[str, list[str]]:
    wn = wordnet()
    by_name = {name: wn.synset(name) for name in synsets}
    found = reachable(by_name.values(), lambda s: s.hypernyms() + s.instance_hypernyms())
    return {
        s.name(): [p.name() for p in s.hypernyms() + s.instance_hypernyms()]
        for s in sorted(found, key=lambda s: s.name())
    }


@lru_cache(maxsize=1)
def noun_hierarchy() -> Hierarchy:
    """Every WordNet noun in one :class:`Hierarchy` (hypernyms and instance hypernyms)."""
    return Hierarchy.from_parents(noun_parents(), restrict_to_classes=False)
