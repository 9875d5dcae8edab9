"""Where a Poincaré embedding starts from the hierarchy's own shape (``init="hierarchy"``).

For large hierarchies a start laid out from the hierarchy (radius grows with depth, each node
points where its parents point) saves the burn-in that a start from tiny uniform points needs
to find the coarse layout; SGD then only refines it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from labelspace.embeddings.poincare_config import PoincareConfig

if TYPE_CHECKING:
    import torch

    from labelspace.hierarchy.graph import Hierarchy


def link_partners(hierarchy: Hierarchy) -> dict[int, set[int]]:
    """Pairs of nodes that a child with several parents asks to be near each other.

    A child of both p and q can only be close to both if p and q are close. For every such
    child, the paths up from p and from q (:meth:`Hierarchy.path_up`, ties to the parent
    listed first) are followed until they meet, and the nodes at the same number of steps from
    the bottom are paired: p with q, p's parent with q's parent, and so on. Returns each
    node's partners.
    """
    partners: dict[int, set[int]] = {}
    for ps in hierarchy.parents:
        if len(ps) < 2:
            continue
        paths = [hierarchy.path_up(p, first_listed=True) for p in ps]
        for a in range(len(paths)):
            for b in range(a + 1, len(paths)):
                shared = set(paths[a]) & set(paths[b])
                below_a = [x for x in paths[a] if x not in shared]
                below_b = [x for x in paths[b] if x not in shared]
                for x, y in zip(below_a, below_b, strict=False):
                    partners.setdefault(x, set()).add(y)
                    partners.setdefault(y, set()).add(x)
    return partners


def hierarchy_layout(hierarchy: Hierarchy, config: PoincareConfig | None = None) -> torch.Tensor:
    """Starting points in the ball laid out from the hierarchy's direct edges.

    A node at depth k (longest path from the root) sits at hyperbolic radius
    ``init_step * k`` (capped just inside the ball's clamp); its direction is the mean of its
    parents' directions plus Gaussian noise of scale ``s = init_spread * init_decay**k``, so
    subtrees start in separate, narrowing cones: the coarse layout a burn-in would otherwise
    have to find. Random cones put the parents of a shared child far apart, where SGD cannot
    bring them together again; so a node whose :func:`link_partners` are placed before it (in
    :attr:`Hierarchy.breadth_first` order) and lie more than ``s`` away first moves along the
    line to their mean direction, at most ``s``, to end ``init_link_gap * s`` from it (about a
    sibling's spacing: the two subtrees end side by side, not on top of each other). Returns a
    float64 ``(len(hierarchy), dim)`` table; seeded by ``config.seed``.
    """
    import torch

    from labelspace.embeddings.geometry import max_norm

    config = config or PoincareConfig()
    parents = hierarchy.parents
    n = len(parents)
    depth = hierarchy.depth
    partners = {} if config.init_link_gap is None else link_partners(hierarchy)
    rng = np.random.default_rng(config.seed)
    noise = rng.standard_normal((n, config.dim)) / math.sqrt(config.dim)
    direction = np.zeros((n, config.dim))
    placed = np.zeros(n, dtype=bool)
    for i in hierarchy.breadth_first:  # parents before children
        ps = list(parents[i])
        base = direction[ps].mean(0) if ps else np.zeros(config.dim)
        scale = config.init_spread * config.init_decay ** depth[i]
        near = [j for j in partners.get(i, ()) if placed[j]]
        if near:
            pull = direction[near].mean(0) - base
            apart = float(np.linalg.norm(pull))
            if apart > scale:
                base = base + pull * min(apart - config.init_link_gap * scale, scale) / apart
        v = base + scale * noise[i]
        direction[i] = v / max(np.linalg.norm(v), 1e-12)
        placed[i] = True
    # hyperbolic radius r has Euclidean norm tanh(r / 2); stay 0.2 inside the clamped edge
    max_radius = 2.0 * math.atanh(max_norm()) - 0.2
    radius = np.minimum(config.init_step * depth, max_radius)
    return torch.from_numpy(np.tanh(radius / 2.0)[:, None] * direction)
