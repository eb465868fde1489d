"""Apple Health exports that cost far more than their size, or are not what they claim to be."""

from __future__ import annotations

import time
import zipfile

import pytest

from smoulder.exceptions import InputDataError
from smoulder.io.apple_health import read_apple_health, read_apple_health_bytes

STEPS = "HKQuantityTypeIdentifierStepCount"


def rec(value=600, day="2021-05-03"):
    return (
        f' <Record type="{STEPS}" sourceName="Watch" unit="count" '
        f'startDate="{day} 09:00:00 +0200" endDate="{day} 09:10:00 +0200" value="{value}"/>\n'
    )


def doc(body="", head=""):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + head
        + '<HealthData locale="en_GB">\n <ExportDate value="2021-07-01 10:00:00 +0200"/>\n'
        + body
        + "</HealthData>\n"
    )


def test_a_doctype_after_a_long_comment_is_refused_before_any_entity_is_expanded(tmp_path):
    # the header is held for 8 MiB looking for the DTD; a DOCTYPE after a 9 MiB comment used to be
    # parsed and its entities expanded 10^7 times
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 8))
    p = tmp_path / "export.xml"
    p.write_text(
        '<?xml version="1.0"?>\n<!--'
        + ("x" * 99 + ">\n") * ((9 << 20) // 100)
        + "-->\n"
        + f'<!DOCTYPE HealthData [<!ENTITY l0 "ha">{laughs}]>\n'
        + '<HealthData locale="en"><Record type="&l7;"/></HealthData>\n'
    )
    t0 = time.perf_counter()
    with pytest.raises(InputDataError, match=r"XML entities and DTDs are not accepted \(line \d+"):
        read_apple_health(p, "s1")
    assert time.perf_counter() - t0 < 30  # refused at the declaration, not after the expansion


def test_entities_declared_in_the_header_or_used_undeclared_are_refused(tmp_path):
    p = tmp_path / "export.xml"
    p.write_text(doc(rec(), head='<!DOCTYPE HealthData [<!ENTITY a "aaaa">]>\n'))
    with pytest.raises(InputDataError, match="XML entities and DTDs are not accepted"):
        read_apple_health(p, "s1")
    p.write_text(doc(rec() + ' <Record type="&a;"/>\n'))
    with pytest.raises(
        InputDataError, match=r"XML entities and DTDs are not accepted \(line 5, column \d+"
    ):
        read_apple_health(p, "s1")


def test_an_enormous_attribute_is_refused_and_a_zip_bomb_before_it_is_unpacked(tmp_path):
    p = tmp_path / "export.xml"
    p.write_text(doc(f' <Record type="{STEPS}" sourceName="' + "x" * (5 << 20) + '"/>\n'))
    with pytest.raises(InputDataError, match="an XML element or attribute is longer than 4 MiB"):
        read_apple_health(p, "s1")
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "apple_health_export/export.xml",
            doc(f' <Record type="{STEPS}" sourceName="' + "x" * (64 << 20) + '"/>\n'),
        )
    assert z.stat().st_size < 200_000
    t0 = time.perf_counter()
    with pytest.raises(InputDataError, match=r"export\.xml would expand [\d,]+ times"):
        read_apple_health(z, "s1")
    assert time.perf_counter() - t0 < 5


def test_an_archive_with_two_exports_names_both(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("anna/export.xml", doc(rec()))
        zf.writestr("ben/export.xml", doc(rec(700)))
    with pytest.raises(
        InputDataError, match=r"holds 2 export\.xml files \(anna/export\.xml, ben/export\.xml\)"
    ):
        read_apple_health(z, "s1")


def test_the_clinical_document_and_empty_exports_are_named_not_empty_tables(tmp_path):
    cda = tmp_path / "export_cda.xml"
    cda.write_text('<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>\n')
    with pytest.raises(
        InputDataError, match=r"root element is <ClinicalDocument> \(this is export_cda"
    ):
        read_apple_health(cda, "s1")
    empty = tmp_path / "export.xml"
    empty.write_text(
        doc(' <Record type="HKQuantityTypeIdentifierActiveEnergyBurned" value="70"/>\n')
    )
    with pytest.raises(InputDataError, match="no usable records"):
        read_apple_health(empty, "s1")


def test_bad_records_point_to_the_flag_not_the_python_argument(tmp_path):
    p = tmp_path / "export.xml"
    p.write_text(doc(rec(-5)))
    with pytest.raises(InputDataError) as info:
        read_apple_health(p, "s1")
    assert "--keep-valid" in str(info.value) and "on_error" not in str(info.value)


def test_bytes_and_paths_give_the_same_table(tmp_path):
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("apple_health_export/export.xml", doc(rec() + rec(300, "2021-05-04")))
    a, _ = read_apple_health(z, "s1")
    b, report = read_apple_health_bytes(z.read_bytes(), "s1", name="upload.zip")
    assert a.equals(b) and report.source == "upload.zip:apple_health_export/export.xml"
    c, _ = read_apple_health_bytes(doc(rec()).encode(), "s1", name="export.xml")
    assert c["value"].tolist() == [600.0]
    with pytest.raises(TypeError, match="takes a path"):
        read_apple_health(z.read_bytes(), "s1")  # type: ignore[arg-type]
