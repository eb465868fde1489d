"""Column rules shared by every clinic-table check (:mod:`smoulder.schema.tables`).

Each parser checks one column in a vectorised or compiled pass and raises an
:class:`~smoulder.exceptions.InputDataError` for the first offending row (as a spreadsheet numbers
it), with the count of the others; nothing is converted to Python objects unless there is an
error to report.

The parsers here work on pandas Series (tables given as DataFrames). Tables read from files arrive
as Arrow columns, which :mod:`smoulder.io._columns` parses with pyarrow and hands to the same
rules (this layer reads no files and imports no file library).
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

from smoulder._compiled import for_rows
from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.schema import _fastcheck as F
from smoulder.schema.dates import DateRule, DateScan
from smoulder.schema.report import IngestReport

DUPLICATE_POLICIES = ("error", "first", "last", "max", "min", "mean")
ON_MISSING = ("error", "drop")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
ISO_DATE = "an ISO date YYYY-MM-DD"

#: the input-report reason for ids written with spaces around them
STRIPPED_IDS = "subject ids with spaces around them, stripped (' p1' and 'p1' are one subject)"


# --------------------------------------------------------------------------- messages
def suggest(name: str, columns: list[str]) -> list[str]:
    """Column names close to ``name``: the same name in other letter case first."""
    same = [c for c in columns if c.lower() == name.lower()]
    lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.5)
    return list(dict.fromkeys(same + [lower[c] for c in close]))[:3]


def missing_column(
    role: str, col: str, columns: list[str], source: str, sep_hint: str = ""
) -> ColumnNotFoundError:
    """The error for a missing column: close names, or (``sep_hint``) the separator the header of
    a file seems to use."""
    close = [] if sep_hint else suggest(col, columns)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(columns[:30]) + (
        f" ... ({len(columns):,} in all)" if len(columns) > 30 else ""
    )
    return ColumnNotFoundError(
        f"missing {role} column '{col}'{hint}{sep_hint}; columns found: {shown}",
        file=source,
        column=col,
    )


class OneBad:
    """A stand-in for a boolean mask when only the first offender and the count are known."""

    def __init__(self, first: int, count: int) -> None:
        self.first = first
        self.count = count

    def any(self) -> bool:
        """Whether there is an offender at all."""
        return self.first >= 0


class Rows:
    """Spreadsheet row numbers of a table read in order: position + offset (header is row 1)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __getitem__(self, i: int) -> int:
        return int(i) + self.offset


def first_bad(
    mask: Any, rows: Any, values: Any, source: str, column: str, message: str, expected: str
) -> None:
    """Raise for the first True in ``mask``, with the count of the other bad rows.

    ``values`` gives the offending value for the message: an array, a function of the row
    position (so that nothing is converted unless there is an error), or None.
    """
    if not mask.any():
        return
    if isinstance(mask, OneBad):
        i, count = mask.first, mask.count
    else:
        bad = np.flatnonzero(mask)
        i, count = int(bad[0]), len(bad)
    more = f" (and {count - 1:,} more rows)" if count > 1 else ""
    if values is None:
        val = None
    elif callable(values):
        val = values(i)
    else:
        val = values[i]
    if isinstance(val, np.generic):
        val = val.item()
    raise InputDataError(
        message + more, file=source, row=int(rows[i]), column=column, value=val, expected=expected
    )


def pick(series: pd.Series) -> Any:
    """A lazy value getter for :func:`first_bad` over a pandas Series."""
    return lambda i: series.iloc[i]


# --------------------------------------------------------------------------- dates
def range_checked(
    days: np.ndarray, rows: Any, source: str, column: str, rule: DateRule
) -> DateScan:
    """Raise on the first impossible date; refuse future dates when the rule says so."""
    scan = rule.scan(days)
    if scan.first_impossible >= 0:
        first_bad(
            OneBad(scan.first_impossible, scan.n_impossible),
            rows,
            lambda i: str(np.datetime64(int(days[i]), "D")),
            source,
            column,
            "impossible date",
            rule.expected(),
        )
    if scan.n_future and rule.future == "refuse":
        first_bad(
            OneBad(scan.first_future, scan.n_future),
            rows,
            lambda i: str(np.datetime64(int(days[i]), "D")),
            source,
            column,
            "date in the future",
            f"a date up to {rule.last_ok} (--future-dates refuse); --future-dates warn keeps "
            "such dates, drop leaves them out",
        )
    return scan


def check_date_format(date_format: str) -> None:
    """Refuse a date format other than ``iso`` and ``day``."""
    if date_format not in ("iso", "day"):
        raise InputDataError(
            f"unknown date format {date_format!r}", expected="--date-format iso | day"
        )


def whole_day_numbers(vals: np.ndarray, rows: Any, source: str, column: str) -> np.ndarray:
    """``--date-format day``: whole day numbers (already parsed as floats), carried as dates from
    the day origin."""
    from smoulder.schema.dates import MAX_DAY_NUMBER, check_day_numbers, day_origin_number

    first_bad(
        np.isnan(vals), rows, None, source, column, "missing day number", "a whole number of days"
    )
    first, count = check_day_numbers(vals)
    if first >= 0:
        first_bad(
            OneBad(first, count),
            rows,
            vals,
            source,
            column,
            "not a whole day number",
            f"a whole number of days between -{MAX_DAY_NUMBER:,} and {MAX_DAY_NUMBER:,}",
        )
    out: np.ndarray = vals.astype(np.int64) + day_origin_number()
    return out


def series_day_numbers(
    s: pd.Series,
    rows: Any,
    source: str,
    column: str,
    rule: DateRule | None = None,
    date_format: str = "iso",
) -> tuple[np.ndarray, DateScan]:
    """Day numbers (days since 1970-01-01) of a date column given as a pandas Series.

    Datetimes are taken as they are (time-zone aware ones as local dates); text is parsed as ISO
    8601 and refused with the row when it is not a real calendar date. With ``date_format="day"``
    the cells are whole day numbers from each subject's start.
    """
    rule = rule or DateRule()
    check_date_format(date_format)
    if date_format == "day":
        vals = series_numbers(
            s, rows, source, column, expected="a whole number of days (--date-format day)"
        )
        return whole_day_numbers(vals, rows, source, column), DateScan(-1, 0, -1, 0)
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        d = s.to_numpy().astype("datetime64[D]")
        first_bad(np.isnat(d), rows, None, source, column, "missing date", ISO_DATE)
        out = d.astype(np.int64)
        return out, range_checked(out, rows, source, column, rule)
    if pd.api.types.is_integer_dtype(s):
        raise InputDataError(
            "dates are whole numbers",
            file=source,
            column=column,
            expected="ISO dates YYYY-MM-DD, or --date-format day when they are day numbers "
            "(days from each subject's start, as msprog's date_format='day')",
        )
    text = s.astype("string")
    first_bad(text.isna().to_numpy(), rows, None, source, column, "missing date", ISO_DATE)
    head = text.str.slice(0, 10)
    ok_shape = head.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").to_numpy(dtype=bool)
    if not ok_shape.all():
        first_bad(~ok_shape, rows, pick(text), source, column, "unparseable date", ISO_DATE)
    cells = head.to_numpy(dtype=object)
    try:
        out = cells.astype("datetime64[D]").astype(np.int64)
    except ValueError:  # a cell that is no calendar date (2021-02-30): find the first one
        failed = np.zeros(len(cells), dtype=bool)
        for i, c in enumerate(cells):
            try:
                np.datetime64(c, "D")
            except ValueError:
                failed[i] = True
        first_bad(
            failed,
            rows,
            pick(text),
            source,
            column,
            "impossible date",
            "a real calendar date YYYY-MM-DD",
        )
        raise  # pragma: no cover - every cell parsed one by one
    return out, range_checked(out, rows, source, column, rule)


def future_rows(
    days: np.ndarray, scan: DateScan, rule: DateRule, report: IngestReport, what: str
) -> np.ndarray | None:
    """Count future dates in the report (warn) or return the rows to leave out (drop)."""
    if not scan.n_future:
        return None
    report.add(rule.future_reason(what), scan.n_future, rejected=rule.future == "drop")
    if rule.future == "drop":
        mask: np.ndarray = rule.future_mask(days)
        return mask
    report.warnings.append(rule.future_warning(scan.n_future, what, report.source))
    return None


# --------------------------------------------------------------------------- ids, numbers, flags
def stripped(report: IngestReport | None, n: int) -> None:
    """Count ``n`` ids that had spaces around them."""
    if report is not None and n:
        report.add(STRIPPED_IDS, n, corrected=True)


def series_subjects(
    s: pd.Series, rows: Any, source: str, column: str, report: IngestReport | None = None
) -> pd.Categorical:
    """Subject ids of a Series as a categorical with sorted categories.

    Spaces around an id are stripped and the rows counted in ``report``: ids that differ only by
    surrounding spaces are one person (a spreadsheet's stray space never splits a subject).
    """
    missing = s.isna().to_numpy()
    first_bad(missing, rows, None, source, column, "missing subject id", "a subject id")
    raw = s.astype(str)
    strs = raw.str.strip()
    stripped(report, int((strs != raw).sum()))
    empty = (strs == "").to_numpy()
    first_bad(empty, rows, pick(raw), source, column, "empty subject id", "a subject id")
    return pd.Categorical(strs)


def series_numbers(
    s: pd.Series, rows: Any, source: str, column: str, expected: str = "a number"
) -> np.ndarray:
    """Numbers of a Series as float64 (missing cells NaN); text that is no number is refused."""
    vals: np.ndarray = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    bad_text = np.isnan(vals) & s.notna().to_numpy()
    first_bad(bad_text, rows, pick(s), source, column, "not a number", expected)
    return vals


def series_booleans(
    s: pd.Series, rows: Any, source: str, column: str, counts_ok: bool = False
) -> np.ndarray:
    """Yes/no values (true/false, yes/no, 1/0; with ``counts_ok`` lesion counts too) as bools."""
    expected = "true/false, yes/no or 1/0" + (" or a lesion count" if counts_ok else "")
    if pd.api.types.is_bool_dtype(s) and not s.isna().any():
        out: np.ndarray = s.to_numpy(dtype=bool)
        return out
    missing = s.isna().to_numpy()
    first_bad(missing, rows, None, source, column, "missing value", expected)
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=np.float64)
        bad = (v < 0) | (v != np.floor(v)) if counts_ok else ~np.isin(v, [0.0, 1.0])
        first_bad(bad, rows, v, source, column, "not a yes/no value", expected)
        return v > 0
    text = s.astype(str).str.strip().str.lower()
    is_t = text.isin(_TRUE).to_numpy()
    is_f = text.isin(_FALSE).to_numpy()
    if counts_ok:
        num = pd.to_numeric(text, errors="coerce").to_numpy()
        is_count = ~np.isnan(num) & (num >= 0) & (num == np.floor(num))
        is_t = is_t | (is_count & (num > 0))
        is_f = is_f | (is_count & (num == 0))
    first_bad(~(is_t | is_f), rows, pick(s), source, column, "not a yes/no value", expected)
    return is_t


# --------------------------------------------------------------------------- values
#: rows up to which an uncompiled row check runs as plain Python (a loop of ~1 us a row)
_INTERPRET_ROWS = 20_000


def check_values(
    values: np.ndarray, rows: Any, outcome: str, source: str, column: str, report: IngestReport
) -> None:
    """The outcome's value rules: EDSS on the 0.5 grid in [0, 10], positive times (missing-value
    codes such as 999 refused, long times counted), SDMT in [0, 110]; missing values refused."""
    name = outcome.upper() if outcome != "custom" else "value"
    rule = {
        "edss": F.RULE_EDSS,
        "t25fw": F.RULE_POSITIVE_TIME,
        "nhpt": F.RULE_POSITIVE_TIME,
        "sdmt": F.RULE_SDMT,
    }.get(outcome, F.RULE_FINITE)
    limit = 180.0 if outcome == "t25fw" else 300.0
    fn, nn, fb, nb, fc, nc, nh, nf = for_rows(F.check_values, len(values), _INTERPRET_ROWS)(
        np.ascontiguousarray(values, dtype=np.float64), rule, limit
    )

    def fail(first: int, count: int, message: str, expected: str, value: Any = True) -> None:
        mask = OneBad(first, count)
        first_bad(mask, rows, values if value else None, source, column, message, expected)

    if fn >= 0:
        fail(
            fn,
            nn,
            f"missing {name} value",
            "a number, or --on-missing drop to leave visits without one out (counted)",
            value=False,
        )
    if fb >= 0:
        msg, exp = {
            F.RULE_EDSS: (
                "EDSS must be between 0 and 10 on the 0.5 grid",
                "one of 0, 0.5, 1.0, ..., 10",
            ),
            F.RULE_POSITIVE_TIME: (f"{name} time must be positive", "seconds greater than 0"),
            F.RULE_SDMT: ("SDMT must be between 0 and 110", "points from 0 to 110"),
        }.get(rule, ("not a finite number", "a finite number"))
        fail(fb, nb, msg, exp)
    if fc >= 0:
        fail(
            fc,
            nc,
            f"{name} value looks like a missing-value code",
            "seconds (leave the cell empty when missing)",
        )
    if rule == F.RULE_POSITIVE_TIME and nh:
        report.warnings.append(f"{nh:,} {name} values above {limit:g} s (kept; check them)")
    if nf:
        report.warnings.append(f"{nf:,} SDMT values are not whole numbers (kept)")


def resolve_duplicates(
    df: pd.DataFrame,
    policy: str,
    outcome: str,
    source: str,
    report: IngestReport,
    value_col: str,
    date_col: str,
) -> pd.DataFrame:
    """Collapse several visits of one subject on one day according to ``policy``."""
    codes = df["subject"].cat.codes.to_numpy()
    days = df["date"].to_numpy()
    same = (codes[1:] == codes[:-1]) & (days[1:] == days[:-1])
    if not same.any():
        return df
    dup_rows = np.zeros(len(df), dtype=bool)
    dup_rows[1:] |= same
    dup_rows[:-1] |= same
    # group id of each run of equal (subject, day)
    grp = np.cumsum(np.r_[True, ~same])
    part = df.loc[dup_rows].copy()
    part["_grp"] = grp[dup_rows]
    vals = part.groupby("_grp")["value"]
    identical = (vals.transform("nunique") == 1).to_numpy()
    if policy == "error" and not identical.all():
        first_conflict = part.loc[~identical]
        g = first_conflict["_grp"].iloc[0]
        pair = part[part["_grp"] == g]
        n_groups = part.loc[~identical, "_grp"].nunique()
        more = f" ({n_groups - 1:,} more subject-days like this)" if n_groups > 1 else ""
        raise InputDataError(
            f"subject {pair['subject'].iloc[0]} has {len(pair)} visits on {pd.Timestamp(pair['date'].iloc[0]).date()} "
            f"with different values {pair['value'].tolist()} (rows {', '.join(str(r) for r in pair['row'])}){more}",
            file=source,
            row=int(pair["row"].iloc[1]),
            column=value_col,
            expected="one visit per subject and day, or a policy: --on-duplicate first|last|max|min|mean",
        )
    keep_first = ~np.r_[False, same]  # first row of each run
    ident_groups = set(part.loc[identical, "_grp"])
    n_ident = int(sum(1 for g in part["_grp"][identical]) - len(ident_groups))
    report.add("identical duplicate visits merged", n_ident, corrected=True)
    conflict_groups = part.loc[~identical, "_grp"]
    if len(conflict_groups):
        agg = {"first": "first", "last": "last", "max": "max", "min": "min", "mean": "mean"}[policy]
        merged = (
            part.loc[~identical]
            .groupby("_grp")
            .agg(
                value=("value", agg),
                validconf=("validconf", "any"),
                row=("row", "first" if policy != "last" else "last"),
            )
        )
        if policy == "mean" and outcome == "edss":
            merged["value"] = np.ceil(merged["value"] * 2) / 2
        n_conf = int(len(conflict_groups) - conflict_groups.nunique())
        report.add(
            f"conflicting duplicate visits resolved by policy '{policy}'", n_conf, corrected=True
        )
    out = df.loc[keep_first].copy()
    out_grp = grp[keep_first]
    vc_any = pd.Series(df["validconf"].to_numpy()).groupby(grp).any()
    out["validconf"] = vc_any.loc[out_grp].to_numpy()
    if len(conflict_groups):
        pos = pd.Index(out_grp).get_indexer(merged.index)
        vcol = out.columns.get_loc("value")
        rcol = out.columns.get_loc("row")
        out.iloc[pos, vcol] = merged["value"].to_numpy()
        out.iloc[pos, rcol] = merged["row"].to_numpy()
    return out


def ids_as_text(col: pd.Series) -> pd.Series:
    """A column as text, as ``astype(str)`` gives it; categories that already are text are
    looked up by code (a million subject ids in milliseconds instead of a second)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        codes = col.cat.codes.to_numpy()
        if cats.dtype == object and cats.inferred_type == "string" and (codes >= 0).all():
            return pd.Series(cats.to_numpy()[codes], index=col.index, dtype=object)
    return col.astype(str)
