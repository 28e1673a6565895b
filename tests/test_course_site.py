"""The course's handouts: executed notebooks and an offline HTML site that a browser renders.

``tinybgn lessons build`` is run once per session (fast mode, lessons 01 and 04 only, unless
``TINYBGN_HANDOUTS`` names a folder holding a complete build, as CI's ``.ci/run`` does). The
notebooks are read with nbformat; every page is opened in headless Chromium (Debian's
``chromium``), which must show a non-blank page and log nothing to its console.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
FULL_SITE = os.environ.get("TINYBGN_HANDOUTS")

nbformat = pytest.importorskip("nbformat", reason="the docs extra is not installed")
pytest.importorskip("jupytext", reason="the docs extra is not installed")
pytest.importorskip("latex2mathml", reason="the docs extra is not installed")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_in_chromium(page: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium; return the DOM it built and its console lines."""
    browser = chromium()
    if browser is None:
        if FULL_SITE:
            pytest.fail("chromium not found, but TINYBGN_HANDOUTS asks for the full site check")
        pytest.skip("chromium not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="tinybgn-chromium-") as profile:
        proc = subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


class _Text(html.parser.HTMLParser):
    """The visible text of a document and the tags it contains."""

    def __init__(self) -> None:
        super().__init__()
        self.text, self.tags, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("script", "style", "head")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style", "head")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def parse(document: str) -> _Text:
    parser = _Text()
    parser.feed(document)
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if FULL_SITE:
        return Path(FULL_SITE)
    out = tmp_path_factory.mktemp("handouts")
    env = dict(os.environ, TINYBGN_FAST="1")
    proc = subprocess.run(
        [sys.executable, "-m", "tinybgn", "lessons", "build", "--out", str(out), "--only", "01,04"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def built_lessons(site: Path) -> list[Path]:
    return [p for p in LESSONS if (site / f"{p.stem}.ipynb").exists()]


def test_full_site_has_every_lesson_and_at_least_ten_pages(site):
    if not FULL_SITE:
        pytest.skip("set TINYBGN_HANDOUTS to a full build (CI does)")
    assert built_lessons(site) == LESSONS
    pages = sorted(site.glob("*.html"))
    assert (site / "index.html") in pages and len(pages) >= 10, pages


def test_every_notebook_is_executed_with_one_complete_figure_per_cell(site):
    lessons = built_lessons(site)
    assert lessons
    for lesson in lessons:
        nb = nbformat.read(site / f"{lesson.stem}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{lesson.name}: not executed"
        images = 0
        for cell in code:
            outputs = cell.get("outputs", [])
            kinds = [o.output_type for o in outputs]
            assert "execute_result" not in kinds and "error" not in kinds, (lesson.name, kinds)
            shown = sum("image/png" in o.get("data", {}) for o in outputs)
            saved = sum(o.get("text", "").count("figure saved:") for o in outputs)
            # a figure is drawn and shown in the cell that saves it, complete, once
            assert shown == saved, (lesson.name, cell.source[:80], shown, saved)
            images += shown
        assert images >= 1, f"{lesson.name}: no figure"
        assert "_common" not in nb_text(nb), f"{lesson.name} still needs lessons/_common.py"


def nb_text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_pages_are_offline_and_render_the_maths(site):
    lessons = built_lessons(site)
    pages = [site / "index.html"] + [site / f"{p.stem}.html" for p in lessons]
    for page in pages:
        doc = page.read_text(encoding="utf-8")
        tags = parse(doc).tags
        for tag, attrs in tags:
            for key in ("src", "href"):
                ref = attrs.get(key, "")
                if not ref or ref.startswith("data:image/png;base64,"):
                    continue
                if tag == "a" and re.match(r"https?://", ref):
                    continue  # a link the reader may follow; nothing is loaded from it
                assert not re.match(r"[a-z]+:", ref), f"{page.name}: {tag} loads {ref}"
                assert (site / ref.split("#")[0]).is_file(), f"{page.name}: {ref} is missing"
        assert not any(tag == "script" for tag, _ in tags), f"{page.name} has a script"
    for lesson in lessons:
        doc = (site / f"{lesson.stem}.html").read_text(encoding="utf-8")
        formulas = lesson.read_text(encoding="utf-8").count("$$") // 2
        assert "$$" not in doc, f"{lesson.name}: unrendered LaTeX"
        assert doc.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"') == (
            formulas
        )


def test_every_page_opens_in_chromium_without_console_errors(site):
    lessons = built_lessons(site)
    for page in [site / "index.html"] + [site / f"{p.stem}.html" for p in lessons]:
        dom, console = open_in_chromium(page)
        assert not console, f"{page.name}: console says {console}"
        parsed = parse(dom)
        text = " ".join("".join(parsed.text).split())
        assert len(text) > 500, f"{page.name} looks blank: {text[:200]!r}"
        if page.name != "index.html":
            assert sum(tag == "img" for tag, _ in parsed.tags) >= 1
            source = (ROOT / "lessons" / page.name).with_suffix(".py").read_text(encoding="utf-8")
            assert any(tag == "math" for tag, _ in parsed.tags) == ("$$" in source)


def test_the_chromium_check_catches_console_errors_and_blank_pages(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>")
    dom, console = open_in_chromium(bad)
    assert any("no_such_function" in line for line in console), console
    assert len("".join(parse(dom).text).split()) == 0  # and its text is empty: "blank"
