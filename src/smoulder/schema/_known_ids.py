"""Event tables' subject ids against the visits' ids: lookups a file's columns can do fast, the
visits' categorical dtype reused, and dated events sorted with exact repeats merged (helpers of
:mod:`smoulder.schema.tables`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smoulder.schema import _fastcheck as F
from smoulder.schema.report import IngestReport


def _known_codes(
    cols: Any,
    subject_col: str,
    rows: np.ndarray,
    source: str,
    report: IngestReport,
    known_subjects: Any,
) -> tuple[np.ndarray, int] | None:
    """Codes of each row's subject in ``known_subjects`` (-1: not there) and how many distinct
    unknown ids, from a column source that can look them up itself (a file's Arrow columns);
    None when it cannot (then the ids are numbered and matched with pandas)."""
    finder = getattr(cols, "known_subject_codes", None)
    if finder is None or known_subjects is None:
        return None
    known = _as_str_index(known_subjects)
    if not (known.is_monotonic_increasing and known.is_unique):
        return None
    got: tuple[np.ndarray, int] | None = finder(subject_col, rows, source, report, known)
    return got


def _positions(cols: Any, known: pd.Index, ids: pd.Index) -> np.ndarray:
    """Where each of ``ids`` is in ``known`` (-1: not there); a column source read from a file
    may look them up faster (Arrow hashes a million ids in a fraction of pandas' time)."""
    finder = getattr(cols, "positions", None)
    if finder is not None:
        found = finder(known, ids)
        if found is not None:
            out: np.ndarray = found
            return out
    res: np.ndarray = known.get_indexer(ids)
    return res


def _known_dtype(known_subjects: Any, known: pd.Index) -> pd.CategoricalDtype:
    """The visits table's categorical dtype for ``known`` (unique and sorted, checked)."""
    dtype = getattr(known_subjects, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is known:
        return dtype
    fast = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    if fast is not None:
        out: pd.CategoricalDtype = fast(known, False)
        return out
    return pd.CategoricalDtype(known)


def _as_str_index(values: Any) -> pd.Index:
    """An Index of ids as strings, reusing ``values`` when it already is one (and its hash table)."""
    if isinstance(values, pd.Index) and values.dtype == object:
        return values
    return pd.Index(np.asarray(values, dtype=object)).astype(str)


def _sorted_unique_events(df: pd.DataFrame, report: IngestReport, reason: str) -> pd.DataFrame:
    """Sort dated events by subject and date (if needed) and merge exact (subject, date) repeats."""
    codes = (
        df["subject"].cat.codes.to_numpy()
        if isinstance(df["subject"].dtype, pd.CategoricalDtype)
        else None
    )
    if codes is None:
        df = df.sort_values(["subject", "date"], kind="stable")
        dup = df.duplicated(["subject", "date"]).to_numpy() if len(df) else np.zeros(0, bool)
    else:
        days = df["date"].to_numpy().view(np.int64)
        is_sorted, has_dup = F.order_state(codes, days)
        if not is_sorted:
            order = np.lexsort((days, codes))  # stable: the first of repeats stays first
            df = df.iloc[order]
            codes, days = codes[order], days[order]
        # sorted: a repeat of (subject, date) is the row after its first
        dup = np.zeros(len(df), dtype=bool)
        if len(df) > 1 and (has_dup or not is_sorted):
            dup[1:] = (codes[1:] == codes[:-1]) & (days[1:] == days[:-1])
    if dup.any():
        report.add(reason, int(dup.sum()), corrected=True)
        df = df.loc[~dup]
    return df.reset_index(drop=True)
