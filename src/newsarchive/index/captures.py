"""Where the WARC files hold each response (store/warc.py): the captures and capture_revisits tables.

Operational memory, not derived from the article files: carried over by ``reindex`` (``Index.carry_over_from``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import ArchiveError
from .rows import IndexPart

CAPTURES_SCHEMA = """\
CREATE TABLE IF NOT EXISTS captures (   -- where the WARC files hold each response (store/warc.py)
    url TEXT NOT NULL,                  -- the address asked for (a feed's or a page's), before any redirect
    target TEXT NOT NULL,               -- the WARC-Target-URI of this response (another address after a redirect)
    captured_ms INTEGER NOT NULL,
    status INTEGER NOT NULL,
    file TEXT NOT NULL,                 -- warc/<UTC day>.warc.gz
    offset INTEGER NOT NULL,            -- where the response record's gzip member starts; its request record is just before
    length INTEGER NOT NULL,            -- the member's length in the file
    payload_digest TEXT,                -- WARC-Payload-Digest, sha1:<base32>
    PRIMARY KEY (file, offset)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS captures_by_url ON captures (url, captured_ms);
CREATE INDEX IF NOT EXISTS captures_by_payload ON captures (url, payload_digest, captured_ms);  -- the same bytes seen before
CREATE TABLE IF NOT EXISTS capture_revisits (  -- captures kept as WARC revisit records: their payload is an earlier response's
    file TEXT NOT NULL,
    offset INTEGER NOT NULL,
    original_file TEXT NOT NULL,        -- the file of the response record whose payload the revisit leaves out
    original_offset INTEGER,            -- that record's place; NULL when it was not indexed as the revisit was (after a lost index)
    PRIMARY KEY (file, offset),
    FOREIGN KEY (file, offset) REFERENCES captures (file, offset) ON DELETE CASCADE
) WITHOUT ROWID;
"""


@dataclass(frozen=True, kw_only=True)
class CaptureRow:
    """One response kept in a WARC file: read it with ``store.warc.read_capture``."""

    url: str
    target: str
    captured_ms: int
    status: int
    file: str
    offset: int
    length: int
    payload_digest: str | None = None
    original_file: str | None = None  # set for a revisit record: where the response with its payload is
    original_offset: int | None = None

    @property
    def revisit(self) -> bool:
        return self.original_file is not None


_CAPTURE_COLUMNS = "url, target, captured_ms, status, file, offset, length, payload_digest"
# Each capture with the original of a revisit, in CaptureRow's order.
_CAPTURE_SELECT = (
    "SELECT c.url, c.target, c.captured_ms, c.status, c.file, c.offset, c.length, c.payload_digest, r.original_file, r.original_offset"
    " FROM captures AS c LEFT JOIN capture_revisits AS r ON r.file = c.file AND r.offset = c.offset"
)


def _capture_row(row: tuple[Any, ...]) -> CaptureRow:
    return CaptureRow(**dict(zip(CaptureRow.__dataclass_fields__, row, strict=True)))


class CaptureIndex(Protocol):
    """Where the WARC files hold each response: what store/warc.py asks of the index."""

    def add_capture(self, capture: CaptureRow) -> None: ...

    def capture_for(self, url: str, at_ms: int) -> CaptureRow | None: ...

    def captures_of(self, url: str) -> list[CaptureRow]: ...

    def originals_of(self, url: str, payload_digest: str, *, near_ms: int | None = None, limit: int = 3) -> list[CaptureRow]: ...

    def capture_end(self, file: str) -> int: ...

    def forget_captures(self, file: str, from_offset: int) -> None: ...

    def forget_original_offsets(self, file: str) -> None: ...

    def capture_offsets(self, file: str) -> list[int]: ...

    def capture_files(self) -> list[str]: ...


class CaptureQueries(IndexPart):
    """The captures part of ``Index``."""

    path: Path

    def _carry_over_captures(self, old_path: Path) -> None:
        self._carry_over(old_path, "WARC captures", "INSERT OR IGNORE INTO captures SELECT * FROM old.captures")
        self._carry_over(  # apart: an index older than revisit records has none to carry
            old_path,
            "WARC revisits",
            "INSERT OR IGNORE INTO capture_revisits SELECT r.* FROM old.capture_revisits AS r"
            " JOIN main.captures AS c ON c.file = r.file AND c.offset = r.offset",
        )

    def add_capture(self, capture: CaptureRow) -> None:
        """Remember where a response (or a revisit) is kept; the same place given again replaces the row (re-indexing a file)."""
        place = (capture.file, capture.offset)
        try:
            with self.atomic():  # a revisit never stands without its original: it would pass for a full response
                self.db.execute(
                    f"INSERT OR REPLACE INTO captures ({_CAPTURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        capture.url,
                        capture.target,
                        capture.captured_ms,
                        capture.status,
                        capture.file,
                        capture.offset,
                        capture.length,
                        capture.payload_digest,
                    ),
                )
                if capture.original_file is None:
                    self.db.execute("DELETE FROM capture_revisits WHERE file = ? AND offset = ?", place)
                else:
                    original = (capture.original_file, capture.original_offset)
                    self.db.execute("INSERT OR REPLACE INTO capture_revisits VALUES (?, ?, ?, ?)", (*place, *original))
        except sqlite3.DatabaseError as exc:
            raise ArchiveError(f"{self.path}: cannot record the capture of {capture.url}: {exc}") from exc

    def capture_for(self, url: str, at_ms: int) -> CaptureRow | None:
        """The response that a run starting at ``at_ms`` took from ``url``: its first successful (2xx) capture then
        or later. So an article's feed is ``capture_for(row.origin, row.updated_ms)``: a run stamps articles with
        its start, before it fetches."""
        row = self.db.execute(
            f"{_CAPTURE_SELECT} WHERE c.url = ? AND c.captured_ms >= ? AND c.status BETWEEN 200 AND 299"
            " ORDER BY c.captured_ms, c.file, c.offset LIMIT 1",
            (url, at_ms),
        ).fetchone()
        return _capture_row(row) if row else None

    def captures_of(self, url: str) -> list[CaptureRow]:
        """Every response captured for ``url`` (redirects, errors and 304s too), oldest first."""
        rows = self.db.execute(f"{_CAPTURE_SELECT} WHERE c.url = ? ORDER BY c.captured_ms, c.file, c.offset", (url,))
        return [_capture_row(row) for row in rows]

    def originals_of(self, url: str, payload_digest: str, *, near_ms: int | None = None, limit: int = 3) -> list[CaptureRow]:
        """Full responses (no revisits) captured from ``url`` with this payload digest, newest first: what a revisit
        can refer to. With ``near_ms``, only those captured within a millisecond of it (a WARC-Refers-To-Date)."""
        near = "" if near_ms is None else " AND c.captured_ms BETWEEN ? AND ?"
        params = (url, payload_digest) + (() if near_ms is None else (near_ms - 1, near_ms + 1))
        rows = self.db.execute(
            f"{_CAPTURE_SELECT} WHERE c.url = ? AND c.payload_digest = ? AND r.file IS NULL{near}"
            " ORDER BY c.captured_ms DESC, c.file DESC, c.offset DESC LIMIT ?",
            (*params, limit),
        )
        return [_capture_row(row) for row in rows]

    def capture_end(self, file: str) -> int:
        """Where the last indexed response of a WARC file ends: the bytes before it are known to be whole."""
        row = self.db.execute("SELECT max(offset + length) FROM captures WHERE file = ?", (file,)).fetchone()
        return int(row[0] or 0)

    def forget_captures(self, file: str, from_offset: int) -> None:
        """Drop the rows of responses at or past ``from_offset`` of a file that was cut back there (their revisit rows
        go with them: ON DELETE CASCADE)."""
        self.db.execute("DELETE FROM captures WHERE file = ? AND offset + length > ?", (file, from_offset))

    def forget_original_offsets(self, file: str) -> None:
        """The records of a file were moved (``store.warc.salvage``): revisits that refer to them look through the file."""
        self.db.execute("UPDATE capture_revisits SET original_offset = NULL WHERE original_file = ?", (file,))

    def capture_offsets(self, file: str) -> list[int]:
        return [int(offset) for (offset,) in self.db.execute("SELECT offset FROM captures WHERE file = ?", (file,))]

    def capture_files(self) -> list[str]:
        return [str(file) for (file,) in self.db.execute("SELECT DISTINCT file FROM captures ORDER BY file")]
