"""FHIR R4 in and out: Observation and QuestionnaireResponse bundles <-> the long table.

**FHIR version.** The data are FHIR R4 (4.0.1). fhir.resources 8 ships R5 as its default
package, R4B (4.3) in ``fhir.resources.R4B`` and no R4 package; R4B is R4 with a few additions and
the same Observation, QuestionnaireResponse and Bundle structure, so resources are validated
with the R4B models, the closest available. Nothing R4B-only is written on export.

**Reading** (:func:`read_fhir`): a Bundle (any type: collection, searchset, transaction ...) or a
single resource, from a JSON file or a parsed dict, or FHIR bulk data (``.ndjson``: one resource
per line; errors then name the line).

* Every resource is validated with fhir.resources; an invalid one stops the import with its JSON
  path (``entry[3].resource.valueQuantity.value``). Malformed or truncated JSON is reported with
  its line and column.
* ``Observation``: the measure comes from ``code.coding``: LOINC codes of the catalogue
  (``Measure.loinc``, e.g. ``41950-7`` = steps in 24 h) or a code of the smoulder code system
  ``https://smoulder.dev/fhir/measure`` whose codes are catalogue names. No other LOINC code is
  mapped (only codes known with certainty are used); an unknown code stops the import, naming
  its path. The date is ``effectiveDateTime``, ``effectiveInstant`` or ``effectivePeriod.start``
  (its local calendar date, as in :mod:`smoulder.io.measures`); the value ``valueQuantity``
  (UCUM ``code`` when the system is UCUM, else ``unit``), ``valueInteger`` or ``valueDecimal``.
* ``QuestionnaireResponse`` (PRO totals): an item whose ``linkId`` is a catalogue PRO name
  (``msis29_physical``, ``msis29_psychological``, ``msws12``, ``pdds``), or ``total``/``score``
  when the ``questionnaire`` canonical ends with such a name
  (``https://smoulder.dev/fhir/Questionnaire/msws12``); the answer's ``valueDecimal``,
  ``valueInteger`` or ``valueQuantity``; the date is ``authored``. Other items (single answers)
  are counted in the report and not used.
* The subject is ``subject.reference`` (``Patient/123`` -> ``123``) or ``subject.identifier.value``.
* Resources with status ``entered-in-error`` or ``cancelled`` (and questionnaires not
  ``completed``/``amended``) are left out and counted; other resource types are counted and
  ignored.
* The rows then go through :func:`smoulder.io.measures.validate_measures` (units, ranges,
  duplicates, daily values), with errors naming the JSON path.
* ``on_error="keep-valid"`` leaves out resources that fail validation or carry unknown codes,
  and counts them; broken JSON always stops the import.

**Writing**: :func:`measures_to_bundle` (one Observation per row of the long table) and
:func:`events_to_bundle` (one Observation per detected sustained worsening: code
``sustained-worsening`` of ``https://smoulder.dev/fhir/event``, ``effectivePeriod`` from onset to
detection, the measure as ``valueCodeableConcept`` and every other column as a component).
:func:`read_events_bundle` reads the latter back. Both writers validate what they produce.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame(
...     {
...         "subject": ["p1"],
...         "date": pd.to_datetime(["2021-03-01"]),
...         "measure": ["steps"],
...         "value": [5234.0],
...         "unit": ["count"],
...     }
... )
>>> bundle = measures_to_bundle(df)
>>> bundle["entry"][0]["resource"]["code"]["coding"][0]["code"]
'41950-7'
>>> read_fhir(bundle)[0]["value"].tolist()
[5234.0]
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smoulder.digital.catalogue import MEASURES, Measure
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.io.measures import validate_measures
from smoulder.io.tables import IngestReport

__all__ = [
    "FHIR_VERSION_NOTE",
    "LOINC",
    "MEASURE_SYSTEM",
    "EVENT_SYSTEM",
    "read_fhir",
    "measures_to_bundle",
    "events_to_bundle",
    "read_events_bundle",
    "write_bundle",
]

FHIR_VERSION_NOTE = (
    "FHIR R4 data validated with the fhir.resources R4B models (the closest to R4 it ships)"
)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MEASURE_SYSTEM = "https://smoulder.dev/fhir/measure"
EVENT_SYSTEM = "https://smoulder.dev/fhir/event"
EVENT_FIELD_SYSTEM = "https://smoulder.dev/fhir/event-field"
QUESTIONNAIRE_BASE = "https://smoulder.dev/fhir/Questionnaire/"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

#: LOINC code -> catalogue measure (only codes held in the catalogue, known with certainty)
LOINC_TO_MEASURE: dict[str, str] = {m.loinc: m.name for m in MEASURES.values() if m.loinc}
#: UCUM spellings -> catalogue unit spellings (None: the canonical unit)
_UCUM_IN: dict[str, str | None] = {
    "/d": None,
    "1/d": None,
    "/(24.h)": None,
    "1/(24.h)": None,
    "{steps}/d": None,
    "{steps}": None,
    "steps/day": None,
    "{count}": None,
    "{score}": None,
    "1": None,
    "km/h": "km/h",
    "[mi_i]/h": "mph",
    "[in_i]": "in",
    "[ft_i]": "ft",
    "[yd_i]": "yd",
    "deg/s": "deg/s",
}
_UCUM_OUT: dict[str, str] = {
    "m/s": "m/s",
    "m": "m",
    "%": "%",
    "h": "h",
    "ms": "ms",
    "rad/s": "rad/s",
    "m/s2": "m/s2",
    "score": "{score}",
    "count": "{count}",
}
_SKIP_OBS = {"entered-in-error", "cancelled"}
_QR_OK = {"completed", "amended"}


# --------------------------------------------------------------------------- paths and validation
def _path(loc: tuple[Any, ...], base: str = "") -> str:
    out = base
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _validate_resource(resource: dict[str, Any], where: str, source: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    rtype = resource.get("resourceType")
    try:
        cls = get_fhir_model_class(str(rtype))
    except (KeyError, ValueError, AttributeError, ModuleNotFoundError, TypeError):
        raise InputDataError(
            "unknown FHIR resource type",
            file=f"{source}, {where}.resourceType",
            value=rtype,
            expected="an R4 resource type such as Observation or QuestionnaireResponse",
        ) from None
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        errs = exc.errors()
        first = errs[0]
        loc = tuple(p for p in first["loc"] if p != "__root__")
        msg = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {len(errs) - 1} more problems)" if len(errs) > 1 else ""
        raise InputDataError(
            f"invalid {rtype}: {msg}{more}",
            file=f"{source}, {_path(loc, where)}",
            value=first.get("input") if not isinstance(first.get("input"), (dict, list)) else None,
            expected="a valid FHIR R4 resource",
        ) from None


def _load(data: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(data, dict):
        return data, "<bundle>"
    p = Path(data)
    if not p.exists():
        raise InputDataError("file not found", file=str(p))
    text = p.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise InputDataError("the file is empty", file=str(p), expected="a FHIR Bundle in JSON")
    if p.suffix.lower() in (".ndjson", ".jsonl"):
        return _load_ndjson(text, p), str(p)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputDataError(
            f"malformed or truncated JSON: {exc.msg}",
            file=f"{p}, line {exc.lineno}, column {exc.colno}",
            expected="a complete JSON document (a FHIR Bundle); nothing was imported",
        ) from None
    if not isinstance(obj, dict):
        raise InputDataError(
            "not a FHIR resource", file=str(p), expected="a JSON object with a resourceType"
        )
    return obj, str(p)


def _load_ndjson(text: str, p: Path) -> dict[str, Any]:
    """FHIR bulk data (one resource per line) as a Bundle whose entries remember their line."""
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            res = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputDataError(
                f"malformed or truncated JSON: {exc.msg}",
                file=f"{p}, line {n}, column {exc.colno}",
                expected="one complete FHIR resource per line; nothing was imported",
            ) from None
        if not isinstance(res, dict):
            raise InputDataError(
                "not a FHIR resource", file=f"{p}, line {n}", expected="a JSON object per line"
            )
        entries.append({"resource": res, "_line": n})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries, "_ndjson": True}


def _entries(obj: dict[str, Any], source: str) -> list[tuple[str, dict[str, Any]]]:
    rtype = obj.get("resourceType")
    if rtype == "Bundle":
        entries = obj.get("entry") or []
        if not isinstance(entries, list):
            raise InputDataError(
                "Bundle.entry is not a list", file=f"{source}, entry", expected="a JSON array"
            )
        out = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
                raise InputDataError(
                    "bundle entry without a resource",
                    file=f"{source}, entry[{i}]",
                    expected="an object with a 'resource'",
                )
            where = f"line {e['_line']}: resource" if "_line" in e else f"entry[{i}].resource"
            out.append((where, e["resource"]))
        return out
    if isinstance(rtype, str):
        return [("", obj)]
    raise InputDataError(
        "no resourceType", file=source, expected="a FHIR Bundle or resource in JSON"
    )


# --------------------------------------------------------------------------- reading
def _subject(res: dict[str, Any], where: str, source: str, override: str | None) -> str:
    if override is not None:
        return override
    subj = res.get("subject") or {}
    ref = subj.get("reference")
    if isinstance(ref, str) and ref.strip():
        return ref.rstrip("/").rsplit("/", 1)[-1]
    ident = (subj.get("identifier") or {}).get("value")
    if isinstance(ident, str) and ident.strip():
        return ident
    raise InputDataError(
        "no subject",
        file=f"{source}, {_path(('subject',), where)}",
        expected="subject.reference (Patient/<id>) or subject.identifier.value, or give subject=",
    )


def _observation_measure(res: dict[str, Any]) -> Measure | None:
    for c in (res.get("code") or {}).get("coding") or []:
        system, code = c.get("system"), c.get("code")
        if system == LOINC and code in LOINC_TO_MEASURE:
            return MEASURES[LOINC_TO_MEASURE[code]]
        if system == MEASURE_SYSTEM and code in MEASURES:
            return MEASURES[code]
    return None


def _quantity_unit(q: dict[str, Any]) -> str | None:
    code, unit = q.get("code"), q.get("unit")
    if code is not None and q.get("system") in (UCUM, None):
        return _UCUM_IN.get(code, code)
    if unit is not None:
        return _UCUM_IN.get(unit, unit)
    return None


def read_fhir(
    data: str | Path | dict[str, Any],
    *,
    subject: str | None = None,
    on_error: str = "raise",
    on_duplicate: str = "error",
    timezone: str | None = None,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read a FHIR R4 Bundle of Observations and QuestionnaireResponses into the long table.

    Parameters
    ----------
    data : str, Path or dict
        A JSON file, or an already parsed Bundle (or single resource).
    subject : str, optional
        Subject id for every row (default: from each resource's ``subject``).
    on_error : {"raise", "keep-valid"}
        Stop at the first invalid resource or unknown code (default), or leave such resources out
        and count them.
    on_duplicate, timezone
        As in :func:`smoulder.io.measures.validate_measures`.

    Returns
    -------
    DataFrame
        ``subject, date, measure, value, unit`` (one row per subject, day and measure).
    IngestReport
        Resources read, used, left out (and why), corrections.

    Raises
    ------
    InputDataError
        Naming the JSON path (``entry[3].resource.valueQuantity.value``) or the line and column
        of broken JSON.
    """
    if on_error not in ("raise", "keep-valid"):
        raise SettingsError(f"on_error must be 'raise' or 'keep-valid' (got {on_error!r})")
    obj, source = _load(data)
    entries = _entries(obj, source)
    if obj.get("resourceType") == "Bundle" and not obj.get("_ndjson"):
        shell = {k: v for k, v in obj.items() if k != "entry"}
        _validate_resource(shell, "", source)
    rows: list[tuple[str, str, str, float, str | None]] = []
    paths: list[dict[str, str]] = []
    counts: dict[str, int] = {}

    def count(reason: str) -> None:
        counts[reason] = counts.get(reason, 0) + 1

    def fail(exc: InputDataError, reason: str) -> None:
        if on_error != "keep-valid":
            raise exc
        count(reason)

    for where, res in entries:
        rtype = res.get("resourceType")
        if rtype not in ("Observation", "QuestionnaireResponse"):
            count(f"{rtype} resources (not measures) ignored")
            continue
        try:
            _validate_resource(res, where, source)
        except InputDataError as exc:
            fail(exc, f"invalid {rtype} resources left out")
            continue
        try:
            if rtype == "Observation":
                got = _read_observation(res, where, source, subject, count)
            else:
                got = _read_questionnaire(res, where, source, subject, count)
        except InputDataError as exc:
            fail(exc, f"{rtype} resources with unknown codes or missing parts left out")
            continue
        for row, pth in got:
            rows.append(row)
            paths.append(pth)

    n_resources = sum(
        1 for _, r in entries if r.get("resourceType") in ("Observation", "QuestionnaireResponse")
    )
    if not rows:
        raise InputDataError(
            "no measures found",
            file=source,
            expected="Observations with a catalogue LOINC or smoulder code, or QuestionnaireResponses "
            "with PRO totals",
        )
    df = pd.DataFrame(rows, columns=["subject", "date", "measure", "value", "unit"])

    def label(i: int, column: str) -> str:
        return paths[i].get(column, paths[i]["resource"])

    out, rep = validate_measures(
        df, source, on_duplicate=on_duplicate, timezone=timezone, labels=label
    )
    report = IngestReport(
        source=source,
        rows_read=n_resources,
        rows_used=n_resources - sum(v for k, v in counts.items() if "left out" in k),
        rows_corrected=rep.rows_corrected,
        reasons=dict(rep.reasons),
        warnings=list(rep.warnings),
    )
    for k, v in counts.items():
        report.add(k, v, rejected="left out" in k)
    return out, report


def _read_observation(
    res: dict[str, Any], where: str, source: str, override: str | None, count: Any
) -> list[tuple[tuple[str, str, str, float, str | None], dict[str, str]]]:
    status = res.get("status")
    if status in _SKIP_OBS:
        count(f"Observations with status {status} left out")
        return []
    if any(c.get("system") == EVENT_SYSTEM for c in (res.get("code") or {}).get("coding") or []):
        count("smoulder worsening events (not measures) ignored")
        return []
    m = _observation_measure(res)
    if m is None:
        codes = [
            f"{c.get('system')}|{c.get('code')}"
            for c in (res.get("code") or {}).get("coding") or []
        ]
        raise InputDataError(
            "unknown Observation code",
            file=f"{source}, {_path(('code', 'coding'), where)}",
            value=", ".join(codes) or None,
            expected=f"a LOINC code of the catalogue ({', '.join(sorted(LOINC_TO_MEASURE))}) or a "
            f"code of {MEASURE_SYSTEM} naming a catalogue measure",
        )
    subj = _subject(res, where, source, override)
    if "effectiveDateTime" in res:
        date, dpath = res["effectiveDateTime"], "effectiveDateTime"
    elif "effectiveInstant" in res:
        date, dpath = res["effectiveInstant"], "effectiveInstant"
    elif isinstance(res.get("effectivePeriod"), dict) and "start" in res["effectivePeriod"]:
        date, dpath = res["effectivePeriod"]["start"], "effectivePeriod.start"
    else:
        raise InputDataError(
            "no date",
            file=f"{source}, {_path(('effective[x]',), where)}",
            expected="effectiveDateTime, effectiveInstant or effectivePeriod.start",
        )
    unit: str | None = None
    if isinstance(res.get("valueQuantity"), dict) and "value" in res["valueQuantity"]:
        value, vpath = res["valueQuantity"]["value"], "valueQuantity.value"
        unit = _quantity_unit(res["valueQuantity"])
        upath = "valueQuantity.code" if "code" in res["valueQuantity"] else "valueQuantity.unit"
    elif "valueInteger" in res:
        value, vpath, upath = res["valueInteger"], "valueInteger", "valueInteger"
    elif "valueDecimal" in res:  # not R4, but seen in the wild
        value, vpath, upath = res["valueDecimal"], "valueDecimal", "valueDecimal"
    else:
        raise InputDataError(
            "no numeric value",
            file=f"{source}, {_path(('value[x]',), where)}",
            expected="valueQuantity.value or valueInteger",
        )
    p = {
        "resource": where or "resource",
        "subject": _path(("subject",), where),
        "date": _path((dpath,), where),
        "measure": _path(("code",), where),
        "value": _path((vpath,), where),
        "unit": _path((upath,), where),
    }
    return [((subj, str(date), m.name, float(value), unit), p)]


def _pro_from_questionnaire(canonical: Any) -> str | None:
    if not isinstance(canonical, str):
        return None
    tail = canonical.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    m = MEASURES.get(tail)
    return m.name if m is not None and m.kind == "pro" else None


def _read_questionnaire(
    res: dict[str, Any], where: str, source: str, override: str | None, count: Any
) -> list[tuple[tuple[str, str, str, float, str | None], dict[str, str]]]:
    status = res.get("status")
    if status not in _QR_OK:
        count(f"QuestionnaireResponses with status {status} left out")
        return []
    subj = _subject(res, where, source, override)
    if "authored" not in res:
        raise InputDataError(
            "no date",
            file=f"{source}, {_path(('authored',), where)}",
            expected="QuestionnaireResponse.authored",
        )
    date = str(res["authored"])
    default = _pro_from_questionnaire(res.get("questionnaire"))
    out = []

    def walk(items: list[dict[str, Any]], base: str) -> None:
        for j, item in enumerate(items or []):
            ipath = f"{base}.item[{j}]" if base else f"item[{j}]"
            link = str(item.get("linkId", ""))
            name = link if link in MEASURES and MEASURES[link].kind == "pro" else None
            if name is None and link.lower() in ("total", "score") and default:
                name = default
            answers = item.get("answer") or []
            if name is None or not answers:
                if item.get("item"):
                    walk(item["item"], ipath)
                elif answers:
                    count("questionnaire items that are not PRO totals (not used)")
                for k, a in enumerate(answers):
                    if a.get("item"):
                        walk(a["item"], f"{ipath}.answer[{k}]")
                continue
            a = answers[0]
            unit = None
            if "valueDecimal" in a:
                v, key = a["valueDecimal"], "valueDecimal"
            elif "valueInteger" in a:
                v, key = a["valueInteger"], "valueInteger"
            elif isinstance(a.get("valueQuantity"), dict) and "value" in a["valueQuantity"]:
                v, key = a["valueQuantity"]["value"], "valueQuantity.value"
                unit = _quantity_unit(a["valueQuantity"])
            else:
                raise InputDataError(
                    f"the {name} total is not a number",
                    file=f"{source}, {ipath}.answer[0]",
                    expected="valueDecimal, valueInteger or valueQuantity",
                )
            vp = f"{ipath}.answer[0].{key}"
            out.append(
                (
                    (subj, date, name, float(v), unit),
                    {
                        "resource": ipath,
                        "subject": _path(("subject",), where),
                        "date": _path(("authored",), where),
                        "measure": f"{ipath}.linkId",
                        "value": vp,
                        "unit": vp,
                    },
                )
            )

    walk(res.get("item") or [], where)
    return out


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


def read_events_bundle(data: str | Path | dict[str, Any]) -> pd.DataFrame:
    """Read a bundle written by :func:`events_to_bundle` back into the events table.

    Columns: ``subject, measure, onset_date, detected_date``, then the components in their order.
    """
    obj, source = _load(data)
    records: list[dict[str, Any]] = []
    columns: list[str] = list(_EVENT_CORE)
    kinds: dict[str, str] = {}
    for where, res in _entries(obj, source):
        codes = [
            (c.get("system"), c.get("code")) for c in (res.get("code") or {}).get("coding") or []
        ]
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
    """Write a bundle as JSON (UTF-8, indented)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(bundle, indent=1, ensure_ascii=False), encoding="utf-8")
