"""One pattern for the result of every analysis.

A result is a plain object holding tables (pandas DataFrames) and the :class:`~smoulder._params.
Settings` that produced them, in the manner of lifelines' fitters:

``settings``
    the frozen settings object of the run;
``version``
    the smoulder version that computed it;
``summary``
    a DataFrame (one row per subject, lesion or measure: whatever the analysis summarises);
``methods()``
    a methods-section paragraph that states exactly what was run, with its parameters;
``tables()``
    every table the result holds, by the name it is written under;
``plot()``
    the analysis's figure on a matplotlib axes (engines draw; they never save);
``write(out)``
    every output file, written by the analysis's pipeline (:mod:`smoulder.pipelines`).

Engines compute results and never open files. :meth:`AnalysisResult.write` is the one place where
code below the pipelines calls up into them, as :meth:`pandas.DataFrame.to_parquet` calls pandas'
I/O layer: it is a convenience for the Python API, and the import happens only when it is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from smoulder._params import Settings

__all__ = ["AnalysisResult"]


class AnalysisResult:
    """Base class (a mixin usable with dataclasses) of every analysis result.

    Subclasses set ``pipeline`` to the module of :mod:`smoulder.pipelines` that writes them and
    provide ``settings``, ``version``, :attr:`summary`, :meth:`methods` and :meth:`tables`;
    :meth:`plot` where the analysis has a figure.
    """

    #: The pipeline module that writes this kind of result (``"smoulder.pipelines.progression"``).
    pipeline: ClassVar[str] = ""

    settings: Settings
    version: str

    @property
    def summary(self) -> pd.DataFrame:
        """The result's summary table."""
        raise NotImplementedError(f"{type(self).__name__} has no summary")

    def methods(self) -> str:
        """A methods-section paragraph describing what was run, with its parameters."""
        raise NotImplementedError(f"{type(self).__name__} has no methods paragraph")

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result, by the name it is written under."""
        return {"summary": self.summary}

    def plot(self, *args: Any, **kwargs: Any) -> Any:
        """Draw the analysis's figure; returns the matplotlib axes (or figure)."""
        raise NotImplementedError(f"{type(self).__name__} has no plot")

    def write(self, out: str | Path, **options: Any) -> dict[str, Path]:
        """Write every output file of the result to ``out``; return the paths by name.

        Outputs are written to temporary names and renamed into place only when all of them
        succeeded, so a failure leaves nothing behind.
        """
        from smoulder.pipelines import write_result  # the one upward call (see module docs)

        return write_result(self, out, **options)
