"""Raw captures: every HTTP response of a run, with its request, in WARC 1.1 files (``archive.warc``).

``warc/<UTC day>.warc.gz`` holds one day's captures, appended to by every run of that day: a ``warcinfo``
record first, then a ``request`` and a ``response`` (or ``revisit``) record for each response, linked both ways
by WARC-Concurrent-To. Each record is its own gzip member, so any record can be read from its offset, and each
carries WARC-Block-Digest and WARC-Payload-Digest (sha1, base32, as warcio computes them). The body is kept
as the server sent it, still gzip or brotli when it was; only chunked framing is gone (the HTTP client
removes it), so Transfer-Encoding is left out of the recorded headers and a note says so.

The same bytes are stored once. A response whose payload (read to its end, not empty) has the digest of an
earlier full response from the same address becomes a ``revisit`` record (WARC 1.1 identical-payload-digest
profile): the status line and headers, no payload, and WARC-Refers-To, -Refers-To-Target-URI and
-Refers-To-Date naming that response; the index says where it lies, and ``read_capture`` returns its payload.
The original may be in any earlier day's file, as in web archives generally (Wayback resolves revisits
through its CDX index): a page rechecked for 30 days or a feed that rarely changes is then kept in full once,
not once a day. The price: deleting an old day's file loses the payload of the later revisits of its
responses, which ``read_capture`` then reports by name; the writer only refers to a response it can read at
that moment, so after such a deletion the next capture is kept in full again.

Safe with concurrent fetches and crashes: one thread appends, with one write per request and response; a
response is indexed (``captures``) only once it is in the file. When a file is opened, whatever lies past its
last indexed response is checked member by member: whole records found there are indexed, and a torn tail
(a run killed while writing) is cut off, so the file always reads to its end.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import logging
import mmap
import os
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser, StatusAndHeadersParserException
from warcio.timeutils import datetime_to_iso_date, iso_date_to_datetime
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from ..errors import ArchiveError
from ..index.backend import IndexBackend, open_index
from ..index.captures import CaptureIndex, CaptureRow
from ..version import __version__
from . import layout

if TYPE_CHECKING:  # `check` reads WARC files without httpx, which only writing them needs
    import httpx

log = logging.getLogger(__name__)

WARC_VERSION = "1.1"
# ISA-L's level 2 (isal) compresses news feeds 2.4 times as fast as zlib's level 1 and a little smaller (zlib's 6 to
# 9, warcio's, took four to five times zlib's 1): a run writes every feed it downloads, tens of MB an hour. isal is
# installed where it has wheels (pyproject.toml); elsewhere zlib's level 1 writes the same kind of gzip members.
_deflate: Any
try:
    _deflate, GZIP_LEVEL = importlib.import_module("isal.isal_zlib"), 2
except ImportError:
    _deflate, GZIP_LEVEL = zlib, 1
_PENDING = 8  # captures compressed at once in the background; the next fetch's capture waits for one of them
REQUESTED_FIELD = "WARC-Newsarchive-Requested-URI"  # the address asked for, when a redirect led elsewhere
NOTE_FIELD = "WARC-Newsarchive-Note"
_SCAN_CHUNK = 1 << 20
_NO_BODY = frozenset({204, 304})
_CANDIDATES = 3  # earlier responses with the same payload tried as a revisit's original (newest first)
# What reading a record that is gone, cut short or corrupt raises:
_UNREADABLE = (OSError, EOFError, ValueError, zlib.error, ArchiveLoadFailed, StatusAndHeadersParserException)
_HEAD_CHUNK = 4096
_HEAD_LIMIT = 1 << 16  # WARC headers longer than this are not ours

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


@dataclass(frozen=True)
class _Original:
    """The response record a revisit refers to."""

    file: str
    offset: int
    target: str  # its WARC-Target-URI, WARC-Date and WARC-Record-ID, as written there
    date: str
    record_id: str


def warc_date(seconds: float) -> str:
    return str(datetime_to_iso_date(datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None), use_micros=True))


def _ms(date: str) -> int:
    return int(iso_date_to_datetime(date).replace(tzinfo=UTC).timestamp() * 1000)


def _day_file(date: str) -> str:
    """The file that the writer puts a record of this WARC-Date in."""
    return f"{layout.WARC_DIR}/{iso_date_to_datetime(date):%Y-%m-%d}.warc.gz"


def payload_digest(body: bytes) -> str:
    """WARC-Payload-Digest with warcio's own digester (sha1, base32); hashes the bytes in place, without a copy."""
    digester = Digester("sha1")
    digester.update(body)
    return str(digester)


def _revisitable(exchange: Exchange) -> str | None:
    """The payload digest of a body that a revisit may stand for: read to its end and not empty."""
    if not exchange.body or exchange.status in _NO_BODY:
        return None
    return payload_digest(exchange.body)


class _Gzipped:
    """Takes what warcio writes of one record and compresses it on the fly, a megabyte at a time, so that no
    uncompressed copy of a large body is made. Not warcio's 16 kB pieces one by one: a thread gives up the GIL for each
    and waits for it again while the run's other threads work, and a feed of several MB took hundreds of such waits."""

    _STEP = 1 << 20

    def __init__(self) -> None:
        self._compressor = _deflate.compressobj(GZIP_LEVEL, _deflate.DEFLATED, 16 + _deflate.MAX_WBITS)
        self._parts: list[bytes] = []
        self._waiting: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        self._waiting.append(data)
        self._size += len(data)
        if self._size >= self._STEP:
            self._compress()
        return len(data)

    def _compress(self) -> None:
        self._parts.append(self._compressor.compress(b"".join(self._waiting)))
        self._waiting.clear()
        self._size = 0

    def flush(self) -> None:  # the member ends in member()
        pass

    def member(self) -> bytes:
        self._compress()
        end: bytes = self._compressor.flush()
        return b"".join(self._parts) + end


def _member(record: Any) -> bytes:
    """A record as one gzip member of its own."""
    out = _Gzipped()
    WARCWriter(out, gzip=False, warc_version=WARC_VERSION).write_record(record)
    return out.member()


def _records(exchange: Exchange, digest: str | None = None, original: _Original | None = None) -> tuple[bytes, bytes, str | None]:
    """The request and the response record of an exchange, and the response's payload digest (``digest`` when the
    caller has it already). With ``original``, the response is kept as a revisit of that record."""
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
    http_headers = StatusAndHeaders(f"{exchange.status} {exchange.reason}".rstrip(), headers, protocol=exchange.protocol)
    if original is not None and digest is not None:
        fields["WARC-Refers-To"] = original.record_id
        response = _builder.create_revisit_record(
            exchange.target, digest, original.target, original.date, http_headers=http_headers, warc_headers_dict=fields
        )
    else:
        if digest is not None:  # hashed already: warcio need not read the body once more for it
            fields["WARC-Payload-Digest"] = digest
        body = exchange.body or b""
        # The block digest too, in one call over the body: warcio hashes 16 kB at a time (see _Gzipped).
        http_headers.compute_headers_buffer(_builder.header_filter)
        block = Digester("sha1")
        block.update(http_headers.headers_buff)
        block.update(body)
        fields["WARC-Block-Digest"] = str(block)
        response = _builder.create_warc_record(
            exchange.target, "response", payload=io.BytesIO(body), length=len(body), http_headers=http_headers, warc_headers_dict=fields
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


def _locate_original(index: CaptureIndex, url: str, digest: str | None, headers: Any) -> tuple[str, int | None]:
    """Where the response that a revisit refers to lies: from the index, else only its day's file (read_capture
    then looks through it)."""
    date = headers.get_header("WARC-Refers-To-Date") or headers.get_header("WARC-Date")
    target = headers.get_header("WARC-Refers-To-Target-URI")
    for row in index.originals_of(url, digest, near_ms=_ms(date)) if digest else ():
        if row.target == target:
            return row.file, row.offset
    return _day_file(date), None


def _index_records(handle: BinaryIO, file: str, start: int, index: IndexBackend) -> None:
    """Index the responses and revisits from ``start`` to the end of a file that is whole."""
    handle.seek(start)
    records = ArchiveIterator(handle)
    with index.atomic():
        for record in records:
            if record.rec_type not in ("response", "revisit"):
                continue
            headers = record.rec_headers
            target = headers.get_header("WARC-Target-URI") or ""
            url = headers.get_header(REQUESTED_FIELD) or target
            digest = headers.get_header("WARC-Payload-Digest")
            status = record.http_headers.get_statuscode() if record.http_headers else "0"
            original_file, original_offset = _locate_original(index, url, digest, headers) if record.rec_type == "revisit" else (None, None)
            index.add_capture(
                CaptureRow(
                    url=url,
                    target=target,
                    captured_ms=_ms(headers.get_header("WARC-Date")),
                    status=int(status) if str(status).isdigit() else 0,
                    file=file,
                    offset=records.get_record_offset(),
                    length=records.get_record_length(),
                    payload_digest=digest,
                    original_file=original_file,
                    original_offset=original_offset,
                )
            )


def recover(handle: BinaryIO, file: str, index: IndexBackend) -> int:
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
    """The WARC record of a capture (warcio's) and its payload: the body as the server sent it. For a revisit, the
    record is the revisit (this response's status and headers) and the payload the original response's; raises
    ArchiveError when that response is gone."""
    with (root / capture.file).open("rb") as handle:
        handle.seek(capture.offset)
        record = next(iter(ArchiveIterator(handle)))
        if record.rec_type != "revisit":
            return record, record.raw_stream.read()
    return record, _original_payload(root, capture, record.rec_headers)


def _warc_headers_at(path: Path, offset: int) -> StatusAndHeaders | None:
    """The WARC headers of the record at ``offset`` of a file, or None when there is none there. Only the first
    kilobytes of its member are inflated, a little at a time: warcio would inflate a whole read block, which for a
    well compressed body is megabytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = b""
    with path.open("rb") as handle:
        handle.seek(offset)
        while b"\r\n\r\n" not in head:
            data = inflater.unconsumed_tail or handle.read(_HEAD_CHUNK)
            if not data or inflater.eof or len(head) > _HEAD_LIMIT:
                return None
            head += inflater.decompress(data, _HEAD_CHUNK)
    text = head.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    headers: StatusAndHeaders = StatusAndHeadersParser(["WARC/1.1", "WARC/1.0"]).parse(io.BytesIO(text))
    return headers


def _is_original(headers: StatusAndHeaders, digest: str | None, record_id: str | None) -> bool:
    return bool(
        headers.get_header("WARC-Type") == "response"
        and headers.get_header("WARC-Payload-Digest") == digest
        and (record_id is None or headers.get_header("WARC-Record-ID") == record_id)
    )


def _original_payload(root: Path, capture: CaptureRow, revisit: Any) -> bytes:
    """The payload of the response a revisit refers to: at the place the index gives, else (an index that did
    not know it, or that is stale) found by looking through the file."""
    digest, record_id = revisit.get_header("WARC-Payload-Digest"), revisit.get_header("WARC-Refers-To")
    date = revisit.get_header("WARC-Refers-To-Date") or revisit.get_header("WARC-Date")
    file = capture.original_file or _day_file(date)
    what = (
        f"the response record {record_id or '(no WARC-Refers-To)'} of {revisit.get_header('WARC-Refers-To-Target-URI')} captured"
        f" {date}, whose payload the revisit record at offset {capture.offset} of {capture.file} ({capture.url}) stands for"
    )
    path = root / file
    if not path.exists():
        raise ArchiveError(
            f"{file} is missing: it held {what}",
            hint="restore that file (from a backup, or a clone published with publish.warc = true): later days' revisits refer to it",
        )
    try:
        with path.open("rb") as handle:
            if capture.original_offset is not None:
                handle.seek(capture.original_offset)
                for record in islice(ArchiveIterator(handle), 1):
                    if _is_original(record.rec_headers, digest, record_id):
                        return bytes(record.raw_stream.read())
                handle.seek(0)
            for record in ArchiveIterator(handle):
                if _is_original(record.rec_headers, digest, record_id):
                    return bytes(record.raw_stream.read())
    except _UNREADABLE as exc:
        raise ArchiveError(f"{file}: cannot read {what}: {exc}") from exc
    raise ArchiveError(f"{file} does not hold {what}", hint="restore that file as it was written (from a backup)")


class WarcWriter:
    """Appends the captures of one run to the WARC file of each day, from one thread of its own, so that
    concurrent fetches never interleave records and the event loop never waits on the disk. A capture is kept in
    the background: the fetch it belongs to goes on at once, and ``drain`` waits for all of them."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time, open_index: Callable[[], IndexBackend] | None = None) -> None:
        self.root = root
        self.clock = clock
        self._open_own_index = open_index or (lambda: _open_patient(root))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsarchive-warc")
        self._index: IndexBackend | None = None
        self._handle: BinaryIO | None = None
        self._file: str | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._room: asyncio.Semaphore | None = None  # made in the event loop that uses it
        self._last: asyncio.Future[None] | None = None  # done when the capture begun last is appended (or given up)
        self._closed = False

    async def capture(self, url: str, request: httpx.Request, response: httpx.Response, body: bytes | None) -> None:
        """The Fetcher's capture hook: never raises for a capture that cannot be kept (the article matters more).
        Returns once the capture is under way: records are compressed in worker threads, side by side, while the
        fetch goes on to be parsed; only appending waits for the writer's thread. At most ``_PENDING`` at once, so
        that the bodies waiting for it never pile up in memory."""
        exchange = Exchange.of(url, request, response, body, self.clock())
        if self._closed:  # a fetch still under way in a run that failed and is ending
            log.warning("%s: the response was not kept in the WARC file: the run is ending", exchange.target)
            return
        if self._room is None:
            self._room = asyncio.Semaphore(_PENDING)
        await self._room.acquire()
        # Compressed side by side, appended in the order the exchanges happened (a redirect before its target).
        after, self._last = self._last, asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self.keep(exchange, after=after, appended=self._last))
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._room is not None:
            self._room.release()

    async def drain(self) -> None:
        """Wait for every capture under way (before ``close``, at the end of a run, whatever ended it)."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def keep(
        self, exchange: Exchange, *, after: asyncio.Future[None] | None = None, appended: asyncio.Future[None] | None = None
    ) -> None:
        """Append one exchange (the capture hook's, or one a worker of a cluster made), once ``after`` is done; never
        raises, as ``capture``. ``appended`` is made done when it is appended or given up."""
        try:
            records = await asyncio.to_thread(self._prepare, exchange)
            if after is not None:
                await asyncio.shield(after)
            await asyncio.get_running_loop().run_in_executor(self._thread, self._append, exchange, *records)
        except Exception as exc:
            expected = isinstance(exc, OSError | ArchiveError)
            log.warning("%s: the response could not be kept in the WARC file: %s", exchange.target, exc, exc_info=not expected)
        finally:
            if appended is not None and not appended.done():
                appended.set_result(None)

    def write(self, exchange: Exchange) -> CaptureRow:
        """Append one exchange and index it, from the calling thread: for callers that do not run ``capture``."""
        return self._append(exchange, *self._prepare(exchange))

    def _prepare(self, exchange: Exchange) -> tuple[bytes, bytes, str | None, _Original | None]:
        """The records of an exchange, its response a revisit when an earlier one had the same payload; in a worker
        thread, asking the writer's thread (which alone uses the index) for that earlier response."""
        digest = _revisitable(exchange)
        original = self._thread.submit(self._original, exchange.url, digest).result() if digest else None
        request, response, digest = _records(exchange, digest, original)
        return request, response, digest, original

    def _original(self, url: str, digest: str) -> _Original | None:
        """The newest full response from ``url`` with this payload whose record can be read now: a revisit only ever
        refers to bytes that are there (a day's file deleted since is skipped)."""
        for row in self._open_index().originals_of(url, digest, limit=_CANDIDATES):
            try:
                headers = _warc_headers_at(self.root / row.file, row.offset)
            except _UNREADABLE:
                continue
            if headers is not None and _is_original(headers, digest, None):
                target, date, record_id = (headers.get_header(name) for name in ("WARC-Target-URI", "WARC-Date", "WARC-Record-ID"))
                if target and date and record_id:
                    return _Original(row.file, row.offset, target, date, record_id)
        return None

    def _append(
        self, exchange: Exchange, request: bytes, response: bytes, digest: str | None, original: _Original | None = None
    ) -> CaptureRow:
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
            original_file=original.file if original else None,
            original_offset=original.offset if original else None,
        )
        self._open_index().add_capture(capture)
        return capture

    def _open_index(self) -> IndexBackend:
        if self._index is None:
            # A connection of its own: the store thread's transactions on the archive's never take in a capture.
            self._index = self._open_own_index()
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
        self._closed = True
        try:
            self._thread.submit(self._close).result()
        finally:
            self._thread.shutdown(wait=True)


def _member_end(data: bytes | mmap.mmap, start: int) -> int | None:
    """Where the gzip member at ``start`` ends, when it is whole (its CRC checked) and holds a WARC record; else None."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    head = b""
    at = start
    try:
        while not inflater.eof:
            chunk = data[at : at + _SCAN_CHUNK]
            if not chunk:
                return None
            out = inflater.decompress(chunk)
            head = (head + out[:5])[:5]
            at += len(chunk) - len(inflater.unused_data)
    except zlib.error:
        return None
    return at if head.startswith(b"WARC/") else None


def scan_file(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(start, end) of every whole record of a WARC file, and of every stretch of it that cannot be read, from its
    first byte to its last: past a damaged stretch, reading goes on at the next whole record (``check``)."""
    whole: list[tuple[int, int]] = []
    damaged: list[tuple[int, int]] = []
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return whole, damaged
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = 0
            while at < size:
                end = _member_end(data, at)
                if end is not None:
                    whole.append((at, end))
                    at = end
                    continue
                following = data.find(b"\x1f\x8b\x08", at + 1)
                while following != -1 and _member_end(data, following) is None:
                    following = data.find(b"\x1f\x8b\x08", following + 1)
                stop = size if following == -1 else following
                damaged.append((at, stop))
                at = stop
    return whole, damaged


def salvage(root: Path, file: str, whole: list[tuple[int, int]], index: IndexBackend, aside: Path) -> None:
    """Rewrite a WARC file with its whole records only and index it again; the damaged file is moved to ``aside``
    first. Revisits elsewhere that refer to its records find them again by looking through the file."""
    path = root / file
    aside.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".salvage")
    with path.open("rb") as source, temporary.open("wb") as target:
        for start, end in whole:
            source.seek(start)
            target.write(source.read(end - start))
        target.flush()
        os.fsync(target.fileno())
    os.replace(path, aside)
    os.replace(temporary, path)
    reindex_file(root, file, index)


def reindex_file(root: Path, file: str, index: IndexBackend) -> None:
    """Index the captures of a whole WARC file again, from its first record."""
    with index.atomic():
        index.forget_captures(file, -1)
        index.forget_original_offsets(file)
        with (root / file).open("rb") as handle:
            _index_records(handle, file, 0, index)


def _open_patient(root: Path) -> IndexBackend:
    return open_index(root / layout.INDEX_FILE, patient=True)
