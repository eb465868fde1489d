"""The pseudonymised (researcher) view of a time line, built from an allow-list of coded fields.

Nothing is copied from the full time line unless it is listed here, with a check that the value is
coded: a date, a number, a yes/no, one of a fixed set of codes, a drug from the controlled list
(:mod:`smoulder.schema.treatments`), a measure from the digital catalogue. Free text (names, clinic
ids, notes, medications, other health problems, typed drug names, device measure names and units
that are not in the catalogue, analysis messages) never passes. A field added to the time line later
is hidden from researchers until someone adds it here.

Examples
--------
>>> tl = {
...     "person": {"key": "P-ABCDEFGH", "name": "Ann"},
...     "treatments": [{"drug": "Ocrevus", "start": "2020-01-01", "stop": None, "note": "600 mg"}],
... }
>>> view = researcher_view(tl)
>>> view["person"]
{'key': 'P-ABCDEFGH', 'sex': None, 'birth_year': None, 'disease_course': None, 'onset_year': None}
>>> view["treatments"][0]["drug"], view["treatments"][0]["drug_class"]
('ocrelizumab', 'anti-CD20')
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from smoulder.schema.disease_course import COURSES
from smoulder.schema.treatments import canonical_treatment

Check = Callable[[Any], Any]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")
_PSEUDONYM = re.compile(r"P-[A-Z0-9]{4,16}")
_VERSION = re.compile(r"[0-9A-Za-z.+\-]{1,40}")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_.\-]{0,40}")


def _date(v: Any) -> str | None:
    return v if isinstance(v, str) and _DATE.fullmatch(v) else None


def _datetime(v: Any) -> str | None:
    return v if isinstance(v, str) and _DATETIME.fullmatch(v) else None


def _num(v: Any) -> float | int | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return v if math.isfinite(v) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _choice(*options: str) -> Check:
    allowed = frozenset(options)

    def check(v: Any) -> str | None:
        return v if isinstance(v, str) and v in allowed else None

    return check


def _pseudonym(v: Any) -> str | None:
    return v if isinstance(v, str) and _PSEUDONYM.fullmatch(v) else None


def _version(v: Any) -> str | None:
    return v if isinstance(v, str) and _VERSION.fullmatch(v) else None


def _settings(v: Any, depth: int = 0) -> Any:
    """Analysis settings: numbers, yes/no and short code words only, nested at most 4 deep."""
    if depth > 4:
        return None
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return _num(v)
    if isinstance(v, str):
        return v if _SAFE_WORD.fullmatch(v) else None
    if isinstance(v, list | tuple):
        return [_settings(x, depth + 1) for x in v[:50]]
    if isinstance(v, dict):
        return {
            k: _settings(x, depth + 1)
            for k, x in list(v.items())[:100]
            if isinstance(k, str) and _SAFE_WORD.fullmatch(k)
        }
    return None


def _catalogue() -> dict[str, Any]:
    try:  # the measures catalogue (moving to smoulder.schema; either place works)
        from smoulder.schema.measures import MEASURES  # type: ignore[import-not-found]
    except ImportError:
        from smoulder.digital.catalogue import MEASURES
    return MEASURES


def _measure(v: Any) -> str | None:
    return v if isinstance(v, str) and v in _catalogue() else None


def _unit_of(measure: str, unit: Any) -> str | None:
    """The stored unit when it is the catalogue's canonical unit or an accepted spelling of it."""
    m = _catalogue()[measure]
    return unit if isinstance(unit, str) and (unit == m.unit or unit in m.units) else None


def _rows(spec: Mapping[str, Check]) -> Callable[[Any], list[dict[str, Any]]]:
    def apply(rows: Any) -> list[dict[str, Any]]:
        if not isinstance(rows, list):
            return []
        return [
            {field: check(row.get(field)) for field, check in spec.items()}
            for row in rows
            if isinstance(row, dict)
        ]

    return apply


PERSON: dict[str, Check] = {
    "key": _pseudonym,
    "sex": _choice("F", "M", "X"),
    "birth_year": _int,
    "disease_course": _choice(*COURSES),
    "onset_year": _int,
}
ASSESSMENT: dict[str, Check] = {
    "date": _date,
    "edss": _num,
    "t25fw": _num,
    "nhpt": _num,
    "sdmt": _num,
}
RELAPSE: dict[str, Check] = {"onset": _date, "end": _date}
LESION: dict[str, Check] = {
    "method": _choice("prl", "sel"),
    "label": _int,
    "volume_mm3": _num,
    "rim_score": _num,
    "prl": _bool,
    "expansion_pct_per_year": _num,
    "sel": _choice("definite", "possible", "no"),
}
MRI: dict[str, Check] = {
    "date": _date,
    "active": _bool,
    "t2_lesions": _int,
    "new_enlarging": _int,
    "gd_enhancing": _int,
    "prl_rated": _bool,
    "n_prl": _int,
    "n_lesions": _int,
    "sel_rated": _bool,
    "n_sel_definite": _int,
    "n_sel_possible": _int,
    "lesions": _rows(LESION),
}
EVENT: dict[str, Check] = {
    "type": _choice("PIRA", "RAW", "undefined", "CDI"),
    "event_type": _choice("CDW", "CDI"),
    "outcome": _choice("edss", "t25fw", "nhpt", "sdmt"),
    "baseline_date": _date,
    "baseline_value": _num,
    "event_date": _date,
    "event_value": _num,
    "confirmation_date": _date,
}
DEVICE_EVENT: dict[str, Check] = {
    "measure": _measure,
    "onset_date": _date,
    "detected_date": _date,
    "baseline_value": _num,
    "current_value": _num,
    "change_pct": _num,
    "source": _choice("import", "smoulder.digital"),
}
LIFESTYLE: dict[str, Check] = {
    "date": _date,
    "exercise_min_week": _int,
    "diet": _choice("healthy", "mixed", "unhealthy"),
    "smoking": _choice("never", "former", "current"),
    "alcohol_units_week": _num,
    "sleep_hours": _num,
}
ANALYSIS: dict[str, Check] = {
    "kind": _choice("progression", "digital"),
    "version": _version,
    "computed_at": _datetime,
    "status": _choice("ok", "error", "unavailable"),
    "settings": _settings,
}


def _treatments(rows: Any) -> list[dict[str, Any]]:
    out = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        t = canonical_treatment(row.get("drug"))
        out.append(
            {
                "drug": t.name if t else None,
                "drug_class": t.drug_class if t else None,
                "start": _date(row.get("start")),
                "stop": _date(row.get("stop")),
            }
        )
    return out


def _device(series: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(series, dict):
        return out
    for name, s in series.items():
        if _measure(name) is None or not isinstance(s, dict):
            continue
        dates, values = s.get("dates") or [], s.get("values") or []
        out[name] = {
            "unit": _unit_of(name, s.get("unit")),
            "dates": [_date(d) for d in dates],
            "values": [_num(v) for v in values],
            "n_days": _int(s.get("n_days")),
        }
    return out


def _device_events(rows: Any) -> list[dict[str, Any]]:
    return [r for r in _rows(DEVICE_EVENT)(rows) if r["measure"] is not None]


SECTIONS: dict[str, Callable[[Any], Any]] = {
    "person": lambda p: {k: c((p or {}).get(k)) for k, c in PERSON.items()},
    "assessments": _rows(ASSESSMENT),
    "relapses": _rows(RELAPSE),
    "treatments": _treatments,
    "mri": _rows(MRI),
    "events": _rows(EVENT),
    "device": _device,
    "device_events": _device_events,
    "lifestyle": _rows(LIFESTYLE),
    "analyses": _rows(ANALYSIS),
}


def _canonical_name(v: Any) -> str | None:
    t = canonical_treatment(v)
    return t.name if t is not None else None


COHORT_ROW: dict[str, Check] = {
    **PERSON,
    "n_pira": _int,
    "n_raw": _int,
    "n_prl": _int,
    "n_sel": _int,
    "n_digital": _int,
    "n_relapses": _int,
    "last_edss": _num,
    "last_visit": _date,
    "visit_overdue": _bool,
    "age": _int,
    "treatment": _canonical_name,
    "edss_trend": _rows({"date": _date, "edss": _num}),
    "edss_change_2y": _num,
}


def researcher_row(row: dict[str, Any]) -> dict[str, Any]:
    """One cohort row as a researcher may see it: coded fields only (the current treatment as
    the substance from the controlled list, or nothing)."""
    out = {k: c(row.get(k)) for k, c in COHORT_ROW.items()}
    out["name"] = None
    out["subject"] = None
    return out


def researcher_view(timeline: dict[str, Any]) -> dict[str, Any]:
    """The time line with only allow-listed, coded fields (see the module docstring).

    Parameters
    ----------
    timeline : dict
        The full time line (:func:`smoulder.store.repo.timeline` for a clinician).

    Returns
    -------
    dict
        The same sections, each field checked; unlisted sections and fields are absent.
    """
    return {name: build(timeline.get(name)) for name, build in SECTIONS.items()}


def researcher_person(person: dict[str, Any]) -> dict[str, Any]:
    """A person's identity as a researcher may see it: pseudonym, sex and birth year."""
    out = {k: c(person.get(k)) for k, c in PERSON.items()}
    out["name"] = None
    out["subject"] = None
    return out


__all__ = ["researcher_view", "researcher_person", "researcher_row", "SECTIONS", "COHORT_ROW"]
