"""The joint method chooses its decoding head on validation, never on test."""

from __future__ import annotations

import csv

import torch

from labelspace.metrics.hierarchical import summarize
from labelspace.training.evaluate import predict_set
from labelspace.training.load import load_run


def _logged(run) -> list[dict[str, str]]:
    (path,) = run.glob("logs/**/metrics.csv")
    with path.open(encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row.get("val_top1_linear")]


def test_joint_decodes_with_the_head_better_on_validation(trained_runs):
    run, metrics = trained_runs("joint"), trained_runs.metrics("joint")
    rows = _logged(run)
    assert len(rows) == trained_runs.config("joint").epochs  # both heads after every epoch
    last = rows[-1]
    linear, ball = float(last["val_top1_linear"]), float(last["val_top1_poincare"])
    prepared = load_run(run, ("model", "data"))
    loss = prepared.module.criterion
    chosen = loss.decoders[int(loss.decoder)]
    assert chosen == ("poincare" if ball > linear else "linear")
    # the test metrics are those of the chosen head
    preds = predict_set(prepared, prepared.test_set)
    with torch.no_grad():
        outputs = torch.cat(
            [prepared.module(x) for x, _ in torch.utils.data.DataLoader(prepared.test_set, 64)]
        )
    by_head = dict(zip(loss.decoders, loss.decoder_scores(outputs), strict=True))
    assert torch.allclose(preds.scores, by_head[chosen], atol=1e-4)
    top1 = summarize(by_head[chosen], preds.targets, prepared.space.lca_height)["top1"]
    assert abs(top1 - metrics["test"]["top1"]) < 1e-9
