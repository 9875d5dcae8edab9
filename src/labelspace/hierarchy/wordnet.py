"""Offline WordNet 3.0: NLTK's reader, and the noun graph labelspace reads once and caches.

NLTK's reader wants its own layout (``<dir>/corpora/wordnet/``) with a ``lexnames`` file that
Debian does not ship, and it refuses files reached through symlinks out of that directory. We
therefore copy Debian's files once into the cache, add ``lexnames``, and open the reader there.
A WordNet 3.0 corpus the user already has in ``nltk_data`` is preferred.

Importing NLTK and opening its reader takes seconds, while what labelspace's hierarchies need
of WordNet is small: the noun synsets' names and offsets, their (instance) hypernyms and the
noun lemmas' senses. :func:`noun_graph` reads these from the corpus's index.noun and data.noun
(as NLTK reads them; the tests compare the two on every noun) and keeps them in
``cache_dir()`` as arrays (``.npz``, no pickle), under a version key made of
:data:`CACHE_FORMAT` and the path, size and modification time of every file of the corpus; a
cache whose key differs, or that cannot be read, is rebuilt. The reference closures (mammals,
all nouns) are cached the same way. NLTK itself is imported only for what the graph does not
hold: glosses, plain-name lookup (morphology), other parts of speech.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from labelspace.errors import LabelspaceError
from labelspace.files import atomic_write
from labelspace.paths import cache_dir

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

log = logging.getLogger(__name__)
T = TypeVar("T")

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
INSTALL_HINT = (
    "Install WordNet 3.0 with `sudo apt-get install wordnet-base wordnet-sense-index` "
    "(or run `make setup`), or point $LABELSPACE_WORDNET_DIR at a directory holding "
    "WordNet 3.0's data.noun, index.noun, ... and index.sense."
)
# Bump when what the caches hold, or how it is derived, changes: old caches are then rebuilt.
CACHE_FORMAT = 1

# WordNet 3.0's lexicographer files, in order (the file Debian leaves out).
LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_POS_CODE = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}

REQUIRED_FILES = [
    "data.noun",
    "data.verb",
    "data.adj",
    "data.adv",
    "index.noun",
    "index.verb",
    "index.adj",
    "index.adv",
    "noun.exc",
    "verb.exc",
    "adj.exc",
    "adv.exc",
    "index.sense",
]


class WordNetNotFoundError(LabelspaceError, RuntimeError):
    """WordNet 3.0 files are not installed where labelspace looks for them."""


def lexnames_text() -> str:
    """The 45-line ``lexnames`` file of WordNet 3.0."""
    return "".join(
        f"{i:02d}\t{name}\t{_POS_CODE[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )


SOURCE_STAMP = ".source.json"  # in a layout build_layout made: the files it was copied from


def _source_dir() -> Path:
    env = os.environ.get("LABELSPACE_WORDNET_DIR")
    return Path(env) if env else DEBIAN_WORDNET_DIR


def _nltk_data_dirs() -> list[Path]:
    """NLTK's data search path, without importing NLTK (about a second) where possible."""
    data = sys.modules.get("nltk.data")
    if data is None and os.name == "nt":  # its Windows defaults are not spelled out here
        import nltk.data as data
    if data is not None:
        return [Path(p) for p in data.path]
    # the defaults of nltk/data.py on other systems
    paths = [os.path.expanduser(d) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep)]
    paths = [p for p in paths if p]
    if "APPENGINE_RUNTIME" not in os.environ and os.path.expanduser("~/") != "~/":
        paths.append(os.path.expanduser("~/nltk_data"))
    paths += [
        os.path.join(sys.prefix, "nltk_data"),
        os.path.join(sys.prefix, "share", "nltk_data"),
        os.path.join(sys.prefix, "lib", "nltk_data"),
        "/usr/share/nltk_data",
        "/usr/local/share/nltk_data",
        "/usr/lib/nltk_data",
        "/usr/local/lib/nltk_data",
    ]
    return [Path(p) for p in paths]


def _user_corpus() -> Path | None:
    """A WordNet 3.0 corpus already present in the user's nltk_data, if any.

    Layouts that :func:`build_layout` made (marked by their :data:`SOURCE_STAMP`) do not
    count: :func:`wordnet` adds one to NLTK's path, where it must not stand in for the layout
    of another cache directory.
    """
    for base in _nltk_data_dirs():
        candidate = base / "corpora" / "wordnet"
        if (
            (candidate / "data.noun").is_file()
            and (candidate / "lexnames").is_file()
            and not (candidate / SOURCE_STAMP).is_file()
        ):
            return candidate
    return None


def _file_stamps(directory: Path, names: Iterable[str]) -> dict[str, list[int] | None]:
    """Size and modification time (ns) of each file, None for a missing one."""
    stamps: dict[str, list[int] | None] = {}
    for name in names:
        try:
            st = (directory / name).stat()
        except OSError:
            stamps[name] = None
        else:
            stamps[name] = [st.st_size, st.st_mtime_ns]
    return stamps


def _source_stamp(source: Path, files: dict[str, list[int] | None]) -> str:
    return json.dumps({"source": str(source.resolve()), "files": files}, sort_keys=True)


def build_layout(source: Path | None = None, target: Path | None = None) -> Path:
    """Copy WordNet's files into NLTK's layout once; return the corpus directory.

    The copy is made in a temporary directory and renamed into place, so an interrupted build
    never leaves a half-made corpus behind. A copy whose source files have changed since (by
    path, size or modification time) is made again; one whose source is gone is kept.
    """
    source = source or _source_dir()
    target = target or cache_dir() / "nltk_data" / "corpora" / "wordnet"
    files = _file_stamps(source, REQUIRED_FILES)
    missing = [name for name, stamp in files.items() if stamp is None]
    if (target / "lexnames").is_file():
        try:
            built_from = (target / SOURCE_STAMP).read_text()
        except OSError:
            built_from = None
        if missing or built_from == _source_stamp(source, files):
            return target
    elif missing:
        raise WordNetNotFoundError(
            f"WordNet 3.0 files missing from {source}: {', '.join(missing)}. {INSTALL_HINT}"
        )
    stamp = _source_stamp(source, files)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    old: Path | None = None
    try:
        for name in REQUIRED_FILES:
            # resolve(): copy the file's content, never a link (NLTK refuses links out of root).
            shutil.copyfile((source / name).resolve(), staging / name)
        (staging / "lexnames").write_text(lexnames_text())
        (staging / SOURCE_STAMP).write_text(stamp)
        if target.exists():  # an outdated copy: move it aside, then put the new one in place
            old = Path(tempfile.mkdtemp(prefix=".wordnet-old-", dir=target.parent))
            with contextlib.suppress(OSError):  # another process may have moved it first
                target.rename(old / "wordnet")
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / "lexnames").is_file():
                raise
    finally:
        for leftover in (staging, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    log.info("built NLTK WordNet layout at %s", target)
    return target


def corpus_dir() -> Path:
    """The WordNet corpus directory NLTK's reader opens (built on first use)."""
    return _user_corpus() or build_layout()


@lru_cache(maxsize=1)
def wordnet() -> WordNetCorpusReader:
    """The WordNet 3.0 reader (built once per process)."""
    corpus = corpus_dir()
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            """No mapping of another WordNet version's synsets onto this one.

            NLTK builds it (reading index.sense twice: half the reader's start-up) for its
            multilingual functions, which need an OMW reader; labelspace opens none.
            """
            return None

    data_root = str(corpus.parent.parent)
    if data_root not in nltk.data.path:  # NLTK only opens corpora under its data path
        nltk.data.path.append(data_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        reader = Reader(str(corpus), None)
    if reader.get_version() != "3.0":
        raise WordNetNotFoundError(
            f"labelspace needs WordNet 3.0 (its offsets are ImageNet's wnids); {corpus} holds "
            f"WordNet {reader.get_version()}. {INSTALL_HINT}"
        )
    return reader


def wnid(synset: Synset) -> str:
    """ImageNet-style id of a noun synset: ``n`` plus the 8-digit WordNet 3.0 offset."""
    return f"{synset.pos()}{synset.offset():08d}"


def synset_from_wnid(identifier: str) -> Synset:
    """The synset of an ImageNet-style id such as ``n02084071``."""
    return wordnet().synset_from_pos_and_offset(identifier[0], int(identifier[1:]))


# ------------------------------------------------------------------------------- the noun graph
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


def version_key() -> str:
    """What the WordNet caches are built from: their format and the corpus's files."""
    corpus = corpus_dir()
    return json.dumps(
        {
            "format": CACHE_FORMAT,
            "corpus": str(corpus.resolve()),
            "files": _file_stamps(corpus, [*REQUIRED_FILES, "lexnames"]),
        },
        sort_keys=True,
    )


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a temporary file renamed into place)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez(f, **arrays)

    atomic_write(path, write)


_loaded: dict[tuple[str, str], object] = {}  # (cache file, version key) -> what it holds


def cached(
    name: str,
    build: Callable[[], dict[str, np.ndarray]],
    parse: Callable[[dict[str, np.ndarray]], T],
) -> T:
    """``parse(build())``, with the arrays kept in ``cache_dir()/<name>.npz``.

    The file holds :func:`version_key` beside the arrays. One with another key, or one that
    cannot be read or parsed (``parse`` raises on inconsistent arrays), is rebuilt and
    replaced, atomically; if the cache cannot be written, the result is still returned.
    Within a process each file is read once per key.
    """
    key = version_key()
    path = cache_dir() / f"{name}.npz"
    memo = (str(path), key)
    if memo in _loaded:
        return _loaded[memo]  # type: ignore[return-value]
    try:
        with np.load(path, allow_pickle=False) as data:
            if data["key"].tobytes().decode() == key:
                value = parse({k: data[k] for k in data.files if k != "key"})
                _loaded[memo] = value
                return value
        log.info("%s was built from other WordNet data or by another format; rebuilding", path)
    except FileNotFoundError:
        pass
    except Exception as exc:  # a damaged file: zip, CRC, format, decoding or consistency errors
        log.warning("unreadable WordNet cache %s (%s); rebuilding it", path, exc)
    arrays = build()
    value = parse(arrays)
    try:
        _write_npz(path, {"key": np.frombuffer(key.encode(), dtype=np.uint8), **arrays})
    except OSError as exc:
        log.warning("could not write the WordNet cache %s: %s", path, exc)
    _loaded[memo] = value
    return value


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
        stack = [
            g.index[name] if name in g.index else g.index[g.canonical(name)] for name in synsets
        ]
    except (ValueError, SynsetLookupError):  # not a noun synset name: as NLTK reads it
        return _induced_parents_nltk(synsets)
    names = g.names
    out: dict[str, list[str]] = {}
    while stack:
        i = stack.pop()
        if names[i] in out:
            continue
        ps = g.parents(i)
        out[names[i]] = [names[p] for p in ps]
        stack.extend(ps)
    return out


def _induced_parents_nltk(synsets: Iterable[str]) -> dict[str, list[str]]:
    wn = wordnet()
    out: dict[str, list[str]] = {}
    stack = [wn.synset(name) for name in synsets]
    while stack:
        s = stack.pop()
        if s.name() in out:
            continue
        ps = s.hypernyms() + s.instance_hypernyms()
        out[s.name()] = [p.name() for p in ps]
        stack.extend(ps)
    return out


# --------------------------------------------------------------------------- reference closures
# The closures of Nickel & Kiela's reference implementation (facebookresearch/poincare-embeddings,
# wordnet/transitive_closure.py), reproduced pair for pair so that benchmarks compare on the same
# data: 82,115 nouns with 743,086 pairs, and 1,180 mammals with 6,540 pairs. They differ from the
# transitive closure of the DAG (743,241 pairs) in 155 pairs: an instance's hypernym chain is
# followed through instance hypernyms only at its first step.

# The reference project's mammal filter. It is applied as that project applies it (``re.match``
# on "child parent"), where only the two "^" patterns can ever match; we keep the whole list so
# the rule is the same rule, not a re-interpretation of it.
MAMMAL_FILTER = (
    r"\sliving_thing.n.01",
    r"\sobject.n.01",
    r"\sorganism.n.01",
    r"\sanimal.n.01",
    r"\sentity.n.01",
    r"\sphysical_entity.n.01",
    r"\swhole.n.02",
    r"\svertebrate.n.01",
    r"\schordate.n.01",
    r"\sbeast_of_burden.n.01",
    r"\swork_animal.n.01",
    r"\sfemale.n.01",
    r"\sfissipedia.n.01",
    r"\spup.n.01",
    r"\sabstraction.n.06",
    r"\sgroup.n.01",
    r"^tusker.n.01",
    r"^female_mammal.n.01",
    r"\scub.n.03",
    r"\syoung.n.01",
    r"\syoung_mammal.n.01",
    r"\sdomestic_animal.n.01",
    r"\sracer.n.03",
    r"\smale.n.01",
)


class _ReferenceAncestors:
    """Ancestors of synsets as the reference closure counts them (memoised over the graph).

    A synset's hypernyms and all theirs; for an instance, also everything reachable through
    instance hypernyms, each with its hypernyms (NLTK's ``closure`` of ``hypernyms()`` and of
    ``instance_hypernyms()``, as the reference project walks them).
    """

    def __init__(self, graph: NounGraph) -> None:
        self.graph = graph
        self.memo: dict[int, frozenset[int]] = {}

    def hypernym_closure(self, start: int) -> frozenset[int]:
        memo, hypernyms = self.memo, self.graph.hypernyms
        stack = [start]
        while stack:  # depth first, a node once all its hypernyms are done
            i = stack[-1]
            if i in memo:
                stack.pop()
                continue
            todo = [h for h in hypernyms[i] if h not in memo]
            if todo:
                stack.extend(todo)
                continue
            acc: set[int] = set(hypernyms[i])
            for h in hypernyms[i]:
                acc |= memo[h]
            memo[i] = frozenset(acc)
            stack.pop()
        return memo[start]

    def __call__(self, i: int) -> set[int]:
        found = set(self.hypernym_closure(i))
        instance = self.graph.instance_hypernyms
        if instance[i]:
            seen = {i}
            frontier = list(instance[i])
            while frontier:
                hyper = frontier.pop()
                if hyper in seen:
                    continue
                seen.add(hyper)
                found.add(hyper)
                found |= self.hypernym_closure(hyper)
                frontier.extend(instance[hyper])
        return found


def _sorted_pairs(graph: NounGraph, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Index pairs in the order of their (child name, ancestor name) tuples."""
    names = graph.names
    rank = np.empty(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    arr = np.array(list(pairs), dtype=np.int32).reshape(-1, 2)
    order = np.lexsort((rank[arr[:, 1]], rank[arr[:, 0]]))
    return arr[order]


def _named(graph: NounGraph, pairs: np.ndarray) -> list[tuple[str, str]]:
    names = graph.names
    return [(names[c], names[a]) for c, a in pairs.tolist()]


def _noun_closure_pairs() -> dict[str, np.ndarray]:
    graph = noun_graph()
    ancestors = _ReferenceAncestors(graph)
    return {
        "pairs": _sorted_pairs(graph, ((i, a) for i in range(len(graph)) for a in ancestors(i)))
    }


def _mammal_closure_pairs() -> dict[str, np.ndarray]:
    graph = noun_graph()
    mammal = graph.index["mammal.n.01"]
    children: list[list[int]] = [[] for _ in range(len(graph))]  # hyponyms, instance hyponyms
    for i in range(len(graph)):
        for p in graph.parents(i):
            children[p].append(i)
    below: set[int] = set()
    stack = list(children[mammal])
    while stack:
        i = stack.pop()
        if i not in below and i != mammal:
            below.add(i)
            stack.extend(children[i])
    reference = _ReferenceAncestors(graph)
    ancestors = {i: reference(i) for i in below}
    members = {i for i, anc in ancestors.items() if mammal in anc} | {mammal}
    pattern = re.compile("(" + "|".join(MAMMAL_FILTER) + ")")
    names = graph.names
    pairs = (
        (child, parent)
        for child in members - {mammal}
        for parent in ancestors[child]
        if parent in members and not pattern.match(f"{names[child]} {names[parent]}")
    )
    return {"pairs": _sorted_pairs(graph, pairs)}


def _closure_pairs(arrays: dict[str, np.ndarray]) -> np.ndarray:
    pairs = arrays["pairs"]
    n = len(noun_graph())
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.dtype.kind != "i":
        raise ValueError("closure pairs must be an (P, 2) integer table")
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError("closure pairs name synsets the noun graph does not have")
    return pairs


def reference_noun_closure() -> list[tuple[str, str]]:
    """All (noun, ancestor) pairs of the reference closure, sorted."""
    pairs = cached("wordnet-closure-nouns", _noun_closure_pairs, _closure_pairs)
    return _named(noun_graph(), pairs)


def reference_mammal_closure() -> list[tuple[str, str]]:
    """The reference project's filtered mammal closure (pairs among mammals), sorted."""
    pairs = cached("wordnet-closure-mammals", _mammal_closure_pairs, _closure_pairs)
    return _named(noun_graph(), pairs)
