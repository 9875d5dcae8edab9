"""One self-contained HTML page per comparison report.

The Markdown report refers to its figures by relative paths; here it is rendered to HTML and
every local image is embedded as a base64 data URI, so the single file can be mailed or
opened anywhere without its plots folder.
"""

from __future__ import annotations

import base64
import html
import logging
import mimetypes
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown

from labelspace.files import atomic_write_text

log = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       line-height: 1.5; color: #222; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
h1, h2, h3 { line-height: 1.25; }
table { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #bbb; padding: 0.3rem 0.6rem; }
th { background: #eee; }
tbody tr:nth-child(even) { background: #f6f6f6; }
img { max-width: 100%; height: auto; }
pre, code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.92em; }
pre { background: #f4f4f4; padding: 0.75rem; overflow-x: auto; }
""".strip()

_IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"^#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


def _data_uri(src: str, base_dir: Path) -> str | None:
    """The data URI for a local image `src` (relative to base_dir), or None to leave it alone."""
    raw = html.unescape(src).strip()
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path:
        return None  # http(s):, data:, file:, //host/..., or a bare #fragment
    path = base_dir / unquote(parts.path)
    if not path.is_file():
        log.warning("image %r not found at %s; left as a link", raw, path)
        return None
    mime, _ = mimetypes.guess_type(path.name)
    if mime is None or not mime.startswith("image/"):
        log.warning("cannot tell the image type of %s; left as a link", path)
        return None
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime};base64,{payload}"


def _embed_images(body: str, base_dir: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        uri = _data_uri(match.group(3), base_dir)
        if uri is None:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{uri}{quote}"

    return _IMG_SRC.sub(replace, body)


def markdown_to_html(markdown_text: str, *, base_dir: Path, title: str) -> str:
    """Render Markdown to a complete, self-contained HTML5 page.

    Local images (paths relative to `base_dir`) are embedded as base64 data URIs; missing
    ones are left as links with a logged warning, and remote or data: sources are untouched.
    """
    body = markdown.markdown(markdown_text, extensions=["tables", "fenced_code"])
    body = _embed_images(body, Path(base_dir))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def first_heading(markdown_text: str) -> str | None:
    """The text of the first level-1 ATX heading ("# ..."), ignoring fenced code blocks."""
    fence: str | None = None
    for line in markdown_text.splitlines():
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is not None:
            continue
        heading = _HEADING.match(line)
        if heading:
            return heading.group(1).strip()
    return None


def write_html_report(
    markdown_path: Path, html_path: Path | None = None, *, title: str | None = None
) -> Path:
    """Render a Markdown report to a self-contained HTML file and return its path.

    The HTML goes next to the Markdown file (same stem, ".html") unless `html_path` is given;
    images are resolved relative to the Markdown file. The title defaults to the first "# "
    heading, else the file stem. The file is written atomically: never a partial page.
    """
    markdown_path = Path(markdown_path)
    if not markdown_path.is_file():
        raise FileNotFoundError(f"Markdown report not found: {markdown_path}")
    text = markdown_path.read_text(encoding="utf-8")
    out = Path(html_path) if html_path is not None else markdown_path.with_suffix(".html")
    if out.resolve() == markdown_path.resolve():
        raise ValueError(f"HTML output would overwrite the Markdown source: {out}")
    page_title = title if title is not None else (first_heading(text) or markdown_path.stem)
    page = markdown_to_html(text, base_dir=markdown_path.parent, title=page_title)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out
