"""Nearest-label decoding: chunked top-k, subsets, geometry scores and input checks."""

import math

import pytest
import torch

from labelspace.embeddings.geometry import expmap0, pairwise_distance
from labelspace.models.decode import GEOMETRIES, label_scores, scores_to_probs, topk_labels


def make_data(geometry: str, n: int = 7, c: int = 50, d: int = 6, seed: int = 0):
    """Seeded random outputs and label vectors (inside the ball for poincare)."""
    gen = torch.Generator().manual_seed(seed)
    if geometry == "logits":
        return torch.randn(n, c, generator=gen, dtype=torch.float64), None
    outputs = torch.randn(n, d, generator=gen, dtype=torch.float64)
    labels = torch.randn(c, d, generator=gen, dtype=torch.float64)
    if geometry == "poincare":
        outputs, labels = expmap0(outputs), expmap0(labels)
    return outputs, labels


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_chunked_topk_matches_full_scores(geometry):
    outputs, labels = make_data(geometry)
    full = label_scores(outputs, labels, geometry)
    assert full.shape == (7, 50)
    expected = full.topk(5, dim=1)
    scores, idx = topk_labels(outputs, labels, geometry, 5, chunk_size=8)
    assert torch.equal(idx, expected.indices)
    torch.testing.assert_close(scores, expected.values)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_subset_decoding_returns_only_subset_labels(geometry):
    outputs, labels = make_data(geometry, seed=1)
    subset = torch.tensor([41, 3, 17, 8, 29, 0, 33, 12, 49, 22, 5])
    scores, idx = topk_labels(outputs, labels, geometry, 4, subset=subset, chunk_size=3)
    assert torch.isin(idx, subset).all()
    restricted = label_scores(outputs, labels, geometry)[:, subset].topk(4, dim=1)
    assert torch.equal(idx, subset[restricted.indices])
    torch.testing.assert_close(scores, restricted.values)


def test_ties_go_to_the_smaller_label_index():
    outputs = torch.ones(2, 3)
    labels = torch.ones(10, 3)  # every label scores the same
    _, idx = topk_labels(outputs, labels, "dot", 4, chunk_size=3)
    assert idx.tolist() == [[0, 1, 2, 3]] * 2
    _, idx = topk_labels(outputs, labels, "dot", 3, subset=torch.tensor([9, 4, 7, 2]), chunk_size=2)
    assert idx.tolist() == [[2, 4, 7]] * 2


def test_decodes_all_wordnet_nouns_sized_table():
    gen = torch.Generator().manual_seed(2)
    # float64 so that the chunked and the full matrix products cannot swap near-ties
    labels = expmap0(torch.randn(82_115, 10, generator=gen, dtype=torch.float64) * 0.5)
    outputs = expmap0(torch.randn(64, 10, generator=gen, dtype=torch.float64) * 0.5)
    scores, idx = topk_labels(outputs, labels, "poincare", 5, chunk_size=4096)
    assert scores.shape == idx.shape == (64, 5)
    assert idx.dtype == torch.long and int(idx.max()) < 82_115
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # best first
    nearest = pairwise_distance(outputs, labels).topk(5, dim=1, largest=False)
    assert torch.equal(idx, nearest.indices)
    torch.testing.assert_close(scores, -nearest.values)


def test_poincare_distance_from_origin_by_hand():
    # d(0, x) = 2 artanh(|x|) for c = 1: |x| = 0.1, 0.5, 0.9 -> 0.2007, 1.0986, 2.9444
    labels = torch.tensor([[0.5, 0.0], [0.0, -0.9], [0.1, 0.0]], dtype=torch.float64)
    origin = torch.zeros(1, 2, dtype=torch.float64)
    expected = [-2 * math.atanh(0.5), -2 * math.atanh(0.9), -2 * math.atanh(0.1)]
    torch.testing.assert_close(label_scores(origin, labels, "poincare")[0].tolist(), expected)
    scores, idx = topk_labels(origin, labels, "poincare", 3)
    assert idx.tolist() == [[2, 0, 1]]  # nearest first: 0.1, 0.5, 0.9
    torch.testing.assert_close(scores[0].tolist(), [expected[2], expected[0], expected[1]])
    # c = 4: d(0, x) = (2 / sqrt c) artanh(sqrt c |x|) = artanh(2 * 0.25) at |x| = 0.25
    quarter = torch.tensor([[0.25, 0.0]], dtype=torch.float64)
    got = label_scores(origin, quarter, "poincare", curvature=4.0).item()
    assert got == pytest.approx(-math.atanh(0.5))


def test_euclidean_and_dot_by_hand():
    outputs = torch.tensor([[1.0, 0.0]])
    labels = torch.tensor([[4.0, 4.0], [1.0, 1.0]])
    # distances: |(3, 4)| = 5 and |(0, 1)| = 1; dots: 4 and 1
    assert label_scores(outputs, labels, "euclidean").tolist() == [[-5.0, -1.0]]
    assert label_scores(outputs, labels, "dot").tolist() == [[4.0, 1.0]]


def test_cosine_ignores_scale():
    outputs, labels = make_data("cosine", seed=3)
    base = label_scores(outputs, labels, "cosine")
    scaled = label_scores(outputs * 0.3, labels * 7.0, "cosine")
    torch.testing.assert_close(base, scaled)
    assert base.abs().max() <= 1.0 + 1e-12


def test_logits_pass_through_and_k_is_clamped():
    logits = torch.tensor([[0.1, 2.0, -1.0]])
    assert label_scores(logits, None, "logits") is logits
    scores, idx = topk_labels(logits, None, "logits", 10)  # only 3 candidates
    assert idx.tolist() == [[1, 0, 2]]
    assert scores[0].tolist() == pytest.approx([2.0, 0.1, -1.0])
    _, idx = topk_labels(logits, None, "logits", 5, subset=torch.tensor([2, 0]))
    assert idx.tolist() == [[0, 2]]


def test_scores_to_probs():
    scores = torch.tensor([[0.0, math.log(3.0)]])
    # softmax([0, ln 3]) = [1/4, 3/4]; at temperature 2: [0, ln 3 / 2] -> [1, sqrt 3] / (1 + sqrt 3)
    torch.testing.assert_close(scores_to_probs(scores), torch.tensor([[0.25, 0.75]]))
    r = math.sqrt(3.0)
    torch.testing.assert_close(
        scores_to_probs(scores, temperature=2.0), torch.tensor([[1 / (1 + r), r / (1 + r)]])
    )


OUT = torch.zeros(2, 3)
LAB = torch.zeros(4, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: label_scores(OUT, torch.zeros(4, 5), "dot"), "dimension mismatch"),
        (lambda: topk_labels(OUT, torch.zeros(4, 5), "cosine", 1), "dimension mismatch"),
        (lambda: label_scores(OUT, LAB, "hyperbolic"), "logits, dot, cosine, euclidean, poincare"),
        (lambda: topk_labels(OUT, LAB, "dot", 0), "k must be"),
        (lambda: topk_labels(OUT, LAB, "dot", 1, chunk_size=0), "chunk_size"),
        (lambda: topk_labels(OUT, LAB, "dot", 1, subset=torch.tensor([4])), "subset"),
        (lambda: label_scores(OUT, None, "euclidean"), "label_vectors"),
        (lambda: label_scores(OUT[0], LAB, "dot"), "outputs must be"),
        (lambda: label_scores(OUT, LAB * 0 + 1, "poincare"), "inside the Poincaré ball"),
        (lambda: label_scores(OUT, LAB, "poincare", curvature=0.0), "curvature"),
        (lambda: scores_to_probs(OUT, temperature=0.0), "temperature"),
    ],
)
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
