"""Input contract for disease-modifying treatments: one row per course (subject, drug, start, stop).

Drug names come from a controlled list: generic names and common brand names of the MS
disease-modifying therapies (DMTs), each with its class and an efficacy group. Matching ignores
case, spaces, hyphens and an "interferon beta-1a"-style suffix order; unknown names are refused
with the closest known names, unless the table gives a class for them (``class_col``).

The efficacy grouping ("high": natalizumab, anti-CD20 antibodies, alemtuzumab, cladribine,
mitoxantrone, aHSCT; "moderate": the platform and oral therapies) follows common registry usage
(e.g. He et al., Lancet Neurol 2020) but differs between studies: analyses can group by drug,
class or efficacy.

Views that must not show free text (the pseudonymised researcher view) use
:func:`canonical_treatment`, which maps what a clinic typed to the substance only on an exact match
after normalisation (case, spaces, hyphens, "β" for "beta"): "Ocrevus", "OCRELIZUMAB" and
"ocrelizumab " are ocrelizumab, "ocrelizumab 600 mg (Mrs Smith)" is not, so free text never passes
for a coded value.

Examples
--------
>>> drug_class("Ocrevus"), drug_class("dimethyl fumarate"), efficacy("fingolimod")
('anti-CD20', 'fumarate', 'moderate')
>>> canonical_treatment("Kesimpta").name, canonical_treatment("interferon β-1a").drug_class
('ofatumumab', 'interferon beta')
>>> canonical_treatment("vitamin D") is None
True
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smoulder.exceptions import ColumnNotFoundError, InputDataError

__all__ = [
    "DRUG_CLASSES",
    "DRUGS",
    "MAX_TYPED_LENGTH",
    "TREATMENTS",
    "Treatment",
    "canonical_treatment",
    "treatment_names",
    "canonical_drug",
    "drug_class",
    "efficacy",
    "validate_treatments",
]

#: class -> efficacy group
DRUG_CLASSES: dict[str, str] = {
    "interferon beta": "moderate",
    "glatiramer acetate": "moderate",
    "teriflunomide": "moderate",
    "fumarate": "moderate",
    "S1P receptor modulator": "moderate",
    "natalizumab": "high",
    "anti-CD20": "high",
    "alemtuzumab": "high",
    "cladribine": "high",
    "mitoxantrone": "high",
    "aHSCT": "high",
    "anti-CD25": "moderate",
    "BTK inhibitor": "moderate",
    "other immunosuppressant": "moderate",
    "placebo": "none",
}

#: generic drug name -> (class, brand names and other spellings)
DRUGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "interferon beta-1a": ("interferon beta", ("avonex", "rebif", "ifn beta-1a", "ifnb-1a")),
    "peginterferon beta-1a": ("interferon beta", ("plegridy", "peg-ifn beta-1a")),
    "interferon beta-1b": ("interferon beta", ("betaferon", "betaseron", "extavia", "ifnb-1b")),
    "glatiramer acetate": ("glatiramer acetate", ("copaxone", "glatopa", "glatiramer")),
    "teriflunomide": ("teriflunomide", ("aubagio",)),
    "dimethyl fumarate": ("fumarate", ("tecfidera", "dmf")),
    "diroximel fumarate": ("fumarate", ("vumerity",)),
    "monomethyl fumarate": ("fumarate", ("bafiertam",)),
    "fingolimod": ("S1P receptor modulator", ("gilenya",)),
    "siponimod": ("S1P receptor modulator", ("mayzent",)),
    "ozanimod": ("S1P receptor modulator", ("zeposia",)),
    "ponesimod": ("S1P receptor modulator", ("ponvory",)),
    "natalizumab": ("natalizumab", ("tysabri", "tyruko")),
    "ocrelizumab": ("anti-CD20", ("ocrevus",)),
    "ofatumumab": ("anti-CD20", ("kesimpta",)),
    "ublituximab": ("anti-CD20", ("briumvi",)),
    "rituximab": ("anti-CD20", ("rituxan", "mabthera", "truxima", "ruxience")),
    "alemtuzumab": ("alemtuzumab", ("lemtrada",)),
    "cladribine": ("cladribine", ("mavenclad",)),
    "mitoxantrone": ("mitoxantrone", ("novantrone",)),
    "aHSCT": ("aHSCT", ("ahsct", "hsct", "autologous haematopoietic stem cell transplantation")),
    "daclizumab": ("anti-CD25", ("zinbryta",)),
    "tolebrutinib": ("BTK inhibitor", ()),
    "evobrutinib": ("BTK inhibitor", ()),
    "fenebrutinib": ("BTK inhibitor", ()),
    "remibrutinib": ("BTK inhibitor", ()),
    "azathioprine": ("other immunosuppressant", ("imuran",)),
    "methotrexate": ("other immunosuppressant", ()),
    "cyclophosphamide": ("other immunosuppressant", ()),
    "mycophenolate mofetil": ("other immunosuppressant", ("mycophenolate", "cellcept")),
    "placebo": ("placebo", ()),
}


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name)).casefold().replace("β", "beta")
    return re.sub(r"[\s\-_/]+", "", text.strip())


_LOOKUP: dict[str, str] = {}
for _generic, (_cls, _aliases) in DRUGS.items():
    for _alias in (_generic, *_aliases):
        _LOOKUP[_key(_alias)] = _generic
_CLASS_LOOKUP = {_key(c): c for c in DRUG_CLASSES}


@dataclass(frozen=True)
class Treatment:
    """One disease-modifying therapy on the controlled list."""

    name: str
    drug_class: str
    efficacy: str
    synonyms: tuple[str, ...] = ()


TREATMENTS: tuple[Treatment, ...] = tuple(
    Treatment(g, c, DRUG_CLASSES[c], tuple(a)) for g, (c, a) in DRUGS.items()
)
_BY_NAME = {t.name: t for t in TREATMENTS}

#: Entries longer than this are free text, never a coded drug name.
MAX_TYPED_LENGTH = 80


def canonical_treatment(typed: str | None) -> Treatment | None:
    """The therapy a clinic's entry names, or None when it is not on the controlled list.

    Parameters
    ----------
    typed : str or None
        The drug as recorded (substance or brand name, any case and spacing).

    Returns
    -------
    Treatment or None
        Substance name, class and efficacy group; None for anything else (free text is never
        passed through).
    """
    if not isinstance(typed, str) or len(typed) > MAX_TYPED_LENGTH or not typed.strip():
        return None
    generic = _LOOKUP.get(_key(typed))
    return _BY_NAME[generic] if generic is not None else None


def treatment_names() -> list[str]:
    """Substance names on the controlled list, sorted."""
    return sorted(_BY_NAME)


def canonical_drug(name: str) -> str | None:
    """The generic name of ``name`` (a generic or brand name), or None when unknown."""
    return _LOOKUP.get(_key(name))


def drug_class(name: str) -> str:
    """The class of a known drug (generic or brand name)."""
    generic = canonical_drug(name)
    if generic is None:
        raise InputDataError(f"unknown drug {name!r}", expected=_expected_drug(name))
    return DRUGS[generic][0]


def efficacy(name: str) -> str:
    """The efficacy group ("moderate", "high", "none") of a known drug."""
    return DRUG_CLASSES[drug_class(name)]


def _expected_drug(name: str) -> str:
    close = difflib.get_close_matches(_key(name), list(_LOOKUP), n=3, cutoff=0.6)
    names = list(dict.fromkeys(_LOOKUP[c] for c in close))  # closest first, no repeats
    hint = f" (closest: {', '.join(names)})" if names else ""
    return (
        "a disease-modifying therapy by generic or brand name"
        + hint
        + ", or give its class in a class column"
    )


def _dates(
    col: pd.Series, rows: np.ndarray, source: str, column: str, required: bool
) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        d = col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col
        out = d.to_numpy().astype("datetime64[D]")
    else:
        text = col.astype("string").str.strip().str.slice(0, 10)
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        out = parsed.to_numpy().astype("datetime64[D]")
        bad = np.isnat(out) & text.notna().to_numpy() & (text != "").fillna(False).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputDataError(
                "unparseable date",
                file=source,
                row=int(rows[i]),
                column=column,
                value=col.iloc[i],
                expected="an ISO date YYYY-MM-DD" + ("" if required else " or an empty cell"),
            )
    if required and np.isnat(out).any():
        i = int(np.flatnonzero(np.isnat(out))[0])
        raise InputDataError(
            "missing start date",
            file=source,
            row=int(rows[i]),
            column=column,
            expected="an ISO date YYYY-MM-DD",
        )
    return out


def validate_treatments(
    data: pd.DataFrame,
    source: str = "<treatments>",
    *,
    subject_col: str = "subject",
    drug_col: str = "drug",
    start_col: str = "start",
    stop_col: str | None = "stop",
    class_col: str | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Check a treatments table and return it normalised and sorted by subject and start.

    Returns ``subject`` (str), ``drug`` (generic name), ``drug_class``, ``efficacy``, ``start``
    and ``stop`` (datetime64; NaT = ongoing) and ``row`` (the spreadsheet row). Courses of one
    subject must not overlap (a course may start on the day the previous one stops).
    """
    cols = [str(c) for c in data.columns]
    needed = {"subject": subject_col, "drug": drug_col, "start": start_col}
    if stop_col:
        needed["stop"] = stop_col
    if class_col:
        needed["class"] = class_col
    for role, col in needed.items():
        if col not in cols:
            close = difflib.get_close_matches(col, cols, n=2, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ColumnNotFoundError(
                f"missing {role} column '{col}'{hint} Columns found: {', '.join(cols)}",
                file=source,
                column=col,
            )
    df = data.reset_index(drop=True)
    n = len(df)
    row_no = np.arange(n) + 2 if rows is None else np.asarray(rows)
    subj = df[subject_col]
    miss = (
        subj.isna().to_numpy() | (subj.astype("string").str.strip() == "").fillna(True).to_numpy()
    )
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise InputDataError(
            "missing subject id",
            file=source,
            row=int(row_no[i]),
            column=subject_col,
            expected="a subject id",
        )
    generic: list[str] = []
    classes: list[str] = []
    given_class = df[class_col] if class_col else None
    for i, name in enumerate(df[drug_col].tolist()):
        if name is None or (isinstance(name, float) and np.isnan(name)) or not str(name).strip():
            raise InputDataError(
                "missing drug name",
                file=source,
                row=int(row_no[i]),
                column=drug_col,
                expected="a disease-modifying therapy by generic or brand name",
            )
        g = canonical_drug(str(name))
        cls: Any = None
        if given_class is not None:
            raw_cls = given_class.iloc[i]
            if raw_cls is not None and not (isinstance(raw_cls, float) and np.isnan(raw_cls)):
                cls = _CLASS_LOOKUP.get(_key(str(raw_cls)))
                if cls is None and str(raw_cls).strip():
                    raise InputDataError(
                        "unknown drug class",
                        file=source,
                        row=int(row_no[i]),
                        column=class_col,
                        value=raw_cls,
                        expected="one of " + ", ".join(DRUG_CLASSES),
                    )
        if g is None and cls is None:
            raise InputDataError(
                "unknown drug",
                file=source,
                row=int(row_no[i]),
                column=drug_col,
                value=name,
                expected=_expected_drug(str(name)),
            )
        generic.append(g if g is not None else str(name).strip())
        classes.append(cls if cls is not None else DRUGS[g][0])  # type: ignore[index]
    start = _dates(df[start_col], row_no, source, start_col, required=True)
    stop = (
        _dates(df[stop_col], row_no, source, stop_col, required=False)
        if stop_col
        else np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    )
    before = ~np.isnat(stop) & (stop < start)
    if before.any():
        i = int(np.flatnonzero(before)[0])
        raise InputDataError(
            "treatment stops before it starts",
            file=source,
            row=int(row_no[i]),
            column=stop_col,
            value=str(stop[i]),
            expected=f"a date on or after {start[i]}",
        )
    out = pd.DataFrame(
        {
            "subject": subj.astype(str).str.strip().to_numpy(),
            "drug": generic,
            "drug_class": classes,
            "efficacy": [DRUG_CLASSES[c] for c in classes],
            "start": start.astype("datetime64[s]"),
            "stop": stop.astype("datetime64[s]"),
            "row": row_no,
        }
    )
    out = out.sort_values(["subject", "start", "row"], kind="stable").reset_index(drop=True)
    same = out["subject"].to_numpy()[1:] == out["subject"].to_numpy()[:-1]
    prev_stop = out["stop"].to_numpy()[:-1]
    nxt_start = out["start"].to_numpy()[1:]
    overlap = same & (np.isnat(prev_stop) | (nxt_start < prev_stop))
    if overlap.any():
        i = int(np.flatnonzero(overlap)[0])
        a, b = out.iloc[i], out.iloc[i + 1]
        raise InputDataError(
            f"treatment courses overlap: {a['drug']} (row {a['row']}, "
            f"{'ongoing' if pd.isna(a['stop']) else 'stops ' + str(a['stop'].date())}) and "
            f"{b['drug']} starting {b['start'].date()}",
            file=source,
            row=int(b["row"]),
            column=start_col,
            expected="one course at a time per subject: stop the previous course on or before "
            "the next one starts",
        )
    return out
