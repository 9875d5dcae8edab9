"""Opening a run: ``load_run`` loads each part once, rebuilds the model from the
hyperparameters its checkpoint carries, and still loads runs whose checkpoints predate them."""

from __future__ import annotations

import pytest
import torch
import yaml

from labelspace.training.config import RunError
from labelspace.training.load import PARTS, load_run
from labelspace.training.runs import CONFIG_FILE, LAST_CHECKPOINT, read_checkpoint


def _scores(run) -> torch.Tensor:
    images = torch.stack([run.test_set[i][0] for i in range(8)])
    with torch.no_grad():
        return run.module.scores(run.module(images))


def test_the_checkpoint_says_how_to_rebuild_its_model(trained_runs):
    run = trained_runs("poincare")
    saved = read_checkpoint(run)["hyper_parameters"]
    assert saved == yaml.safe_load((run / CONFIG_FILE).read_text(encoding="utf-8"))
    loaded = load_run(run, ("model",))
    assert loaded.config.method == "poincare" and loaded.module.training is False
    assert loaded.datamodule is None and loaded.predictions is None


def test_parts_load_once_and_later_parts_add_to_the_run(trained_runs):
    loaded = load_run(trained_runs("softmax"), ("config",))
    assert loaded.module is None
    with pytest.raises(ValueError, match="not loaded"):
        loaded.test_set  # noqa: B018 - the error is the point
    module = loaded.load("model").module
    loaded.load("model", "data", "predictions")
    assert loaded.module is module  # not loaded again
    assert len(loaded.predictions.targets) == len(loaded.test_set)
    with pytest.raises(ValueError, match="unknown run part"):
        loaded.load("weights")
    assert set(PARTS) == {"config", "model", "data", "predictions"}


def test_a_run_whose_checkpoint_has_no_hyperparameters_loads_from_its_config(
    trained_runs, tmp_path
):
    run = trained_runs.copy("softmax", tmp_path / "old")
    ckpt = read_checkpoint(run)
    del ckpt["hyper_parameters"], ckpt["hparams_name"]
    torch.save(ckpt, run / LAST_CHECKPOINT)
    old = load_run(run, ("model", "data"))
    new = load_run(trained_runs("softmax"), ("model", "data"))
    assert torch.equal(_scores(old), _scores(new))


def test_a_damaged_checkpoint_is_one_line_found_before_the_data(
    trained_runs, tmp_path, monkeypatch
):
    import labelspace.training.load as load

    run = trained_runs.copy("softmax", tmp_path / "broken")
    (run / LAST_CHECKPOINT).write_bytes(b"not a checkpoint")
    monkeypatch.setattr(load, "load_data", lambda *a, **k: pytest.fail("the data was loaded"))
    with pytest.raises(RunError, match="is damaged") as caught:
        load_run(run, ("model", "data"))
    assert "\n" not in str(caught.value)
