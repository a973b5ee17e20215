"""The SQLite index of an archive: articles, their identity keys, revisions, feed state, run history.

Articles, keys and revisions are derived from the files and rebuilt by ``reindex``; feed
state (ETag, Last-Modified, failures) and run history are operational memory, carried over.
``journal`` lists the files a run is about to write, so a run killed mid-write is finished
by the next one (see ``Archive.recover``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArchiveError

if TYPE_CHECKING:
    from ..media import MediaRow, MediaStats

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS summaries (  -- full text (fulltext.py): the feed's own body of articles that want the page's
    article INTEGER PRIMARY KEY REFERENCES articles (rowid) ON DELETE CASCADE,
    text TEXT NOT NULL,                 -- the feed's body (the summary), as the file would have held it
    fingerprint TEXT NOT NULL,          -- of the feed's title and body: this feed version is known again without its page
    page INTEGER NOT NULL,              -- 1: the file holds the page's text; 0: the feed's body, the page still wanted
    tries INTEGER NOT NULL DEFAULT 0,   -- page fetches or extractions that failed in a row
    etag TEXT,                          -- the page's validators, for a conditional GET when the feed's body changes
    last_modified TEXT
);
CREATE TABLE IF NOT EXISTS media (      -- images articles show (media.py); the files are media/ab/<sha256>.<ext>
    url TEXT PRIMARY KEY,
    sha256 TEXT,                        -- of the bytes kept (status ok) or seen (skipped)
    ext TEXT,                           -- from the bytes: jpg, png, gif, webp, avif
    bytes INTEGER,
    status TEXT NOT NULL,               -- ok | failed | skipped (1x1)
    failures INTEGER NOT NULL DEFAULT 0,
    next_try_ms INTEGER,                -- a failed image is tried again from then; NULL: given up
    last_error TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS article_images (
    article INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE,
    url TEXT NOT NULL,
    PRIMARY KEY (article, url)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS article_images_by_url ON article_images (url);
CREATE TABLE IF NOT EXISTS images_read (  -- articles whose current images are in article_images: the backfill skips them
    article INTEGER PRIMARY KEY REFERENCES articles (rowid) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS rechecks (   -- recheck.py: when each recent article's page is looked at again
    article INTEGER PRIMARY KEY REFERENCES articles (rowid) ON DELETE CASCADE,
    next_ms INTEGER,                    -- NULL: no more rechecks (past the window, or confirmed gone)
    checks INTEGER NOT NULL DEFAULT 0,
    last_status TEXT,                   -- unchanged | edited | gone: <how> | inconclusive: <why>
    page_hash TEXT                      -- of the page's main text when last read: a later difference is an edit
);
CREATE TABLE IF NOT EXISTS takedowns (  -- recheck.py: articles found gone; confirmed ones are also takedowns/<folder>/<id>.json
    article INTEGER PRIMARY KEY REFERENCES articles (rowid) ON DELETE CASCADE,
    first_seen_gone_ms INTEGER NOT NULL,
    confirmed_ms INTEGER,               -- NULL until a later run finds it gone again
    how TEXT NOT NULL,                  -- 404 | 410 | redirect | text gone
    url TEXT NOT NULL,
    detail TEXT
);
"""

_ARTICLE_COLUMNS = "rowid, source, file_id, path, title, link, guid, pub_ms, fingerprint, first_seen_ms, updated_ms, origin, body_length"

# A union of two index searches: written with OR, SQLite reads the whole table (75 ms at 1M articles).
CHANGED_SINCE = (
    f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE rowid IN"
    " (SELECT rowid FROM articles WHERE rowid > ?1 UNION SELECT rowid FROM articles WHERE updated_ms > ?2) ORDER BY rowid"
)


@dataclass(frozen=True)
class ArticleRow:
    rowid: int
    source: str
    file_id: int
    path: str
    title: str
    link: str | None
    guid: str | None
    pub_ms: int | None
    fingerprint: str
    first_seen_ms: int | None
    updated_ms: int | None
    origin: str | None = None
    body_length: int | None = None


@dataclass(frozen=True, kw_only=True)
class FeedState:
    url: str
    source: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_attempt_ms: int | None = None
    last_success_ms: int | None = None
    last_error: str | None = None
    failures: int = 0
    items: int | None = None


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


def _rows_in(db: sqlite3.Connection, query: str, values: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``query``, whose ``{marks}`` stands for the placeholders of an IN list, for any number of
    values: asked in chunks that SQLite accepts."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        yield from db.execute(query.format(marks=", ".join("?" * len(chunk))), chunk)


@dataclass(frozen=True, kw_only=True)
class StoredVersion:
    """What full text needs to know of a stored article: its version, and the feed version it holds the page of."""

    fingerprint: str
    body_length: int | None
    origin: str | None
    summary_fingerprint: str | None = None  # None: no summaries row
    page: bool = False  # the file holds the page's text
    tries: int = 0
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, kw_only=True)
class Summary:
    """A summaries row to write, for the article holding one of ``keys``."""

    keys: tuple[str, ...]
    text: str
    fingerprint: str
    page: bool
    tries: int = 0
    etag: str | None = None
    last_modified: str | None = None


def lookup_stored(path: str, keys: list[str]) -> dict[str, StoredVersion]:
    """Key -> the stored version of the article holding it, with its summaries row; read-only, from any thread
    or process, like ``lookup_fingerprints``."""
    if not keys or not os.path.exists(path):
        return {}
    query = (
        "SELECT k.key, a.fingerprint, a.body_length, a.origin, s.fingerprint, s.page, s.tries, s.etag, s.last_modified"
        " FROM article_keys AS k JOIN articles AS a ON a.rowid = k.article LEFT JOIN summaries AS s ON s.article = a.rowid"
        " WHERE k.key IN ({marks})"
    )
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.DatabaseError:
        return {}
    try:
        return {
            key: StoredVersion(
                fingerprint=fingerprint,
                body_length=length,
                origin=origin,
                summary_fingerprint=summary,
                page=bool(page),
                tries=tries or 0,
                etag=etag,
                last_modified=modified,
            )
            for key, fingerprint, length, origin, summary, page, tries, etag, modified in _rows_in(db, query, keys)
        }
    except sqlite3.DatabaseError:
        return {}  # no index yet: everything is new, and the store decides for certain
    finally:
        db.close()


def lookup_fingerprints(path: str, keys: list[str]) -> dict[str, str]:
    """Key -> fingerprint of the article holding it, read-only and from any thread or process
    (WAL lets readers run beside the writer)."""
    if not keys or not os.path.exists(path):
        return {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.DatabaseError:
        return {}
    query = "SELECT k.key, a.fingerprint FROM article_keys AS k JOIN articles AS a ON a.rowid = k.article WHERE k.key IN ({marks})"
    try:
        return dict(_rows_in(db, query, keys))
    except sqlite3.DatabaseError:
        return {}  # no index yet: everything is new, and the store decides for certain
    finally:
        db.close()


class Index:
    """One connection to an archive's index, with a nestable ``atomic()`` transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.executescript(SCHEMA)
            version = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(version[0]) > SCHEMA_VERSION:
                raise ArchiveError(
                    f"{path}: index schema {version[0]} is newer than this newsarchive knows ({SCHEMA_VERSION})", hint="upgrade newsarchive"
                )
        except sqlite3.DatabaseError as exc:
            raise ArchiveError(
                f"{path}: the index cannot be opened: {exc}", hint="run `newsarchive reindex` to rebuild it from the files"
            ) from exc
        self._depth = 0

    def close(self) -> None:
        self.db.close()

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
            self.db.execute("COMMIT" if self._depth == 0 else f"RELEASE {name}")

    def carry_over_from(self, old_path: Path) -> None:
        """Keep what the files cannot tell (feed state, run history, guids, first-seen times) from the old
        index, when it can still be read."""
        db = self.db
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
            try:  # apart, so that an old index without this table loses nothing else
                db.execute("INSERT OR IGNORE INTO captures SELECT * FROM old.captures")
            except sqlite3.DatabaseError as exc:
                log.info("%s: no WARC captures carried over: %s", old_path, exc)
            try:  # an index older than revisit records has none to carry
                db.execute(
                    "INSERT OR IGNORE INTO capture_revisits SELECT r.* FROM old.capture_revisits AS r"
                    " JOIN main.captures AS c ON c.file = r.file AND c.offset = r.offset"
                )
            except sqlite3.DatabaseError as exc:
                log.info("%s: no WARC revisits carried over: %s", old_path, exc)
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
        columns = ", ".join("a." + column.strip() for column in _ARTICLE_COLUMNS.split(","))
        query = f"SELECT k.key, {columns} FROM article_keys AS k JOIN articles AS a ON a.rowid = k.article WHERE k.key IN ({{marks}})"
        return {key: ArticleRow(*row) for key, *row in _rows_in(self.db, query, keys)}

    def articles_at(self, paths: Iterable[str]) -> dict[str, ArticleRow]:
        query = f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE path IN ({{marks}})"
        return {row[3]: ArticleRow(*row) for row in _rows_in(self.db, query, paths)}

    def article_at(self, path: str) -> ArticleRow | None:
        row = self.db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE path = ?", (path,)).fetchone()
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
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE source = ? ORDER BY file_id, path LIMIT ?", (source, limit)
        ).fetchall()
        return [ArticleRow(*row) for row in rows]

    def newest_overall(self, limit: int) -> list[ArticleRow]:
        rows = self.db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY pub_ms DESC LIMIT ?", (limit,)).fetchall()
        return [ArticleRow(*row) for row in rows]

    def oldest_first(self, source: str, offset: int, limit: int) -> list[ArticleRow]:
        """A stretch of an outlet's articles counted from its oldest (highest id), so that a page of a
        list stays the same as newer articles arrive."""
        rows = self.db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE source = ? ORDER BY file_id DESC, rowid DESC LIMIT ? OFFSET ?",
            (source, limit, offset),
        ).fetchall()
        return [ArticleRow(*row) for row in rows]

    def articles(self, source: str | None = None) -> Iterator[ArticleRow]:
        query = f"SELECT {_ARTICLE_COLUMNS} FROM articles"
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
        row = self.db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE rowid = ?", (rowid,)).fetchone()
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
        columns = ", ".join("a." + column.strip() for column in _ARTICLE_COLUMNS.split(","))
        # +a.pub_ms: never walk articles_by_date, which would need a sort to come out in (source, file id) order
        where = " AND ".join(test for test, value in (("a.source = ?", source), ("+a.pub_ms >= ?", since_ms)) if value is not None)
        query = (
            f"SELECT {columns}, r.path, r.seen_ms FROM articles AS a LEFT JOIN revisions AS r ON r.article = a.rowid"
            + (f" WHERE {where}" if where else "")
            + " ORDER BY a.source, a.file_id, a.rowid, r.seen_ms"
        )
        for *row, revision, seen_ms in self.db.execute(query, [value for value in (source, since_ms) if value is not None]):
            yield ArticleRow(*row), revision, seen_ms

    # captures -------------------------------------------------------------------------------

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

    # history --------------------------------------------------------------------------------

    def articles_with_id(self, source: str, file_id: int) -> list[ArticleRow]:
        """An outlet's articles with this file id: one, or more when an imported archive holds it in two folders."""
        rows = self.db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE source = ? AND file_id = ? ORDER BY path", (source, file_id))
        return [ArticleRow(*row) for row in rows]

    # summaries (full text) --------------------------------------------------------------------

    def save_summaries(self, summaries: Iterable[Summary]) -> int:
        """Write the summaries rows of the articles holding their keys (one with none is skipped); returns the rows written."""
        written = 0
        for summary in summaries:
            found = self.find_many(summary.keys)
            row = next((found[key] for key in summary.keys if key in found), None)
            if row is None:
                continue
            self.db.execute(
                "INSERT OR REPLACE INTO summaries (article, text, fingerprint, page, tries, etag, last_modified)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row.rowid, summary.text, summary.fingerprint, int(summary.page), summary.tries, summary.etag, summary.last_modified),
            )
            written += 1
        return written

    def feed_version(self, article: int) -> tuple[str, str] | None:
        """(fingerprint, body) of the version the feeds carry of an article whose file holds other text (its
        page's), when one is recorded."""
        row = self.db.execute("SELECT fingerprint, text FROM summaries WHERE article = ?", (article,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def forget_feed_version(self, article: int) -> None:
        self.db.execute("DELETE FROM summaries WHERE article = ?", (article,))

    def summary(self, article: int) -> str | None:
        """The feed's own body of an article whose file holds its page's text, or None."""
        row = self.db.execute("SELECT text FROM summaries WHERE article = ? AND page = 1", (article,)).fetchone()
        return str(row[0]) if row else None

    def _carry_over_summaries(self, old_path: Path) -> None:
        # Matched by path and fingerprint, as the other carried-over article facts: row ids change in a rebuild.
        try:
            with self.atomic():
                self.db.execute(
                    "INSERT OR IGNORE INTO summaries (article, text, fingerprint, page, tries, etag, last_modified)"
                    " SELECT a.rowid, s.text, s.fingerprint, s.page, s.tries, s.etag, s.last_modified FROM old.summaries AS s"
                    " JOIN old.articles AS o ON o.rowid = s.article JOIN articles AS a ON a.path = o.path AND a.fingerprint = o.fingerprint"
                )
        except sqlite3.DatabaseError as exc:  # an old index without the table
            log.info("%s: no summaries carried over: %s", old_path, exc)

    # media (images an article shows, media.py) ---------------------------------------------------

    def _carry_over_media(self, old_path: Path) -> None:
        try:
            with self.atomic():
                self.db.execute("INSERT OR IGNORE INTO media SELECT * FROM old.media")
                self.db.execute(
                    "INSERT OR IGNORE INTO article_images (article, url) SELECT a.rowid, i.url FROM old.article_images AS i"
                    " JOIN old.articles AS o ON o.rowid = i.article JOIN articles AS a ON a.path = o.path"
                )
        except sqlite3.DatabaseError as exc:  # an old index without the tables
            log.info("%s: no media carried over: %s", old_path, exc)
        try:  # apart: an index older than the backfill has no images_read, and its articles are simply read again
            with self.atomic():  # a file that changed since is read again: only the same version stays read
                self.db.execute(
                    "INSERT OR IGNORE INTO images_read (article) SELECT a.rowid FROM old.images_read AS r"
                    " JOIN old.articles AS o ON o.rowid = r.article JOIN articles AS a ON a.path = o.path AND a.fingerprint = o.fingerprint"
                )
        except sqlite3.DatabaseError as exc:
            log.info("%s: no record of the articles whose images were read carried over: %s", old_path, exc)

    def set_article_images(self, article: int, urls: Iterable[str]) -> None:
        """The images an article shows, replacing those it showed; the article counts as read (``images_read``)."""
        self.db.execute("DELETE FROM article_images WHERE article = ?", (article,))
        self.db.executemany("INSERT OR IGNORE INTO article_images (article, url) VALUES (?, ?)", ((article, url) for url in urls))
        self.mark_images_read([article])

    def mark_images_read(self, articles: Iterable[int]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO images_read (article) VALUES (?)", ((article,) for article in articles))

    def count_images_unread(self) -> int:
        """Articles whose images were never read: two counts, a few ms for 500,000 articles (images_read holds
        existing articles only: ON DELETE CASCADE)."""
        (count,) = self.db.execute("SELECT (SELECT count(*) FROM articles) - (SELECT count(*) FROM images_read)").fetchone()
        return max(0, int(count))

    def images_unread(self, limit: int, after: tuple[int | None, int] | None = None) -> list[ArticleRow]:
        """Up to ``limit`` articles whose images were never read, newest first (by date, then row id; undated last),
        from the one after ``after`` (its (pub_ms, rowid)) or from the newest. Walks ``articles_by_date``: from the
        newest, every article already read is stepped over, which is why the backfill passes where it stopped."""
        unread = "NOT EXISTS (SELECT 1 FROM images_read WHERE article = articles.rowid)"
        rows: list[tuple[Any, ...]] = []
        if after is None or after[0] is not None:
            dated, values = ("(pub_ms, rowid) < (?, ?)", after) if after is not None else ("pub_ms IS NOT NULL", ())
            rows += self.db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE {dated} AND {unread} ORDER BY pub_ms DESC, rowid DESC LIMIT ?",
                (*values, limit),
            ).fetchall()
        if len(rows) < limit:
            below = after[1] if after is not None and after[0] is None else 2**62
            rows += self.db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE pub_ms IS NULL AND rowid < ? AND {unread} ORDER BY rowid DESC LIMIT ?",
                (below, limit - len(rows)),
            ).fetchall()
        return [ArticleRow(*row) for row in rows]

    def media_due(self, now_ms: int, limit: int) -> list[tuple[str, set[str]]]:
        """Image addresses to fetch now (never tried, or failed and due), oldest articles' last, with the outlets showing them."""
        rows = self.db.execute(
            "SELECT i.url, group_concat(DISTINCT a.source) FROM article_images AS i JOIN articles AS a ON a.rowid = i.article"
            " LEFT JOIN media AS m ON m.url = i.url"
            " WHERE m.url IS NULL OR (m.status = 'failed' AND m.next_try_ms IS NOT NULL AND m.next_try_ms <= ?)"
            " GROUP BY i.url ORDER BY max(i.article) DESC LIMIT ?",
            (now_ms, limit),
        )
        return [(str(url), set(str(sources).split(","))) for url, sources in rows]

    def media_row(self, url: str) -> MediaRow | None:
        from ..media import MediaRow

        row = self.db.execute("SELECT * FROM media WHERE url = ?", (url,)).fetchone()
        return MediaRow(*row) if row else None

    def media_rows(self, urls: Iterable[str]) -> list[MediaRow]:
        from ..media import MediaRow

        return [MediaRow(*row) for row in _rows_in(self.db, "SELECT * FROM media WHERE url IN ({marks})", urls)]

    def save_media(self, row: MediaRow) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO media VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row.url, row.sha256, row.ext, row.bytes, row.status, row.failures, row.next_try_ms, row.last_error),
        )

    def article_images(self, article: int) -> list[str]:
        return [str(url) for (url,) in self.db.execute("SELECT url FROM article_images WHERE article = ?", (article,))]

    def media_stats(self) -> MediaStats:
        from ..media import MediaStats

        files, size = self.db.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM (SELECT DISTINCT sha256, ext, bytes FROM media WHERE status = 'ok')"
        ).fetchone()
        failed, skipped = self.db.execute(
            "SELECT count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'skipped') FROM media"
        ).fetchone()
        (pending,) = self.db.execute(
            "SELECT count(DISTINCT i.url) FROM article_images AS i LEFT JOIN media AS m ON m.url = i.url WHERE m.url IS NULL"
        ).fetchone()
        return MediaStats(images=int(files), bytes=int(size), failed=int(failed), pending=int(pending), skipped=int(skipped))

    def referenced_media_paths(self) -> set[str]:
        """media/… paths of stored images some article shows."""
        from ..media import media_path

        rows = self.db.execute(
            "SELECT DISTINCT m.sha256, m.ext FROM media AS m WHERE m.status = 'ok' AND m.url IN (SELECT url FROM article_images)"
        )
        return {media_path(str(sha256), str(ext)) for sha256, ext in rows}

    def count_unreferenced_media(self) -> int:
        (count,) = self.db.execute("SELECT count(*) FROM media WHERE url NOT IN (SELECT url FROM article_images)").fetchone()
        return int(count)

    def forget_unreferenced_media(self) -> None:
        self.db.execute("DELETE FROM media WHERE url NOT IN (SELECT url FROM article_images)")

    # rechecks and takedowns (recheck.py) ---------------------------------------------------------

    def _carry_over_rechecks(self, old_path: Path) -> None:
        # By path: row ids change in a rebuild, and a takedown stays one whatever the file's version.
        try:
            with self.atomic():
                for table, columns in (
                    ("rechecks", "next_ms, checks, last_status, page_hash"),
                    ("takedowns", "first_seen_gone_ms, confirmed_ms, how, url, detail"),
                ):
                    picked = ", ".join(f"t.{column}" for column in columns.split(", "))
                    self.db.execute(
                        f"INSERT OR IGNORE INTO {table} (article, {columns}) SELECT a.rowid, {picked} FROM old.{table} AS t"
                        " JOIN old.articles AS o ON o.rowid = t.article JOIN articles AS a ON a.path = o.path"
                    )
        except sqlite3.DatabaseError as exc:  # an old index without the tables
            log.info("%s: no rechecks or takedowns carried over: %s", old_path, exc)

    def due_rechecks(self, since_ms: int, now_ms: int, limit: int, *, first_gap_ms: int = 0, every: bool = False) -> list[ArticleRow]:
        """Articles first seen since ``since_ms`` whose recheck is due (never rechecked ones ``first_gap_ms`` after they
        were first seen; all of them with ``every``), least recently due first; confirmed takedowns are never rechecked."""
        due = "" if every else " AND (r.article IS NULL AND a.first_seen_ms <= ? OR r.next_ms <= ?)"
        query = (
            f"SELECT {', '.join('a.' + c for c in _ARTICLE_COLUMNS.split(', '))} FROM articles AS a"
            " LEFT JOIN rechecks AS r ON r.article = a.rowid LEFT JOIN takedowns AS t ON t.article = a.rowid"
            f" WHERE a.first_seen_ms >= ? AND a.link IS NOT NULL AND t.confirmed_ms IS NULL{due}"
            " ORDER BY coalesce(r.next_ms, a.first_seen_ms) LIMIT ?"
        )
        values: tuple[int, ...] = (since_ms, limit) if every else (since_ms, now_ms - first_gap_ms, now_ms, limit)
        return [ArticleRow(*row) for row in self.db.execute(query, values)]

    def recheck_state(self, article: int) -> tuple[int, str | None]:
        """(rechecks done, hash of the page's main text when last read)."""
        row = self.db.execute("SELECT checks, page_hash FROM rechecks WHERE article = ?", (article,)).fetchone()
        return (int(row[0]), row[1]) if row else (0, None)

    def save_recheck(self, article: int, next_ms: int | None, checks: int, status: str, page_hash: str | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO rechecks (article, next_ms, checks, last_status, page_hash) VALUES (?, ?, ?, ?, ?)",
            (article, next_ms, checks, status, page_hash),
        )

    def takedown(self, article: int) -> tuple[int, int | None, str, str, str | None] | None:
        """(first_seen_gone_ms, confirmed_ms, how, url, detail) of an article found gone, or None."""
        row = self.db.execute(
            "SELECT first_seen_gone_ms, confirmed_ms, how, url, detail FROM takedowns WHERE article = ?", (article,)
        ).fetchone()
        return (int(row[0]), row[1], row[2], row[3], row[4]) if row else None

    def save_takedown(
        self, article: int, first_seen_gone_ms: int, confirmed_ms: int | None, how: str, url: str, detail: str | None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO takedowns (article, first_seen_gone_ms, confirmed_ms, how, url, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (article, first_seen_gone_ms, confirmed_ms, how, url, detail),
        )

    def forget_takedown(self, article: int) -> None:
        """A pending takedown that a later recheck found there after all."""
        self.db.execute("DELETE FROM takedowns WHERE article = ? AND confirmed_ms IS NULL", (article,))

    def takedowns(self, since_ms: int | None = None) -> list[tuple[ArticleRow, int, int, str, str, str | None]]:
        """Confirmed takedowns, newest confirmation first: (article, first_seen_gone_ms, confirmed_ms, how, url, detail)."""
        query = (
            f"SELECT {', '.join('a.' + c for c in _ARTICLE_COLUMNS.split(', '))},"
            " t.first_seen_gone_ms, t.confirmed_ms, t.how, t.url, t.detail FROM takedowns AS t JOIN articles AS a ON a.rowid = t.article"
            " WHERE t.confirmed_ms IS NOT NULL AND t.confirmed_ms >= ?"
            " ORDER BY t.confirmed_ms DESC"
        )
        width = len(_ARTICLE_COLUMNS.split(", "))
        return [(ArticleRow(*row[:width]), *row[width:]) for row in self.db.execute(query, (since_ms or 0,))]

    def local_images_by_article(self) -> dict[int, list[tuple[str, str]]]:
        """article rowid -> (address, media/… path) of each of its images with a stored copy, in one query (the static site)."""
        from ..media import media_path

        found: dict[int, list[tuple[str, str]]] = {}
        rows = self.db.execute(
            "SELECT i.article, i.url, m.sha256, m.ext FROM article_images AS i JOIN media AS m ON m.url = i.url"
            " WHERE m.status = 'ok' ORDER BY i.article, i.url"
        )
        for article, url, sha256, ext in rows:
            found.setdefault(int(article), []).append((str(url), media_path(str(sha256), str(ext))))
        return found
