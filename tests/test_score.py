"""Scoring predictions made elsewhere, and distance files as the cost of a mistake."""

from __future__ import annotations

import json
import lzma
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from labelspace.analysis.score import score, scored_classes
from labelspace.cli import app
from labelspace.hierarchy.distances import DistanceFileError, read_distances
from labelspace.hierarchy.safe_pickle import PickleRefusedError
from labelspace.metrics.hierarchical import hierarchical_similarity_at_k

runner = CliRunner()

# three classes: a and b under P, c beside P under r. The distance file gives costs that are
# not LCA heights (a-b 1, a-c 4, b-c 4) and an inner node pair (r a 6) that sets the file's
# largest distance D = 6, larger than any class pair's.
TREE = "a\tP\nb\tP\nP\tr\nc\tr\n"
DISTANCES = "a a 0\na b 1\na c 4\nb b 0\nb c 4\nc c 0\na r 6\n"
LOGITS = torch.tensor([[1.0, 2, 0], [1, 0, 2], [0, 1, 2], [2, 0, 1]])  # b>a>c, c>a>b, c>b>a, a>c>b
TARGETS = torch.tensor([0, 2, 1, 0])  # a, c, b, a: wrong (b for a, cost 1), right, wrong (4), right


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "tree.tsv").write_text(TREE)
    (tmp_path / "d.txt").write_text(DISTANCES)
    np.save(tmp_path / "logits.npy", LOGITS.numpy())
    np.save(tmp_path / "labels.npy", TARGETS.numpy())
    return tmp_path


def test_score_by_hand(files: Path):
    out = score(LOGITS, TARGETS, ["a", "b", "c"], files / "d.txt", hierarchy=files / "tree.tsv")
    m = out["metrics"]
    assert out["cost"] == str((files / "d.txt").resolve())
    assert m["top1"] == pytest.approx(0.5)
    assert m["severity"] == pytest.approx((1 + 4) / 2)  # the file's costs, not LCA heights
    assert m["hdist@1"] == pytest.approx((1 + 0 + 4 + 0) / 4)
    # similarity 1 - d/6: 5/6 + 1 + 1/3 + 1 over the best possible 4 x 1
    assert m["hsim@1"] == pytest.approx((5 / 6 + 1 + 1 / 3 + 1) / 4)
    assert not any(k.startswith("acc@h") for k in m) or m["acc@h1"] == pytest.approx(0.75)
    # hsim@2 by hand: top-2 similarities 11/6, 4/3, 4/3, 4/3 over best 11/6 (a), 4/3 (c),
    # 11/6 (b), 11/6 (a)
    cost = scored_classes(["a", "b", "c"], hierarchy=files / "tree.tsv", distances=files / "d.txt")
    top2 = torch.tensor([[1, 0], [2, 0], [2, 1], [0, 2]])
    got = hierarchical_similarity_at_k(top2, TARGETS, cost.cost, cost.distance_max)
    assert got == pytest.approx((11 / 6 + 4) / (3 * 11 / 6 + 4 / 3))
    # CRM: the class of least expected cost under softmax(logits)
    expected = (LOGITS.softmax(1).double() @ cost.cost).argmin(1)
    assert out["crm"]["top1"] == pytest.approx((expected == TARGETS).double().mean().item())
    assert 0 < out["backoff"]["auc"] <= 1


def test_without_a_distance_file_the_cost_is_the_lca_height(files: Path):
    m = score(LOGITS, TARGETS, ["a", "b", "c"], hierarchy=files / "tree.tsv")["metrics"]
    assert m["severity"] == pytest.approx((1 + 2) / 2)  # LCA(a, b) = P: 1; LCA(b, c) = r: 2
    assert m["acc@h1"] == pytest.approx(0.75)


def test_text_and_pickle_distances_agree(files: Path):
    pairs = {tuple(line.split()[:2]): int(line.split()[2]) for line in DISTANCES.splitlines()}
    with lzma.open(files / "d.pkl.xz", "wb") as handle:
        pickle.dump(pairs, handle)
    text, pickled = read_distances(files / "d.txt"), read_distances(files / "d.pkl.xz")
    assert text.names == pickled.names and text.max_distance == pickled.max_distance == 6
    assert torch.equal(text.matrix(["c", "a", "b"]), pickled.matrix(["c", "a", "b"]))
    assert text.matrix(["c", "a"]).tolist() == [[0, 4], [4, 0]]


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({("a", "b"): Payload()}))
    with pytest.raises(PickleRefusedError, match=r"mkdir"):
        read_distances(tmp_path / "evil.pkl")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b 1\nb c 4\n", r"1 of 3 classes are not in the file: 'x'"),
        ("a b 1\nb a 2\na x 4\nb x 4\n", r"asymmetric\): a b: 1 and 2"),
        ("a b -1\na x 4\nb x 4\n", r"negative: a b -1"),
        ("a a 3\na b 1\na x 4\nb x 4\n", r"to itself: a a 3"),
        ("a b 1\na x 4\n", r"no distance for 1 class pair\(s\): b x"),
        ("a b one\n", r"not a number"),
        ("a b\n", r"expected 3 fields"),
    ],
)
def test_bad_distance_files_get_one_line_and_exit_2(tmp_path: Path, text: str, message: str):
    (tmp_path / "d.txt").write_text(text)
    np.save(tmp_path / "s.npy", np.zeros((2, 3), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    result = runner.invoke(
        app,
        [
            "score", str(tmp_path / "s.npy"), "--labels", str(tmp_path / "y.npy"),
            "--classes", "a,b,x", "--hierarchy", str(_tree(tmp_path)),
            "--distances", str(tmp_path / "d.txt"), "--report", str(tmp_path / "rep"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    with pytest.raises(DistanceFileError, match=message):
        read_distances(tmp_path / "d.txt").matrix(["a", "b", "x"])
    assert not (tmp_path / "rep").exists()


def _tree(folder: Path) -> Path:
    path = folder / "abx.tsv"
    path.write_text("a\tP\nb\tP\nP\tr\nx\tr\n")
    return path


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        (np.zeros((2, 4)), np.array([0, 1]), "4 columns but there are 3 classes"),
        (np.array([[0, 1, np.nan], [1, 0, 0]]), np.array([0, 1]), "not finite"),
        (np.zeros((3, 3)), np.array([0, 1]), "2 labels but"),
        (np.zeros((2, 3)), np.array([0, 3]), r"\[0, 3\)"),
    ],
)
def test_bad_scores_get_one_line(tmp_path: Path, scores, labels, message: str):
    np.save(tmp_path / "s.npy", scores)
    np.save(tmp_path / "y.npy", labels)
    result = runner.invoke(
        app,
        ["score", str(tmp_path / "s.npy"), "--labels", str(tmp_path / "y.npy"),
         "--hierarchy", str(_tree(tmp_path)), "--classes", "a,b,x", "--json", str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert message.replace("\\", "") in result.output.replace("\n", " ") or pytest.fail(
        result.output
    )
    assert not (tmp_path / "o").exists()


def test_cli_scores_several_files_into_one_report(files: Path):
    np.save(files / "other.npy", (LOGITS.flip(1)).numpy())
    # a CSV whose header names the classes and holds the labels as a column
    pairs = zip(LOGITS.tolist(), TARGETS.tolist(), strict=True)
    rows = ["a,b,c,truth"] + [",".join(f"{v:g}" for v in row) + f",{'abc'[t]}" for row, t in pairs]
    (files / "model.csv").write_text("\n".join(rows) + "\n")
    csv_run = runner.invoke(
        app,
        ["score", str(files / "model.csv"), "--label-column", "truth",
         "--hierarchy", str(files / "tree.tsv"), "--classes", "a,b,c", "--json", "-"],
    )  # fmt: skip
    assert csv_run.exit_code == 0, csv_run.output
    from_csv = json.loads(csv_run.output)["results"]["model"]["metrics"]
    assert from_csv["top1"] == pytest.approx(0.5)
    result = runner.invoke(
        app,
        ["score", str(files / "logits.npy"), str(files / "other.npy"),
         "--labels", str(files / "labels.npy"), "--classes", "a,b,c",
         "--hierarchy", str(files / "tree.tsv"), "--distances", str(files / "d.txt"),
         "--report", str(files / "rep")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((files / "rep" / "score.json").read_text())
    assert set(saved["results"]) == {"logits", "other"}
    assert saved["results"]["logits"]["metrics"]["severity"] == pytest.approx(2.5)
    report = (files / "rep" / "report.md").read_text()
    assert "| logits +CRM |" in report and "distances from" in report
    assert (files / "rep" / "report.html").is_file()
    again = runner.invoke(
        app,
        ["score", str(files / "logits.npy"), "--labels", str(files / "labels.npy"),
         "--classes", "a,b,c", "--hierarchy", str(files / "tree.tsv"),
         "--report", str(files / "rep")],
    )  # fmt: skip
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_a_run_scored_with_a_distance_file(trained_runs, tmp_path: Path):
    from labelspace.training.evaluate import evaluate_run
    from labelspace.training.load import load_run

    run = trained_runs.copy("softmax", tmp_path / "run")
    before = json.loads((run / "metrics.json").read_text())
    assert before["cost"] == "lca-height"
    space = load_run(run).space
    lca = space.lca_height
    lines = [
        f"{a} {b} {2 * int(lca[i, j])}"
        for i, a in enumerate(space.synsets)
        for j, b in enumerate(space.synsets)
        if i <= j
    ]
    (tmp_path / "double.txt").write_text("\n".join(lines) + "\n")
    after = evaluate_run(run, distances=tmp_path / "double.txt")
    assert after["cost"] == str((tmp_path / "double.txt").resolve())
    assert after["test"]["top1"] == pytest.approx(before["test"]["top1"])
    assert after["test"]["severity"] == pytest.approx(2 * before["test"]["severity"])
    assert after["test"]["hdist@5"] == pytest.approx(2 * before["test"]["hdist@5"])


@pytest.mark.slow  # trains one small run
def test_compare_with_a_distance_file_records_it_and_rescores_reused_runs(tmp_path: Path):
    from dataclasses import replace

    import yaml
    from conftest import TINY_RUN

    from labelspace.api import label_space
    from labelspace.experiments.compare import run_comparison

    space = label_space("fashion-mnist", embedding=None)
    lca = space.lca_height
    lines = [
        f"{a} {b} {3 * int(lca[i, j])}"
        for i, a in enumerate(space.synsets)
        for j, b in enumerate(space.synsets)
        if i <= j
    ]
    distances = tmp_path / "triple.txt"
    distances.write_text("\n".join(lines) + "\n")
    config = replace(TINY_RUN, train_limit=512, test_limit=100, distances=str(distances))
    out = tmp_path / "cmp"
    report = run_comparison(["softmax"], config, out, analysis=None, progress=False)
    run = out / "softmax"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["distances"] == str(distances)
    tripled = json.loads((run / "metrics.json").read_text())
    assert tripled["cost"] == str(distances.resolve())
    assert f"Mistake cost: distances from {distances}" in report.read_text()
    # the same comparison without the file: the run is reused and scored by LCA height again
    mtime = (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    run_comparison(["softmax"], replace(config, distances=None), out, analysis=None, progress=False)
    plain = json.loads((run / "metrics.json").read_text())
    assert (run / "checkpoints" / "last.ckpt").stat().st_mtime_ns == mtime
    assert plain["cost"] == "lca-height"
    assert tripled["test"]["severity"] == pytest.approx(3 * plain["test"]["severity"])


def test_score_files_in_every_array_format(files: Path):
    from safetensors.numpy import save_file

    from labelspace.analysis.score_files import ScoreFileError, read_scores

    np.savez(files / "one.npz", LOGITS.numpy())
    np.savez(files / "two.npz", logits=LOGITS.numpy(), extra=np.zeros(3))
    save_file({"a": LOGITS.numpy(), "b": LOGITS.numpy() * 2}, str(files / "s.safetensors"))
    assert np.array_equal(read_scores(files / "one.npz").scores, LOGITS.numpy())
    assert np.array_equal(read_scores(files / "two.npz").scores, LOGITS.numpy())  # "logits"
    with pytest.raises(ScoreFileError, match="several arrays"):
        read_scores(files / "s.safetensors")
    assert np.array_equal(read_scores(files / "s.safetensors", key="b").scores, 2 * LOGITS.numpy())
    np.save(files / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ScoreFileError, match="not a plain numeric array"):
        read_scores(files / "objects.npy")
