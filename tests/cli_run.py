"""Running the command line in-process for tests that check its one-line messages."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labelspace.cli import app


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Messages on one line: rich wraps at the terminal width, which it reads from COLUMNS."""
    monkeypatch.setenv("COLUMNS", "2000")


def cli(*args: str) -> tuple[int, str]:
    """Exit status and output of ``labelspace ARGS``; a traceback (a bug) is raised as one."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output
