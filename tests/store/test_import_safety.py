"""Store imports refuse what they must: columns named twice, 10,000 columns, paths smuggled as
content; and they count what they correct (ids with spaces, dates after today)."""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest

from smoulder.exceptions import InputDataError
from smoulder.store import ImportFailed, import_into
from smoulder.store.importer import device_export_frame, import_file, read_upload


def test_a_column_named_twice_is_refused_naming_both_positions(sqlite_store, tmp_path):
    text = b"subject,date,edss,t25fw,edss\np1,2020-01-01,2.0,5.0,6.5\n"
    with pytest.raises(
        InputDataError, match=r"row 1: column 'edss' appears twice \(columns 3 and 5\)"
    ):
        read_upload(text, "visits.csv")
    p = tmp_path / "visits.csv"
    p.write_bytes(text)
    with sqlite_store.session() as s:
        with pytest.raises(InputDataError, match=r"columns 3 and 5"):
            import_file(s, "visits", p)
    # the same in Parquet, and in a frame handed over directly
    pq = io.BytesIO()
    import pyarrow as pa
    import pyarrow.parquet as papq

    papq.write_table(
        pa.table(
            [pa.array(["p1"]), pa.array(["2020-01-01"]), pa.array(["2"]), pa.array(["3"])],
            names=["subject", "date", "edss", "edss"],
        ),
        pq,
    )
    with pytest.raises(InputDataError, match=r"column 'edss' appears twice \(columns 3 and 4\)"):
        read_upload(pq.getvalue(), "visits.parquet")
    df = pd.DataFrame([["p1", "2020-01-01", "2", "3"]], columns=["subject", "date", "edss", "edss"])
    with pytest.raises(ImportFailed, match=r"column appears twice \(columns 3 and 4\)"):
        import_into(sqlite_store, "visits", df)


def test_ten_thousand_columns_are_refused_at_once():
    header = ",".join(f"c{i}" for i in range(10_000)).encode() + b"\n"
    t0 = time.perf_counter()
    with pytest.raises(InputDataError, match=r"10,000 columns; expected at most 1,000 columns"):
        read_upload(header, "wide.csv")
    assert time.perf_counter() - t0 < 5  # 25 s before (quadratic column checks)


def test_an_upload_is_content_never_a_path(tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "41950-7"}]},
                    "subject": {"reference": "Patient/p1"},
                    "effectiveDateTime": "2021-03-01",
                    "valueQuantity": {"value": 5000},
                }
            }
        ],
    }
    on_server = tmp_path / "lying_on_the_server.json"
    on_server.write_text(json.dumps(bundle))
    for body in (json.dumps(str(on_server)), json.dumps("/etc/shadow")):
        with pytest.raises(
            InputDataError, match=r"upload\.json: a JSON string, not a FHIR resource"
        ):
            device_export_frame("fhir", body.encode(), "upload.json")
    with pytest.raises(TypeError, match="a str is never taken as a path"):
        device_export_frame("fhir", str(on_server), "upload.json")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a str is never taken as a path"):
        read_upload(str(on_server), "visits.csv")  # type: ignore[arg-type]
    # FHIR bulk data (one resource per line) is accepted and named by its file
    ndjson = json.dumps(bundle["entry"][0]["resource"]).encode() + b"\n"
    df = device_export_frame("fhir", ndjson, "observations.ndjson")
    assert df[["subject", "date", "value"]].values.tolist() == [["p1", "2021-03-01", "5000.0"]]
    with pytest.raises(InputDataError, match=r"observations\.ndjson, line 2"):
        device_export_frame("fhir", ndjson + b"[1]\n", "observations.ndjson")


def test_ids_with_spaces_and_future_dates_are_counted_in_the_report(sqlite_store):
    df = read_upload(
        b"subject,date,edss\np1,2020-01-01,2.0\n p1,2020-06-01,3.0\np1 ,2150-01-01,3.5\n",
        "visits.csv",
    )
    report = import_into(sqlite_store, "visits", df)
    assert report.inserted == 3 and report.people_created == 1
    assert report.notes == {
        "subject ids with spaces around them, stripped": 2,
        "rows dated after today (kept)": 1,
    }
    assert "rows dated after today (kept): 1" in str(report)
    with pytest.raises(ImportFailed, match="date in the future"):
        import_into(sqlite_store, "visits", df, future_dates="refuse")


def test_encodings_and_delimiters_are_named(tmp_path):
    with pytest.raises(InputDataError, match=r"line 2 \(byte 22\) is not UTF-8.*Latin-1"):
        read_upload("subject,date,edss\nJos\xe9,2020-01-01,2\n".encode("latin-1"), "v.csv")
    with pytest.raises(InputDataError, match=r"row 3.*looks ';'-separated"):
        read_upload(b"subject;date;edss\np1;2020-01-01;2\np1;2020-06-01;2,5\n", "v.csv")
    with pytest.raises(
        InputDataError, match=r"is not a text table: it looks like a zip archive or an Excel"
    ):
        read_upload(b"PK\x03\x04" + bytes(100), "v.csv")
