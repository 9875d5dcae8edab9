"""Named class lists that are lists of wnids, read from an installed package: ImageNet's.

ImageNet names its classes by wnid (``n01440764``), as do the class folders of the ILSVRC
layout, and timm ships the lists in its package data. A wnid names one WordNet 3.0 noun
synset, so such a list needs no reviewed mapping (unlike the datasets of
:mod:`labelspace.hierarchy.mapping_files`): its classes are the wnids, in the file's order.
:data:`WNID_LISTS` is the registry; adding a source is adding one :class:`WnidList` entry.

The files are found through the package's import spec and read with
:mod:`importlib.resources` without importing the package (importing timm imports torch, two
seconds), and nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from labelspace.errors import MissingInputError
from labelspace.hierarchy.wnids import is_wnid

__all__ = ["WNID_LISTS", "WnidList", "WnidListError", "wnid_list", "wnid_list_key"]


class WnidListError(MissingInputError):
    """A wnid list whose package or file is not installed, or a file that is not a wnid list."""


@dataclass(frozen=True)
class WnidList:
    """One named wnid list: where it is installed and what it is.

    ``resource`` is the file's path inside ``package``, parts separated by ``/``;
    ``aliases`` are other names the source answers to.
    """

    name: str
    package: str
    resource: str
    summary: str
    aliases: tuple[str, ...] = ()

    def file(self) -> Traversable:
        """The installed file (not read; it may be missing).

        Raises:
            WnidListError: ``package`` is not installed.
        """
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.submodule_search_locations is None:
            raise WnidListError(
                f"the {self.name} source reads its classes from the {self.package} package, "
                f"which is not installed; install it (`pip install {self.package}`)"
            )
        # a module object made from the spec, not executed: resources reads its folder
        package = importlib.util.module_from_spec(spec)
        return resources.files(package).joinpath(*self.resource.split("/"))


WNID_LISTS: dict[str, WnidList] = {
    entry.name: entry
    for entry in (
        WnidList(
            "imagenet",
            "timm",
            "data/_info/imagenet_synsets.txt",
            "ImageNet-1k (ILSVRC-2012): 1,000 classes",
            aliases=("imagenet-1k",),
        ),
        WnidList(
            "imagenet12k",
            "timm",
            "data/_info/imagenet12k_synsets.txt",
            "ImageNet-12k, timm's 11,821-class subset of ImageNet-21k",
        ),
        WnidList(
            "imagenet21k",
            "timm",
            "data/_info/imagenet21k_goog_synsets.txt",
            "ImageNet-21k (fall 2011, as Google's models number it): 21,843 classes",
        ),
    )
}
"""The wnid lists, by name."""


def _spelling(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.strip().lower())


@cache
def _by_spelling() -> dict[str, str]:
    return {
        _spelling(alias): entry.name
        for entry in WNID_LISTS.values()
        for alias in (entry.name, *entry.aliases)
    }


def wnid_list_key(name: str) -> str | None:
    """The wnid list a source name names, however spelled ("ImageNet-1k", "imagenet_21k"),
    or None when it names none."""
    return _by_spelling().get(_spelling(name))


@cache
def wnid_list(name: str) -> tuple[str, ...]:
    """The wnids of the list ``name`` (any spelling of it or an alias), in the file's order.

    Raises:
        KeyError: no such list (:func:`wnid_list_key` says which names are).
        WnidListError: its package or file is not installed, or a line is not a wnid.
    """
    key = wnid_list_key(name)
    if key is None:
        raise KeyError(f"no wnid list {name!r}; known: {', '.join(WNID_LISTS)}")
    entry = WNID_LISTS[key]
    path = entry.file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise WnidListError(
            f"the {key} source reads its classes from {path} ({entry.package}'s package data), "
            f"but cannot read it ({err.strerror or err}); reinstall {entry.package} "
            f"(`pip install --force-reinstall {entry.package}`)"
        ) from None
    wnids = tuple(text.split())
    bad = [w for w in wnids if not is_wnid(w)]
    if bad or not wnids:
        raise WnidListError(
            f"{path} should list one wnid (n + 8 digits) per line, but "
            f"{'is empty' if not wnids else 'holds ' + ', '.join(map(repr, bad[:5]))}; "
            f"reinstall {entry.package} (`pip install --force-reinstall {entry.package}`)"
        )
    return wnids
