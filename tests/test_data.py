"""Tests of labelspace.data on real data: Debian Fashion-MNIST and JPEGs of CIFAR-10.

Image-folder datasets are built in tmp_path from a few real CIFAR-10 JPEGs (and Fashion-MNIST
images saved as PNG), so decoding, corrupt files and layout errors are exercised on real files.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cifar_paths import cifar10_copy
from PIL import Image
from torch.utils.data import DataLoader

from labelspace.data import ImageData, InMemoryImages, load_dataset
from labelspace.data.datasets import DATASET_SPECS
from labelspace.data.errors import (
    ClassMismatchError,
    CorruptImageError,
    DatasetError,
    DatasetNotFoundError,
    EmptyClassError,
    IdxFormatError,
    ImageSizeError,
)
from labelspace.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    read_fashion_mnist,
    read_idx,
)
from labelspace.data.images import filter_classes
from labelspace.data.layouts import scan_dataset
from labelspace.data.named import NAMED_DATASETS, known_dataset
from labelspace.data.splits import (
    stratified_sample,
    stratified_split,
    stratified_subset,
    val_count,
)
from labelspace.data.transforms import (
    AUGMENTATIONS,
    Normalize,
    channel_stats,
    eval_transform,
    train_transform,
)
from labelspace.hierarchy.mapping import UnmappedNameError
from labelspace.hierarchy.mapping_files import DATASET_CLASSES, dataset_synsets

CIFAR_DIR = cifar10_copy()
needs_fashion_mnist = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs the Debian package dataset-fashion-mnist",
)
needs_cifar = pytest.mark.skipif(
    not (CIFAR_DIR / "train" / "airplane").is_dir(), reason="needs the CIFAR-10 JPEG copy"
)

# Folder names in all three accepted forms: a plain name, a wnid (car.n.01), a synset name.
FOLDER_CLASSES = {"airplane": "airplane", "n02958343": "automobile", "ship.n.01": "ship"}
N_TRAIN, N_TEST = 6, 4  # images per class: 30 in all


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def fmnist() -> ImageData:
    """The Debian Fashion-MNIST, loaded once for this module."""
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs the Debian package dataset-fashion-mnist")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reviewed mapping settles every name
        return load_dataset("fashion-mnist")


def copy_cifar(dest: Path, folders: dict[str, str], n_train: int, n_test: int) -> Path:
    """An image-folder dataset of real CIFAR-10 JPEGs: folder name -> CIFAR class."""
    for split, n in (("train", n_train), ("test", n_test)):
        for folder, cifar_class in folders.items():
            (dest / split / folder).mkdir(parents=True)
            for i in range(n):
                name = f"{i:04d}.jpg"
                shutil.copy(CIFAR_DIR / split / cifar_class / name, dest / split / folder / name)
    return dest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A fresh 3-class, 30-image dataset root for each test (tests may damage it)."""
    if not CIFAR_DIR.is_dir():
        pytest.skip("needs the CIFAR-10 JPEG copy")
    return copy_cifar(tmp_path / "tiny", FOLDER_CLASSES, N_TRAIN, N_TEST)


# --------------------------------------------------------------------------- Fashion-MNIST
def test_fashion_mnist_loads(fmnist: ImageData):
    expected = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    assert FASHION_MNIST_CLASSES == expected == DATASET_CLASSES["fashion-mnist"]
    assert fmnist.name == "fashion-mnist"
    assert fmnist.classes == expected
    assert fmnist.synsets == dataset_synsets("fashion-mnist")
    assert (len(fmnist.train), len(fmnist.test)) == (60_000, 10_000)
    assert (fmnist.in_chans, fmnist.image_size, fmnist.num_classes) == (1, (28, 28), 10)
    assert fmnist.skipped == []
    for split, per_class in ((fmnist.train, 6_000), (fmnist.test, 1_000)):
        assert split.images.shape[1:] == (1, 28, 28) and split.images.dtype == torch.uint8
        assert split.targets.dtype == torch.int64
        assert torch.bincount(split.targets).tolist() == [per_class] * 10
        assert int(split.images.min()) == 0 and int(split.images.max()) == 255
    # Clothes on a black background: mostly dark, not all black, not all white.
    assert 0.25 < fmnist.train.images.float().mean().item() / 255 < 0.32


def test_fashion_mnist_stats_and_items(fmnist: ImageData):
    assert (fmnist.mean, fmnist.std) == NAMED_DATASETS["fashion-mnist"].stats
    mean, std = channel_stats(fmnist.train.images)
    assert mean[0] == pytest.approx(fmnist.mean[0], abs=1e-3)
    assert std[0] == pytest.approx(fmnist.std[0], abs=1e-3)

    image, target = fmnist.test[0]
    assert image.dtype == torch.float32 and image.shape == (1, 28, 28)
    assert target == int(fmnist.test.targets[0])
    expected = (fmnist.test.images[0].float() / 255 - mean[0]) / std[0]
    assert torch.allclose(image, expected, atol=1e-3)
    assert torch.equal(fmnist.test[0][0], image)  # evaluation is deterministic

    batch, targets = next(iter(DataLoader(fmnist.train, batch_size=512, shuffle=True)))
    assert batch.shape == (512, 1, 28, 28) and targets.shape == (512,)
    assert abs(batch.mean().item()) < 0.3 and 0.7 < batch.std().item() < 1.3  # normalised


def test_plain_idx_files_and_format_errors(fmnist: ImageData, tmp_path: Path):
    def write_idx(path: Path, array: np.ndarray) -> None:
        header = bytes([0, 0, 8, array.ndim])  # magic: unsigned bytes, ndim dimensions
        dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        path.write_bytes(header + dims + array.astype(np.uint8).tobytes())

    images = fmnist.train.images[:50, 0].numpy()
    labels = fmnist.train.targets[:50].numpy()
    for prefix in ("train", "t10k"):  # plain (not gzipped) files are read too
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels)
    x, y = read_fashion_mnist(tmp_path, train=False)
    assert torch.equal(x, fmnist.train.images[:50]) and torch.equal(y, fmnist.train.targets[:50])

    labels_path = tmp_path / "t10k-labels-idx1-ubyte"
    write_idx(labels_path, labels[:49])
    with pytest.raises(IdxFormatError, match="49 labels but t10k-images-idx3-ubyte holds 50"):
        read_fashion_mnist(tmp_path, train=False)
    write_idx(labels_path, images)  # an image file where the labels belong
    with pytest.raises(IdxFormatError, match="magic number 0x00000803, expected 0x00000801") as err:
        read_fashion_mnist(tmp_path, train=False)
    assert err.value.path == str(labels_path)

    truncated = tmp_path / "truncated"
    truncated.write_bytes((tmp_path / "train-images-idx3-ubyte").read_bytes()[:-10])
    with pytest.raises(IdxFormatError, match=r"truncated.*50 x 28 x 28") as err:
        read_idx(truncated)
    assert str(truncated) in str(err.value)
    bad_gzip = tmp_path / "bad.gz"
    bad_gzip.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 100)[:-20])
    with pytest.raises(IdxFormatError, match="corrupt gzip"):
        read_idx(bad_gzip)
    text = tmp_path / "text"
    text.write_text("not an idx file")
    with pytest.raises(IdxFormatError, match="not an idx file"):
        read_idx(text)


def test_missing_fashion_mnist_says_how_to_install(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match="sudo apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path / "nowhere")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DatasetNotFoundError, match=r"lacks train-labels-idx1-ubyte\.gz") as err:
        read_fashion_mnist(tmp_path)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


@needs_fashion_mnist
def test_torchvision_fashion_mnist(fmnist: ImageData, tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match=r"--root.*--download"):
        load_dataset("torchvision:cifar10", root=tmp_path)
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in FASHION_MNIST_DIR.glob("*.gz"):
        (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    data = load_dataset("torchvision:fashion-mnist", root=tmp_path)
    assert data.name == "fashion-mnist" and data.synsets == fmnist.synsets
    assert torch.equal(data.train.images, fmnist.train.images)
    assert torch.equal(data.test.targets, fmnist.test.targets)


@pytest.mark.parametrize("name", sorted(NAMED_DATASETS))
def test_named_dataset_entry_is_complete(name: str):
    entry = NAMED_DATASETS[name]
    assert entry.name == name
    assert entry.mapping_file.is_file()
    assert entry.classes and len(dataset_synsets(entry.mapping)) == len(entry.classes)
    assert known_dataset(entry.classes) is entry  # a folder copy is recognised by its classes
    assert known_dataset([c.upper() for c in reversed(entry.classes)]) is entry
    assert len(entry.mean) == len(entry.std) in (1, 3) and min(entry.std) > 0
    assert all(0 < m < 1 for m in entry.mean)
    assert entry.augment in AUGMENTATIONS
    assert f"torchvision:{name}" in DATASET_SPECS
    assert (name in DATASET_SPECS) == (entry.files is not None)
    assert known_dataset(entry.classes[:-1]) is None


def test_unknown_spec_lists_options(tmp_path: Path):
    for spec in ("mnist", "cifar10", "torchvision:mnist"):
        with pytest.raises(DatasetError, match=r"unknown dataset.*torchvision:cifar100.*PATH"):
            load_dataset(spec)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "no-such-dataset"))


# ------------------------------------------------------------------------------- splits
def test_stratified_split_on_fashion_mnist(fmnist: ImageData):
    targets = fmnist.train.targets
    train_idx, val_idx = stratified_split(targets, 0.1, seed=0)
    assert len(np.intersect1d(train_idx.numpy(), val_idx.numpy())) == 0
    assert torch.equal(torch.sort(torch.cat([train_idx, val_idx])).values, torch.arange(60_000))
    assert torch.bincount(targets[val_idx]).tolist() == [600] * 10
    assert torch.equal(val_idx, torch.sort(val_idx).values)
    again = stratified_split(targets.tolist(), 0.1, seed=0)  # any sequence of ints
    assert torch.equal(again[0], train_idx) and torch.equal(again[1], val_idx)
    other = stratified_split(targets, 0.1, seed=1)[1]
    assert not torch.equal(other, val_idx)
    assert torch.bincount(targets[other]).tolist() == [600] * 10


def test_stratified_split_small_classes_and_bad_fractions():
    targets = [0] * 5 + [1] * 20 + [2] * 2
    train_idx, val_idx = stratified_split(targets, 0.01, seed=3)  # at least one per class
    assert sorted(np.asarray(targets)[val_idx.numpy()].tolist()) == [0, 1, 2]
    assert [val_count(n, 0.25) for n in (5, 20, 2, 6)] == [1, 5, 1, 2]  # 1.25, 5, 0.5, 1.5
    train_idx, val_idx = stratified_split(targets, 0.0, seed=3)
    assert len(val_idx) == 0 and len(train_idx) == len(targets)
    with pytest.raises(ValueError, match=r"class 3 \(1 image\) would keep no image"):
        stratified_split([*targets, 3], 0.1, seed=0)
    with pytest.raises(ValueError, match=r"2 \(2 images\)"):
        stratified_split(targets, 0.75, seed=0)
    for fraction in (1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"val_fraction must lie in \[0, 1\)"):
            stratified_split(targets, fraction, seed=0)


def _per_class(targets: np.ndarray, index: torch.Tensor) -> np.ndarray:
    return np.bincount(targets[index.numpy()], minlength=int(targets.max()) + 1)


@pytest.mark.parametrize("limit", [1, 7, 150, 199, 500, 600, 2345])
def test_stratified_sample_limit_is_a_true_upper_bound(limit: int):
    # Tiny ImageNet's test split: 200 classes of 50 images. Rounding each class's share of
    # 500 (2.5) up would take 600 images; the limit holds however small it is.
    targets = np.repeat(np.arange(200), 50)
    index = stratified_sample(targets, limit, seed=0)
    assert len(index) == limit and len(np.unique(index.numpy())) == limit
    assert torch.equal(index, torch.sort(index).values) and index.dtype == torch.int64
    counts = _per_class(targets, index)
    assert counts.max() - counts.min() <= 1  # equal classes: equal shares, within one image
    if limit >= 200:
        assert counts.min() >= 1  # every class is in the sample once the limit allows it


def test_stratified_sample_is_proportional_and_seeded():
    rng = np.random.default_rng(0)
    for trial in range(200):
        classes = int(rng.integers(1, 40))
        targets = rng.integers(0, classes, int(rng.integers(classes, 2000)))
        sizes = np.bincount(targets, minlength=classes)
        limit, seed = int(rng.integers(1, len(targets))), trial % 3
        index = stratified_sample(targets, limit, seed)
        assert len(index) <= limit
        share = limit * sizes / len(targets)
        assert np.all(np.abs(_per_class(targets, index)[: len(sizes)] - share) < 1)
        assert torch.equal(index, stratified_sample(targets.tolist(), limit, seed))
        # where rounding each class's share fits the limit, the sample is the validation draw
        # of stratified_split with the fraction limit / N (what runs have always drawn); over
        # the limit, it is a part of that draw
        present = sizes[sizes > 0]
        rounded = np.array([val_count(n, limit / len(targets)) for n in present])
        if np.all(rounded < present):  # else stratified_split refuses the fraction
            held = stratified_split(targets, limit / len(targets), seed)[1]
            if rounded.sum() <= limit:
                assert torch.equal(index, held)
            else:
                assert set(index.tolist()) <= set(held.tolist())
    targets = np.repeat(np.arange(10), 300)
    assert not torch.equal(stratified_sample(targets, 500, 0), stratified_sample(targets, 500, 1))


def test_stratified_sample_edges():
    targets = torch.tensor([0] * 5 + [1] * 20 + [2] * 1)  # a class of one image is fine
    assert torch.equal(stratified_sample(targets, None, 0), torch.arange(26))
    assert torch.equal(stratified_sample(targets, 26, 0), torch.arange(26))
    assert len(stratified_sample(targets, 0, 0)) == 0
    assert len(stratified_sample(targets, 13, 0)) <= 13
    with pytest.raises(ValueError, match="limit must be >= 0"):
        stratified_sample(targets, -1, 0)
    with pytest.raises(ValueError, match="1-D sequence of integers"):
        stratified_sample([[0, 1]], 1, 0)
    data = InMemoryImages(torch.zeros(26, 1, 2, 2, dtype=torch.uint8), targets)
    assert stratified_subset(data, 30, 0) is data
    part = stratified_subset(data, 2, 0)
    assert len(part) == 2 and torch.equal(part.targets, targets[stratified_sample(targets, 2, 0)])


# ----------------------------------------------------------------------- image folders
@needs_cifar
def test_folder_loads_and_maps_names(folder: Path):
    progress: list[tuple[int, int]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_dataset(
            str(folder), on_progress=lambda done, total: progress.append((done, total))
        )
    assert data.name == "tiny"
    assert data.classes == ["airplane", "n02958343", "ship.n.01"]  # sorted folder names
    assert data.synsets == ["airplane.n.01", "car.n.01", "ship.n.01"]
    assert (len(data.train), len(data.test)) == (3 * N_TRAIN, 3 * N_TEST)
    assert (data.in_chans, data.image_size, data.augment) == (3, (32, 32), "crop-flip")
    assert data.train.targets.tolist() == [0] * N_TRAIN + [1] * N_TRAIN + [2] * N_TRAIN
    assert data.skipped == []
    assert progress[-1] == (30, 30)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)

    # Pixels are exactly what Pillow decodes; mean/std are computed from the training images.
    source = CIFAR_DIR / "test" / "ship" / "0002.jpg"
    pixels = torch.from_numpy(np.array(Image.open(source).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(data.test.images[2 * N_TEST + 2], pixels)
    assert (data.mean, data.std) == channel_stats(data.train.images)
    image, target = data.train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and target == 0


@needs_cifar
def test_corrupt_image_named_or_skipped(folder: Path):
    bad = folder / "train" / "n02958343" / "0003.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a JPEG " * 10)
    truncated = folder / "test" / "airplane" / "0001.jpg"
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(CorruptImageError, match="skip_corrupt") as err:
        load_dataset(str(folder))
    assert err.value.path == str(bad) and str(bad) in str(err.value)

    data = load_dataset(str(folder), skip_corrupt=True)
    assert data.skipped == [str(bad), str(truncated)]
    assert (len(data.train), len(data.test)) == (3 * N_TRAIN - 1, 3 * N_TEST - 1)
    assert torch.bincount(data.train.targets).tolist() == [N_TRAIN, N_TRAIN - 1, N_TRAIN]

    for path in (folder / "test" / "airplane").iterdir():  # a class left with no readable image
        path.write_bytes(b"garbage")
    with pytest.raises(EmptyClassError, match="test/airplane"):
        load_dataset(str(folder), skip_corrupt=True)


@needs_cifar
def test_layout_errors_come_before_decoding(folder: Path):
    (folder / "train" / "airplane" / "0000.jpg").write_bytes(b"garbage")  # never reached
    (folder / "train" / "cat").mkdir()
    with pytest.raises(EmptyClassError, match=r"train/cat"):  # not a class mismatch
        load_dataset(str(folder))
    (folder / "test" / "cat").mkdir()
    (folder / "test" / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(EmptyClassError, match=r"train/cat \(it is empty\); test/cat \(it holds"):
        load_dataset(str(folder))
    shutil.rmtree(folder / "train" / "cat")
    shutil.rmtree(folder / "test" / "cat")

    shutil.move(folder / "test" / "ship.n.01", folder / "test" / "frog")
    with pytest.raises(ClassMismatchError, match=r"only in train/: ship.n.01; only in test/: frog"):
        load_dataset(str(folder))
    shutil.move(folder / "test" / "frog", folder / "test" / "ship.n.01")

    for split in ("train", "test"):
        shutil.copytree(folder / split / "airplane", folder / split / "qwxzzy")
    with pytest.raises(UnmappedNameError, match="qwxzzy"):  # before the corrupt image
        load_dataset(str(folder))

    shutil.rmtree(folder / "train")
    with pytest.raises(DatasetError, match=r"not a dataset in a known layout"):
        scan_dataset(folder)


@needs_cifar
def test_mapping_file_overrides_folder_names(folder: Path, tmp_path: Path):
    mapping = tmp_path / "mapping.tsv"
    mapping.write_text("# mine\nairplane\tn02686568\n", encoding="utf-8")  # aircraft.n.01
    data = load_dataset(str(folder), mapping=mapping)
    assert data.synsets == ["aircraft.n.01", "car.n.01", "ship.n.01"]


@needs_cifar
def test_differing_sizes_error_unless_resized(folder: Path):
    small = folder / "train" / "airplane" / "0004.jpg"
    Image.open(small).resize((16, 20)).save(small)
    with pytest.raises(ImageSizeError, match=r"0004.jpg is 20x16 .*pass --image-size"):
        load_dataset(str(folder))
    data = load_dataset(str(folder), image_size=24)
    assert data.image_size == (24, 24) and data.train.images.shape[1:] == (3, 24, 24)
    image, _ = data.train[0]
    assert image.shape == (3, 24, 24)


@needs_cifar
def test_folder_of_known_dataset_uses_reviewed_mapping(tmp_path: Path):
    classes = DATASET_CLASSES["cifar10"]
    root = copy_cifar(tmp_path / "cifar-mini", {c: c for c in classes}, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "truck" alone would be ambiguous
        data = load_dataset(str(root))
    assert data.classes == classes and data.synsets == dataset_synsets("cifar10")


@needs_fashion_mnist
def test_grayscale_png_folder(fmnist: ImageData, tmp_path: Path):
    root = tmp_path / "gray"
    for split, data in (("train", fmnist.train), ("test", fmnist.test)):
        for target, folder_name in ((5, "sandal.n.01"), (8, "bag.n.04")):
            (root / split / folder_name).mkdir(parents=True)
            picks = torch.nonzero(data.targets == target).reshape(-1)[:3]
            for i in picks.tolist():
                Image.fromarray(data.images[i, 0].numpy()).save(
                    root / split / folder_name / f"{i}.png"
                )
    data = load_dataset(str(root))
    assert (data.in_chans, data.image_size, data.augment) == (1, (28, 28), "flip")
    assert data.classes == ["bag.n.04", "sandal.n.01"]  # sorted folder names
    assert data.synsets == data.classes
    first_bag = int(torch.nonzero(fmnist.train.targets == 8)[0])
    assert torch.equal(data.train.images[0], fmnist.train.images[first_bag])


# ------------------------------------------------------------- in-memory images, transforms
def test_filter_classes_keeps_original_targets(fmnist: ImageData):
    kept = filter_classes(fmnist.test, {3, 7})
    assert len(kept) == 2_000
    assert set(kept.targets.tolist()) == {3, 7}
    assert kept.transform is fmnist.test.transform
    first = int(torch.nonzero((fmnist.test.targets == 3) | (fmnist.test.targets == 7))[0])
    assert torch.equal(kept.images[0], fmnist.test.images[first])
    with pytest.raises(ValueError, match=r"targets \[10\] have no images"):
        filter_classes(fmnist.test, {3, 10})


def test_in_memory_images_checks_and_subsets():
    images = torch.arange(6 * 3 * 4 * 4, dtype=torch.int64).remainder(256).to(torch.uint8)
    data = InMemoryImages(images.view(6, 3, 4, 4), [0, 1, 2, 0, 1, 2])
    part = data.subset([4, 1])
    assert part.targets.tolist() == [1, 1] and torch.equal(part.images[0], data.images[4])
    assert data[1][0].max() <= 1.0  # no transform: scaled to [0, 1]
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        data.subset([6])
    with pytest.raises(TypeError, match="uint8"):
        InMemoryImages(images.view(6, 3, 4, 4).float(), [0] * 6)
    with pytest.raises(ValueError, match="6 images but 5 targets"):
        InMemoryImages(images.view(6, 3, 4, 4), [0] * 5)
    with pytest.raises(TypeError, match="must return floats"):
        data.with_transform(lambda x: x)[0]
    assert data.with_transform(None).images is data.images


def test_transforms_normalise_and_augment():
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    mean, std = NAMED_DATASETS["cifar10"].stats
    expected = (image.float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(
        3, 1, 1
    )
    assert torch.allclose(eval_transform(mean, std)(image), expected, atol=1e-5)
    assert torch.allclose(Normalize(mean, std)(image[None])[0], expected, atol=1e-5)  # batches
    plain = train_transform(mean, std, image_size=32, augment="none")
    assert torch.allclose(plain(image), expected, atol=1e-5)
    augment = train_transform(mean, std, image_size=32, augment="crop-flip")
    outputs = [augment(image) for _ in range(8)]
    assert all(out.shape == (3, 32, 32) for out in outputs)
    assert any(not torch.allclose(out, expected) for out in outputs)
    with pytest.raises(ValueError, match="unknown augmentation"):
        train_transform(mean, std, image_size=32, augment="mixup")
    with pytest.raises(ValueError, match="3 channels but the statistics have 1"):
        Normalize((0.5,), (0.5,))(image)
