"""Zero-shot: unseen classes are left out of training and recognised through the label space."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from labelspace.metrics.zeroshot import harmonic_mean, resolve_unseen, zero_shot_metrics
from labelspace.models.methods.devise import DeviseHingeLoss
from labelspace.models.methods.poincare import PoincareLoss
from labelspace.models.methods.softmax import CrossEntropy, SoftLabelLoss
from labelspace.training.build import prepare
from labelspace.training.config import TrainConfig
from labelspace.training.fit import train
from labelspace.training.runs import METRICS_FILE

TINY = TrainConfig(epochs=1, batch_size=64, train_limit=1024, test_limit=300, embedding_dim=5)
CLASSES = ["T-shirt/top", "Trouser", "Sandal", "Sneaker"]
SYNSETS = ["top.n.10", "trouser.n.01", "sandal.n.01", "gym_shoe.n.01"]


def test_resolve_unseen_by_class_or_synset_name():
    assert resolve_unseen(["sneaker", "trouser.n.01"], CLASSES, SYNSETS) == [1, 3]
    assert resolve_unseen(["t shirt/top"], CLASSES, SYNSETS) == [0]  # case and separators


def test_resolve_unseen_draws_a_seeded_random_split():
    """random:N[:SEED] draws N distinct classes; the seed (default 0), not the call, decides."""
    classes = [f"class{i}" for i in range(200)]
    drawn = resolve_unseen(["random:50"], classes, classes)
    assert len(set(drawn)) == 50 and drawn == sorted(drawn) and max(drawn) < 200
    assert resolve_unseen(["random:50:0"], classes, classes) == drawn
    assert resolve_unseen(["Random:50"], classes, classes) == drawn
    assert resolve_unseen(["random:50:1"], classes, classes) != drawn


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["sneakers"], "Its classes are: T-shirt/top, Trouser"),
        (["sandal", "Sandal"], "twice"),
        (["sandal", "sneaker", "trouser"], "leaves 1 seen classes"),
        (["random:3"], "leaves 1 of 4 classes seen"),
        (["random:two"], "write random:N or random:N:SEED"),
        (["random:2:-1"], "write random:N or random:N:SEED"),
    ],
)
def test_resolve_unseen_errors(names, message):
    with pytest.raises(ValueError, match=message):
        resolve_unseen(names, CLASSES, SYNSETS)


def test_zero_shot_metrics_on_a_hand_worked_example():
    # 4 classes, 2 and 3 unseen. Scores rank columns; rows are images.
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.5, 0.0],  # seen 0: right overall
            [0.8, 0.7, 0.0, 0.9],  # seen 1: wrong overall (3), wrong among seen (0)
            [0.9, 0.0, 0.6, 0.1],  # unseen 2: wrong overall (0), right among unseen
            [0.1, 0.0, 0.3, 0.2],  # unseen 3: wrong overall (2), wrong among unseen
            [0.0, 0.1, 0.2, 0.8],  # unseen 3: right overall, right among unseen
        ]
    )
    targets = torch.tensor([0, 1, 2, 3, 3])
    m = zero_shot_metrics(scores, targets, unseen=[3, 2], ks=(1,))
    assert m["zsl_top1"] == pytest.approx(2 / 3)
    assert m["gzsl_seen_top1"] == pytest.approx(1 / 2)
    assert m["gzsl_unseen_top1"] == pytest.approx(1 / 3)
    assert m["gzsl_h_top1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert m["seen_top1"] == pytest.approx(1 / 2)
    assert harmonic_mean(0.0, 0.0) == 0.0
    # top-2 over 2 unseen labels is always right: not reported; GZSL top-2 is
    m2 = zero_shot_metrics(scores, targets, unseen=[2, 3], ks=(2,))
    assert "zsl_top2" not in m2
    assert m2["gzsl_unseen_top2"] == pytest.approx(1.0)
    assert m2["gzsl_seen_top2"] == pytest.approx(1 / 2)  # row 1's top-2 is {3, 0}


def test_zero_shot_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="unseen must name classes"):
        zero_shot_metrics(torch.zeros(2, 3), torch.tensor([0, 1]), unseen=[3])
    with pytest.raises(ValueError, match="one row per target"):
        zero_shot_metrics(torch.zeros(2, 3), torch.tensor([0, 1, 2]), unseen=[1])


def test_seen_classes_loss_ignores_unseen_labels_and_refuses_hierarchy_losses():
    vectors = torch.eye(4)
    inner = PoincareLoss(vectors * 0.5, temperature=1.0)
    restricted = PoincareLoss(vectors * 0.5, temperature=1.0).restrict_to([0, 1], 4)
    outputs = torch.tensor([[0.4, 0.0, 0.0, 0.0], [0.0, 0.3, 0.0, 0.0]])
    targets = torch.tensor([0, 1])
    expected = torch.nn.functional.cross_entropy(inner.scores(outputs)[:, :2], targets)
    assert restricted(outputs, targets) == pytest.approx(expected.item())
    assert restricted(outputs, targets) < inner(outputs, targets)  # fewer competitors
    assert restricted.scores(outputs).shape == (2, 4)  # decoding still sees every label
    # an unseen target maps to -1, which cross-entropy refuses (the data module keeps such
    # images out of training; no per-batch check makes the step wait for the device)
    with pytest.raises(IndexError, match="out of bounds"):
        restricted(outputs, torch.tensor([0, 2]))
    hinge = DeviseHingeLoss(vectors).restrict_to([0, 1], 4)
    # an output equal to label 0 beats label 1 by margin 1 > 0.1; unseen 2, 3 do not count
    assert hinge(torch.tensor([[1.0, 0.0, 1.0, 1.0]]), torch.tensor([0])) == 0.0
    ce = CrossEntropy(4).restrict_to([1, 3], 4)
    logits = torch.tensor([[0.0, 2.0, 9.0, 1.0]])
    assert ce(logits, torch.tensor([1])) == pytest.approx(
        torch.nn.functional.cross_entropy(logits[:, [1, 3]], torch.tensor([0])).item()
    )
    with pytest.raises(ValueError, match="cannot leave classes out"):
        SoftLabelLoss(torch.zeros(4, 4)).restrict_to([0, 1], 4)


def test_prepare_leaves_unseen_images_out_of_training_and_validation():
    prepared = prepare(replace(TINY, method="devise", unseen=["Sneaker", "trouser"]))
    for split in (prepared.train_set, prepared.val_set):
        assert not torch.isin(split.targets, torch.tensor([1, 7])).any()
        assert len(torch.unique(split.targets)) == 8
    assert prepared.space.num_classes == 10  # the label space keeps them
    assert prepared.module.criterion.seen.tolist() == [0, 2, 3, 4, 5, 6, 8, 9]


@pytest.mark.slow  # the fast suite trains zero-shot runs in test_analysis.py and test_faults.py
def test_a_zero_shot_run_reports_zsl_and_generalised_zsl(tmp_path):
    result = train(
        replace(TINY, epochs=3, method="devise", embedding="text", unseen=["Sneaker", "Trouser"]),
        tmp_path / "zs",
        progress=False,
    )
    zs = result["zero_shot"]
    assert zs["unseen"] == ["Trouser", "Sneaker"]
    assert 0.0 <= zs["zsl_top1"] <= 1.0
    assert 0.0 <= zs["gzsl_h_top1"] <= max(zs["gzsl_seen_top1"], zs["gzsl_unseen_top1"])
    # trained on 8 classes, the model is far better than chance (12.5 %) on them
    assert zs["seen_top1"] > 0.4
    assert "zero_shot" in (tmp_path / "zs" / METRICS_FILE).read_text()


def test_hierarchy_losses_cannot_train_zero_shot():
    with pytest.raises(ValueError, match="cannot leave classes out"):
        prepare(replace(TINY, method="hxe", unseen=["Sneaker"]))
