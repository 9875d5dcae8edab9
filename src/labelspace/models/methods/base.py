"""What every method's loss is: a training criterion that also owns the method's class scores.

Every loss derives from :class:`ClassScoreLoss`, an ``nn.Module`` with

- ``forward(outputs, targets)``: the mean loss over the batch; ``targets`` are class positions
  (row ``i`` of the label vectors is class ``i``, which is ``Hierarchy.classes[i]``);
- ``scores(outputs) -> (N, C)``: class scores, higher is better, whose argmax is the
  prediction (logits, similarities, negative distances or class log-probabilities): the one
  definition of the method's score, used in training, evaluation, analysis and prediction;
- ``probabilities(scores)``: class probabilities where the method trains a probability model
  (for calibration, back-off and CRM), else ``None``;
- ``restrict_to(seen)``: zero-shot training, where the competitors of the true class are the
  seen classes only while ``scores`` still covers every class;
- ``num_outputs``: how many numbers the model's head must produce;
- ``from_space(space, options)``: the loss of a method on a label space (the method registry,
  :mod:`labelspace.models.methods.registry`, calls it).

Label vectors are copied and frozen (a buffer) unless ``trainable=True``, in which case they
are a parameter (on the Poincaré ball, a geoopt ``ManifoldParameter``, so that the optimiser
takes Riemannian steps and keeps them inside the ball). Losses with parameters need them in
the optimiser: optimise ``[*model.parameters(), *loss.parameters()]``.

Where a loss needs a tree but WordNet gives a DAG, each node keeps the one parent that
:meth:`Hierarchy.path_to_root` follows (the deepest parent, ties to the lower index):
:func:`class_paths`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from labelspace.embeddings.geometry import Geometry, get_geometry
from labelspace.errors import InputError

if TYPE_CHECKING:
    from labelspace.embeddings.space import LabelSpace
    from labelspace.hierarchy.graph import Hierarchy
    from labelspace.models.options import MethodOptions


class ClassScoreLoss(nn.Module):
    """Base class: a training criterion that also owns the method's class scores."""

    geometry: ClassVar[str] = "logits"  # how outputs become scores (embeddings.geometry)
    trains_on_seen_only: ClassVar[bool] = True  # False: the loss needs every class's images
    # a loss with several ways to score classes names them here; the training module measures
    # each on the validation set after every epoch and keeps the best (choose_decoder)
    decoders: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("seen", None)  # zero-shot: the classes trained on, else None
        self.register_buffer("remap", None)  # class position -> position among the seen

    @classmethod
    def from_space(cls, space: LabelSpace, options: MethodOptions) -> ClassScoreLoss:
        """The loss of a method on ``space`` with ``options`` (see the method registry)."""
        raise NotImplementedError

    @property
    def num_outputs(self) -> int:
        """How many numbers the head must produce per image."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """How many classes :meth:`scores` ranks."""
        raise NotImplementedError

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, C)``, higher is better."""
        return outputs

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor | None:
        """Class probabilities from :meth:`scores`, or ``None`` where none are trained."""
        return None

    @property
    def scores_are_logits(self) -> bool:
        """Whether :meth:`scores` are logits, comparable between classes of one image only,
        rather than distances or similarities in a label space, comparable between images."""
        return not get_geometry(self.geometry).compares_vectors

    def embedded(self, outputs: torch.Tensor) -> torch.Tensor:
        """The part of the head's outputs that lies in the label space (all of it here)."""
        return outputs

    def decoder_scores(self, outputs: torch.Tensor) -> list[torch.Tensor]:
        """Class scores of each of :attr:`decoders`, in that order (none here)."""
        return []

    def choose_decoder(self, index: int) -> None:
        """Decode with ``decoders[index]`` from now on (saved with the weights)."""
        raise NotImplementedError(f"{type(self).__name__} has one way to score classes")

    def choose_best_decoder(self, top1: Sequence[float]) -> None:
        """Decode with the best of :attr:`decoders` by ``top1`` (their validation top-1, in
        order); ties go to the first, so a later way must be strictly better to win."""
        self.choose_decoder(max(range(len(top1)), key=lambda i: (top1[i], -i)))

    def restrict_to(self, seen: Sequence[int], num_classes: int) -> ClassScoreLoss:
        """Zero-shot training: rank the true class against the ``seen`` classes only.

        A loss that ranks the true label against the others would otherwise push every image
        away from the unseen labels it never saw, which is exactly the knowledge zero-shot
        recognition needs. :meth:`scores` still covers every class, so decoding can reach the
        unseen ones.
        """
        if not self.trains_on_seen_only:
            raise InputError(
                f"{type(self).__name__} cannot leave classes out of training: zero-shot runs "
                "need a loss that ranks the true label against the others (`labelspace "
                "methods` lists which)"
            )
        seen_ids = torch.as_tensor(list(seen), dtype=torch.long)
        if seen_ids.numel() < 2 or int(seen_ids.max()) >= num_classes or int(seen_ids.min()) < 0:
            raise InputError(f"need >= 2 seen classes among {num_classes}, got {seen_ids.tolist()}")
        remap = torch.full((num_classes,), -1, dtype=torch.long)
        remap[seen_ids] = torch.arange(len(seen_ids))
        self.seen, self.remap = seen_ids, remap
        return self

    def seen_only(
        self, scores: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The score columns and target positions of the seen classes (all when unrestricted)."""
        if self.seen is None:
            return scores, targets
        # no per-batch check (it would make every step wait for the device): the data module
        # leaves the unseen classes' images out of training and validation, checked once there
        return scores[:, self.seen], self.remap[targets]


class SoftmaxLoss(ClassScoreLoss):
    """A loss on one logit per class: scores are the logits, probabilities their softmax."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self._num_classes = num_classes

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_outputs(self) -> int:
        return self._num_classes

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return scores.softmax(-1)


def _as_label_tensor(label_vectors: torch.Tensor | np.ndarray) -> torch.Tensor:
    vectors = torch.as_tensor(label_vectors, dtype=torch.float32).detach().clone()
    if vectors.ndim != 2 or vectors.shape[0] < 1:
        raise ValueError(f"label vectors must be a (C, D) matrix, got shape {tuple(vectors.shape)}")
    return vectors


class LabelVectorLoss(ClassScoreLoss):
    """A loss on outputs in a label space: scores compare the output with every label vector
    under the loss's :attr:`geometry` (:func:`labelspace.embeddings.geometry.get_geometry`)."""

    label_vectors: torch.Tensor
    curvature: float = 0.0

    def __init__(self, label_vectors: torch.Tensor | np.ndarray, trainable: bool = False) -> None:
        super().__init__()
        vectors = _as_label_tensor(label_vectors)
        if trainable:
            self.label_vectors = nn.Parameter(vectors)
        else:
            self.register_buffer("label_vectors", vectors)

    @property
    def num_classes(self) -> int:
        return self.label_vectors.shape[0]

    @property
    def dim(self) -> int:
        """Dimension of the label space: the size the model's output must have."""
        return self.label_vectors.shape[1]

    @property
    def num_outputs(self) -> int:
        return self.dim

    @property
    def label_geometry(self) -> Geometry:
        """The label space's geometry (distance, ranking, projection)."""
        return get_geometry(self.geometry, self.curvature)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.label_geometry.scores(outputs, self.label_vectors)


def class_paths(hierarchy: Hierarchy) -> list[list[int]]:
    """Node indices of each class's :meth:`~Hierarchy.path_to_root` (class first, root last)."""
    index = hierarchy.index
    return [[index[n] for n in hierarchy.path_to_root(c)] for c in hierarchy.classes]
