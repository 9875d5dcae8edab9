"""Map dataset class names to WordNet 3.0 noun synsets.

Label embeddings are built from WordNet's noun hierarchy, so every class of a dataset needs one
noun synset. Names come in many spellings ("Ankle boot", "T-shirt/top", "maple_tree", a wnid
such as ``n02084071`` or a synset name such as ``dog.n.01``); :func:`map_names` resolves them.
A plain name can mean several things ("mouse" the rodent or the computer device), so guesses
are flagged with :class:`AmbiguousNameWarning`, and the shipped, hand-reviewed mappings of the
named datasets (``labelspace/hierarchy/mappings/<dataset>.tsv``) settle them.

This module is the mapping's public face; its parts are the spelling of names and identifiers
(:mod:`~labelspace.hierarchy.synset_names`), plain-name lookup
(:mod:`~labelspace.hierarchy.name_matching`) and mapping files, shipped ones included
(:mod:`~labelspace.hierarchy.mapping_files`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from labelspace.errors import InputError
from labelspace.hierarchy.mapping_files import read_mapping_file
from labelspace.hierarchy.name_matching import close_candidates, guess_message, match_plain
from labelspace.hierarchy.synset_names import (
    UnknownSynsetError,
    identifier_synset,
    normalize_name,
    resolve_synset,
)
from labelspace.hierarchy.wnids import wnid
from labelspace.hierarchy.wordnet import wordnet

__all__ = [
    "AmbiguousNameWarning",
    "SharedSynsetError",
    "UnmappedNameError",
    "map_names",
    "refuse_shared",
]

log = logging.getLogger(__name__)

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
    plain name with fallbacks (see
    :func:`~labelspace.hierarchy.name_matching.match_plain`). A plain name with several senses
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
        identified = identifier_synset(name)
        if identified is not None:
            result.append(identified)
            continue
        match = match_plain(name) if key else None
        if match is None:
            if name not in unmapped:
                unmapped.append(name)
            result.append("")
            continue
        result.append(match.senses[0].name())
        log.debug("class name %r: WordNet lemma %r -> %s", name, match.form, result[-1])
        if (len(match.senses) > 1 or match.partial) and key not in warned:
            warned.add(key)
            warnings.warn(guess_message(name, match), AmbiguousNameWarning, stacklevel=2)
    if unmapped:
        raise UnmappedNameError(unmapped, {n: close_candidates(n) for n in unmapped})
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
