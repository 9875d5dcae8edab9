"""FGSM and PGD on a hand-checked linear model and a small CNN; attack_dataset batching."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from labelspace.analysis.attacks import ATTACKS, attack, attack_dataset, fgsm, pgd

# forward(x) = x.flatten(1) @ W on 1x1x2x2 images; loss = -(score of the target class), so the
# gradient wrt the pixels is -W[:, target]. For target 0 that is [-1, 2, -3, 0]: sign
# [-1, +1, -1, 0] (the last pixel has no influence and must not move).
W = torch.tensor([[1.0, 0.5], [-2.0, 1.0], [3.0, -1.0], [0.0, 2.0]])


def linear_forward(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1) @ W


def neg_target_score(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -outputs.gather(1, targets[:, None]).sum()


def ce_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(outputs, targets)


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    )
    return model.eval()


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 8, 8, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


def test_fgsm_matches_hand_sign():
    x = torch.full((1, 1, 2, 2), 0.5)
    adv = fgsm(linear_forward, neg_target_score, x, torch.tensor([0]), 0.1)
    expected = torch.tensor([[[[0.4, 0.6], [0.4, 0.5]]]])
    torch.testing.assert_close(adv, expected)
    # target 1: gradient -W[:, 1] = [-0.5, -1, 1, -2] -> sign [-1, -1, +1, -1]
    adv = fgsm(linear_forward, neg_target_score, x, torch.tensor([1]), 0.1)
    torch.testing.assert_close(adv, torch.tensor([[[[0.4, 0.4], [0.6, 0.4]]]]))


def test_fgsm_clamps_at_the_border():
    x = torch.tensor([[[[0.05, 0.97], [1.0, 0.0]]]])
    adv = fgsm(linear_forward, neg_target_score, x, torch.tensor([0]), 0.1)
    # sign [-1, +1, -1, 0]: 0.05 -> 0 (clamped), 0.97 -> 1 (clamped), 1 -> 0.9, 0 stays
    torch.testing.assert_close(adv, torch.tensor([[[[0.0, 1.0], [0.9, 0.0]]]]))


def test_eps_zero_is_identity(cnn, batch):
    x, y = batch
    for name in ATTACKS:
        out = attack(name, cnn, ce_loss, x, y, 0.0)
        assert torch.equal(out, x)
        assert out is not x


def test_pgd_stays_in_the_ball_and_the_box(cnn, batch):
    x, y = batch
    eps = 0.05
    adv = pgd(cnn, ce_loss, x, y, eps, steps=5, generator=torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert not adv.requires_grad


def test_pgd_is_repeatable_and_raises_the_loss(cnn, batch):
    x, y = batch
    a = attack("pgd", cnn, ce_loss, x, y, 0.1, steps=5, seed=3)
    b = attack("pgd", cnn, ce_loss, x, y, 0.1, steps=5, seed=3)
    assert torch.equal(a, b)
    one = [
        pgd(cnn, ce_loss, x, y, 0.1, steps=1, generator=torch.Generator().manual_seed(s))
        for s in (0, 1)
    ]
    assert not torch.equal(one[0], one[1])  # the random start depends on the seed
    with torch.no_grad():
        clean, attacked = ce_loss(cnn(x), y), ce_loss(cnn(a), y)
    assert attacked >= clean


def test_pgd_reaches_the_fgsm_corner_on_a_linear_model():
    x = torch.full((3, 1, 2, 2), 0.5)
    y = torch.tensor([0, 1, 0])
    f = fgsm(linear_forward, neg_target_score, x, y, 0.1)
    p = attack("pgd", linear_forward, neg_target_score, x, y, 0.1, steps=10, seed=0)
    with torch.no_grad():
        assert (
            neg_target_score(linear_forward(p), y) >= neg_target_score(linear_forward(f), y) - 1e-5
        )


def test_model_grads_and_mode_untouched_even_under_no_grad(cnn, batch):
    x, y = batch
    cnn.zero_grad(set_to_none=True)
    with torch.no_grad():
        adv = attack("pgd", cnn, ce_loss, x, y, 0.05, steps=2)
        adv_f = attack("fgsm", cnn, ce_loss, x, y, 0.05)
    assert not torch.equal(adv, x) and not torch.equal(adv_f, x)
    assert all(p.grad is None for p in cnn.parameters())
    assert not cnn.training
    cnn.train()
    try:
        fgsm(cnn, ce_loss, x, y, 0.05)
        assert cnn.training
    finally:
        cnn.eval()


def test_attack_dataset_shapes_and_clean_scores(cnn):
    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (10, 1, 8, 8), generator=g, dtype=torch.uint8)
    targets = torch.randint(0, 3, (10,), generator=g)
    calls: list[tuple[int, int]] = []
    out = attack_dataset(
        cnn,
        ce_loss,
        lambda o: o.softmax(-1),
        images,
        targets,
        [0, 0.03],
        steps=2,
        batch_size=4,
        on_progress=lambda d, t: calls.append((d, t)),
    )
    assert set(out) == {0.0, 0.03}
    assert all(s.shape == (10, 3) for s in out.values())
    with torch.no_grad():
        clean = cnn(images.float() / 255).softmax(-1)
    torch.testing.assert_close(out[0.0], clean)
    assert not torch.allclose(out[0.03], clean)
    assert calls[-1] == (20, 20) and len(calls) == 6
    again = attack_dataset(cnn, ce_loss, lambda o: o, images, targets, [0.03], attack="fgsm")
    assert again[0.03].shape == (10, 3)


def test_bad_inputs(cnn, batch):
    x, y = batch
    with pytest.raises(ValueError, match="eps"):
        fgsm(cnn, ce_loss, x, y, -0.1)
    with pytest.raises(ValueError, match="unknown attack"):
        attack("cw", cnn, ce_loss, x, y, 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(cnn, ce_loss, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fgsm(cnn, ce_loss, x * 255, y, 0.1)
    with pytest.raises(ValueError, match="same length"):
        fgsm(cnn, ce_loss, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="uint8"):
        attack_dataset(cnn, ce_loss, lambda o: o, x, y, [0.0])
    with pytest.raises(ValueError, match="scalar"):
        fgsm(cnn, lambda o, t: o, x, y, 0.1)


def test_the_analysis_options_name_exactly_the_registered_attacks():
    """analysis.config keeps the names without importing torch; they must not drift apart."""
    from labelspace.analysis import attacks, config

    assert set(config.ATTACKS) == set(attacks.ATTACKS)
