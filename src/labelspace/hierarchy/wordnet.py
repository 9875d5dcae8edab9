"""Offline WordNet 3.0 through NLTK's reader: the corpus layout NLTK wants, built once.

NLTK's reader wants its own layout (``<dir>/corpora/wordnet/``) with a ``lexnames`` file that
Debian does not ship, and it refuses files reached through symlinks out of that directory. We
therefore copy Debian's files once into the cache, add ``lexnames``, and open the reader there.
A WordNet 3.0 corpus the user already has in ``nltk_data`` is preferred.

Importing NLTK and opening its reader takes seconds, so labelspace reads what its hierarchies
need of WordNet from its own cached table (:mod:`labelspace.hierarchy.nouns`) and opens the
reader only for what that table does not hold: glosses, plain-name lookup (morphology), other
parts of speech.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from labelspace.errors import LabelspaceError
from labelspace.paths import cache_dir, scratch_dir, writable_cache_dir

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

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


def file_stamps(directory: Path, names: Iterable[str]) -> dict[str, list[int] | None]:
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
    files = file_stamps(source, REQUIRED_FILES)
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
    """The WordNet corpus directory NLTK's reader opens (built on first use); where the
    cache cannot be written, built in a folder of this process, after one warning."""
    user = _user_corpus()
    if user is not None:
        return user
    try:
        return build_layout()
    except OSError:  # the cache's CacheError too
        if writable_cache_dir() is not None:
            raise  # the cache is fine: something else failed
        return build_layout(target=scratch_dir() / "nltk_data" / "corpora" / "wordnet")


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
