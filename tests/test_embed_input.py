"""Bad options of embed, evaluate-embedding, plot-disk, hierarchy and train: refused before any
work, as one line ``error: ...`` with exit status 2 and no traceback, writing nothing and
leaving existing files as they were. The library gives the same errors to a Python caller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.errors import InputError, MissingInputError

runner = CliRunner()

SAMPLE_NODES = (
    "--sample-nodes must be at least 1 (the number of nodes to evaluate), got {}; leave it "
    "out to evaluate every node"
)
HOLDOUT = (
    "--holdout must be at least 0 and below 1 (the fraction of non-basic pairs held out for "
    "link prediction), got {}"
)


def run(*args: str):
    """Run the CLI on a wide terminal (so a message is one line), letting bugs raise."""
    return runner.invoke(app, list(args), env={"COLUMNS": "1000"}, catch_exceptions=False)


def refused(result, message: str) -> None:
    """Exit status 2, one ``error:`` line holding ``message``, and no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert message in errors[0], errors[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for a folder)."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def no_training(monkeypatch):
    """Make training fail the test: the options must be refused before it starts."""

    def trained(*args, **kwargs):
        raise AssertionError("the embedding was trained before the options were checked")

    monkeypatch.setattr("labelspace.embeddings.build.build_embedding", trained)


@pytest.fixture
def existing(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An existing embedding file, figure and plain text file, and a folder."""
    out, png, text = tmp_path / "e.safetensors", tmp_path / "e.png", tmp_path / "somefile.txt"
    out.write_bytes(b"old embedding")
    png.write_bytes(b"old figure")
    text.write_text("keep me")
    (tmp_path / "adir").mkdir()
    return out, png, text


# --------------------------------------------------------------------------- embed
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--sample-nodes", "0"], SAMPLE_NODES.format(0)),
        (["--sample-nodes", "-5"], SAMPLE_NODES.format(-5)),
        (["--holdout", "1"], HOLDOUT.format(1.0)),
        (["--holdout", "1.5"], HOLDOUT.format(1.5)),
        (["--holdout", "-0.1"], HOLDOUT.format(-0.1)),
        (["--no-evaluate", "--sample-nodes", "0"], SAMPLE_NODES.format(0)),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 2**63 - 1, got -1"),
        (["--seed", str(2**64)], f"--seed must be a whole number from 0 to 2**63 - 1, got {2**64}"),
    ],
)
def test_embed_checks_evaluation_options_before_training(
    tmp_path, existing, no_training, options, message
):
    out, png, _ = existing
    before = snapshot(tmp_path)
    result = run("embed", "cifar10", "--out", str(out), "--plot", str(png), "--overwrite", *options)
    refused(result, message)
    assert snapshot(tmp_path) == before  # the old files are unchanged, nothing new
    fresh = tmp_path / "new" / "e.safetensors"
    refused(run("embed", "cifar10", "--out", str(fresh), *options), message)
    assert snapshot(tmp_path) == before  # not even the folder of --out


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--out {t}/adir --overwrite", "--out {t}/adir is a folder; give the path of a file"),
        ("--out {t}/adir", "--out {t}/adir is a folder; give the path of a file"),
        (
            "--out {t}/somefile.txt/x.safetensors --overwrite",
            "--out {t}/somefile.txt/x.safetensors: {t}/somefile.txt is a file, not a folder",
        ),
        (
            "--plot {t}/somefile.txt/x.png --overwrite",
            "--plot {t}/somefile.txt/x.png: {t}/somefile.txt is a file, not a folder",
        ),
        ("--plot {t}/adir --overwrite", "--plot {t}/adir is a folder; give the path of a file"),
        ("--plot {t}/e.png", "{t}/e.png exists; pass --overwrite to replace it"),
        ("--out {t}/e.safetensors", "{t}/e.safetensors exists; pass --overwrite to replace it"),
        ("--out {t}/p.png --plot {t}/p.png", "--plot {t}/p.png is the --out file"),
    ],
)
def test_embed_checks_out_and_plot_before_training(
    tmp_path, existing, no_training, options, message
):
    before = snapshot(tmp_path)
    args = options.format(t=tmp_path).split()
    if "--out" not in args:
        args += ["--out", str(tmp_path / "fresh.safetensors")]
    refused(run("embed", "cifar10", *args), message.format(t=tmp_path))
    assert snapshot(tmp_path) == before


def test_library_evaluation_gives_the_same_errors():
    from labelspace.embeddings.build import build_embedding, evaluate_embedding
    from labelspace.embeddings.evaluate import check_evaluation_options, reconstruction
    from labelspace.embeddings.poincare_config import PoincareConfig
    from labelspace.hierarchy.sources import load_source

    graph = load_source("cifar10")
    emb = build_embedding(graph, "random", config=PoincareConfig(dim=2))
    for bad in (0, -5):
        with pytest.raises(InputError) as info:
            evaluate_embedding(emb, graph, sample_nodes=bad)
        assert str(info.value) == SAMPLE_NODES.format(bad)
        with pytest.raises(InputError, match="--sample-nodes"):
            reconstruction(emb.vectors, graph.pairs, sample_nodes=bad)
    with pytest.raises(InputError) as info:
        check_evaluation_options(holdout=1.0)
    assert str(info.value) == HOLDOUT.format(1.0)
    with pytest.raises(InputError, match="--holdout"):
        check_evaluation_options(holdout=float("nan"))
    check_evaluation_options(1, 0.0)  # the smallest usable values pass
    assert evaluate_embedding(emb, graph, sample_nodes=3)["reconstruction"]["nodes"] == 3


# ------------------------------------------------------------- evaluate-embedding, plot-disk
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A small saved Poincaré embedding of cifar10."""
    out = tmp_path_factory.mktemp("saved") / "c10.safetensors"
    result = run("embed", "cifar10", "--dim", "2", "--epochs", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("bad", [0, -5])
def test_evaluate_embedding_refuses_a_bad_sample(saved, bad):
    refused(
        run("evaluate-embedding", str(saved), "cifar10", "--sample-nodes", str(bad)),
        SAMPLE_NODES.format(bad),
    )


def test_plot_disk_checks_out_before_loading(tmp_path, existing, saved):
    before = snapshot(tmp_path)
    for options, message in [
        ("--out {t}/adir --overwrite", "--out {t}/adir is a folder; give the path of a file"),
        (
            "--out {t}/somefile.txt/x.png",
            "--out {t}/somefile.txt/x.png: {t}/somefile.txt is a file, not a folder",
        ),
        ("--out {t}/e.png", "{t}/e.png exists; pass --overwrite to replace it"),
    ]:
        args = options.format(t=tmp_path).split()
        refused(run("plot-disk", str(saved), "cifar10", *args), message.format(t=tmp_path))
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------ --mapping
@pytest.mark.parametrize("command", ["hierarchy", "embed", "evaluate-embedding"])
def test_missing_or_folder_mapping_is_named(tmp_path, existing, no_training, saved, command):
    args = {
        "hierarchy": ["hierarchy", "cifar10"],
        "embed": ["embed", "cifar10", "--out", str(tmp_path / "e.safetensors"), "--overwrite"],
        "evaluate-embedding": ["evaluate-embedding", str(saved), "cifar10"],
    }[command]
    before = snapshot(tmp_path)
    missing = tmp_path / "nosuch.tsv"
    refused(run(*args, "--mapping", str(missing)), f"--mapping {missing}: no such file")
    folder = tmp_path / "adir"
    refused(
        run(*args, "--mapping", str(folder)),
        f"--mapping {folder} is a folder; give a file with one 'name<TAB>synset' line per class",
    )
    assert snapshot(tmp_path) == before


def test_library_mapping_errors_name_the_option(tmp_path):
    from labelspace.hierarchy.mapping_files import read_mapping_file
    from labelspace.hierarchy.sources import load_source

    with pytest.raises(MissingInputError, match=r"^--mapping .*nosuch.tsv: no such file$"):
        load_source("cifar10", mapping=tmp_path / "nosuch.tsv")
    with pytest.raises(InputError, match="is a folder"):
        read_mapping_file(tmp_path)
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("caf\xe9\tcoffee.n.01\n".encode("latin-1"))
    with pytest.raises(InputError, match="is not UTF-8 text"):
        read_mapping_file(latin1)


@pytest.mark.parametrize("source", ["mammals", "{t}/h.tsv"])
def test_mapping_with_a_source_that_has_no_class_names_is_refused(tmp_path, source):
    (tmp_path / "h.tsv").write_text("dog\tanimal\ncat\tanimal\n")
    mapping = tmp_path / "m.tsv"
    mapping.write_text("dog\tdog.n.01\n")
    result = run("hierarchy", source.format(t=tmp_path), "--mapping", str(mapping))
    refused(result, "--mapping maps class names to WordNet synsets;")
    assert "leave --mapping out" in result.output


def test_user_mapping_respelling_a_shipped_name_replaces_it(tmp_path):
    mapping = tmp_path / "m.tsv"
    mapping.write_text("ankle_boot\tboot.n.01\n")  # shipped as "Ankle boot"
    result = run("hierarchy", "fashion-mnist", "--mapping", str(mapping), "--no-tree")
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------- classes sharing a synset
def test_classes_sharing_a_synset_are_refused_before_training(tmp_path, no_training):
    mapping = tmp_path / "m.tsv"
    mapping.write_text("automobile\ttruck.n.01\n")
    out, png = tmp_path / "e.safetensors", tmp_path / "e.png"
    before = snapshot(tmp_path)
    result = run(
        "embed", "cifar10", "--mapping", str(mapping), "--out", str(out), "--plot", str(png)
    )
    refused(
        result,
        "class names 'automobile' and 'truck' both map to truck.n.01. Each class needs a synset "
        "of its own, or their label embeddings would coincide: map one of them to another "
        "synset in a --mapping file (one 'name<TAB>synset' line per class;",
    )
    refused(run("embed", "automobile,car", "--out", str(out)), "'automobile' and 'car' both map")
    refused(run("hierarchy", "dog,dog"), "class name 'dog' is given twice")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------- train on image folders
def image_folder(root: Path, classes: list[str]) -> Path:
    """A tiny image-folder dataset: two 8x8 PNGs per class and split."""
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                pixels = np.full((8, 8, 3), 60 * i, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_train_refuses_bad_mapping_and_shared_synsets_before_the_run(tmp_path):
    data = image_folder(tmp_path / "data", ["cat.n.01", "dog.n.01"])
    run_dir = tmp_path / "run"
    missing = tmp_path / "nosuch.tsv"
    args = ["train", str(run_dir), "--data", str(data)]
    refused(run(*args, "--mapping", str(missing)), f"--mapping {missing}: no such file")
    refused(run(*args, "--mapping", str(data)), f"--mapping {data} is a folder")
    shared = image_folder(tmp_path / "shared", ["automobile", "car"])
    refused(
        run("train", str(run_dir), "--data", str(shared)),
        "class names 'automobile' and 'car' both map to car.n.01",
    )
    assert not run_dir.exists()


def test_corrupt_image_hint_speaks_cli(tmp_path):
    data = image_folder(tmp_path / "data", ["cat.n.01", "dog.n.01"])
    (data / "train" / "cat.n.01" / "bad.png").write_bytes(b"not a png")
    run_dir = tmp_path / "run"
    result = run("train", str(run_dir), "--data", str(data))
    refused(result, "Delete or replace the file, or pass --skip-corrupt to skip unreadable")
    assert "(from Python: skip_corrupt=True)" in result.output
    assert not run_dir.exists()
