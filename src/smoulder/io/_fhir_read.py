"""Reading FHIR R4 Observations and QuestionnaireResponses into the long table.

See :mod:`smoulder.io.fhir` for the rules. An EHR export holds far more than smoulder reads (vital
signs, laboratory results, claims ...): what the catalogue knows is imported, everything else is
left out and counted by code (:class:`FhirReport.skipped_codes`), and ``strict=True``
(``--strict``) refuses such a file instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from smoulder.exceptions import InputDataError, SettingsError
from smoulder.io._fhir_common import (
    _QR_OK,
    _SKIP_OBS,
    EVENT_SYSTEM,
    LOINC,
    _entries,
    _observation_measure,
    _path,
    _quantity_unit,
    _validate_resource,
    codings,
)
from smoulder.io.ingest import IngestReport
from smoulder.io.measures import validate_measures
from smoulder.schema.catalogue import MEASURES
from smoulder.schema.dates import DateRule

__all__ = ["FhirReport", "read_parsed"]

Row = tuple[tuple[str, str, str, float, str | None], dict[str, str]]

#: identifier types (HL7 v2 table 0203) never used as a subject id: they identify a person
#: outside the clinic (social security, driver's licence, passport, tax ...)
_SENSITIVE_ID_TYPES = frozenset({"SS", "SB", "DL", "PPN", "TAX", "NI", "NNxxx", "PEN", "CZ"})
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
#: codes listed in full by ``str(report)``; the JSON report holds all of them
_SHOWN_CODES = 15


@dataclass
class FhirReport(IngestReport):
    """The input report of a FHIR read, with the codes left out.

    Attributes
    ----------
    skipped_codes : list of dict
        One entry per code of the Observations that were not read: ``system``, ``code``,
        ``display``, ``why`` and ``count``, the most frequent first.
    """

    skipped_codes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Everything of :meth:`IngestReport.to_dict` plus ``skipped_codes``."""
        out = super().to_dict()
        out["skipped_codes"] = [dict(c) for c in self.skipped_codes]
        return out

    def __str__(self) -> str:
        lines = [super().__str__()]
        if self.skipped_codes:
            lines.append("  codes not read (system|code|display: Observations):")
            for c in self.skipped_codes[:_SHOWN_CODES]:
                lines.append(
                    f"    {c['system']}|{c['code']}|{c['display']}: {c['count']:,} ({c['why']})"
                )
            if len(self.skipped_codes) > _SHOWN_CODES:
                rest = self.skipped_codes[_SHOWN_CODES:]
                lines.append(
                    f"    ... and {len(rest)} more codes ({sum(c['count'] for c in rest):,} "
                    "Observations; --json lists them all)"
                )
        return "\n".join(lines)


class _Skips:
    """Observations not read, counted by code and reason."""

    def __init__(self) -> None:
        self.by_code: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, res: dict[str, Any], why: str) -> None:
        cs = codings(res.get("code"))
        pick = next((c for c in cs if c.get("system") == LOINC), cs[0] if cs else {})
        display = pick.get("display") or (res.get("code") or {}).get("text") or ""
        self.by_code[
            (str(pick.get("system", "")), str(pick.get("code", "")), str(display), why)
        ] += 1

    def listing(self) -> list[dict[str, Any]]:
        return [
            {"system": s, "code": c, "display": d, "why": w, "count": n}
            for (s, c, d, w), n in sorted(self.by_code.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def total(self) -> int:
        return sum(self.by_code.values())


class _Patients:
    """Patient resources of the file, found by ``fullUrl`` or ``Patient/<id>``, and the subject
    id each reference gives (an identifier of the patient; never a social-security-like one)."""

    def __init__(
        self, entries: list[tuple[str, dict[str, Any], str | None]], system: str | None
    ) -> None:
        self.system = system
        self.by_ref: dict[str, tuple[str, dict[str, Any]]] = {}
        for where, res, full_url in entries:
            if res.get("resourceType") != "Patient":
                continue
            if full_url:
                self.by_ref[full_url] = (where, res)
            rid = res.get("id")
            if isinstance(rid, str) and rid:
                self.by_ref.setdefault(f"Patient/{rid}", (where, res))
        self.unresolved_uuid = 0

    def _identifier(self, where: str, res: dict[str, Any], source: str) -> str | None:
        idents = [i for i in res.get("identifier") or [] if isinstance(i, dict)]
        valued = [i for i in idents if isinstance(i.get("value"), str) and i["value"].strip()]
        if self.system is not None:
            hit = next((i for i in valued if i.get("system") == self.system), None)
            if hit is None:
                raise InputDataError(
                    f"the patient has no identifier of system {self.system}",
                    file=f"{source}, {_path(('identifier',), where)}",
                    value=", ".join(sorted({str(i.get("system")) for i in valued})) or None,
                    expected="an identifier of the system given by --patient-identifier",
                )
            return str(hit["value"]).strip()

        def types(i: dict[str, Any]) -> set[str]:
            return {str(c.get("code")) for c in codings(i.get("type"))}

        mr = next((i for i in valued if "MR" in types(i)), None)
        if mr is not None:
            return str(mr["value"]).strip()
        plain = next((i for i in valued if not types(i) & _SENSITIVE_ID_TYPES), None)
        if plain is not None:
            return str(plain["value"]).strip()
        rid = res.get("id")
        return rid if isinstance(rid, str) and rid else None

    def subject(self, res: dict[str, Any], where: str, source: str, override: str | None) -> str:
        if override is not None:
            return override
        subj = res.get("subject")
        subj = subj if isinstance(subj, dict) else {}
        ref = subj.get("reference")
        if isinstance(ref, str) and ref.strip():
            ref = ref.strip()
            hit = self.by_ref.get(ref) or self.by_ref.get(_tail_ref(ref))
            if hit is not None:
                got = self._identifier(hit[0], hit[1], source)
                if got:
                    return got
            if ref.startswith("urn:uuid:"):
                self.unresolved_uuid += 1
                return ref.removeprefix("urn:uuid:")
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


def _tail_ref(ref: str) -> str:
    """``http://host/fhir/Patient/123`` -> ``Patient/123``."""
    parts = ref.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def read_parsed(
    obj: dict[str, Any],
    source: str,
    ndjson: bool,
    *,
    subject: str | None = None,
    on_error: str = "raise",
    strict: bool = False,
    patient_identifier: str | None = None,
    on_duplicate: str = "error",
    timezone: str | None = None,
    future_dates: str | DateRule = "warn",
) -> tuple[pd.DataFrame, FhirReport]:
    """Read a parsed Bundle or resource (see :func:`smoulder.io.fhir.read_fhir_json`)."""
    if on_error not in ("raise", "keep-valid"):
        raise SettingsError(f"on_error must be 'raise' or 'keep-valid' (got {on_error!r})")
    no_resource: list[str] = []
    entries = _entries(obj, source, skipped=no_resource)
    if obj.get("resourceType") == "Bundle" and not ndjson:
        shell = {k: v for k, v in obj.items() if k != "entry"}
        _validate_resource(shell, "", source)
    patients = _Patients(entries, patient_identifier)
    rows: list[Row] = []
    counts: Counter[str] = Counter()
    if no_resource:
        counts["bundle entries without a resource (requests or responses) ignored"] = len(
            no_resource
        )
    skips = _Skips()

    def fail(exc: InputDataError, reason: str) -> None:
        if on_error != "keep-valid":
            raise exc
        counts[reason] += 1

    def skip(res: dict[str, Any], where: str, why: str, part: str = "code.coding") -> None:
        if strict:
            raise InputDataError(
                f"Observation not read: {why}",
                file=f"{source}, {_path(tuple(part.split('.')), where)}",
                value=_code_text(res),
                expected="Observations smoulder reads (docs/fhir.md); without --strict such "
                "Observations are left out and counted by code",
            )
        skips.add(res, why)

    n_resources = 0
    for where, res, _url in entries:
        rtype = res.get("resourceType")
        if rtype not in ("Observation", "QuestionnaireResponse"):
            counts[f"{rtype} resources (not measures) ignored"] += 1
            continue
        n_resources += 1
        if rtype == "Observation":
            status = res.get("status")
            if status in _SKIP_OBS:
                counts[f"Observations with status {status} left out"] += 1
                continue
            if any(c.get("system") == EVENT_SYSTEM for c in codings(res.get("code"))):
                counts["smoulder worsening events (not measures) ignored"] += 1
                continue
            if _observation_measure(res) is None:
                has_value = any(k.startswith("value") for k in res)
                why = (
                    "a panel of components (blood pressure ...), not a catalogue measure"
                    if "component" in res and not has_value
                    else "code not in the measures catalogue"
                )
                skip(res, where, why)
                continue
        try:
            _validate_resource(res, where, source)
        except InputDataError as exc:
            fail(exc, f"invalid {rtype} resources left out")
            continue
        try:
            if rtype == "Observation":
                got = _observation(res, where, source, subject, patients, skip, counts)
            else:
                got = _questionnaire(res, where, source, subject, patients, counts)
        except InputDataError as exc:
            fail(exc, f"{rtype} resources with missing parts left out")
            continue
        rows.extend(got)
    listing = skips.listing()
    if skips.total():
        counts["Observations of codes smoulder does not read left out (listed by code)"] = (
            skips.total()
        )
    if not rows:
        raise InputDataError(
            "no measures found" + _skipped_summary(listing, counts),
            file=source,
            expected="Observations with a catalogue LOINC or smoulder code, or "
            "QuestionnaireResponses with PRO totals (docs/fhir.md lists the codes)",
        )
    df = pd.DataFrame([r for r, _ in rows], columns=["subject", "date", "measure", "value", "unit"])
    paths = [p for _, p in rows]

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
    report = FhirReport(
        source=source,
        rows_read=n_resources,
        rows_corrected=rep.rows_corrected,
        reasons=dict(rep.reasons),
        warnings=list(rep.warnings),
        skipped_codes=listing,
    )
    report.rows_rejected += rep.rows_rejected
    left_out = 0
    for k, v in counts.items():
        rejected = "left out" in k
        left_out += v if rejected else 0
        report.add(k, v, rejected=rejected)
    report.rows_used = n_resources - left_out
    if patients.unresolved_uuid:
        report.warnings.append(
            f"{patients.unresolved_uuid:,} resources refer to their patient by a urn:uuid whose "
            "Patient is not in the file: the uuid is used as the subject id"
        )
    return out, report


def _code_text(res: dict[str, Any]) -> str | None:
    codes = [
        "|".join(str(c.get(k, "")) for k in ("system", "code", "display"))
        for c in codings(res.get("code"))
    ]
    return ", ".join(codes) or None


def _skipped_summary(listing: list[dict[str, Any]], counts: Counter[str]) -> str:
    """Why nothing was read, for the 'no measures found' message."""
    parts = [f"{c['system']}|{c['code']}|{c['display']} ({c['count']:,})" for c in listing[:5]]
    more = f" and {len(listing) - 5} more codes" if len(listing) > 5 else ""
    out = f"; codes not read: {', '.join(parts)}{more}" if parts else ""
    other = [f"{k}: {v:,}" for k, v in counts.items() if "listed by code" not in k]
    return out + (f"; {'; '.join(other)}" if other else "")


def _observation(
    res: dict[str, Any],
    where: str,
    source: str,
    override: str | None,
    patients: _Patients,
    skip: Callable[..., None],
    counts: Counter[str],
) -> list[Row]:
    m = _observation_measure(res)
    assert m is not None  # checked by the caller
    unit: str | None = None
    q = res.get("valueQuantity")
    if isinstance(q, dict) and "value" in q:
        if q.get("comparator"):
            skip(res, where, f"a censored value ({q['comparator']} {q['value']})", "valueQuantity")
            return []
        value, vpath = q["value"], "valueQuantity.value"
        unit = _quantity_unit(q)
        upath = "valueQuantity.code" if "code" in q else "valueQuantity.unit"
    elif "valueInteger" in res:
        value, vpath, upath = res["valueInteger"], "valueInteger", "valueInteger"
    elif "valueDecimal" in res:  # not R4, but seen in the wild
        value, vpath, upath = res["valueDecimal"], "valueDecimal", "valueDecimal"
    elif isinstance(res.get("dataAbsentReason"), dict):
        why = next((c.get("code") for c in codings(res["dataAbsentReason"])), None) or "given"
        skip(res, where, f"no value (dataAbsentReason {why})", "dataAbsentReason")
        return []
    elif "component" in res:
        skip(res, where, "values only in components", "component")
        return []
    else:
        kind = next((k for k in res if k.startswith("value")), None)
        skip(res, where, f"not a number ({kind})" if kind else "no value", kind or "value[x]")
        return []
    if "effectiveDateTime" in res:
        date, dpath = res["effectiveDateTime"], "effectiveDateTime"
    elif "effectiveInstant" in res:
        date, dpath = res["effectiveInstant"], "effectiveInstant"
    elif isinstance(res.get("effectivePeriod"), dict) and (
        res["effectivePeriod"].get("start") or res["effectivePeriod"].get("end")
    ):
        key = "start" if res["effectivePeriod"].get("start") else "end"
        date, dpath = res["effectivePeriod"][key], f"effectivePeriod.{key}"
        if key == "start" and res["effectivePeriod"].get("end"):
            if str(res["effectivePeriod"]["end"])[:10] != str(date)[:10]:
                counts["Observations over a period ending on a later day, dated by its start"] += 1
    else:
        skip(res, where, "no date (effective[x])", "effective[x]")
        return []
    subj = patients.subject(res, where, source, override)
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


def _questionnaire(
    res: dict[str, Any],
    where: str,
    source: str,
    override: str | None,
    patients: _Patients,
    counts: Counter[str],
) -> list[Row]:
    status = res.get("status")
    if status not in _QR_OK:
        counts[f"QuestionnaireResponses with status {status} left out"] += 1
        return []
    subj = patients.subject(res, where, source, override)
    if "authored" not in res:
        raise InputDataError(
            "no date",
            file=f"{source}, {_path(('authored',), where)}",
            expected="QuestionnaireResponse.authored",
        )
    date = str(res["authored"])
    default = _pro_from_questionnaire(res.get("questionnaire"))
    out: list[Row] = []

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
                    counts["questionnaire items that are not PRO totals (not used)"] += 1
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
