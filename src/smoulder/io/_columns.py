"""Column parsers shared by the clinic-table readers (:mod:`smoulder.io.tables`).

Each parser checks one column in a vectorised or compiled pass and raises an
:class:`~smoulder.exceptions.InputDataError` for the first offending row (as a spreadsheet numbers
it), with the count of the others; nothing is converted to Python objects unless there is an
error to report.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smoulder.exceptions import ColumnNotFoundError, InputDataError
from smoulder.io.ingest import IngestReport
from smoulder.schema.dates import DateRule, DateScan

DUPLICATE_POLICIES = ("error", "first", "last", "max", "min", "mean")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def suggest(name: str, columns: list[str]) -> list[str]:
    """Column names close to ``name``: the same name in other letter case first."""
    same = [c for c in columns if c.lower() == name.lower()]
    lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.5)
    return list(dict.fromkeys(same + [lower[c] for c in close]))[:3]


def missing_column(role: str, col: str, columns: list[str], source: str) -> ColumnNotFoundError:
    """The error for a missing column: close names, or the separator the header seems to use."""
    from smoulder.io.delimited import delimiter_hint

    sep_hint = delimiter_hint(columns[0], ",") if len(columns) == 1 else ""
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


def _require(columns: list[str], needed: dict[str, str | None], source: str) -> None:
    for role, col in needed.items():
        if col is not None and col not in columns:
            raise missing_column(role, col, columns, source)


def _first_bad(
    mask: Any, rows: Any, values: Any, source: str, column: str, message: str, expected: str
) -> None:
    """Raise for the first True in ``mask``, with the count of the other bad rows.

    ``values`` gives the offending value for the message: an array, a function of the row
    position (so that nothing is converted unless there is an error), or None.
    """
    if not mask.any():
        return
    if isinstance(mask, _OneBad):
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


def _pick(arr: Any) -> Any:
    """A lazy value getter for :func:`_first_bad` over an Arrow array or pandas Series."""
    if isinstance(arr, pd.Series):
        return lambda i: arr.iloc[i]
    return lambda i: arr[i].as_py()


def _dates(
    arr: pa.ChunkedArray | pa.Array | pd.Series,
    rows: Any,
    source: str,
    column: str,
    rule: DateRule | None = None,
    date_format: str = "iso",
) -> tuple[np.ndarray, DateScan]:
    """Parse a date column to datetime64[D], raising on the first unparseable or impossible date."""
    days, scan = _day_numbers(arr, rows, source, column, rule, date_format)
    return days.astype("datetime64[D]"), scan


def _day_numbers(
    arr: pa.ChunkedArray | pa.Array | pd.Series,
    rows: Any,
    source: str,
    column: str,
    rule: DateRule | None = None,
    date_format: str = "iso",
) -> tuple[np.ndarray, DateScan]:
    """Parse a date column to day numbers (days since 1970-01-01), checking every value.

    Dates already typed as dates (Parquet, or CSV cells pyarrow recognised) are checked in one
    compiled pass without copies; text is parsed as ISO 8601 and rejected with the row when it is
    not a real calendar date. With ``date_format="day"`` the cells are whole day numbers from each
    subject's start (msprog's ``date_format="day"``). Returns the days and the scan of future
    dates (:mod:`smoulder.schema.dates`); impossible dates raise.
    """
    rule = rule or DateRule()
    if date_format == "day":
        return _day_count_numbers(arr, rows, source, column)
    if date_format != "iso":
        raise InputDataError(
            f"unknown date format {date_format!r}", expected="--date-format iso | day"
        )
    if isinstance(arr, pd.Series):
        s = arr
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_localize(None)
            d = s.to_numpy().astype("datetime64[D]")
            _first_bad(np.isnat(d), rows, None, source, column, "missing date", _ISO_DATE)
            out = d.astype(np.int64)
            return out, _range_checked(out, rows, source, column, rule)
        arr = pa.array(s.astype("string").to_numpy(dtype=object, na_value=None), type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    t = arr.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        if arr.null_count:
            _first_bad(
                np.asarray(arr.is_null()), rows, None, source, column, "missing date", _ISO_DATE
            )
        if pa.types.is_date32(t):
            out = np.asarray(arr.view(pa.int32()))
        else:
            out = arr.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
        return out, _range_checked(out, rows, source, column, rule)
    if pa.types.is_integer(t):
        raise InputDataError(
            "dates are whole numbers",
            file=source,
            column=column,
            expected="ISO dates YYYY-MM-DD, or --date-format day when they are day numbers "
            "(days from each subject's start, as msprog's date_format='day')",
        )
    text = arr.cast(pa.string())
    if text.null_count:
        _first_bad(
            np.asarray(text.is_null()), rows, None, source, column, "missing date", _ISO_DATE
        )
    head = pc.utf8_slice_codeunits(text, 0, 10)
    ok_shape = np.asarray(pc.match_substring_regex(head, r"^\d{4}-\d{2}-\d{2}$").fill_null(False))
    if not ok_shape.all():
        _first_bad(~ok_shape, rows, _pick(text), source, column, "unparseable date", _ISO_DATE)
    parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    failed = np.asarray(parsed.is_null())
    if not failed.any():
        # strptime may roll 2021-02-30 over to March: a real date prints back the same
        back = pc.strftime(parsed, format="%Y-%m-%d")
        failed = ~np.asarray(pc.equal(back, head).fill_null(False))
    _first_bad(
        failed,
        rows,
        _pick(text),
        source,
        column,
        "impossible date",
        "a real calendar date YYYY-MM-DD",
    )
    out = parsed.to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(np.int64)
    return out, _range_checked(out, rows, source, column, rule)


_ISO_DATE = "an ISO date YYYY-MM-DD"


def _day_count_numbers(
    arr: Any, rows: Any, source: str, column: str
) -> tuple[np.ndarray, DateScan]:
    """``--date-format day``: whole day numbers, carried as dates from DAY_ORIGIN."""
    from smoulder.schema.dates import MAX_DAY_NUMBER, check_day_numbers, day_origin_number

    vals = _numbers(
        arr, rows, source, column, expected="a whole number of days (--date-format day)"
    )
    _first_bad(
        np.isnan(vals), rows, None, source, column, "missing day number", "a whole number of days"
    )
    first, count = check_day_numbers(vals)
    if first >= 0:
        _first_bad(
            _OneBad(first, count),
            rows,
            vals,
            source,
            column,
            "not a whole day number",
            f"a whole number of days between -{MAX_DAY_NUMBER:,} and {MAX_DAY_NUMBER:,}",
        )
    return vals.astype(np.int64) + day_origin_number(), DateScan(-1, 0, -1, 0)


def _range_checked(
    days: np.ndarray, rows: Any, source: str, column: str, rule: DateRule
) -> DateScan:
    """Raise on the first impossible date; refuse future dates when the rule says so."""
    scan = rule.scan(days)
    if scan.first_impossible >= 0:
        _first_bad(
            _OneBad(scan.first_impossible, scan.n_impossible),
            rows,
            lambda i: str(np.datetime64(int(days[i]), "D")),
            source,
            column,
            "impossible date",
            rule.expected(),
        )
    if scan.n_future and rule.future == "refuse":
        _first_bad(
            _OneBad(scan.first_future, scan.n_future),
            rows,
            lambda i: str(np.datetime64(int(days[i]), "D")),
            source,
            column,
            "date in the future",
            f"a date up to {rule.last_ok} (--future-dates refuse); --future-dates warn keeps "
            "such dates, drop leaves them out",
        )
    return scan


def _future_rows(
    days: np.ndarray, scan: DateScan, rule: DateRule, report: IngestReport, what: str
) -> np.ndarray | None:
    """Count future dates in the report (warn) or return the rows to leave out (drop)."""
    if not scan.n_future:
        return None
    report.add(rule.future_reason(what), scan.n_future, rejected=rule.future == "drop")
    if rule.future == "drop":
        return rule.future_mask(days)
    report.warnings.append(rule.future_warning(scan.n_future, what, report.source))
    return None


#: the input-report reason for ids written with spaces around them
STRIPPED_IDS = "subject ids with spaces around them, stripped (' p1' and 'p1' are one subject)"


def _stripped(report: IngestReport | None, n: int) -> None:
    if report is not None and n:
        report.add(STRIPPED_IDS, n, corrected=True)


def _subjects(
    arr: Any, rows: Any, source: str, column: str, report: IngestReport | None = None
) -> pd.Categorical:
    """Subject ids as a categorical with sorted categories.

    Spaces around an id are stripped and the rows counted in ``report``: ids that differ only by
    surrounding spaces are one person (a spreadsheet's stray space never splits a subject).
    """
    if isinstance(arr, pd.Series):
        s = arr
        missing = s.isna().to_numpy()
        _first_bad(missing, rows, None, source, column, "missing subject id", "a subject id")
        raw = s.astype(str)
        strs = raw.str.strip()
        _stripped(report, int((strs != raw).sum()))
        empty = (strs == "").to_numpy()
        _first_bad(empty, rows, _pick(raw), source, column, "empty subject id", "a subject id")
        return pd.Categorical(strs)
    if isinstance(arr, pa.ChunkedArray):
        arr = _combine_dictionary_chunks(arr)
    if not pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string()).dictionary_encode()
    nulls = np.asarray(arr.is_null())
    _first_bad(nulls, rows, None, source, column, "missing subject id", "a subject id")
    dictionary = arr.dictionary.cast(pa.string())
    indices = np.asarray(arr.indices.fill_null(0)).astype(np.int64)
    trimmed = pc.utf8_trim_whitespace(dictionary)
    changed = np.asarray(pc.not_equal(trimmed, dictionary).fill_null(False))
    if changed.any():  # a few distinct ids: count their rows, then work on the stripped ids
        _stripped(report, int(np.bincount(indices, minlength=len(changed))[changed].sum()))
        raw_dictionary, dictionary = dictionary, trimmed
    else:
        raw_dictionary = dictionary
    empty_entry = np.asarray(pc.equal(dictionary, "").fill_null(True))
    if empty_entry.any():
        _first_bad(
            empty_entry[indices],
            rows,
            lambda i: raw_dictionary[int(indices[i])].as_py(),
            source,
            column,
            "empty subject id",
            "a subject id",
        )
    # categories in sorted order; the same id may appear twice in an un-unified dictionary
    order = np.asarray(pc.sort_indices(dictionary)).astype(np.int64)
    sorted_names = dictionary.take(pa.array(order))
    is_new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        is_new[1:] = ~np.asarray(
            pc.equal(sorted_names.slice(1), sorted_names.slice(0, len(order) - 1)).fill_null(False)
        )
    rank = np.cumsum(is_new) - 1
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = rank
    cats = pd.Index(
        np.asarray(
            sorted_names.filter(pa.array(is_new)).to_numpy(zero_copy_only=False), dtype=object
        )
    )
    codes = remap[indices].astype(np.int32)
    used = np.bincount(codes, minlength=len(cats)) > 0
    if not used.all():
        # drop dictionary entries that no row uses (e.g. from a filtered Parquet file)
        new_pos = np.cumsum(used) - 1
        codes = new_pos[codes].astype(np.int32)
        cats = cats[used]
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(cats, ordered=False))


def _combine_dictionary_chunks(arr: pa.ChunkedArray) -> pa.Array:
    """One array from chunks; dictionary chunks that share one dictionary are joined cheaply.

    Parquet row groups each carry a copy of the same dictionary; unifying them entry by entry
    costs seconds for a million ids, while checking that they are equal and concatenating the
    indices costs milliseconds.
    """
    if arr.num_chunks == 1:
        return arr.chunk(0)
    if arr.num_chunks == 0:
        return pa.array([], type=arr.type)
    if pa.types.is_dictionary(arr.type):
        first = arr.chunk(0).dictionary
        if all(c.dictionary is first or c.dictionary.equals(first) for c in arr.chunks[1:]):
            indices = pa.concat_arrays([c.indices for c in arr.chunks])
            return pa.DictionaryArray.from_arrays(indices, first)
        total = sum(len(c.dictionary) for c in arr.chunks)
        if total > 4 * len(arr):
            return arr.cast(arr.type.value_type).combine_chunks().dictionary_encode()
        return arr.unify_dictionaries().combine_chunks()
    return arr.combine_chunks()


def _numbers(
    arr: Any, rows: Any, source: str, column: str, expected: str = "a number"
) -> np.ndarray:
    if isinstance(arr, pd.Series):
        vals = pd.to_numeric(arr, errors="coerce").to_numpy(dtype=np.float64)
        bad_text = np.isnan(vals) & arr.notna().to_numpy()
        _first_bad(bad_text, rows, _pick(arr), source, column, "not a number", expected)
    else:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        if (
            pa.types.is_integer(arr.type)
            or pa.types.is_floating(arr.type)
            or pa.types.is_null(arr.type)
        ):
            vals = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            text = arr.cast(pa.string())
            try:
                conv = text.cast(pa.float64())
                vals = conv.to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                series = pd.Series(text.to_numpy(zero_copy_only=False))
                vals = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
                bad_text = np.isnan(vals) & series.notna().to_numpy()
                _first_bad(bad_text, rows, _pick(series), source, column, "not a number", expected)
    return vals


def _booleans(arr: Any, rows: Any, source: str, column: str, counts_ok: bool = False) -> np.ndarray:
    s = (
        arr
        if isinstance(arr, pd.Series)
        else pd.Series(
            (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).to_pandas()
        )
    )
    if pd.api.types.is_bool_dtype(s) and not s.isna().any():
        return s.to_numpy(dtype=bool)
    missing = s.isna().to_numpy()
    _first_bad(
        missing,
        rows,
        None,
        source,
        column,
        "missing value",
        "true/false, yes/no or 1/0" + (" or a lesion count" if counts_ok else ""),
    )
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=np.float64)
        bad = (v < 0) | (v != np.floor(v)) if counts_ok else ~np.isin(v, [0.0, 1.0])
        _first_bad(
            bad,
            rows,
            v,
            source,
            column,
            "not a yes/no value",
            "true/false, yes/no or 1/0" + (" or a lesion count" if counts_ok else ""),
        )
        return v > 0
    text = s.astype(str).str.strip().str.lower()
    is_t = text.isin(_TRUE).to_numpy()
    is_f = text.isin(_FALSE).to_numpy()
    if counts_ok:
        num = pd.to_numeric(text, errors="coerce").to_numpy()
        is_count = ~np.isnan(num) & (num >= 0) & (num == np.floor(num))
        is_t = is_t | (is_count & (num > 0))
        is_f = is_f | (is_count & (num == 0))
    _first_bad(
        ~(is_t | is_f),
        rows,
        _pick(s),
        source,
        column,
        "not a yes/no value",
        "true/false, yes/no or 1/0" + (" or a lesion count" if counts_ok else ""),
    )
    return is_t


def _columns_of(data: pa.Table | pd.DataFrame) -> list[str]:
    return list(data.column_names) if isinstance(data, pa.Table) else [str(c) for c in data.columns]


def _col(data: pa.Table | pd.DataFrame, name: str) -> Any:
    return data.column(name) if isinstance(data, pa.Table) else data[name].reset_index(drop=True)


# --------------------------------------------------------------------------- values
def _check_values(
    values: np.ndarray, rows: Any, outcome: str, source: str, column: str, report: IngestReport
) -> None:
    from smoulder.io import _fastcheck as F

    name = outcome.upper() if outcome != "custom" else "value"
    rule = {
        "edss": F.RULE_EDSS,
        "t25fw": F.RULE_POSITIVE_TIME,
        "nhpt": F.RULE_POSITIVE_TIME,
        "sdmt": F.RULE_SDMT,
    }.get(outcome, F.RULE_FINITE)
    limit = 180.0 if outcome == "t25fw" else 300.0
    fn, nn, fb, nb, fc, nc, nh, nf = F.check_values(
        np.ascontiguousarray(values, dtype=np.float64), rule, limit
    )

    def fail(first: int, count: int, message: str, expected: str, value: Any = True) -> None:
        mask = _OneBad(first, count)
        _first_bad(mask, rows, values if value else None, source, column, message, expected)

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


class _OneBad:
    """A stand-in for a boolean mask when only the first offender and the count are known."""

    def __init__(self, first: int, count: int) -> None:
        self.first = first
        self.count = count

    def any(self) -> bool:
        return self.first >= 0


def _resolve_duplicates(
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


# --------------------------------------------------------------------------- visits


class _Rows:
    """Spreadsheet row numbers of a file read in order: position + offset (header is row 1)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __getitem__(self, i: int) -> int:
        return int(i) + self.offset
