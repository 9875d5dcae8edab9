"""Batched augmentation on the device against the per-image transforms it replaces: identical
pixels where nothing is random, the same distribution of crops and flips where it is, and
training loaders that deliver uint8 batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from labelspace.data.batch_transforms import BatchTransform, augment_batch, batch_transforms
from labelspace.data.images import InMemoryImages
from labelspace.data.module import PixelBatches, eval_loader, train_loader
from labelspace.data.transforms import eval_transform, train_transform

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def random_images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=gen)


def coded_images(n: int, size: int) -> torch.Tensor:
    """Images whose pixels say where they are: channel 0 holds row + 1, channel 1 column + 1
    (the zero padding reads 0), channel 2 the image's number."""
    rows = torch.arange(1, size + 1, dtype=torch.uint8).view(size, 1).expand(size, size)
    cols = rows.T
    image = torch.stack([rows, cols, torch.zeros_like(rows)])
    batch = image.expand(n, 3, size, size).clone()
    batch[:, 2] = torch.arange(n, dtype=torch.uint8).view(n, 1, 1)
    return batch


def crop_and_flip(out: torch.Tensor, padding: int) -> tuple[int, int, bool]:
    """The (top, left, flipped) a crop of :func:`coded_images` was taken with."""
    size = out.shape[-1]
    mid = size // 2
    flipped = bool(out[1, mid, mid + 1] < out[1, mid, mid])
    top = int(out[0, mid, mid]) - 1 - mid + padding
    col = mid if not flipped else size - 1 - mid
    left = int(out[1, mid, mid]) - 1 - col + padding
    return top, left, flipped


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32), (3, 64)])
def test_evaluation_normalises_to_the_same_pixels_as_the_per_image_transform(channels, size):
    images = random_images(16, channels, size)
    mean, std = MEAN[:channels], STD[:channels]
    _, evaluate = batch_transforms(mean, std, "crop-flip", (size, size))
    per_image = eval_transform(mean, std)
    assert torch.equal(evaluate(images), torch.stack([per_image(i) for i in images]))


def test_no_augmentation_gives_the_same_pixels_as_the_per_image_transform():
    images = random_images(8, 3, 32)
    train, _ = batch_transforms(MEAN, STD, "none", (32, 32))
    per_image = train_transform(MEAN, STD, image_size=32, augment="none")
    assert torch.equal(train(images), torch.stack([per_image(i) for i in images]))


@pytest.mark.parametrize("padding,flip", [(4, True), (4, False), (0, True), (2, True)])
def test_every_augmented_image_is_an_exact_crop_of_its_padded_image(padding, flip):
    images = random_images(64, 3, 16, seed=3)
    torch.manual_seed(0)
    out = augment_batch(images, crop_padding=padding, flip=flip)
    coded = coded_images(64, 16)
    torch.manual_seed(0)  # the same draws locate each crop
    where = augment_batch(coded, crop_padding=padding, flip=flip)
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    flips = 0
    for i in range(64):
        top, left, flipped = crop_and_flip(where[i], padding)
        assert 0 <= top <= 2 * padding and 0 <= left <= 2 * padding
        crop = padded[i, :, top : top + 16, left : left + 16]
        assert torch.equal(out[i], crop.flip(-1) if flipped else crop)
        flips += flipped
    assert (flips > 0) == flip
    assert out.dtype == torch.uint8 and out.shape == images.shape


def test_crops_and_flips_follow_the_distribution_of_the_per_image_transforms():
    n, size, padding = 20_000, 12, 3
    coded = coded_images(n, size)
    torch.manual_seed(1)
    batched = augment_batch(coded, crop_padding=padding, flip=True)
    per_image = train_transform(
        (0.0,) * 3, (1.0,) * 3, image_size=size, augment="crop-flip", padding=padding
    )
    per_image.transforms = per_image.transforms[:-1]  # keep the uint8 crop, skip normalising
    torch.manual_seed(2)
    reference = torch.stack([per_image(coded[i]) for i in range(n)])
    cells = (2 * padding + 1) ** 2 * 2

    def counts(out: torch.Tensor) -> np.ndarray:
        table = np.zeros(cells, dtype=np.int64)
        for i in range(n):
            top, left, flipped = crop_and_flip(out[i], padding)
            table[(top * (2 * padding + 1) + left) * 2 + flipped] += 1
        return table

    ours, theirs = counts(batched), counts(reference)
    assert (ours > 0).all() and (theirs > 0).all()  # every crop and flip occurs
    _, p_value, _, _ = chi2_contingency(np.stack([ours, theirs]))
    assert p_value > 1e-3, (ours, theirs)
    # and close to uniform over the 98 crops and flips
    assert ours.min() > 0.6 * n / cells and ours.max() < 1.4 * n / cells


def test_a_batch_transform_refuses_float_batches_and_unknown_augmentations():
    transform = BatchTransform(MEAN, STD, "crop-flip", 4)
    with pytest.raises(TypeError, match="uint8"):
        transform(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="augmentation"):
        BatchTransform(MEAN, STD, "rotate", 4)


def test_loaders_deliver_whole_uint8_batches_in_the_seeded_order():
    images = random_images(50, 3, 8)
    targets = torch.arange(50) % 5
    dataset = InMemoryImages(images, targets, eval_transform(MEAN, STD))
    pixels = PixelBatches(dataset)
    batches = list(train_loader(pixels, 16, seed=7))
    reference = list(train_loader(dataset, 16, seed=7))  # the per-image path, same order
    assert len(batches) == len(reference) == 3  # the last, short batch dropped
    for (ours, our_targets), (theirs, their_targets) in zip(batches, reference, strict=True):
        assert ours.dtype == torch.uint8
        assert torch.equal(our_targets, their_targets)
        assert torch.equal(eval_transform(MEAN, STD)(ours), theirs)
    evaluated = list(eval_loader(pixels, 20))
    assert torch.equal(torch.cat([b[0] for b in evaluated]), images)
    assert torch.equal(torch.cat([b[1] for b in evaluated]), targets)
