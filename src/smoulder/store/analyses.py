"""Analyses run from the store, stored with their settings and version, recomputed when inputs change.

* **progression**: confirmed EDSS worsening classified as PIRA/RAW (``smoulder.clinical``), per
  person; a hash of each person's visits, relapses, MRI activity, the settings and the package
  version decides whether the stored events are still current.
* **digital**: sustained worsening in device measures through the digital pipeline
  (:func:`smoulder.pipelines.digital.run`: validation, detection), default settings; a hash of
  each person's measures, the settings and the version decides whether the stored events are
  still current. Imported device events are kept beside the computed ones.
* **signals**: the per-person summary the cohort view sorts and filters on (PIRA, RAW, PRL count
  on the latest scan, definite SELs, measures with digital worsening, last EDSS).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from smoulder import __version__
from smoulder.store.models import (
    AnalysisRun,
    Assessment,
    DeviceEvent,
    DeviceMeasure,
    LesionResult,
    MriSession,
    Person,
    PersonSignals,
    ProgressionEvent,
    Relapse,
)

DIGITAL_SOURCE = "smoulder.digital"
_CHUNK = 500


def default_progression_settings() -> Any:
    """The clinic default: every event, roving baseline, CDWs classified as PIRA/RAW."""
    from smoulder.clinical.settings import ProgressionSettings

    return ProgressionSettings(event="multiple", baseline="roving", classify_cdw=True)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _all_ids(session: Session, person_ids: Iterable[int] | None) -> list[int]:
    if person_ids is None:
        return sorted(session.scalars(select(Person.id)))
    return sorted(set(person_ids))


def _rows(
    session: Session, cols: tuple, person_col: Any, ids: list[int], order: tuple = ()
) -> list[tuple]:
    out: list[tuple] = []
    for chunk in _chunks(ids):
        out.extend(
            session.execute(
                select(person_col, *cols).where(person_col.in_(chunk)).order_by(person_col, *order)
            )
        )
    return out


def _hashes(groups: dict[int, list[Any]], salt: str, ids: list[int]) -> dict[int, str]:
    return {
        pid: hashlib.sha256((salt + repr(groups.get(pid, []))).encode()).hexdigest() for pid in ids
    }


def _stale(session: Session, kind: str, hashes: dict[int, str]) -> list[int]:
    stored: dict[int, str] = {}
    ids = sorted(hashes)
    for chunk in _chunks(ids):
        stored.update(
            session.execute(
                select(AnalysisRun.person_id, AnalysisRun.input_hash).where(
                    AnalysisRun.kind == kind, AnalysisRun.person_id.in_(chunk)
                )
            ).all()
        )
    return [pid for pid in ids if stored.get(pid) != hashes[pid]]


def _replace_runs(
    session: Session,
    kind: str,
    ids: list[int],
    hashes: dict[int, str],
    settings_json: str,
    status: str = "ok",
    message: str = "",
) -> dict[int, int]:
    for chunk in _chunks(ids):
        session.execute(
            delete(AnalysisRun).where(AnalysisRun.kind == kind, AnalysisRun.person_id.in_(chunk))
        )
        # results changed: views cached per data version must be rebuilt
        session.execute(
            update(Person).where(Person.id.in_(chunk)).values(data_version=Person.data_version + 1)
        )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if ids:
        session.execute(
            insert(AnalysisRun),
            [
                {
                    "person_id": pid,
                    "kind": kind,
                    "settings_json": settings_json,
                    "version": __version__,
                    "input_hash": hashes[pid],
                    "computed_at": now,
                    "status": status,
                    "message": message,
                }
                for pid in ids
            ],
        )
    run_ids: dict[int, int] = {}
    for chunk in _chunks(ids):
        run_ids.update(
            session.execute(
                select(AnalysisRun.person_id, AnalysisRun.id).where(
                    AnalysisRun.kind == kind, AnalysisRun.person_id.in_(chunk)
                )
            ).all()
        )
    return run_ids


def refresh_progression(
    session: Session, person_ids: Iterable[int] | None = None, settings: Any = None
) -> dict[str, int]:
    """Recompute EDSS progression events (PIRA/RAW/CDI) for people whose inputs or settings changed.

    Returns counts ``{"checked": n, "recomputed": m, "events": k}``.
    """
    from smoulder.pipelines import progression

    settings = settings if settings is not None else default_progression_settings()
    settings_json = settings.to_json()
    ids = _all_ids(session, person_ids)
    visits = _rows(
        session, (Assessment.date, Assessment.edss), Assessment.person_id, ids, (Assessment.date,)
    )
    visits = [v for v in visits if v[2] is not None]
    rel = _rows(
        session,
        (Relapse.onset_date, Relapse.end_date),
        Relapse.person_id,
        ids,
        (Relapse.onset_date,),
    )
    mri = _rows(
        session, (MriSession.date, MriSession.active), MriSession.person_id, ids, (MriSession.date,)
    )
    groups: dict[int, list[Any]] = defaultdict(list)
    for tag, table in (("v", visits), ("r", rel), ("m", mri)):
        for r in table:
            groups[r[0]].append((tag, *r[1:]))
    hashes = _hashes(groups, settings_json + __version__, ids)
    stale = _stale(session, "progression", hashes)
    if not stale:
        return {"checked": len(ids), "recomputed": 0, "events": 0}
    stale_set = set(stale)
    vdf = pd.DataFrame(
        [(str(p), d, e) for p, d, e in visits if p in stale_set],
        columns=["subject", "date", "edss"],
    )
    events = pd.DataFrame()
    if len(vdf):
        vdf["date"] = pd.to_datetime(vdf["date"])
        rdf = pd.DataFrame(
            [(str(p), d, e) for p, d, e in rel if p in stale_set],
            columns=["subject", "date", "end_date"],
        )
        rdf["date"] = pd.to_datetime(rdf["date"])
        rdf["end_date"] = pd.to_datetime(rdf["end_date"])
        mdf = pd.DataFrame(
            [(str(p), d, a) for p, d, a in mri if p in stale_set and a is not None],
            columns=["subject", "date", "active"],
        )
        mdf["date"] = pd.to_datetime(mdf["date"])
        mdf["active"] = mdf["active"].astype(bool)
        res = progression.run(
            vdf, rdf, mdf, settings, value_col="edss", relapse_end_col="end_date", source="store"
        )
        events = res.events
    for chunk in _chunks(stale):
        session.execute(delete(ProgressionEvent).where(ProgressionEvent.person_id.in_(chunk)))
    run_ids = _replace_runs(session, "progression", stale, hashes, settings_json)
    rows: list[dict[str, Any]] = []
    if len(events):

        def day(x: Any) -> dt.date | None:
            return None if pd.isna(x) else pd.Timestamp(x).date()

        def num(x: Any) -> float | None:
            return None if pd.isna(x) else float(x)

        cdw_type = events["cdw_type"] if "cdw_type" in events else pd.Series("", index=events.index)
        for rec, ctype in zip(events.itertuples(index=False), cdw_type, strict=True):
            pid = int(rec.subject)
            rows.append(
                {
                    "run_id": run_ids[pid],
                    "person_id": pid,
                    "outcome": "edss",
                    "event_type": str(rec.event_type),
                    "cdw_type": "" if pd.isna(ctype) else str(ctype),
                    "baseline_date": day(rec.baseline_date),
                    "baseline_value": num(rec.baseline_value),
                    "event_date": day(rec.event_date),
                    "event_value": num(rec.event_value),
                    "confirmation_date": day(rec.confirmation_date),
                }
            )
    if rows:
        session.execute(insert(ProgressionEvent), rows)
    return {"checked": len(ids), "recomputed": len(stale), "events": len(rows)}


def refresh_digital(session: Session, person_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Detect sustained worsening in device measures through :mod:`smoulder.pipelines.digital`.

    The stored measures of people whose measures (or the settings, or the smoulder version)
    changed are validated and analysed by the digital pipeline with its default settings.
    Computed events replace earlier computed ones (``source='smoulder.digital'``); imported events
    are kept. Measures outside the catalogue are not analysed and named in ``message``; stored
    values the pipeline refuses are recorded as a failed run with the reason.

    Returns
    -------
    dict
        ``{"checked": n, "recomputed": m, "events": k, "message": str}``.
    """
    from smoulder.exceptions import SmoulderError
    from smoulder.pipelines import digital as pipeline
    from smoulder.schema.catalogue import MEASURES

    ids = _all_ids(session, person_ids)
    meas = _rows(
        session,
        (DeviceMeasure.date, DeviceMeasure.measure, DeviceMeasure.value, DeviceMeasure.unit),
        DeviceMeasure.person_id,
        ids,
        (DeviceMeasure.measure, DeviceMeasure.date),
    )
    groups: dict[int, list[Any]] = defaultdict(list)
    for r in meas:
        groups[r[0]].append(r[1:])
    with_data = [pid for pid in ids if pid in groups]
    settings = pipeline.resolve_settings()
    settings_json = json.dumps({"module": DIGITAL_SOURCE, "settings": settings.to_dict()})
    hashes = _hashes(groups, settings_json + __version__, with_data)
    stale = _stale(session, "digital", hashes)
    if not stale:
        return {"checked": len(ids), "recomputed": 0, "events": 0, "message": ""}
    stale_set = set(stale)
    df = pd.DataFrame(
        [(str(p), d, m, v, u) for p, d, m, v, u in meas if p in stale_set],
        columns=["subject", "date", "measure", "value", "unit"],
    )
    df["date"] = pd.to_datetime(df["date"])
    skipped = sorted(set(df["measure"]) - set(MEASURES))
    df = df[df["measure"].isin(list(MEASURES))].reset_index(drop=True)
    ev = pd.DataFrame(columns=["subject", "measure", "onset_date"])
    try:
        if len(df):
            ev = pipeline.run(df, settings=settings, source="store").events
    except SmoulderError as exc:
        msg = f"digital analysis failed: {type(exc).__name__}: {str(exc)[:200]}"
        _replace_runs(session, "digital", stale, hashes, settings_json, status="error", message=msg)
        return {"checked": len(ids), "recomputed": 0, "events": 0, "message": msg}
    for chunk in _chunks(stale):
        session.execute(
            delete(DeviceEvent).where(
                DeviceEvent.source == DIGITAL_SOURCE, DeviceEvent.person_id.in_(chunk)
            )
        )
    _replace_runs(session, "digital", stale, hashes, settings_json)
    rows = []
    for rec in ev.to_dict("records"):

        def d(x: Any) -> dt.date | None:
            return None if x is None or pd.isna(x) else pd.Timestamp(x).date()

        def f(x: Any) -> float | None:
            return None if x is None or pd.isna(x) else float(x)

        rows.append(
            {
                "person_id": int(rec["subject"]),
                "measure": str(rec["measure"]),
                "onset_date": d(rec.get("onset_date")),
                "detected_date": d(rec.get("detected_date")),
                "baseline_value": f(rec.get("baseline_value")),
                "current_value": f(rec.get("current_value")),
                "change_pct": f(rec.get("change_pct")),
                "source": DIGITAL_SOURCE,
            }
        )
    rows = [r for r in rows if r["onset_date"] is not None]
    # one event per (person, measure, onset)
    uniq = {(r["person_id"], r["measure"], r["onset_date"]): r for r in rows}
    if uniq:
        session.execute(insert(DeviceEvent), list(uniq.values()))
    message = (
        f"measures not in the digital catalogue were not analysed: {', '.join(skipped)}"
        if skipped
        else ""
    )
    return {"checked": len(ids), "recomputed": len(stale), "events": len(uniq), "message": message}


def refresh_signals(session: Session, person_ids: Iterable[int] | None = None) -> int:
    """Recompute the per-person signal summary; return the number of people updated."""
    ids = _all_ids(session, person_ids)
    if not ids:
        return 0
    counts: dict[int, dict[str, Any]] = {
        pid: {
            "person_id": pid,
            "n_pira": 0,
            "n_raw": 0,
            "n_prl": 0,
            "n_sel": 0,
            "n_digital": 0,
            "last_edss": None,
            "last_visit": None,
            "n_relapses": 0,
        }
        for pid in ids
    }
    for chunk in _chunks(ids):
        for pid, ctype, n in session.execute(
            select(ProgressionEvent.person_id, ProgressionEvent.cdw_type, func.count())
            .where(ProgressionEvent.person_id.in_(chunk), ProgressionEvent.event_type == "CDW")
            .group_by(ProgressionEvent.person_id, ProgressionEvent.cdw_type)
        ):
            if ctype == "PIRA":
                counts[pid]["n_pira"] = n
            elif ctype == "RAW":
                counts[pid]["n_raw"] = n
        # measures with a sustained worsening (imported and computed events of one measure count once)
        for pid, n in session.execute(
            select(DeviceEvent.person_id, func.count(DeviceEvent.measure.distinct()))
            .where(DeviceEvent.person_id.in_(chunk))
            .group_by(DeviceEvent.person_id)
        ):
            counts[pid]["n_digital"] = n
        for pid, n in session.execute(
            select(Relapse.person_id, func.count())
            .where(Relapse.person_id.in_(chunk))
            .group_by(Relapse.person_id)
        ):
            counts[pid]["n_relapses"] = n
        # lesion counts on the latest scan that has results of each method
        lesion_rows = session.execute(
            select(
                MriSession.person_id,
                MriSession.date,
                LesionResult.method,
                LesionResult.prl,
                LesionResult.sel,
            )
            .join(LesionResult, LesionResult.session_id == MriSession.id)
            .where(MriSession.person_id.in_(chunk))
        ).all()
        latest: dict[tuple[int, str], dt.date] = {}
        for pid, date, method, _prl, _sel in lesion_rows:
            if date > latest.get((pid, method), dt.date.min):
                latest[(pid, method)] = date
        for pid, date, method, prl, sel in lesion_rows:
            if latest[(pid, method)] == date:
                if method == "prl" and prl:
                    counts[pid]["n_prl"] += 1
                elif method == "sel" and sel == "definite":
                    counts[pid]["n_sel"] += 1
        last: dict[int, tuple[dt.date, float | None]] = {}
        for pid, date, edss in session.execute(
            select(Assessment.person_id, Assessment.date, Assessment.edss).where(
                Assessment.person_id.in_(chunk), Assessment.edss.is_not(None)
            )
        ):
            if pid not in last or date > last[pid][0]:
                last[pid] = (date, edss)
        for pid, (date, edss) in last.items():
            counts[pid]["last_visit"] = date
            counts[pid]["last_edss"] = edss
        session.execute(delete(PersonSignals).where(PersonSignals.person_id.in_(chunk)))
        session.execute(insert(PersonSignals), [counts[pid] for pid in chunk])
    return len(ids)


def refresh(session: Session, person_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Run every analysis whose inputs changed, then update the signal summary (caller commits)."""
    ids = _all_ids(session, person_ids)
    out: dict[str, Any] = {
        "progression": refresh_progression(session, ids),
        "digital": refresh_digital(session, ids),
    }
    out["signals"] = refresh_signals(session, ids)
    return out


__all__ = [
    "refresh",
    "refresh_progression",
    "refresh_digital",
    "refresh_signals",
    "default_progression_settings",
    "DIGITAL_SOURCE",
]
