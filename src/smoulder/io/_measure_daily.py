"""Duplicates and daily values of the long table (:func:`smoulder.io.measures.validate_measures`).

The working columns are flat arrays of codes (:class:`_Cols`); rows of one subject, measure and
time are merged or resolved by the duplicate policy, then combined into one value per day by the
catalogue's ``daily`` rule. Messages name rows as :mod:`smoulder.io.measures` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.schema.catalogue import Measure

Labels = Sequence[str] | Callable[[int, str], str] | None


def _raise_at(
    i: int,
    labels: Labels,
    source: str,
    column: str,
    message: str,
    value: Any,
    expected: str,
    count: int = 1,
) -> None:
    """Raise an InputDataError for position ``i`` (row number, or a label such as a JSON path)."""
    more = f" (and {count - 1:,} more rows)" if count > 1 else ""
    if isinstance(value, np.generic):
        value = value.item()
    if callable(labels):
        raise InputDataError(
            message + more, file=f"{source}, {labels(i, column)}", value=value, expected=expected
        )
    if labels is not None:
        raise InputDataError(
            message + more,
            file=f"{source}, {labels[i]}",
            column=column,
            value=value,
            expected=expected,
        )
    raise InputDataError(
        message + more, file=source, row=int(i) + 2, column=column, value=value, expected=expected
    )


def _where(i: int, labels: Labels, column: str) -> str:
    """The name of row ``i`` in messages: a spreadsheet row, a label, or a labelled cell."""
    if callable(labels):
        return labels(i, column)
    return labels[i] if labels is not None else f"row {i + 2}"


@dataclass
class _Cols:
    """The working columns of a long table as flat arrays (codes, not strings)."""

    subj: np.ndarray
    meas: np.ndarray
    timed: np.ndarray
    key: np.ndarray
    value: np.ndarray
    day: np.ndarray
    pos: np.ndarray

    def take(self, idx: np.ndarray) -> _Cols:
        return _Cols(
            *(
                getattr(self, f)[idx]
                for f in ("subj", "meas", "timed", "key", "value", "day", "pos")
            )
        )


def _starts(*cols: np.ndarray) -> np.ndarray:
    """True where a row begins a new run of equal values in all ``cols`` (rows already sorted)."""
    n = len(cols[0])
    new = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for c in cols:
            same &= c[1:] == c[:-1]
        new[1:] = ~same
    return new


def _resolve_duplicates(
    c: _Cols,
    policy: str,
    labels: Labels,
    source: str,
    value_col: str,
    report: IngestReport,
    subjects: np.ndarray,
    names: np.ndarray,
) -> _Cols:
    """Merge identical rows of one subject, measure and time; resolve or reject conflicting ones."""
    o = np.lexsort((c.pos, c.value, c.key, c.timed, c.meas, c.subj))
    c = c.take(o)
    ident = ~_starts(c.subj, c.meas, c.timed, c.key, c.value)
    if ident.any():
        report.add("identical duplicate rows merged", int(ident.sum()), corrected=True)
        c = c.take(np.flatnonzero(~ident))
    new = _starts(c.subj, c.meas, c.timed, c.key)
    if new.all():
        return c
    gid = np.cumsum(new) - 1
    size = np.bincount(gid)
    clash = size[gid] > 1
    n_extra = int(clash.sum() - (size > 1).sum())
    if policy == "error":
        # the conflict that starts earliest in the file, its first two rows in file order
        rows = np.flatnonzero(clash)
        rows = rows[np.lexsort((c.pos[rows], gid[rows]))]
        first_pos = np.minimum.reduceat(c.pos[rows], np.flatnonzero(_starts(gid[rows])))
        g = np.unique(gid[rows])[int(np.argmin(first_pos))]
        pair = rows[gid[rows] == g][:2]
        i0, i1 = int(c.pos[pair[0]]), int(c.pos[pair[1]])
        _raise_at(
            i1,
            labels,
            source,
            value_col,
            f"conflicting duplicate: {names[int(c.meas[pair[0]])]} of subject {subjects[int(c.subj[pair[0]])]!r} "
            f"at the same time as {_where(i0, labels, value_col)} has a different value "
            f"({c.value[pair[0]]:g} and {c.value[pair[1]]:g} at {_where(i1, labels, value_col)})",
            None,
            "one value per subject, measure and time, or a policy: --on-duplicate "
            "first|last|max|min|mean",
            n_extra,
        )
    # in each group: rows in file order
    o = np.lexsort((c.pos, gid))
    c, gid = c.take(o), gid[o]
    begin = np.flatnonzero(_starts(gid))
    end = np.append(begin[1:], len(gid)) - 1
    if policy == "first":
        out = c.take(begin)
    elif policy == "last":
        out = c.take(end)
        out.pos = c.pos[begin]
    else:
        out = c.take(begin)
        if policy == "max":
            out.value = np.maximum.reduceat(c.value, begin)
        elif policy == "min":
            out.value = np.minimum.reduceat(c.value, begin)
        else:
            out.value = np.add.reduceat(c.value, begin) / np.diff(np.append(begin, len(gid)))
    report.add(f"conflicting duplicate rows resolved ({policy})", n_extra, corrected=True)
    return out


def _to_daily(
    c: _Cols, report: IngestReport, subjects: np.ndarray, measures: list[Measure]
) -> pd.DataFrame:
    """One row per subject, measure and day, combined by each measure's catalogue rule."""
    o = np.lexsort((c.pos, c.key, c.day, c.meas, c.subj))
    c = c.take(o)
    begin = np.flatnonzero(_starts(c.subj, c.meas, c.day))
    count = np.diff(np.append(begin, len(c.pos)))
    last = begin + count - 1
    value = c.value[begin].copy()
    multi = count > 1
    if multi.any():
        rules = np.array([m.daily for m in measures], dtype=object)[c.meas[begin]]
        sums = np.add.reduceat(c.value, begin)
        by_rule = {
            "sum": sums,
            "mean": sums / count,
            "max": np.maximum.reduceat(c.value, begin),
            "min": np.minimum.reduceat(c.value, begin),
            "last": c.value[last],  # rows of a day are in time order
        }
        if "median" in set(rules[multi].tolist()):
            gid = np.repeat(np.arange(len(begin)), count)
            srt = c.value[np.lexsort((c.value, gid))]
            lo = srt[begin + (count - 1) // 2]
            hi = srt[begin + count // 2]
            by_rule["median"] = (lo + hi) / 2
        for rule, v in by_rule.items():
            pick = multi & (rules == rule)
            value[pick] = v[pick]
        report.add(
            "rows at several times of one day combined into the daily value (catalogue rule)",
            int(count[multi].sum() - multi.sum()),
            corrected=True,
        )
    subj, meas, day = c.subj[begin], c.meas[begin], c.day[begin]
    o = np.lexsort((meas, day, subj))
    return pd.DataFrame(
        {
            "subject": subjects[subj[o]],
            "date": (day[o] * 86400).astype("datetime64[s]"),
            "measure": np.array([m.name for m in measures], dtype=object)[meas[o]],
            "value": value[o].astype(np.float64),
            "unit": np.array([m.unit for m in measures], dtype=object)[meas[o]],
        }
    )
