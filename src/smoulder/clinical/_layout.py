"""Figures placed without drawing them: sizes in inches, fonts in points, no pyplot.

matplotlib's ``tight_layout`` and ``bbox_inches="tight"`` draw a figure to measure it, and a
tick locator that depends on the axes' size needs a draw before its ticks are known. The figures
of :mod:`smoulder.clinical.plots` instead place every axes from known sizes and fix every tick in
advance, so that saving draws each figure once per format and nothing else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PAGE_WIDTH", "new_figure", "axes_at", "text_width", "fixed_labels"]

#: width of every figure, in inches: a page's text width (2,160 pixels at 300 dpi)
PAGE_WIDTH = 7.2
_PT = 1 / 72  # inches per point
_CHAR = 0.6  # a generous mean character width of the default font, in font sizes


def new_figure(width: float, height: float) -> Any:
    """An empty matplotlib Figure of ``width`` x ``height`` inches on the Agg canvas, without
    pyplot (no global figure registry, nothing to close). Marked as placed by hand, so that
    :func:`~smoulder.pipelines._files.save_figure` saves it without a tight-box pass."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.smoulder_fixed_layout = True  # type: ignore[attr-defined]
    return fig


def axes_at(fig: Any, left: float, bottom: float, width: float, height: float, **kw: Any) -> Any:
    """An axes placed in inches from the figure's lower left corner."""
    w, h = fig.get_size_inches()
    return fig.add_axes((left / w, bottom / h, width / w, height / h), **kw)


def text_width(text: str, size: float) -> float:
    """A generous estimate of the width of ``text`` at ``size`` points, in inches (no drawing)."""
    return len(text) * _CHAR * size * _PT


def fixed_labels(ax: Any, left_in: float, below_in: float) -> None:
    """Put the axis labels ``left_in`` inches left of the axes and ``below_in`` inches under it:
    matplotlib then places them without measuring the tick labels (of every shared axes)."""
    pos = ax.get_position()
    fw, fh = ax.figure.get_size_inches()
    ax.yaxis.set_label_coords(-left_in / (pos.width * fw), 0.5)
    ax.xaxis.set_label_coords(0.5, -below_in / (pos.height * fh))
