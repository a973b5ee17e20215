"""What the index knows of the files themselves (store/damage.py): each article's and revision's size and
modification time, so that a run finds a file deleted, emptied or changed by a stat, and the ``damaged`` table of
the files found so, which the workers read to stage a fresh copy of a damaged article the feed still carries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from .rows import IndexPart

FILES_SCHEMA = """\
CREATE TABLE IF NOT EXISTS damaged (    -- files of the archive found missing or not as the index knows them (store/damage.py)
    path TEXT PRIMARY KEY,              -- articles/… or revisions/…
    problem TEXT NOT NULL,
    found_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""

# What the workers' look-ups of stored versions add, so that they take a damaged article for one they do not hold.
NOT_DAMAGED = "NOT EXISTS (SELECT 1 FROM damaged WHERE damaged.path = a.path)"

# Columns added to tables made before they existed (an index made by an earlier version gains them on opening).
_FILE_COLUMNS = ("size", "mtime_ns")  # of the file as last written or verified; NULL: not recorded yet
FILE_TABLES = ("articles", "revisions")

# The rows of a table whose files a damage scan looks at, (path, size, mtime_ns, source), and what it compares a file
# that it reads with, (fingerprint, pub_ms, link).
_SCAN = {
    "articles": "SELECT path, size, mtime_ns, source FROM articles",
    "revisions": "SELECT r.path, r.size, r.mtime_ns, a.source FROM revisions AS r JOIN articles AS a ON a.rowid = r.article",
}


def add_file_columns(db: sqlite3.Connection) -> None:
    """The migration to file sizes and times: add the columns an older index lacks (they start NULL: unknown)."""
    for table in FILE_TABLES:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column in _FILE_COLUMNS:
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")


class FileIndex(Protocol):
    """Each file's size and time as written, and the files found damaged (store/damage.py)."""

    def file_rows(self, table: str) -> Iterator[tuple[Any, ...]]: ...

    def file_version(self, table: str, path: str) -> tuple[str, int | None, str | None]: ...

    def record_files(self, table: str, stats: Iterable[tuple[str, int, int]]) -> None: ...

    def damaged(self) -> dict[str, str]: ...

    def set_damaged(self, found: dict[str, str], now_ms: int) -> None: ...

    def clear_damaged(self, paths: Iterable[str]) -> None: ...


class FileQueries(IndexPart):
    """The files part of ``Index``."""

    def file_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        yield from self.db.execute(_SCAN[table])

    def file_version(self, table: str, path: str) -> tuple[str, int | None, str | None]:
        """(fingerprint, pub_ms, link) of the version the file at ``path`` should hold."""
        row = self.db.execute(f"SELECT fingerprint, pub_ms, link FROM {table} WHERE path = ?", (path,)).fetchone()
        return str(row[0]), row[1], row[2]

    def record_files(self, table: str, stats: Iterable[tuple[str, int, int]]) -> None:
        """Remember (path, size, mtime_ns) of files as written or verified."""
        self.db.executemany(f"UPDATE {table} SET size = ?2, mtime_ns = ?3 WHERE path = ?1", stats)

    def damaged(self) -> dict[str, str]:
        """path -> problem of the files found damaged and not restored yet."""
        return {str(path): str(problem) for path, problem in self.db.execute("SELECT path, problem FROM damaged ORDER BY path")}

    def set_damaged(self, found: dict[str, str], now_ms: int) -> None:
        """The damaged files are exactly these (path -> problem); a file still damaged keeps when it was first found."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS found (path TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.found")
        self.db.executemany("INSERT INTO temp.found VALUES (?)", ((path,) for path in found))
        self.db.execute("DELETE FROM damaged WHERE path NOT IN (SELECT path FROM temp.found)")
        self.db.executemany(
            "INSERT INTO damaged (path, problem, found_ms) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET problem = excluded.problem",
            ((path, problem, now_ms) for path, problem in found.items()),
        )

    def clear_damaged(self, paths: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM damaged WHERE path = ?", ((path,) for path in paths))
