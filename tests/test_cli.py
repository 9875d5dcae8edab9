"""The command line: real runs on small real hierarchies, and bad input that writes nothing."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.embeddings.store import LabelEmbedding

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*"))


def test_hierarchy_shows_the_fashion_mnist_tree():
    result = run("hierarchy", "fashion-mnist")
    assert result.exit_code == 0, result.output
    for name in ("footwear.n.02", "gym_shoe.n.01", "bag.n.04", "see above", "closure pairs"):
        assert name in result.output


def test_embed_trains_saves_evaluates_and_plots(tmp_path):
    out, png = tmp_path / "fm.safetensors", tmp_path / "fm.png"
    result = run(
        "embed",
        "fashion-mnist",
        "--dim",
        "2",
        "--epochs",
        "30",
        "--batch-size",
        "16",
        "--out",
        str(out),
        "--plot",
        str(png),
    )
    assert result.exit_code == 0, result.output
    assert "MAP" in result.output and "reconstruction" in result.output
    emb = LabelEmbedding.load(out)
    assert emb.kind == "poincare" and emb.dim == 2 and "gym_shoe.n.01" in emb.labels
    assert emb.training["config"]["epochs"] == 30
    assert emb.training["evaluation"]["reconstruction"]["map"] > 0.5
    assert png.stat().st_size > 10_000

    # a second run refuses to overwrite and leaves both files as they were
    before = (out.read_bytes(), png.read_bytes())
    again = run(
        "embed",
        "fashion-mnist",
        "--dim",
        "2",
        "--epochs",
        "3",
        "--out",
        str(out),
        "--plot",
        str(png),
    )
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    assert (out.read_bytes(), png.read_bytes()) == before


@pytest.mark.parametrize("kind", ["euclidean", "sphere", "random", "onehot"])
def test_every_fast_kind_saves_a_loadable_embedding(tmp_path, kind):
    out = tmp_path / f"{kind}.safetensors"
    result = run(
        "embed", "cifar10", "--kind", kind, "--epochs", "5", "--dim", "4", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    emb = LabelEmbedding.load(out)
    assert emb.kind == kind
    assert "car.n.01" in emb.labels


def test_link_prediction_holdout(tmp_path):
    out = tmp_path / "lp.safetensors"
    result = run("embed", "fashion-mnist", "--epochs", "20", "--holdout", "0.2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "link_prediction" in result.output


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("", ".tsv", "empty"),
        ("a\tb\nb\tc\nc\ta\n", ".tsv", "cycle"),
        ("a\ta\n", ".tsv", "self-loop"),
        ("a\tb\tc\n", ".tsv", "line 1"),
        ("{not json", ".json", "JSON"),
    ],
)
def test_bad_hierarchy_files_fail_clearly_and_write_nothing(tmp_path, content, suffix, message):
    source = tmp_path / f"bad{suffix}"
    source.write_text(content)
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = run(
        "embed",
        str(source),
        "--out",
        str(outdir / "e.safetensors"),
        "--plot",
        str(outdir / "e.png"),
    )
    assert result.exit_code == 2
    assert message in result.output
    assert files_in(outdir) == []


def test_unmapped_class_names_are_all_listed_and_nothing_is_written(tmp_path):
    out = tmp_path / "e.safetensors"
    result = run("embed", "dog,qwzxv,blorptang", "--out", str(out))
    assert result.exit_code == 2
    assert "qwzxv" in result.output and "blorptang" in result.output
    assert not out.exists()


def test_unknown_kind_and_bad_config_write_nothing(tmp_path):
    out = tmp_path / "e.safetensors"
    assert run("embed", "cifar10", "--kind", "nope", "--out", str(out)).exit_code == 2
    bad = run("embed", "cifar10", "--dim", "0", "--out", str(out))
    assert bad.exit_code == 2 and "dim" in bad.output
    bad = run("embed", "cifar10", "--init", "zeros", "--out", str(out))
    assert bad.exit_code == 2 and "init" in bad.output
    bad = run("embed", "cifar10", "--direction-lr", "-1", "--out", str(out))
    assert bad.exit_code == 2 and "--direction-lr" in bad.output
    bad = run(
        "embed", "cifar10", "--kind", "euclidean", "--direction-lr", "0.01", "--out", str(out)
    )
    assert bad.exit_code == 2 and "Poincaré ball" in bad.output
    assert files_in(tmp_path) == []


def test_embed_from_the_hierarchy_start_records_it(tmp_path):
    out = tmp_path / "c10.safetensors"
    result = run("embed", "cifar10", "--init", "hierarchy", "--epochs", "20", "--out", str(out))
    assert result.exit_code == 0, result.output
    training = LabelEmbedding.load(out).training
    assert training["config"]["init"] == "hierarchy" and training["config"]["burnin_epochs"] == 0
    assert training["config"]["direction_lr"] == 0.01
    assert training["evaluation"]["reconstruction"]["map"] > 0.8
    flat = tmp_path / "flat.safetensors"
    result = run(
        "embed",
        "cifar10",
        "--kind",
        "euclidean",
        "--init",
        "hierarchy",
        "--epochs",
        "2",
        "--out",
        str(flat),
    )
    assert result.exit_code == 0, result.output
    assert LabelEmbedding.load(flat).training["config"]["direction_lr"] == 0.0


def test_embedding_for_other_classes_is_a_clear_error(tmp_path):
    out = tmp_path / "fm.safetensors"
    assert run("embed", "fashion-mnist", "--epochs", "2", "--out", str(out)).exit_code == 0
    result = run("evaluate-embedding", str(out), "cifar10")
    assert result.exit_code == 2
    assert "lacks" in result.output and "car.n.01" in result.output


def test_plot_disk_of_a_saved_embedding(tmp_path):
    out = tmp_path / "fm.safetensors"
    assert (
        run("embed", "fashion-mnist", "--dim", "5", "--epochs", "10", "--out", str(out)).exit_code
        == 0
    )
    png = tmp_path / "disk.png"
    result = run("plot-disk", str(out), "fashion-mnist", "--out", str(png))
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 10_000
    assert run("plot-disk", str(out), "fashion-mnist", "--out", str(png)).exit_code == 2
