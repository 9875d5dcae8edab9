"""Negative sampling for the Poincaré trainer: which nodes are neighbours, and an epoch's batches.

A negative of a pair (u, v) is a node that is not one of u's neighbours (nor u itself). The
negatives of many batches are drawn and checked at once, in the order batch-by-batch drawing
would take them from the generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from labelspace.embeddings.poincare_config import PoincareConfig


class NeighbourTest:
    """Vectorised "is w one of u's neighbours (or u itself)?" for sampled negatives.

    A hierarchy of up to ``MAX_DENSE`` nodes keeps an n x n table of answers (one gather per
    test). A larger one keeps each node's neighbours in one padded row; in a closure nodes have
    few ancestors, so the rows are short. Comparing every candidate with a whole row would cost
    the row's width per candidate (35 for WordNet's nouns), so a one-word filter goes first:
    each node w has a bit ``code[w]`` (the same spare bit for nodes that are nobody's
    neighbour, such as leaves) and each node u the bits of its neighbours, ``mask[u]``. Only
    the candidates whose bit u has set (a few percent of uniform draws) are compared with u's
    row. A very deep hierarchy (long rows) falls back to binary search in the sorted pair keys.
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
        self.dense: torch.Tensor | None = None
        self.table: torch.Tensor | None = None
        self.keys: torch.Tensor | None = None
        self.code: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None
        if n <= self.MAX_DENSE:
            self.dense = torch.zeros(n, n, dtype=torch.bool)
            self.dense[child, parent] = True
            self.dense.fill_diagonal_(True)
        elif n * width <= self.MAX_CELLS:
            start = torch.cumsum(counts, 0) - counts
            slot = torch.arange(len(child)) - start[child]
            self.table = torch.arange(n).unsqueeze(1).repeat(1, width)  # padding: the node
            self.table[child, slot] = parent
            self.code, self.mask = _neighbour_bits(child, parent, n)
        else:
            self.keys = torch.unique(child * n + parent)

    def __call__(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            return self.dense[u.unsqueeze(1), w]
        if self.table is not None:
            out = w == u.unsqueeze(1)
            i, j = ((self.mask[u].unsqueeze(1) >> self.code[w]) & 1).nonzero(as_tuple=True)
            if len(i):  # the few that pass the filter, against u's whole row
                out[i, j] = (self.table[u[i]] == w[i, j].unsqueeze(1)).any(-1)
            return out
        import torch

        key = u.unsqueeze(1) * self.n + w
        pos = torch.searchsorted(self.keys, key).clamp_max(len(self.keys) - 1)
        return (self.keys[pos] == key) | (w == u.unsqueeze(1))


# the bit of _neighbour_bits that no neighbour sets: the code of nodes that are nobody's neighbour
SPARE_BIT = 63


def _neighbour_bits(
    child: torch.Tensor, parent: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The one-word filter of :class:`NeighbourTest`: ``code`` (n,) and ``mask`` (n,), int64.

    Nodes that are somebody's neighbour get bits 0 to 62, spread by a multiplicative hash of
    their index; the others get ``SPARE_BIT``, which no mask has set. ``mask[u]`` has the bits
    of u's neighbours, so ``mask[u] >> code[w] & 1`` is 1 whenever w is one of them (and
    sometimes when it is not).
    """
    import torch

    code = torch.full((n,), SPARE_BIT, dtype=torch.int64)
    used = torch.unique(parent)
    code[used] = (used * 2_654_435_761) % (1 << 32) % SPARE_BIT
    bits = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(bits, child.numpy(), np.left_shift(1, code[parent].numpy()))
    return code, torch.from_numpy(bits)


# negatives are drawn and checked for this many (pair, negative) cells at a time
BLOCK_CELLS = 1 << 22


def epoch_batches(
    pairs: torch.Tensor,
    num_nodes: int,
    config: PoincareConfig,
    gen: torch.Generator,
    unigram: torch.Tensor | None,
    is_neighbour: NeighbourTest,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, int, torch.Tensor]]:
    """One epoch's batches: ``(rows, b, invalid)``, as
    :func:`~labelspace.embeddings.poincare_steps.poincare_batch` takes them.

    The pairs are shuffled, and the negatives of many batches are drawn (from ``unigram`` if
    given, else uniformly), checked and laid out in one go per block of batches. The generator
    draws them in the same order as batch by batch would, so the result does not depend on the
    block size.
    """
    import torch

    bs, k = config.batch_size, config.negatives
    shuffled = pairs[torch.randperm(len(pairs), generator=gen)]
    block = bs * max(1, BLOCK_CELLS // (bs * k))
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
