"""Decoded datasets kept on disk: decoded once, read back identical, made again when a file
changes, and never in the way when the cache cannot be used."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_own_images import make_tiny_imagenet, save_image

from labelspace.data import decoded_cache
from labelspace.data.datasets import load_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LABELSPACE_CACHE", str(folder))
    monkeypatch.setattr(decoded_cache, "MIN_IMAGES", 1)  # keep even a tiny dataset
    return folder


def kept(cache: Path) -> list[Path]:
    root = cache / decoded_cache.CACHE_SUBFOLDER
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []


def test_a_dataset_is_decoded_once_and_read_back_identical(tmp_path, cache, caplog):
    root = make_tiny_imagenet(tmp_path / "tiny")
    caplog.set_level(logging.INFO, logger="labelspace")
    first = load_dataset(str(root), storage="memory")
    assert len(kept(cache)) == 1
    assert "kept the decoded images" in caplog.text
    caplog.clear()
    seen: list[tuple[int, int]] = []
    again = load_dataset(str(root), storage="memory", on_progress=lambda d, t: seen.append((d, t)))
    assert "read the decoded images from the cache" in caplog.text
    assert seen[-1] == (39, 39)  # the progress still ends at every image
    for a, b in ((first.train, again.train), (first.test, again.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert (first.mean, first.std, first.classes) == (again.mean, again.std, again.classes)


def test_a_changed_file_or_image_size_makes_a_new_entry(tmp_path, cache):
    root = make_tiny_imagenet(tmp_path / "tiny")
    first = load_dataset(str(root), storage="memory")
    load_dataset(str(root), storage="memory", image_size=32)
    assert len(kept(cache)) == 2
    image = next((root / "train" / "n02085620" / "images").iterdir())
    rng = np.random.default_rng(5)
    save_image(image, rng, (64, 64))  # new pixels, and a new modification time
    os.utime(image, ns=(1, 1))
    changed = load_dataset(str(root), storage="memory")
    assert len(kept(cache)) == 3
    assert not torch.equal(first.train.images, changed.train.images)


def test_a_damaged_entry_is_decoded_again(tmp_path, cache, caplog):
    root = make_tiny_imagenet(tmp_path / "tiny")
    first = load_dataset(str(root), storage="memory")
    (entry,) = kept(cache)
    (entry / "train_images.npy").write_bytes(b"not an array")
    caplog.set_level(logging.WARNING, logger="labelspace")
    again = load_dataset(str(root), storage="memory")
    assert "cannot be read" in caplog.text
    assert torch.equal(first.train.images, again.train.images)


def test_small_datasets_and_an_unusable_cache_are_decoded_without_it(tmp_path, monkeypatch):
    root = make_tiny_imagenet(tmp_path / "tiny")
    monkeypatch.setenv("LABELSPACE_CACHE", str(tmp_path / "cache"))
    load_dataset(str(root), storage="memory")  # 39 images: under MIN_IMAGES
    assert not (tmp_path / "cache" / decoded_cache.CACHE_SUBFOLDER).exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LABELSPACE_CACHE", str(blocker))  # a file: the cache cannot be made
    monkeypatch.setattr(decoded_cache, "MIN_IMAGES", 1)
    data = load_dataset(str(root), storage="memory")
    assert len(data.train) + len(data.test) == 39
