"""Hierarchy-aware metrics on hand-worked examples and on the real CIFAR-10 hierarchy."""

import math

import pytest
import torch
from toy_hierarchy import LCA

from labelspace.metrics.hierarchical import (
    coarse_accuracy,
    expected_calibration_error,
    hdist_at_k,
    hierarchical_precision_at_k,
    hierarchical_similarity_at_k,
    mistake_severity,
    severity_histogram,
    summarize,
    topk_accuracy,
)

TARGETS = torch.tensor([0, 1, 2, 3])
TOP2 = torch.tensor([[0, 1], [2, 1], [4, 0], [4, 3]])
PRED = TOP2[:, 0]  # [0, 2, 4, 4]


def test_topk_accuracy():
    # top-2: rows 0 (0 in [0,1]), 1 (1 in [2,1]) and 3 (3 in [4,3]) hit, row 2 misses -> 3/4
    assert topk_accuracy(TOP2, TARGETS) == pytest.approx(0.75)
    # top-1 [0,2,4,4] vs [0,1,2,3]: only row 0 -> 1/4
    assert topk_accuracy(PRED[:, None], TARGETS) == pytest.approx(0.25)


def test_mistake_severity():
    # mistakes: (1 -> 2) height 2, (2 -> 4) height 3, (3 -> 4) height 3 -> 8/3
    assert mistake_severity(PRED, TARGETS, LCA) == pytest.approx(8 / 3)
    # no mistakes -> NaN
    assert math.isnan(mistake_severity(TARGETS, TARGETS, LCA))


def test_hdist_at_k():
    # row means: (0+1)/2=0.5, (2+0)/2=1, (3+2)/2=2.5, (3+0)/2=1.5 -> 5.5/4 = 1.375
    assert hdist_at_k(TOP2, TARGETS, LCA) == pytest.approx(1.375)
    # k = 1 counts correct samples as 0: (0 + 2 + 3 + 3)/4 = 2
    assert hdist_at_k(PRED[:, None], TARGETS, LCA) == pytest.approx(2.0)


def test_hierarchical_precision_at_k():
    # k=2. y=0: sorted row [0,1,2,3,3] -> h=1, set {0,1}; top {0,1} -> 1
    #      y=1: h=1, set {0,1}; top {2,1} -> 1/2
    #      y=2: sorted row [0,2,2,3,3] -> h=2, set {0,1,2}; top {4,0} -> 1/2
    #      y=3: sorted row [0,3,3,3,3] -> h=3, set = all; top {4,3} -> 1
    # mean (1 + .5 + .5 + 1)/4 = 0.75
    assert hierarchical_precision_at_k(TOP2, TARGETS, LCA) == pytest.approx(0.75)
    # k=1 is top-1 accuracy: 1/4
    assert hierarchical_precision_at_k(PRED[:, None], TARGETS, LCA) == pytest.approx(0.25)
    # k=3, y=0: h=2 (third smallest of [0,1,2,3,3]), set {0,1,2}; top [3,2,0] -> 2/3
    top3 = torch.tensor([[3, 2, 0]])
    assert hierarchical_precision_at_k(top3, torch.tensor([0]), LCA) == pytest.approx(2 / 3)


def test_coarse_accuracy():
    # heights of (y, pred): [0, 2, 3, 3] -> h0: 1/4, h1: 1/4, h2: 2/4, h3: 4/4
    acc = coarse_accuracy(PRED, TARGETS, LCA)
    assert acc == pytest.approx({0: 0.25, 1: 0.25, 2: 0.5, 3: 1.0})


def test_severity_histogram():
    # mistake heights [2, 3, 3] -> bins for heights 1, 2, 3: [0, 1, 2]
    hist = severity_histogram(PRED, TARGETS, LCA)
    assert hist.tolist() == [0, 1, 2]
    assert severity_histogram(TARGETS, TARGETS, LCA).tolist() == [0, 0, 0]


def test_expected_calibration_error():
    probs = torch.tensor([[0.9, 0.1], [0.25, 0.75], [0.55, 0.45], [0.45, 0.55]])
    targets = torch.tensor([0, 0, 1, 1])
    # 15 bins of width 1/15. conf 0.9 correct -> bin 13 alone: |1 - 0.9| = 0.1, weight 1/4
    # conf 0.75 wrong -> bin 11 alone: |0 - 0.75| = 0.75, weight 1/4
    # conf 0.55 wrong + conf 0.55 correct -> bin 8: |0.5 - 0.55| = 0.05, weight 2/4
    # ECE = 0.025 + 0.1875 + 0.025 = 0.2375
    assert expected_calibration_error(probs, targets) == pytest.approx(0.2375)
    # one bin: |accuracy 0.5 - mean confidence (0.9+0.75+0.55+0.55)/4 = 0.6875| = 0.1875
    assert expected_calibration_error(probs, targets, bins=1) == pytest.approx(0.1875)
    # perfectly confident and right -> 0
    assert expected_calibration_error(torch.eye(3), torch.arange(3)) == pytest.approx(0.0)


def test_summarize_agrees_with_individual_metrics():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(40, 5, generator=gen)
    targets = torch.randint(0, 5, (40,), generator=gen)
    probs = scores.softmax(dim=1)
    out = summarize(scores, targets, LCA, probs)
    ranked = scores.argsort(dim=1, descending=True)
    pred = ranked[:, 0]
    expected = {
        "top1": topk_accuracy(ranked[:, :1], targets),
        "top5": topk_accuracy(ranked[:, :5], targets),
        "severity": mistake_severity(pred, targets, LCA),
        "hdist@1": hdist_at_k(ranked[:, :1], targets, LCA),
        "hdist@5": hdist_at_k(ranked[:, :5], targets, LCA),
        "hp@1": hierarchical_precision_at_k(ranked[:, :1], targets, LCA),
        "hp@2": hierarchical_precision_at_k(ranked[:, :2], targets, LCA),
        "hp@5": hierarchical_precision_at_k(ranked[:, :5], targets, LCA),
        "hsim@1": hierarchical_similarity_at_k(ranked[:, :1], targets, LCA),
        "hsim@5": hierarchical_similarity_at_k(ranked[:, :5], targets, LCA),
        "ece": expected_calibration_error(probs, targets),
        **{f"acc@h{h}": a for h, a in coarse_accuracy(pred, targets, LCA).items() if h >= 1},
    }
    assert out == pytest.approx(expected)
    assert list(out) == list(expected)  # same keys, same order; acc@h1..acc@h3 for max height 3
    assert out["top5"] == 1.0 and out["hp@1"] == pytest.approx(out["top1"])
    assert "ece" not in summarize(scores, targets, LCA)


def test_summarize_clamps_k_and_breaks_ties_to_smaller_index():
    lca = torch.tensor([[0, 1, 2], [1, 0, 2], [2, 2, 0]])
    scores = torch.zeros(3, 3)  # all tied: ranking is 0, 1, 2
    out = summarize(scores, torch.tensor([0, 1, 2]), lca)
    # top1: only target 0 hit -> 1/3; top5 clamped to top3 -> 1
    assert out["top1"] == pytest.approx(1 / 3)
    assert out["top5"] == 1.0
    # severity: mistakes (1 -> 0) height 1, (2 -> 0) height 2 -> 1.5
    assert out["severity"] == pytest.approx(1.5)
    # hdist@5 clamped to k=3: every row averages a whole row of lca: (3 + 3 + 4)/3 / 3 = 10/9
    assert out["hdist@5"] == pytest.approx(10 / 9)
    # hp@5 clamped to k=3: the set of size 3 is everything -> 1
    assert out["hp@5"] == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mistake_severity(PRED, torch.tensor([0, 1, 2, 5]), LCA), "targets"),
        (lambda: mistake_severity(torch.tensor([0, 1, 2, -1]), TARGETS, LCA), "pred"),
        (lambda: mistake_severity(PRED[:3], TARGETS, LCA), "pred must have shape"),
        (lambda: hdist_at_k(TOP2, TARGETS, LCA[:, :4]), "square"),
        (lambda: hdist_at_k(TOP2, TARGETS, LCA + 1), "diagonal"),
        (lambda: hdist_at_k(TOP2[:, 0], TARGETS, LCA), "topk must have shape"),
        (lambda: topk_accuracy(TOP2.float(), TARGETS), "integer"),
        (lambda: topk_accuracy(TOP2, TARGETS[:0]), "empty"),
        (
            lambda: hierarchical_precision_at_k(torch.tensor([[1, 1]]), TARGETS[:1], LCA),
            "distinct",
        ),
        (lambda: expected_calibration_error(torch.ones(4, 2) * 2, TARGETS % 2), r"\[0, 1\]"),
        (lambda: expected_calibration_error(torch.ones(4, 2) / 2, TARGETS), "targets"),
        (lambda: summarize(torch.zeros(4, 3), TARGETS, LCA), "scores must have shape"),
    ],
)
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------- real hierarchy
@pytest.fixture(scope="module")
def cifar10():
    from labelspace.hierarchy.sources import load_source

    hierarchy = load_source("cifar10").hierarchy
    return list(hierarchy.classes), hierarchy.class_lca_height


def test_real_hierarchy_cat_for_dog_is_milder_than_truck(cifar10):
    classes, lca = cifar10
    idx = {name.split(".")[0]: i for i, name in enumerate(classes)}
    dog = torch.tensor([idx["dog"]])
    as_cat = mistake_severity(torch.tensor([idx["cat"]]), dog, lca)
    as_truck = mistake_severity(torch.tensor([idx["truck"]]), dog, lca)
    assert 0 < as_cat < as_truck
    # at the cat/dog LCA height, the cat mistake is already correct, the truck one is not
    h = int(as_cat)
    assert coarse_accuracy(torch.tensor([idx["cat"]]), dog, lca)[h] == 1.0
    assert coarse_accuracy(torch.tensor([idx["truck"]]), dog, lca)[h] == 0.0


def test_real_hierarchy_summarize(cifar10):
    classes, lca = cifar10
    gen = torch.Generator().manual_seed(1)
    targets = torch.randint(0, len(classes), (200,), generator=gen)
    scores = torch.randn(200, len(classes), generator=gen)
    out = summarize(scores, targets, lca, scores.softmax(dim=1))
    top = int(lca.max())
    assert out[f"acc@h{top}"] == 1.0
    assert [f"acc@h{h}" for h in range(1, top + 1)] == [k for k in out if k.startswith("acc@h")]
    assert out["hp@1"] == pytest.approx(out["top1"])
    assert 0.0 <= out["ece"] <= 1.0
    assert severity_histogram(scores.argmax(1), targets, lca).sum() == int(
        (scores.argmax(1) != targets).sum()
    )


def test_ranking_breaks_ties_like_a_stable_sort():
    from labelspace.metrics.hierarchical import _ranked

    gen = torch.Generator().manual_seed(0)
    for trial in range(200):
        rows, classes = (
            int(torch.randint(1, 30, (1,), generator=gen)),
            int(torch.randint(1, 12, (1,), generator=gen)),
        )
        scores = torch.randint(0, 4, (rows, classes), generator=gen).float()  # many ties
        if trial % 3 == 0:
            scores = torch.randn(rows, classes, generator=gen)
        k = int(torch.randint(1, classes + 1, (1,), generator=gen))
        expected = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(_ranked(scores, k), expected)


def test_ece_is_torchmetrics_calibration_error():
    from torchmetrics.functional.classification import multiclass_calibration_error

    gen = torch.Generator().manual_seed(1)
    for bins in (1, 3, 15):
        logits = torch.randn(300, 7, generator=gen, dtype=torch.float64) * 3
        probs = logits.softmax(dim=1)
        probs[:5] = torch.eye(7, dtype=torch.float64)[:5]  # confidence exactly 1
        targets = torch.randint(0, 7, (300,), generator=gen)
        expected = multiclass_calibration_error(probs, targets, 7, n_bins=bins, norm="l1")
        assert expected_calibration_error(probs, targets, bins) == pytest.approx(expected.item())
