"""Poincaré embeddings of a hierarchy (Nickel & Kiela, NIPS 2017), fast and batched.

Loss, as in the paper: for each closure pair (u, v) and negatives v' (nodes that are not u's
neighbours), ``-log softmax(-d(u, v))`` over ``{v} ∪ negatives``. Optimised with Riemannian
SGD (Euclidean gradient times ``((1 - |x|²)/2)²``, then projection into the ball).

Where training starts: by default as in the paper, from tiny uniform points, with a burn-in
(reduced learning rate, negatives drawn by degree^0.75) that finds the coarse layout. For large
hierarchies ``init="hierarchy"`` starts from that layout instead (:func:`hierarchy_layout`:
hyperbolic radius grows with depth, each node points where its parents point, plus noise that
shrinks with depth, and the parents of a shared child are drawn together), so SGD only has to
refine it. Riemannian SGD barely turns points far from the origin, so from the layout the
directions also take plain steps on the sphere (:func:`_polar_step`, ``direction_lr``). On the
82,115 WordNet nouns (dim 10) this reached MAP 0.873 and mean rank 3.97 after 32 epochs (seed
0; 0.867 and 4.38 with seed 1), where the burn-in start had reached MAP 0.823 after 90. The
uniform start stays the default: on small hierarchies it converges in seconds, and the image
pipeline's label spaces were measured with it.

Why the optimiser is written out here rather than an autograd loss stepped by geoopt's
RiemannianSGD (which the image models use for their trainable label points): a batch touches
about 6,600 rows of the table (128 pairs, each with its neighbour and 50 negatives), so its
cost is the number of tensor operations, not arithmetic. Autograd would record and replay a
graph of the same few dozen operations on every batch, and a dense optimiser would rescale and
project the whole table where only the touched rows move. Here the gradient is written in
closed form (checked against autograd in the tests); the rows of a batch are gathered with one
``index_select``, scaled by the Riemannian factor and scattered back with one ``index_add_``
(repeats summed in batch order), and only rows that left the ball are projected back. The
negatives of many batches are drawn and checked at once, in the order batch-by-batch drawing
would take them from the generator, and small problems train on one CPU thread (see
:func:`_single_threaded`). For the same seed the result is bit for bit that of the plain
batch-by-batch loop; the mammal closure (dim 5, 150 epochs) trains in under 6 s on one core,
where the reference implementation needs minutes.
The same trainer fits the Euclidean baseline (``manifold="euclidean"``: the same loss on the
Euclidean distance, plain SGD, no ball).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch (about a second to import) is imported by the functions that train,
    import torch  # so that PoincareConfig can be imported without it (command-line start-up)

from labelspace.errors import InputError
from labelspace.validation import require_at_least, require_not_negative, require_positive

log = logging.getLogger(__name__)
SEED_LIMIT = 2**63  # seeds lie in [0, SEED_LIMIT): what both NumPy and torch accept


@dataclass
class PoincareConfig:
    """Hyperparameters of :func:`train_poincare` (recorded with the saved embedding)."""

    dim: int = 10
    epochs: int = 150
    negatives: int = 50
    batch_size: int = 128
    lr: float = 0.3
    burnin_epochs: int | None = None  # None: 20 from the uniform start, 0 from the layout
    burnin_lr_factor: float = 0.1
    init: str = "uniform"  # "uniform" (the paper's start) or "hierarchy" (hierarchy_layout)
    init_range: float = 1e-3  # uniform start: coordinates in [-init_range, init_range]
    init_step: float = 1.0  # hierarchy start: hyperbolic radius added per level of depth
    init_spread: float = 2.0  # hierarchy start: direction noise at the root ...
    init_decay: float = 0.65  # ... multiplied by this per level of depth
    init_link_gap: float | None = 2.0  # hierarchy start: see hierarchy_layout; None: no pull
    direction_lr: float | None = None  # see _polar_step; None: 0.01 from the layout on the ball
    manifold: str = "poincare"
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.burnin_epochs is None:
            self.burnin_epochs = 20 if self.init == "uniform" else 0
        if self.direction_lr is None:
            on_ball = self.init == "hierarchy" and self.manifold == "poincare"
            self.direction_lr = 0.01 if on_ball else 0.0

    def validate(self) -> None:
        """Every option checked before training; messages name the ``embed`` options."""
        if self.manifold not in ("poincare", "euclidean"):
            raise InputError(f"manifold must be 'poincare' or 'euclidean', got {self.manifold!r}")
        if self.init not in ("hierarchy", "uniform"):
            raise InputError(f"--init must be 'hierarchy' or 'uniform', got {self.init!r}")
        require_at_least(1, dim=self.dim, epochs=self.epochs, negatives=self.negatives)
        require_at_least(1, batch_size=self.batch_size)
        require_positive(lr=self.lr, burnin_lr_factor=self.burnin_lr_factor)
        require_at_least(0, burnin=self.burnin_epochs)
        for name, value in (("init_step", self.init_step), ("init_spread", self.init_spread)):
            if not (math.isfinite(value) and value > 0):  # library-only: named as the field
                raise InputError(f"{name} must be a finite number > 0, got {value}")
        if not 0 < self.init_decay <= 1:
            raise InputError(f"init_decay must lie in (0, 1], got {self.init_decay}")
        if self.init_link_gap is not None and not self.init_link_gap > 0:
            raise InputError(f"init_link_gap must be > 0 or None, got {self.init_link_gap}")
        require_not_negative(direction_lr=self.direction_lr)
        if self.direction_lr > 0 and self.manifold != "poincare":
            raise InputError("--direction-lr applies to the Poincaré ball only; set it to 0")
        if self.dtype not in ("float32", "float64"):
            raise InputError(f"--dtype must be float32 or float64, got {self.dtype!r}")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int | np.integer)
            or not 0 <= self.seed < SEED_LIMIT
        ):
            raise InputError(  # NumPy refuses negative seeds, torch those of 64 bits and more
                f"--seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}"
            )


def _topological_depth(parents: Sequence[Sequence[int]]) -> tuple[list[int], np.ndarray]:
    """Nodes with parents before children, and each node's depth (longest path to a root)."""
    n = len(parents)
    try:
        graph = {i: list(ps) for i, ps in enumerate(parents)}
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise ValueError(f"the hierarchy has a cycle through nodes {err.args[1]}") from None
    if len(order) != n or max(order, default=0) >= n:
        raise ValueError(f"parent indices must lie in [0, {n})")
    depth = np.zeros(n, dtype=np.int64)
    for i in order:
        if parents[i]:
            depth[i] = 1 + depth[list(parents[i])].max()
    return order, depth


def link_partners(parents: Sequence[Sequence[int]], depth: np.ndarray) -> dict[int, set[int]]:
    """Pairs of nodes that a child with several parents asks to be near each other.

    A child of both p and q can only be close to both if p and q are close. For every such
    child, the tree paths up from p and from q (each step to the deepest parent) are followed
    until they meet, and the nodes at the same number of steps from the bottom are paired:
    p with q, p's parent with q's parent, and so on. Returns each node's partners.
    """

    def path_up(node: int) -> list[int]:
        path = [node]
        while parents[path[-1]]:
            path.append(max(parents[path[-1]], key=lambda q: depth[q]))
        return path

    partners: dict[int, set[int]] = {}
    for ps in parents:
        if len(ps) < 2:
            continue
        paths = [path_up(p) for p in ps]
        for a in range(len(paths)):
            for b in range(a + 1, len(paths)):
                shared = set(paths[a]) & set(paths[b])
                below_a = [x for x in paths[a] if x not in shared]
                below_b = [x for x in paths[b] if x not in shared]
                for x, y in zip(below_a, below_b, strict=False):
                    partners.setdefault(x, set()).add(y)
                    partners.setdefault(y, set()).add(x)
    return partners


def hierarchy_layout(
    parents: Sequence[Sequence[int]], config: PoincareConfig | None = None
) -> torch.Tensor:
    """Starting points in the ball laid out from the hierarchy's direct edges.

    A node at depth k (longest path from a root) sits at hyperbolic radius
    ``init_step * k`` (capped just inside the ball's clamp); its direction is the mean of its
    parents' directions plus Gaussian noise of scale ``s = init_spread * init_decay**k``, so
    subtrees start in separate, narrowing cones: the coarse layout a burn-in would otherwise
    have to find. Random cones put the parents of a shared child far apart, where SGD cannot
    bring them together again; so a node whose :func:`link_partners` are placed before it and
    lie more than ``s`` away first moves along the line to their mean direction, at most
    ``s``, to end ``init_link_gap * s`` from it (about a sibling's spacing: the two subtrees
    end side by side, not on top of each other). Returns a float64 ``(len(parents), dim)``
    table; seeded by ``config.seed``.
    """
    import torch

    from labelspace.embeddings.geometry import max_norm

    config = config or PoincareConfig()
    n = len(parents)
    order, depth = _topological_depth(parents)
    partners = {} if config.init_link_gap is None else link_partners(parents, depth)
    rng = np.random.default_rng(config.seed)
    noise = rng.standard_normal((n, config.dim)) / math.sqrt(config.dim)
    direction = np.zeros((n, config.dim))
    placed = np.zeros(n, dtype=bool)
    for i in order:  # parents before children
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


class _NeighbourTest:
    """Vectorised "is w one of u's neighbours (or u itself)?" for sampled negatives.

    A hierarchy of up to ``MAX_DENSE`` nodes keeps an n x n table of answers (one gather per
    test). A larger one keeps each node's neighbours in one padded row, so a batch is tested
    with a single gather and compare; in a closure nodes have few ancestors, so the rows are
    short. A very deep hierarchy (long rows) falls back to binary search in the sorted pair keys.
    """

    MAX_DENSE = 4096
    MAX_CELLS = 50_000_000

    def __init__(self, pairs: torch.Tensor, n: int) -> None:
        import torch

        order = torch.argsort(pairs[:, 0], stable=True)
        child, parent = pairs[order, 0], pairs[order, 1]
        counts = torch.bincount(child, minlength=n)
        width = int(counts.max()) + 1
        self.n = n
        self.width = 1  # cells a test costs per (node, candidate)
        self.dense: torch.Tensor | None = None
        self.table: torch.Tensor | None = None
        self.keys: torch.Tensor | None = None
        if n <= self.MAX_DENSE:
            self.dense = torch.zeros(n, n, dtype=torch.bool)
            self.dense[child, parent] = True
            self.dense.fill_diagonal_(True)
        elif n * width <= self.MAX_CELLS:
            start = torch.cumsum(counts, 0) - counts
            slot = torch.arange(len(child)) - start[child]
            self.table = torch.arange(n).unsqueeze(1).repeat(1, width)  # padding: the node
            self.table[child, slot] = parent
            self.width = width
        else:
            self.keys = torch.unique(child * n + parent)

    def __call__(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            return self.dense[u.unsqueeze(1), w]
        if self.table is not None:
            return (self.table[u].unsqueeze(1) == w.unsqueeze(2)).any(-1)
        import torch

        key = u.unsqueeze(1) * self.n + w
        pos = torch.searchsorted(self.keys, key).clamp_max(len(self.keys) - 1)
        return (self.keys[pos] == key) | (w == u.unsqueeze(1))


if TYPE_CHECKING:
    StepOutput = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    # what the trainer needs from a batch: loss sum, the gradients of all gathered rows (R, D)
    # and 1 - |x|² of each row (R,) (None for the flat baseline)
    BatchOutput = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def _poincare_batch(
    table: torch.Tensor, rows: torch.Tensor, b: int, invalid: torch.Tensor
) -> BatchOutput:
    """Loss and closed-form Euclidean gradients of one batch, all rows gathered at once.

    ``rows`` is ``[u (b), cand (b, K+1) flattened]``: ``cand[:, 0]`` is u's true neighbour,
    ``cand[:, 1:]`` the negatives, ``invalid`` (b, K+1) masks negatives that are neighbours.
    Returns (loss sum, gradient of every entry of ``rows`` (R, D), ``1 - |row|²`` (R,)).

    With alpha = 1 - |x|², beta = 1 - |y|², gamma = 1 + 2|x-y|² / (alpha beta) and
    d = arcosh(gamma): d gamma / dx = 4 / (alpha beta) * ((x - y) + |x-y|² x / alpha), and
    symmetrically for y. |x-y|² is computed from the difference, not from |x|² + |y|² - 2<x,y>,
    which would cancel catastrophically in float32 for nearby points near the boundary.
    """
    import torch

    from labelspace.embeddings.geometry import BOUNDARY_EPS

    xy = table.index_select(0, rows)  # (R, D), R = b (K + 2); faster than table[rows] on CPU
    dim = xy.shape[1]
    k = invalid.shape[1]
    x = xy[:b]  # (B, D)
    y = xy[b:].view(b, k, dim)  # (B, K, D)
    if len(table) < len(rows):  # fewer nodes than rows: square each node once, then gather
        one_minus = (1.0 - table.pow(2).sum(-1)).index_select(0, rows)  # (R,)
    else:
        one_minus = 1.0 - xy.pow(2).sum(-1)
    clamped = one_minus.clamp_min(BOUNDARY_EPS)
    alpha = clamped[:b].unsqueeze(1)  # (B, 1)
    beta = clamped[b:].view(b, k)  # (B, K)
    diff = x.unsqueeze(1) - y  # (B, K, D)
    sq = diff.pow(2).sum(-1)  # (B, K)
    ab = alpha * beta
    gamma = 1.0 + 2.0 * sq / ab
    root = torch.sqrt((gamma.pow(2) - 1.0).clamp_min(1e-12))
    dist = torch.log(gamma + root)
    logp = torch.log_softmax((-dist).masked_fill(invalid, -math.inf), dim=1)
    loss = -logp[:, 0].sum()
    # L = d_0 + logsumexp(-d), so dL/d dist_k = [k == 0] - softmax_k
    g = -logp.exp()
    g[:, 0] += 1.0
    cx = g / root * 4.0 / ab  # dL/d gamma_k * 4 / (alpha beta_k)
    cx_sq = cx * sq
    grads = torch.empty_like(xy)
    torch.add(
        torch.bmm(cx.unsqueeze(1), diff).squeeze(1),
        cx_sq.sum(1, keepdim=True) / alpha * x,
        out=grads[:b],
    )
    torch.addcmul(
        y * (cx_sq / beta).unsqueeze(-1),
        diff,
        cx.unsqueeze(-1),
        value=-1.0,
        out=grads[b:].view(b, k, dim),
    )
    return loss, grads, one_minus


def _euclidean_batch(
    table: torch.Tensor, rows: torch.Tensor, b: int, invalid: torch.Tensor
) -> BatchOutput:
    """The same loss with Euclidean distance (the flat baseline); see :func:`_poincare_batch`."""
    import torch

    xy = table.index_select(0, rows)
    dim = xy.shape[1]
    k = invalid.shape[1]
    x = xy[:b]
    y = xy[b:].view(b, k, dim)
    diff = x[:, None, :] - y
    dist = diff.pow(2).sum(-1).clamp_min(1e-18).sqrt()
    logp = torch.log_softmax((-dist).masked_fill(invalid, -math.inf), dim=1)
    loss = -logp[:, 0].sum()
    g = -logp.exp()
    g[:, 0] += 1.0
    unit = diff * (g / dist)[..., None]  # dL/dx per candidate
    grads = torch.empty_like(xy)
    torch.sum(unit, 1, out=grads[:b])
    torch.neg(unit, out=grads[b:].view(b, k, dim))
    return loss, grads, None


def _step_output(
    batch: Callable[..., BatchOutput],
    table: torch.Tensor,
    u: torch.Tensor,
    cand: torch.Tensor,
    invalid: torch.Tensor,
) -> StepOutput:
    import torch

    b, k = cand.shape
    loss, grads, _ = batch(table, torch.cat([u, cand.reshape(-1)]), b, invalid)
    return loss, grads[:b], grads[b:].view(b, k, -1), table[u], table[cand]


def _poincare_step(
    table: torch.Tensor, u: torch.Tensor, cand: torch.Tensor, invalid: torch.Tensor
) -> StepOutput:
    """:func:`_poincare_batch` for separate ``u`` (B,) and ``cand`` (B, K+1).

    Returns (loss sum, grad wrt u rows (B, D), grad wrt candidate rows (B, K+1, D), u rows,
    cand rows).
    """
    return _step_output(_poincare_batch, table, u, cand, invalid)


def _euclidean_step(
    table: torch.Tensor, u: torch.Tensor, cand: torch.Tensor, invalid: torch.Tensor
) -> StepOutput:
    """:func:`_euclidean_batch` for separate ``u`` and ``cand``, as :func:`_poincare_step`."""
    return _step_output(_euclidean_batch, table, u, cand, invalid)


# _polar_step: the longest tangent step of a direction per batch (a turn of atan(0.05) rad),
# and the Euclidean norm (hyperbolic radius 1.1) below which points keep the Riemannian step
DIRECTION_CLIP = 0.05
POLAR_MIN_NORM = 0.5


def _polar_step(
    table: torch.Tensor,
    rows: torch.Tensor,
    grad: torch.Tensor,
    buffer: torch.Tensor,
    lr: float,
    direction_lr: float,
) -> None:
    """Update ``rows`` of the ball: a Riemannian step for the radius, a plain one for the direction.

    At hyperbolic radius r, turning a point by an angle t moves it about sinh(r)·t, so Riemannian
    SGD turns far points by a factor ~e^-r less than it moves them outward: the directions a
    start gives stay frozen (on all nouns, the median angle between the parents of a shared child
    was 13.7° before training and 13.8° after 24 epochs). Here the radius takes the Riemannian
    step and the direction a step of ``direction_lr`` times the gradient's tangential part on the
    unit sphere, at most ``DIRECTION_CLIP`` long per batch. Points near the origin, where
    Riemannian SGD turns them easily and a direction may be undefined, keep the Riemannian step.
    ``grad`` holds the Euclidean gradient of each entry of ``rows`` (repeats allowed);
    ``buffer`` is a zero table of the same shape, used to sum repeats and left zero.
    """
    import torch

    from labelspace.embeddings.geometry import project, riemannian_scale

    buffer.index_add_(0, rows, grad)
    g = buffer.index_select(0, rows)
    buffer.index_fill_(0, rows, 0.0)
    x = table.index_select(0, rows)
    norm = x.norm(dim=-1, keepdim=True)
    metric = riemannian_scale(x)
    unit = x / norm.clamp_min(1e-12)
    g_radial = (g * unit).sum(-1, keepdim=True)
    turn = direction_lr * (g - g_radial * unit)
    turn = turn * (DIRECTION_CLIP / turn.norm(dim=-1, keepdim=True).clamp_min(DIRECTION_CLIP))
    direction = torch.nn.functional.normalize(unit - turn, dim=-1)
    polar = (norm - lr * metric * g_radial) * direction
    new = torch.where(norm > POLAR_MIN_NORM, polar, x - lr * metric * g)
    # repeated rows get the same value, so the order of the writes does not matter
    table.index_copy_(0, rows, project(new))


def _project_rows(table: torch.Tensor, rows: torch.Tensor, limit: float) -> None:
    """Pull the ``rows`` of ``table`` that left the clamped ball back onto its edge, in place.

    The same arithmetic as :func:`~labelspace.embeddings.geometry.project` on ``table[rows]``,
    but only the rows outside are written, and a table with fewer nodes than ``rows`` lists
    has every node measured once instead of every listed row.
    """
    import torch

    vector_norm = torch.linalg.vector_norm  # what Tensor.norm(dim=-1) calls, without its wrapper
    if len(table) < len(rows):
        norm = vector_norm(table, 2, -1, keepdim=True).index_select(0, rows)
    else:
        norm = vector_norm(table.index_select(0, rows), 2, -1, keepdim=True)
    out = (norm > limit).squeeze(1)
    if bool(out.any()):
        hit = rows[out]
        table.index_copy_(0, hit, table.index_select(0, hit) * (limit / norm[out]))


# negatives are drawn and checked for this many (pair, negative) cells at a time
BLOCK_CELLS = 1 << 22


def _epoch_batches(
    pairs: torch.Tensor,
    num_nodes: int,
    config: PoincareConfig,
    gen: torch.Generator,
    unigram: torch.Tensor | None,
    is_neighbour: _NeighbourTest,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, int, torch.Tensor]]:
    """One epoch's batches: ``(rows, b, invalid)`` as :func:`_poincare_batch` takes them.

    The pairs are shuffled, and the negatives of many batches are drawn (from ``unigram`` if
    given, else uniformly), checked and laid out in one go per block of batches. The generator
    draws them in the same order as batch by batch would, so the result does not depend on the
    block size.
    """
    import torch

    bs, k = config.batch_size, config.negatives
    shuffled = pairs[torch.randperm(len(pairs), generator=gen)]
    block = bs * max(1, BLOCK_CELLS // (bs * k * is_neighbour.width))
    for b0 in range(0, len(shuffled), block):
        chunk = shuffled[b0 : b0 + block]
        m = len(chunk)
        if unigram is not None:
            neg = torch.multinomial(unigram, m * k, replacement=True, generator=gen).view(m, k)
        else:
            neg = torch.randint(num_nodes, (m, k), generator=gen)
        u = chunk[:, 0]
        invalid = torch.zeros(m, k + 1, dtype=torch.bool)
        invalid[:, 1:] = is_neighbour(u, neg)
        cand = torch.cat([chunk[:, 1:2], neg], dim=1)
        # rows of batch i: [u (bs), cand (bs, k + 1) flattened], one row of ``full`` each
        whole = m // bs * bs
        full = torch.cat([u[:whole].view(-1, bs), cand[:whole].view(-1, bs * (k + 1))], dim=1)
        full, invalid = full.to(device), invalid.to(device)
        for i in range(whole // bs):
            yield full[i], bs, invalid[i * bs : (i + 1) * bs]
        if whole < m:
            rest = torch.cat([u[whole:], cand[whole:].reshape(-1)]).to(device)
            yield rest, m - whole, invalid[whole:]


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run tensor operations on ``n`` intra-op threads, then restore the thread count."""
    import torch

    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# torch splits an operation across threads in pieces of at least this many elements
# (at::internal::GRAIN_SIZE)
TORCH_GRAIN_SIZE = 32_768


def _single_threaded(config: PoincareConfig, num_nodes: int, device: torch.device) -> bool:
    """Whether to train on one CPU thread: when both a batch and the table are small.

    A batch's tensors have about ``batch_size x (negatives + 2) x dim`` elements; up to two
    grain sizes, torch splits an operation in at most two pieces. For a small table that gains
    nothing (the mammals at dim 5: 1.2 s on one thread, 1.4 s on two, for 40 epochs; at dim 10
    the same) and costs far more on a machine whose cores are busy (waiting for a descheduled
    thread: a 60-epoch run once took 45 s on two threads instead of 3 s on one). Larger batches
    (mammals at dim 20: 1.5 s on two threads, 1.8 s on one) and tables whose rows are read and
    written at random places (all nouns at dim 5: 10 s an epoch on two threads, 13 s on one)
    keep torch's thread count. No operation of a step sums across threads, so the result is
    the same either way.
    """
    cells = config.batch_size * (config.negatives + 2) * config.dim
    small = max(cells, num_nodes * config.dim) <= 2 * TORCH_GRAIN_SIZE
    return device.type == "cpu" and small


@dataclass
class TrainResult:
    """The trained table and a record of how it was trained."""

    vectors: torch.Tensor
    config: PoincareConfig
    seconds: float
    final_loss: float
    history: list[dict[str, float]]

    def record(self) -> dict:
        return {
            "method": "nickel-kiela-2017",
            "config": asdict(self.config),
            "seconds": round(self.seconds, 3),
            "final_loss": self.final_loss,
        }


def train_poincare(
    pairs: np.ndarray,
    num_nodes: int,
    config: PoincareConfig | None = None,
    *,
    parents: Sequence[Sequence[int]] | None = None,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int, float, torch.Tensor], None] | None = None,
) -> TrainResult:
    """Embed the closure ``pairs`` ((child, ancestor) indices into ``range(num_nodes)``).

    ``parents[i]`` are node i's direct parents, needed by the hierarchy start
    (``config.init="hierarchy"``). ``on_epoch(epoch, mean_loss, table)`` is called after every
    epoch (progress, early evaluation); ``table`` is the live embedding and must not be
    modified.
    """
    import torch

    from labelspace.embeddings.geometry import max_norm

    config = config or PoincareConfig()
    config.validate()
    pairs_np = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs_np) == 0:
        raise ValueError("cannot embed a hierarchy without pairs")
    if pairs_np.min() < 0 or pairs_np.max() >= num_nodes:
        raise ValueError(f"pair indices must lie in [0, {num_nodes})")
    device = torch.device(device)
    dtype = getattr(torch, config.dtype)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    pairs_t = torch.from_numpy(pairs_np)
    is_neighbour = _NeighbourTest(pairs_t, num_nodes)
    # degree-based negatives for burn-in, as in the reference (counts ** 0.75)
    counts = torch.ones(num_nodes, dtype=torch.float64)
    counts.index_add_(0, pairs_t[:, 1], torch.ones(len(pairs_t), dtype=torch.float64))
    unigram = counts.pow(0.75)
    unigram /= unigram.sum()

    if config.init == "hierarchy":
        if parents is None or len(parents) != num_nodes:
            raise ValueError(
                "init='hierarchy' needs the direct parents of every node (parents=...); "
                "pass them, or use init='uniform' with a burn-in"
            )
        table = hierarchy_layout(parents, config)
    else:
        table = torch.rand(num_nodes, config.dim, generator=gen, dtype=torch.float64) * 2 - 1
        table = table * config.init_range
    table = table.to(dtype=dtype, device=device)
    poincare = config.manifold == "poincare"
    batch_grads = _poincare_batch if poincare else _euclidean_batch
    polar = poincare and config.direction_lr > 0
    buffer = torch.zeros_like(table) if polar else None
    limit = max_norm()
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    loss_epoch = float("nan")
    threads = torch.get_num_threads()
    with _threads(1 if _single_threaded(config, num_nodes, device) else threads):
        for epoch in range(config.epochs):
            burnin = epoch < config.burnin_epochs
            lr = config.lr * (config.burnin_lr_factor if burnin else 1.0)
            loss_total = 0.0
            for rows, b, invalid in _epoch_batches(
                pairs_t, num_nodes, config, gen, unigram if burnin else None, is_neighbour, device
            ):
                loss, grads, one_minus = batch_grads(table, rows, b, invalid)
                loss_total += float(loss)
                if polar:
                    _polar_step(table, rows, grads, buffer, lr, config.direction_lr)
                    continue
                if poincare:  # Riemannian gradient: Euclidean one times ((1 - |x|²) / 2)²
                    grads.mul_((one_minus / 2.0).pow(2).unsqueeze(1))
                # one scatter for the whole batch (index_add_ with alpha= is several times slower
                # on CPU than scaling first)
                table.index_add_(0, rows, grads.mul_(-lr))
                if poincare:
                    _project_rows(table, rows, limit)
            loss_epoch = loss_total / len(pairs_t)
            history.append({"epoch": epoch, "loss": loss_epoch})
            if on_epoch is not None:
                with _threads(threads):  # the callback may evaluate: all threads again
                    on_epoch(epoch, loss_epoch, table)
    seconds = time.perf_counter() - start
    log.info("trained %s embedding in %.1fs, final loss %.4f", config.manifold, seconds, loss_epoch)
    return TrainResult(table.detach().cpu().float(), config, seconds, loss_epoch, history)
