"""Shared parts of the FHIR reader and writer (:mod:`smoulder.io.fhir`): code systems, unit
spellings, JSON loading with bounded nesting, resource validation and JSON paths.

JSON arrives as bytes (an upload, or a file's content) and is turned into Python objects here,
once: a JSON value that is not an object of the expected ``resourceType`` is an error that says
so, and never a file name.
"""

from __future__ import annotations

import json
import re
from typing import Any

from smoulder.exceptions import InputDataError
from smoulder.schema.catalogue import MEASURES, Measure

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

#: LOINC code -> catalogue measure: ``Measure.loinc`` (written and read) and ``Measure.loinc_also``
#: (read only); each checked against LOINC's own name (docs/fhir.md lists them)
LOINC_TO_MEASURE: dict[str, str] = {
    code: m.name
    for m in MEASURES.values()
    for code in ((m.loinc,) if m.loinc else ()) + m.loinc_also
}
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
    "[mi_i]": "mi",
    "[lb_av]": "lb",
    "[oz_av]": "oz",
    "[stone_av]": "st",
    "{beats}/min": "/min",
    "{beat}/min": "/min",
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
    "kg": "kg",
    "/min": "/min",
    "s": "s",
}
_SKIP_OBS = {"entered-in-error", "cancelled"}
_QR_OK = {"completed", "amended"}
#: JSON nested deeper than this is refused (FHIR resources nest a few levels; QuestionnaireResponse
#: items a few more)
MAX_JSON_DEPTH = 64


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


# --------------------------------------------------------------------------- JSON
def _kind(value: Any) -> str:
    return {
        str: "a JSON string",
        list: "a JSON array",
        bool: "a JSON true/false",
        int: "a JSON number",
        float: "a JSON number",
        type(None): "JSON null",
    }.get(type(value), "not a JSON object")


def _short_path(parts: list[Any]) -> str:
    path = _path(tuple(parts))
    if len(path) > 120:
        path = path[:60] + " ... " + path[-50:]
    return path or "the top level"


def _too_deep(where: list[Any], source: str) -> InputDataError:
    return InputDataError(
        f"JSON nested more than {MAX_JSON_DEPTH} levels deep (at {_short_path(where)})",
        file=source,
        expected="a FHIR resource (they nest a few levels); nothing was imported",
    )


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:|"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _deep_path(text: str) -> list[Any]:
    """The JSON path at which ``text`` first nests deeper than MAX_JSON_DEPTH (one pass)."""
    frames: list[list[Any]] = []  # [is_array, key or index]
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            frames.append([tok == "[", 0 if tok == "[" else None])
            if len(frames) > MAX_JSON_DEPTH:
                return [f[1] for f in frames[:-1]]
        elif tok in "]}":
            if frames:
                frames.pop()
        elif tok == ",":
            if frames and frames[-1][0]:
                frames[-1][1] += 1
        elif tok.endswith(":") and frames and not frames[-1][0]:
            try:
                frames[-1][1] = json.loads(tok[:-1].rstrip())
            except ValueError:  # pragma: no cover
                frames[-1][1] = "?"
    return [f[1] for f in frames]


def check_depth(obj: Any, source: str, base: list[Any] | None = None) -> None:
    """Refuse parsed JSON nested deeper than :data:`MAX_JSON_DEPTH`, naming the JSON path."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(obj, 1, ())]
    while stack:
        o, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep([*(base or []), *path], source)
        items = o.items() if isinstance(o, dict) else enumerate(o)
        for k, v in items:
            if isinstance(v, (dict, list)):
                stack.append((v, depth + 1, (*path, k)))


def parse_json_text(text: str, source: str, where: str = "") -> Any:
    """``json.loads`` with line/column errors and bounded nesting, naming ``source``."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        at = (
            f"line {exc.lineno}, column {exc.colno}"
            if not where
            else f"{where}, column {exc.colno}"
        )
        raise InputDataError(
            f"not valid JSON (malformed or truncated: {exc.msg})",
            file=f"{source}, {at}",
            expected="a complete JSON document (a FHIR Bundle)"
            if not where
            else "one complete FHIR resource per line",
        ) from None
    except RecursionError:
        raise _too_deep(_deep_path(text), source) from None
    if isinstance(obj, (dict, list)):
        check_depth(obj, source)
    return obj


def decode_json_bytes(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM) text of a JSON file, or a clear error."""
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = bytes(data).count(b"\n", 0, exc.start) + 1
        raise InputDataError(
            f"line {line} (byte {exc.start + 1:,}) is not UTF-8 text",
            file=source,
            expected="FHIR JSON in UTF-8",
        ) from None


def require_resource(obj: Any, source: str, expected: tuple[str, ...], where: str = "") -> dict:
    """Refuse a JSON value that is not an object with one of the ``expected`` resource types."""
    place = f"{source}, {where}" if where else source
    want = " or ".join(expected)
    if not isinstance(obj, dict):
        shown = obj if isinstance(obj, (str, int, float)) and not isinstance(obj, bool) else None
        if isinstance(shown, str) and len(shown) > 60:
            shown = shown[:60] + "..."
        raise InputDataError(
            f"{_kind(obj)}, not a FHIR resource (an uploaded value is data, never a file name)",
            file=place,
            value=shown,
            expected=f'a JSON object with "resourceType": {want}',
        )
    rtype = obj.get("resourceType")
    if rtype not in expected:
        raise InputDataError(
            "not a FHIR resource of the expected type"
            if rtype is not None
            else "a JSON object without a resourceType",
            file=place,
            value=rtype if isinstance(rtype, str) else None,
            expected=f'"resourceType": {want}',
        )
    return obj


def load_ndjson(text: str, source: str) -> dict[str, Any]:
    """FHIR bulk data (one resource per line) as a Bundle whose entries remember their line."""
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        res = parse_json_text(line, source, where=f"line {n}")
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            raise InputDataError(
                f"{_kind(res) if not isinstance(res, dict) else 'a JSON object without a resourceType'}"
                ", not a FHIR resource",
                file=f"{source}, line {n}",
                expected="one JSON object with a resourceType per line",
            )
        entries.append({"resource": res, "_line": n})
    if not entries:
        raise InputDataError(
            "the file is empty", file=source, expected="one FHIR resource per line"
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries, "_ndjson": True}


def _entries(
    obj: dict[str, Any], source: str, *, skipped: list[str] | None = None
) -> list[tuple[str, dict[str, Any], str | None]]:
    """``(JSON path, resource, fullUrl)`` of every entry of a Bundle (or the one resource).

    Entries without a resource (the requests of a transaction that deletes, the responses of a
    batch) are left out; with ``skipped`` their paths are appended to it, else they are an error.
    """
    rtype = obj.get("resourceType")
    if rtype == "Bundle":
        entries = obj.get("entry") or []
        if not isinstance(entries, list):
            raise InputDataError(
                "Bundle.entry is not a list", file=f"{source}, entry", expected="a JSON array"
            )
        out = []
        for i, e in enumerate(entries):
            if isinstance(e, dict) and not isinstance(e.get("resource"), dict):
                if skipped is not None and "resource" not in e:
                    skipped.append(f"entry[{i}]")
                    continue
            if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
                raise InputDataError(
                    "bundle entry without a resource",
                    file=f"{source}, entry[{i}]",
                    expected="an object with a 'resource'",
                )
            where = f"line {e['_line']}: resource" if "_line" in e else f"entry[{i}].resource"
            url = e.get("fullUrl")
            out.append((where, e["resource"], url if isinstance(url, str) else None))
        return out
    if isinstance(rtype, str):
        return [("", obj, None)]
    raise InputDataError(
        "no resourceType", file=source, expected="a FHIR Bundle or resource in JSON"
    )


# --------------------------------------------------------------------------- parts of resources
def _subject(res: dict[str, Any], where: str, source: str, override: str | None) -> str:
    if override is not None:
        return override
    subj = res.get("subject")
    subj = subj if isinstance(subj, dict) else {}
    ref = subj.get("reference")
    if isinstance(ref, str) and ref.strip():
        return ref.rstrip("/").rsplit("/", 1)[-1]
    ident = subj.get("identifier")
    ident = ident.get("value") if isinstance(ident, dict) else None
    if isinstance(ident, str) and ident.strip():
        return ident
    raise InputDataError(
        "no subject",
        file=f"{source}, {_path(('subject',), where)}",
        expected="subject.reference (Patient/<id>) or subject.identifier.value, or --subject",
    )


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept, ignoring anything malformed."""
    if not isinstance(concept, dict) or not isinstance(concept.get("coding"), list):
        return []
    return [c for c in concept["coding"] if isinstance(c, dict)]


def _observation_measure(res: dict[str, Any]) -> Measure | None:
    for c in codings(res.get("code")):
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
