"""Executed notebooks -> a static HTML site that works offline.

* Markdown cells: markdown-it (CommonMark with tables); ``$$ ... $$`` and ``$ ... $`` are
  converted by latex2mathml into MathML, which browsers render natively - no MathJax, no CDN.
* Code cells: highlighted by Pygments; their printed output in ``<pre>``; figures embedded as
  ``data:image/png;base64`` URIs, so a page is one self-contained file next to ``style.css``.
* Every page links to the index, to the previous and next lesson, and to its notebook.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tinybgn.handouts.notebooks import HandoutError

#: Terminal colour codes (in tracebacks) are dropped from text outputs.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

STYLE = """
body { font-family: system-ui, sans-serif; line-height: 1.5; margin: 0; color: #1b1b1b; }
nav.top, nav.bottom { background: #f3f1ea; padding: 0.6em 1.5em; font-size: 0.95em; }
nav a { margin-right: 1.2em; }
main { max-width: 60em; margin: 0 auto; padding: 1em 1.5em 3em; }
pre { background: #f7f7f7; padding: 0.6em 0.8em; overflow-x: auto; font-size: 0.85em; }
pre.output { background: #fff; border-left: 3px solid #ddd; }
pre.stderr { background: #fff6f0; border-left: 3px solid #e8b08a; }
pre.error { background: #fde8e8; border-left: 3px solid #c33; }
div.figure img { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 0.2em; font-size: 0.92em; }
pre code { background: none; padding: 0; }
math[display="block"] { margin: 0.8em 0; font-size: 1.1em; overflow-x: auto; overflow-y: hidden; }
table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
p.note { color: #555; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class PageLink:
    """Where a lesson's page is, for navigation: file name and title."""

    href: str
    title: str


def _markdown():
    try:
        from latex2mathml.converter import convert
        from markdown_it import MarkdownIt
        from mdit_py_plugins.dollarmath import dollarmath_plugin
    except ImportError as err:
        raise HandoutError(
            f"rendering the site needs the docs extra ({err.name} is missing): "
            'pip install -e ".[docs]"'
        ) from None

    def maths(latex: str, options: dict) -> str:
        display = "block" if options.get("display_mode") else "inline"
        try:
            return convert(latex.strip(), display=display)
        except Exception as err:  # latex2mathml raises many kinds; say which formula failed
            raise HandoutError(f"cannot render the formula {latex.strip()!r}: {err}") from None

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    dollarmath_plugin(md, renderer=maths, allow_digits=False)
    return md


def _highlight(code: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(code, PythonLexer(), HtmlFormatter(cssclass="highlight"))


def pygments_style() -> str:
    """The CSS rules for highlighted code."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(cssclass="highlight").get_style_defs(".highlight")


def _outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        kind = out.output_type
        if kind == "stream":
            text = html.escape(_ANSI.sub("", out.text))
            parts.append(f'<pre class="output {html.escape(out.name)}">{text}</pre>')
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if "image/png" in data:
                png = data["image/png"].replace("\n", "")
                base64.b64decode(png, validate=True)  # a corrupt figure fails the build here
                alt = html.escape(data.get("text/plain", "figure").strip() or "figure")
                parts.append(
                    f'<div class="figure"><img src="data:image/png;base64,{png}" alt="{alt}"></div>'
                )
            elif "text/plain" in data:
                parts.append(f'<pre class="output">{html.escape(data["text/plain"])}</pre>')
        elif kind == "error":
            trace = html.escape(_ANSI.sub("", "\n".join(out.get("traceback", []))))
            parts.append(f'<pre class="error">{trace}</pre>')
    return "\n".join(parts)


def notebook_body(nb) -> str:
    """The HTML of all cells of an executed notebook."""
    md = _markdown()
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(md.render(cell.source))
        elif cell.cell_type == "code":
            parts.append(_highlight(cell.source))
            parts.append(_outputs(cell))
    return "\n".join(parts)


def _nav(index: PageLink, prev: PageLink | None, next_: PageLink | None) -> str:
    """The links to the index and to the neighbouring lessons."""
    links = [f'<a href="{index.href}">{html.escape(index.title)}</a>']
    if prev is not None:
        links.append(f'<a href="{prev.href}" rel="prev">&larr; {html.escape(prev.title)}</a>')
    if next_ is not None:
        links.append(f'<a href="{next_.href}" rel="next">{html.escape(next_.title)} &rarr;</a>')
    return " ".join(links)


def page(title: str, body: str, *, nav: str = "", footer: str = "") -> str:
    """A complete HTML document (UTF-8, styles from the local ``style.css``); ``nav`` (links)
    is shown above and below the body."""
    top = f'<nav class="top">{nav}</nav>' if nav else ""
    bottom = f'<nav class="bottom">{nav}</nav>' if nav else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="stylesheet" href="style.css">\n</head>\n<body>\n'
        f"{top}\n<main>\n{body}\n{footer}\n</main>\n{bottom}\n</body>\n</html>\n"
    )


def lesson_page(
    nb,
    *,
    title: str,
    notebook_href: str,
    index: PageLink,
    prev: PageLink | None,
    next_: PageLink | None,
    note: str = "",
) -> str:
    """A lesson's page: navigation, every cell with its outputs, a link to the notebook."""
    footer = (
        f'<p class="note">Download this lesson as an executed notebook: '
        f'<a href="{notebook_href}">{html.escape(notebook_href)}</a>. {html.escape(note)}</p>'
    )
    return page(title, notebook_body(nb), nav=_nav(index, prev, next_), footer=footer)


def index_page(title: str, intro_markdown: str, rows: Sequence[tuple[PageLink, str, str]]) -> str:
    """The site's front page: ``intro_markdown``, then one table row per lesson
    ``(page link, notebook href, one-line summary)``."""
    md = _markdown()
    lines = ["<table>", "<tr><th>lesson</th><th>notebook</th><th>what you do</th></tr>"]
    for link, notebook, summary in rows:
        lines.append(
            f'<tr><td><a href="{link.href}">{html.escape(link.title)}</a></td>'
            f'<td><a href="{notebook}">{html.escape(notebook)}</a></td>'
            f"<td>{md.renderInline(summary)}</td></tr>"
        )
    lines.append("</table>")
    body = f"<h1>{html.escape(title)}</h1>\n{md.render(intro_markdown)}\n" + "\n".join(lines)
    return page(title, body)
