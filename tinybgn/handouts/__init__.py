"""Handouts of the course: executed notebooks and a static HTML site, built from the lessons.

The lessons (``lessons/NN_name.py``) stay the source: percent-format scripts (``# %%`` cells)
that run top to bottom. ``tinybgn lessons build --out DIR`` turns each into

* ``DIR/NN_name.ipynb`` - the script as a notebook (jupytext), executed (nbclient) with its
  printed output and inline figures, so it can be handed out on its own: the helpers it imports
  live in the package (:mod:`tinybgn.course`), not beside it;
* ``DIR/NN_name.html`` and ``DIR/index.html`` - a static site with the equations rendered as
  MathML (latex2mathml; browsers draw it natively), the figures embedded as data URIs, the code
  highlighted (Pygments) and links between the lessons. Nothing is fetched from the internet,
  neither while building nor while reading.

The tools come with the ``docs`` extra (``pip install -e ".[docs]"``); this package imports them
only when a build runs, so ``import tinybgn`` never needs them.

* :mod:`tinybgn.handouts.notebooks` - find the lessons, convert and execute them;
* :mod:`tinybgn.handouts.site` - render the executed notebooks as HTML pages;
* :func:`build` - both, for every lesson.
"""

from __future__ import annotations

from tinybgn.handouts.build import BuiltLesson, build

__all__ = ["BuiltLesson", "build"]
