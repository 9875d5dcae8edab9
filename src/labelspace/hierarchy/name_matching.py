"""A plain class name's WordNet noun senses: lemma lookup with fallbacks, and what to say.

"Ankle boot", "T-shirt/top" or "maple_tree" is not a WordNet lemma as written; the name is
tried as a whole, then by its alternatives, without view qualifiers, as a kind of its head
noun, and by its parts (:func:`match_plain`). A match that may not be what the user meant is
explained with the alternatives and the fix (:func:`guess_message`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from labelspace.hierarchy.synset_names import normalize_name
from labelspace.hierarchy.wordnet import wordnet

if TYPE_CHECKING:  # NLTK is imported only where its reader is needed (plain names, glosses)
    from nltk.corpus.reader.wordnet import Synset

# Separators between alternative names of one class ("T-shirt/top").
_ALTERNATIVES = re.compile(r"\s*[/|,]\s*")
# Trailing words that name a view or a variant of the object, not the object ("car_side").
_QUALIFIERS = frozenset({
    "side", "front", "back", "rear", "left", "right", "top", "bottom", "view", "profile",
    "head", "face", "body", "closeup", "easy", "hard", "image", "images", "photo", "picture",
})  # fmt: skip
_MIN_PART_CHARS = 3  # shorter partial names ("t" of "t_shirt") match letters, not objects
_MAX_CANDIDATES = 5


@dataclass(frozen=True)
class Match:
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


def _lookup(forms: Iterator[str]) -> Match | None:
    """The first of ``forms`` that is a WordNet noun lemma (plurals via morphy)."""
    wn = wordnet()
    for form in dict.fromkeys(forms):
        senses = wn.synsets(form, pos="n")
        if senses:
            return Match(form, tuple(senses))
    return None


def _ancestors(synset: Synset) -> set[Synset]:
    return set(synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()))


def _kind_of_head(words: Sequence[str]) -> Match | None:
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
            return Match(modifier.form, kinds)
    return None


def _match_text(text: str) -> Match | None:
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


def match_plain(name: str) -> Match | None:
    """WordNet noun senses of a plain class name, first sense most frequent."""
    return _match_text(_plain_text(name))


@lru_cache(maxsize=1)
def _noun_lemmas() -> tuple[str, ...]:
    return tuple(sorted(set(wordnet().all_lemma_names("n"))))


def close_candidates(name: str) -> list[str]:
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


def guess_message(name: str, match: Match) -> str:
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
