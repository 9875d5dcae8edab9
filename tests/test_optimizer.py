"""The optimiser: torch's AdamW/SGD for flat parameters, geoopt's Riemannian versions as soon
as a label point lives on the Poincaré ball."""

from __future__ import annotations

import geoopt
import pytest
import torch
from torch.nn import functional as F

from labelspace.errors import InputError
from labelspace.models.methods.poincare import PoincareLoss
from labelspace.training.module import OptimConfig, RiemannianAdamW, build_optimizer


def _steps(params, optimizer, loss_fn, n: int = 20) -> None:
    for _ in range(n):
        optimizer.zero_grad()
        loss_fn().backward()
        optimizer.step()


def test_flat_parameters_get_torch_optimizers():
    w = torch.nn.Parameter(torch.randn(3))
    assert type(build_optimizer([w], OptimConfig("adamw", 0.1))) is torch.optim.AdamW
    assert type(build_optimizer([w], OptimConfig("sgd", 0.1))) is torch.optim.SGD
    with pytest.raises(InputError, match="adamw or sgd"):
        build_optimizer([w], OptimConfig("lbfgs", 0.1))


def test_riemannian_adamw_matches_adamw_on_flat_parameters():
    """With no manifold parameter involved, the decoupled decay makes it AdamW exactly."""
    torch.manual_seed(0)
    start, target = torch.randn(5), torch.randn(5)
    a, b = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    ref = torch.optim.AdamW([a], lr=0.05, weight_decay=0.1)
    ours = RiemannianAdamW([{"params": [b], "decoupled_weight_decay": 0.1}], lr=0.05)
    _steps([a], ref, lambda: (a - target).pow(2).sum())
    _steps([b], ours, lambda: (b - target).pow(2).sum())
    assert torch.allclose(a, b, atol=1e-6)


def test_trainable_poincare_labels_take_riemannian_steps_inside_the_ball():
    torch.manual_seed(0)
    labels = 0.9 * F.normalize(torch.randn(4, 3), dim=-1)
    loss = PoincareLoss(labels, temperature=0.5, trainable=True)
    assert isinstance(loss.label_vectors, geoopt.ManifoldParameter)
    assert isinstance(loss.label_vectors.manifold, geoopt.PoincareBall)
    head = torch.nn.Linear(6, 3)
    params = [*head.parameters(), *loss.parameters()]
    opt = build_optimizer(params, OptimConfig("adamw", lr=0.5, weight_decay=0.01))
    assert isinstance(opt, geoopt.optim.RiemannianAdam)
    x, y = torch.randn(16, 6), torch.arange(16) % 4
    before = loss.label_vectors.detach().clone()
    losses = []

    def step() -> torch.Tensor:
        value = loss(geoopt.PoincareBall().expmap0(0.3 * head(x)), y)
        losses.append(value.item())
        return value

    _steps(params, opt, step, n=30)
    moved = loss.label_vectors.detach()
    assert not torch.allclose(moved, before)
    assert (moved.norm(dim=-1) < 1).all()  # the retraction keeps them on the manifold
    assert losses[-1] < losses[0]
    sgd = build_optimizer(params, OptimConfig("sgd", lr=0.1))
    assert isinstance(sgd, geoopt.optim.RiemannianSGD)
