"""The README's Python example runs as written (a doctest), from an empty folder."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow  # three runs; tests/test_api.py runs the same calls on less data
def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    examples = [b for b in blocks if ">>>" in b]
    assert examples, "the README has no Python example"
    monkeypatch.chdir(tmp_path)  # the example writes a run folder: keep it out of the checkout
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for i, text in enumerate(examples):
        test = parser.get_doctest(text, {}, f"README example {i + 1}", str(README), 0)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 5 and result.failed == 0, f"{result.failed} README lines failed"
