"""Analyses of trained runs on small real data: back-off, CRM, attacks, features, open
vocabulary, and multi-seed comparisons with their Markdown and HTML reports."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from labelspace.analysis.analyze import AnalysisConfig, analyze_run, fit_temperature
from labelspace.analysis.openvocab import correct_set, label_points, label_set, open_vocabulary
from labelspace.analysis.predict import backoff_answers
from labelspace.analysis.results import ANALYSIS_FILE
from labelspace.cli import app
from labelspace.experiments.compare import REPORT_FILE, run_comparison
from labelspace.training.config import TrainConfig
from labelspace.training.fit import train
from labelspace.training.load import load_run
from labelspace.training.runs import read_predictions

TINY = TrainConfig(epochs=1, batch_size=64, train_limit=1024, test_limit=300, embedding_dim=5)
QUICK = AnalysisConfig(eps=(0.0, 8 / 255), attack_images=64, feature_images=200, feature_map="pca")


@pytest.fixture(scope="module")
def devise_run(tmp_path_factory) -> Path:
    """DeViSE on text labels with Sneaker unseen: the zero-shot and open-vocabulary case."""
    run = tmp_path_factory.mktemp("analysis") / "devise"
    train(
        replace(TINY, epochs=2, method="devise", embedding="text", unseen=["Sneaker"]),
        run,
        progress=False,
    )
    return run


def test_fit_temperature_recovers_the_scale_of_the_scores():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 6, generator=gen) * 2
    targets = torch.multinomial(logits.softmax(-1), 1, generator=gen).squeeze(1)
    # scores 4x the true logits: softmax(scores / 4) is the calibrated model
    assert fit_temperature(4 * logits, targets) == pytest.approx(4.0, rel=0.15)


def test_analyze_run_writes_backoff_attacks_and_features(devise_run):
    result = analyze_run(devise_run, QUICK)
    assert json.loads((devise_run / ANALYSIS_FILE).read_text())["backoff"]["auc"] == pytest.approx(
        result["backoff"]["auc"]
    )
    backoff = result["backoff"]
    assert backoff["temperature"] is not None  # DeViSE has no probabilities: T was fitted
    assert "crm" not in backoff  # CRM needs the method's own probabilities
    curve = backoff["curve"]
    preds = read_predictions(devise_run)
    top1 = (preds.scores.argmax(-1) == preds.targets).double().mean().item()
    assert curve["correctness"][0] == pytest.approx(top1)  # threshold 0: flat top-1
    assert curve["correctness"][-1] >= curve["correctness"][0]  # backing off is safer
    assert 0 < backoff["auc"] <= 1
    clean, attacked = result["robustness"]["points"]
    assert clean["eps"] == 0 and attacked["eps"] == pytest.approx(8 / 255)
    assert attacked["top1"] < clean["top1"]  # PGD at 8/255 hurts an undefended model
    silhouette = result["representations"]["silhouette"]
    assert "0" in silhouette and all(-1 <= v <= 1 for v in silhouette.values())
    fmap = result["representations"]["map"]
    assert len(fmap["xy"]) == len(fmap["group"]) == 200
    assert max(fmap["group"]) < len(fmap["group_names"])


def test_backoff_answers_and_the_predict_command(devise_run, tmp_path):
    from labelspace.data import load_dataset

    data = load_dataset("fashion-mnist")
    png = tmp_path / "boot.png"
    Image.fromarray(data.test.images[int((data.test.targets == 9).nonzero()[0]), 0].numpy()).save(
        png
    )
    answers = backoff_answers(devise_run, [png], threshold=0.999)
    node, confidence, how = answers[png]
    assert confidence >= 0.999 and "fitted on validation" in how
    assert node and ".n." not in node  # a readable lemma, not a synset name
    at_zero = backoff_answers(devise_run, [png], threshold=0.0)[png]
    assert at_zero[1] <= confidence  # a class is never surer than the node it backs off to
    result = CliRunner().invoke(app, ["predict", str(devise_run), str(png), "--backoff", "0.9"])
    assert result.exit_code == 0, result.output
    assert "backed off (p >= 0.9)" in result.output
    bad = CliRunner().invoke(app, ["predict", str(devise_run), str(png), "--backoff", "2"])
    assert bad.exit_code != 0 and "--backoff must lie in [0, 1]" in bad.output


def test_open_vocabulary_decodes_unseen_images_among_wordnet_nouns(devise_run):
    result = open_vocabulary(devise_run, "footwear.n.02")
    assert result["num_labels"] == len(label_set("footwear.n.02")) == 55
    assert result["num_images"] == 30  # the unseen Sneaker images of the 300-image test set
    hits = [result[f"hit@{k}"] for k in (1, 2, 5, 10, 20)]
    assert hits == sorted(hits) and all(0 <= h <= 1 for h in hits)
    assert all(0 <= result[f"hp@{k}"] <= 1 for k in (1, 2, 5, 10, 20))
    assert result["hp@1"] >= result["hit@1"]  # k=1: the true label or a label below it
    assert result["examples"][0]["class"] == "Sneaker"
    with pytest.raises(ValueError, match="no test class lies in the label set"):
        open_vocabulary(devise_run, "mammal.n.01")  # a sneaker among mammals: nothing to score


def test_open_vocabulary_neighbourhoods_and_errors(tmp_path):
    footwear = set(label_set("footwear.n.02"))
    # gym shoe has one hyponym (plimsoll): with k <= 2 the neighbourhood is just those two
    assert correct_set("gym_shoe.n.01", footwear, 2) == {"gym_shoe.n.01", "plimsoll.n.02"}
    # one hop up: every shoe
    assert "running_shoe.n.01" in correct_set("gym_shoe.n.01", footwear, 3)
    with pytest.raises(ValueError, match="not a WordNet noun synset"):
        label_set("sneakers.n.99")
    # several subtrees joined by +: their union, each noun once
    union = label_set("footwear.n.02+mammal.n.01")
    assert set(union) == footwear | set(label_set("mammal.n.01"))
    assert len(union) == len(set(union)) and union == sorted(union)
    with pytest.raises(ValueError, match=r"'sneakers\.n\.99' is not a WordNet noun synset"):
        label_set("footwear.n.02+sneakers.n.99")


def test_open_vocabulary_refuses_a_run_without_vectors_for_the_labels(trained_runs):
    run = trained_runs("poincare")  # no unseen classes: decode every test image
    args = ["evaluate", str(run), "--labels", "footwear.n.02", "--images", "all"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "Open-vocabulary decoding needs text embeddings" in result.output


def test_open_vocabulary_of_a_poincare_run_on_a_shipped_embedding(tmp_path):
    """A run keeps only its hierarchy's nodes of a shipped embedding; open vocabulary reads
    all of it, and moves the candidates as the class points were (--label-radius)."""
    run = tmp_path / "poincare"
    config = replace(
        TINY, method="poincare", embedding="pretrained:nouns-poincare-10d", unseen=["Sneaker"]
    )
    train(config, run, progress=False)
    prepared = load_run(run, ("model", "data"))
    points = label_points(prepared, prepared.space.synsets, "nouns")
    assert torch.allclose(points, prepared.module.criterion.label_vectors, atol=1e-5)
    result = open_vocabulary(run, "footwear.n.02")
    assert result["num_labels"] == 55 and result["num_images"] == 30
    hits = [result[f"hit@{k}"] for k in (1, 2, 5, 10, 20)]
    assert hits == sorted(hits) and all(0 <= h <= 1 for h in hits)


@pytest.mark.slow  # seeds and every analysis: one comparison and analyze_run take seconds
def test_compare_over_seeds_reports_intervals_tests_and_every_analysis(tmp_path):
    out = tmp_path / "cmp"
    report = run_comparison(
        ["softmax", "devise@random"],
        replace(TINY, train_limit=512, test_limit=200),
        out,
        seeds=2,
        analysis=QUICK,
        progress=False,
        command="labelspace compare test",
    )
    for seed in (0, 1):
        for method in ("softmax", "devise@random"):
            assert (out / f"seed-{seed}" / method / ANALYSIS_FILE).is_file()
    text = report.read_text()
    assert "Seeds: 0, 1" in text and "`labelspace compare test`" in text
    assert " ± " in text  # two seeds give intervals
    assert "(n.s.)" in text or " *" in text  # and paired tests against softmax
    assert "softmax +CRM" in text and "back-off AUC" in text and "silhouette h0" in text
    for png in ("accuracy_severity", "backoff", "robustness", "features", "confusion"):
        assert f"plots/{png}.png" in text
    html = (out / "report.html").read_text()
    embedded = base64.b64decode(html.split("data:image/png;base64,")[1].split('"')[0])
    assert embedded.startswith(b"\x89PNG")
    # a third seed later: the first two are reused, only seed 2 trains
    mtime = (out / "seed-0" / "softmax" / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    run_comparison(
        ["softmax"], replace(TINY, train_limit=512, test_limit=200), out, seeds=3, progress=False
    )
    assert (out / "seed-2" / "softmax" / "metrics.json").is_file()
    assert (out / "seed-0" / "softmax" / "checkpoints" / "last.ckpt").stat().st_mtime_ns == mtime


def test_zero_shot_comparison_reports_a_zero_shot_table(tmp_path):
    out = tmp_path / "zs"
    result = CliRunner().invoke(
        app,
        [
            "compare",
            str(out),
            "--methods",
            "devise@poincare+text,devise@random",
            "--unseen",
            "sneaker",
            "--epochs",
            "1",
            "--train-limit",
            "512",
            "--test-limit",
            "200",
            "--dim",
            "5",
            "--no-analyze",
        ],
    )
    assert result.exit_code == 0, result.output
    text = (out / REPORT_FILE).read_text()
    assert "## Zero-shot (unseen: Sneaker)" in text and "GZSL H top-1 %" in text
    assert "ZSL %" not in result.output  # one unseen class: ZSL top-1 is trivially 100 %
    assert "GZSL" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eps", "0,eight"], "is not a number or a fraction"),
        (["--eps", "2"], "outside [0, 1]"),
        (["--methods", "softmax@text"], "uses no label embedding"),
        (["--methods", "devise@glove"], "unknown label embedding"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--attack", "cw"], "unknown --attack 'cw'"),
        (["--feature-map", "umap"], "unknown --feature-map 'umap'"),
    ],
)
def test_compare_rejects_bad_options(tmp_path, args, message):
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "x"), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "x").exists()
