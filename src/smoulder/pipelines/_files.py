"""Small helpers shared by the pipelines of this module group: inputs as files or frames, and
all-or-nothing output writing through :class:`smoulder.io.outputs.OutputPlan` (outputs that
are inputs are refused; everything is written in a staging folder and renamed into place at the end;
on any error nothing is left behind)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.exceptions import SettingsError
from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan, Staging

__all__ = [
    "atomic_outputs",
    "output_plan",
    "load_table",
    "check_output_path",
    "settings_from",
    "FIGURE_FORMATS",
    "FIGURE_DPI",
    "save_figure",
    "figure_paths",
    "write_beside",
    "methods_text",
    "draw_into",
]

#: every figure is written in each of these formats (PNG for screens, SVG and PDF for papers)
FIGURE_FORMATS = ("png", "svg", "pdf")
#: resolution of the PNG (and of anything rasterised in the PDF)
FIGURE_DPI = 300


def _file_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Path]:
    """The inputs given as files (DataFrames need no protection), by their flag."""
    return {k: Path(v) for k, v in (inputs or {}).items() if isinstance(v, (str, os.PathLike))}


def check_output_path(
    out: str | Path, flag: str = "--out", inputs: Mapping[str, Any] | None = None
) -> Path:
    """Refuse, before any work, an output table that cannot or must not be written.

    The checks are those of :class:`smoulder.io.outputs.OutputPlan`: a folder, a parent that is a
    file, an unwritable folder, a suffix other than a table's, or one of the ``inputs``.
    """
    plan = OutputPlan(_file_inputs(inputs))
    plan.add(out, flag, suffixes=TABLE_SUFFIXES)
    plan.check()
    return Path(out)


def output_plan(
    paths: Iterable[str | Path], inputs: Mapping[str, Any] | None = None, flag: str = "--out"
) -> OutputPlan:
    """The :class:`~smoulder.io.outputs.OutputPlan` of ``paths`` beside the file ``inputs``.

    Call ``.check()`` on it before any work and ``.staged()`` to write all or nothing.
    """
    plan = OutputPlan(_file_inputs(inputs))
    for p in paths:
        plan.add(p, flag)
    return plan


@contextmanager
def atomic_outputs(
    paths: Iterable[str | Path], inputs: Mapping[str, Any] | None = None
) -> Iterator[Staging]:
    """Write ``paths`` all or nothing: ``files.path(final)`` is where to write each of them now.

    A thin use of :class:`smoulder.io.outputs.OutputPlan`: files are written in a staging folder
    and renamed into place only when every one of them was written.
    """
    with output_plan(paths, inputs).staged() as stage:
        yield stage


def load_table(data: Any, what: str) -> tuple[pd.DataFrame, str]:
    """A DataFrame and its name for messages, from a path (CSV/TSV/Parquet) or a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True), f"<{what}>"
    from smoulder.io.tables import read_table

    return read_table(data), str(data)


def settings_from(cls: Any, settings: Any, overrides: dict[str, Any]) -> Any:
    """A settings object of ``cls`` from an instance, a mapping or None, plus overrides."""
    if settings is None:
        return cls.from_mapping({}, **overrides)
    if isinstance(settings, cls):
        return settings.replace(**{k: v for k, v in overrides.items() if v is not None})
    if isinstance(settings, dict):
        return cls.from_mapping(settings, **overrides)
    raise SettingsError(
        f"settings must be {cls.__name__} or a mapping (got {type(settings).__name__})"
    )


_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "png": {"pil_kwargs": {"compress_level": 1}},
    "svg": {"metadata": {"Date": None}},
    "pdf": {"metadata": {"CreationDate": None}},
}


def save_figure(fig: Any, base: str | Path) -> dict[str, Path]:
    """Write ``fig`` as ``<base>.png``, ``.svg`` and ``.pdf`` at 300 dpi and close it.

    Call it inside a staging (``base`` a staged path) so that the three are written all or
    nothing. Returns the path of each format by its suffix (``png``, ``svg``, ``pdf``).

    A figure placed by hand (:func:`smoulder.clinical.plots.new_figure`) is drawn once per
    format and nothing else; any other figure is first measured once for its tight box, which
    all three formats then use. The PNG is compressed lightly (zlib level 1: about twice the
    bytes of the default level, for a fraction of the time); SVG and PDF carry no date, so the
    same figure gives the same bytes on every run.
    """
    import matplotlib as mpl

    paths = {}
    try:
        box: Any = None
        if not getattr(fig, "smoulder_fixed_layout", False):
            # the tight box is measured once (one draw at screen resolution) and used by all
            # three formats: "tight" would draw the figure twice per format, once to measure it
            fig.canvas.draw()
            box = fig.get_tightbbox(fig.canvas.get_renderer())
            box = box.padded(mpl.rcParams["savefig.pad_inches"])
        for ext in FIGURE_FORMATS:
            paths[ext] = Path(f"{base}.{ext}")
            options: dict[str, Any] = _SAVE_OPTIONS[ext]
            fig.savefig(paths[ext], dpi=FIGURE_DPI, bbox_inches=box, **options)
    finally:
        if getattr(fig.canvas, "manager", None) is not None:  # a pyplot figure: forget it
            import matplotlib.pyplot as plt

            plt.close(fig)
    return paths


def figure_paths(key: str, written: Mapping[str, Path]) -> dict[str, Path]:
    """``key`` for the PNG (as before), ``key_svg`` and ``key_pdf`` for the others."""
    return {(key if ext == "png" else f"{key}_{ext}"): p for ext, p in written.items()}


def write_beside(
    out: str | Path,
    planned: list[Path],
    write_files: Callable[[Path], Mapping[str, Path]],
) -> dict[str, Path]:
    """Write a result's files beside ``out`` (the first of ``planned``), all or nothing.

    ``write_files`` gets the staged path of ``out`` and returns the files it wrote (key ->
    staged path); the answer names the same files where they land, beside ``out``. The closing
    lines every table pipeline's ``write`` shares.
    """
    from smoulder.pipelines._clinical import staged

    out = Path(out)
    with staged(out, planned, flag="out") as stage:
        written = write_files(stage.path(out))
    return landed(out, written)


def landed(out: Path, written: Mapping[str, Path]) -> dict[str, Path]:
    """The staged files of ``written`` where they land: beside ``out``, under the same names."""
    return {k: out.parent / v.name for k, v in written.items()}


def methods_text(methods: str, notes: Iterable[str]) -> str:
    """A methods paragraph and, when there are any, the notes on the input as a list."""
    notes = list(notes)
    text = methods + "\n"
    if notes:
        text += "\nNotes on the input:\n" + "".join(f"- {n}\n" for n in notes)
    return text


def draw_into(stage: Staging, base: Path, draw: Callable[[], Any]) -> dict[str, Path]:
    """Draw a figure (``draw()`` returns it) and save it in ``stage`` as ``<base>.png/.svg/.pdf``.

    Returns the final paths by format (``png``, ``svg``, ``pdf``), as :func:`save_figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    fig = draw()
    staged_base = stage.path(Path(f"{base}.png")).with_suffix("")
    written = save_figure(fig, staged_base)
    return {ext: Path(f"{base}.{ext}") for ext in written}
