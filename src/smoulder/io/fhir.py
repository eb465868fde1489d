"""FHIR R4 in and out: Observation and QuestionnaireResponse bundles <-> the long table.

**FHIR version.** The data are FHIR R4 (4.0.1). fhir.resources 8 ships R5 as its default
package, R4B (4.3) in ``fhir.resources.R4B`` and no R4 package; R4B is R4 with a few additions and
the same Observation, QuestionnaireResponse and Bundle structure, so resources are validated
with the R4B models, the closest available. Nothing R4B-only is written on export.

**Reading**: a Bundle (any type: collection, searchset, transaction ...) or a single Observation
or QuestionnaireResponse, or FHIR bulk data (``.ndjson``: one resource per line; errors then name
the line). Three entry points, none of which guesses what a ``str`` is:

* :func:`read_fhir_file` takes a path (the command line);
* :func:`read_fhir_bytes` takes the bytes of a file (an upload): its content is data, never a
  file name;
* :func:`read_fhir_json` takes an already parsed JSON value (it must be an object of one of
  those resource types; a JSON string, array or number is refused with a message saying so).

:func:`read_fhir` is kept for a ``Path`` or a parsed ``dict``; it refuses a ``str``. JSON nested
deeper than 64 levels is refused with the JSON path where it happens.

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
* ``on_error="keep-valid"`` (``--keep-valid``) leaves out resources that fail validation or carry
  unknown codes, and counts them; broken JSON always stops the import.
* Dates follow :mod:`smoulder.schema.dates` (``future_dates``, ``--future-dates``).

**Writing**: :func:`measures_to_bundle` (one Observation per row of the long table) and
:func:`events_to_bundle` (one Observation per detected sustained worsening: code
``sustained-worsening`` of ``https://smoulder.dev/fhir/event``, ``effectivePeriod`` from onset to
detection, the measure as ``valueCodeableConcept`` and every other column as a component).
:func:`read_events_bundle_file` / :func:`read_events_bundle_bytes` read the latter back. Both writers validate what they produce.

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
>>> read_fhir_json(bundle)[0]["value"].tolist()
[5234.0]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from smoulder.exceptions import InputDataError, SettingsError
from smoulder.io._fhir_common import (
    _QR_OK,
    _SKIP_OBS,
    EVENT_FIELD_SYSTEM,
    EVENT_SYSTEM,
    FHIR_VERSION_NOTE,
    LOINC,
    LOINC_TO_MEASURE,
    MAX_JSON_DEPTH,
    MEASURE_SYSTEM,
    QUESTIONNAIRE_BASE,
    UCUM,
    _entries,
    _observation_measure,
    _path,
    _quantity_unit,
    _subject,
    _validate_resource,
    check_depth,
    codings,
    decode_json_bytes,
    load_ndjson,
    parse_json_text,
    require_resource,
)
from smoulder.io._fhir_write import (
    events_to_bundle,
    measures_to_bundle,
    read_events_bundle,
    read_events_bundle_bytes,
    read_events_bundle_file,
    write_bundle,
)
from smoulder.io.ingest import IngestReport
from smoulder.io.measures import validate_measures
from smoulder.schema.catalogue import MEASURES
from smoulder.schema.dates import DateRule

__all__ = [
    "FHIR_VERSION_NOTE",
    "LOINC",
    "MEASURE_SYSTEM",
    "EVENT_SYSTEM",
    "EVENT_FIELD_SYSTEM",
    "QUESTIONNAIRE_BASE",
    "UCUM",
    "MAX_JSON_DEPTH",
    "read_fhir",
    "read_fhir_file",
    "read_fhir_bytes",
    "read_fhir_json",
    "measures_to_bundle",
    "events_to_bundle",
    "read_events_bundle",
    "read_events_bundle_file",
    "read_events_bundle_bytes",
    "write_bundle",
]

#: resource types the measures reader accepts at the top level
TOP_LEVEL = ("Bundle", "Observation", "QuestionnaireResponse")
_NDJSON = (".ndjson", ".jsonl")


# --------------------------------------------------------------------------- entry points
def read_fhir_file(
    path: str | os.PathLike[str], **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """Read a FHIR JSON file (``.json``; ``.ndjson``/``.jsonl`` bulk data) into the long table.

    ``options`` as for :func:`read_fhir_json`.
    """
    from smoulder.io.outputs import check_input_file

    p = check_input_file(path, "FHIR file", expected="a FHIR Bundle in JSON (.json or .ndjson)")
    data = p.read_bytes()
    return read_fhir_bytes(data, str(p), **options)


def read_fhir_bytes(
    data: bytes | bytearray | memoryview | IO[bytes],
    name: str = "upload.json",
    *,
    ndjson: bool | None = None,
    **options: Any,
) -> tuple[pd.DataFrame, IngestReport]:
    """Read FHIR JSON given as bytes (or an open binary file) into the long table.

    Parameters
    ----------
    data : bytes or binary file
        The content of the file. It is data, never a file name, whatever it holds.
    name : str
        The file name it came with, for messages (and for its suffix: ``.ndjson`` or ``.jsonl``
        means one resource per line).
    ndjson : bool, optional
        Force (or forbid) reading one resource per line; default by the suffix of ``name``.
    options
        As for :func:`read_fhir_json`.
    """
    obj, ndj = _load_bytes(data, name, ndjson)
    return _read(obj, name, ndj, **options)


def read_fhir_json(
    obj: Any, source: str = "<bundle>", **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """Read an already parsed FHIR Bundle, Observation or QuestionnaireResponse (a ``dict``).

    Parameters
    ----------
    obj : dict
        The parsed JSON; anything else (a string, a list, a number) is refused.
    source : str
        Name used in messages.
    subject : str, optional
        Subject id for every row (``--subject``; default: from each resource's ``subject``).
    on_error : {"raise", "keep-valid"}
        Stop at the first invalid resource or unknown code (default), or leave such resources out
        and count them (``--keep-valid``).
    on_duplicate, timezone, future_dates
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
    require_resource(obj, source, TOP_LEVEL)
    check_depth(obj, source)
    return _read(obj, source, False, **options)


def read_fhir(
    data: os.PathLike[str] | Mapping[str, Any], **options: Any
) -> tuple[pd.DataFrame, IngestReport]:
    """A ``Path`` (see :func:`read_fhir_file`) or a parsed ``dict`` (:func:`read_fhir_json`).

    A ``str`` or ``bytes`` is refused rather than guessed: call :func:`read_fhir_file` for a path
    and :func:`read_fhir_bytes` for content.
    """
    if isinstance(data, (str, bytes, bytearray)):
        raise TypeError(
            "read_fhir does not guess whether a str is a path or JSON: use read_fhir_file(path) "
            "or read_fhir_bytes(content)"
        )
    if isinstance(data, os.PathLike):
        return read_fhir_file(data, **options)
    return read_fhir_json(data, **options)


def _load_bytes(
    data: bytes | bytearray | memoryview | IO[bytes], name: str, ndjson: bool | None
) -> tuple[dict[str, Any], bool]:
    if hasattr(data, "read"):
        data = data.read()  # type: ignore[union-attr]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"FHIR content must be bytes or a binary file, not {type(data).__name__}")
    text = decode_json_bytes(bytes(data), name)
    if not text.strip():
        raise InputDataError("the file is empty", file=name, expected="a FHIR Bundle in JSON")
    ndj = Path(name).suffix.lower() in _NDJSON if ndjson is None else ndjson
    if ndj:
        return load_ndjson(text, name), True
    obj = parse_json_text(text, name)
    return require_resource(obj, name, TOP_LEVEL), False


# --------------------------------------------------------------------------- reading
def _read(
    obj: dict[str, Any],
    source: str,
    ndjson: bool,
    *,
    subject: str | None = None,
    on_error: str = "raise",
    on_duplicate: str = "error",
    timezone: str | None = None,
    future_dates: str | DateRule = "warn",
) -> tuple[pd.DataFrame, IngestReport]:
    """Read a parsed Bundle or resource; see :func:`read_fhir_json`."""
    if on_error not in ("raise", "keep-valid"):
        raise SettingsError(f"on_error must be 'raise' or 'keep-valid' (got {on_error!r})")
    entries = _entries(obj, source)
    if obj.get("resourceType") == "Bundle" and not ndjson:
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
        df,
        source,
        on_duplicate=on_duplicate,
        timezone=timezone,
        labels=label,
        future_dates=future_dates,
    )
    report = IngestReport(
        source=source,
        rows_read=n_resources,
        rows_used=n_resources - sum(v for k, v in counts.items() if "left out" in k),
        rows_corrected=rep.rows_corrected,
        reasons=dict(rep.reasons),
        warnings=list(rep.warnings),
    )
    report.rows_rejected += rep.rows_rejected
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
    if any(c.get("system") == EVENT_SYSTEM for c in codings(res.get("code"))):
        count("smoulder worsening events (not measures) ignored")
        return []
    m = _observation_measure(res)
    if m is None:
        codes = [f"{c.get('system')}|{c.get('code')}" for c in codings(res.get("code"))]
        raise InputDataError(
            "unknown Observation code",
            file=f"{source}, {_path(('code', 'coding'), where)}",
            value=", ".join(codes) or None,
            expected=f"a LOINC code of the catalogue ({', '.join(sorted(LOINC_TO_MEASURE))}) or a "
            f"code of {MEASURE_SYSTEM} naming a catalogue measure; or --keep-valid to leave such "
            "resources out (counted)",
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
