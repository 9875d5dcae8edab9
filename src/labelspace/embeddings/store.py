"""One saved format for every label embedding: a single safetensors file.

The tensor ``vectors`` (N x D) sits beside a JSON document in the file's metadata header
(labels, synsets, kind, manifold, curvature, how it was trained). safetensors never unpickles,
so an embedding shared by someone else loads safely.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from labelspace.embeddings.geometry import get_geometry
from labelspace.errors import InputError, OutputExistsError
from labelspace.files import atomic_write

FORMAT_VERSION = 1
MANIFOLDS = ("poincare", "euclidean", "sphere")


class EmbeddingFileError(InputError):
    """A saved embedding that cannot be read, or that does not fit the classes asked for."""


@dataclass
class LabelEmbedding:
    """Label vectors with what they mean.

    ``labels`` are node names (WordNet synset names such as ``dog.n.01``, or names from a
    hierarchy file); ``synsets`` holds the WordNet synset of each label where there is one.
    ``manifold`` says how to measure distance: ``poincare`` (ball of curvature ``-curvature``),
    ``euclidean`` or ``sphere`` (unit vectors, cosine similarity).
    """

    labels: list[str]
    vectors: torch.Tensor
    kind: str
    manifold: str
    curvature: float = 0.0
    synsets: list[str | None] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.manifold not in MANIFOLDS:
            raise ValueError(f"manifold must be one of {MANIFOLDS}, got {self.manifold!r}")
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.labels):
            raise ValueError(
                f"vectors must be (len(labels), dim) = ({len(self.labels)}, D); "
                f"got {tuple(self.vectors.shape)}"
            )
        self.labels = list(self.labels)  # a tuple (e.g. Hierarchy.classes) would not round-trip
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if not self.synsets:
            self.synsets = [None] * len(self.labels)
        self.synsets = list(self.synsets)
        if len(self.synsets) != len(self.labels):
            raise ValueError(
                f"synsets must have one entry per label ({len(self.labels)}); "
                f"got {len(self.synsets)}"
            )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self, label: str) -> int:
        return self.labels.index(label)

    # ----------------------------------------------------------------- saving and loading
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write atomically to ``path`` (a temporary file renamed into place)."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "labels": self.labels,
            "synsets": self.synsets,
            "kind": self.kind,
            "manifold": self.manifold,
            "curvature": self.curvature,
            "training": self.training,
        }
        header = json.dumps(meta)  # fails before anything is written if not JSON-able
        vectors = {"vectors": self.vectors.detach().float().contiguous().cpu()}
        atomic_write(
            path,
            lambda tmp: save_file(vectors, str(tmp), metadata={"labelspace": header}),
            overwrite=overwrite,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabelEmbedding:
        """Read a file written by :meth:`save`; a foreign or damaged file is a clear error."""
        path = Path(path)
        if not path.is_file():
            raise EmbeddingFileError(f"no embedding file at {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
                # Check the metadata before asking for the tensor, so that a foreign
                # safetensors file is reported as foreign rather than as damaged.
                if "labelspace" not in header:
                    raise EmbeddingFileError(
                        f"{path} is a safetensors file but not a labelspace embedding"
                    )
                if "vectors" not in set(f.keys()):
                    raise EmbeddingFileError(f"{path} has labelspace metadata but no 'vectors'")
                vectors = f.get_tensor("vectors")
        except EmbeddingFileError:
            raise
        except Exception as exc:  # safetensors raises several types for damaged files
            raise EmbeddingFileError(f"{path} is not a readable safetensors file: {exc}") from exc
        try:
            meta = json.loads(header["labelspace"])
        except json.JSONDecodeError as exc:
            raise EmbeddingFileError(f"{path} has unreadable labelspace metadata: {exc}") from exc
        if not isinstance(meta, dict):
            raise EmbeddingFileError(f"{path} has labelspace metadata that is not a JSON object")
        if meta.get("format_version") != FORMAT_VERSION:
            raise EmbeddingFileError(
                f"{path} has format version {meta.get('format_version')}; this labelspace reads "
                f"version {FORMAT_VERSION}"
            )
        try:
            embedding = cls(
                labels=list(meta["labels"]),
                vectors=vectors,
                kind=meta["kind"],
                manifold=meta["manifold"],
                curvature=float(meta["curvature"]),
                synsets=list(meta["synsets"]),
                training=dict(meta["training"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingFileError(f"{path} has inconsistent labelspace metadata: {exc}") from exc
        embedding.check_values(path)
        return embedding

    def check_values(
        self,
        source: str | Path = "the embedding",
        fix: str = "the file is damaged or its training diverged: train it again with "
        "`labelspace embed`",
    ) -> None:
        """Refuse vectors that no model can train against: NaN or infinite entries, and for
        the Poincaré ball, points on or outside its boundary (norm >= 1/sqrt(curvature))."""
        vectors = self.vectors.detach().double()
        bad = ~torch.isfinite(vectors).all(dim=1)
        problem = "non-finite values (NaN or inf)"
        if not bad.any():
            geometry = get_geometry(self.manifold, self.curvature)
            try:
                bad = geometry.outside(vectors)
            except ValueError as err:
                raise EmbeddingFileError(f"{source}: {err}") from None
            problem = f"points outside {geometry.boundary()}"
        if bad.any():
            rows = bad.nonzero().flatten().tolist()
            shown = ", ".join(self.labels[r] for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
            raise EmbeddingFileError(
                f"{source} holds {problem} in {len(rows)} of its {len(self.labels)} vectors "
                f"({shown}); {fix}"
            )

    # ----------------------------------------------------------------- matching to a dataset
    def subset(self, classes: Sequence[str]) -> LabelEmbedding:
        """The rows for ``classes`` in that order; every missing class is named in the error."""
        position = {label: i for i, label in enumerate(self.labels)}
        missing = [c for c in classes if c not in position]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise EmbeddingFileError(
                f"the embedding ({self.kind}, {len(self.labels)} labels) lacks {len(missing)} of "
                f"the {len(classes)} classes asked for: {shown}. Train an embedding for these "
                f"classes with `labelspace embed`."
            )
        rows = torch.tensor([position[c] for c in classes], dtype=torch.long)
        return LabelEmbedding(
            labels=list(classes),
            vectors=self.vectors[rows],
            kind=self.kind,
            manifold=self.manifold,
            curvature=self.curvature,
            synsets=[self.synsets[int(r)] for r in rows],
            training=dict(self.training),
        )
