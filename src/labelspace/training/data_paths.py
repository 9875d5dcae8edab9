"""Where a run's dataset is: recorded once, found again, or given anew.

A run records its dataset in config.yaml so that ``evaluate`` and ``analyze`` can load it
again. A named dataset (``fashion-mnist``, ``torchvision:cifar10``) is recorded as its name;
a folder, manifest or shard folder as its absolute path (:func:`recorded_dataset`), so that
the run finds it from any folder. Runs recorded before that kept the path as typed, relative
to the folder they were trained from: :func:`locate_dataset` looks for it from the current
folder, then beside the run and in each folder above it, and names where it looked when the
dataset is in none. A dataset that has moved is given anew with ``--data PATH``
(:func:`given_dataset`); the run then checks that it has the run's classes.
"""

from __future__ import annotations

import os
from pathlib import Path

from labelspace.errors import MissingInputError
from labelspace.training.config import RunError

DATA_OPTION = "--data PATH"  # how a command is told where a moved dataset is


def is_named_dataset(spec: str) -> bool:
    """Whether ``spec`` names a dataset (``fashion-mnist``, ``torchvision:cifar10``) rather
    than a path (a name wins over a folder of that name, as in ``load_dataset``)."""
    from labelspace.data.named import TORCHVISION_PREFIX, named_specs

    key = spec.strip().lower()
    return key in named_specs() or key.startswith(TORCHVISION_PREFIX)


def _absolute(path: Path) -> str:
    """``path`` from the root, ``..`` and ``~`` resolved; symbolic links kept, so a dataset
    reached through a link keeps the link's name."""
    return os.path.abspath(path.expanduser())


def recorded_dataset(spec: str) -> str:
    """What a new run records as its dataset: a name as it is, a path that exists as an
    absolute path."""
    if is_named_dataset(spec) or not Path(spec).expanduser().exists():
        return spec
    return _absolute(Path(spec))


def given_dataset(spec: str | Path) -> str:
    """A dataset given with ``--data`` for an existing run: a name, or a path that exists
    (made absolute)."""
    spec = str(spec)
    if is_named_dataset(spec):
        return spec
    path = Path(spec).expanduser()
    if not path.exists():
        raise MissingInputError(
            f"--data {spec}: no such file or folder; give the run's dataset (a folder, a .csv "
            "manifest or shards) where it is now"
        )
    return _absolute(path)


def locate_dataset(spec: str, run: Path) -> str:
    """The dataset ``run`` recorded as ``spec``, found: a name as it is; an absolute path if
    it still exists; a relative path (runs recorded before paths were made absolute) from
    the current folder, else beside the run or in a folder above it. A dataset found
    nowhere is an error that says where it was looked for and names ``--data PATH``."""
    if is_named_dataset(spec):
        return spec
    path = Path(spec).expanduser()
    if path.is_absolute():
        if path.exists():
            return spec
        raise RunError(
            f"{run} was trained on {spec}, which does not exist any more; if the dataset has "
            f"moved, pass its new place with {DATA_OPTION}"
        )
    here = Path.cwd()
    above = Path(_absolute(Path(run))).parents
    for base in (here, *above):
        if (base / path).exists():
            return _absolute(base / path)
    raise RunError(
        f"{run} recorded its dataset as the relative path {spec}, which is neither under the "
        f"current folder ({here}) nor under {above[0]} or a folder above it; pass the "
        f"dataset with {DATA_OPTION}"
    )
