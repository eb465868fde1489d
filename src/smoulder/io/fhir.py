"""FHIR R4 in and out: Observation and QuestionnaireResponse bundles <-> the long table.

**FHIR version.** The data are FHIR R4 (4.0.1). fhir.resources 8 ships R5 as its default
package, R4B (4.3) in ``fhir.resources.R4B`` and no R4 package; R4B is R4 with a few additions and
the same Observation, QuestionnaireResponse and Bundle structure, so resources are validated
with the R4B models, the closest available. Nothing R4B-only is written on export.

**Reading**: a Bundle (any type: collection, searchset, transaction ...) or a single Observation
or QuestionnaireResponse, or FHIR bulk data (NDJSON: one resource per line, recognised by the
suffix ``.ndjson``/``.jsonl`` or by its content; errors then name the line). Three entry points, none of which guesses what a ``str`` is:

* :func:`read_fhir_file` takes a path (the command line);
* :func:`read_fhir_bytes` takes the bytes of a file (an upload): its content is data, never a
  file name;
* :func:`read_fhir_json` takes an already parsed JSON value (it must be an object of one of
  those resource types; a JSON string, array or number is refused with a message saying so).

:func:`read_fhir` is kept for a ``Path`` or a parsed ``dict``; it refuses a ``str``. JSON nested
deeper than 64 levels is refused with the JSON path where it happens.

* Every Observation smoulder reads and every QuestionnaireResponse is validated with
  fhir.resources; an invalid one stops the import with its JSON path
  (``entry[3].resource.valueQuantity.value``). Malformed or truncated JSON is reported with its
  line and column.
* ``Observation``: the measure comes from ``code.coding``: a LOINC code of the catalogue
  (``Measure.loinc``, written and read, e.g. ``41950-7`` steps in 24 h, ``93832-4`` sleep
  duration; ``Measure.loinc_also``, read only, e.g. HL7 mHealth's ``55423-8`` step count) or a
  code of the smoulder code system ``https://smoulder.dev/fhir/measure`` whose codes are
  catalogue names; ``LOINC_TO_MEASURE`` holds the mapping and docs/fhir.md lists it with the
  measures that have no standard code. An EHR export holds far more: **Observations of other
  codes are left out and counted by code** (``FhirReport.skipped_codes``: system, code,
  display, why, count), and so are those of a catalogue code without a value
  (``dataAbsentReason``), with their values only in ``component`` (blood pressure), with a
  value that is not a number or is censored (``comparator``), or without a date;
  ``strict=True`` (``--strict``) refuses the file at the first of them instead.
* The date is ``effectiveDateTime``, ``effectiveInstant`` or ``effectivePeriod.start`` (else its
  ``end``), its local calendar date as in :mod:`smoulder.io.measures`; the value ``valueQuantity``
  (UCUM ``code`` when the system is UCUM, else ``unit``; converted with the catalogue:
  ``[lb_av]``, ``[mi_i]``, ``min``, ``{beats}/min`` ...), ``valueInteger`` or ``valueDecimal``.
* ``QuestionnaireResponse`` (PRO totals): an item whose ``linkId`` is a catalogue PRO name
  (``msis29_physical``, ``msis29_psychological``, ``msws12``, ``pdds``), or ``total``/``score``
  when the ``questionnaire`` canonical ends with such a name
  (``https://smoulder.dev/fhir/Questionnaire/msws12``); the answer's ``valueDecimal``,
  ``valueInteger`` or ``valueQuantity``; the date is ``authored``. Other items (single answers)
  are counted in the report and not used.
* The subject: a ``subject.reference`` to a Patient in the file (``urn:uuid:...`` in Synthea and
  transaction bundles, ``Patient/123``) gives that patient's identifier (``patient_identifier``
  names its system; default the medical record number, type ``MR``, else the first identifier
  that is not a social-security, licence, passport or tax number, else ``Patient.id``); a
  reference to a patient not in the file gives its id (``Patient/123`` -> ``123``); else
  ``subject.identifier.value``; ``--subject`` overrides all.
* Any Bundle type (collection, searchset, transaction, batch, document); entries without a
  resource (requests, responses) and resources of other types are counted and ignored.
  Resources with status ``entered-in-error`` or ``cancelled`` (and questionnaires not
  ``completed``/``amended``) are left out and counted.
* The rows then go through :func:`smoulder.io.measures.validate_measures` (units, ranges,
  duplicates, daily values), with errors naming the JSON path.
* ``on_error="keep-valid"`` (``--keep-valid``) leaves out resources that fail validation and
  counts them; broken JSON always stops the import.
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

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from smoulder.exceptions import InputDataError
from smoulder.io._fhir_common import (
    EVENT_FIELD_SYSTEM,
    EVENT_SYSTEM,
    FHIR_VERSION_NOTE,
    LOINC,
    LOINC_TO_MEASURE,
    MAX_JSON_DEPTH,
    MEASURE_SYSTEM,
    QUESTIONNAIRE_BASE,
    UCUM,
    check_depth,
    decode_json_bytes,
    load_ndjson,
    parse_json_text,
    require_resource,
)
from smoulder.io._fhir_read import FhirReport, read_parsed
from smoulder.io._fhir_write import (
    events_to_bundle,
    measures_to_bundle,
    read_events_bundle,
    read_events_bundle_bytes,
    read_events_bundle_file,
    write_bundle,
)

__all__ = [
    "FHIR_VERSION_NOTE",
    "FhirReport",
    "LOINC",
    "LOINC_TO_MEASURE",
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
    "looks_like_ndjson",
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
def read_fhir_file(path: str | os.PathLike[str], **options: Any) -> tuple[pd.DataFrame, FhirReport]:
    """Read a FHIR JSON file (``.json``; ``.ndjson``/``.jsonl`` bulk data) into the long table.

    Parameters
    ----------
    path : str or PathLike
        A Bundle, a single resource, or bulk data (one resource per line, recognised by the
        suffix or by its content).
    options
        As for :func:`read_fhir_json`.

    Returns
    -------
    DataFrame, FhirReport
        As for :func:`read_fhir_json`.
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
) -> tuple[pd.DataFrame, FhirReport]:
    """Read FHIR JSON given as bytes (or an open binary file) into the long table.

    Parameters
    ----------
    data : bytes or binary file
        The content of the file. It is data, never a file name, whatever it holds.
    name : str
        The file name it came with, for messages (and for its suffix: ``.ndjson`` or ``.jsonl``
        means one resource per line).
    ndjson : bool, optional
        Force (or forbid) reading one resource per line; default: by the suffix of ``name``
        (``.ndjson``, ``.jsonl``) or, whatever the suffix, when every line is a whole JSON
        object (:func:`looks_like_ndjson`).
    options
        As for :func:`read_fhir_json`.

    Returns
    -------
    DataFrame, FhirReport
        As for :func:`read_fhir_json`.
    """
    obj, ndj = _load_bytes(data, name, ndjson)
    return read_parsed(obj, name, ndj, **options)


def read_fhir_json(
    obj: Any, source: str = "<bundle>", **options: Any
) -> tuple[pd.DataFrame, FhirReport]:
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
        Stop at the first invalid resource (default), or leave such resources out and count
        them (``--keep-valid``).
    strict : bool
        Refuse the file at the first Observation that is not read (a code outside the catalogue,
        no value, no number, no date) instead of leaving it out and counting it by code
        (``--strict``). Observations entered in error or cancelled are always left out.
    patient_identifier : str, optional
        Identifier system of the Patient resources in the file whose value is the subject id
        (``--patient-identifier``); default: the medical record number (type ``MR``), else the
        first identifier that is not a social-security, licence, passport or tax number, else
        ``Patient.id``.
    on_duplicate, timezone, future_dates
        As in :func:`smoulder.io.measures.validate_measures`.

    Returns
    -------
    DataFrame
        ``subject, date, measure, value, unit`` (one row per subject, day and measure).
    FhirReport
        Resources read, used, left out (and why), corrections, and the codes not read
        (``skipped_codes``: system, code, display, why, count).

    Raises
    ------
    InputDataError
        Naming the JSON path (``entry[3].resource.valueQuantity.value``) or the line and column
        of broken JSON.
    """
    require_resource(obj, source, TOP_LEVEL)
    check_depth(obj, source)
    return read_parsed(obj, source, False, **options)


def read_fhir(
    data: os.PathLike[str] | Mapping[str, Any], **options: Any
) -> tuple[pd.DataFrame, FhirReport]:
    """Read FHIR from a ``Path`` (see :func:`read_fhir_file`) or a parsed ``dict``.

    Parameters
    ----------
    data : PathLike or Mapping
        A ``Path`` or the parsed JSON (:func:`read_fhir_json`). A ``str`` or ``bytes`` is refused
        rather than guessed: call :func:`read_fhir_file` for a path and :func:`read_fhir_bytes`
        for content.
    options
        As for :func:`read_fhir_json`.

    Returns
    -------
    DataFrame, FhirReport
        As for :func:`read_fhir_json`.
    """
    if isinstance(data, (str, bytes, bytearray)):
        raise TypeError(
            "read_fhir does not guess whether a str is a path or JSON: use read_fhir_file(path) "
            "or read_fhir_bytes(content)"
        )
    if isinstance(data, os.PathLike):
        return read_fhir_file(data, **options)
    return read_fhir_json(data, **options)


def looks_like_ndjson(text: str) -> bool:
    r"""Whether ``text`` is FHIR bulk data: two or more lines, each a whole JSON object.

    A Bundle written on one line, or pretty-printed over many, is not: its first line alone is
    either the whole document or not a complete object.

    Parameters
    ----------
    text : str
        The file's content.

    Returns
    -------
    bool

    Examples
    --------
    >>> looks_like_ndjson('{"resourceType": "Observation"}\n{"resourceType": "Observation"}\n')
    True
    >>> looks_like_ndjson('{\n "resourceType": "Bundle"\n}\n')
    False
    """
    lines = (ln for ln in text.splitlines() if ln.strip())
    first, second = next(lines, None), next(lines, None)
    if first is None or second is None:
        return False
    first = first.strip()
    if not (first.startswith("{") and first.endswith("}")):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def _load_bytes(
    data: bytes | bytearray | memoryview | IO[bytes], name: str, ndjson: bool | None
) -> tuple[dict[str, Any], bool]:
    if not isinstance(data, (bytes, bytearray, memoryview)) and hasattr(data, "read"):
        data = data.read()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"FHIR content must be bytes or a binary file, not {type(data).__name__}")
    text = decode_json_bytes(bytes(data), name)
    if not text.strip():
        raise InputDataError("the file is empty", file=name, expected="a FHIR Bundle in JSON")
    ndj = (
        (Path(name).suffix.lower() in _NDJSON or looks_like_ndjson(text))
        if ndjson is None
        else ndjson
    )
    if ndj:
        return load_ndjson(text, name), True
    obj = parse_json_text(text, name)
    return require_resource(obj, name, TOP_LEVEL), False
