"""``python -m labelspace.cli``: the same as the ``labelspace`` command."""

from labelspace.cli.app import app

app()
