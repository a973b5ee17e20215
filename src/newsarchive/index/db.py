"""The SQLite index of an archive: articles, their identity keys, revisions, feed state, run history.

Articles, keys and revisions are derived from the files and rebuilt by ``reindex``; feed
state (ETag, Last-Modified, failures) and run history are operational memory, carried over.
``journal`` lists the files a run is about to write, so a run killed mid-write is finished
by the next one (see ``Archive.recover``).

The other tables, each with its queries as a mixin of ``Index``, are in captures.py (WARC captures),
summaries.py (full text), images.py (images articles show) and rechecks.py (rechecks and takedowns); days.py
holds the reader's queries by day of publication.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ArchiveError, StorageError
from .captures import CAPTURES_SCHEMA, CaptureQueries
from .connect import connect, translate
from .days import DayQueries
from .feeds import FEED_ITEMS_SCHEMA, FORGET_EARLIER_READS, REMEMBER_ITEM, FeedState, ReadItem
from .files import FILES_SCHEMA, FileQueries, add_file_columns
from .images import MEDIA_SCHEMA, MediaQueries
from .rechecks import RECHECKS_SCHEMA, RecheckQueries
from .rows import ARTICLE_COLUMNS, ArticleRow, rows_in
from .summaries import SUMMARIES_SCHEMA, SqliteReader, SummaryQueries

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_CORE_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    rowid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,               -- outlet slug
    file_id INTEGER NOT NULL,           -- the number in the file name, counted down
    path TEXT NOT NULL UNIQUE,          -- relative to the archive, e.g. articles/rfi/1048574.md
    title TEXT NOT NULL,
    link TEXT,
    guid TEXT,
    pub_ms INTEGER,
    fingerprint TEXT NOT NULL,
    first_seen_ms INTEGER,              -- NULL for imported files
    updated_ms INTEGER,                 -- when the current version was first seen
    origin TEXT,                        -- the feed that gave the current version (NULL for imported files)
    body_length INTEGER                 -- characters of the current body
);
CREATE INDEX IF NOT EXISTS articles_by_source ON articles (source, file_id);
-- health: when an outlet last brought something new, and how many in the last 24 hours (imported files have no first-seen time)
CREATE INDEX IF NOT EXISTS articles_by_source_seen ON articles (source, first_seen_ms) WHERE first_seen_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS articles_by_date ON articles (pub_ms);
CREATE INDEX IF NOT EXISTS articles_by_updated ON articles (updated_ms);  -- the search index catching up (changed_since)
CREATE TABLE IF NOT EXISTS article_keys (
    key TEXT PRIMARY KEY,               -- link:<slug>:<normalised address> | guid:<slug>:<guid> | title:<slug>:<title>
    article INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS article_keys_by_article ON article_keys (article);
CREATE TABLE IF NOT EXISTS revisions (
    rowid INTEGER PRIMARY KEY,
    article INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE,          -- revisions/<folder>/<file stem>/<seen_ms>.md
    title TEXT NOT NULL,
    link TEXT,
    pub_ms INTEGER,
    seen_ms INTEGER NOT NULL,           -- when this version was first seen
    fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS revisions_by_article ON revisions (article, seen_ms);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    body_hash TEXT,                     -- unchanged bytes are not parsed again
    last_attempt_ms INTEGER,
    last_success_ms INTEGER,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    items INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    rowid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    seconds REAL NOT NULL,
    new INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_source ON runs (source, started_ms);
CREATE TABLE IF NOT EXISTS journal (item TEXT PRIMARY KEY);   -- 'file:<path>' or 'list:<slug>' in flight
"""

# The same statements in the same order as before the split: a table comes after those it refers to.
SCHEMA = _CORE_SCHEMA + CAPTURES_SCHEMA + SUMMARIES_SCHEMA + MEDIA_SCHEMA + RECHECKS_SCHEMA + FILES_SCHEMA + FEED_ITEMS_SCHEMA

# A union of two index searches: written with OR, SQLite reads the whole table (75 ms at 1M articles).
CHANGED_SINCE = (
    f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE rowid IN"
    " (SELECT rowid FROM articles WHERE rowid > ?1 UNION SELECT rowid FROM articles WHERE updated_ms > ?2) ORDER BY rowid"
)


class Index(CaptureQueries, SummaryQueries, MediaQueries, RecheckQueries, DayQueries, FileQueries):
    """One connection to an archive's index, with a nestable ``atomic()`` transaction."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open (or make) the index at ``path``. ``read_only``: for commands that only read; nothing is written,
        not even the schema, and an index that does not exist yet reads as empty."""
        self.path = path
        try:
            if read_only and not path.exists():
                self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                self.db.executescript(SCHEMA)
            elif read_only:
                self.db = connect(path, read_only=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = connect(path)
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
                self.db.execute("PRAGMA foreign_keys = ON")
                self.db.executescript(SCHEMA)
                add_file_columns(self.db)
            version = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None and not read_only:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif version is not None and int(version[0]) > SCHEMA_VERSION:
                raise ArchiveError(
                    f"{path}: index schema {version[0]} is newer than this newsarchive knows ({SCHEMA_VERSION})", hint="upgrade newsarchive"
                )
        except OSError as exc:
            raise StorageError.from_os_error(exc) from exc
        except sqlite3.DatabaseError as exc:
            error: Exception = translate(path, exc)
            if not isinstance(error, ArchiveError):
                error = ArchiveError(
                    f"{path}: the index cannot be opened: {exc}", hint="run `newsarchive reindex` to rebuild it from the files"
                )
            raise error from exc
        self._depth = 0

    def reader(self) -> SqliteReader:
        return SqliteReader(str(self.path))

    def close(self) -> None:
        self.db.close()

    def check_readable(self) -> None:
        """Raise IndexDatabaseError when a page of the index is damaged (PRAGMA quick_check: every page read once,
        about 0.3 s for 300,000 articles), so that a run stops before it fetches rather than after."""
        problems = [" ".join(str(row[0]).split()) for row in self.db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise translate(self.path, sqlite3.DatabaseError("; ".join(problems)), code=sqlite3.SQLITE_CORRUPT)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction; nested calls become savepoints."""
        name = f"sp{self._depth}"
        self.db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            else:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
            raise
        else:
            self._depth -= 1
            try:
                self.db.execute("COMMIT" if self._depth == 0 else f"RELEASE {name}")
            except BaseException:
                # A COMMIT that fails (busy past the timeout, a full disk) leaves the transaction open: rolled back, so
                # that the connection's next transaction can begin and the write lock is not held for ever.
                if self._depth == 0 and self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def carry_over_from(self, old_path: Path | str) -> None:
        """Keep what the files cannot tell (feed state, run history, guids, first-seen times) from the old
        index (its file), when it can still be read."""
        db = self.db
        old_path = Path(old_path)
        if not old_path.exists():
            return
        try:
            db.execute("ATTACH DATABASE ? AS old", (str(old_path),))
        except sqlite3.DatabaseError:
            return
        try:
            with self.atomic():
                db.execute("INSERT OR IGNORE INTO feeds SELECT * FROM old.feeds")
                db.execute("INSERT OR IGNORE INTO runs SELECT * FROM old.runs")
                db.execute(
                    "UPDATE articles SET guid = o.guid, first_seen_ms = o.first_seen_ms, updated_ms = o.updated_ms, origin = o.origin"
                    " FROM old.articles AS o WHERE o.path = articles.path AND o.fingerprint = articles.fingerprint"
                )
                db.execute(
                    "INSERT OR IGNORE INTO article_keys (key, article)"
                    " SELECT 'guid:' || source || ':' || guid, rowid FROM articles WHERE guid IS NOT NULL"
                )
        except sqlite3.DatabaseError as exc:
            log.warning("%s: could not carry feed state over from the old index: %s", old_path, exc)
        finally:
            self._carry_over_captures(old_path)
            self._carry_over_summaries(old_path)
            self._carry_over_media(old_path)
            self._carry_over_rechecks(old_path)
            db.execute("DETACH DATABASE old")

    # meta -----------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # articles -------------------------------------------------------------------------------

    def find_many(self, keys: Iterable[str]) -> dict[str, ArticleRow]:
        """The article of each key that has one, in few queries."""
        columns = ", ".join("a." + column.strip() for column in ARTICLE_COLUMNS.split(","))
        query = f"SELECT k.key, {columns} FROM article_keys AS k JOIN articles AS a ON a.rowid = k.article WHERE k.key IN ({{marks}})"
        return {key: ArticleRow(*row) for key, *row in rows_in(self.db, query, keys)}

    def articles_at(self, paths: Iterable[str]) -> dict[str, ArticleRow]:
        query = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE path IN ({{marks}})"
        return {row[3]: ArticleRow(*row) for row in rows_in(self.db, query, paths)}

    def article_at(self, path: str) -> ArticleRow | None:
        row = self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE path = ?", (path,)).fetchone()
        return ArticleRow(*row) if row else None

    def add_article(self, row: ArticleRow, keys: Iterable[str]) -> int:
        """Insert an article (rowid ignored) or replace the one at the same path; returns its rowid.

        A key already held by another article stays with the newer one (the lower file id).
        """
        cursor = self.db.execute(
            "INSERT INTO articles"
            " (source, file_id, path, title, link, guid, pub_ms, fingerprint, first_seen_ms, updated_ms, origin, body_length)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (path) DO UPDATE SET source = excluded.source, file_id = excluded.file_id, title = excluded.title,"
            " link = excluded.link, guid = excluded.guid, pub_ms = excluded.pub_ms, fingerprint = excluded.fingerprint,"
            " first_seen_ms = coalesce(articles.first_seen_ms, excluded.first_seen_ms), updated_ms = excluded.updated_ms,"
            " origin = excluded.origin, body_length = excluded.body_length"
            " RETURNING rowid",
            (
                row.source,
                row.file_id,
                row.path,
                row.title,
                row.link,
                row.guid,
                row.pub_ms,
                row.fingerprint,
                row.first_seen_ms,
                row.updated_ms,
                row.origin,
                row.body_length,
            ),
        )
        rowid = int(cursor.fetchone()[0])
        # A version written here shows its own images: they are read again (media.py), by this run or the backfill.
        self.db.execute("DELETE FROM images_read WHERE article = ?", (rowid,))
        self.db.executemany(
            "INSERT INTO article_keys (key, article) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET article = excluded.article"
            " WHERE (SELECT file_id FROM articles WHERE rowid = excluded.article)"
            " < (SELECT file_id FROM articles WHERE rowid = article_keys.article)",
            [(key, rowid) for key in keys],
        )
        return rowid

    def remove_article(self, path: str) -> None:
        self.db.execute("DELETE FROM articles WHERE path = ?", (path,))

    def paths_in(self, folder: str) -> set[str]:
        """The indexed paths under ``folder`` (``articles/<folder>/``)."""
        rows = self.db.execute("SELECT path FROM articles WHERE substr(path, 1, ?) = ?", (len(folder), folder))
        return {row[0] for row in rows}

    def lowest_file_id(self, source: str) -> int | None:
        row = self.db.execute("SELECT min(file_id) FROM articles WHERE source = ?", (source,)).fetchone()
        return int(row[0]) if row[0] is not None else None

    def newest(self, source: str, limit: int) -> list[ArticleRow]:
        rows = self.db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE source = ? ORDER BY file_id, path LIMIT ?", (source, limit)
        ).fetchall()
        return [ArticleRow(*row) for row in rows]

    def newest_overall(self, limit: int) -> list[ArticleRow]:
        rows = self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY pub_ms DESC LIMIT ?", (limit,)).fetchall()
        return [ArticleRow(*row) for row in rows]

    def oldest_first(self, source: str, offset: int, limit: int) -> list[ArticleRow]:
        """A stretch of an outlet's articles counted from its oldest (highest id), so that a page of a
        list stays the same as newer articles arrive."""
        rows = self.db.execute(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE source = ? ORDER BY file_id DESC, rowid DESC LIMIT ? OFFSET ?",
            (source, limit, offset),
        ).fetchall()
        return [ArticleRow(*row) for row in rows]

    def articles(self, source: str | None = None) -> Iterator[ArticleRow]:
        query = f"SELECT {ARTICLE_COLUMNS} FROM articles"
        cursor = (
            self.db.execute(query + " WHERE source = ? ORDER BY file_id", (source,))
            if source
            else self.db.execute(query + " ORDER BY source, file_id")
        )
        for row in cursor:
            yield ArticleRow(*row)

    def changed_since(self, rowid: int, updated_ms: int) -> Iterator[ArticleRow]:
        """Articles added after ``rowid`` or given a new version after ``updated_ms``."""
        for row in self.db.execute(CHANGED_SINCE, (rowid, updated_ms)):
            yield ArticleRow(*row)

    def count(self, source: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM articles WHERE source = ?", (source,)).fetchone()[0])

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT source, count(*) FROM articles GROUP BY source").fetchall())

    def sources_present(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT source FROM articles ORDER BY source")]

    def seen_times(self, source: str, limit: int) -> list[int]:
        """The newest ``limit`` distinct first-seen times of an outlet's articles, newest first: one for each
        run that brought something new (imported files have none). Read from ``articles_by_source_seen`` alone."""
        rows = self.db.execute(
            "SELECT DISTINCT first_seen_ms FROM articles WHERE source = ? AND first_seen_ms IS NOT NULL"
            " ORDER BY first_seen_ms DESC LIMIT ?",
            (source, limit),
        )
        return [int(row[0]) for row in rows]

    def count_seen_since(self, source: str, since_ms: int) -> int:
        """How many of an outlet's articles were first seen at or after ``since_ms``."""
        row = self.db.execute("SELECT count(*) FROM articles WHERE source = ? AND first_seen_ms >= ?", (source, since_ms)).fetchone()
        return int(row[0])

    # revisions ------------------------------------------------------------------------------

    def add_revision(
        self, article: int, *, path: str, title: str, link: str | None, pub_ms: int | None, seen_ms: int, fingerprint: str
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO revisions (article, path, title, link, pub_ms, seen_ms, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (article, path, title, link, pub_ms, seen_ms, fingerprint),
        )

    def revision_at(self, path: str) -> tuple[int, str, int] | None:
        """(article rowid, title, seen_ms) of the earlier version kept at ``path``."""
        row = self.db.execute("SELECT article, title, seen_ms FROM revisions WHERE path = ?", (path,)).fetchone()
        return (int(row[0]), str(row[1]), int(row[2])) if row else None

    def article_by_rowid(self, rowid: int) -> ArticleRow | None:
        row = self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE rowid = ?", (rowid,)).fetchone()
        return ArticleRow(*row) if row else None

    def remove_revision(self, path: str) -> None:
        self.db.execute("DELETE FROM revisions WHERE path = ?", (path,))

    def revisions(self, article: int) -> list[tuple[str, str, int]]:
        """(path, title, seen_ms) of an article's earlier versions, oldest first."""
        return self.db.execute("SELECT path, title, seen_ms FROM revisions WHERE article = ? ORDER BY seen_ms", (article,)).fetchall()

    # feeds and runs -------------------------------------------------------------------------

    def feed_state(self, url: str) -> FeedState | None:
        row = self.db.execute(
            "SELECT url, source, etag, last_modified, body_hash, last_attempt_ms, last_success_ms, last_error, failures, items"
            " FROM feeds WHERE url = ?",
            (url,),
        ).fetchone()
        return FeedState(**dict(zip(FeedState.__dataclass_fields__, row, strict=True))) if row else None

    def save_feed_state(self, state: FeedState) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO feeds"
            " (url, source, etag, last_modified, body_hash, last_attempt_ms, last_success_ms, last_error, failures, items)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state.url,
                state.source,
                state.etag,
                state.last_modified,
                state.body_hash,
                state.last_attempt_ms,
                state.last_success_ms,
                state.last_error,
                state.failures,
                state.items,
            ),
        )

    def feed_states(self, source: str) -> list[FeedState]:
        rows = self.db.execute("SELECT url FROM feeds WHERE source = ? ORDER BY url", (source,)).fetchall()
        return [state for (url,) in rows if (state := self.feed_state(url))]

    def record_run(
        self, source: str, *, started_ms: int, seconds: float, new: int, updated: int, unchanged: int, error: str | None
    ) -> None:
        self.db.execute(
            "INSERT INTO runs (source, started_ms, seconds, new, updated, unchanged, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (source, started_ms, seconds, new, updated, unchanged, error),
        )

    def last_runs(self, source: str) -> tuple[int | None, int | None, str | None]:
        """(last success ms, last failure ms, last error) of an outlet."""
        success = self.db.execute("SELECT max(started_ms) FROM runs WHERE source = ? AND error IS NULL", (source,)).fetchone()[0]
        failure = self.db.execute(
            "SELECT started_ms, error FROM runs WHERE source = ? AND error IS NOT NULL ORDER BY started_ms DESC LIMIT 1", (source,)
        ).fetchone()
        return success, failure[0] if failure else None, failure[1] if failure else None

    def remember_items(self, items: Iterable[ReadItem]) -> None:
        items = list(items)
        self.db.executemany(FORGET_EARLIER_READS.format("?"), [(item.article, item.feed, item.digest) for item in items])
        self.db.executemany(REMEMBER_ITEM.format("?"), items)

    # journal --------------------------------------------------------------------------------

    def journal_add(self, items: Iterable[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO journal (item) VALUES (?)", [(item,) for item in items])

    def journal_items(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT item FROM journal ORDER BY item")]

    def journal_clear(self, items: Iterable[str]) -> None:
        self.db.executemany("DELETE FROM journal WHERE item = ?", [(item,) for item in items])

    # export ---------------------------------------------------------------------------------

    def versions(self, source: str | None = None, since_ms: int | None = None) -> Iterator[tuple[ArticleRow, str | None, int | None]]:
        """Every article in (source, file id) order, as (row, revision path, revision seen_ms) for each of its
        earlier versions, oldest first, or one (row, None, None) when it has none. One cursor over the index's
        own order (no sort), so memory stays flat over any number of articles; ``since_ms`` keeps articles
        published from then on."""
        columns = ", ".join("a." + column.strip() for column in ARTICLE_COLUMNS.split(","))
        # +a.pub_ms: never walk articles_by_date, which would need a sort to come out in (source, file id) order
        where = " AND ".join(test for test, value in (("a.source = ?", source), ("+a.pub_ms >= ?", since_ms)) if value is not None)
        query = (
            f"SELECT {columns}, r.path, r.seen_ms FROM articles AS a LEFT JOIN revisions AS r ON r.article = a.rowid"
            + (f" WHERE {where}" if where else "")
            + " ORDER BY a.source, a.file_id, a.rowid, r.seen_ms"
        )
        for *row, revision, seen_ms in self.db.execute(query, [value for value in (source, since_ms) if value is not None]):
            yield ArticleRow(*row), revision, seen_ms

    # history --------------------------------------------------------------------------------

    def articles_with_id(self, source: str, file_id: int) -> list[ArticleRow]:
        """An outlet's articles with this file id: one, or more when an imported archive holds it in two folders."""
        rows = self.db.execute(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE source = ? AND file_id = ? ORDER BY path", (source, file_id))
        return [ArticleRow(*row) for row in rows]
