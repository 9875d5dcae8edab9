"""Reconstruction and link-prediction metrics against a direct implementation."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from labelspace.embeddings.evaluate import (
    rank_neighbours,
    reconstruction,
    split_for_link_prediction,
)
from labelspace.embeddings.geometry import distance


def brute_force(x: torch.Tensor, pairs: np.ndarray) -> tuple[float, float]:
    """The reference project's per-node loop: argsort ranks and sklearn AP."""
    n = len(x)
    adj: dict[int, set[int]] = {}
    for u, v in pairs:
        adj.setdefault(int(u), set()).add(int(v))
    ranks, aps = [], []
    for u, vs in adj.items():
        d = distance(x[u][None], x).numpy()
        d[u] = 1e12
        labels = np.zeros(n)
        labels[list(vs)] = 1
        aps.append(average_precision_score(labels, -d))
        masked = d.copy()
        masked[list(vs)] = np.inf
        for v in vs:
            dv = masked.copy()
            dv[v] = d[v]
            ranks.append(int(np.where(np.argsort(dv) == v)[0][0]) + 1)
    return float(np.mean(ranks)), float(np.mean(aps))


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_reconstruction_matches_brute_force(chunk):
    rng = np.random.default_rng(0)
    n = 60
    x = torch.from_numpy(rng.normal(size=(n, 3)) * 0.3).double()
    pairs = sorted(
        {(u, int(v)) for u in range(n) for v in rng.choice(n, size=rng.integers(0, 6)) if v != u}
    )
    pairs = np.array(pairs)
    result = reconstruction(x, pairs, chunk_size=chunk)
    rank, ap = brute_force(x, pairs)
    assert result.mean_rank == pytest.approx(rank)
    assert result.map == pytest.approx(ap)
    assert result.pairs == len(pairs)


def test_perfect_embedding_scores_one():
    # a chain 0 <- 1 <- 2 <- 3 on a line, each node farther out than its parent, with gaps
    # growing so that every ancestor is nearer than any other node (descendants included)
    x = torch.tensor([[0.0, 0.0], [0.2, 0.0], [0.4, 0.0], [0.9, 0.0], [-0.9, 0.0]])
    pairs = np.array([(1, 0), (2, 1), (2, 0), (3, 2), (3, 1), (3, 0)])
    result = reconstruction(x, pairs)
    assert result.mean_rank == 1.0
    assert result.map == 1.0


def test_a_stranger_in_between_costs_one_rank():
    x = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.2, 0.0]])  # node 2 sits between 1 and 0
    result = reconstruction(x, np.array([(1, 0)]))
    assert result.mean_rank == 2.0
    assert result.map == pytest.approx(0.5)


def test_sample_and_link_prediction_split():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(40, 2)) * 0.2)
    pairs = np.array(sorted({(u, int(v)) for u in range(1, 40) for v in rng.choice(u, 3)}))
    direct = pairs[::3]
    train, held = split_for_link_prediction(pairs, direct, fraction=0.25, seed=0)
    assert len(train) + len(held) == len(pairs)
    as_set = {tuple(p) for p in held}
    assert not as_set & {tuple(p) for p in direct}
    result = rank_neighbours(x, pairs, held)
    assert result.pairs == len(held)
    sample = reconstruction(x, pairs, sample_nodes=10)
    assert sample.nodes == 10
    with pytest.raises(ValueError, match="fraction"):
        split_for_link_prediction(pairs, direct, fraction=1.5)


def test_non_finite_vectors_are_refused():
    x = torch.tensor([[0.0, 0.0], [float("nan"), 0.0]])
    with pytest.raises(ValueError, match="non-finite"):
        reconstruction(x, np.array([(1, 0)]))
