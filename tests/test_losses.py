"""Losses: hand-worked values, limits that reduce to cross-entropy, training lowers them."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from labelspace.embeddings.space import LabelSpace
from labelspace.embeddings.store import LabelEmbedding
from labelspace.errors import InputError
from labelspace.hierarchy.graph import Hierarchy
from labelspace.models.methods import METHODS
from labelspace.models.methods.base import ClassScoreLoss
from labelspace.models.methods.cosine import CosineCrossEntropyLoss, CosineLoss
from labelspace.models.methods.devise import DeviseHingeLoss
from labelspace.models.methods.haf import HAFLoss, depth_levels
from labelspace.models.methods.hsoftmax import HierarchicalSoftmax
from labelspace.models.methods.poincare import PoincareLoss
from labelspace.models.methods.softmax import HierarchicalCrossEntropy, SoftLabelLoss
from labelspace.models.options import MethodOptions


@pytest.fixture(scope="module")
def small() -> Hierarchy:
    """r -> {a, b}, a -> {x, y}; classes x, y, b (nodes in order r, a, b, x, y)."""
    return Hierarchy.from_parents({"a": ["r"], "b": ["r"], "x": ["a"], "y": ["a"]}, ["x", "y", "b"])


def test_registry_names():
    assert set(METHODS) == {
        "softmax", "devise", "cosine", "cosine-ce", "frame", "joint", "poincare", "haf",
        "soft-labels", "hxe", "hsoftmax",
    }  # fmt: skip
    assert all(m.summary and m.loss.from_space is not None for m in METHODS.values())


def test_devise_hinge_hand_example():
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    outputs = torch.tensor([[0.2, 0.25], [0.4, 0.1]])
    targets = torch.tensor([0, 1])
    # sample 0: s = (0.2, 0.25): max(0, 0.1 - 0.2 + 0.25) = 0.15
    # sample 1: s = (0.4, 0.1):  max(0, 0.1 - 0.1 + 0.4) = 0.4
    loss = DeviseHingeLoss(labels, margin=0.1)(outputs, targets)
    assert loss.item() == pytest.approx((0.15 + 0.4) / 2)
    # far enough on the right side of the margin: no loss
    assert DeviseHingeLoss(labels)(torch.tensor([[1.0, 0.0]]), torch.tensor([0])).item() == 0.0


def test_cosine_loss_zero_when_aligned_and_two_when_opposite():
    labels = torch.randn(4, 3)
    loss = CosineLoss(labels)
    targets = torch.tensor([2, 0, 1, 3])
    assert loss(3.0 * labels[targets], targets).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(-labels[targets], targets).item() == pytest.approx(2.0, abs=1e-6)
    assert (loss.scores(labels).argmax(1) == torch.arange(4)).all()


def test_cosine_ce_adds_weighted_classifier_cross_entropy():
    torch.manual_seed(0)
    labels, outputs, targets = torch.randn(4, 3), torch.randn(5, 3), torch.randint(0, 4, (5,))
    loss = CosineCrossEntropyLoss(labels, in_dim=3, num_classes=4, weight=0.1)
    assert {n for n, _ in loss.named_parameters()} == {"classifier.weight", "classifier.bias"}
    logits = loss.classifier(F.normalize(outputs, dim=-1))
    expected = CosineLoss(labels)(outputs, targets) + 0.1 * F.cross_entropy(logits, targets)
    assert torch.allclose(loss(outputs, targets), expected)
    with pytest.raises(ValueError):
        CosineCrossEntropyLoss(labels, in_dim=5)


def test_label_vectors_frozen_unless_trainable():
    labels = torch.randn(4, 3)
    frozen = CosineLoss(labels)
    assert "label_vectors" in dict(frozen.named_buffers()) and not list(frozen.parameters())
    trainable = CosineLoss(labels, trainable=True)
    assert isinstance(trainable.label_vectors, nn.Parameter)
    labels.zero_()  # the loss holds a copy
    assert frozen.label_vectors.abs().sum() > 0


def _poincare_distance(x: list[float], y: list[float]) -> float:
    sq = sum((a - b) ** 2 for a, b in zip(x, y, strict=True))
    nx, ny = sum(a * a for a in x), sum(b * b for b in y)
    return math.acosh(1 + 2 * sq / ((1 - nx) * (1 - ny)))


def test_poincare_loss_matches_naive_loop():
    torch.manual_seed(0)
    labels = 0.8 * F.normalize(torch.randn(5, 3), dim=-1) * torch.rand(5, 1)
    outputs = 0.9 * F.normalize(torch.randn(4, 3), dim=-1) * torch.rand(4, 1)
    targets = torch.tensor([0, 3, 4, 1])
    t = 0.1
    naive = 0.0
    for x, y in zip(outputs.tolist(), targets.tolist(), strict=True):
        logits = [-_poincare_distance(x, lab) / t for lab in labels.tolist()]
        log_z = math.log(sum(math.exp(v) for v in logits))
        naive += (log_z - logits[y]) / len(targets)
    loss = PoincareLoss(labels, curvature=1.0, temperature=t)(outputs, targets)
    assert loss.item() == pytest.approx(naive, rel=1e-4)


def test_soft_labels_hand_example_and_targets_sum_to_one(fashion):
    loss = SoftLabelLoss(torch.tensor([[0, 2], [2, 0]]), beta=1.0)
    # distances 0 and 1 (2 / max 2): targets softmax(0, -1) = (1, e^-1) / (1 + e^-1)
    p = 1 / (1 + math.exp(-1))
    assert torch.allclose(loss.soft_targets[0], torch.tensor([p, 1 - p]))
    soft = SoftLabelLoss(fashion.class_lca_height, beta=4.0).soft_targets
    assert torch.allclose(soft.sum(1), torch.ones(len(fashion.classes)))
    assert (soft.argmax(1) == torch.arange(len(fashion.classes))).all()


def test_soft_labels_large_beta_is_cross_entropy(fashion):
    torch.manual_seed(0)
    logits, targets = torch.randn(8, 10), torch.randint(0, 10, (8,))
    loss = SoftLabelLoss(fashion.class_lca_height, beta=1e4)(logits, targets)
    assert torch.allclose(loss, F.cross_entropy(logits, targets), atol=1e-5)


def test_hxe_alpha_zero_is_cross_entropy(fashion):
    torch.manual_seed(0)
    logits, targets = 3 * torch.randn(16, 10), torch.arange(16) % 10
    loss = HierarchicalCrossEntropy(fashion, alpha=0.0)(logits, targets)
    assert torch.allclose(loss, F.cross_entropy(logits, targets), atol=1e-5)


def test_hxe_hand_example(small):
    logits = torch.tensor([[1.0, 0.5, -0.3]])  # classes x, y, b
    p = torch.softmax(logits, -1)[0]
    alpha = 0.5
    # class x: path x (height 0) -> a (height 1) -> r
    expected = -(torch.log(p[0] / (p[0] + p[1])) + math.exp(-alpha) * torch.log(p[0] + p[1]))
    loss = HierarchicalCrossEntropy(small, alpha=alpha)(logits, torch.tensor([0]))
    assert torch.allclose(loss, expected)
    # class b: path b -> r, just -log p(b)
    loss_b = HierarchicalCrossEntropy(small, alpha=alpha)(logits, torch.tensor([2]))
    assert torch.allclose(loss_b, -torch.log(p[2]))


def test_hsoftmax_hand_example(small):
    hs = HierarchicalSoftmax(small)
    assert hs.output_nodes == ("a", "b", "x", "y")
    logits = torch.tensor([[0.3, -0.2, 1.0, 0.1]])
    top = torch.softmax(logits[0, :2], -1)  # p(a), p(b)
    low = torch.softmax(logits[0, 2:], -1)  # p(x | a), p(y | a)
    expected = torch.stack([top[0] * low[0], top[0] * low[1], top[1]])
    assert torch.allclose(hs.class_log_probs(logits).exp()[0], expected)
    assert torch.allclose(hs(logits, torch.tensor([1])), -torch.log(expected[1]))


def test_hsoftmax_probabilities_sum_to_one_and_gradients_flow(fashion):
    hs = HierarchicalSoftmax(fashion)
    assert hs.num_outputs <= len(fashion) - 1
    torch.manual_seed(0)
    logits = (5 * torch.randn(7, hs.num_outputs)).requires_grad_(True)
    probs = hs.class_log_probs(logits).exp()
    assert probs.shape == (7, 10)
    assert torch.allclose(probs.sum(1), torch.ones(7), atol=1e-5)
    hs(logits, torch.arange(7)).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_hsoftmax_class_with_classes_below_gets_a_self_output():
    h = Hierarchy.from_parents({"a": ["r"], "b": ["r"], "x": ["a"]}, ["a", "x", "b"])
    hs = HierarchicalSoftmax(h)
    assert "a#self" in hs.output_nodes
    probs = hs.class_log_probs(torch.randn(3, hs.num_outputs)).exp()
    assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-6)


@pytest.fixture(scope="module")
def spaces(fashion) -> dict[str, LabelSpace]:
    """Label spaces of the Fashion-MNIST classes: Euclidean random vectors, and points inside
    the Poincaré ball (what each method's loss reads from the space)."""
    torch.manual_seed(1)
    labels = list(fashion.nodes)
    flat = LabelEmbedding(labels, torch.randn(len(labels), 6), "random", "euclidean")
    ball = LabelEmbedding(
        labels, 0.7 * F.normalize(torch.randn(len(labels), 6), dim=-1), "poincare", "poincare", 1.0
    )
    classes = list(fashion.classes)
    return {
        kind: LabelSpace(classes, classes, fashion, emb)
        for kind, emb in (("flat", flat), ("ball", ball))
    }


def _problem(name: str, spaces: dict[str, LabelSpace]) -> tuple[nn.Module, ClassScoreLoss]:
    """The registered method ``name`` built on 16 features for the 10 Fashion-MNIST classes."""
    torch.manual_seed(1)
    space = spaces["ball" if METHODS[name].embedding == "poincare" else "flat"]
    return METHODS[name].build(16, space, MethodOptions())


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_its_head_and_loss(name, spaces):
    model, loss_fn = _problem(name, spaces)
    assert isinstance(loss_fn, METHODS[name].loss)
    x, y = torch.randn(32, 16), torch.arange(32) % 10
    opt = torch.optim.Adam([*model.parameters(), *loss_fn.parameters()], lr=0.05)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0]
    with torch.no_grad():
        scores = loss_fn.scores(model(x))
    assert scores.shape == (32, 10)
    assert (scores.argmax(1) == y).float().mean() > 0.5
    probs = loss_fn.probabilities(scores)
    assert (probs is not None) == METHODS[name].has_probabilities
    if probs is not None:
        assert torch.allclose(probs.sum(1), torch.ones(32, dtype=probs.dtype), atol=1e-5)
        assert torch.equal(probs.argmax(1), scores.argmax(1))


def test_poincare_temperature_enters_once(spaces):
    """Scores are -distance; the loss and the probabilities both divide by T once."""
    head, loss = _problem("poincare", spaces)
    outputs, targets = head(torch.randn(5, 16)), torch.arange(5)
    scores = loss.scores(outputs)
    labels = loss.label_vectors
    distance = torch.stack([_poincare_distance_t(o, labels) for o in outputs])
    assert torch.allclose(-scores, distance, atol=1e-4)
    t = loss.temperature
    assert torch.allclose(loss.probabilities(scores), (scores / t).softmax(-1))
    assert torch.allclose(loss(outputs, targets), F.cross_entropy(scores / t, targets))


def _poincare_distance_t(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    sq = (labels - x).pow(2).sum(-1)
    return torch.acosh(1 + 2 * sq / ((1 - x.pow(2).sum()) * (1 - labels.pow(2).sum(-1))))


def test_frame_scale_enters_once_and_the_frame_stays_fixed(spaces):
    """Scores are cosines to the sphere embedding's class vectors; the loss and the
    probabilities both multiply by the scale once; the frame is a buffer, not a parameter."""
    head, loss = _problem("frame", spaces)
    outputs, targets = head(torch.randn(6, 16)), torch.arange(6)
    scores = loss.scores(outputs)
    expected = F.normalize(outputs, dim=-1) @ F.normalize(loss.label_vectors, dim=-1).T
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.allclose(loss.probabilities(scores), (loss.scale * scores).softmax(-1))
    assert torch.allclose(loss(outputs, targets), F.cross_entropy(loss.scale * scores, targets))
    assert not list(loss.parameters())
    # with its default embedding the frame follows the hierarchy: the cosine of two classes
    # falls as their LCA rises
    from labelspace.embeddings.space import build_label_space
    from labelspace.hierarchy.mapping_files import DATASET_CLASSES, dataset_synsets

    space = build_label_space(
        "fashion-mnist", DATASET_CLASSES["fashion-mnist"], dataset_synsets("fashion-mnist"),
        METHODS["frame"].embedding,
    )  # fmt: skip
    _, frame = METHODS["frame"].build(16, space, MethodOptions())
    unit = F.normalize(frame.label_vectors, dim=-1)
    gram = unit @ unit.T
    height = space.lca_height.float()
    pairs = ~torch.eye(len(height), dtype=torch.bool)
    order = torch.argsort(height[pairs])
    assert torch.all(gram[pairs][order].diff() <= 1e-5)


def test_joint_loss_is_cross_entropy_plus_weighted_prototype_loss(spaces):
    """The head's outputs are (logits, ball point); the loss adds the two terms once each;
    scores and probabilities follow the chosen decoder."""
    head, loss = _problem("joint", spaces)
    num_classes, dim = loss.num_classes, loss.prototypes.dim
    outputs, targets = head(torch.randn(7, 16)), torch.arange(7)
    assert outputs.shape == (7, num_classes + dim)
    logits, points = outputs[:, :num_classes], outputs[:, num_classes:]
    assert torch.equal(loss.embedded(outputs), points)
    assert float(points.norm(dim=-1).max()) < 1.0  # on the ball
    expected = F.cross_entropy(logits, targets) + loss.weight * loss.prototypes(points, targets)
    assert torch.allclose(loss(outputs, targets), expected)
    # linear decoding first; the ball's scores and its distance softmax after choosing it
    assert torch.equal(loss.scores(outputs), logits)
    assert torch.allclose(loss.probabilities(logits), logits.softmax(-1))
    loss.choose_decoder(loss.decoders.index("poincare"))
    ball = loss.prototypes.scores(points)
    assert torch.equal(loss.scores(outputs), ball)
    t = loss.prototypes.temperature
    assert torch.allclose(loss.probabilities(ball), (ball / t).softmax(-1))
    assert int(loss.state_dict()["decoder"]) == 1  # the choice is saved with the weights
    # zero-shot: only the ball can score unseen classes, so it is always the decoder
    _, restricted = _problem("joint", spaces)
    restricted.restrict_to([0, 1, 2, 3, 4], 10)
    restricted.choose_decoder(0)
    assert restricted.decoders[int(restricted.decoder)] == "poincare"
    with pytest.raises(InputError, match="--prototype-weight"):
        METHODS["joint"].build(16, spaces["ball"], MethodOptions(prototype_weight=-1.0))


def test_haf_levels_cut_the_tree_at_each_depth(small, fashion):
    """r -> {a, b}, a -> {x, y}: depth 1 groups {x, y} against {b}; depth 2 separates every
    class, which the class logits already do, so it is no level."""
    (level,) = depth_levels(small)
    assert level.tolist() == [0, 0, 1]
    sizes = [int(g.max()) + 1 for g in depth_levels(fashion)]
    assert sizes == sorted(sizes) and sizes[0] > 1 and sizes[-1] < 10  # coarse to fine


def test_haf_levels_leave_out_a_cut_that_repeats_the_partition_above():
    """r -> {a, b}, a -> q -> {x, y}, b -> p -> {z, w}: depth 2 groups the classes as depth 1
    does, under nodes whose order is the other way round (p before q)."""
    chain = Hierarchy.from_parents(
        {"a": ["r"], "b": ["r"], "q": ["a"], "p": ["b"], "x": ["q"], "y": ["q"], "z": ["p"],
         "w": ["p"]},
        ["x", "y", "z", "w"],
    )  # fmt: skip
    index = chain.index
    assert (index["a"] < index["b"]) != (index["q"] < index["p"])  # the labels differ
    (level,) = depth_levels(chain)
    assert level.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])


def test_haf_loss_is_cross_entropy_when_levels_agree_and_margin_when_groups_collide(small):
    """Coarse softmaxes equal to the summed class softmax, and no two neighbours of different
    groups: only cross-entropy is left. Two images of different groups with the same coarse
    prediction: the margin term adds the margin."""
    from labelspace.models.methods.haf import HAFHead

    loss = HAFLoss(small)
    fine = torch.tensor([[2.0, 0.5, -1.0], [0.1, 1.5, 0.3]])
    summed = fine.softmax(-1) @ loss.members[0].T
    outputs = torch.cat([fine, summed.log()], dim=-1)
    same_group = torch.tensor([0, 1])  # x and y, both under a
    assert torch.allclose(loss(outputs, same_group), F.cross_entropy(fine, same_group))
    apart = torch.tensor([0, 2])  # x under a, b alone
    twins = torch.cat([fine[:1], fine[:1]])
    twins_out = torch.cat([twins, (twins.softmax(-1) @ loss.members[0].T).log()], dim=-1)
    expected = F.cross_entropy(twins, apart) + loss.margin
    assert torch.allclose(loss(twins_out, apart), expected, atol=1e-5)
    assert torch.equal(loss.scores(outputs), fine)
    # geometric consistency holds exactly: a coarse weight is the normalised sum of its classes'
    head = HAFHead(4, 3, loss.members)
    unit = F.normalize(head.classes.weight, dim=-1)
    features = torch.eye(4)
    coarse = head(features)[:, 3:] - head.level_bias[0]
    expected_weights = F.normalize(loss.members[0] @ unit, dim=-1)
    assert torch.allclose(coarse, features @ expected_weights.T, atol=1e-6)


class _RecordingOptions(MethodOptions):
    """Method options that note which of their fields are read."""

    def __getattribute__(self, name: str):
        if name in MethodOptions.__dataclass_fields__:
            object.__getattribute__(self, "__dict__").setdefault("_read", set()).add(name)
        return super().__getattribute__(name)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_declares_the_options_it_reads(name, spaces):
    """A method's ``options`` name MethodOptions fields, and exactly those its head and loss
    read when built (so the command line and the docs can say which knob is whose)."""
    method = METHODS[name]
    assert set(method.options) <= set(MethodOptions.__dataclass_fields__)
    options = _RecordingOptions()
    options.validate()  # reads every field: start the record afterwards
    object.__getattribute__(options, "__dict__")["_read"] = set()
    space = spaces["ball" if method.embedding == "poincare" else "flat"]
    method.loss.from_space(space, options)
    loss = method.loss.from_space(space, MethodOptions())
    method.head(16, loss, options)
    assert object.__getattribute__(options, "__dict__")["_read"] == set(method.options)
