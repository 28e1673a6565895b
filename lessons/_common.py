"""Kept for old copies of the lessons: the helpers now live in :mod:`tinybgn.course`."""

from tinybgn.course import FAST, figure_dir, mnist_dir, save_figure

FIG_DIR = figure_dir()

__all__ = ["FAST", "FIG_DIR", "figure_dir", "mnist_dir", "save_figure"]
