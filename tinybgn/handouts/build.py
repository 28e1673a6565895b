"""``build``: every lesson -> an executed notebook and an HTML page, plus the site's index."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tinybgn.course import FAST
from tinybgn.handouts import notebooks, site
from tinybgn.handouts.notebooks import Lesson

SITE_TITLE = "Backpropagation and Backward Gradient Normalization: the course"

INTRO = """\
Lessons that take you from one Dense layer to training a 90-layer network with BGN, following
*Backward Gradient Normalization in Deep Neural Networks* (Cabana & Lago-Fernández, 2021)
equation by equation. Each page below is a lesson as it ran, with its output and figures; the
notebook beside it is the same lesson, executed, to open in Jupyter or VS Code
(it needs nothing but tinybgn installed: every helper it imports is in the package). The
exercises' worked solutions and
the exercises you implement yourself (`tinybgn lessons check`) are in the repository's
`lessons/` folder.
"""

FAST_NOTE = (
    "Built with TINYBGN_FAST=1: every lesson ran at its small size, so numbers and figures are "
    "those of a short run, not of the teaching size."
)


@dataclass(frozen=True)
class BuiltLesson:
    """What ``build`` wrote for one lesson."""

    lesson: Lesson
    notebook: Path
    page: Path
    seconds: float
    figures: int


def _summary(lesson: Lesson, syllabus: dict[str, str]) -> str:
    """What the lesson does: its row of the syllabus in ``lessons/README.md`` (paper part, then
    "you will ..."), else the first sentence of its opening paragraph."""
    if lesson.path.name in syllabus:
        return syllabus[lesson.path.name]
    text = lesson.path.read_text(encoding="utf-8").split("\n# %%", 1)[0]
    lines = [line[2:] if line.startswith("# ") else "" for line in text.splitlines()[2:]]
    paragraph = " ".join("\n".join(lines).strip().split("\n\n")[0].split())
    return re.split(r"(?<=[.:])\s", paragraph, maxsplit=1)[0].replace("$$", "$")


def read_syllabus(readme: Path) -> dict[str, str]:
    """``{lesson file name: "paper part: what you will do"}`` from the README's syllabus table
    (rows like ``| 3 | [`03_name.py`](03_name.py) | Fig. 1 | measure ... |``)."""
    if not readme.is_file():
        return {}
    rows = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.match(r"\[`(\d\d_\w+\.py)`\]", cells[1]) if len(cells) == 4 else None
        if match:
            rows[match.group(1)] = f"{cells[2]}: {cells[3]}"
    return rows


def build(
    out: Path,
    lessons_dir: Path,
    *,
    only: list[str] | None = None,
    timeout: float = 600,
    progress: Callable[[BuiltLesson], None] | None = None,
) -> list[BuiltLesson]:
    """Execute every lesson in ``lessons_dir`` (or those in ``only``) and write the handouts
    into ``out``: ``NN_name.ipynb``, ``NN_name.html``, ``index.html``, ``style.css``, and the
    lessons' own PNG copies of their figures in ``figures/``."""
    _, _, nbformat = notebooks._tools()
    lessons = notebooks.find_lessons(lessons_dir, only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "style.css").write_text(site.STYLE + site.pygments_style(), encoding="utf-8")

    links = [site.PageLink(f"{ls.stem}.html", f"{ls.number}. {ls.title}") for ls in lessons]
    index = site.PageLink("index.html", "All lessons")
    note = FAST_NOTE if FAST else ""
    built = []
    for i, lesson in enumerate(lessons):
        nb = notebooks.to_notebook(lesson)
        seconds = notebooks.execute(nb, lesson, figure_dir=out / "figures", timeout=timeout)
        notebook_path = out / f"{lesson.stem}.ipynb"
        nbformat.write(nb, notebook_path)
        html = site.lesson_page(
            nb,
            title=links[i].title,
            notebook_href=notebook_path.name,
            index=index,
            prev=links[i - 1] if i > 0 else None,
            next_=links[i + 1] if i + 1 < len(lessons) else None,
            note=note,
        )
        page_path = out / links[i].href
        page_path.write_text(html, encoding="utf-8")
        figures = sum(notebooks.image_count(cell) for cell in nb.cells)
        built.append(BuiltLesson(lesson, notebook_path, page_path, seconds, figures))
        if progress is not None:
            progress(built[-1])

    syllabus = read_syllabus(Path(lessons_dir) / "README.md")
    rows = [
        (link, f"{ls.stem}.ipynb", _summary(ls, syllabus))
        for link, ls in zip(links, lessons, strict=True)
    ]
    intro = INTRO + (f"\n{FAST_NOTE}\n" if FAST else "")
    (out / "index.html").write_text(site.index_page(SITE_TITLE, intro, rows), encoding="utf-8")
    return built
