"""Person pages and their JSON go gzip-compressed to browsers that ask, made of a record
compressed once and request parts sent as they are; the access list tells repeats once."""

from __future__ import annotations

import gzip
import random
import re
import zlib

import pytest

from smoulder.web.compress import Piece, accepts_gzip, gzip_join

GZIP = {"accept-encoding": "gzip, deflate, br, zstd"}  # what chromium sends
IDENTITY = {"accept-encoding": "identity"}


def raw_get(client, url: str, headers: dict) -> tuple[dict, bytes]:
    """The answer's headers and its body as sent (not decoded by the client)."""
    with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        return dict(r.headers), b"".join(r.iter_raw())


def test_pieces_join_into_one_gzip_stream_any_decoder_reads():
    rng = random.Random(7)
    for _ in range(30):
        parts: list[bytes | Piece] = []
        for _ in range(rng.randint(1, 5)):
            n = rng.choice([0, 1, 17, 4000, 70_000, 140_000])  # stored blocks hold 65,535 at most
            data = bytes(rng.choice(b"abcdefgh <>\n") for _ in range(n))
            parts.append(Piece(data) if rng.random() < 0.5 else data)
        want = b"".join(p.data if isinstance(p, Piece) else p for p in parts)
        g = gzip_join(parts)
        assert gzip.decompress(g) == want  # checks the CRC-32 and the length too
        assert zlib.decompress(g, 31) == want
        d = zlib.decompressobj(31)
        assert d.decompress(g) == want and d.eof and not d.unused_data


def test_a_corrupted_answer_is_caught_by_its_checksum():
    g = bytearray(gzip_join([b"head " * 50, Piece(b"record " * 500), b"tail"]))
    g[-8] ^= 1  # the CRC-32
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(bytes(g))


@pytest.mark.parametrize(
    "header, ok",
    [
        ("gzip, deflate, br, zstd", True),
        ("GZIP", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),  # gzip named and refused: the wildcard does not bring it back
        ("*;q=0.3", True),
        ("deflate, *;q=0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_only_clients_that_accept_gzip_get_it(header, ok):
    assert accepts_gzip({"accept-encoding": header} if header else {}) is ok


def test_the_person_page_is_compressed_for_browsers_and_plain_otherwise(clinic, login):
    app, keys = clinic
    c = login(app, "dr.a")
    url = f"/patients/{keys['MRN-1001']}"
    h_plain, plain = raw_get(c, url, IDENTITY)
    h_gz, packed = raw_get(c, url, GZIP)
    assert "content-encoding" not in h_plain and h_gz["content-encoding"] == "gzip"
    assert (
        "accept-encoding" in h_gz["vary"].lower() and "accept-encoding" in h_plain["vary"].lower()
    )
    page = gzip.decompress(packed).decode()
    assert plain.decode().startswith("<!doctype html>") and page.startswith("<!doctype html>")
    # the same record in both (the access list below it has grown by the first view)
    record = re.compile(r'<section class="verdict".*?<section class="card" id="access">', re.S)
    assert record.search(page).group(0) == record.search(plain.decode()).group(0)
    assert "Alice Example" in page and page.rstrip().endswith("</html>")
    assert len(packed) < 0.5 * len(plain)  # a phone on a slow line gets well under half


def test_each_reader_gets_their_own_header_around_one_shared_record(clinic, login, csrf):
    """Two sessions open one record: the compressed record is the same bytes in both answers
    (made once), while the part with the reader's name and CSRF token goes uncompressed, so its
    compressed size cannot leak anything about the record (BREACH)."""
    app, keys = clinic
    url = f"/patients/{keys['MRN-1001']}"
    answers = []
    for who in ("dr.a", "dr.a", "alice"):  # signing in again starts a new session (new token)
        c = login(app, who)
        _, packed = raw_get(c, url, GZIP)
        token = csrf(c)
        page = gzip.decompress(packed).decode()
        assert f'name="csrf_token" value="{token}"' in page
        assert token.encode() in packed  # sent as it is, in a stored block
        answers.append((token, packed, page))
    assert answers[0][0] != answers[1][0]
    assert "Dr A (clinician)" in answers[0][2] and "Alice (patient)" in answers[2][2]
    kept = [
        v[1]
        for v in app.state.payload_cache._d.values()
        if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], Piece)
    ]
    shared = [p for p in kept if p.deflated in answers[0][1] and p.deflated in answers[1][1]]
    assert len(shared) == 1 and len(shared[0].deflated) > 1000
    assert shared[0].deflated not in answers[2][1]  # the person's own page is another record


def test_the_json_answer_is_compressed_and_decodes_to_the_same_time_line(clinic, login):
    app, keys = clinic
    c = login(app, "dr.a")
    url = f"/api/patients/{keys['MRN-1001']}"
    _, plain = raw_get(c, url, IDENTITY)
    h, packed = raw_get(c, url, GZIP)
    assert h["content-encoding"] == "gzip" and h["content-type"] == "application/json"
    assert gzip.decompress(packed) == plain


def test_repeated_views_are_told_once_in_the_access_list(sqlite_clinic, login):
    app, keys = sqlite_clinic
    url = f"/patients/{keys['MRN-1001']}"
    doctor = login(app, "dr.a")
    for _ in range(5):
        doctor.get(url)
    login(app, "dr.a").get(f"/patients/{keys['MRN-1001']}/report.html")
    html = login(app, "alice").get(url).text
    trail = re.findall(r"<li><time[^>]*>[^<]*</time>: ([^<]*)</li>", html)
    assert trail[:2] == [
        "Dr A (clinician) opened a summary of your record",
        "Dr A (clinician) opened your record 5 times",
    ]


def test_the_chart_library_goes_compressed_once_and_revalidates(sqlite_clinic, login):
    from smoulder.web.app import plotly_js_path

    app, _ = sqlite_clinic
    c = login(app, "dr.a")
    original = plotly_js_path().read_bytes()
    h_plain, plain = raw_get(c, "/static/plotly.min.js", IDENTITY)
    assert plain == original and "content-encoding" not in h_plain
    h, packed = raw_get(c, "/static/plotly.min.js", GZIP)
    assert h["content-encoding"] == "gzip" and gzip.decompress(packed) == original
    assert len(packed) < 0.4 * len(original)
    again = c.get("/static/plotly.min.js", headers={**GZIP, "if-none-match": h["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_long_run_of_views_is_told_as_at_least(sqlite_clinic, login):
    app, keys = sqlite_clinic
    url = f"/patients/{keys['MRN-1001']}"
    doctor = login(app, "dr.a")
    for _ in range(10):
        doctor.get(url)
    html = login(app, "alice").get(url).text
    trail = re.findall(r"<li><time[^>]*>[^<]*</time>: ([^<]*)</li>", html)
    # only the newest entries are read: the run may go on before them, and the list says so
    assert trail == ["Dr A (clinician) opened your record at least 8 times"]
