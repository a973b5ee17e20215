"""Connections to the index whose failures are the archive's errors, and read-only opening.

SQLite's own errors (a damaged file, a full disk, a read-only file system) are translated here, where
sqlite3 is called: every statement and every row fetched through a connection from ``connect`` raises
``IndexDatabaseError``, one line naming the index and what to do. It is still a ``sqlite3.DatabaseError``,
so code that tolerates a failing statement (carrying tables over from an old index) keeps doing so.
Constraint and programming errors (IntegrityError, a bad statement) stay as they are: those are bugs.

A read-only command opens the index with ``read_only``: ``PRAGMA query_only`` makes a write by mistake an
error, and where the WAL's shared memory cannot be made (a full disk, a read-only file system) the file is
read as it is.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import StorageError

log = logging.getLogger(__name__)

_DAMAGED = "run `newsarchive reindex` to rebuild the index from the archive's files (feed state is kept where it can be read)"
_HINTS = {
    sqlite3.SQLITE_CORRUPT: _DAMAGED,
    sqlite3.SQLITE_NOTADB: _DAMAGED,
    sqlite3.SQLITE_FULL: "free space on that disk, then run again; a run cut short is completed by the next one",
    sqlite3.SQLITE_IOERR: "check that the disk has free space and works (dmesg), then run again",
    sqlite3.SQLITE_CANTOPEN: "check that the archive's folder exists, is yours and is on a writable file system",
    sqlite3.SQLITE_READONLY: "the index cannot be written: check its permissions and that the file system is writable",
    sqlite3.SQLITE_PERM: "check the permissions of the index and its folder",
    sqlite3.SQLITE_BUSY: "another process holds the index: run again when it ends",
}
_REASONS = {sqlite3.SQLITE_CORRUPT: "the index is damaged", sqlite3.SQLITE_NOTADB: "the index is damaged (not an SQLite database)"}


class IndexDatabaseError(StorageError, sqlite3.DatabaseError):
    """The index failed: damaged, or its disk full, read-only or failing. ``code`` is SQLite's primary error code."""

    code: int = 0


def translate(path: Path | str, error: sqlite3.Error, *, code: int | None = None) -> sqlite3.Error:
    """``error`` as an ``IndexDatabaseError`` naming ``path`` when it is about the file or the disk (by SQLite's
    error code, or ``code``); others as they are."""
    if isinstance(error, IndexDatabaseError):
        return error
    code = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF if code is None else code
    if code not in _HINTS:
        return error
    reason = _REASONS.get(code, "cannot use the index")
    translated = IndexDatabaseError(f"{path}: {reason}: {error}", path=path, hint=_HINTS[code])
    translated.code = code
    return translated


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: _Cursor, *args: Any) -> Any:
        try:
            return method(self, *args)
        except sqlite3.Error as exc:
            raise translate(self.connection.path, exc) from exc  # type: ignore[attr-defined]

    return call


class _Cursor(sqlite3.Cursor):
    execute = _translating(sqlite3.Cursor.execute)
    executemany = _translating(sqlite3.Cursor.executemany)
    executescript = _translating(sqlite3.Cursor.executescript)
    fetchone = _translating(sqlite3.Cursor.fetchone)
    fetchmany = _translating(sqlite3.Cursor.fetchmany)
    fetchall = _translating(sqlite3.Cursor.fetchall)
    __next__ = _translating(sqlite3.Cursor.__next__)


class _Connection(sqlite3.Connection):
    path: Path

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    # A cursor with nothing to read is closed at once, in the thread that used it. Left to be freed later, it resets
    # its statement wherever that happens: in another thread (a sampling profiler holding the frame, the cycle
    # collector), while this connection runs the same cached statement again, SQLite refuses it as misuse.
    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return _closed_if_done(self.cursor().execute(sql, parameters))

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return _closed_if_done(self.cursor().executemany(sql, parameters))

    def executescript(self, script: str, /) -> Any:
        return self.cursor().executescript(script)


def _closed_if_done(cursor: _Cursor) -> _Cursor:
    if cursor.description is None:  # no rows to read: INSERT, UPDATE, DELETE, CREATE ...
        cursor.close()
    return cursor


def _open(path: Path, target: str | Path) -> Any:
    db: Any = sqlite3.connect(target, uri=isinstance(target, str), isolation_level=None, check_same_thread=False, factory=_Connection)
    db.path = path
    return db


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the index at ``path`` whose errors are translated (see the module's docstring)."""
    db = _open(path, path)
    if not read_only:
        return db  # type: ignore[no-any-return]
    try:
        db.execute("PRAGMA query_only = ON")
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opens the file, and the WAL's shared memory
    except IndexDatabaseError as exc:
        if exc.code not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL):
            raise
        db.close()
        log.info("%s: reading the index as it is (%s)", path, exc)
        db = _open(path, f"{path.as_uri()}?mode=ro&immutable=1")
    return db  # type: ignore[no-any-return]
