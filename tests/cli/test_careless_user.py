"""A careless user at the command line: wrong files, wrong types, same input and output, bad flags.

Every case must end with exit code 2 (never 1: an internal error), one message line naming the
file (or flag) and what was expected, no traceback, and nothing written: every file in the
working folder is unchanged (inputs included) and no new file or staging folder is left behind.
The cases run in-process through ``smoulder.cli.main``; a few run as real processes to show that
no traceback reaches a terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from smoulder.cli import main

VISITS = (
    "subject,date,edss,t25fw,nhpt\n"
    "p1,2020-01-01,2.0,5.0,20.0\np1,2020-06-01,3.0,5.1,20.5\np1,2021-01-01,3.0,5.2,21.0\n"
    "p2,2020-01-01,1.0,6.0,22.0\np2,2020-08-01,1.0,6.0,22.0\n"
)
STEPS = "HKQuantityTypeIdentifierStepCount"


def _export(records: str, head: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + head
        + '<HealthData locale="en_GB">\n <ExportDate value="2021-07-01 10:00:00 +0200"/>\n'
        + records
        + "</HealthData>\n"
    )


def _steps(value: object, day: str = "2021-05-03") -> str:
    return (
        f' <Record type="{STEPS}" sourceName="Watch" unit="count" startDate="{day} 09:00:00 +0200" '
        f'endDate="{day} 09:10:00 +0200" value="{value}"/>\n'
    )


def _bundle(code: str = "41950-7") -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": "Patient/p1"},
                    "effectiveDateTime": "2021-03-01",
                    "valueQuantity": {"value": 5000, "unit": "steps/day"},
                }
            }
        ],
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of good and bad inputs, shared by every case (no case may change it)."""
    d = tmp_path_factory.mktemp("careless")
    rng = np.random.default_rng(7)
    w = lambda name, text: (d / name).write_text(text, encoding="utf-8")  # noqa: E731
    b = lambda name, data: (d / name).write_bytes(data)  # noqa: E731
    w("visits.csv", VISITS)
    w("relapses.csv", "subject,date\np1,2020-03-01\n")
    w("mri.csv", "subject,date,active\np1,2020-02-01,maybe\n")
    w("groups.csv", "subject,arm\np1,a\np2,b\n")
    w("empty.csv", "")
    w("header_only.csv", "subject,date,edss\n")
    b("binary.csv", bytes(rng.integers(0, 256, 4000, dtype=np.uint8)) + b"\x00")
    b("book.csv", b"PK\x03\x04" + bytes(200))
    b("table.csv", b"PAR1" + bytes(200))
    b("utf16.csv", "subject,date,edss\np1,2020-01-01,2\n".encode("utf-16"))
    b("latin1.csv", "subject,date,edss\nJos\xe9,2020-01-01,2\n".encode("latin-1"))
    w("semicolon.csv", "subject;date;edss\np1;2020-01-01;2,5\n")
    w("twice.csv", "subject,date,edss,edss\np1,2020-01-01,2,3\n")
    w("wide.csv", ",".join(f"c{i}" for i in range(10_000)) + "\n")
    w("edss11.csv", "subject,date,edss\np1,2020-01-01,11\n")
    w("feb30.csv", "subject,date,edss\np1,2021-02-30,2\n")
    w("old.csv", "subject,date,edss\np1,1850-01-01,2\n")
    w("future.csv", "subject,date,edss\np1,2020-01-01,2\np1,2150-01-01,2\n")
    w("slashes.csv", "subject,date,edss\np1,01/02/2020,2\n")
    w("gap.csv", "subject,date,edss\np1,2020-01-01,\np1,2020-06-01,2\n")
    w("clash.csv", "subject,date,edss\np1,2020-01-01,2\np1,2020-01-01,3\n")
    w("days.csv", "subject,date,edss\np1,0,2\np1,180,3\n")
    w("bad.toml", "event = [unclosed\n")
    b("bad.json", bytes(range(256)))
    (d / "folder").mkdir()
    w("afile", "not a folder\n")
    os.symlink(d / "visits.csv", d / "link.csv")
    os.link(d / "visits.csv", d / "hard.csv")
    w("o_summary.csv", "subject,date,edss\np1,2020-01-01,2\n")
    # Apple Health
    w("export.xml", _export(_steps(600)))
    w("negative.xml", _export(_steps(-5)))
    w("truncated.xml", _export(_steps(600))[:-40])
    w("nothing.xml", _export(""))
    w("export_cda.xml", '<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n')
    w(
        "entities.xml",
        '<?xml version="1.0"?>\n<!--' + "x" * 100 + "-->\n"
        '<!DOCTYPE HealthData [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n'
        '<HealthData locale="en"><Record type="&b;"/></HealthData>\n',
    )
    w("late_doctype.xml", _export("") + '<!DOCTYPE x [<!ENTITY a "b">]>\n')
    w("undefined.xml", _export(' <Record type="&boom;"/>\n'))
    w("huge_attr.xml", _export(f' <Record type="{STEPS}" sourceName="' + "x" * (5 << 20) + '"/>\n'))
    with zipfile.ZipFile(d / "two.zip", "w") as z:
        z.writestr("a/export.xml", _export(_steps(600)))
        z.writestr("b/export.xml", _export(_steps(700)))
    with zipfile.ZipFile(d / "cda.zip", "w") as z:
        z.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
    with zipfile.ZipFile(d / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("apple_health_export/export.xml", _export("") + " " * (20 << 20))
    b("garbage.zip", bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    # FHIR
    w("bundle.json", json.dumps(_bundle()))
    w("string.json", json.dumps("/etc/passwd"))
    w("array.json", "[1, 2, 3]")
    w("number.json", "42")
    w("deep.json", "[" * 100_000)
    w("nested.json", '{"resourceType": "Bundle", "entry": ' + "[" * 70 + "]" * 70 + "}")
    w("truncated.json", json.dumps(_bundle())[:-20])
    w("patient.json", json.dumps({"resourceType": "Patient", "id": "x"}))
    w("unknown_code.json", json.dumps(_bundle("1234-5")))
    b("binary.json", b"\xff\xfe\x00\x01" * 50)
    # long tables
    w("measures.csv", "subject,date,measure,value,unit\np1,2021-03-01,steps,5000,count\n")
    w("unknown_measure.csv", "subject,date,measure,value\np1,2021-03-01,stepz,5000\n")
    w("measures_semicolon.csv", "subject;date;measure;value\np1;2021-03-01;steps;5000\n")
    return d


def _snapshot(d: Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        rel = str(p.relative_to(d))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


P = ["progression"]
C = ["composite"]
M = ["milestone"]
AH = ["digital", "import", "apple-health"]
FH = ["digital", "import", "fhir"]
TB = ["digital", "import", "table"]
EX = ["digital", "export", "fhir"]
DT = ["digital", "detect"]

# (id, arguments with {d} for the folder, fragments the message must contain (case-insensitive))
CASES: list[tuple[str, list[str], list[str]]] = [
    # ---- progression: wrong files
    ("p-missing", [*P, "{d}/nope.csv", "--out", "{d}/o.csv"], ["nope.csv", "not found"]),
    ("p-folder", [*P, "{d}/folder", "--out", "{d}/o.csv"], ["folder", "not a file"]),
    ("p-empty", [*P, "{d}/empty.csv", "--out", "{d}/o.csv"], ["empty.csv", "empty"]),
    ("p-header-only", [*P, "{d}/header_only.csv", "--out", "{d}/o.csv"], ["no data rows"]),
    ("p-binary", [*P, "{d}/binary.csv", "--out", "{d}/o.csv"], ["binary.csv", "not a text"]),
    ("p-excel", [*P, "{d}/book.csv", "--out", "{d}/o.csv"], ["book.csv", "excel"]),
    ("p-parquet-as-csv", [*P, "{d}/table.csv", "--out", "{d}/o.csv"], ["table.csv", "parquet"]),
    ("p-utf16", [*P, "{d}/utf16.csv", "--out", "{d}/o.csv"], ["utf16.csv", "utf-8"]),
    ("p-latin1", [*P, "{d}/latin1.csv", "--out", "{d}/o.csv"], ["latin1.csv", "line 2", "latin-1"]),
    ("p-semicolon", [*P, "{d}/semicolon.csv", "--out", "{d}/o.csv"], ["row 2", "--sep"]),
    ("p-twice", [*P, "{d}/twice.csv", "--out", "{d}/o.csv"], ["'edss'", "columns 3 and 4"]),
    ("p-wide", [*P, "{d}/wide.csv", "--out", "{d}/o.csv"], ["10,000 columns", "at most 1,000"]),
    (
        "p-no-column",
        [*P, "{d}/visits.csv", "--value-col", "EDSS", "--out", "{d}/o.csv"],
        ["visits.csv", "'EDSS'", "did you mean"],
    ),
    # ---- progression: outputs
    ("p-out-is-input", [*P, "{d}/visits.csv", "--out", "{d}/visits.csv"], ["overwrite the input"]),
    (
        "p-out-is-relapses",
        [*P, "{d}/visits.csv", "--relapses", "{d}/relapses.csv", "--out", "{d}/relapses.csv"],
        ["overwrite the input", "--relapses"],
    ),
    ("p-out-symlink", [*P, "{d}/link.csv", "--out", "{d}/visits.csv"], ["overwrite the input"]),
    ("p-out-hardlink", [*P, "{d}/visits.csv", "--out", "{d}/hard.csv"], ["overwrite the input"]),
    (
        "p-out-derived",
        [*P, "{d}/o_summary.csv", "--out", "{d}/o.csv"],
        ["o_summary.csv", "overwrite the input"],
    ),
    (
        "p-out-parent-file",
        [*P, "{d}/visits.csv", "--out", "{d}/afile/o.csv"],
        ["afile", "is a file"],
    ),
    ("p-out-folder", [*P, "{d}/visits.csv", "--out", "{d}/folder"], ["is a folder"]),
    ("p-out-xlsx", [*P, "{d}/visits.csv", "--out", "{d}/e.xlsx"], ["'.xlsx'", ".csv", ".parquet"]),
    ("p-out-unwritable", [*P, "{d}/visits.csv", "--out", "/proc/o.csv"], ["cannot write", "/proc"]),
    # ---- progression: values and dates
    ("p-edss-11", [*P, "{d}/edss11.csv", "--out", "{d}/o.csv"], ["row 2", "'edss'", "0.5"]),
    ("p-feb-30", [*P, "{d}/feb30.csv", "--out", "{d}/o.csv"], ["row 2", "impossible date"]),
    ("p-1850", [*P, "{d}/old.csv", "--out", "{d}/o.csv"], ["row 2", "1900-01-01"]),
    (
        "p-future-refuse",
        [*P, "{d}/future.csv", "--future-dates", "refuse", "--out", "{d}/o.csv"],
        ["row 3", "future", "--future-dates"],
    ),
    ("p-slashes", [*P, "{d}/slashes.csv", "--out", "{d}/o.csv"], ["row 2", "yyyy-mm-dd"]),
    ("p-gap", [*P, "{d}/gap.csv", "--out", "{d}/o.csv"], ["row 2", "missing", "--on-missing"]),
    ("p-clash", [*P, "{d}/clash.csv", "--out", "{d}/o.csv"], ["rows 2, 3", "--on-duplicate"]),
    ("p-day-numbers-as-iso", [*P, "{d}/days.csv", "--out", "{d}/o.csv"], ["--date-format day"]),
    (
        "p-iso-as-day-numbers",
        [*P, "{d}/visits.csv", "--date-format", "day", "--out", "{d}/o.csv"],
        ["row 2", "'date'", "days"],
    ),
    # ---- progression: other inputs
    (
        "p-relapses-missing",
        [*P, "{d}/visits.csv", "--relapses", "{d}/nope.csv", "--out", "{d}/o.csv"],
        ["nope.csv", "--relapses"],
    ),
    (
        "p-relapses-binary",
        [*P, "{d}/visits.csv", "--relapses", "{d}/binary.csv", "--out", "{d}/o.csv"],
        ["binary.csv", "not a text"],
    ),
    (
        "p-mri-bad",
        [*P, "{d}/visits.csv", "--mri-activity", "{d}/mri.csv", "--out", "{d}/o.csv"],
        ["mri.csv", "row 2", "yes/no"],
    ),
    (
        "p-settings-missing",
        [*P, "{d}/visits.csv", "--settings", "{d}/nope.toml", "--out", "{d}/o.csv"],
        ["nope.toml", "--settings"],
    ),
    (
        "p-settings-bad-toml",
        [*P, "{d}/visits.csv", "--settings", "{d}/bad.toml", "--out", "{d}/o.csv"],
        ["bad.toml", "toml"],
    ),
    (
        "p-settings-binary",
        [*P, "{d}/visits.csv", "--settings", "{d}/bad.json", "--out", "{d}/o.csv"],
        ["bad.json", "settings"],
    ),
    (
        "p-groups-no-column",
        [
            *P,
            "{d}/visits.csv",
            "--groups",
            "{d}/groups.csv",
            "--group-col",
            "x",
            "--out",
            "{d}/o.csv",
        ],
        ["groups.csv", "'x'"],
    ),
    # ---- progression: bad flags and values
    (
        "p-conf-days-text",
        [*P, "{d}/visits.csv", "--conf-days", "abc", "--out", "{d}/o.csv"],
        ["--conf-days", "abc"],
    ),
    ("p-unknown-flag", [*P, "{d}/visits.csv", "--colour", "--out", "{d}/o.csv"], ["--colour"]),
    (
        "p-tol-three",
        [*P, "{d}/visits.csv", "--conf-tol-days", "1", "2", "3", "--out", "{d}/o.csv"],
        ["--conf-tol-days", "one or two"],
    ),
    ("p-bad-sep", [*P, "{d}/visits.csv", "--sep", "xyz", "--out", "{d}/o.csv"], ["--sep", "tab"]),
    (
        "p-bad-event",
        [*P, "{d}/visits.csv", "--event", "worst", "--out", "{d}/o.csv"],
        ["--event", "worst"],
    ),
    ("p-no-out", [*P, "{d}/visits.csv"], ["--out"]),
    (
        "p-bad-future-choice",
        [*P, "{d}/visits.csv", "--future-dates", "maybe", "--out", "{d}/o.csv"],
        ["--future-dates", "maybe"],
    ),
    (
        "p-negative-conf",
        [*P, "{d}/visits.csv", "--conf-days", "-84", "--out", "{d}/o.csv"],
        ["conf_days"],
    ),
    # ---- composite and milestone
    (
        "c-cols-mismatch",
        [*C, "{d}/visits.csv", "--component-cols", "edss", "--out", "{d}/o.csv"],
        ["--component-cols"],
    ),
    ("c-no-column", [*C, "{d}/feb30.csv", "--out", "{d}/o.csv"], ["feb30.csv", "impossible date"]),
    (
        "c-missing-component",
        [*C, "{d}/edss11.csv", "--components", "t25fw", "--out", "{d}/o.csv"],
        ["'t25fw'"],
    ),
    ("c-out-is-input", [*C, "{d}/visits.csv", "--out", "{d}/visits.csv"], ["overwrite the input"]),
    ("c-out-json", [*C, "{d}/visits.csv", "--out", "{d}/o.json"], ["'.json'", ".csv"]),
    ("c-binary", [*C, "{d}/binary.csv", "--out", "{d}/o.csv"], ["not a text"]),
    (
        "m-minus-3",
        [*M, "{d}/visits.csv", "--milestone", "-3", "--out", "{d}/o.csv"],
        ["--milestone -3", "edss"],
    ),
    ("m-11", [*M, "{d}/visits.csv", "--milestone", "11", "--out", "{d}/o.csv"], ["--milestone 11"]),
    (
        "m-6.3",
        [*M, "{d}/visits.csv", "--milestone", "6.3", "--out", "{d}/o.csv"],
        ["--milestone 6.3", "0.5"],
    ),
    (
        "m-nan",
        [*M, "{d}/visits.csv", "--milestone", "nan", "--out", "{d}/o.csv"],
        ["--milestone nan"],
    ),
    (
        "m-text",
        [*M, "{d}/visits.csv", "--milestone", "six", "--out", "{d}/o.csv"],
        ["--milestone", "six"],
    ),
    (
        "m-sdmt-200",
        [*M, "{d}/visits.csv", "--outcome", "sdmt", "--milestone", "200", "--out", "{d}/o.csv"],
        ["--milestone 200", "sdmt"],
    ),
    (
        "m-out-is-input",
        [*M, "{d}/visits.csv", "--milestone", "6", "--out", "{d}/hard.csv"],
        ["overwrite"],
    ),
    ("m-folder", [*M, "{d}/folder", "--milestone", "6", "--out", "{d}/o.csv"], ["not a file"]),
    # ---- demo
    ("demo-out-file", ["demo", "--out", "{d}/afile"], ["afile", "is a file"]),
    ("demo-out-unwritable", ["demo", "--out", "/proc/demo"], ["cannot write"]),
    # ---- digital import apple-health
    (
        "ah-missing",
        [*AH, "{d}/nope.zip", "--subject", "s", "--out", "{d}/o.csv"],
        ["nope.zip", "not found"],
    ),
    (
        "ah-garbage",
        [*AH, "{d}/garbage.zip", "--subject", "s", "--out", "{d}/o.csv"],
        ["garbage.zip"],
    ),
    (
        "ah-two-exports",
        [*AH, "{d}/two.zip", "--subject", "s", "--out", "{d}/o.csv"],
        ["2 export.xml", "b/export.xml"],
    ),
    (
        "ah-only-cda",
        [*AH, "{d}/cda.zip", "--subject", "s", "--out", "{d}/o.csv"],
        ["export_cda.xml"],
    ),
    (
        "ah-cda-xml",
        [*AH, "{d}/export_cda.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["root element", "clinicaldocument"],
    ),
    (
        "ah-entities",
        [*AH, "{d}/entities.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["entities and dtds are not accepted"],
    ),
    (
        "ah-late-doctype",
        [*AH, "{d}/late_doctype.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["dtds are not accepted"],
    ),
    (
        "ah-undefined-entity",
        [*AH, "{d}/undefined.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["entities and dtds"],
    ),
    (
        "ah-huge-attribute",
        [*AH, "{d}/huge_attr.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["longer than 4 mib"],
    ),
    (
        "ah-zip-bomb",
        [*AH, "{d}/bomb.zip", "--subject", "s", "--out", "{d}/o.csv"],
        ["expand", "times"],
    ),
    (
        "ah-negative",
        [*AH, "{d}/negative.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["line 4", "--keep-valid"],
    ),
    (
        "ah-truncated",
        [*AH, "{d}/truncated.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["malformed", "--keep-valid"],
    ),
    (
        "ah-no-records",
        [*AH, "{d}/nothing.xml", "--subject", "s", "--out", "{d}/o.csv"],
        ["no usable records"],
    ),
    (
        "ah-out-is-input",
        [*AH, "{d}/export.xml", "--subject", "s", "--out", "{d}/export.xml"],
        ["'.xml'"],
    ),
    (
        "ah-out-is-input-csv",
        [*AH, "{d}/visits.csv", "--subject", "s", "--out", "{d}/visits.csv"],
        ["overwrite the input"],
    ),
    ("ah-no-subject", [*AH, "{d}/export.xml", "--out", "{d}/o.csv"], ["--subject"]),
    (
        "ah-blank-subject",
        [*AH, "{d}/export.xml", "--subject", " ", "--out", "{d}/o.csv"],
        ["subject"],
    ),
    (
        "ah-sleep-hour",
        [
            *AH,
            "{d}/export.xml",
            "--subject",
            "s",
            "--sleep-day-start-hour",
            "30",
            "--out",
            "{d}/o.csv",
        ],
        ["between 0 and 24"],
    ),
    # ---- digital import fhir
    ("f-missing", [*FH, "{d}/nope.json", "--out", "{d}/o.csv"], ["nope.json", "not found"]),
    (
        "f-string",
        [*FH, "{d}/string.json", "--out", "{d}/o.csv"],
        ["string.json", "json string", "never a file name"],
    ),
    ("f-array", [*FH, "{d}/array.json", "--out", "{d}/o.csv"], ["json array", "resourcetype"]),
    ("f-number", [*FH, "{d}/number.json", "--out", "{d}/o.csv"], ["json number"]),
    ("f-deep", [*FH, "{d}/deep.json", "--out", "{d}/o.csv"], ["deep.json", "more than 64 levels"]),
    (
        "f-nested",
        [*FH, "{d}/nested.json", "--out", "{d}/o.csv"],
        ["more than 64 levels", "entry[0]"],
    ),
    ("f-truncated", [*FH, "{d}/truncated.json", "--out", "{d}/o.csv"], ["line 1, column"]),
    ("f-patient", [*FH, "{d}/patient.json", "--out", "{d}/o.csv"], ["patient", "bundle"]),
    (
        "f-unknown-code",
        [*FH, "{d}/unknown_code.json", "--out", "{d}/o.csv"],
        ["no measures found", "codes not read: http://loinc.org|1234-5"],
    ),
    (
        "f-unknown-code-strict",
        [*FH, "{d}/unknown_code.json", "--strict", "--out", "{d}/o.csv"],
        ["entry[0].resource.code.coding", "without --strict"],
    ),
    ("f-binary", [*FH, "{d}/binary.json", "--out", "{d}/o.csv"], ["binary.json", "utf-8"]),
    ("f-out-is-input", [*FH, "{d}/bundle.json", "--out", "{d}/bundle.json"], ["'.json'"]),
    ("f-out-folder", [*FH, "{d}/bundle.json", "--out", "{d}/folder"], ["is a folder"]),
    # ---- digital import table
    (
        "t-unknown-measure",
        [*TB, "{d}/unknown_measure.csv", "--out", "{d}/o.csv"],
        ["row 2", "did you mean"],
    ),
    (
        "t-semicolon",
        [*TB, "{d}/measures_semicolon.csv", "--out", "{d}/o.csv"],
        ["'subject'", "--sep ;"],
    ),
    (
        "t-out-is-input",
        [*TB, "{d}/measures.csv", "--out", "{d}/measures.csv"],
        ["overwrite the input"],
    ),
    ("t-binary", [*TB, "{d}/binary.csv", "--out", "{d}/o.csv"], ["not a text"]),
    (
        "t-timezone",
        [*TB, "{d}/measures.csv", "--timezone", "Mars/Base", "--out", "{d}/o.csv"],
        ["mars/base"],
    ),
    # ---- digital export fhir
    ("x-out-xml", [*EX, "{d}/measures.csv", "--out", "{d}/o.xml"], ["'.xml'", ".json"]),
    (
        "x-out-is-input",
        [*EX, "{d}/bundle.json", "--out", "{d}/bundle.json"],
        ["overwrite the input"],
    ),
    ("x-missing", [*EX, "{d}/nope.csv", "--out", "{d}/o.json"], ["nope.csv", "not found"]),
    (
        "x-events-from-measures",
        [*EX, "{d}/measures.csv", "--events", "--out", "{d}/o.json"],
        ["missing column"],
    ),
    # ---- digital detect
    ("d-missing", [*DT, "{d}/nope.csv", "--out", "{d}/o.csv"], ["nope.csv", "not found"]),
    (
        "d-out-is-input",
        [*DT, "{d}/measures.csv", "--out", "{d}/measures.csv"],
        ["overwrite the input"],
    ),
    (
        "d-fhir-out-csv",
        [*DT, "{d}/measures.csv", "--out", "{d}/o.csv", "--fhir-out", "{d}/measures.csv"],
        ["--fhir-out", "'.csv'", ".json"],
    ),
    (
        "d-plots-file",
        [*DT, "{d}/measures.csv", "--out", "{d}/o.csv", "--plots", "{d}/afile"],
        ["--plots", "not a folder"],
    ),
    (
        "d-fhir-out-collides",
        [*DT, "{d}/measures.csv", "--out", "{d}/o.csv", "--fhir-out", "{d}/o_settings.json"],
        ["same file"],
    ),
    (
        "d-bad-method",
        [*DT, "{d}/measures.csv", "--method", "magic", "--out", "{d}/o.csv"],
        ["--method", "magic"],
    ),
    (
        "d-relapses-binary",
        [*DT, "{d}/measures.csv", "--relapses", "{d}/binary.csv", "--out", "{d}/o.csv"],
        ["binary.csv"],
    ),
    (
        "d-unknown-measure-flag",
        [*DT, "{d}/measures.csv", "--measure", "stepz", "--out", "{d}/o.csv"],
        ["stepz"],
    ),
    ("d-alpha", [*DT, "{d}/measures.csv", "--alpha", "2", "--out", "{d}/o.csv"], ["alpha"]),
]


@pytest.mark.parametrize(("args", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_careless_invocation_is_handled(work, capsys, args, fragments):
    before = _snapshot(work)
    argv = [a.replace("{d}", str(work)) for a in args]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse: bad flags and values
        rc = exc.code
    err = capsys.readouterr().err
    after = _snapshot(work)
    assert rc == 2, f"exit code {rc}; stderr: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    message = [ln for ln in err.strip().splitlines() if ln.startswith("smoulder")][-1]
    assert message.count("\n") == 0
    for f in fragments:
        assert f.lower() in message.lower(), f"{f!r} not in: {message}"
    assert after == before, "files were written, changed or left behind"


def test_the_figures(capsys):
    """The reliability figures of the note: every case tried is handled (none is an internal error)."""
    with capsys.disabled():
        print(f"\ncareless-user cases: {len(CASES)} tried, {len(CASES)} handled when all pass")
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["progression", "{d}/twice.csv", "--out", "{d}/o.csv"], "appears twice"),
        (["progression", "{d}/folder", "--out", "{d}/o.csv"], "not a file"),
        (["digital", "import", "fhir", "{d}/deep.json", "--out", "{d}/o.csv"], "64 levels"),
        (["progression", "{d}/visits.csv", "--out", "{d}/afile/o.csv"], "is a file"),
    ],
    ids=["duplicate-columns", "folder", "deep-json", "out-parent-is-a-file"],
)
def test_no_traceback_reaches_a_terminal(work, args, fragment):
    argv = [a.replace("{d}", str(work)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "smoulder", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "SMOULDER_DEBUG": ""},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
