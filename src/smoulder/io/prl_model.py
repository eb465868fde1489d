"""Files of the trainable PRL classifier: the versioned model file (joblib) and rated lesions tables.

The model file holds the payload of :meth:`smoulder.imaging.prl.PRLModel.to_payload` (a dict with
the format name, format version, estimator, features, input kind, threshold and metadata);
:func:`read_model_file` returns it for :meth:`~smoulder.imaging.prl.PRLModel.from_payload` to
check. Only load model files you trust: joblib files can run code when loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io.bids import read_text_table

_YES = {"1", "yes", "y", "true", "t", "prl"}
_NO = {"0", "no", "n", "false", "f", "non-prl", "not prl"}


def write_model_file(payload: dict[str, Any], path: str | Path) -> Path:
    """Write a model payload as a compressed joblib file; return the path."""
    import joblib

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(payload, path, compress=3)
    return Path(path)


def read_model_file(path: str | Path) -> Any:
    """Read a model file written by :func:`write_model_file` (the payload is not yet checked)."""
    import joblib

    p = str(path)
    if not Path(p).exists():
        raise InputDataError(
            "model file not found", file=p, expected="a file from 'smoulder prl train'"
        )
    try:
        return joblib.load(p)
    except Exception as exc:
        raise InputDataError(
            f"cannot read model file ({exc.__class__.__name__})",
            file=p,
            expected="a file written by 'smoulder prl train'",
        ) from None


def parse_ratings(values: pd.Series, source: str, column: str) -> np.ndarray:
    """Ratings as bool; yes/no, 1/0, true/false (any case). Errors name the first bad row.

    Examples
    --------
    >>> import pandas as pd
    >>> parse_ratings(pd.Series(["Yes", "no", "1"]), "r.tsv", "rating").tolist()
    [True, False, True]
    """
    text = values.astype(str).str.strip().str.lower()
    yes = text.isin(_YES).to_numpy()
    no = text.isin(_NO).to_numpy()
    bad = ~(yes | no)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputDataError(
            "unrecognised rating",
            file=source,
            row=i + 2,
            column=column,
            value=values.iloc[i],
            expected="yes/no, 1/0 or true/false",
        )
    return yes


def read_rated_tables(
    paths: Sequence[str | Path], *, features: Sequence[str], rating_col: str = "rating"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read lesions tables (TSV, or CSV by extension) with a rating column and concatenate them.

    Parameters
    ----------
    paths : sequence of path
        ``lesions.tsv`` files from ``smoulder prl`` with a rating column added.
    features : sequence of str
        Feature columns that must be present and numeric (``n/a`` allowed).
    rating_col : str
        The column holding the ratings (yes/no, 1/0, true/false).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray of bool)
        All rows (with ``_table``, the index of the file each came from) and their ratings.

    Raises
    ------
    InputDataError
        A missing or unreadable file, a missing column, a feature that is not a number or a
        rating that is not yes/no (file, row and column named).
    """
    expected = "a lesions.tsv from 'smoulder prl' plus a rating column"
    frames, ys = [], []
    for i, p in enumerate(paths):
        sp = str(p)
        df = read_text_table(sp, expected=expected, na_values=["n/a"], keep_default_na=True)
        missing = [c for c in [*features, rating_col, "input"] if c not in df.columns]
        if missing:
            raise InputDataError("column missing", file=sp, column=missing[0], expected=expected)
        for f in features:
            col = pd.to_numeric(df[f], errors="coerce")
            bad = col.isna() & df[f].notna()
            if bad.any():
                r = int(np.argmax(bad.to_numpy()))
                raise InputDataError(
                    "not a number",
                    file=sp,
                    row=r + 2,
                    column=f,
                    value=df[f].iloc[r],
                    expected="a number or n/a",
                )
            df[f] = col
        ys.append(parse_ratings(df[rating_col], sp, rating_col))
        df["_table"] = i
        frames.append(df)
    return pd.concat(frames, ignore_index=True), np.concatenate(ys)


__all__ = ["write_model_file", "read_model_file", "read_rated_tables", "parse_ratings"]
