"""Tests for the self-contained HTML comparison report."""

from __future__ import annotations

import base64
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from labelspace import files
from labelspace.reporting.html import first_heading, markdown_to_html, write_html_report

REPORT_MD = """\
# a < b

| method | top-1 % |
|---|---:|
| softmax | 92.41 ± 0.18 |
| hyperbolic | 93.02 ± 0.21 * |

![accuracy](plots/acc.png)

![missing](plots/missing.png)
"""


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    plots = tmp_path / "plots"
    plots.mkdir()
    rgb = np.zeros((2, 3, 3))
    rgb[0, 0] = (1.0, 0.0, 0.0)
    mpimg.imsave(plots / "acc.png", rgb)
    (tmp_path / "report.md").write_text(REPORT_MD, encoding="utf-8")
    return tmp_path


def _data_uris(page: str) -> list[str]:
    return re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def test_write_html_report(report_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="labelspace.reporting.html"):
        out = write_html_report(report_dir / "report.md")
    assert out == report_dir / "report.html"
    page = out.read_text(encoding="utf-8")

    assert page.startswith("<!DOCTYPE html>")
    assert "<table>" in page and "<td>softmax</td>" in page
    uris = _data_uris(page)
    assert len(uris) == 1
    assert base64.b64decode(uris[0]) == (report_dir / "plots" / "acc.png").read_bytes()
    assert 'src="plots/acc.png"' not in page
    assert 'src="plots/missing.png"' in page
    assert any("plots/missing.png" in rec.getMessage() for rec in caplog.records)

    assert "<title>a &lt; b</title>" in page
    assert "<title>a < b" not in page
    assert sorted(p.name for p in report_dir.iterdir()) == ["plots", "report.html", "report.md"]


def test_rewrite_is_idempotent(report_dir: Path) -> None:
    first = write_html_report(report_dir / "report.md").read_bytes()
    second = write_html_report(report_dir / "report.md").read_bytes()
    assert first == second
    assert sorted(p.name for p in report_dir.iterdir()) == ["plots", "report.html", "report.md"]


def test_explicit_path_and_title(report_dir: Path) -> None:
    target = report_dir / "out" / "page.html"
    out = write_html_report(report_dir / "report.md", target, title='x & "y"')
    assert out == target
    page = target.read_text(encoding="utf-8")
    assert "<title>x &amp; &quot;y&quot;</title>" in page
    assert len(_data_uris(page)) == 1  # images still resolved next to the Markdown file


def test_missing_markdown_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.md"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        write_html_report(missing)


def test_refuses_to_overwrite_markdown(report_dir: Path) -> None:
    with pytest.raises(ValueError, match="overwrite"):
        write_html_report(report_dir / "report.md", report_dir / "report.md")


def test_failed_write_leaves_no_partial_file(
    report_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = write_html_report(report_dir / "report.md")
    before = out.read_bytes()
    (report_dir / "report.md").write_text("# changed\n", encoding="utf-8")

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_html_report(report_dir / "report.md")
    assert out.read_bytes() == before
    assert sorted(p.name for p in report_dir.iterdir()) == ["plots", "report.html", "report.md"]


def test_remote_and_raw_html_images(report_dir: Path) -> None:
    text = (
        "![remote](https://example.org/x.png)\n\n"
        "![inline](data:image/png;base64,AAAA)\n\n"
        "<img src='plots/acc.png' alt='raw'>\n\n"
        "![spaced](plots/my%20plot.png)\n"
    )
    (report_dir / "plots" / "acc.png").rename(report_dir / "plots" / "my plot.png")
    mpimg.imsave(report_dir / "plots" / "acc.png", np.ones((2, 2, 3)))
    page = markdown_to_html(text, base_dir=report_dir, title="t")
    assert 'src="https://example.org/x.png"' in page
    assert 'src="data:image/png;base64,AAAA"' in page
    assert "src='data:image/png;base64," in page
    local = [uri for uri in _data_uris(page) if uri != "AAAA"]
    assert len(local) == 1  # the %20-encoded local path
    assert base64.b64decode(local[0]) == (report_dir / "plots" / "my plot.png").read_bytes()


def test_first_heading_ignores_code_blocks() -> None:
    text = "intro\n\n```bash\n# not a title\n```\n\n## sub\n\n# Real title #\n"
    assert first_heading(text) == "Real title"
    assert first_heading("no heading here\n") is None


def test_title_falls_back_to_stem(tmp_path: Path) -> None:
    md = tmp_path / "comparison.md"
    md.write_text("just text\n", encoding="utf-8")
    page = write_html_report(md).read_text(encoding="utf-8")
    assert "<title>comparison</title>" in page
    assert oct(os.stat(tmp_path / "comparison.html").st_mode & 0o777) == oct(0o644)
