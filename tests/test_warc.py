"""Raw captures in WARC 1.1: written by update over real HTTP on loopback, read back with warcio, traced from
articles through the index, recovered after a run torn mid-append, and unchanged bytes kept once (revisits)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import sqlite3
import subprocess
import sys
import threading
import tracemalloc
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from newsarchive.archive import Archive
from newsarchive.config import MediaConfig, RecheckConfig, Settings, load_settings, render_config
from newsarchive.errors import ArchiveError, ConfigError
from newsarchive.index.captures import CaptureRow
from newsarchive.index.db import Index
from newsarchive.pipeline import update
from newsarchive.sources import Source
from newsarchive.store.layout import INDEX_FILE
from newsarchive.store.warc import NOTE_FIELD, REQUESTED_FIELD, Exchange, WarcWriter, read_capture

from .conftest import FeedServer, item, rss
from .test_pipeline import FAST

NOW = 1_780_000_000.25  # 2026-05-28 UTC
DAY_FILE = "warc/" + datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%d") + ".warc.gz"


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def make_archive(root: Path, *sources: Source, warc: bool = True) -> Archive:
    Archive.init(root).close()
    # No rechecks or images: the items link to example.org, and runs an hour or a day apart would look those up.
    quiet = Settings(sources=sources, fetch=FAST, warc=warc, recheck=RecheckConfig(per_run=0), media=MediaConfig(enabled=False))
    return Archive.open(root, settings=quiet)


def records(path: Path) -> list[tuple[dict[str, str], int | None, bytes]]:
    """(WARC headers, HTTP status, payload as stored) of every record, read by warcio with its digests checked."""
    found = []
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle, check_digests="raise"):
            status = int(record.http_headers.get_statuscode()) if record.rec_type in ("response", "revisit") else None
            found.append((dict(record.rec_headers.headers), status, record.raw_stream.read()))
    return found


def members(path: Path) -> list[bytes]:
    """The file cut into its gzip members, each decompressed on its own."""
    data, out = path.read_bytes(), []
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(inflater.decompress(data))
        assert inflater.eof, "a gzip member is cut short"
        data = inflater.unused_data
    return out


def exchange(n: int, body: bytes, *, at: float = NOW) -> Exchange:
    return Exchange(
        url=f"https://feeds.example.org/{n}.xml",
        target=f"https://www.example.org/{n}.xml",  # as after a redirect
        request_line=f"GET /{n}.xml HTTP/1.1",
        request_headers=[("Host", "www.example.org"), ("User-Agent", "test")],
        protocol="HTTP/1.1",
        status=200,
        reason="OK",
        response_headers=[("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        body=body,
        captured=at,
    )


def test_update_keeps_every_response_with_its_request(server: FeedServer, tmp_path: Path) -> None:
    plain = rss(item(1), item(2))
    packed = gzip.compress(rss(item(3)), mtime=0)  # served as is: the capture keeps these very bytes
    a = server.add("/a.xml", plain, etag='"a1"')
    b = server.add("/b.xml", packed, headers={"Content-Encoding": "gzip"})
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)), Source(name="乙", slug="b", feeds=(b,)))
    assert [s.new for s in update(archive, clock=lambda: NOW).sources] == [2, 1]

    found = records(tmp_path / DAY_FILE)
    info, *pairs = found
    assert info[0]["WARC-Type"] == "warcinfo" and b"software: newsarchive/" in info[2]
    assert {headers["WARC-Type"] for headers, _, _ in pairs} == {"request", "response"} and len(pairs) == 4
    responses = {headers["WARC-Target-URI"]: (headers, status, payload) for headers, status, payload in pairs if status}
    assert set(responses) == {a, b}
    assert responses[a][1:] == (200, plain) and responses[b][1:] == (200, packed)
    for headers, _, payload in responses.values():
        assert headers["WARC-Payload-Digest"] == sha1(payload) and headers["WARC-Block-Digest"].startswith("sha1:")
        assert headers["WARC-Date"] == "2026-05-28T20:26:40.250000Z"
    by_id = {headers["WARC-Record-ID"]: headers for headers, _, _ in pairs}
    for headers, _, _ in pairs:  # request and response point at each other
        partner = by_id[headers["WARC-Concurrent-To"]]
        assert partner["WARC-Concurrent-To"] == headers["WARC-Record-ID"]
        assert partner["WARC-Target-URI"] == headers["WARC-Target-URI"] and partner["WARC-Type"] != headers["WARC-Type"]
    # Each record is a gzip member of its own, and every record says WARC/1.1.
    assert [m.split(b"\r\n", 1)[0] for m in members(tmp_path / DAY_FILE)] == [b"WARC/1.1"] * 5
    assert all(text.startswith(b"WARC/1.1\r\n") and text.count(b"\r\nWARC-Type: ") == 1 for text in members(tmp_path / DAY_FILE))


def test_every_article_can_be_traced_to_the_bytes_served(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1), item(2)))
    server.add("/moved.xml", status=301, headers={"Location": "/b.xml"})
    server.add("/b.xml", gzip.compress(rss(item(3)), mtime=0), headers={"Content-Encoding": "gzip"}, fail_first=1)
    moved = server.base + "/moved.xml"
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)), Source(name="乙", slug="b", feeds=(moved,)))
    update(archive, clock=lambda: NOW)
    rows = list(archive.index.articles())
    assert len(rows) == 3
    for row in rows:
        assert row.origin is not None and row.updated_ms is not None
        capture = archive.index.capture_for(row.origin, row.updated_ms)
        assert capture is not None and capture.status == 200 and capture.file == DAY_FILE
        record, payload = read_capture(tmp_path, capture)
        assert record.rec_headers.get_header("WARC-Payload-Digest") == capture.payload_digest == sha1(payload)
        served = gzip.decompress(payload) if record.http_headers.get_header("Content-Encoding") == "gzip" else payload
        assert row.link is not None and row.link.encode() in served
    # The redirect and the 503 before the retry are kept too; their bodies were never read, and the record says so.
    kept = archive.index.captures_of(moved)
    assert [(c.status, c.target) for c in kept] == [
        (301, moved),
        (503, server.base + "/b.xml"),
        (301, moved),
        (200, server.base + "/b.xml"),
    ]
    redirect, _ = read_capture(tmp_path, kept[0])
    assert redirect.rec_headers.get_header("WARC-Truncated") == "unspecified"
    final, _ = read_capture(tmp_path, kept[-1])
    assert final.rec_headers.get_header(REQUESTED_FIELD) == moved and final.rec_headers.get_header("WARC-Truncated") is None


def test_a_second_run_appends_and_keeps_the_304(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)), etag='"a1"')
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    first = (tmp_path / DAY_FILE).read_bytes()
    update(archive, clock=lambda: NOW + 60)
    after = (tmp_path / DAY_FILE).read_bytes()
    assert after.startswith(first) and len(after) > len(first)
    found = records(tmp_path / DAY_FILE)
    assert [headers["WARC-Type"] for headers, _, _ in found].count("warcinfo") == 1
    assert [status for _, status, _ in found if status] == [200, 304]
    not_modified = archive.index.captures_of(a)[-1]
    record, payload = read_capture(tmp_path, not_modified)
    assert (not_modified.status, payload, record.rec_headers.get_header("WARC-Truncated")) == (304, b"", None)
    request = [headers for headers, _, _ in found if headers["WARC-Type"] == "request"][-1]
    assert request["WARC-Concurrent-To"] == record.rec_headers.get_header("WARC-Record-ID")


def test_a_new_day_gets_a_new_file(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    update(archive, clock=lambda: NOW + 86_400)
    assert sorted(p.name for p in (tmp_path / "warc").iterdir()) == ["2026-05-28.warc.gz", "2026-05-29.warc.gz"]


def test_warc_off_writes_nothing(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)), warc=False)
    assert update(archive, clock=lambda: NOW).sources[0].new == 1
    assert not (tmp_path / "warc").exists()
    assert archive.index.captures_of(a) == []


@pytest.mark.parametrize("tail", ["garbage", "half a record", "a gzip member that is no record"])
def test_a_torn_tail_is_cut_off_and_the_file_reads_to_its_end(tmp_path: Path, tail: str, caplog: pytest.LogCaptureFixture) -> None:
    writer = WarcWriter(tmp_path, clock=lambda: NOW)
    written = [writer.write(exchange(n, f"<rss>{n}</rss>".encode())) for n in range(3)]
    writer.close()
    path = tmp_path / DAY_FILE
    whole = path.read_bytes()
    # What a run killed mid-append leaves behind:
    request = first_member_of_one_exchange()
    torn = {
        "garbage": b"\x1f\x8b\x08\x00 not really gzip",
        # Half of a member: cut after a whole one, the next record written could begin with the same compressed
        # bytes as the cut one did (the same WARC headers up to the record's id), and the check below would not hold.
        "half a record": request[: len(request) // 2],
        "a gzip member that is no record": gzip.compress(b"<html>"),
    }[tail]
    path.write_bytes(whole + torn)
    writer = WarcWriter(tmp_path, clock=lambda: NOW + 1)
    written.append(writer.write(exchange(3, b"<rss>3</rss>", at=NOW + 1)))
    writer.close()
    assert path.read_bytes().startswith(whole) and torn not in path.read_bytes()
    assert f"{DAY_FILE}: cut off " in caplog.text
    found = records(path)
    assert [payload for _, status, payload in found if status] == [f"<rss>{n}</rss>".encode() for n in range(4)]
    index = Index(tmp_path / INDEX_FILE)
    try:
        for capture in written:
            assert index.captures_of(capture.url) == [capture]
            assert read_capture(tmp_path, capture)[1].startswith(b"<rss>")
    finally:
        index.close()


def first_member_of_one_exchange() -> bytes:
    """The first of the two members one exchange adds to a file: its request."""
    from newsarchive.store.warc import _records

    request, _, _ = _records(exchange(9, b"<rss>9</rss>"))
    return request


def test_records_written_but_not_indexed_are_indexed_when_the_file_is_opened_again(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, clock=lambda: NOW)
    written = [writer.write(exchange(n, b"<rss/>")) for n in range(3)]
    writer.close()
    index = Index(tmp_path / INDEX_FILE)
    index.forget_captures(DAY_FILE, written[0].offset + written[0].length)  # killed before the index heard of two
    assert index.capture_end(DAY_FILE) == written[0].offset + written[0].length
    index.close()
    writer = WarcWriter(tmp_path, clock=lambda: NOW)
    written.append(writer.write(exchange(3, b"<rss/>")))
    writer.close()
    index = Index(tmp_path / INDEX_FILE)
    try:
        assert [index.captures_of(capture.url) for capture in written] == [[capture] for capture in written]
        assert index.capture_for(written[1].url, int(NOW * 1000)) == written[1]
        assert index.capture_for(written[1].url, int(NOW * 1000) + 1) is None  # a later run did not fetch it
    finally:
        index.close()


def test_capture_for_takes_the_first_success_of_the_run_not_an_earlier_one(tmp_path: Path) -> None:
    index = Index(tmp_path / INDEX_FILE)
    try:
        base = CaptureRow(
            url="https://a.example.org/", target="https://a.example.org/", captured_ms=0, status=200, file="f", offset=0, length=1
        )
        for offset, (at_ms, status) in enumerate([(1_000, 200), (2_000, 503), (2_500, 200), (3_000, 200)]):
            index.add_capture(replace(base, captured_ms=at_ms, status=status, offset=offset))
        found = index.capture_for("https://a.example.org/", 2_000)
        assert found is not None and (found.captured_ms, found.status) == (2_500, 200)
        assert index.capture_for("https://b.example.org/", 0) is None
    finally:
        index.close()


def test_the_warc_setting(tmp_path: Path) -> None:
    assert Settings().warc is True and "\n# warc = true    # " in render_config()
    (tmp_path / "newsarchive.toml").write_text("[archive]\nwarc = false\n", encoding="utf-8")
    assert load_settings(tmp_path, env={}).warc is False
    (tmp_path / "newsarchive.toml").write_text('[archive]\nwarc = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"archive\.warc = 'yes' must be true or false"):
        load_settings(tmp_path, env={})


def test_many_feeds_at_once_never_interleave_records(server: FeedServer, tmp_path: Path) -> None:
    bodies = {f"/f{n}.xml": rss(*(item(n * 100 + k, body="<p>" + "正文" * 2000 + "</p>") for k in range(5))) for n in range(12)}
    sources = [Source(name=f"台{n}", slug=f"s{n}", feeds=(server.add(path, body),)) for n, (path, body) in enumerate(bodies.items())]
    archive = make_archive(tmp_path, *sources)
    assert all(s.new == 5 for s in update(archive, clock=lambda: NOW).sources)
    found = records(tmp_path / DAY_FILE)
    served = {server.base + path: body for path, body in bodies.items()}
    assert {headers["WARC-Target-URI"]: payload for headers, status, payload in found if status} == served
    assert len(members(tmp_path / DAY_FILE)) == len(found) == 1 + 2 * len(served)


def test_chunked_responses_are_kept_without_their_framing_and_say_so(tmp_path: Path) -> None:
    feed = rss(item(1), item(2))

    class Chunked(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(feed), 100):
                piece = feed[start : start + 100]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: object) -> None:
            pass

    chunked = ThreadingHTTPServer(("127.0.0.1", 0), Chunked)
    thread = threading.Thread(target=chunked.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{chunked.server_address[1]}/feed"
        archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(url,)))
        assert update(archive, clock=lambda: NOW).sources[0].new == 2
    finally:
        chunked.shutdown()
        chunked.server_close()
    (capture,) = archive.index.captures_of(url)
    record, payload = read_capture(tmp_path, capture)
    assert payload == feed and record.http_headers.get_header("Transfer-Encoding") is None
    assert "chunked" in record.rec_headers.get_header(NOTE_FIELD)


def test_a_capture_that_cannot_be_written_costs_no_article(server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = server.add("/a.xml", rss(item(1), item(2)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    (tmp_path / "warc").write_text("in the way of the folder", encoding="utf-8")
    report = update(archive, clock=lambda: NOW)
    assert (report.sources[0].new, report.sources[0].error) == (2, None)
    assert "could not be kept in the WARC file" in caplog.text and archive.index.captures_of(a) == []


def test_reindex_keeps_the_captures(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    before = archive.index.captures_of(a)
    archive.reindex()
    (row,) = archive.index.articles()
    assert before and archive.index.captures_of(a) == before
    assert row.origin is not None and row.updated_ms is not None and archive.index.capture_for(row.origin, row.updated_ms) == before[0]


# Revisits: the same bytes kept once ---------------------------------------------------------------------------

PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
LATER = NOW + 3_600  # the next hourly run, the same UTC day
NEXT_DAY_FILE = "warc/" + datetime.fromtimestamp(NOW + 86_400, UTC).strftime("%Y-%m-%d") + ".warc.gz"


def by_type(path: Path, kind: str) -> list[tuple[dict[str, str], int | None, bytes]]:
    return [found for found in records(path) if found[0]["WARC-Type"] == kind]


def big_feed(seed: int) -> bytes:
    """About 100 kB of feed that does not compress to nothing, different for each seed."""
    rng = random.Random(seed)
    text = ["".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(10_000)) for _ in range(3)]
    return rss(*(item(seed * 100 + k, body=f"<p>{text[k]}</p>") for k in range(3)))


def test_an_unchanged_response_is_kept_as_a_revisit_of_the_first(server: FeedServer, tmp_path: Path) -> None:
    feed = big_feed(1)
    a = server.add("/a.xml", feed)  # no validators: the same bytes come again, with a 200
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    update(archive, clock=lambda: LATER)

    found = records(tmp_path / DAY_FILE)  # warcio reads the file to its end, digests checked
    assert [headers["WARC-Type"] for headers, _, _ in found] == ["warcinfo", "request", "response", "request", "revisit"]
    (first, _, payload), (request, _, _), (revisit, status, left_out) = found[2], found[3], found[4]
    assert payload == feed and status == 200 and left_out == b""
    assert revisit["WARC-Profile"] == PROFILE
    assert revisit["WARC-Refers-To"] == first["WARC-Record-ID"]
    assert revisit["WARC-Refers-To-Target-URI"] == first["WARC-Target-URI"] == revisit["WARC-Target-URI"] == a
    assert revisit["WARC-Refers-To-Date"] == first["WARC-Date"] == "2026-05-28T20:26:40.250000Z"
    assert revisit["WARC-Date"] == "2026-05-28T21:26:40.250000Z"
    assert revisit["WARC-Payload-Digest"] == first["WARC-Payload-Digest"] == sha1(feed)
    assert "WARC-Truncated" not in revisit and revisit["WARC-Concurrent-To"] == request["WARC-Record-ID"]
    assert request["WARC-Concurrent-To"] == revisit["WARC-Record-ID"]
    assert [m.split(b"\r\n", 1)[0] for m in members(tmp_path / DAY_FILE)] == [b"WARC/1.1"] * 5

    original, again = archive.index.captures_of(a)
    assert (original.revisit, again.revisit) == (False, True)
    assert (again.original_file, again.original_offset) == (original.file, original.offset)
    assert again.length < 2_000 < original.length  # the headers only
    # Callers see no difference: the run's capture is the revisit, its payload the bytes served.
    assert archive.index.capture_for(a, int(LATER * 1000)) == again
    record, body = read_capture(tmp_path, again)
    assert record.rec_type == "revisit" and record.http_headers.get_statuscode() == "200" and body == feed
    assert record.http_headers.get_header("Content-Length") == str(len(feed))
    assert read_capture(tmp_path, original)[1] == feed


def test_changed_bytes_are_kept_in_full_and_a_revisit_refers_to_the_newest_response_with_its_bytes(
    server: FeedServer, tmp_path: Path
) -> None:
    a = server.add("/a.xml", big_feed(1))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    server.add("/a.xml", big_feed(2))
    update(archive, clock=lambda: NOW + 60)
    server.add("/a.xml", big_feed(1))  # back to the first version
    update(archive, clock=lambda: NOW + 120)
    update(archive, clock=lambda: NOW + 180)
    kinds = [headers["WARC-Type"] for headers, _, _ in records(tmp_path / DAY_FILE) if headers["WARC-Type"] != "request"]
    assert kinds == ["warcinfo", "response", "response", "revisit", "revisit"]
    first, second, third, fourth = archive.index.captures_of(a)
    assert second.payload_digest != first.payload_digest and not second.revisit
    assert third.payload_digest == fourth.payload_digest == first.payload_digest
    assert (third.original_offset, fourth.original_offset) == (first.offset, first.offset)  # never a revisit of a revisit
    assert [read_capture(tmp_path, c)[1] for c in (first, second, third, fourth)] == [big_feed(1), big_feed(2), big_feed(1), big_feed(1)]


def test_a_304_an_empty_body_and_a_body_not_read_are_never_revisits(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)), etag='"a1"')
    empty = server.add("/empty.xml", b"")
    gone = server.base + "/gone.xml"  # a 404: its body is not read
    sources = [Source(name=f"台{n}", slug=f"s{n}", feeds=(url,)) for n, url in enumerate((a, empty, gone))]
    archive = make_archive(tmp_path, *sources)
    update(archive, clock=lambda: NOW)
    update(archive, clock=lambda: NOW + 60)
    assert by_type(tmp_path / DAY_FILE, "revisit") == []
    assert [c.status for c in archive.index.captures_of(a)] == [200, 304]
    assert [c.status for c in archive.index.captures_of(empty)] == [200, 200]
    assert {c.status for c in archive.index.captures_of(gone)} == {404}
    for capture in archive.index.captures_of(gone):
        assert read_capture(tmp_path, capture)[0].rec_headers.get_header("WARC-Truncated") == "unspecified"
    # The same through write(): a body not read, with the status of a success, stays a truncated response.
    writer = WarcWriter(tmp_path, clock=lambda: NOW)
    unread = [writer.write(replace(exchange(7, b"<rss/>", at=NOW + 300 + n), body=None)) for n in range(2)]
    writer.close()
    assert [c.revisit for c in unread] == [False, False]
    assert all(read_capture(tmp_path, c)[0].rec_type == "response" for c in unread)


def test_a_revisit_may_refer_to_an_earlier_days_file_and_says_which_when_it_is_gone(server: FeedServer, tmp_path: Path) -> None:
    feed = big_feed(1)
    a = server.add("/a.xml", feed)
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    update(archive, clock=lambda: NOW + 86_400)
    (first, _, _), (revisit, _, _) = by_type(tmp_path / DAY_FILE, "response")[0], by_type(tmp_path / NEXT_DAY_FILE, "revisit")[0]
    assert revisit["WARC-Refers-To"] == first["WARC-Record-ID"]
    original, again = archive.index.captures_of(a)
    assert (again.file, again.original_file, again.original_offset) == (NEXT_DAY_FILE, DAY_FILE, original.offset)
    assert read_capture(tmp_path, again)[1] == feed

    (tmp_path / DAY_FILE).unlink()  # the user deletes the older day
    with pytest.raises(ArchiveError) as raised:
        read_capture(tmp_path, again)
    message = str(raised.value)
    assert message.startswith(f"{DAY_FILE} is missing") and first["WARC-Record-ID"] in message
    assert f"offset {again.offset} of {NEXT_DAY_FILE}" in message and raised.value.hint and "restore" in raised.value.hint
    # The writer never refers to bytes that are gone: the next capture is whole again, and the one after refers to it.
    update(archive, clock=lambda: NOW + 86_400 + 60)
    update(archive, clock=lambda: NOW + 86_400 + 120)
    assert [headers["WARC-Type"] for headers, _, _ in records(tmp_path / NEXT_DAY_FILE)][2::2] == ["revisit", "response", "revisit"]
    *_, whole, last = archive.index.captures_of(a)
    assert (whole.revisit, last.original_file, last.original_offset) == (False, whole.file, whole.offset)
    assert read_capture(tmp_path, last)[1] == feed


def test_revisits_are_indexed_again_when_a_file_is_recovered(tmp_path: Path) -> None:
    body = b"<rss>" + "正文".encode() * 5000 + b"</rss>"
    writer = WarcWriter(tmp_path, clock=lambda: NOW)
    written = [writer.write(exchange(0, body, at=NOW + n)) for n in range(3)]
    writer.close()
    assert [c.revisit for c in written] == [False, True, True]
    index = Index(tmp_path / INDEX_FILE)
    index.forget_captures(DAY_FILE, written[0].offset + written[0].length)  # killed before the index heard of the revisits
    assert index.captures_of(written[0].url) == written[:1]
    index.close()
    writer = WarcWriter(tmp_path, clock=lambda: NOW + 3)
    written.append(writer.write(exchange(0, body, at=NOW + 3)))
    writer.close()
    index = Index(tmp_path / INDEX_FILE)
    try:
        assert index.captures_of(written[0].url) == written  # the revisits found in the file, with their original
        assert [read_capture(tmp_path, c)[1] for c in written] == [body] * 4
    finally:
        index.close()


def test_a_revisit_whose_original_was_never_indexed_is_still_read(tmp_path: Path) -> None:
    body = b"<rss>" + "正文".encode() * 5000 + b"</rss>"
    writer = WarcWriter(tmp_path)
    first = writer.write(exchange(0, body, at=NOW))
    revisit = writer.write(exchange(0, body, at=NOW + 86_400))
    writer.close()
    assert (revisit.file, revisit.original_file) == (NEXT_DAY_FILE, DAY_FILE)
    for suffix in ("", "-wal", "-shm"):  # the index is lost; only the next day's file is opened again
        (tmp_path / (INDEX_FILE + suffix)).unlink(missing_ok=True)
    writer = WarcWriter(tmp_path)
    writer.write(exchange(1, b"<rss/>", at=NOW + 86_401))
    writer.close()
    index = Index(tmp_path / INDEX_FILE)
    try:
        (found,) = index.captures_of(revisit.url)
    finally:
        index.close()
    assert (found.offset, found.original_file, found.original_offset) == (revisit.offset, DAY_FILE, None)
    assert read_capture(tmp_path, found)[1] == body  # looked for in that day's file
    assert read_capture(tmp_path, first)[1] == body


def test_reindex_keeps_the_revisits(server: FeedServer, tmp_path: Path) -> None:
    feed = big_feed(1)
    a = server.add("/a.xml", feed)
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive, clock=lambda: NOW)
    update(archive, clock=lambda: LATER)
    before = archive.index.captures_of(a)
    assert [c.revisit for c in before] == [False, True]
    archive.reindex()
    assert archive.index.captures_of(a) == before
    assert read_capture(tmp_path, archive.index.captures_of(a)[1])[1] == feed
    update(archive, clock=lambda: LATER + 60)  # and the next run still refers to the first response
    assert archive.index.captures_of(a)[-1].original_offset == before[0].offset


def test_many_feeds_fetched_again_become_revisits_and_never_interleave(server: FeedServer, tmp_path: Path) -> None:
    bodies = {f"/f{n}.xml": big_feed(n) for n in range(8)}
    sources = [Source(name=f"台{n}", slug=f"s{n}", feeds=(server.add(path, body),)) for n, (path, body) in enumerate(bodies.items())]
    archive = make_archive(tmp_path, *sources)
    update(archive, clock=lambda: NOW)
    size = (tmp_path / DAY_FILE).stat().st_size
    update(archive, clock=lambda: LATER)
    assert (tmp_path / DAY_FILE).stat().st_size - size < 8 * 2_000  # eight requests and eight revisits
    revisits = by_type(tmp_path / DAY_FILE, "revisit")
    assert len(revisits) == 8 and len(members(tmp_path / DAY_FILE)) == 1 + 4 * 8
    for url in (server.base + path for path in bodies):
        (capture,) = [c for c in archive.index.captures_of(url) if c.revisit]
        assert read_capture(tmp_path, capture)[1] == bodies[url.removeprefix(server.base)]


def test_a_large_body_is_hashed_and_kept_without_a_copy(tmp_path: Path) -> None:
    body = ("<p>" + "正文" * 50 + "</p>\n").encode() * 100_000  # 31 MB
    writer = WarcWriter(tmp_path, clock=lambda: NOW)
    writer.write(exchange(0, b"<rss/>"))  # the file and the index opened before measuring
    tracemalloc.start()
    try:
        for n in range(2):  # a response, then a revisit
            tracemalloc.reset_peak()
            capture = writer.write(exchange(1, body, at=NOW + n))
            assert tracemalloc.get_traced_memory()[1] < len(body) // 10, "a copy of the body was made"
    finally:
        tracemalloc.stop()
        writer.close()
    assert capture.revisit and read_capture(tmp_path, capture)[1] == body


def test_a_revisit_after_a_redirect_names_the_address_it_refers_to(server: FeedServer, tmp_path: Path) -> None:
    feed = big_feed(3)
    server.add("/moved.xml", status=301, headers={"Location": "/b.xml"})
    server.add("/b.xml", feed)
    moved = server.base + "/moved.xml"
    archive = make_archive(tmp_path, Source(name="乙", slug="b", feeds=(moved,)))
    update(archive, clock=lambda: NOW)
    update(archive, clock=lambda: LATER)
    statuses = [(c.status, c.revisit) for c in archive.index.captures_of(moved)]
    assert statuses == [(301, False), (200, False), (301, False), (200, True)]  # a redirect's body is not read: never a revisit
    ((revisit, status, _),) = by_type(tmp_path / DAY_FILE, "revisit")
    assert (revisit["WARC-Refers-To-Target-URI"], revisit[REQUESTED_FIELD], status) == (server.base + "/b.xml", moved, 200)
    assert read_capture(tmp_path, archive.index.captures_of(moved)[-1])[1] == feed


def test_a_commit_that_fails_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A failing COMMIT left its transaction open, so the connection's next BEGIN failed ("cannot start a transaction
    within a transaction") and its write lock stopped every other writer: the WARC writer's connection, seen under load."""
    index = Index(tmp_path / "index.sqlite")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), index.atomic():
            index.db.execute("PRAGMA defer_foreign_keys = ON")  # checked at COMMIT, which then fails
            index.db.execute("INSERT INTO article_keys (key, article) VALUES ('guid:x:1', 999)")
        assert not index.db.in_transaction
        with index.atomic():
            index.set_meta("after", "1")
        assert index.meta("after") == "1"
    finally:
        index.close()


def test_without_isal_the_captures_are_compressed_by_zlib_alike(tmp_path: Path) -> None:
    """isal is installed only where it has wheels: elsewhere zlib writes the same kind of file, read the same way."""
    program = f"""
import sys
sys.modules["isal"] = None  # as on a machine without it
from pathlib import Path
from newsarchive.store import warc
from tests.test_warc import exchange
assert warc._deflate.__name__ == "zlib", warc._deflate
writer = warc.WarcWriter(Path({str(tmp_path)!r}), clock=lambda: {NOW})
writer.write(exchange(1, b"<rss>" + b"x" * 3_000_000 + b"</rss>"))
writer.close()
"""
    subprocess.run([sys.executable, "-c", program], check=True, cwd=Path(__file__).parent.parent, timeout=60)
    records = members(tmp_path / DAY_FILE)
    assert len(records) == 3 and b"x" * 1000 + b"</rss>" in records[2]  # warcinfo, request, response
    with (tmp_path / DAY_FILE).open("rb") as stream:
        assert [record.rec_type for record in ArchiveIterator(stream, check_digests="raise")] == ["warcinfo", "request", "response"]
