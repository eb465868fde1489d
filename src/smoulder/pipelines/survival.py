"""Writing a Kaplan-Meier estimate: the curve table, its summary and the figure.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> from smoulder.clinical.survival import kaplan_meier
>>> tte = pd.DataFrame(
...     {"subject": ["a", "b"], "duration_days": [100.0, 300.0], "event": [True, False]}
... )
>>> out = pathlib.Path(tempfile.mkdtemp()) / "km.csv"
>>> sorted(kaplan_meier(tte).write(out, plots=False))
['curve', 'summary']
"""

from __future__ import annotations

from pathlib import Path

from smoulder.clinical.survival import KMResult
from smoulder.pipelines._files import FIGURE_FORMATS, figure_paths, save_figure, write_beside

__all__ = ["write", "planned_outputs"]


def planned_outputs(out: Path, *, plots: bool = True) -> list[Path]:
    """The curve table, its summary and (with ``plots``) the figure.

    Parameters
    ----------
    out : Path
        The curve table; the others are named after its stem.
    plots : bool
        Include the figure (``<stem>.png``, ``.svg`` and ``.pdf``).

    Returns
    -------
    list of Path
        ``out``, ``<stem>_summary`` and maybe the figure's three files.
    """
    stem = out.with_suffix("")
    paths = [out, Path(f"{stem}_summary{out.suffix}")]
    return paths + ([Path(f"{stem}.{ext}") for ext in FIGURE_FORMATS] if plots else [])


def write(result: KMResult, out: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Write ``result`` next to ``out`` (the curve table), all or nothing.

    Parameters
    ----------
    result : KMResult
        A Kaplan-Meier result (its curve table, summary and figure are written).
    out : path
        The curve table (``.csv``, ``.tsv`` or ``.parquet``).
    plots : bool
        Also draw the curve as published (censoring ticks, number at risk, outlined bands,
        cut where fewer than ``result.settings.min_at_risk`` remain at risk) in
        ``<stem>.png``, ``.svg`` and ``.pdf`` at 300 dpi.

    Returns
    -------
    dict of str to Path
        The written files: ``curve``, ``summary`` and, with ``plots``, ``plot`` (the PNG),
        ``plot_svg`` and ``plot_pdf``.

    Raises
    ------
    OutputError
        An output that cannot be written or has the wrong suffix (nothing is then written).
    """
    from smoulder.io.tables import write_table

    out = Path(out)
    planned = planned_outputs(out, plots=plots)

    def write_files(at: Path) -> dict[str, Path]:
        paths = {"curve": at, "summary": Path(f"{at.with_suffix('')}_summary{at.suffix}")}
        write_table(result.table, paths["curve"])
        write_table(result.summary, paths["summary"])
        if plots:
            import matplotlib

            matplotlib.use("Agg")
            paths.update(figure_paths("plot", save_figure(result.plot(), at.with_suffix(""))))
        return paths

    return write_beside(out, planned, write_files)
