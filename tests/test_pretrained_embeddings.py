"""Pretrained label spaces shipped as package data: their stated quality holds, their
checksums guard them, and they train image models."""

from __future__ import annotations

import shutil

import pytest
import torch
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.embeddings import pretrained as shipped
from labelspace.embeddings.build import evaluate_embedding
from labelspace.embeddings.space import build_label_space
from labelspace.hierarchy.mapping_files import DATASET_CLASSES, dataset_synsets
from labelspace.hierarchy.sources import load_source

runner = CliRunner()
EXPECTED = {
    "mammals-poincare-5d", "fashion-mnist-poincare-32d", "cifar10-poincare-32d",
    "cifar100-poincare-32d", "tiny-imagenet-200-poincare-32d", "imagenet-1k-poincare-32d",
    "nouns-poincare-10d",
}  # fmt: skip


def test_every_promised_embedding_is_shipped():
    assert set(shipped.catalogue()) == EXPECTED
    total = sum(entry.path.stat().st_size for entry in shipped.catalogue().values())
    assert total < 8e6  # the size budget: 8 MB for all of them


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_stated_quality_holds_for_the_shipped_file(name):
    """Reconstruction MAP and mean rank, re-measured on the same seeded sample of nodes (every
    node for the small hierarchies) from the file as shipped."""
    entry = shipped.catalogue()[name]
    embedding = shipped.pretrained(name)  # checksum verified
    assert (len(embedding.labels), embedding.vectors.shape[1]) == (entry.nodes, entry.dim)
    graph = load_source(entry.hierarchy_source)
    sample = entry.quality["sample"]
    nodes = None if sample["nodes"] == entry.nodes else sample["nodes"]
    measured = evaluate_embedding(embedding, graph, sample_nodes=nodes)["reconstruction"]
    assert measured["map"] == pytest.approx(sample["map"], abs=1e-6)
    assert measured["mean_rank"] == pytest.approx(sample["mean_rank"], abs=1e-6)
    assert entry.quality["all"]["map"] > 0.85


def test_unknown_or_damaged_files_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown pretrained embedding 'nope'.*cifar10-poincare"):
        shipped.pretrained("pretrained:nope")
    copy = tmp_path / "pretrained"
    shutil.copytree(shipped.PRETRAINED_DIR, copy)
    monkeypatch.setattr(shipped, "PRETRAINED_DIR", copy)
    monkeypatch.setattr(shipped, "MANIFEST", copy / "manifest.json")
    target = copy / "cifar10-poincare-32d.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its checksum"):
        shipped.pretrained("cifar10-poincare-32d")
    target.unlink()
    with pytest.raises(ValueError, match="is missing"):
        shipped.pretrained("cifar10-poincare-32d")


def test_a_shipped_embedding_is_a_label_space_and_trains_a_model(tmp_path):
    space = build_label_space(
        "fashion-mnist", DATASET_CLASSES["fashion-mnist"], dataset_synsets("fashion-mnist"),
        "pretrained:fashion-mnist-poincare-32d",
    )  # fmt: skip
    whole = shipped.pretrained("fashion-mnist-poincare-32d")
    assert torch.equal(space.class_vectors, whole.subset(space.nodes).vectors)
    run = tmp_path / "run"
    done = runner.invoke(
        app,
        ["train", str(run), "--method", "poincare", "--embedding",
         "pretrained:fashion-mnist-poincare-32d", "--epochs", "1", "--train-limit", "300",
         "--test-limit", "100", "--accelerator", "cpu"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    bad = runner.invoke(app, ["train", str(tmp_path / "bad"), "--method", "poincare",
                              "--embedding", "pretrained:nope", "--epochs", "1"])  # fmt: skip
    assert bad.exit_code != 0 and "unknown pretrained embedding" in bad.output
    assert not (tmp_path / "bad").exists()
    listed = runner.invoke(app, ["embeddings"])
    assert listed.exit_code == 0 and "imagenet-1k" in listed.output


def test_a_class_list_too_long_for_a_file_name_is_read_as_classes():
    wnids = (shipped.PRETRAINED_DIR / "sources" / "tiny-imagenet-200.txt").read_text().split()
    graph = load_source(",".join(wnids))
    assert len(graph.hierarchy.classes) == 200
