"""``PostgresIndex``: an archive's index in a PostgreSQL database, with every public method of the SQLite ``Index``.

Where SQLite's notions leak into the interface, they mean here:

- ``read_only``: the session's transactions are read-only (``default_transaction_read_only``), so a write by mistake
  is an error; a database with no index yet reads as empty (its tables made as temporary ones, in this session only).
- ``check_readable()``: the server answers, the schema is one this code knows, and every table can be read. (SQLite's
  ``quick_check`` reads every page; PostgreSQL checks its own pages as it reads them, and reports damage as an error.)
- ``carry_over_from(old)``: ``old`` is the name of another schema of the same database holding an earlier index (a
  rebuild goes into a schema of its own, then ``take_place_of`` swaps it in), not a file.
- ``reader()``: a ``PostgresReader``, which asks the database over a connection of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from ...config import database_address
from ...errors import ArchiveError
from ..summaries import KNOWN_ITEMS_QUERY, STORED_QUERY, StoredVersion, stored_versions

if TYPE_CHECKING:
    pass
from .articles import ArticleQueries
from .connect import connect, translated
from .migrations import MIGRATIONS, migrate, refuse_newer, schema_version
from .outbox import OutboxQueries
from .parts import QUEUE_FILLED, CaptureQueries, MediaQueries, RecheckQueries, SummaryQueries

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "newsarchive"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Every table, parents first: what check_readable reads and a copy between backends copies.
TABLES = (
    "meta", "articles", "article_keys", "revisions", "feeds", "runs", "journal", "captures", "capture_revisits", "summaries",
    "media", "article_images", "media_queue", "images_read", "rechecks", "takedowns", "damaged", "feed_items",
)  # fmt: skip


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"not a table of the index: {name!r}")
    return name


def _quoted(columns: list[str]) -> list[str]:
    return [f'"{column}"' for column in columns]  # "offset" is a reserved word


def _schema_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain schema name: {name!r}")
    return name


class PostgresIndex(ArticleQueries, CaptureQueries, SummaryQueries, MediaQueries, RecheckQueries, OutboxQueries):
    """One connection to an archive's index in PostgreSQL (its tables in ``schema``), with a nestable ``atomic()``."""

    def __init__(self, url: str, *, read_only: bool = False, schema: str = DEFAULT_SCHEMA) -> None:
        """Connect, and bring the schema up to date (not with ``read_only``). Errors are one line naming the
        database without its password: ``DatabaseServerError``, or ``ArchiveError`` for a schema newer than this code."""
        self.url = url
        self.address = database_address(url)
        self.schema = _schema_name(schema)
        self.read_only = read_only
        self.db = connect(url)
        try:
            if read_only:
                self._open_read_only()
            else:
                self._run(f"SET search_path TO {self.schema}")
                with translated(url):
                    migrate(self.db, self.schema, self.address)
        except BaseException:
            self.db.close()
            raise

    def _open_read_only(self) -> None:
        self._run(f"SET search_path TO {self.schema}")
        with translated(self.url):
            version = schema_version(self.db)
        refuse_newer(version, self.address)
        if version is None:  # nothing indexed yet: reads as empty, from temporary tables of this session
            self._run("SET search_path TO pg_temp")
            with translated(self.url):
                migrate(self.db, "pg_temp", self.address)
        self._run("SET default_transaction_read_only = on")

    def close(self) -> None:
        self.db.close()

    def check_readable(self) -> None:
        """Raise ``DatabaseServerError`` (or ``ArchiveError``) unless the server answers, the schema is one this code
        knows and every table can be read, so that a run stops before it fetches rather than after."""
        with translated(self.url):
            refuse_newer(schema_version(self.db), self.address)
        for table in TABLES:
            try:
                self._one(f"SELECT 1 FROM {table} LIMIT 1")
            except psycopg.errors.UndefinedTable as exc:
                raise ArchiveError(
                    f"{self.address}: the index is incomplete: its table {table} is missing",
                    hint="restore the database from a backup, or empty it and run `newsarchive reindex` to rebuild the index",
                ) from exc

    def carry_over_from(self, old_path: Path | str) -> None:
        """Keep what the files cannot tell (feed state, run history, guids, first-seen times, captures, summaries,
        images, rechecks) from the index in schema ``old_path`` of this database (a name, not a file), when there is
        one. Each part in a transaction of its own: an old index that lacks a part loses only it."""
        if not isinstance(old_path, str):
            raise TypeError(f"an index in PostgreSQL carries over from a schema of its database, not a file: {old_path}")
        old = _schema_name(old_path)
        if self._one("SELECT to_regclass(%s)", (f"{old}.schema_migrations",)) in (None, (None,)):
            return
        by_path = "JOIN {old}.articles AS o ON o.rowid = {t}.article JOIN articles AS a ON a.path = o.path"
        same = by_path + " AND a.fingerprint = o.fingerprint"
        parts = {
            "feed state": [
                f"INSERT INTO feeds SELECT * FROM {old}.feeds ON CONFLICT DO NOTHING",
                f"INSERT INTO runs SELECT * FROM {old}.runs ON CONFLICT DO NOTHING",
                "UPDATE articles SET guid = o.guid, first_seen_ms = o.first_seen_ms, updated_ms = o.updated_ms, origin = o.origin"
                f" FROM {old}.articles AS o WHERE o.path = articles.path AND o.fingerprint = articles.fingerprint",
                "INSERT INTO article_keys (key, article) SELECT 'guid:' || source || ':' || guid, rowid FROM articles"
                " WHERE guid IS NOT NULL ON CONFLICT DO NOTHING",
            ],
            "WARC captures": [
                f"INSERT INTO captures SELECT * FROM {old}.captures ON CONFLICT DO NOTHING",
                f"INSERT INTO capture_revisits SELECT * FROM {old}.capture_revisits ON CONFLICT DO NOTHING",
            ],
            "summaries": [
                "INSERT INTO summaries (article, text, fingerprint, page, tries, etag, last_modified)"
                " SELECT a.rowid, s.text, s.fingerprint, s.page, s.tries, s.etag, s.last_modified"
                f" FROM {old}.summaries AS s {same.format(old=old, t='s')} ON CONFLICT DO NOTHING"
            ],
            "media": [
                f"INSERT INTO media SELECT * FROM {old}.media ON CONFLICT DO NOTHING",
                f"INSERT INTO article_images (article, url) SELECT a.rowid, i.url FROM {old}.article_images AS i"
                f" {by_path.format(old=old, t='i')} ON CONFLICT DO NOTHING",
                f"DELETE FROM meta WHERE key = '{QUEUE_FILLED}'",
                f"INSERT INTO images_read (article) SELECT a.rowid FROM {old}.images_read AS r {same.format(old=old, t='r')}"
                " ON CONFLICT DO NOTHING",
            ],
            "rechecks or takedowns": [
                "INSERT INTO rechecks (article, next_ms, checks, last_status, page_hash)"
                f" SELECT a.rowid, t.next_ms, t.checks, t.last_status, t.page_hash FROM {old}.rechecks AS t"
                f" {by_path.format(old=old, t='t')} ON CONFLICT DO NOTHING",
                "INSERT INTO takedowns (article, first_seen_gone_ms, confirmed_ms, how, url, detail)"
                f" SELECT a.rowid, t.first_seen_gone_ms, t.confirmed_ms, t.how, t.url, t.detail FROM {old}.takedowns AS t"
                f" {by_path.format(old=old, t='t')} ON CONFLICT DO NOTHING",
            ],
        }
        for what, statements in parts.items():
            try:
                with self.atomic():
                    for statement in statements:
                        self._run(statement)
            except psycopg.DatabaseError as exc:
                log.warning("%s: no %s carried over from schema %s: %s", self.address, what, old, exc)
        self.resync_identities()
        self._fill_media_queue()

    def resync_identities(self) -> None:
        """Row ids given explicitly (a carry-over, a copy) are not taken from the identity sequences: move them past."""
        for table in ("articles", "revisions", "runs"):
            self._run(f"SELECT setval(pg_get_serial_sequence('{table}', 'rowid'), coalesce(max(rowid), 0) + 1, false) FROM {table}")

    @staticmethod
    def drop_schema(url: str, schema: str) -> None:
        """Remove an index's schema (and everything in it) from the database, when it is there."""
        db = connect(url)
        try:
            with translated(url):
                db.execute(f"DROP SCHEMA IF EXISTS {_schema_name(schema)} CASCADE".encode())
        finally:
            db.close()

    def take_place_of(self, old_schema: str) -> None:
        """Replace the index in schema ``old_schema`` with this one (a rebuild's last step), in one transaction."""
        old = _schema_name(old_schema)
        with self.atomic():
            self._run(f"DROP SCHEMA IF EXISTS {old} CASCADE")
            self._run(f"ALTER SCHEMA {self.schema} RENAME TO {old}")
            self._run(f"SET search_path TO {old}")
        self.schema = old

    # whole tables (``newsarchive migrate``) --------------------------------------------------

    def columns(self, table: str) -> list[str]:
        rows = self._all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table),
        )
        return [str(name) for (name,) in rows]

    def table_rows(self, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
        """Every row of ``table`` (one of ``TABLES``), from a server-side cursor."""
        for row in self._stream(f"SELECT {', '.join(_quoted(columns))} FROM {_table(table)}"):
            yield tuple(row)

    def load_rows(self, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
        """Add rows to ``table`` with COPY (row ids as given: call ``resync_identities`` after); returns how many."""
        count = 0
        statement = f"COPY {_table(table)} ({', '.join(_quoted(columns))}) FROM STDIN"
        with translated(self.url), self.db.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def is_empty(self) -> bool:
        """No row in any table (the schema's own records aside)."""
        return not any(self._one(f"SELECT EXISTS (SELECT 1 FROM {table})")[0] for table in TABLES)

    def clear(self) -> None:
        """Remove every row of every table."""
        self._run(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")

    def reader(self) -> PostgresReader:
        return PostgresReader(self.url, self.schema)

    def __repr__(self) -> str:
        return f"PostgresIndex({self.address!r}, schema={self.schema!r})"

    def __enter__(self) -> PostgresIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass(frozen=True)
class PostgresReader:
    """``IndexReader`` of a PostgreSQL index: a connection of its own per question, from any thread or process (it is
    picklable); nothing is known while there is no index yet: everything is new then, and the store decides for certain."""

    url: str
    schema: str = DEFAULT_SCHEMA

    def stored(self, keys: list[str]) -> dict[str, StoredVersion]:
        return stored_versions(self._rows(STORED_QUERY + " k.key = ANY(%s::text[])", keys))

    def known_items(self, digests: list[str]) -> dict[str, int]:
        return dict(self._rows(KNOWN_ITEMS_QUERY + " i.digest = ANY(%s::text[])", digests))

    def _rows(self, query: str, values: list[str]) -> list[Any]:
        """The rows of ``query`` for the distinct ``values``, on a connection of its own; none while there is no index."""
        if not values:
            return []
        with connect(self.url) as db, translated(self.url):
            db.execute(f"SET search_path TO {_schema_name(self.schema)}")
            if schema_version(db) is None:
                return []
            return db.execute(query, (list(dict.fromkeys(values)),)).fetchall()


__all__ = ["DEFAULT_SCHEMA", "MIGRATIONS", "TABLES", "PostgresIndex", "PostgresReader"]
