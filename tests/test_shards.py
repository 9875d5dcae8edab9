"""Packed shards: round trip, safety of pack, damaged folders, and exactly-once reading in DDP."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from labelspace.data.errors import CorruptImageError, DatasetError, ImageSizeError
from labelspace.data.images_io import read_image
from labelspace.data.layouts import FileSplit, Listing
from labelspace.data.shards import (
    SHARDS_MANIFEST,
    ShardImages,
    is_packed,
    pack,
    read_manifest,
)
from labelspace.errors import InputError, OutputExistsError

CLASSES = ["cat", "dog", "fox"]
SYNSETS = ["cat.n.01", "dog.n.01", "fox.n.01"]
# (split, class, format, mode, width, height)
SPECS = [
    ("train", 0, "JPEG", "RGB", 12, 10),
    ("train", 1, "PNG", "RGB", 8, 8),
    ("train", 2, "PNG", "L", 9, 13),
    ("train", 0, "PNG", "RGBA", 16, 8),
    ("train", 1, "JPEG", "L", 20, 20),
    ("train", 2, "JPEG", "RGB", 7, 11),
    ("train", 0, "PNG", "P", 10, 10),
    ("test", 1, "JPEG", "RGB", 10, 12),
    ("test", 2, "PNG", "L", 8, 8),
    ("test", 0, "JPEG", "RGB", 9, 9),
]


def noise_image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode in ("L", "P"):
        pil = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), "L")
        return pil.convert("P") if mode == "P" else pil
    bands = len(mode)
    return Image.fromarray(rng.integers(0, 256, (height, width, bands), dtype=np.uint8), mode)


def make_listing(root: Path, specs=SPECS) -> Listing:
    """Image files under ``root/<split>/<class>/`` and the listing of them."""
    splits: dict[str, tuple[list[Path], list[int]]] = {"train": ([], []), "test": ([], [])}
    for n, (split, target, fmt, mode, width, height) in enumerate(specs):
        folder = root / split / CLASSES[target]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{n}.{'jpg' if fmt == 'JPEG' else 'png'}"
        noise_image(mode, width, height, seed=n).save(path, fmt)
        splits[split][0].append(path)
        splits[split][1].append(target)
    return Listing(
        root=root,
        layout="imagefolder",
        classes=list(CLASSES),
        train=FileSplit(*splits["train"]),
        test=FileSplit(*splits["test"]),
        notes=["a note"],
    )


def leftovers(parent: Path) -> list[str]:
    """Temporary folders of pack left in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


@pytest.fixture
def packed(tmp_path: Path) -> tuple[Listing, Path, dict]:
    listing = make_listing(tmp_path / "data")
    out = tmp_path / "packed"
    calls: list[tuple[int, int]] = []
    manifest = pack(
        listing, SYNSETS, out, shard_bytes=4096, on_progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(i + 1, len(SPECS)) for i in range(len(SPECS))]
    return listing, out, manifest


# --------------------------------------------------------------------------- round trip
def test_pack_writes_manifest_index_and_several_shards(packed):
    listing, out, manifest = packed
    assert is_packed(out) and not is_packed(listing.root)
    assert read_manifest(out) == manifest == json.loads((out / SHARDS_MANIFEST).read_text())
    assert manifest["format"] == "labelspace-shards" and manifest["version"] == 1
    assert manifest["classes"] == CLASSES and manifest["synsets"] == SYNSETS
    assert manifest["source"] == str(listing.root) and manifest["layout"] == "imagefolder"
    assert manifest["in_chans"] == 3 and manifest["notes"] == ["a note"]
    assert manifest["counts"] == {"train": 7, "test": 3}
    assert len(manifest["shards"]["train"]) >= 3, "a 4 KiB limit must roll over to new shards"
    names = sorted(p.name for p in out.iterdir())
    shards = manifest["shards"]["train"] + manifest["shards"]["test"]
    assert names == sorted([*shards, "train.index.npy", "test.index.npy", SHARDS_MANIFEST])
    assert manifest["shards"]["train"][:2] == ["train-000000.tar", "train-000001.tar"]
    index = np.load(out / "train.index.npy")
    assert index.dtype == np.int64 and index.shape == (7, 4)
    assert index[:, 3].tolist() == listing.train.targets
    # every image is over the 4 KiB limit with its headers and the tar's end: one per shard
    assert index[:, 0].tolist() == list(range(7)), "shards keep the listing's order"
    assert leftovers(out.parent) == []


def test_shards_are_webdataset_tars(packed):
    listing, out, manifest = packed
    for split in ("train", "test"):
        files: FileSplit = getattr(listing, split)
        members = []
        for name in manifest["shards"][split]:
            with tarfile.open(out / name) as tar:
                members += [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
        assert len(members) == 2 * len(files.paths)
        for k, (path, target) in enumerate(zip(files.paths, files.targets, strict=True)):
            (image_name, data), (cls_name, label) = members[2 * k], members[2 * k + 1]
            assert image_name == f"{k:08d}{path.suffix}"  # <key>.jpg / <key>.png
            assert cls_name == f"{k:08d}.cls"
            assert data == path.read_bytes(), "the encoded bytes are stored unchanged"
            assert label.decode("ascii") == str(target)


@pytest.mark.parametrize("channels", [3, 1])
def test_shard_images_read_the_pixels_of_read_image(packed, channels):
    listing, out, _ = packed
    for split in ("train", "test"):
        files: FileSplit = getattr(listing, split)
        data = ShardImages.open(out, split, in_chans=channels, image_size=8)
        assert len(data) == len(files.paths) and data.in_chans == channels
        assert data.image_size == (8, 8)
        assert data.targets.tolist() == files.targets
        for i, path in enumerate(files.paths):
            expected = read_image(path, channels=channels, size=8)
            assert torch.equal(data.read(i), expected), path
            image, target = data[i]
            assert image.dtype == torch.float32 and target == files.targets[i]
            assert torch.equal(image, expected.float() / 255)
        data.close()


def test_shards_stay_under_shard_bytes(tmp_path):
    specs = [("train", k % 3, "PNG", "L", 48, 48) for k in range(9)]  # about 2.4 kB each
    listing = make_listing(tmp_path / "data", specs)
    manifest = pack(listing, SYNSETS, tmp_path / "out", shard_bytes=20480)
    shards = manifest["shards"]["train"]
    assert len(shards) >= 2
    assert all((tmp_path / "out" / name).stat().st_size <= 20480 for name in shards)
    data = ShardImages.open(tmp_path / "out", "train", in_chans=1, image_size=48)
    for i, path in enumerate(listing.train.paths):
        assert torch.equal(data.read(i), read_image(path, channels=1, size=48))
    data.close()


def test_grayscale_dataset_records_one_channel(tmp_path):
    specs = [("train", 0, "PNG", "L", 8, 8), ("train", 1, "JPEG", "L", 9, 9)]
    listing = make_listing(tmp_path / "data", specs)
    assert pack(listing, SYNSETS, tmp_path / "out")["in_chans"] == 1
    manifest = read_manifest(tmp_path / "out")
    assert manifest["counts"] == {"train": 2, "test": 0} and manifest["shards"]["test"] == []
    assert len(ShardImages.open(tmp_path / "out", "test", in_chans=1, image_size=8)) == 0


def test_subset_with_transform_name_and_pickle(packed):
    listing, out, _ = packed
    data = ShardImages.open(out, "train", in_chans=3, image_size=8)
    part = data.subset([5, 1])
    assert part.targets.tolist() == [listing.train.targets[5], listing.train.targets[1]]
    assert torch.equal(part.read(0), read_image(listing.train.paths[5], channels=3, size=8))
    assert part.manifest is data.manifest
    shard = int(data.index[5, 0])
    assert part.name(0) == f"{out / f'train-{shard:06d}.tar'}#00000005"
    with pytest.raises(IndexError):
        data.subset([7])

    def flip(image: torch.Tensor) -> torch.Tensor:
        return image.flip(-1).float()

    flipped = data.with_transform(flip)
    assert flipped.transform is flip and data.transform is None
    assert torch.equal(flipped[2][0], data.read(2).flip(-1).float())

    exact = data.with_size(in_chans=1, image_size=8, resize=False).subset([1, 0])
    assert exact.resize is False and exact.in_chans == 1
    assert torch.equal(exact.read(0), read_image(listing.train.paths[1], channels=1))
    with pytest.raises(ImageSizeError, match=r"train-000000\.tar#00000000 is 10x12"):
        exact.read(1)
    exact.close()

    data.read(0)  # opens and caches a shard file: pickling must drop it
    assert data._files
    copy = pickle.loads(pickle.dumps(data))
    assert copy._files == {} and data._files
    assert torch.equal(copy.targets, data.targets)
    assert all(torch.equal(copy.read(i), data.read(i)) for i in range(len(data)))
    # the targets are a view of the index, not sent twice
    assert len(pickle.dumps(data)) < data.index.nbytes + 2000
    copy.close()
    data.close()


# --------------------------------------------------------------------------- safety of pack
def test_existing_output_is_refused_without_overwrite(tmp_path):
    listing = make_listing(tmp_path / "data", SPECS[:2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    # --overwrite replaces only a packed folder, never an arbitrary one: the message says so
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="was not written by `labelspace pack`"):
            pack(listing, SYNSETS, out, overwrite=overwrite)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []

    packed = tmp_path / "packed"
    first = pack(listing, SYNSETS, packed)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        pack(make_listing(tmp_path / "more", SPECS), SYNSETS, packed)
    assert read_manifest(packed) == first
    second = pack(make_listing(tmp_path / "more", SPECS), SYNSETS, packed, overwrite=True)
    assert second["counts"] == {"train": 7, "test": 3} and read_manifest(packed) == second
    assert leftovers(tmp_path) == []

    empty = tmp_path / "empty"
    empty.mkdir()
    assert pack(listing, SYNSETS, empty)["counts"]["train"] == 2  # an empty folder is fine


def test_pack_refuses_bad_arguments(tmp_path):
    listing = make_listing(tmp_path / "data", SPECS[:2])
    with pytest.raises(InputError, match="2 synsets for 3 classes"):
        pack(listing, SYNSETS[:2], tmp_path / "out")
    with pytest.raises(InputError, match="inside it"):
        pack(listing, SYNSETS, tmp_path, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        pack(listing, SYNSETS, tmp_path / "file")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_corrupt_image_stops_pack_and_leaves_nothing(tmp_path):
    listing = make_listing(tmp_path / "data")
    bad = listing.train.paths[4]
    bad.write_bytes(bad.read_bytes()[:40])  # a truncated JPEG
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(CorruptImageError) as caught:
        pack(listing, SYNSETS, out, shard_bytes=4096)
    assert caught.value.path == str(bad) and str(bad) in str(caught.value)
    assert not (tmp_path / "new").exists(), "folders made for OUT are removed too"
    assert leftovers(tmp_path) == []

    manifest = pack(listing, SYNSETS, out, skip_corrupt=True)
    assert manifest["counts"] == {"train": 6, "test": 3}
    assert "1 unreadable images were left out" in manifest["notes"][-1]
    assert str(bad) in manifest["notes"][-1]
    data = ShardImages.open(out, "train", in_chans=3, image_size=8)
    kept = [p for p in listing.train.paths if p != bad]
    assert all(
        torch.equal(data.read(i), read_image(p, channels=3, size=8)) for i, p in enumerate(kept)
    )
    data.close()


def test_interrupt_leaves_nothing(tmp_path):
    listing = make_listing(tmp_path / "data")

    def interrupt(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pack(listing, SYNSETS, tmp_path / "out", on_progress=interrupt)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- damaged folders
def _edit_manifest(out: Path, **changes) -> None:
    manifest = json.loads((out / SHARDS_MANIFEST).read_text())
    for key, value in changes.items():
        if value is None:
            del manifest[key]
        else:
            manifest[key] = value
    (out / SHARDS_MANIFEST).write_text(json.dumps(manifest))


DAMAGE = {
    "not json": (lambda out: (out / SHARDS_MANIFEST).write_text("{oops"), "cannot be read as JSON"),
    "wrong format": (lambda out: _edit_manifest(out, format="zip"), "does not say format"),
    "old version": (lambda out: _edit_manifest(out, version=0), "format version 0"),
    "missing key": (lambda out: _edit_manifest(out, counts=None), "lacks counts"),
    "bad classes": (lambda out: _edit_manifest(out, synsets=["a"]), "1 synsets for 3 classes"),
    "escaping shard": (
        lambda out: _edit_manifest(out, shards={"train": ["../x.tar"], "test": []}),
        "not the name of a .tar file",
    ),
    "no index": (lambda out: (out / "test.index.npy").unlink(), "test.index.npy is missing"),
    "garbage index": (
        lambda out: (out / "train.index.npy").write_bytes(b"garbage"),
        "train.index.npy cannot be read",
    ),
    "short index": (
        lambda out: np.save(out / "train.index.npy", np.load(out / "train.index.npy")[:3]),
        "lists 3 images but the manifest says 7",
    ),
    "no shard": (lambda out: (out / "train-000001.tar").unlink(), "shard train-000001.tar is"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_folder_says_pack_again(packed, damage):
    listing, out, _ = packed
    harm, words = DAMAGE[damage]
    harm(out)
    with pytest.raises(DatasetError) as caught:
        ShardImages.open(out, "train", in_chans=3, image_size=8)
    message = str(caught.value)
    assert words in message
    assert f"{out} is a damaged packed dataset" in message
    source = "DATASET" if damage == "not json" else listing.root  # unknown in broken JSON
    assert f"labelspace pack {source} {out} --overwrite" in message


def test_truncated_shard_and_missing_or_newer_manifest(packed):
    _, out, manifest = packed
    last = out / manifest["shards"]["train"][-1]
    last.write_bytes(last.read_bytes()[:700])
    with pytest.raises(DatasetError, match="end past the end of their shard"):
        ShardImages.open(out, "train", in_chans=3, image_size=8)

    _edit_manifest(out, version=2)
    with pytest.raises(DatasetError, match=r"packed by a newer labelspace.*upgrade labelspace"):
        read_manifest(out)
    (out / SHARDS_MANIFEST).unlink()
    assert not is_packed(out)
    with pytest.raises(DatasetError, match=r"not a packed dataset.*labelspace pack DATASET"):
        read_manifest(out)
    with pytest.raises(DatasetError, match="is not a folder"):
        read_manifest(out / "nothing")


# --------------------------------------------------------------------------- DDP, exactly once
DDP_SCRIPT = """
import json
import sys
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from labelspace.data.module import EpochSeededSampler
from labelspace.data.shards import ShardImages


class Recorder(L.LightningModule):
    \"\"\"Records which images (k, from the pixel value 3k) each rank trains on, per epoch.\"\"\"

    def __init__(self, out):
        super().__init__()
        self.layer = torch.nn.Linear(64, 3)
        self.out = out
        self.seen = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        assert x.shape[1:] == (1, 8, 8)
        flat = x.flatten(1)
        assert torch.equal(flat, flat[:, :1].expand_as(flat)), "constant images"
        ks = torch.round(flat[:, 0] * 255 / 3).long().tolist()
        assert y.tolist() == [k % 3 for k in ks], "targets travel with their images"
        self.seen.setdefault(str(self.current_epoch), []).extend(ks)
        return torch.nn.functional.cross_entropy(self.layer(flat), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_train_end(self):
        record = {"world_size": self.trainer.world_size, "seen": self.seen}
        Path(self.out, f"rank{self.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    folder, out, workers, sampler = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    data = ShardImages.open(folder, "train", in_chans=1, image_size=8)
    if sampler == "shuffle":
        loader = DataLoader(data, batch_size=4, shuffle=True, num_workers=workers)
    else:  # the sampler labelspace trains with; Lightning wraps it per rank
        loader = DataLoader(
            data, batch_size=4, sampler=EpochSeededSampler(len(data), 7), num_workers=workers
        )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Recorder(out), loader)
"""


@pytest.fixture(scope="module")
def gray_shards(tmp_path_factory) -> Path:
    """64 grayscale images, image k constant at pixel value 3k, packed in 4 shards."""
    root = tmp_path_factory.mktemp("gray")
    paths, targets = [], []
    for k in range(64):
        path = root / "data" / f"k{k:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("L", (8, 8), 3 * k).save(path)
        paths.append(path)
        targets.append(k % 3)
    listing = Listing(root / "data", "csv", CLASSES, FileSplit(paths, targets), FileSplit([], []))
    out = root / "packed"
    manifest = pack(listing, SYNSETS, out, shard_size=16)
    assert manifest["in_chans"] == 1 and len(manifest["shards"]["train"]) == 4
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "sampler"), [(0, "shuffle"), (1, "labelspace")])
def test_ddp_ranks_read_every_image_exactly_once_per_epoch(gray_shards, tmp_path, workers, sampler):
    script = tmp_path / "ddp_fit.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT))
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}
    }
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, str(script), str(gray_shards), str(tmp_path), str(workers), sampler],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    for epoch in ("0", "1"):
        seen = [r["seen"][epoch] for r in ranks]
        assert [len(s) for s in seen] == [32, 32], "each rank reads half"
        assert all(len(set(s)) == 32 for s in seen), "no image twice on a rank"
        assert not set(seen[0]) & set(seen[1]), "the ranks' images are disjoint"
        assert sorted(seen[0] + seen[1]) == list(range(64)), "together: every image once"
    for rank in ranks:
        assert rank["seen"]["0"] != rank["seen"]["1"], "each epoch is shuffled anew"
    assert set(ranks[0]["seen"]["0"]) != set(ranks[0]["seen"]["1"])
