"""Input contract for Kurtzke functional-system (FS) scores and the ambulation score.

Functional-system scores are optional columns of a visits table, one per system. Each is a whole
grade, empty when the system was not assessed. The valid range of each system:

============== ======= ==============================================================
system         grades  source
============== ======= ==============================================================
pyramidal      0-6     Kurtzke, Neurology 1983 (EDSS paper, FS definitions)
cerebellar     0-5     Kurtzke 1983
brainstem      0-5     Kurtzke 1983
sensory        0-6     Kurtzke 1983 (revised sensory system)
bowel/bladder  0-6     Kurtzke 1983 (revised bowel and bladder system); converted to 0-5
                       for the EDSS step (6->5, 5->4, 4->3)
visual         0-6     Kurtzke 1983; converted to 0-4 for the EDSS step (6->4, 5 and 4->3,
                       3 and 2->2)
cerebral       0-5     Kurtzke 1983 (mental functions)
ambulation     0-16    Neurostatus-EDSS scoring definitions (walking range and aids, 0 =
                       unrestricted); MSBase's iMed (the source of MSoutcomes' SampleData,
                       whose ``FSamb`` runs 0-11) merges grades 5-7 and 8-9 into a 0-13
                       scale: choose ``ambulation_scale="imed"`` to check against it
============== ======= ==============================================================

Kurtzke's scale has no ambulation *score* (walking range enters the EDSS step definitions
directly); the score comes from Neurostatus. :func:`validate_functional_systems` checks a table
against these ranges and names the file, row, column, value and the expected range of the first
bad cell (and how many more there are).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"FSpyr": [2, None], "FSamb": [0, 3]})
>>> fs = validate_functional_systems(t, {"pyramidal": "FSpyr", "ambulation": "FSamb"})
>>> fs.columns.tolist(), fs["pyramidal"].tolist()
(['pyramidal', 'ambulation'], [2.0, nan])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import ColumnNotFoundError, InputDataError

__all__ = [
    "FunctionalSystem",
    "FUNCTIONAL_SYSTEMS",
    "FS_NAMES",
    "ALL_SYSTEMS",
    "AMBULATION_SCALES",
    "MSOUTCOMES_COLUMNS",
    "system",
    "validate_functional_systems",
    "converted_visual",
    "converted_bowel_bladder",
]


@dataclass(frozen=True)
class FunctionalSystem:
    """One functional system: canonical column name, label, highest grade, source of the range."""

    name: str
    label: str
    high: int
    source: str


_KURTZKE = "Kurtzke, Neurology 1983"

#: The seven Kurtzke functional systems, in the order of MSoutcomes' columns.
FUNCTIONAL_SYSTEMS: tuple[FunctionalSystem, ...] = (
    FunctionalSystem("pyramidal", "pyramidal", 6, _KURTZKE),
    FunctionalSystem("cerebellar", "cerebellar", 5, _KURTZKE),
    FunctionalSystem("brainstem", "brainstem", 5, _KURTZKE),
    FunctionalSystem("sensory", "sensory", 6, _KURTZKE),
    FunctionalSystem("bowel_bladder", "bowel/bladder", 6, _KURTZKE),
    FunctionalSystem("visual", "visual", 6, _KURTZKE),
    FunctionalSystem("cerebral", "cerebral", 5, _KURTZKE),
)

#: Highest ambulation score on each scale.
AMBULATION_SCALES: dict[str, int] = {"neurostatus": 16, "imed": 13}
_AMB_SOURCE = {
    "neurostatus": "Neurostatus-EDSS ambulation score",
    "imed": "MSBase iMed ambulation score",
}

FS_NAMES: tuple[str, ...] = tuple(s.name for s in FUNCTIONAL_SYSTEMS)
ALL_SYSTEMS: tuple[str, ...] = FS_NAMES + ("ambulation",)

#: Column names of MSoutcomes' ``SampleData`` (and MSBase exports) for each system.
MSOUTCOMES_COLUMNS: dict[str, str] = {
    "pyramidal": "FSpyr",
    "cerebellar": "FScrbl",
    "brainstem": "FSbstem",
    "sensory": "FSsens",
    "bowel_bladder": "FSsph",
    "visual": "FSvis",
    "cerebral": "FScereb",
    "ambulation": "FSamb",
}


def system(name: str, ambulation_scale: str = "neurostatus") -> FunctionalSystem:
    """The :class:`FunctionalSystem` called ``name`` (``"ambulation"`` on the given scale)."""
    if name == "ambulation":
        if ambulation_scale not in AMBULATION_SCALES:
            raise InputDataError(
                f"unknown ambulation scale {ambulation_scale!r}",
                expected=" or ".join(repr(k) for k in AMBULATION_SCALES),
            )
        return FunctionalSystem(
            "ambulation",
            "ambulation",
            AMBULATION_SCALES[ambulation_scale],
            _AMB_SOURCE[ambulation_scale],
        )
    for s in FUNCTIONAL_SYSTEMS:
        if s.name == name:
            return s
    raise InputDataError(
        f"unknown functional system {name!r}", expected="one of " + ", ".join(ALL_SYSTEMS)
    )


def _first(mask: np.ndarray) -> tuple[int, int]:
    bad = np.flatnonzero(mask)
    return int(bad[0]), len(bad)


def validate_functional_systems(
    data: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    source: str = "<visits>",
    rows: Sequence[int] | np.ndarray | None = None,
    ambulation_scale: str = "neurostatus",
) -> pd.DataFrame:
    """Check functional-system columns of a visits table and return them as numbers.

    Parameters
    ----------
    data : DataFrame
        The visits table (one row per visit, in file order).
    columns : mapping
        Canonical system name (:data:`ALL_SYSTEMS`) -> column of ``data`` holding it.
    source : str
        File name for messages.
    rows : sequence of int, optional
        Spreadsheet row number of each row of ``data`` (default: position + 2, the header being
        row 1).
    ambulation_scale : {"neurostatus", "imed"}
        Range of the ambulation score: 0-16 or 0-13.

    Returns
    -------
    DataFrame
        One float column per given system, under its canonical name, in :data:`ALL_SYSTEMS`
        order, aligned with ``data`` (NaN where not assessed).

    Raises
    ------
    InputDataError
        For a text cell, a grade that is not whole, or a grade outside the system's range,
        naming file, row, column, value and the expected range.
    """
    unknown = [k for k in columns if k not in ALL_SYSTEMS]
    if unknown:
        raise InputDataError(
            f"unknown functional system {unknown[0]!r}", expected="one of " + ", ".join(ALL_SYSTEMS)
        )
    present = [str(c) for c in data.columns]
    row_no = np.arange(len(data)) + 2 if rows is None else np.asarray(rows)
    out: dict[str, np.ndarray] = {}
    for name in ALL_SYSTEMS:
        if name not in columns:
            continue
        col = columns[name]
        if col not in present:
            raise ColumnNotFoundError(
                f"missing {system(name, ambulation_scale).label} score column '{col}'. "
                f"Columns found: {', '.join(present)}",
                file=source,
                column=col,
            )
        fs = system(name, ambulation_scale)
        raw = data[col].reset_index(drop=True)
        expected = (
            f"a whole number from 0 to {fs.high} ({fs.source}), or an empty cell when not assessed"
        )
        values = _numbers(raw)
        text = np.isnan(values) & _filled(raw)
        if text.any():
            i, n = _first(text)
            _raise(
                f"{fs.label} score is not a number",
                n,
                source,
                row_no[i],
                col,
                raw.iloc[i],
                expected,
            )
        ok = ~np.isnan(values)
        frac = ok & (values != np.floor(values))
        if frac.any():
            i, n = _first(frac)
            _raise(
                f"{fs.label} score is not a whole grade",
                n,
                source,
                row_no[i],
                col,
                values[i],
                expected,
            )
        outside = ok & ((values < 0) | (values > fs.high))
        if outside.any():
            i, n = _first(outside)
            _raise(f"{fs.label} score out of range", n, source, row_no[i], col, values[i], expected)
        out[name] = values
    return pd.DataFrame(out, index=data.index)


_MISSING_TEXT = {"", "na", "n/a", "nan", "null", "none", "."}


def _filled(raw: pd.Series) -> np.ndarray:
    """Cells that hold something (not NaN and not a missing-value word)."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.notna().to_numpy()
    s = raw.astype("string").str.strip().str.lower()
    return (raw.notna() & ~s.isin(_MISSING_TEXT).fillna(True)).to_numpy(dtype=bool)


def _numbers(raw: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(raw):
        return np.full(len(raw), np.nan)  # true/false is no grade: reported as text below
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(raw.astype("string").str.strip(), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _raise(
    message: str, count: int, source: str, row: Any, column: str, value: Any, expected: str
) -> None:
    more = f" (and {count - 1:,} more rows)" if count > 1 else ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    raise InputDataError(
        message + more, file=source, row=int(row), column=column, value=value, expected=expected
    )


_VISUAL = np.array([0, 1, 2, 2, 3, 3, 4], dtype=np.float64)
_BOWEL_BLADDER = np.array([0, 1, 2, 3, 3, 4, 5], dtype=np.float64)


def converted_visual(raw: np.ndarray | float) -> np.ndarray:
    """Visual grades 0-6 converted to the 0-4 scale used for the EDSS step (Kurtzke 1983)."""
    r = np.asarray(raw, dtype=np.float64)
    out = np.full(r.shape, np.nan)
    ok = ~np.isnan(r)
    out[ok] = _VISUAL[r[ok].astype(np.int64)]
    return out


def converted_bowel_bladder(raw: np.ndarray | float) -> np.ndarray:
    """Bowel/bladder grades 0-6 converted to the 0-5 scale used for the EDSS step."""
    r = np.asarray(raw, dtype=np.float64)
    out = np.full(r.shape, np.nan)
    ok = ~np.isnan(r)
    out[ok] = _BOWEL_BLADDER[r[ok].astype(np.int64)]
    return out
