"""Pretrained backbones from local files and frozen backbones (real timm models and files)."""

from __future__ import annotations

import copy
import logging
import os
import pickle
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch import nn

from labelspace.errors import InputError, LabelspaceError, MissingInputError
from labelspace.models.backbones import (
    create_backbone,
    freeze_backbone,
    is_frozen,
    load_pretrained,
)

RESNET = "resnet10t" if timm.is_model("resnet10t") else "resnet18"


class Opaque:
    """A Python object that ``torch.load(weights_only=True)`` must refuse to unpickle."""


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Write ``state`` as safetensors or with torch.save, by the suffix of ``path``."""
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def _assert_same_tensors(model: nn.Module, reference: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert got.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(got[key], value), key


def _small_cnn(seed: int, in_chans: int = 1, image_size: int = 28) -> nn.Module:
    torch.manual_seed(seed)
    return create_backbone("small-cnn", in_chans, image_size)[0]


@pytest.fixture(scope="module")
def resnet_with_classifier() -> nn.Module:
    """A timm ResNet as timm builds it for pretraining: RGB, its own stem, a 10-class fc."""
    torch.manual_seed(1)
    return timm.create_model(RESNET, pretrained=False, num_classes=10)


# ------------------------------------------------------------------------------ loading
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_small_cnn_round_trip(tmp_path: Path, suffix: str) -> None:
    source = _small_cnn(seed=0)
    with torch.no_grad():  # non-trivial running statistics must travel too
        for m in source.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
    file = _save(source.state_dict(), tmp_path / f"weights{suffix}")
    target = _small_cnn(seed=1)
    load_pretrained(target, file)
    _assert_same_tensors(target, source.state_dict())
    images = torch.randn(4, 1, 28, 28)
    source.eval(), target.eval()
    assert torch.equal(source(images), target(images))

    built, features = create_backbone("small-cnn", 1, 28, pretrained=str(file))
    assert features == 256
    _assert_same_tensors(built, source.state_dict())


def test_timm_resnet_keeps_stem_and_drops_classifier(
    tmp_path: Path, resnet_with_classifier: nn.Module, caplog: pytest.LogCaptureFixture
) -> None:
    source = resnet_with_classifier.state_dict()
    file = _save(source, tmp_path / "resnet.safetensors")
    with caplog.at_level(logging.INFO, logger="labelspace.models.backbones"):
        model, features = create_backbone(RESNET, 3, 32, pretrained=file)
    assert features == resnet_with_classifier.num_features
    assert "keeping the model's own stem" in caplog.text
    assert isinstance(model.maxpool, nn.MaxPool2d)  # not the small-image stem
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.stride == (2, 2)
    _assert_same_tensors(model, {k: v for k, v in source.items() if not k.startswith("fc.")})

    plain, _ = create_backbone(RESNET, 3, 32)  # without weights the stem is adapted
    assert isinstance(plain.maxpool, nn.Identity)


def test_ddp_prefix_and_wrapper(tmp_path: Path, resnet_with_classifier: nn.Module) -> None:
    source = resnet_with_classifier.state_dict()
    wrapped = {"state_dict": {f"module.{k}": v for k, v in source.items()}, "epoch": 3}
    file = tmp_path / "ddp.pth"
    torch.save(wrapped, file)
    model, _ = create_backbone(RESNET, 3, 64, pretrained=file)
    _assert_same_tensors(model, {k: v for k, v in source.items() if not k.startswith("fc.")})

    torch.save({"model": source}, tmp_path / "model.pth")
    load_pretrained(create_backbone(RESNET, 3, 224)[0], tmp_path / "model.pth")


def test_grayscale_data_with_rgb_weights(tmp_path: Path, resnet_with_classifier: nn.Module) -> None:
    source = resnet_with_classifier.state_dict()
    file = _save(source, tmp_path / "rgb.pth")
    model, _ = create_backbone(RESNET, 1, 32, pretrained=file)
    key = resnet_with_classifier.pretrained_cfg["first_conv"] + ".weight"
    adapted = model.state_dict()[key]
    assert adapted.shape[1] == 1
    assert torch.allclose(adapted, source[key].sum(dim=1, keepdim=True))
    model.eval()
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, resnet_with_classifier.num_features)

    rgb_cnn = _small_cnn(seed=0, in_chans=3)  # small-cnn's first conv is adapted the same way
    gray = _small_cnn(seed=1, in_chans=1)
    load_pretrained(gray, _save(rgb_cnn.state_dict(), tmp_path / "cnn.safetensors"))
    expected = rgb_cnn.state_dict()["features.0.weight"].sum(dim=1, keepdim=True)
    assert torch.allclose(gray.state_dict()["features.0.weight"], expected)


# ----------------------------------------------------------------------------- mismatches
def test_wrong_architecture_names_keys(tmp_path: Path) -> None:
    r18 = create_backbone("resnet18", 3, 224)[0]
    file18 = _save(r18.state_dict(), tmp_path / "r18.safetensors")
    with pytest.raises(InputError) as info:
        create_backbone("resnet34", 3, 224, pretrained=file18)
    message = str(info.value)
    assert message.startswith(f"--pretrained {file18}: ")
    assert "the resnet34 backbone" in message
    assert "missing keys (layer1.2." in message
    assert "more)" in message  # at most 5 listed
    assert "same --backbone" in message

    r34 = create_backbone("resnet34", 3, 224)[0]
    file34 = _save(r34.state_dict(), tmp_path / "r34.pth")
    with pytest.raises(InputError, match=r"unexpected keys \(layer1\.2\.") as info:
        load_pretrained(r18, file34)
    assert "missing" not in str(info.value)


def test_shape_mismatch_names_key_and_shapes(tmp_path: Path) -> None:
    file = _save(_small_cnn(seed=0, image_size=32).state_dict(), tmp_path / "cnn32.pth")
    with pytest.raises(InputError) as info:
        load_pretrained(_small_cnn(seed=0, image_size=28), file)
    message = str(info.value)
    assert message.startswith(f"--pretrained {file}: ")
    shapes = "1 shape mismatch (fc.2.weight: (256, 2048) in the file vs (256, 1152) in the model)"
    assert shapes in message
    assert "missing" not in message and "unexpected" not in message

    state = _small_cnn(seed=0).state_dict()
    state["features.4.weight"] = state["features.4.weight"].reshape(32, 64, 9)
    with pytest.raises(InputError, match=r"features\.4\.weight: \(32, 64, 9\) in the file vs"):
        load_pretrained(_small_cnn(seed=0), _save(state, tmp_path / "reshaped.safetensors"))


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("garbage.pth", os.urandom(64) + b"not weights", "cannot read it as weights"),
        ("garbage.safetensors", b"\xff" * 80, "not a safetensors file"),
        ("empty.pth", b"", "the file is empty"),
        ("object.pkl", pickle.dumps(Opaque()), "cannot read it as weights"),
        ("text.bin", b"hello, these are not weights\n", "cannot read it as weights"),
    ],
    ids=["garbage", "garbage-safetensors", "empty", "pickled-object", "text"],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    file = tmp_path / name
    file.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_pretrained(_small_cnn(seed=0), file)
    message = str(info.value)
    assert message.startswith(f"--pretrained {file}: ")
    assert reason in message
    assert ".safetensors file or a PyTorch state dict" in message


def test_pickled_object_is_never_executed(tmp_path: Path) -> None:
    file = tmp_path / "object.pth"
    torch.save({"x": Opaque(), "w": torch.zeros(1)}, file)
    with pytest.raises(InputError, match=r"pickled Python object \(.*Opaque\).*could run code"):
        load_pretrained(_small_cnn(seed=0), file)


def test_missing_folder_and_empty_state(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match=r"^--pretrained .*nope\.pth: no such file"):
        create_backbone("small-cnn", 1, 28, pretrained=tmp_path / "nope.pth")
    with pytest.raises(InputError, match="is a folder"):
        load_pretrained(_small_cnn(seed=0), tmp_path)
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "no_tensors.pth")
    with pytest.raises(InputError, match=r"holds no tensors \(its entries: epoch, lr\)"):
        load_pretrained(_small_cnn(seed=0), tmp_path / "no_tensors.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(LabelspaceError, match="cannot read it as weights"):
        load_pretrained(_small_cnn(seed=0), tmp_path / "list.pth")


# ------------------------------------------------------------------------------- freezing
def _norms(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("name", ["small-cnn", RESNET])
def test_freeze_keeps_weights_and_statistics(name: str) -> None:
    torch.manual_seed(0)
    backbone, features = create_backbone(name, 3, 32)
    keys = list(backbone.state_dict())
    model = nn.Sequential(backbone, nn.Linear(features, 5))
    freeze_backbone(backbone)
    assert is_frozen(backbone) and not is_frozen(model)
    assert not any(p.requires_grad for p in backbone.parameters())

    model.train()
    assert model.training and model[1].training
    assert not any(m.training for m in backbone.modules())
    before = copy.deepcopy(backbone.state_dict())
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    _assert_same_tensors(backbone, before)  # running statistics unchanged
    assert all(p.grad is None for p in backbone.parameters())
    assert model[1].weight.grad is not None

    assert list(backbone.state_dict()) == keys  # no wrapper prefix
    fresh, _ = create_backbone(name, 3, 32)
    fresh.load_state_dict(backbone.state_dict())
    assert fresh.training and all(p.requires_grad for p in fresh.parameters())


def test_frozen_survives_deepcopy_and_pickle() -> None:
    backbone = _small_cnn(seed=0)
    freeze_backbone(backbone)
    for clone in (copy.deepcopy(backbone), pickle.loads(pickle.dumps(backbone))):
        assert is_frozen(clone)
        clone.train()
        assert not any(m.training for m in _norms(clone))
        assert backbone.training is False  # the clone's train() is bound to the clone
