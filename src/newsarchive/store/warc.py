"""Raw captures: every HTTP response of a run, with its request, in WARC 1.1 files (``archive.warc``).

``warc/<UTC day>.warc.gz`` holds one day's captures, appended to by every run of that day: a ``warcinfo``
record first, then a ``request`` and a ``response`` record for each response, linked both ways by
WARC-Concurrent-To. Each record is its own gzip member, so any record can be read from its offset, and each
carries WARC-Block-Digest and WARC-Payload-Digest (sha1, base32, as warcio computes them). The body is kept
as the server sent it, still gzip or brotli when it was; only chunked framing is gone (the HTTP client
removes it), so Transfer-Encoding is left out of the recorded headers and a note says so.

Safe with concurrent fetches and crashes: one thread appends, with one write per request and response; a
response is indexed (``captures``) only once it is in the file. When a file is opened, whatever lies past its
last indexed response is checked member by member: whole records found there are indexed, and a torn tail
(a run killed while writing) is cut off, so the file always reads to its end.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx
from warcio.archiveiterator import ArchiveIterator
from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser
from warcio.timeutils import datetime_to_iso_date, iso_date_to_datetime
from warcio.warcwriter import WARCWriter

from .. import __version__
from ..errors import ArchiveError
from ..index.db import CaptureRow, Index
from . import layout

log = logging.getLogger(__name__)

WARC_VERSION = "1.1"
GZIP_LEVEL = 1  # on news feeds four to five times faster than levels 6 to 9 (warcio's), for files about 7% larger
REQUESTED_FIELD = "WARC-Newsarchive-Requested-URI"  # the address asked for, when a redirect led elsewhere
NOTE_FIELD = "WARC-Newsarchive-Note"
_SCAN_CHUNK = 1 << 20
_NO_BODY = frozenset({204, 304})

_builder = RecordBuilder(warc_version=WARC_VERSION)


@dataclass(frozen=True)
class Exchange:
    """One request and the response it got, as plain values."""

    url: str  # the address asked for, before any redirect
    target: str  # the address of this request
    request_line: str  # "GET /rss HTTP/1.1"
    request_headers: list[tuple[str, str]]
    protocol: str  # "HTTP/1.1"
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: bytes | None  # as received, before content decoding; None when it was not read
    captured: float  # seconds since the epoch

    @classmethod
    def of(cls, url: str, request: httpx.Request, response: httpx.Response, body: bytes | None, captured: float) -> Exchange:
        def pairs(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
            return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]

        protocol = response.http_version or "HTTP/1.1"
        path = request.url.raw_path.decode("ascii", "replace")
        return cls(
            url=url,
            target=str(request.url),
            request_line=f"{request.method} {path} {protocol}",
            request_headers=pairs(request.headers.raw),
            protocol=protocol,
            status=response.status_code,
            reason=response.reason_phrase,
            response_headers=pairs(response.headers.raw),
            body=body,
            captured=captured,
        )


def warc_date(seconds: float) -> str:
    return str(datetime_to_iso_date(datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None), use_micros=True))


class _Gzipped:
    """Takes what warcio writes of one record and compresses it on the fly, so that no uncompressed copy of a
    large body is made."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(self._compressor.compress(data))
        return len(data)

    def flush(self) -> None:  # the member ends in member()
        pass

    def member(self) -> bytes:
        return b"".join(self._parts) + self._compressor.flush()


def _member(record: Any) -> bytes:
    """A record as one gzip member of its own."""
    out = _Gzipped()
    WARCWriter(out, gzip=False, warc_version=WARC_VERSION).write_record(record)
    return out.member()


def _records(exchange: Exchange) -> tuple[bytes, bytes, str | None]:
    """The request and the response record of an exchange, and the response's payload digest."""
    request_id, response_id = StatusAndHeadersParser.make_warc_id(), StatusAndHeadersParser.make_warc_id()
    date = warc_date(exchange.captured)
    headers = [(name, value) for name, value in exchange.response_headers if name.lower() != "transfer-encoding"]
    fields = {"WARC-Record-ID": response_id, "WARC-Date": date, "WARC-Concurrent-To": request_id}
    if exchange.url != exchange.target:
        fields[REQUESTED_FIELD] = exchange.url
    notes = []
    if len(headers) < len(exchange.response_headers):
        notes.append("chunked transfer coding removed by the HTTP client; Transfer-Encoding left out")
    if exchange.body is None and exchange.status not in _NO_BODY:
        fields["WARC-Truncated"] = "unspecified"
        notes.append("body not read (a redirect or an error status)")
    if notes:
        fields[NOTE_FIELD] = "; ".join(notes)
    body = exchange.body or b""
    response = _builder.create_warc_record(
        exchange.target,
        "response",
        payload=io.BytesIO(body),
        length=len(body),
        http_headers=StatusAndHeaders(f"{exchange.status} {exchange.reason}".rstrip(), headers, protocol=exchange.protocol),
        warc_headers_dict=fields,
    )
    request = _builder.create_warc_record(
        exchange.target,
        "request",
        payload=io.BytesIO(b""),
        length=0,
        http_headers=StatusAndHeaders(exchange.request_line, exchange.request_headers, is_http_request=True),
        warc_headers_dict={"WARC-Record-ID": request_id, "WARC-Date": date, "WARC-Concurrent-To": response_id},
    )
    return _member(request), _member(response), response.rec_headers.get_header("WARC-Payload-Digest")


def _warcinfo(file: str, seconds: float) -> bytes:
    info = {
        "software": f"newsarchive/{__version__}",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "description": "feeds and pages fetched by newsarchive update, each response with its request",
    }
    record = _builder.create_warcinfo_record(file.rpartition("/")[2], info)
    record.rec_headers.replace_header("WARC-Date", warc_date(seconds))
    return _member(record)


def _whole_members(handle: BinaryIO, start: int) -> Iterator[int]:
    """The end offset of each whole gzip member holding a WARC record from ``start`` on; stops at the first
    that is cut short, corrupt or not a WARC record."""
    handle.seek(start)
    data = b""
    member_start = start
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        head = b""
        fed = len(data)
        while not inflater.eof:
            if not data:
                data = handle.read(_SCAN_CHUNK)
                if not data:
                    return
                fed += len(data)
            try:
                out = inflater.decompress(data, _SCAN_CHUNK)
            except zlib.error:
                return
            head = (head + out[:8])[:8]
            data = inflater.unconsumed_tail
        if not head.startswith(b"WARC/"):
            return
        data = inflater.unused_data
        member_start += fed - len(data)
        yield member_start


def _index_records(handle: BinaryIO, file: str, start: int, index: Index) -> None:
    """Index the responses from ``start`` to the end of a file that is whole."""
    handle.seek(start)
    records = ArchiveIterator(handle)
    with index.atomic():
        for record in records:
            if record.rec_type != "response":
                continue
            headers = record.rec_headers
            target = headers.get_header("WARC-Target-URI") or ""
            captured = iso_date_to_datetime(headers.get_header("WARC-Date")).replace(tzinfo=UTC).timestamp()
            status = record.http_headers.get_statuscode() if record.http_headers else "0"
            index.add_capture(
                CaptureRow(
                    url=headers.get_header(REQUESTED_FIELD) or target,
                    target=target,
                    captured_ms=int(captured * 1000),
                    status=int(status) if str(status).isdigit() else 0,
                    file=file,
                    offset=records.get_record_offset(),
                    length=records.get_record_length(),
                    payload_digest=headers.get_header("WARC-Payload-Digest"),
                )
            )


def recover(handle: BinaryIO, file: str, index: Index) -> int:
    """Make an open WARC file end with a whole record and index the responses past its last indexed one;
    returns its size."""
    size = handle.seek(0, os.SEEK_END)
    known = index.capture_end(file)
    if known > size:  # the index knows more than the file holds (writes lost with the machine): check it all
        known = 0
    end = max(_whole_members(handle, known), default=known)
    if end < size:
        log.warning("%s: cut off %d bytes of a record left unfinished by a run that stopped while writing", file, size - end)
        handle.truncate(end)
        os.fsync(handle.fileno())
    index.forget_captures(file, end)
    if end > known:
        _index_records(handle, file, known, index)
    return end


def read_capture(root: Path, capture: CaptureRow) -> tuple[Any, bytes]:
    """The WARC record of a capture (warcio's) and its payload: the body as the server sent it."""
    with (root / capture.file).open("rb") as handle:
        handle.seek(capture.offset)
        record = next(iter(ArchiveIterator(handle)))
        return record, record.raw_stream.read()


class WarcWriter:
    """Appends the captures of one run to the WARC file of each day, from one thread of its own, so that
    concurrent fetches never interleave records and the event loop never waits on the disk."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsarchive-warc")
        self._index: Index | None = None
        self._handle: BinaryIO | None = None
        self._file: str | None = None

    async def capture(self, url: str, request: httpx.Request, response: httpx.Response, body: bytes | None) -> None:
        """The Fetcher's capture hook: never raises for a capture that cannot be kept (the article matters more).
        Records are compressed in worker threads, side by side; only appending waits for the writer's thread."""
        exchange = Exchange.of(url, request, response, body, self.clock())
        try:
            records = await asyncio.to_thread(_records, exchange)
            await asyncio.get_running_loop().run_in_executor(self._thread, self._append, exchange, *records)
        except Exception as exc:
            expected = isinstance(exc, OSError | ArchiveError)
            log.warning("%s: the response could not be kept in the WARC file: %s", exchange.target, exc, exc_info=not expected)

    def write(self, exchange: Exchange) -> CaptureRow:
        """Append one exchange and index it, from the calling thread: for callers that do not run ``capture``."""
        return self._append(exchange, *_records(exchange))

    def _append(self, exchange: Exchange, request: bytes, response: bytes, digest: str | None) -> CaptureRow:
        day = datetime.fromtimestamp(exchange.captured, UTC).strftime("%Y-%m-%d")
        handle, file = self._open(f"{layout.WARC_DIR}/{day}.warc.gz", exchange.captured)
        start = handle.seek(0, os.SEEK_END)
        try:
            handle.write(request)
            handle.write(response)
            handle.flush()
        except OSError:
            self._close_file()  # the next write opens it again, and recovery cuts what this one left
            raise
        capture = CaptureRow(
            url=exchange.url,
            target=exchange.target,
            captured_ms=int(exchange.captured * 1000),
            status=exchange.status,
            file=file,
            offset=start + len(request),
            length=len(response),
            payload_digest=digest,
        )
        self._open_index().add_capture(capture)
        return capture

    def _open_index(self) -> Index:
        if self._index is None:
            # A connection of its own: the store thread's transactions on the archive's never take in a capture.
            self._index = Index(self.root / layout.INDEX_FILE)
            self._index.db.execute("PRAGMA busy_timeout = 60000")
        return self._index

    def _open(self, file: str, seconds: float) -> tuple[BinaryIO, str]:
        if self._handle is not None and self._file == file:
            return self._handle, file
        self._close_file()
        path = self.root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        handle: BinaryIO = path.open("a+b")
        try:
            if recover(handle, file, self._open_index()) == 0:
                handle.write(_warcinfo(file, seconds))
                handle.flush()
        except BaseException:
            handle.close()
            raise
        self._handle, self._file = handle, file
        return handle, file

    def _close_file(self) -> None:
        handle, self._handle, self._file = self._handle, None, None
        if handle is not None:
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                log.warning("%s: could not be synced to disk: %s", handle.name, exc)
            finally:
                handle.close()

    def _close(self) -> None:
        self._close_file()
        if self._index is not None:
            self._index.close()
            self._index = None

    def close(self) -> None:
        """Sync and close the file, in the writer's thread, after every capture under way."""
        try:
            self._thread.submit(self._close).result()
        finally:
            self._thread.shutdown(wait=True)
