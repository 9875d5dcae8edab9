"""One batch of the Poincaré (and flat Euclidean) embedding loss, in closed form, and its step.

Loss, as in Nickel & Kiela (NIPS 2017): for each closure pair (u, v) and negatives v' (nodes
that are not u's neighbours), ``-log softmax(-d(u, v))`` over ``{v} ∪ negatives``. The gradient
is written out (checked against autograd in the tests) because a batch's cost is the number of
tensor operations, not arithmetic: see :mod:`labelspace.embeddings.poincare`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    StepOutput = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    # what the trainer needs from a batch: loss sum, the gradients of all gathered rows (R, D),
    # the rows themselves (R, D) and |x|² of each row (R,) (None for the flat baseline)
    BatchOutput = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]


def poincare_batch(
    table: torch.Tensor, rows: torch.Tensor, b: int, invalid: torch.Tensor
) -> BatchOutput:
    """Loss and closed-form Euclidean gradients of one batch, all rows gathered at once.

    ``rows`` is ``[u (b), cand (b, K+1) flattened]``: ``cand[:, 0]`` is u's true neighbour,
    ``cand[:, 1:]`` the negatives, ``invalid`` (b, K+1) masks negatives that are neighbours.
    Returns (loss sum, gradient of every entry of ``rows`` (R, D), the rows (R, D),
    ``|row|²`` (R,)).

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
        sq_norm = table.pow(2).sum(-1).index_select(0, rows)  # (R,)
    else:
        sq_norm = xy.pow(2).sum(-1)
    clamped = (1.0 - sq_norm).clamp_min(BOUNDARY_EPS)
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
    return loss, grads, xy, sq_norm


def euclidean_batch(
    table: torch.Tensor, rows: torch.Tensor, b: int, invalid: torch.Tensor
) -> BatchOutput:
    """The same loss with Euclidean distance (the flat baseline); see :func:`poincare_batch`."""
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
    return loss, grads, xy, None


def _step_output(
    batch: Callable[..., BatchOutput],
    table: torch.Tensor,
    u: torch.Tensor,
    cand: torch.Tensor,
    invalid: torch.Tensor,
) -> StepOutput:
    import torch

    b, k = cand.shape
    loss, grads, _, _ = batch(table, torch.cat([u, cand.reshape(-1)]), b, invalid)
    return loss, grads[:b], grads[b:].view(b, k, -1), table[u], table[cand]


def poincare_step(
    table: torch.Tensor, u: torch.Tensor, cand: torch.Tensor, invalid: torch.Tensor
) -> StepOutput:
    """:func:`poincare_batch` for separate ``u`` (B,) and ``cand`` (B, K+1).

    Returns (loss sum, grad wrt u rows (B, D), grad wrt candidate rows (B, K+1, D), u rows,
    cand rows).
    """
    return _step_output(poincare_batch, table, u, cand, invalid)


def euclidean_step(
    table: torch.Tensor, u: torch.Tensor, cand: torch.Tensor, invalid: torch.Tensor
) -> StepOutput:
    """:func:`euclidean_batch` for separate ``u`` and ``cand``, as :func:`poincare_step`."""
    return _step_output(euclidean_batch, table, u, cand, invalid)


# polar_step: the longest tangent step of a direction per batch (a turn of atan(0.05) rad),
# and the Euclidean norm (hyperbolic radius 1.1) below which points keep the Riemannian step
DIRECTION_CLIP = 0.05
POLAR_MIN_NORM = 0.5


def polar_step(
    table: torch.Tensor,
    rows: torch.Tensor,
    x: torch.Tensor,
    sq_norm: torch.Tensor,
    grad: torch.Tensor,
    buffer: torch.Tensor,
    lr: float,
    direction_lr: float,
) -> None:
    """Update ``rows`` of the ball: a Riemannian step for the radius, a plain one for the direction.

    At hyperbolic radius r, turning a point by an angle t moves it about sinh(r)·t, so Riemannian
    SGD turns far points by a factor ~e^-r less than it moves them outward: the directions a
    start gives stay frozen (measured on all nouns: docs/notes/nouns-embedding.md). Here the
    radius takes the Riemannian step and the direction a step of ``direction_lr`` times the
    gradient's tangential part on the unit sphere, at most ``DIRECTION_CLIP`` long per batch.
    Points near the origin, where Riemannian SGD turns them easily and a direction may be
    undefined, keep the Riemannian step. Rows that leave the clamped ball are pulled back onto
    its edge.

    ``x`` and ``sq_norm`` are the rows and their ``|x|²`` as :func:`poincare_batch` gathered
    them (the table has not moved since), so the table is read once per batch. ``grad``
    holds the Euclidean gradient of each entry of ``rows`` (repeats allowed); ``buffer`` is a
    zero table of the same shape, used to sum repeats and left zero.

    Why it is written with per-row numbers: the gradient splits into its radial part and the
    tangential part ``t`` (orthogonal to x), and both steps give ``new = p·x + q·t`` with
    per-row p and q. The turn, its clip and the new radius cost operations on one number per
    row; only forming t and new, and measuring new (t is orthogonal to x only up to rounding,
    which a large radial gradient makes larger than the ball's margin, so far rows are put at
    their radius exactly, as normalising the turned direction would), touch the D coordinates
    of every row. A batch is a few thousand to a few hundred thousand rows, and each operation
    over them costs about as much as its memory traffic.
    """
    import torch

    from labelspace.embeddings.geometry import max_norm

    buffer.index_add_(0, rows, grad)
    g = buffer.index_select(0, rows)
    if len(buffer) <= 4 * len(rows):  # clearing the whole buffer is cheaper than its rows
        buffer.zero_()
    else:
        buffer.index_fill_(0, rows, 0.0)
    sq = sq_norm.clamp_min(1e-30)  # a point at the origin has no direction
    norm = sq.sqrt()
    metric = ((1.0 - sq_norm) / 2.0).pow(2)  # the Riemannian factor ((1 - |x|²) / 2)²
    radial = (x * g).sum(-1) / sq  # g's radial part is radial·x
    tangent = torch.addcmul(g, x, radial.unsqueeze(1), value=-1.0)  # t = g - radial·x
    tangent_sq = tangent.pow(2).sum(-1)
    step = lr * metric
    # far: x/|x| turned by -T·t (T·|t| at most DIRECTION_CLIP; t ⟂ x, so the turned direction
    # has length sqrt(1 + T²|t|²)), then put at the new radius |x| - step·radial·|x|
    turn = direction_lr / (direction_lr * tangent_sq.sqrt() / DIRECTION_CLIP).clamp_min(1.0)
    along = 1.0 - step * radial
    scale = along / (1.0 + turn.pow(2) * tangent_sq).sqrt()
    # near: the Riemannian step x - step·g = (1 - step·radial)·x - step·t
    far = norm > POLAR_MIN_NORM
    p = torch.where(far, scale, along)
    q = torch.where(far, -scale * turn * norm, -step)
    new = torch.addcmul(x * p.unsqueeze(1), tangent, q.unsqueeze(1))
    length = torch.linalg.vector_norm(new, dim=-1)
    # far rows at their new radius; rows beyond the clamped edge onto it (x/x is exactly 1)
    target = torch.where(far, (norm * along).abs(), length).clamp_max(max_norm())
    new.mul_((target / length.clamp_min(1e-30)).unsqueeze(1))
    # repeated rows get the same value, so the order of the writes does not matter
    table.index_copy_(0, rows, new)


def project_rows(table: torch.Tensor, rows: torch.Tensor, limit: float) -> None:
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
