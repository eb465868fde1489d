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
from smoulder.pipelines._clinical import staged

__all__ = ["write", "planned_outputs"]


def planned_outputs(out: Path, *, plots: bool = True) -> list[Path]:
    """The curve table, its summary and (with ``plots``) the figure.

    Parameters
    ----------
    out : Path
        The curve table; the others are named after its stem.
    plots : bool
        Include the figure (``<stem>.png``).

    Returns
    -------
    list of Path
        ``out``, ``<stem>_summary`` and maybe ``<stem>.png``.
    """
    stem = out.with_suffix("")
    paths = [out, Path(f"{stem}_summary{out.suffix}")]
    return paths + ([Path(f"{stem}.png")] if plots else [])


def write(result: KMResult, out: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Write ``result`` next to ``out`` (the curve table), all or nothing.

    Parameters
    ----------
    result : KMResult
        A Kaplan-Meier result (its curve table, summary and figure are written).
    out : path
        The curve table (``.csv``, ``.tsv`` or ``.parquet``).
    plots : bool
        Also draw the curve (``<stem>.png``).

    Returns
    -------
    dict of str to Path
        The written files: ``curve``, ``summary`` and, with ``plots``, ``plot``.

    Raises
    ------
    OutputError
        An output that cannot be written or has the wrong suffix (nothing is then written).
    """
    from smoulder.io.tables import write_table

    out = Path(out)
    planned = planned_outputs(out, plots=plots)
    with staged(out, planned, flag="out") as stage:
        staged_paths = [stage.path(p) for p in planned]
        write_table(result.table, staged_paths[0])
        write_table(result.summary, staged_paths[1])
        if plots:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig = result.plot()
            fig.savefig(staged_paths[2], dpi=110, bbox_inches="tight")
            plt.close(fig)
    names = ["curve", "summary", "plot"]
    return dict(zip(names, planned, strict=False))
