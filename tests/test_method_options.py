"""Method options: one command-line option per MethodOptions field on ``train`` and
``compare``, each reaching the run's config, each bad value refused in one line."""

from dataclasses import fields

import pytest
from typer.testing import CliRunner

from labelspace.cli import app
from labelspace.models.options import MethodOptions

runner = CliRunner()
OPTIONS = MethodOptions()
FIELDS = [f for f in fields(MethodOptions)]


class CapturedConfigError(Exception):
    """Raised by the stand-in for training, carrying the config it was given."""

    def __init__(self, config) -> None:
        super().__init__("captured")
        self.config = config


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _changed(name: str) -> tuple[list[str], object]:
    """Command-line words that set ``name`` to a value other than its default, and the value
    the config should then hold."""
    default = getattr(OPTIONS, name)
    if isinstance(default, bool):
        return [_flag(name) if not default else "--no-" + _flag(name)[2:]], not default
    value = 2.5 * default + 0.5
    return [_flag(name), str(value)], value


@pytest.fixture
def captured_train(monkeypatch):
    import labelspace.training.fit as fit

    def fake(config, *args, **kwargs):
        raise CapturedConfigError(config)

    monkeypatch.setattr(fit, "train", fake)


@pytest.fixture
def captured_compare(monkeypatch):
    import labelspace.experiments.compare as compare

    def fake(methods, base, *args, **kwargs):
        raise CapturedConfigError(base)

    monkeypatch.setattr(compare, "run_comparison", fake)


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_every_option_reaches_the_config_of_train(name, captured_train, tmp_path):
    words, value = _changed(name)
    result = runner.invoke(app, ["train", str(tmp_path / "run"), *words])
    assert isinstance(result.exception, CapturedConfigError), result.output
    options = result.exception.config.options
    assert getattr(options, name) == value
    others = {f.name for f in FIELDS} - {name}
    assert all(getattr(options, n) == getattr(OPTIONS, n) for n in others)


@pytest.mark.parametrize("name", [f.name for f in FIELDS])
def test_every_option_reaches_the_config_of_compare(name, captured_compare, tmp_path):
    words, value = _changed(name)
    result = runner.invoke(app, ["compare", str(tmp_path / "cmp"), *words])
    assert isinstance(result.exception, CapturedConfigError), result.output
    assert getattr(result.exception.config.options, name) == value


def test_label_radius_zero_means_as_embedded(captured_train, tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "run"), "--label-radius", "0"])
    assert result.exception.config.options.label_radius is None


def test_defaults_are_the_dataclass_defaults(captured_train, tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "run")])
    assert result.exception.config.options == OPTIONS


@pytest.mark.parametrize("name", [f.name for f in FIELDS if f.metadata.get("check") is not None])
@pytest.mark.parametrize("command", ["train", "compare"])
def test_a_bad_value_of_every_option_is_refused_in_one_line(name, command, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, [command, str(out), _flag(name), "-1"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert _flag(name) in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("name", [f.name for f in FIELDS if f.metadata.get("check")])
def test_validate_refuses_what_the_command_line_refuses(name):
    from labelspace.errors import InputError

    with pytest.raises(InputError, match=_flag(name)):
        MethodOptions(**{name: float("nan")}).validate()
    MethodOptions().validate()


def test_every_option_has_help():
    assert all(f.metadata.get("help") for f in FIELDS)
