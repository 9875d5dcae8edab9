"""Quality of a label embedding: reconstruction (mean rank, MAP) and link prediction.

Definitions follow Nickel & Kiela (NIPS 2017) and their reference code: for every node u with
neighbours in the closure (u's ancestors), each neighbour v is ranked by distance among v and
all non-neighbours of u (u itself excluded); the mean rank is over all (u, v) pairs and MAP is
the mean over nodes of the average precision of u's neighbours against all other nodes.

Ranking is done without sorting whole rows: per chunk of nodes we score every node once,
sort only the (few) neighbour scores, and count with ``searchsorted`` how many non-neighbours
fall before each neighbour. That keeps the full noun closure (82,115 x 82,115 scores) within
minutes on a CPU and memory bounded by the chunk size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from labelspace.embeddings.geometry import get_geometry
from labelspace.errors import InputError


@dataclass(frozen=True)
class RankingResult:
    """Mean rank and MAP of a set of (node, neighbour) pairs."""

    mean_rank: float
    map: float
    nodes: int
    pairs: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def check_evaluation_options(sample_nodes: int | None = None, holdout: float = 0.0) -> None:
    """Refuse evaluation options that cannot work, before any training or ranking starts.

    ``sample_nodes`` (``--sample-nodes``) must be at least 1 when given; ``holdout``
    (``--holdout``, the fraction of non-basic pairs held out for link prediction) must lie in
    [0, 1). The command line calls this before training, the library before ranking, so both
    give the same message.
    """
    if sample_nodes is not None and (
        isinstance(sample_nodes, bool) or not isinstance(sample_nodes, int | np.integer)
    ):
        raise InputError(f"--sample-nodes must be a whole number of nodes, got {sample_nodes!r}")
    if sample_nodes is not None and sample_nodes < 1:
        raise InputError(
            f"--sample-nodes must be at least 1 (the number of nodes to evaluate), got "
            f"{sample_nodes}; leave it out to evaluate every node"
        )
    if not 0.0 <= holdout < 1.0:  # also refuses NaN
        raise InputError(
            f"--holdout must be at least 0 and below 1 (the fraction of non-basic pairs held "
            f"out for link prediction), got {holdout}"
        )


def _csr(pairs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    sorted_pairs = pairs[order]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.add.at(offsets, sorted_pairs[:, 0] + 1, 1)
    return np.cumsum(offsets), sorted_pairs[:, 1]


def rank_neighbours(
    vectors: torch.Tensor,
    known_pairs: np.ndarray,
    query_pairs: np.ndarray | None = None,
    *,
    manifold: str = "poincare",
    curvature: float = 1.0,
    sample_nodes: int | None = None,
    seed: int = 0,
    chunk_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> RankingResult:
    """Rank each query neighbour of each node among that node's non-neighbours.

    ``known_pairs`` (P x 2, (node, neighbour) indices) defines who counts as a neighbour;
    ``query_pairs`` (default: the known pairs, i.e. reconstruction) are the ones ranked. Known
    neighbours that are not queried are left out of the ranking (the "filtered" setting of link
    prediction). ``sample_nodes`` evaluates a random sample of nodes for a quick estimate.
    """
    check_evaluation_options(sample_nodes)
    n = vectors.shape[0]
    if not torch.isfinite(vectors).all():
        raise ValueError("the embedding has non-finite values (NaN or inf); training diverged")
    known_pairs = np.asarray(known_pairs, dtype=np.int64).reshape(-1, 2)
    query_pairs = (
        known_pairs
        if query_pairs is None
        else np.asarray(query_pairs, dtype=np.int64).reshape(-1, 2)
    )
    if len(query_pairs) == 0:
        raise ValueError("no pairs to rank")
    k_off, k_nbr = _csr(known_pairs, n)
    q_off, q_nbr = _csr(query_pairs, n)
    nodes = np.flatnonzero(np.diff(q_off) > 0)
    if sample_nodes is not None and sample_nodes < len(nodes):
        nodes = np.sort(np.random.default_rng(seed).choice(nodes, size=sample_nodes, replace=False))
    geometry = get_geometry(manifold, curvature)
    table = vectors.detach().to(torch.float64)
    rank_sum = 0.0
    ap_sum = 0.0
    n_pairs = 0
    for start in range(0, len(nodes), chunk_size):
        chunk = nodes[start : start + chunk_size]
        b = len(chunk)
        # minus the geometry's ranking key: smaller is closer, so +inf can mask a pair out
        s = -geometry.rank_keys(table[torch.from_numpy(chunk)], table)  # (b, n)
        rows = torch.arange(b)
        # query neighbours: (b, kq) padded with +inf
        q_counts = q_off[chunk + 1] - q_off[chunk]
        kq = int(q_counts.max())
        q_idx = np.zeros((b, kq), dtype=np.int64)
        q_mask = np.arange(kq)[None, :] < q_counts[:, None]
        q_idx[q_mask] = np.concatenate([q_nbr[q_off[u] : q_off[u + 1]] for u in chunk])
        q_idx_t = torch.from_numpy(q_idx)
        q_mask_t = torch.from_numpy(q_mask)
        q_scores = s.gather(1, q_idx_t).masked_fill(~q_mask_t, float("inf"))
        q_sorted, _ = q_scores.sort(dim=1)
        # remove the node itself and all its known neighbours from the candidates
        k_counts = k_off[chunk + 1] - k_off[chunk]
        k_rows = np.repeat(np.arange(b), k_counts)
        k_cols = (
            np.concatenate([k_nbr[k_off[u] : k_off[u + 1]] for u in chunk])
            if k_counts.sum()
            else np.zeros(0, dtype=np.int64)
        )
        s[torch.from_numpy(k_rows), torch.from_numpy(k_cols)] = float("inf")
        s[rows, torch.from_numpy(chunk)] = float("inf")
        s[rows[:, None].expand_as(q_idx_t)[q_mask_t], q_idx_t[q_mask_t]] = float("inf")
        # for each non-neighbour: how many query scores are <= its score
        bucket = torch.searchsorted(q_sorted.contiguous(), s, right=True)
        hist = torch.zeros(b, kq + 1, dtype=torch.float64).scatter_add_(
            1, bucket, torch.ones_like(s)
        )
        closer = hist.cumsum(1)[:, :kq]  # non-neighbours strictly closer than query j
        j = torch.arange(kq, dtype=torch.float64)[None, :]
        valid = q_mask_t  # sorted order keeps padding (+inf) at the end
        ranks = closer + 1.0
        precision = (j + 1.0) / (closer + j + 1.0)
        rank_sum += float(ranks[valid].sum())
        ap_sum += float((precision * valid).sum(1).div(torch.from_numpy(q_counts)).sum())
        n_pairs += int(q_counts.sum())
        if progress is not None:
            progress(min(start + chunk_size, len(nodes)), len(nodes))
    return RankingResult(rank_sum / n_pairs, ap_sum / len(nodes), len(nodes), n_pairs)


def reconstruction(vectors: torch.Tensor, pairs: np.ndarray, **kwargs) -> RankingResult:
    """Reconstruction mean rank and MAP of a closure (every pair is a neighbour)."""
    return rank_neighbours(vectors, pairs, None, **kwargs)


def split_for_link_prediction(
    pairs: np.ndarray, direct_edges: np.ndarray, fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a fraction of the closure's non-basic pairs for link prediction.

    Direct (transitive-reduction) edges always stay in training so the hierarchy stays
    connected; held-out pairs are implied by it but never seen. Returns (train, held_out).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n = int(max(pairs.max(), direct_edges.max())) + 1
    key = pairs[:, 0] * n + pairs[:, 1]
    direct = np.isin(key, direct_edges[:, 0] * n + direct_edges[:, 1])
    candidates = np.flatnonzero(~direct)
    rng = np.random.default_rng(seed)
    held = rng.choice(candidates, size=round(fraction * len(candidates)), replace=False)
    mask = np.zeros(len(pairs), dtype=bool)
    mask[held] = True
    return pairs[~mask], pairs[mask]
