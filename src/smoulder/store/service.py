"""Write-side use cases shared by the command line and the web app: import with analyses and an
audit entry, in one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smoulder.store.analyses import refresh
from smoulder.store.importer import ImportReport, import_file
from smoulder.store.repo import audit_import


def import_file_into(
    store: Any,
    kind: str,
    path: str | Path,
    *,
    subject: str | None = None,
    session_date: str | None = None,
    via: str = "command line",
) -> tuple[ImportReport, dict[str, Any]]:
    """Import a file, bring the analyses up to date and audit it, all or nothing.

    The audit trail gets one ``import`` entry (counts only, no file name or values) and a
    ``change`` entry on every record the import changed, as web uploads do.

    Returns
    -------
    ImportReport, dict
        What the import did, and what the analyses recomputed.

    Raises
    ------
    ImportFailed
        Every bad row; nothing was written.
    """
    with store.session() as s:
        try:
            report = import_file(s, kind, path, subject=subject, session_date=session_date)
            analysis = refresh(s, report.person_ids) if report.person_ids else {}
            audit_import(
                s,
                None,
                report.kind,
                report.person_ids,
                f"{report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged",
                via=via,
            )
            s.commit()
        except BaseException:
            s.rollback()
            raise
    return report, analysis


__all__ = ["import_file_into"]
