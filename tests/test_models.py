"""Backbones and heads: shapes, small-image adaptation, and hyperbolic outputs inside the ball."""

import pytest
import torch
from torch import nn

from labelspace.embeddings.geometry import max_norm
from labelspace.models.backbones import BACKBONES, create_backbone
from labelspace.models.heads import EmbeddingHead, SoftmaxHead
from labelspace.models.methods.poincare import HyperbolicHead


@pytest.mark.parametrize("name", ["small-cnn", "resnet18"])
@pytest.mark.parametrize(("in_chans", "size"), [(1, 28), (3, 32)])
def test_backbone_forward(name, in_chans, size):
    torch.manual_seed(0)
    model, num_features = create_backbone(name, in_chans, size)
    features = model(torch.randn(2, in_chans, size, size))
    assert features.shape == (2, num_features)
    assert torch.isfinite(features).all()
    features.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_small_cnn_feature_size():
    assert create_backbone("small-cnn", 1, 28)[1] == 256


def test_resnet_stem_adapted_only_for_small_images():
    small, _ = create_backbone("resnet18", 3, 32)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    large, _ = create_backbone("resnet18", 3, 224)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.stride == (2, 2)
    assert isinstance(large.maxpool, nn.MaxPool2d)


def test_unknown_backbone_names_builtins_and_timm():
    with pytest.raises(ValueError, match="not-a-backbone") as err:
        create_backbone("not-a-backbone", 3, 32)
    message = str(err.value)
    assert all(name in message for name in BACKBONES)
    assert "timm" in message


def test_head_shapes():
    x = torch.randn(4, 16)
    assert SoftmaxHead(16, 10)(x).shape == (4, 10)
    assert EmbeddingHead(16, 5, normalize=False)(x).shape == (4, 5)
    assert HyperbolicHead(16, 3)(x).shape == (4, 3)


def test_embedding_head_normalizes():
    out = EmbeddingHead(16, 5, normalize=True)(torch.randn(4, 16) * 100)
    assert torch.allclose(out.norm(dim=-1), torch.ones(4), atol=1e-6)


@pytest.mark.parametrize("curvature", [0.5, 1.0, 2.0])
def test_hyperbolic_head_stays_inside_ball_for_huge_inputs(curvature):
    torch.manual_seed(0)
    head = HyperbolicHead(8, 4, curvature=curvature, clip_r=2.3)
    x = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1) * 1e6
    x.requires_grad_(True)
    out = head(x)
    assert torch.isfinite(out).all()
    norms = out.norm(dim=-1)
    assert (norms <= max_norm(curvature) + 1e-6).all()
    # clipping to norm 2.3 keeps points well away from the boundary
    bound = torch.tanh(torch.tensor(curvature**0.5 * 2.3)) / curvature**0.5
    assert (norms <= bound + 1e-5).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(head.linear.weight.grad).all()


def test_hyperbolic_head_leaves_short_vectors_unclipped():
    head = HyperbolicHead(4, 4, clip_r=2.3)
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(4))
        head.linear.bias.zero_()
    v = torch.tensor([[0.3, 0.0, 0.4, 0.0]])  # norm 0.5 < clip_r
    assert torch.allclose(head(v).norm(), torch.tanh(torch.tensor(0.5)), atol=1e-6)
