"""The Python API: the package exports exactly its documented names, and docs/api.md's worked
example runs as written."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import labelspace
from labelspace import api

DOCS = Path(__file__).parents[1] / "docs" / "api.md"


def test_the_package_exports_exactly_the_api():
    defined = {
        name
        for name, value in vars(api).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == api.__name__
    }
    assert defined <= set(labelspace.__all__), "a public function of the API is not exported"
    for name in labelspace.__all__:
        assert callable(getattr(labelspace, name)), f"{name} does not load a function or class"
        assert f"`{name}" in DOCS.read_text(encoding="utf-8"), f"{name} is not documented"


def test_importing_the_package_does_not_import_torch():
    code = "import sys, labelspace; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_worked_example_in_docs_api_md_runs():
    failures, tried = doctest.testfile(
        str(DOCS), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert tried > 20 and failures == 0


def test_label_space_takes_a_wnid_list_source_by_name():
    from labelspace.hierarchy.wnid_lists import wnid_list

    space = labelspace.label_space("imagenet", embedding=None)
    assert space.classes == list(wnid_list("imagenet")) and len(space.classes) == 1000
    assert space.synsets[0] == "tench.n.01"
