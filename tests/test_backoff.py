"""Hierarchical back-off and CRM on hand-worked toy hierarchies and on Fashion-MNIST's."""

from __future__ import annotations

import json

import pytest
import torch

from labelspace.analysis.backoff import (
    BackoffCurve,
    backoff_curve,
    backoff_label,
    backoff_predictions,
    crm_scores,
    default_thresholds,
    descendant_matrix,
    node_probabilities,
)
from labelspace.hierarchy.graph import Hierarchy
from labelspace.reporting.figures import plot_backoff_curves

# root (depth 0) -> X (1) -> P (2) -> a, b (3)
#                   X -> c (2)
# root -> d (1)
TOY = {"a": ["P"], "b": ["P"], "P": ["X"], "c": ["X"], "X": ["root"], "d": ["root"]}

# Rows chosen so that every node probability below is exact or far from the thresholds.
PROBS = torch.tensor(
    [
        [0.50, 0.30, 0.10, 0.10],  # a: P .8, X .9
        [0.20, 0.30, 0.40, 0.10],  # c: X .9
        [0.05, 0.05, 0.02, 0.88],  # d
        [0.30, 0.66, 0.02, 0.02],  # b: P .96, X .98
    ],
    dtype=torch.float64,
)


@pytest.fixture
def toy() -> Hierarchy:
    return Hierarchy.from_parents(TOY, classes=["a", "b", "c", "d"])


def names(h: Hierarchy, nodes: torch.Tensor) -> list[str]:
    return [h.nodes[i] for i in nodes.tolist()]


def random_probs(n: int, c: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(n, c, generator=g), dim=1)


# --------------------------------------------------------------------------- node probabilities
def test_descendant_matrix_toy(toy):
    d = descendant_matrix(toy)
    assert d.dtype == torch.bool and d.shape == (len(toy.nodes), 4)
    row = {n: d[toy.index[n]].tolist() for n in toy.nodes}
    assert row["X"] == [True, True, True, False]
    assert row["root"] == [True, True, True, True]
    assert row["P"] == [True, True, False, False]
    assert row["c"] == [False, False, True, False]
    assert row["d"] == [False, False, False, True]


def test_node_probabilities_hand_computed(toy):
    p = node_probabilities(PROBS, descendant_matrix(toy))
    assert p.shape == (4, len(toy.nodes))
    got = {n: p[0, toy.index[n]].item() for n in toy.nodes}
    want = {"root": 1.0, "X": 0.9, "P": 0.8, "a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}
    assert got == pytest.approx(want)
    assert p[3, toy.index["P"]].item() == pytest.approx(0.96)
    # an ancestor never has less probability than its descendants
    for child, parents in enumerate(toy.parents):
        for parent in parents:
            assert (p[:, parent] >= p[:, child] - 1e-12).all()


# --------------------------------------------------------------------------- back-off
@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.0, ["a", "c", "d", "b"]),
        (0.5, ["a", "X", "d", "b"]),
        (0.95, ["root", "root", "root", "P"]),
    ],
)
def test_backoff_thresholds(toy, threshold, expected):
    nodes, conf = backoff_predictions(PROBS, toy, threshold)
    assert nodes.dtype == torch.long
    assert names(toy, nodes) == expected
    assert (conf >= threshold).all()


def test_backoff_confidence_is_node_probability(toy):
    _, conf = backoff_predictions(PROBS, toy, 0.5)
    assert conf.tolist() == pytest.approx([0.5, 0.9, 0.88, 0.66])
    _, conf = backoff_predictions(PROBS, toy, 1.0)
    assert conf.tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])


def test_backoff_threshold_zero_is_flat_argmax(fashion):
    probs = random_probs(64, 10, seed=1)
    nodes, _ = backoff_predictions(probs, fashion, 0.0)
    flat = torch.as_tensor(fashion.class_indices)[probs.argmax(1)]
    assert torch.equal(nodes, flat)


def test_backoff_dag_picks_deepest_then_most_probable():
    # a has two parents: P (depth 2) and Q (depth 1).
    h = Hierarchy.from_parents(
        {"a": ["P", "Q"], "b": ["P"], "c": ["Q"], "d": ["X"], "P": ["X"], "X": ["r"], "Q": ["r"]},
        classes=["a", "b", "c", "d"],
    )
    probs = torch.tensor([[0.5, 0.3, 0.1, 0.1]], dtype=torch.float64)  # P .8, Q .6, X .9
    assert backoff_label(probs[0], h, 0.55) == ("P", pytest.approx(0.8))  # Q passes too
    assert backoff_label(probs[0], h, 0.85) == ("X", pytest.approx(0.9))  # Q fails
    assert backoff_label(probs[0], h, 0.95)[0] == "r"

    # Same depth for both parents (Q under Y): the more probable one wins, then lower index.
    h2 = Hierarchy.from_parents(
        {"a": ["P", "Q"], "b": ["P"], "c": ["Q"], "d": ["X"], "P": ["X"], "Q": ["Y"]},
        classes=["a", "b", "c", "d"],
    )
    assert h2.depth[h2.index["P"]] == h2.depth[h2.index["Q"]]
    probs = torch.tensor([[0.5, 0.1, 0.3, 0.1]], dtype=torch.float64)  # P .6, Q .8
    assert backoff_label(probs[0], h2, 0.55)[0] == "Q"
    tie = torch.tensor([[0.5, 0.2, 0.2, 0.1]], dtype=torch.float64)  # P .7 == Q .7
    first = min("P", "Q", key=h2.index.__getitem__)
    assert backoff_label(tie[0], h2, 0.65)[0] == first


# --------------------------------------------------------------------------- the curve
def test_curve_endpoints_and_monotone(toy):
    targets = torch.tensor([0, 1, 3, 1])  # rows 0, 3 right; row 1 wrong (c, truth b)
    curve = backoff_curve(PROBS, targets, toy)
    assert torch.equal(curve.thresholds, default_thresholds())
    assert curve.thresholds[0] == 0 and len(curve.thresholds) == 53
    top1 = (PROBS.argmax(1) == targets).double().mean().item()
    assert curve.correctness[0].item() == pytest.approx(top1) == 0.75
    # threshold 0: mean predicted depth (3+2+1+3)/4 over mean true depth (3+3+1+3)/4
    assert curve.informativeness[0].item() == pytest.approx(9 / 10)
    # threshold 0.5: row 1 backs off to X, an ancestor of b
    i = int((curve.thresholds == 0.5).nonzero())
    assert curve.correctness[i].item() == 1.0
    assert curve.informativeness[i].item() == pytest.approx((3 + 1 + 1 + 3) / 10)
    assert curve.correctness[-1].item() == 1.0  # threshold 1: everyone at the root
    assert curve.informativeness[-1].item() == 0.0
    assert (curve.correctness.diff() >= 0).all()
    assert (curve.informativeness.diff() <= 0).all()
    # the root point closes the curve at (0, 1)
    x, y = curve.points()
    assert (x[0].item(), y[0].item()) == (0.0, 1.0)
    assert (x.diff() >= 0).all()


def test_curve_auc_hand_computed(toy):
    targets = torch.tensor([0, 1, 3, 1])
    curve = backoff_curve(PROBS, targets, toy, thresholds=torch.tensor([0.5, 0.95]))
    assert curve.thresholds.tolist() == pytest.approx([0.0, 0.5, 0.95])  # 0 is added
    # depths over the true mean (3+3+1+3): t=0 a,c,d,b (9); t=.5 a,X,d,b (8); t=.95 3 roots + P (2)
    assert curve.informativeness.tolist() == pytest.approx([0.9, 0.8, 0.2])
    assert curve.correctness.tolist() == pytest.approx([0.75, 1.0, 1.0])
    # trapezoids over x = 0, .2, .8, .9 with y = 1, 1, 1, .75
    assert curve.auc == pytest.approx(0.8 + 0.1 * (1 + 0.75) / 2)


def test_auc_perfect_beats_random(fashion):
    g = torch.Generator().manual_seed(3)
    targets = torch.randint(0, 10, (300,), generator=g)
    perfect = torch.nn.functional.one_hot(targets, 10).double()
    random = random_probs(300, 10, seed=4)
    good = backoff_curve(perfect, targets, fashion)
    bad = backoff_curve(random, targets, fashion)
    assert good.correctness.min().item() == 1.0
    assert good.informativeness[0].item() == pytest.approx(1.0)
    assert good.auc == pytest.approx(1.0)
    assert good.auc > bad.auc
    assert bad.correctness[0].item() < 0.3  # chance level on 10 classes


def test_fashion_random_curve_reaches_full_correctness(fashion):
    probs = random_probs(500, 10, seed=5).float()
    targets = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(6))
    curve = backoff_curve(probs, targets, fashion)
    assert curve.correctness[curve.thresholds == 1.0].item() == 1.0
    assert (curve.correctness.diff() >= 0).all()  # nested candidates: monotone here too
    assert curve.informativeness[-1].item() < 0.5 < curve.informativeness[0].item()
    data = json.loads(json.dumps(curve.to_dict()))
    assert data["auc"] == pytest.approx(curve.auc)
    assert len(data["correctness"]) == len(data["thresholds"]) == 53
    back = BackoffCurve.from_dict(data)
    assert torch.allclose(back.correctness, curve.correctness)


def test_plot_backoff_curves_writes_png(fashion, tmp_path):
    targets = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(7))
    curves = {
        "random": backoff_curve(random_probs(200, 10, seed=8), targets, fashion),
        "perfect": backoff_curve(
            torch.nn.functional.one_hot(targets, 10).float(), targets, fashion
        ),
    }
    out = plot_backoff_curves(curves, tmp_path / "figs" / "backoff.png", title="Fashion-MNIST")
    assert out == tmp_path / "figs" / "backoff.png"
    assert out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no curves"):
        plot_backoff_curves({}, tmp_path / "empty.png")


# --------------------------------------------------------------------------- CRM
def test_crm_flips_argmax():
    # c1 and c2 are siblings under B; c0 is under A: LCA heights 2 across, 1 within B.
    h = Hierarchy.from_parents(
        {"c0": ["A"], "A": ["root"], "c1": ["B"], "c2": ["B"], "B": ["root"]},
        classes=["c0", "c1", "c2"],
    )
    cost = h.class_lca_height
    assert cost.tolist() == [[0, 2, 2], [2, 0, 1], [2, 1, 0]]
    probs = torch.tensor([[0.40, 0.35, 0.25]])
    scores = crm_scores(probs, cost)
    # expected costs: c0 .35*2+.25*2, c1 .4*2+.25, c2 .4*2+.35
    assert scores[0].tolist() == pytest.approx([-1.2, -1.05, -1.15])
    assert probs.argmax(1).item() == 0
    assert scores.argmax(1).item() == 1


def test_crm_uses_cost_rows_as_predictions():
    cost = torch.tensor([[0.0, 1.0], [5.0, 0.0]])  # predicting 1 when the truth is 0 costs 5
    scores = crm_scores(torch.tensor([[0.5, 0.5]]), cost)
    assert scores[0].tolist() == pytest.approx([-0.5, -2.5])


# --------------------------------------------------------------------------- input errors
def test_input_errors(toy):
    d = descendant_matrix(toy)
    with pytest.raises(ValueError, match="2-D"):
        node_probabilities(PROBS[0], d)
    with pytest.raises(ValueError, match="columns"):
        node_probabilities(PROBS[:, :3], d)
    with pytest.raises(ValueError, match="bool"):
        node_probabilities(PROBS, d.double())
    with pytest.raises(ValueError, match="columns"):
        backoff_predictions(torch.full((2, 5), 0.2), toy, 0.5)
    with pytest.raises(ValueError, match="2-D"):
        backoff_predictions(PROBS[None], toy, 0.5)
    with pytest.raises(ValueError, match="float"):
        backoff_predictions(torch.ones(2, 4, dtype=torch.long), toy, 0.5)
    with pytest.raises(ValueError, match="sum to 1"):
        backoff_predictions(torch.ones(2, 4), toy, 0.5)
    with pytest.raises(ValueError, match="negative"):
        backoff_predictions(torch.tensor([[1.5, -0.5, 0.0, 0.0]]), toy, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        backoff_predictions(PROBS, toy, 1.5)
    with pytest.raises(ValueError, match="1-D"):
        backoff_label(PROBS, toy, 0.5)
    with pytest.raises(ValueError, match="entries"):
        backoff_curve(PROBS, torch.tensor([0, 1]), toy)
    with pytest.raises(ValueError, match="class indices"):
        backoff_curve(PROBS, torch.tensor([0, 1, 2, 4]), toy)
    with pytest.raises(ValueError, match="integer"):
        backoff_curve(PROBS, torch.zeros(4), toy)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        backoff_curve(PROBS, torch.tensor([0, 1, 2, 3]), toy, thresholds=torch.tensor([2.0]))
    with pytest.raises(ValueError, match="square"):
        crm_scores(PROBS, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="columns"):
        crm_scores(PROBS, torch.zeros(3, 3))
