"""Closed-form hierarchy-based class embeddings on the unit hypersphere.

Barz & Denzler, "Hierarchy-based Image Embeddings for Semantic Image Retrieval" (WACV 2019):
every class c gets a unit vector φ(c) whose dot products encode the hierarchy,

    φ(ci) · φ(cj) = 1 - d(ci, cj),   d(ci, cj) = height(LCA(ci, cj)) / max height,

so that cosine similarity between class embeddings is exactly the semantic similarity. The
vectors are built one class at a time: φ(c1) = e1, and φ(ci) takes its first i-1 coordinates
from the (lower-triangular) linear system against φ(c1..ci-1) and its i-th coordinate from the
unit-norm constraint. No training is involved; the dimension is the number of classes.
"""

from __future__ import annotations

import torch

from labelspace.embeddings.store import LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy, HierarchyError

# 1 - ||x||^2 above -NEGATIVE_TOLERANCE is rounding error and clamped to 0; below it the
# similarities cannot be realised by unit vectors at all.
NEGATIVE_TOLERANCE = 1e-8
# A reproduced Gram matrix further than this from the target is reported as an error.
GRAM_TOLERANCE = 1e-6
# Diagonal entries below this make the triangular system (near-)singular.
SINGULAR_TOLERANCE = 1e-12


class SphereEmbeddingError(InputError):
    """The hierarchy's class similarities cannot be realised by unit vectors."""


def tree_lca_height(hierarchy: Hierarchy) -> torch.Tensor:
    """height(LCA) for every pair of classes in the tree that keeps, for each node, the parent
    :meth:`Hierarchy.path_to_root` follows (the deepest): the first node the two classes'
    paths share. Heights grow along every path, so these form an ultrametric, whose
    similarities 1 - height/max height are always realisable on the sphere."""
    index = hierarchy.index
    height = hierarchy.height
    paths = [[index[n] for n in hierarchy.path_to_root(c)] for c in hierarchy.classes]
    n = len(paths)
    out = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        on_path = {node: k for k, node in enumerate(paths[i])}
        for j in range(i + 1, n):
            common = next(node for node in paths[j] if node in on_path)
            out[i, j] = out[j, i] = float(height[common])
    return out


def class_similarity(hierarchy: Hierarchy, *, tree: bool = False) -> torch.Tensor:
    """Target Gram matrix 1 - height(LCA)/max height for every pair of classes (float64);
    ``tree``: with the LCA in the path-to-root tree (:func:`tree_lca_height`).

    The diagonal is 1 (every class at distance 0 from itself), also for a class that is an
    ancestor of other classes.

    Identical classes (d = 0 for two different classes) are an error that names them, because
    they would get the same vector and the construction would become singular.
    """
    classes = list(hierarchy.classes)
    lca_height = (
        tree_lca_height(hierarchy) if tree else hierarchy.class_lca_height.to(torch.float64)
    )
    max_height = float(hierarchy.height.max()) if len(hierarchy.nodes) else 0.0
    n = len(classes)
    if n == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    zero = (lca_height <= 0) & off_diagonal
    if max_height <= 0 or bool(zero.any()):
        pairs = [(classes[i], classes[j]) for i, j in zero.nonzero().tolist() if i < j]
        shown = "; ".join(f"{a} and {b}" for a, b in pairs[:10])
        raise SphereEmbeddingError(
            f"classes at hierarchy distance 0 cannot get distinct sphere embeddings: "
            f"{shown or 'every pair'}{' ...' if len(pairs) > 10 else ''}"
        )
    sim = 1.0 - lca_height / max_height
    # d(c, c) = 0 by definition; height(LCA(c, c)) = height(c) is > 0 for a class that is an
    # ancestor of other classes, which would otherwise ask for a vector shorter than 1.
    sim.fill_diagonal_(1.0)
    return sim


def sphere_embedding(hierarchy: Hierarchy) -> LabelEmbedding:
    """Barz & Denzler's unit-sphere class embedding of ``hierarchy.classes`` (dim = #classes).

    Computed in float64, returned as float32. A DAG (WordNet's, where a node may have several
    parents) can give LCA heights whose similarities no unit vectors realise (they are not
    positive semidefinite: Tiny ImageNet's are not). Then the LCA is taken in the tree that
    :meth:`Hierarchy.path_to_root` follows, the one tree labelspace's tree-based losses use,
    whose similarities always are; the embedding's ``training["lca"]`` says which was used.
    Raises :class:`SphereEmbeddingError` if two classes are at distance 0.
    """
    classes = list(hierarchy.classes)
    n = len(classes)
    if n == 0:
        raise HierarchyError("the hierarchy has no classes to embed")
    sim = class_similarity(hierarchy)
    try:
        phi = _factorise(sim, classes)
        lca = "hierarchy"
    except SphereEmbeddingError:
        sim = class_similarity(hierarchy, tree=True)
        phi = _factorise(sim, classes)
        lca = "path-to-root tree (the hierarchy's similarities are not positive semidefinite)"
    embedding = _checked_embedding(hierarchy, classes, sim, phi)
    embedding.training["lca"] = lca
    return embedding


def _factorise(sim: torch.Tensor, classes: list[str]) -> torch.Tensor:
    """φ with φ φᵀ = sim, or :class:`SphereEmbeddingError` naming a class that cannot be placed.

    The row-by-row construction is the Cholesky-Banachiewicz factorisation sim = φ φᵀ, so a
    positive definite matrix is factorised in one LAPACK call (seconds faster for 1000
    classes); only a semidefinite or indefinite one goes through the explicit loop, which
    clamps rounding, copes with singular steps and names the class that cannot be placed."""
    phi, info = torch.linalg.cholesky_ex(sim)
    return phi if int(info) == 0 else _incremental(sim, classes)


def _incremental(sim: torch.Tensor, classes: list[str]) -> torch.Tensor:
    """Barz & Denzler's loop: φ(c1) = e1, then each class against the ones before it."""
    n = len(classes)
    phi = torch.zeros(n, n, dtype=torch.float64)
    phi[0, 0] = 1.0
    singular = False  # set once some diagonal entry is ~0; then fall back to least squares
    for i in range(1, n):
        previous = phi[:i, :i]  # lower triangular: φ(cj) lives in the first j coordinates
        target = sim[i, :i].unsqueeze(1)
        if singular:
            x = torch.linalg.lstsq(previous, target, driver="gelsd").solution.squeeze(1)
        else:
            x = torch.linalg.solve_triangular(previous, target, upper=False).squeeze(1)
        rest = 1.0 - float(x @ x)
        if rest < -NEGATIVE_TOLERANCE:
            raise SphereEmbeddingError(
                f"class {classes[i]!r} cannot be placed on the unit sphere (1 - ||x||^2 = "
                f"{rest:.3g}): the similarities 1 - height(LCA)/max height of this hierarchy "
                f"are not positive semidefinite"
            )
        phi[i, :i] = x
        phi[i, i] = max(rest, 0.0) ** 0.5
        singular = singular or float(phi[i, i]) < SINGULAR_TOLERANCE
    return phi


def _checked_embedding(
    hierarchy: Hierarchy, classes: list[str], sim: torch.Tensor, phi: torch.Tensor
) -> LabelEmbedding:
    """Verify φ φᵀ = sim and wrap the vectors with their provenance."""
    n = len(classes)
    error = (phi @ phi.T - sim).abs()
    worst = float(error.max())
    if worst > GRAM_TOLERANCE:
        a, b = divmod(int(error.argmax()), n)
        raise SphereEmbeddingError(
            f"the sphere embedding misses the target similarity of {classes[a]!r} and "
            f"{classes[b]!r} by {worst:.3g}: the hierarchy's similarities are not realisable "
            f"by unit vectors"
        )
    return LabelEmbedding(
        labels=classes,
        vectors=phi.to(torch.float32),
        kind="sphere",
        manifold="sphere",
        training={
            "method": "barz_denzler_2019",
            "reference": "Barz & Denzler, Hierarchy-based Image Embeddings for Semantic Image "
            "Retrieval, WACV 2019",
            "similarity": "1 - height(lca(ci, cj)) / max height",
            "max_height": int(hierarchy.height.max()),
            "root": hierarchy.root,
            "num_nodes": len(hierarchy.nodes),
            "num_classes": n,
            "max_gram_error": worst,
        },
    )
