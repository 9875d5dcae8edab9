"""Poincaré embeddings of a hierarchy (Nickel & Kiela, NIPS 2017), fast and batched.

The loss and its closed-form step are in :mod:`~labelspace.embeddings.poincare_steps`, the
negatives in :mod:`~labelspace.embeddings.poincare_negatives`, the options in
:mod:`~labelspace.embeddings.poincare_config`; this module trains. Optimised with Riemannian
SGD (Euclidean gradient times ``((1 - |x|²)/2)²``, then projection into the ball).

Where training starts: by default as in the paper, from tiny uniform points, with a burn-in
(reduced learning rate, negatives drawn by degree^0.75) that finds the coarse layout. For large
hierarchies ``init="hierarchy"`` starts from that layout instead
(:func:`~labelspace.embeddings.poincare_layout.hierarchy_layout`), so SGD only has to refine
it. Riemannian SGD barely turns points far from the origin, so from the layout the directions
also take plain steps on the sphere (:func:`~labelspace.embeddings.poincare_steps.polar_step`,
``direction_lr``). Both learning rates may fall over the last epochs (``lr_factors``, such as
:func:`~labelspace.embeddings.poincare_config.linear_decay`), which lets the points settle
instead of jittering at a constant rate. The uniform start stays the default: on small
hierarchies it converges in seconds, and the image pipeline's label spaces were measured with
it. What each start reaches, and how fast, is in docs/benchmarks.md.

Why the optimiser is written out rather than an autograd loss stepped by geoopt's
RiemannianSGD (which the image models use for their trainable label points): a batch touches
about 6,600 rows of the table (128 pairs, each with its neighbour and 50 negatives), so its
cost is the number of tensor operations, not arithmetic. Autograd would record and replay a
graph of the same few dozen operations on every batch, and a dense optimiser would rescale and
project the whole table where only the touched rows move. Here the rows of a batch are
gathered with one ``index_select``, scaled by the Riemannian factor and scattered back with one
``index_add_`` (repeats summed in batch order), and only rows that left the ball are projected
back. The negatives of many batches are drawn and checked at once, and small problems train on
one CPU thread (see :func:`_single_threaded`). For the same seed the result is bit for bit that
of the plain batch-by-batch loop (the tests check it).
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
from typing import TYPE_CHECKING

import numpy as np

from labelspace.embeddings.poincare_config import PoincareConfig
from labelspace.embeddings.poincare_layout import hierarchy_layout
from labelspace.embeddings.poincare_negatives import NeighbourTest, epoch_batches
from labelspace.embeddings.poincare_steps import (
    euclidean_batch,
    poincare_batch,
    polar_step,
    project_rows,
)

if TYPE_CHECKING:  # torch (about a second to import) is imported by the functions that train
    import torch

    from labelspace.hierarchy.graph import Hierarchy

log = logging.getLogger(__name__)


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
    nothing and costs far more on a machine whose cores are busy (waiting for a descheduled
    thread); larger batches and tables whose rows are read and written at random places keep
    torch's thread count (the measurements behind the rule are in docs/benchmarks.md). No
    operation of a step sums across threads, so the result is the same either way.
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
    lr_factors: list[float] | None = None

    def record(self) -> dict:
        record = {
            "method": "nickel-kiela-2017",
            "config": asdict(self.config),
            "seconds": round(self.seconds, 3),
            "final_loss": self.final_loss,
        }
        if self.lr_factors is not None:
            record["lr_factors"] = self.lr_factors
        return record


def train_poincare(
    pairs: np.ndarray,
    num_nodes: int,
    config: PoincareConfig | None = None,
    *,
    hierarchy: Hierarchy | None = None,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int, float, torch.Tensor], None] | None = None,
    lr_factors: Sequence[float] | None = None,
) -> TrainResult:
    """Embed the closure ``pairs`` ((child, ancestor) indices into ``range(num_nodes)``).

    ``hierarchy`` is the hierarchy whose nodes the indices count, needed by the hierarchy
    start (``config.init="hierarchy"``). ``on_epoch(epoch, mean_loss, table)`` is called
    after every epoch (progress, early evaluation); ``table`` is the live embedding and must
    not be modified. ``lr_factors`` (one per epoch, such as
    :func:`~labelspace.embeddings.poincare_config.linear_decay`) scale both learning rates
    epoch by epoch; they are kept in the result's record, beside the config.
    """
    import torch

    from labelspace.embeddings.geometry import max_norm

    config = config or PoincareConfig()
    config.validate()
    factors = [1.0] * config.epochs if lr_factors is None else [float(f) for f in lr_factors]
    if len(factors) != config.epochs or not all(0.0 < f < math.inf for f in factors):
        raise ValueError(f"lr_factors must be {config.epochs} positive numbers, one per epoch")
    pairs_np = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs_np) == 0:
        raise ValueError("cannot embed a hierarchy without pairs")
    if pairs_np.min() < 0 or pairs_np.max() >= num_nodes:
        raise ValueError(f"pair indices must lie in [0, {num_nodes})")
    device = torch.device(device)
    dtype = getattr(torch, config.dtype)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    pairs_t = torch.from_numpy(pairs_np)
    is_neighbour = NeighbourTest(pairs_t, num_nodes)
    # degree-based negatives for burn-in, as in the reference (counts ** 0.75)
    counts = torch.ones(num_nodes, dtype=torch.float64)
    counts.index_add_(0, pairs_t[:, 1], torch.ones(len(pairs_t), dtype=torch.float64))
    unigram = counts.pow(0.75)
    unigram /= unigram.sum()

    if config.init == "hierarchy":
        if hierarchy is None or len(hierarchy) != num_nodes:
            raise ValueError(
                "init='hierarchy' needs the hierarchy of the nodes (hierarchy=...); pass it, "
                "or use init='uniform' with a burn-in"
            )
        table = hierarchy_layout(hierarchy, config)
    else:
        table = torch.rand(num_nodes, config.dim, generator=gen, dtype=torch.float64) * 2 - 1
        table = table * config.init_range
    table = table.to(dtype=dtype, device=device)
    poincare = config.on_ball
    batch_grads = poincare_batch if poincare else euclidean_batch
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
            lr = config.lr * (config.burnin_lr_factor if burnin else 1.0) * factors[epoch]
            direction_lr = config.direction_lr * factors[epoch]
            # summed on the device in float64, as Python floats would be, without waiting for
            # each batch's loss (a GPU would otherwise stop after every batch)
            loss_total = torch.zeros((), dtype=torch.float64, device=device)
            for rows, b, invalid in epoch_batches(
                pairs_t, num_nodes, config, gen, unigram if burnin else None, is_neighbour, device
            ):
                loss, grads, xy, sq_norm = batch_grads(table, rows, b, invalid)
                loss_total += loss
                if polar:
                    polar_step(table, rows, xy, sq_norm, grads, buffer, lr, direction_lr)
                    continue
                if poincare:  # Riemannian gradient: Euclidean one times ((1 - |x|²) / 2)²
                    grads.mul_(((1.0 - sq_norm) / 2.0).pow(2).unsqueeze(1))
                # one scatter for the whole batch (index_add_ with alpha= is several times slower
                # on CPU than scaling first)
                table.index_add_(0, rows, grads.mul_(-lr))
                if poincare:
                    project_rows(table, rows, limit)
            loss_epoch = float(loss_total) / len(pairs_t)
            history.append({"epoch": epoch, "loss": loss_epoch})
            if on_epoch is not None:
                with _threads(threads):  # the callback may evaluate: all threads again
                    on_epoch(epoch, loss_epoch, table)
    seconds = time.perf_counter() - start
    log.info("trained %s embedding in %.1fs, final loss %.4f", config.manifold, seconds, loss_epoch)
    return TrainResult(
        table.detach().cpu().float(),
        config,
        seconds,
        loss_epoch,
        history,
        None if lr_factors is None else factors,
    )
