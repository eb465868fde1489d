"""Writing FHIR R4 bundles (measures and detected events) and reading the events back.

See :mod:`smoulder.io.fhir` for the mapping; both writers validate what they produce.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io._fhir_common import (
    _ABSENT,
    _CATEGORY,
    _UCUM_OUT,
    EVENT_FIELD_SYSTEM,
    EVENT_SYSTEM,
    LOINC,
    MEASURE_SYSTEM,
    UCUM,
    _entries,
    _observation_measure,
    _subject,
    _validate_resource,
    check_depth,
    codings,
    decode_json_bytes,
    parse_json_text,
    require_resource,
)
from smoulder.schema.catalogue import MEASURES, Measure

__all__ = [
    "measures_to_bundle",
    "events_to_bundle",
    "read_events_bundle",
    "read_events_bundle_file",
    "read_events_bundle_bytes",
    "write_bundle",
]


# --------------------------------------------------------------------------- writing
def _measure_coding(m: Measure) -> list[dict[str, Any]]:
    codings = []
    if m.loinc:
        codings.append({"system": LOINC, "code": m.loinc})
    codings.append({"system": MEASURE_SYSTEM, "code": m.name, "display": m.description or m.name})
    return codings


def _quantity(value: float, m: Measure | None, unit: str | None = None) -> dict[str, Any]:
    u = unit if unit is not None else (m.unit if m else None)
    q: dict[str, Any] = {"value": float(value)}
    if u is None:
        return q
    if m is not None and m.name == "steps" and u == "count":
        q.update(unit="steps/day", system=UCUM, code="/d")
    elif u in _UCUM_OUT:
        q.update(unit=u, system=UCUM, code=_UCUM_OUT[u])
    else:
        q["unit"] = u
    return q


def _date_text(v: Any) -> str:
    return str(pd.Timestamp(v).date())


def _bundle(resources: list[dict[str, Any]], validate: bool) -> dict[str, Any]:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entry": [
            {"fullUrl": f"urn:uuid:{_uuid(i, r)}", "resource": r} for i, r in enumerate(resources)
        ],
    }
    if validate:
        from fhir.resources.R4B.bundle import Bundle

        Bundle.model_validate(bundle)
    return bundle


def _uuid(i: int, r: dict[str, Any]) -> str:
    import uuid

    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"smoulder:{i}:{json.dumps(r, sort_keys=True, default=str)}")
    )


def measures_to_bundle(df: pd.DataFrame, *, validate: bool = True) -> dict[str, Any]:
    """The long table as a FHIR R4 Bundle (type collection) of Observations, one per row.

    Each Observation has ``status`` final, category ``activity`` (``survey`` for PROs), the
    catalogue LOINC code where one exists plus the smoulder measure code, ``subject``
    ``Patient/<subject>``, ``effectiveDateTime`` (the date) and ``valueQuantity`` in the canonical
    unit (UCUM-coded where it has a UCUM spelling).

    Parameters
    ----------
    df : DataFrame
        ``subject, date, measure, value[, unit]`` (values in the canonical unit).
    validate : bool
        Validate the bundle with fhir.resources before returning it.

    Returns
    -------
    dict
        The Bundle, ready for ``json.dump``.
    """
    for c in ("subject", "date", "measure", "value"):
        if c not in df.columns:
            raise InputDataError(
                f"missing column '{c}'", column=c, expected="subject, date, measure, value, unit"
            )
    resources = []
    for subj, date, name, value in zip(
        df["subject"], df["date"], df["measure"], df["value"], strict=True
    ):
        m = MEASURES.get(str(name))
        if m is None:
            raise InputDataError(
                "unknown measure", column="measure", value=name, expected="a catalogue name"
            )
        resources.append(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": _CATEGORY,
                                "code": "survey" if m.kind == "pro" else "activity",
                            }
                        ]
                    }
                ],
                "code": {"coding": _measure_coding(m), "text": m.description or m.name},
                "subject": {"reference": f"Patient/{subj}"},
                "effectiveDateTime": _date_text(date),
                "valueQuantity": _quantity(value, m),
            }
        )
    return _bundle(resources, validate)


_EVENT_CORE = ("subject", "measure", "onset_date", "detected_date")


def events_to_bundle(events: pd.DataFrame, *, validate: bool = True) -> dict[str, Any]:
    """Detected sustained worsening events as a FHIR R4 Bundle of Observations.

    One Observation per row: code ``sustained-worsening`` of ``https://smoulder.dev/fhir/event``
    (text "sustained worsening of <measure>"), ``effectivePeriod`` from ``onset_date`` to
    ``detected_date``, the measure as ``valueCodeableConcept``, and every other column as a
    component coded in ``https://smoulder.dev/fhir/event-field``: numbers as ``valueQuantity``
    (``baseline_value``/``current_value`` in the measure's unit, ``change_pct`` in %), integers as
    ``valueInteger``, booleans, dates and text as ``valueBoolean``, ``valueDateTime`` and
    ``valueString``; a missing value is a component with ``dataAbsentReason`` ``unknown``.
    :func:`read_events_bundle` reads it back.

    Parameters
    ----------
    events : DataFrame
        At least ``subject, measure, onset_date, detected_date, baseline_value, current_value,
        change_pct``.
    validate : bool
        Validate the bundle with fhir.resources before returning it.

    Returns
    -------
    dict
        The Bundle (type collection), ready for ``json.dump``.
    """
    need = (*_EVENT_CORE, "baseline_value", "current_value", "change_pct")
    for c in need:
        if c not in events.columns:
            raise InputDataError(
                f"missing column '{c}' in the events table", column=c, expected=", ".join(need)
            )
    extra = [c for c in events.columns if c not in _EVENT_CORE]
    resources = []
    for i in range(len(events)):
        row = events.iloc[i]
        m = MEASURES.get(str(row["measure"]))
        if m is None:
            raise InputDataError(
                "unknown measure",
                row=i + 2,
                column="measure",
                value=row["measure"],
                expected="a catalogue name",
            )
        comps = []
        for c in extra:
            v = row[c]
            comp: dict[str, Any] = {
                "code": {"coding": [{"system": EVENT_FIELD_SYSTEM, "code": c}], "text": c}
            }
            dtype = events[c].dtype
            if (
                v is None
                or (isinstance(v, float) and math.isnan(v))
                or (not isinstance(v, str) and pd.isna(v))
            ):
                comp["dataAbsentReason"] = {"coding": [{"system": _ABSENT, "code": "unknown"}]}
            elif pd.api.types.is_bool_dtype(dtype):
                comp["valueBoolean"] = bool(v)
            elif pd.api.types.is_integer_dtype(dtype):
                comp["valueInteger"] = int(v)
            elif pd.api.types.is_float_dtype(dtype):
                unit = (
                    "%"
                    if c.endswith("_pct")
                    else (m.unit if c in ("baseline_value", "current_value") else None)
                )
                comp["valueQuantity"] = _quantity(float(v), None, unit)
            elif pd.api.types.is_datetime64_any_dtype(dtype):
                comp["valueDateTime"] = _date_text(v)
            else:
                comp["valueString"] = str(v)
            comps.append(comp)
        resources.append(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": _CATEGORY, "code": "activity"}]}],
                "code": {
                    "coding": [
                        {
                            "system": EVENT_SYSTEM,
                            "code": "sustained-worsening",
                            "display": "Sustained worsening",
                        }
                    ],
                    "text": f"sustained worsening of {m.name}",
                },
                "subject": {"reference": f"Patient/{row['subject']}"},
                "effectivePeriod": {
                    "start": _date_text(row["onset_date"]),
                    "end": _date_text(row["detected_date"]),
                },
                "valueCodeableConcept": {"coding": _measure_coding(m), "text": m.name},
                "component": comps,
            }
        )
    return _bundle(resources, validate)


def read_events_bundle_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an events bundle (written by :func:`events_to_bundle`) from a JSON file.

    Parameters
    ----------
    path : str or PathLike
        The ``.json`` file (``smoulder digital export fhir --events``).

    Returns
    -------
    DataFrame
        The events table, as :func:`read_events_bundle` gives it.
    """
    from smoulder.io.outputs import check_input_file

    p = check_input_file(path, "FHIR file", expected="a FHIR Bundle in JSON")
    return read_events_bundle_bytes(p.read_bytes(), str(p))


def read_events_bundle_bytes(
    data: bytes | bytearray | memoryview | IO[bytes], name: str = "upload.json"
) -> pd.DataFrame:
    """Read an events bundle given as bytes (or an open binary file).

    Parameters
    ----------
    data : bytes or binary file
        The content (an upload): data, never a file name.
    name : str
        The file name it came with, for messages.

    Returns
    -------
    DataFrame
        The events table, as :func:`read_events_bundle` gives it.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) and hasattr(data, "read"):
        data = data.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"FHIR content must be bytes or a binary file, not {type(data).__name__}")
    text = decode_json_bytes(bytes(data), name)
    if not text.strip():
        raise InputDataError("the file is empty", file=name, expected="a FHIR Bundle in JSON")
    return _read_events(require_resource(parse_json_text(text, name), name, ("Bundle",)), name)


def read_events_bundle(data: os.PathLike[str] | dict[str, Any]) -> pd.DataFrame:
    """Read a bundle written by :func:`events_to_bundle` back into the events table.

    Parameters
    ----------
    data : PathLike or dict
        A ``Path`` to the JSON file or the parsed Bundle (a ``str`` is refused, not guessed:
        use :func:`read_events_bundle_file` or :func:`read_events_bundle_bytes`).

    Returns
    -------
    DataFrame
        ``subject, measure, onset_date, detected_date``, then the components in their order.

    Raises
    ------
    InputDataError
        Naming the JSON path of an event that is not one smoulder wrote.
    """
    if isinstance(data, (str, bytes, bytearray)):
        raise TypeError(
            "read_events_bundle does not guess whether a str is a path or JSON: use "
            "read_events_bundle_file(path) or read_events_bundle_bytes(content)"
        )
    if isinstance(data, os.PathLike):
        return read_events_bundle_file(data)
    require_resource(data, "<bundle>", ("Bundle",))
    check_depth(data, "<bundle>")
    return _read_events(data, "<bundle>")


def _read_events(obj: dict[str, Any], source: str) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    columns: list[str] = list(_EVENT_CORE)
    kinds: dict[str, str] = {}
    for where, res, _url in _entries(obj, source):
        codes = [(c.get("system"), c.get("code")) for c in codings(res.get("code"))]
        if (EVENT_SYSTEM, "sustained-worsening") not in codes:
            continue
        _validate_resource(res, where, source)
        m = _observation_measure({"code": res.get("valueCodeableConcept") or {}})
        if m is None:
            raise InputDataError(
                "unknown measure of the event",
                file=f"{source}, {where}.valueCodeableConcept",
                expected=f"a code of {MEASURE_SYSTEM}",
            )
        rec: dict[str, Any] = {
            "subject": _subject(res, where, source, None),
            "measure": m.name,
            "onset_date": pd.Timestamp(res["effectivePeriod"]["start"]),
            "detected_date": pd.Timestamp(res["effectivePeriod"]["end"]),
        }
        for comp in res.get("component") or []:
            name = next(
                (
                    c.get("code")
                    for c in comp["code"].get("coding") or []
                    if c.get("system") == EVENT_FIELD_SYSTEM
                ),
                None,
            )
            if name is None:
                continue
            if name not in columns:
                columns.append(name)
            if "dataAbsentReason" in comp:
                rec[name] = np.nan
                continue
            for key, kind in (
                ("valueQuantity", "float"),
                ("valueInteger", "int"),
                ("valueBoolean", "bool"),
                ("valueDateTime", "date"),
                ("valueString", "str"),
            ):
                if key in comp:
                    v = comp[key]
                    rec[name] = (
                        float(v["value"])
                        if kind == "float"
                        else (pd.Timestamp(v) if kind == "date" else v)
                    )
                    kinds.setdefault(name, kind)
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=columns)
    for c in ("onset_date", "detected_date"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
    for c, kind in kinds.items():
        if kind == "float":
            df[c] = df[c].astype(np.float64)
        elif kind == "int" and not df[c].isna().any():
            df[c] = df[c].astype(np.int64)
        elif kind == "date":
            df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
    return df


def write_bundle(bundle: dict[str, Any], path: str | Path) -> None:
    """Write a bundle as JSON (UTF-8, indented).

    Parameters
    ----------
    bundle : dict
        A Bundle from :func:`measures_to_bundle` or :func:`events_to_bundle`.
    path : str or Path
        The ``.json`` file to write (its folder is made if needed).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(bundle, indent=1, ensure_ascii=False), encoding="utf-8")
