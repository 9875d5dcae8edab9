"""WordNet identifiers: wnids (ImageNet's ``n02084071``) and synset names (``dog.n.01``).

A WordNet 3.0 synset is identified by its part of speech and the 8-digit byte offset of its
line in the data file; ImageNet names its classes by the nouns' ids (``n`` + offset), its
wnids. Every stage that tells such an identifier from a class name asks this module.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Synset

# a part of speech's letter and an 8-digit offset: a wnid for nouns ("n"); other letters
# (v01831531, a verb) have the form of one, and are refused as "not a noun" by name
_OFFSET_ID = re.compile(r"[a-z]\d{8}")
_SYNSET_NAME = re.compile(r".+\.[a-z]\.\d+")


def is_wnid(text: str) -> bool:
    """Whether ``text`` is a wnid: ``n`` and the 8-digit offset of a WordNet 3.0 noun."""
    return text.startswith("n") and is_offset_id(text)


def is_offset_id(text: str) -> bool:
    """Whether ``text`` has the form of a WordNet id of any part of speech (``v01831531``)."""
    return _OFFSET_ID.fullmatch(text) is not None


def is_synset_name(text: str) -> bool:
    """Whether ``text`` has the form of a synset name: lemma, part of speech, sense number."""
    return _SYNSET_NAME.fullmatch(text) is not None


def is_identifier(text: str) -> bool:
    """Whether ``text`` names a synset by an identifier (a synset name or a WordNet id)
    rather than by a readable class name."""
    return is_synset_name(text) or is_offset_id(text)


def wnid(synset: Synset) -> str:
    """ImageNet-style id of a noun synset: ``n`` plus the 8-digit WordNet 3.0 offset."""
    return f"{synset.pos()}{synset.offset():08d}"


def synset_from_wnid(identifier: str) -> Synset:
    """The synset of an ImageNet-style id such as ``n02084071``."""
    from labelspace.hierarchy.wordnet import wordnet

    return wordnet().synset_from_pos_and_offset(identifier[0], int(identifier[1:]))
