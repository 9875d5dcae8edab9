"""Class names in their canonical spelling, and the noun synset a wnid or synset name names.

A class may be given by an identifier (``n02084071``, ``dog.n.01``) rather than a plain name;
such an identifier names exactly one WordNet 3.0 synset or is an error, never a guess.
"""

from __future__ import annotations

import re

from labelspace.errors import InputError
from labelspace.hierarchy.nouns import SynsetLookupError, noun_graph
from labelspace.hierarchy.wnids import is_offset_id, is_synset_name
from labelspace.hierarchy.wordnet import wordnet


class UnknownSynsetError(InputError):
    """A wnid or synset name that names no WordNet 3.0 noun synset."""


def normalize_name(name: str) -> str:
    """Canonical spelling of a class name: stripped, lowercase, spaces and hyphens to ``_``.

    Override keys and names are compared in this form, so "Ankle boot" matches "ankle_boot".
    """
    return re.sub(r"[\s\-_]+", "_", name.strip().lower()).strip("_")


def identifier_synset(text: str) -> str | None:
    """The noun synset a wnid or synset name denotes (its name); None if ``text`` is neither.

    Raises:
        UnknownSynsetError: ``text`` has the form of an identifier but names no noun synset.
    """
    ident = text.strip()
    if is_offset_id(ident.lower()):
        ident = ident.lower()
        if ident[0] != "n":
            raise UnknownSynsetError(f"{text!r} is not a noun wnid (nouns start with 'n')")
        name = noun_graph().from_wnid(ident)
        if name is None:
            raise UnknownSynsetError(f"{text!r}: WordNet 3.0 has no noun synset with this wnid")
        return name
    if is_synset_name(ident):
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
    name = identifier_synset(identifier)
    if name is None:
        raise UnknownSynsetError(
            f"{identifier!r} is neither a synset name (like dog.n.01) nor a wnid (like n02084071)"
        )
    return name
