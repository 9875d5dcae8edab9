"""The method registry: which head, loss, label embedding and decoding go together.

A method is the unit ``labelspace train --method`` and ``labelspace compare`` speak of. Each
entry pairs a head factory (what the network outputs), a loss class (how the output is pulled
towards the label, and how outputs become class scores and probabilities), the label-embedding
kind it uses by default and the :class:`~labelspace.models.options.MethodOptions` fields it
reads. Each family module of :mod:`labelspace.models.methods` registers its entries with
:func:`register` when the package loads; everything downstream (training, evaluation,
analysis, reports, the CLI) reads :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn

from labelspace.embeddings.space import LabelSpace
from labelspace.errors import InputError
from labelspace.models.methods.base import ClassScoreLoss
from labelspace.models.options import MethodOptions

HeadFactory = Callable[[int, ClassScoreLoss, MethodOptions], nn.Module]
# (label space, options, vectors of that embedding or None) -> the points the model decodes
# against: the classes' by default, or candidates moved as the classes were (open vocabulary)
LabelPoints = Callable[[LabelSpace, MethodOptions, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """A named recipe: head factory + loss class + default label embedding + its options."""

    name: str
    head: HeadFactory  # (backbone features, the built loss, options) -> head module
    loss: type[ClassScoreLoss]
    embedding: str | None  # default label-embedding kind; None: no label vectors are used
    summary: str
    options: tuple[str, ...] = ()  # the MethodOptions fields the head and loss read
    order: int = 1000  # place in `labelspace methods` (then by name)
    divergence_hint: str | None = None  # what else to try when training diverges
    label_points: LabelPoints | None = None  # None: the label embedding's vectors as they are

    def __post_init__(self) -> None:
        known = {f.name for f in fields(MethodOptions)}
        unknown = [name for name in self.options if name not in known]
        if unknown:
            raise TypeError(f"method {self.name!r} names unknown options {unknown}")

    @property
    def uses_embedding(self) -> bool:
        return self.embedding is not None

    @property
    def geometry(self) -> str:
        """How the head's outputs are compared with labels (embeddings.geometry.get_geometry)."""
        return self.loss.geometry

    @property
    def has_probabilities(self) -> bool:
        """Whether the loss trains a probability model (softmax over classes)."""
        return self.loss.probabilities is not ClassScoreLoss.probabilities

    @property
    def zero_shot(self) -> bool:
        """Whether the method can train with classes left out (``--unseen``)."""
        return self.loss.trains_on_seen_only

    def build(
        self, in_features: int, space: LabelSpace, options: MethodOptions
    ) -> tuple[nn.Module, ClassScoreLoss]:
        """The head on top of ``in_features`` backbone features, and the training loss."""
        options.validate()
        loss = self.loss.from_space(space, options)
        return self.head(in_features, loss, options), loss

    def points(
        self, space: LabelSpace, options: MethodOptions, vectors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The points the method decodes against: the classes' (``vectors=None``) or other
        labels of the same embedding placed as the classes were (open vocabulary)."""
        if self.label_points is not None:
            return self.label_points(space, options, vectors)
        return space.class_vectors if vectors is None else vectors

    def check_zero_shot(self) -> None:
        """Refuse ``--unseen`` for a method whose loss needs every class's images."""
        if not self.zero_shot:
            able = ", ".join(m.name for m in METHODS.values() if m.zero_shot)
            raise InputError(
                f"{self.name} cannot leave classes out of training: zero-shot runs need a loss "
                f"that ranks the true label against the others ({able})"
            )


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (kept in :attr:`Method.order`); names are unique."""
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    entries = sorted([*METHODS.values(), method], key=lambda m: (m.order, m.name))
    METHODS.clear()
    METHODS.update((m.name, m) for m in entries)
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``; a clear error naming the others if none is."""
    try:
        return METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None
