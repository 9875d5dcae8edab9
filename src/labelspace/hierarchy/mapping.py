"""Map dataset class names to WordNet 3.0 noun synsets.

Label embeddings are built from WordNet's noun hierarchy, so every class of a dataset needs one
noun synset. Names come in many spellings ("Ankle boot", "T-shirt/top", "maple_tree", a wnid
such as ``n02084071`` or a synset name such as ``dog.n.01``); :func:`map_names` resolves them.
A plain name can mean several things ("mouse" the rodent or the computer device), so guesses
are flagged with :class:`AmbiguousNameWarning`, and the shipped, hand-reviewed mappings of the
supported datasets (``labelspace/hierarchy/mappings/<dataset>.tsv``) settle them for known datasets.

Mapping files hold one ``name<TAB>synset`` line per class, the synset given as a synset name or
a wnid; blank lines and ``#`` comments (whole-line, or after whitespace) are ignored.
"""

from __future__ import annotations

import difflib
import logging
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from labelspace.errors import InputError, MissingInputError
from labelspace.hierarchy.wordnet import SynsetLookupError, noun_graph, wnid, wordnet

if TYPE_CHECKING:  # NLTK is imported only where its reader is needed (plain names, glosses)
    from nltk.corpus.reader.wordnet import Synset

__all__ = [
    "DATASET_CLASSES",
    "AmbiguousNameWarning",
    "MappingFileError",
    "SharedSynsetError",
    "UnknownDatasetError",
    "UnknownSynsetError",
    "UnmappedNameError",
    "dataset_mapping",
    "dataset_synsets",
    "map_names",
    "merge_mappings",
    "normalize_name",
    "read_mapping_file",
    "refuse_shared",
    "resolve_synset",
]

log = logging.getLogger(__name__)

# fmt: off
DATASET_CLASSES: dict[str, list[str]] = {
    # torchvision.datasets.FashionMNIST.classes
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "cifar10": [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ],
    # The 100 fine labels, in label order (alphabetical).
    "cifar100": [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
        "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
        "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
        "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest",
        "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower",
        "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
        "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit",
        "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
        "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
        "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train",
        "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ],
}
# fmt: on

_WNID = re.compile(r"^[a-z]\d{8}$")
_SYNSET_NAME = re.compile(r"^.+\.[a-z]\.\d+$")
# Separators between alternative names of one class ("T-shirt/top").
_ALTERNATIVES = re.compile(r"\s*[/|,]\s*")
# Trailing words that name a view or a variant of the object, not the object ("car_side").
_QUALIFIERS = frozenset({
    "side", "front", "back", "rear", "left", "right", "top", "bottom", "view", "profile",
    "head", "face", "body", "closeup", "easy", "hard", "image", "images", "photo", "picture",
})  # fmt: skip
_MIN_PART_CHARS = 3  # shorter partial names ("t" of "t_shirt") match letters, not objects
_MAX_CANDIDATES = 5
_FIX_HINT = (
    "Map such names explicitly in a --mapping file with one 'name<TAB>synset' line per name "
    "(the synset as a name like dog.n.01 or a wnid like n02084071; from Python: "
    "map_names(names, overrides={name: synset}))."
)


class AmbiguousNameWarning(UserWarning):
    """A plain class name's synset is a guess.

    Either the name has several noun senses and the first (most frequent) was chosen, or only
    part of it matched ("Ankle boot" -> boot).
    """


class SharedSynsetError(InputError):
    """Several classes map to one synset, so their label embeddings would coincide.

    ``groups`` maps each shared synset to the class names (as given) that map to it.
    """

    def __init__(self, groups: Mapping[str, Sequence[str]], message: str):
        self.groups = {synset: list(names) for synset, names in groups.items()}
        super().__init__(message)


class UnmappedNameError(InputError):
    """Some class names match no WordNet noun; ``names`` lists them all, in input order."""

    def __init__(self, names: Sequence[str], candidates: Mapping[str, Sequence[str]]):
        self.names = list(names)
        self.candidates = {name: list(candidates.get(name, ())) for name in self.names}
        super().__init__(self._message())

    def _message(self) -> str:
        wn = wordnet()
        lines = [f"{len(self.names)} class name(s) match no WordNet 3.0 noun synset:"]
        for name in self.names:
            found = self.candidates[name]
            if not found:
                lines.append(f"  {name!r}: no close WordNet noun")
                continue
            lines.append(f"  {name!r}: closest candidates:")
            for synset_name in found:
                s = wn.synset(synset_name)
                lines.append(f"      {synset_name} ({wnid(s)}): {s.definition()}")
        lines.append(_FIX_HINT)
        return "\n".join(lines)


class UnknownSynsetError(InputError):
    """A wnid or synset name that names no WordNet 3.0 noun synset."""


class MappingFileError(InputError):
    """A malformed mapping file; the message names the file and the line."""

    def __init__(self, source: str, line: int, problem: str):
        self.source = source
        self.line = line
        super().__init__(f"{source}, line {line}: {problem}")


class UnknownDatasetError(InputError):
    """A dataset without a shipped class list and mapping."""


# ------------------------------------------------------------------------------------ helpers
def normalize_name(name: str) -> str:
    """Canonical spelling of a class name: stripped, lowercase, spaces and hyphens to ``_``.

    Override keys and names are compared in this form, so "Ankle boot" matches "ankle_boot".
    """
    return re.sub(r"[\s\-_]+", "_", name.strip().lower()).strip("_")


def _identifier_synset(text: str) -> str | None:
    """The noun synset a wnid or synset name denotes (its name); None if ``text`` is neither.

    Raises:
        UnknownSynsetError: ``text`` has the form of an identifier but names no noun synset.
    """
    ident = text.strip()
    if _WNID.match(ident.lower()):
        ident = ident.lower()
        if ident[0] != "n":
            raise UnknownSynsetError(f"{text!r} is not a noun wnid (nouns start with 'n')")
        name = noun_graph().from_wnid(ident)
        if name is None:
            raise UnknownSynsetError(f"{text!r}: WordNet 3.0 has no noun synset with this wnid")
        return name
    if _SYNSET_NAME.match(ident):
        if ident.lower().rsplit(".", 2)[1] == "n":
            try:
                return noun_graph().canonical(ident)
            except SynsetLookupError as err:
                raise UnknownSynsetError(f"{text!r}: no such WordNet 3.0 synset ({err})") from None
        from nltk.corpus.reader.wordnet import WordNetError

        try:
            synset = wordnet().synset(ident)
        except WordNetError as err:
            raise UnknownSynsetError(f"{text!r}: no such WordNet 3.0 synset ({err})") from None
        if synset.pos() != "n":
            raise UnknownSynsetError(f"{text!r} is a {synset.pos()!r} synset, not a noun")
        return synset.name()
    return None


def resolve_synset(identifier: str) -> str:
    """Canonical name of the noun synset of a wnid or synset name (``"n02084071"`` -> dog.n.01).

    Raises:
        UnknownSynsetError: not a wnid or synset name, or no such noun synset.
    """
    name = _identifier_synset(identifier)
    if name is None:
        raise UnknownSynsetError(
            f"{identifier!r} is neither a synset name (like dog.n.01) nor a wnid (like n02084071)"
        )
    return name


@dataclass(frozen=True)
class _Match:
    """A plain name's match: the lookup string that hit and its noun senses, first chosen."""

    form: str
    senses: tuple[Synset, ...]
    partial: bool = False  # only some words of the name matched: a broader reading


def _whole_forms(text: str) -> Iterator[str]:
    """Spellings of one name to try as a WordNet lemma ("T-shirt" is stored with its hyphen)."""
    text = text.strip("_- ")
    if not text:
        return
    yield text
    yield text.replace("-", "_")
    yield text.replace("-", "")  # "e-mail" -> "email"


def _lookup(forms: Iterator[str]) -> _Match | None:
    """The first of ``forms`` that is a WordNet noun lemma (plurals via morphy)."""
    wn = wordnet()
    for form in dict.fromkeys(forms):
        senses = wn.synsets(form, pos="n")
        if senses:
            return _Match(form, tuple(senses))
    return None


def _ancestors(synset: Synset) -> set[Synset]:
    return set(synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()))


def _kind_of_head(words: Sequence[str]) -> _Match | None:
    """A modifier that is itself a kind of the head noun ("maple_tree" -> maple.n.02).

    Only the modifier's senses below a sense of the head are kept, so the head settles the
    modifier's meaning: "maple" is also a wood, but a "maple tree" is the tree.
    """
    for split in range(len(words) - 1, 0, -1):
        modifier = _lookup(_whole_forms("_".join(words[:split])))
        head = _lookup(_whole_forms("_".join(words[split:])))
        if modifier is None or head is None:
            continue
        heads = set(head.senses)
        kinds = tuple(s for s in modifier.senses if heads & _ancestors(s))
        if kinds:
            return _Match(modifier.form, kinds)
    return None


def _match_text(text: str) -> _Match | None:
    """Match a normalized plain name, most faithful reading first.

    Order: the whole name; each alternative of "a/b" in turn; for several words, the name
    without trailing view qualifiers ("car_side" -> "car"), a modifier that is a kind of the
    head ("maple_tree" -> maple), the head noun with its nearest modifiers ("ankle_boot" ->
    "boot", "aquarium_fish" -> "fish"), then the leading words.
    """
    match = _lookup(_whole_forms(text))
    if match is not None:
        return match
    parts = [p for p in _ALTERNATIVES.split(text) if p.strip("_- ")]
    if len(parts) > 1:
        return next(filter(None, (_match_text(p) for p in parts)), None)
    words = [w for w in re.split(r"[_\-]+", text) if w]
    if len(words) < 2:
        return None
    core = list(words)
    while len(core) > 1 and core[-1] in _QUALIFIERS:
        core.pop()
    if core != words:
        return _match_text("_".join(core))
    match = _kind_of_head(words)
    if match is not None:
        return match
    phrases = ["_".join(words[i:]) for i in range(1, len(words))]
    phrases += ["_".join(words[:j]) for j in range(len(words) - 1, 0, -1)]
    match = _lookup(form for p in phrases if len(p) >= _MIN_PART_CHARS for form in _whole_forms(p))
    return None if match is None else replace(match, partial=True)


def _plain_text(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip().lower())


def _is_whole_name(name: str, form: str) -> bool:
    """Whether ``form`` spells all of ``name`` (not a part or a shortened fallback)."""
    return form in set(_whole_forms(_plain_text(name)))


def _match_plain(name: str) -> _Match | None:
    """WordNet noun senses of a plain class name, first sense most frequent."""
    return _match_text(_plain_text(name))


@lru_cache(maxsize=1)
def _noun_lemmas() -> tuple[str, ...]:
    return tuple(sorted(set(wordnet().all_lemma_names("n"))))


def _close_candidates(name: str) -> list[str]:
    """A handful of noun synsets whose lemmas are spelled closest to ``name``."""
    wn = wordnet()
    key = normalize_name(name)
    found: list[str] = []
    for lemma in difflib.get_close_matches(key, _noun_lemmas(), n=_MAX_CANDIDATES, cutoff=0.7):
        for synset in wn.synsets(lemma, pos="n"):
            if synset.name() not in found:
                found.append(synset.name())
    return found[:_MAX_CANDIDATES]


def _gloss(synset: Synset) -> str:
    return f"{synset.name()} ({synset.definition()})"


def _guess_message(name: str, match: _Match) -> str:
    """Warning text for a guessed sense: the choice, the alternatives and how to override."""
    chosen, *others = match.senses
    if match.partial:
        what, which = f"class name {name!r} matched only its part {match.form!r}", ", which"
    elif _is_whole_name(name, match.form):
        what, which = f"class name {name!r}", ""
    else:
        what, which = f"class name {name!r} matched as {match.form!r}", ", which"
    if others:
        what += f"{which} has {len(match.senses)} WordNet noun senses; chose the first,"
        alternatives = f" Alternatives: {'; '.join(_gloss(s) for s in others)}."
        example = others[0].name()
    else:
        what += "; chose"
        alternatives, example = "", chosen.name()
    return (
        f"{what} {_gloss(chosen)}.{alternatives} To choose another synset, map the name in a "
        f"--mapping file with the line '{name}<TAB>{example}' (from Python: "
        f"overrides={{{name!r}: {example!r}}})."
    )


# ------------------------------------------------------------------------------- mapping files
def _strip_comment(line: str) -> str:
    """``line`` without a ``#`` comment that starts the line or follows whitespace."""
    match = re.search(r"(^|\s)#", line)
    return line[: match.start()] if match else line


def _parse_mapping(text: str, source: str) -> dict[str, str]:
    """Parse ``name<TAB>synset`` lines into name -> canonical synset name."""
    out: dict[str, str] = {}
    first_seen: dict[str, tuple[str, str, int]] = {}  # normalized name -> (name, synset, line)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) != 2:
            raise MappingFileError(
                source,
                lineno,
                f"expected 2 tab-separated columns 'name<TAB>synset', found {len(columns)}: "
                f"{raw!r}",
            )
        name, ident = columns[0].strip(), columns[1].strip()
        if not name or not ident:
            raise MappingFileError(source, lineno, f"empty name or synset: {raw!r}")
        try:
            synset = resolve_synset(ident)
        except UnknownSynsetError as err:
            raise MappingFileError(source, lineno, str(err)) from None
        key = normalize_name(name)
        if key in first_seen:
            prev_name, prev_synset, prev_line = first_seen[key]
            if prev_synset != synset:
                raise MappingFileError(
                    source,
                    lineno,
                    f"{name!r} maps to {synset}, but line {prev_line} maps {prev_name!r} "
                    f"to {prev_synset}",
                )
        else:
            first_seen[key] = (name, synset, lineno)
        out[name] = synset
    return out


def read_mapping_file(path: str | Path, *, option: str = "--mapping") -> dict[str, str]:
    """Read a ``name<TAB>synset`` mapping file into name -> canonical synset name.

    Synsets may be given as synset names or wnids; they are checked against WordNet 3.0.
    Errors about the file itself name ``option``, the CLI option that gave the path.

    Raises:
        MissingInputError: no such file.
        InputError: a folder, or a file that cannot be read as UTF-8 text.
        MappingFileError: a malformed line, an unknown synset or a conflicting duplicate name.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"{option} {path} is a folder; give a file with one 'name<TAB>synset' line per class"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingInputError(f"{option} {path}: no such file") from None
    except UnicodeDecodeError as err:
        raise InputError(
            f"{option} {path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as "
            "UTF-8 with one 'name<TAB>synset' line per class"
        ) from None
    except OSError as err:
        raise InputError(f"{option} {path}: cannot read it ({err.strerror or err})") from None
    return _parse_mapping(text, str(path))


def merge_mappings(reviewed: Mapping[str, str], user: Mapping[str, str]) -> dict[str, str]:
    """``reviewed`` (a shipped mapping) overridden by ``user`` (a --mapping file's entries).

    A user entry replaces the reviewed one of the same name however it is spelled ("Ankle boot"
    and "ankle_boot"), so the two never conflict as two entries for one class.
    """
    mine = {normalize_name(name) for name in user}
    merged = {n: s for n, s in reviewed.items() if normalize_name(n) not in mine}
    merged.update(user)
    return merged


def _override_table(overrides: Mapping[str, str] | str | Path | None) -> dict[str, str]:
    """Overrides keyed by normalized name, values checked and made canonical."""
    if overrides is None:
        return {}
    if isinstance(overrides, str | Path):
        overrides = read_mapping_file(overrides)
    table: dict[str, str] = {}
    origin: dict[str, str] = {}
    for name, ident in overrides.items():
        try:
            synset = resolve_synset(ident)
        except UnknownSynsetError as err:
            raise UnknownSynsetError(f"override for {name!r}: {err}") from None
        key = normalize_name(name)
        if key in table and table[key] != synset:
            raise InputError(
                f"the mapping gives {origin[key]!r} -> {table[key]} and {name!r} -> {synset}, "
                "but both name one class (case, spaces, hyphens and underscores are ignored); "
                "keep one of them"
            )
        table[key], origin[key] = synset, name
    return table


# ------------------------------------------------------------------------------------- public
def map_names(
    names: Sequence[str],
    overrides: Mapping[str, str] | str | Path | None = None,
) -> list[str]:
    """One WordNet noun synset name per class name, in order.

    Each name is resolved by, in turn: ``overrides`` (a dict or a mapping file; compared
    after :func:`normalize_name`), a wnid or synset name, then WordNet lemma lookup of the
    plain name with fallbacks (see :func:`_match_text`). A plain name with several senses
    gets its first (most frequent) sense, and one :class:`AmbiguousNameWarning` says so (as it
    does when only part of a name matched); overridden names are never warned about.

    Every name must end at its own synset: two classes with one synset would get one label
    embedding, and a model could not tell them apart.

    Raises:
        UnmappedNameError: listing every name that matched nothing, with close candidates.
        SharedSynsetError: two or more names (or one name listed twice) map to one synset.
        UnknownSynsetError: a wnid or synset name (as name or override) that does not exist.
        MappingFileError: a malformed override file.
    """
    if isinstance(names, str):
        raise TypeError("map_names expects a sequence of names, not one string")
    table = _override_table(overrides)
    result: list[str] = []
    unmapped: list[str] = []
    warned: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"class names must be strings, got {name!r}")
        key = normalize_name(name)
        if key in table:
            result.append(table[key])
            continue
        identified = _identifier_synset(name)
        if identified is not None:
            result.append(identified)
            continue
        match = _match_plain(name) if key else None
        if match is None:
            if name not in unmapped:
                unmapped.append(name)
            result.append("")
            continue
        result.append(match.senses[0].name())
        log.debug("class name %r: WordNet lemma %r -> %s", name, match.form, result[-1])
        if (len(match.senses) > 1 or match.partial) and key not in warned:
            warned.add(key)
            warnings.warn(_guess_message(name, match), AmbiguousNameWarning, stacklevel=2)
    if unmapped:
        raise UnmappedNameError(unmapped, {n: _close_candidates(n) for n in unmapped})
    refuse_shared(names, result)
    return result


def _quoted(names: Sequence[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def refuse_shared(names: Sequence[str], synsets: Sequence[str]) -> None:
    """Refuse classes that share a synset: their label embeddings (targets) would coincide.

    Raises:
        SharedSynsetError: naming the classes of each shared synset and how to fix it.
    """
    by_synset: dict[str, list[str]] = {}
    for name, synset in zip(names, synsets, strict=True):
        by_synset.setdefault(synset, []).append(name)
    groups = {synset: group for synset, group in by_synset.items() if len(group) > 1}
    if not groups:
        return
    problems: list[str] = []
    remap = rename = False
    which = "one"
    for synset, group in groups.items():
        distinct = list(dict.fromkeys(group))
        both = "both" if len(group) == 2 else "all"
        if len(distinct) == 1:
            times = "twice" if len(group) == 2 else f"{len(group)} times"
            problems.append(f"class name {distinct[0]!r} is given {times}")
            rename = True
        elif len({normalize_name(n) for n in distinct}) == 1:
            problems.append(
                f"class names {_quoted(distinct)} are spellings of one name (case, spaces, "
                f"hyphens and underscores are ignored) and {both} map to {synset}"
            )
            rename = True
        else:
            problems.append(f"class names {_quoted(distinct)} {both} map to {synset}")
            remap = True
            which = which if len(distinct) == 2 else "all but one"
    fixes = []
    if remap:
        fixes.append(
            f"map {which} of them to another synset in a --mapping file (one "
            "'name<TAB>synset' line per class; from Python: map_names(names, "
            "overrides={name: synset}))"
        )
    if rename:
        fixes.append("give each class once, under a name of its own")
    raise SharedSynsetError(
        groups,
        f"{'; '.join(problems)}. Each class needs a synset of its own, or their label "
        f"embeddings would coincide: {' and '.join(fixes)}.",
    )


def _dataset_key(name: str) -> str:
    aliases = {re.sub(r"[^a-z0-9]", "", key): key for key in DATASET_CLASSES}
    key = aliases.get(re.sub(r"[^a-z0-9]", "", name.lower()))
    if key is None:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASET_CLASSES)}"
        )
    return key


@cache
def _shipped_mapping(key: str) -> dict[str, str]:
    resource = resources.files("labelspace.hierarchy").joinpath("mappings", f"{key}.tsv")
    return _parse_mapping(
        resource.read_text(encoding="utf-8"), f"labelspace/hierarchy/mappings/{key}.tsv"
    )


def dataset_mapping(name: str) -> dict[str, str]:
    """The shipped, reviewed class name -> synset name mapping of a dataset.

    Raises:
        UnknownDatasetError: ``name`` is not one of :data:`DATASET_CLASSES`.
    """
    return dict(_shipped_mapping(_dataset_key(name)))


def dataset_synsets(name: str) -> list[str]:
    """The synset name of each class of a dataset, in its label order."""
    key = _dataset_key(name)
    mapping = _shipped_mapping(key)
    missing = [c for c in DATASET_CLASSES[key] if c not in mapping]
    if missing:  # a broken installation, not a user error
        raise RuntimeError(f"labelspace/hierarchy/mappings/{key}.tsv lacks classes {missing}")
    return [mapping[c] for c in DATASET_CLASSES[key]]
