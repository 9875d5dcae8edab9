"""Offline WordNet 3.0 through NLTK, built from Debian's ``wordnet-base`` files.

NLTK's reader wants its own layout (``<dir>/corpora/wordnet/``) with a ``lexnames`` file that
Debian does not ship, and it refuses files reached through symlinks out of that directory. We
therefore copy Debian's files once into the cache, add ``lexnames``, and open the reader there.
A WordNet 3.0 corpus the user already has in ``nltk_data`` is preferred.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from nltk.corpus.reader.wordnet import Synset, WordNetCorpusReader

from labelspace.errors import LabelspaceError
from labelspace.paths import cache_dir

log = logging.getLogger(__name__)

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
INSTALL_HINT = (
    "Install WordNet 3.0 with `sudo apt-get install wordnet-base wordnet-sense-index` "
    "(or run `make setup`), or point $LABELSPACE_WORDNET_DIR at a directory holding "
    "WordNet 3.0's data.noun, index.noun, ... and index.sense."
)

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


def _source_dir() -> Path:
    env = os.environ.get("LABELSPACE_WORDNET_DIR")
    return Path(env) if env else DEBIAN_WORDNET_DIR


def _user_corpus() -> Path | None:
    """A WordNet 3.0 corpus already present in the user's nltk_data, if any."""
    import nltk.data

    for base in nltk.data.path:
        candidate = Path(base) / "corpora" / "wordnet"
        if (candidate / "data.noun").is_file() and (candidate / "lexnames").is_file():
            return candidate
    return None


def build_layout(source: Path | None = None, target: Path | None = None) -> Path:
    """Copy WordNet's files into NLTK's layout once; return the corpus directory.

    The copy is made in a temporary directory and renamed into place, so an interrupted build
    never leaves a half-made corpus behind.
    """
    source = source or _source_dir()
    target = target or cache_dir() / "nltk_data" / "corpora" / "wordnet"
    if (target / "lexnames").is_file():
        return target
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise WordNetNotFoundError(
            f"WordNet 3.0 files missing from {source}: {', '.join(missing)}. {INSTALL_HINT}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    try:
        for name in REQUIRED_FILES:
            # resolve(): copy the file's content, never a link (NLTK refuses links out of root).
            shutil.copyfile((source / name).resolve(), staging / name)
        (staging / "lexnames").write_text(lexnames_text())
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / "lexnames").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info("built NLTK WordNet layout at %s", target)
    return target


@lru_cache(maxsize=1)
def wordnet() -> WordNetCorpusReader:
    """The WordNet 3.0 reader (built once per process)."""
    corpus = _user_corpus() or build_layout()
    import nltk.data

    data_root = str(corpus.parent.parent)
    if data_root not in nltk.data.path:  # NLTK only opens corpora under its data path
        nltk.data.path.append(data_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        reader = WordNetCorpusReader(str(corpus), None)
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


def noun_parents() -> dict[str, list[str]]:
    """Every noun synset name mapped to its hypernyms and instance hypernyms."""
    return {
        s.name(): [p.name() for p in s.hypernyms() + s.instance_hypernyms()]
        for s in wordnet().all_synsets("n")
    }


def induced_parents(synsets: Iterable[str]) -> dict[str, list[str]]:
    """Parent map of the given synsets and all their (instance) hypernym ancestors."""
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


def _reference_ancestors(synset: Synset, memo: dict[str, set[str]]) -> set[str]:
    """Ancestors of one synset as the reference closure counts them."""

    def hypernym_closure(s: Synset) -> set[str]:
        name = s.name()
        if name not in memo:
            acc: set[str] = set()
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


def reference_noun_closure() -> list[tuple[str, str]]:
    """All (noun, ancestor) pairs of the reference closure, sorted."""
    memo: dict[str, set[str]] = {}
    return sorted(
        (s.name(), a) for s in wordnet().all_synsets("n") for a in _reference_ancestors(s, memo)
    )


def reference_mammal_closure() -> list[tuple[str, str]]:
    """The reference project's filtered mammal closure (pairs among mammals), sorted."""
    wn = wordnet()
    mammal = wn.synset("mammal.n.01")
    memo: dict[str, set[str]] = {}
    below = {s.name(): s for s in mammal.closure(lambda s: s.hyponyms() + s.instance_hyponyms())}
    ancestors = {name: _reference_ancestors(s, memo) for name, s in below.items()}
    members = {name for name, anc in ancestors.items() if mammal.name() in anc}
    members.add(mammal.name())
    pattern = re.compile("(" + "|".join(MAMMAL_FILTER) + ")")
    return sorted(
        (child, parent)
        for child in members - {mammal.name()}
        for parent in ancestors[child]
        if parent in members and not pattern.match(f"{child} {parent}")
    )
