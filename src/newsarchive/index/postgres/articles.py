"""Articles, their keys and revisions, feed state and runs, the journal, the files' sizes and damage, and the
reader's queries by day: the queries of ``index/db.py``, ``days.py`` and ``files.py`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ...times import DAY_MS
from ..feeds import FORGET_EARLIER_READS, REMEMBER_ITEM, FeedState, ReadItem
from ..files import FILE_TABLES
from ..rows import ARTICLE_COLUMNS, ArticleRow
from .base import A_COLUMNS, Part

_FEED_COLUMNS = "url, source, etag, last_modified, body_hash, last_attempt_ms, last_success_ms, last_error, failures, items"
_SCAN = {
    "articles": "SELECT path, size, mtime_ns, source FROM articles",
    "revisions": "SELECT r.path, r.size, r.mtime_ns, a.source FROM revisions AS r JOIN articles AS a ON a.rowid = r.article",
}


def _table(table: str) -> str:
    if table not in FILE_TABLES:
        raise ValueError(f"not a table of files: {table!r}")
    return table


class ArticleQueries(Part):
    # articles -------------------------------------------------------------------------------

    def find_many(self, keys: Iterable[str]) -> dict[str, ArticleRow]:
        """The article of each key that has one, in one query."""
        rows = self._all(
            f"SELECT k.key, {A_COLUMNS} FROM article_keys AS k JOIN articles AS a ON a.rowid = k.article WHERE k.key = ANY(%s::text[])",
            (list(dict.fromkeys(keys)),),
        )
        return {key: ArticleRow(*row) for key, *row in rows}

    def articles_at(self, paths: Iterable[str]) -> dict[str, ArticleRow]:
        rows = self._articles(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE path = ANY(%s::text[])", (list(dict.fromkeys(paths)),))
        return {row.path: row for row in rows}

    def article_at(self, path: str) -> ArticleRow | None:
        row = self._one(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE path = %s", (path,))
        return ArticleRow(*row) if row else None

    def add_article(self, row: ArticleRow, keys: Iterable[str]) -> int:
        """Insert an article (rowid ignored) or replace the one at the same path; returns its rowid.

        A key already held by another article stays with the newer one (the lower file id).
        """
        # One statement, one round trip: the key's holder is compared as it was before it (a key held by this very
        # article may be given to it again: no change).
        (rowid,) = self._one(
            "WITH a AS (INSERT INTO articles"
            " (source, file_id, path, title, link, guid, pub_ms, fingerprint, first_seen_ms, updated_ms, origin, body_length)"
            " VALUES (%(source)s, %(file_id)s, %(path)s, %(title)s, %(link)s, %(guid)s, %(pub_ms)s, %(fingerprint)s,"
            " %(first_seen_ms)s, %(updated_ms)s, %(origin)s, %(body_length)s)"
            " ON CONFLICT (path) DO UPDATE SET source = excluded.source, file_id = excluded.file_id, title = excluded.title,"
            " link = excluded.link, guid = excluded.guid, pub_ms = excluded.pub_ms, fingerprint = excluded.fingerprint,"
            " first_seen_ms = coalesce(articles.first_seen_ms, excluded.first_seen_ms), updated_ms = excluded.updated_ms,"
            " origin = excluded.origin, body_length = excluded.body_length"
            " RETURNING rowid),"
            # A version written here shows its own images: they are read again (media.py), by this run or the backfill.
            " unread AS (DELETE FROM images_read WHERE article = (SELECT rowid FROM a)),"
            " k AS (INSERT INTO article_keys (key, article) SELECT key, (SELECT rowid FROM a) FROM unnest(%(keys)s::text[]) AS key"
            " ON CONFLICT (key) DO UPDATE SET article = excluded.article"
            " WHERE %(file_id)s < (SELECT file_id FROM articles WHERE rowid = article_keys.article))"
            " SELECT rowid FROM a",
            {**{name: getattr(row, name) for name in ARTICLE_COLUMNS.split(", ")}, "keys": list(dict.fromkeys(keys))},
        )
        return int(rowid)

    def remove_article(self, path: str) -> None:
        self._run("DELETE FROM articles WHERE path = %s", (path,))

    def paths_in(self, folder: str) -> set[str]:
        """The indexed paths under ``folder`` (``articles/<folder>/``)."""
        return {row[0] for row in self._all("SELECT path FROM articles WHERE starts_with(path, %s)", (folder,))}

    def lowest_file_id(self, source: str) -> int | None:
        (found,) = self._one("SELECT min(file_id) FROM articles WHERE source = %s", (source,))
        return int(found) if found is not None else None

    def newest(self, source: str, limit: int) -> list[ArticleRow]:
        return self._articles(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE source = %s ORDER BY file_id, path LIMIT %s", (source, limit))

    def newest_overall(self, limit: int) -> list[ArticleRow]:
        # NULLS LAST: SQLite puts undated articles last in a descending order, PostgreSQL first
        return self._articles(f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY pub_ms DESC NULLS LAST LIMIT %s", (limit,))

    def oldest_first(self, source: str, offset: int, limit: int) -> list[ArticleRow]:
        """A stretch of an outlet's articles counted from its oldest (highest id), so that a page of a
        list stays the same as newer articles arrive."""
        return self._articles(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE source = %s ORDER BY file_id DESC, rowid DESC LIMIT %s OFFSET %s",
            (source, limit, offset),
        )

    def articles(self, source: str | None = None) -> Iterator[ArticleRow]:
        query = f"SELECT {ARTICLE_COLUMNS} FROM articles"
        rows = (
            self._stream(query + " WHERE source = %s ORDER BY file_id", (source,))
            if source
            else self._stream(query + " ORDER BY source, file_id")
        )
        for row in rows:
            yield ArticleRow(*row)

    def changed_since(self, rowid: int, updated_ms: int) -> Iterator[ArticleRow]:
        """Articles added after ``rowid`` or given a new version after ``updated_ms``."""
        for row in self._stream(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE rowid > %s OR updated_ms > %s ORDER BY rowid", (rowid, updated_ms)
        ):
            yield ArticleRow(*row)

    def count(self, source: str) -> int:
        return int(self._one("SELECT count(*) FROM articles WHERE source = %s", (source,))[0])

    def counts(self) -> dict[str, int]:
        return {str(source): int(count) for source, count in self._all("SELECT source, count(*) FROM articles GROUP BY source")}

    def sources_present(self) -> list[str]:
        return [row[0] for row in self._all("SELECT DISTINCT source FROM articles ORDER BY source")]

    def seen_times(self, source: str, limit: int) -> list[int]:
        """The newest ``limit`` distinct first-seen times of an outlet's articles, newest first: one for each run that
        brought something new (imported files have none)."""
        rows = self._all(
            "SELECT DISTINCT first_seen_ms FROM articles WHERE source = %s AND first_seen_ms IS NOT NULL"
            " ORDER BY first_seen_ms DESC LIMIT %s",
            (source, limit),
        )
        return [int(row[0]) for row in rows]

    def count_seen_since(self, source: str, since_ms: int) -> int:
        """How many of an outlet's articles were first seen at or after ``since_ms``."""
        return int(self._one("SELECT count(*) FROM articles WHERE source = %s AND first_seen_ms >= %s", (source, since_ms))[0])

    # revisions ------------------------------------------------------------------------------

    def add_revision(
        self, article: int, *, path: str, title: str, link: str | None, pub_ms: int | None, seen_ms: int, fingerprint: str
    ) -> None:
        self._run(
            "INSERT INTO revisions (article, path, title, link, pub_ms, seen_ms, fingerprint) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (path) DO UPDATE SET article = excluded.article, title = excluded.title, link = excluded.link,"
            " pub_ms = excluded.pub_ms, seen_ms = excluded.seen_ms, fingerprint = excluded.fingerprint, size = NULL, mtime_ns = NULL",
            (article, path, title, link, pub_ms, seen_ms, fingerprint),
        )

    def revision_at(self, path: str) -> tuple[int, str, int] | None:
        """(article rowid, title, seen_ms) of the earlier version kept at ``path``."""
        row = self._one("SELECT article, title, seen_ms FROM revisions WHERE path = %s", (path,))
        return (int(row[0]), str(row[1]), int(row[2])) if row else None

    def article_by_rowid(self, rowid: int) -> ArticleRow | None:
        row = self._one(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE rowid = %s", (rowid,))
        return ArticleRow(*row) if row else None

    def remove_revision(self, path: str) -> None:
        self._run("DELETE FROM revisions WHERE path = %s", (path,))

    def revisions(self, article: int) -> list[tuple[str, str, int]]:
        """(path, title, seen_ms) of an article's earlier versions, oldest first."""
        return [
            tuple(row) for row in self._all("SELECT path, title, seen_ms FROM revisions WHERE article = %s ORDER BY seen_ms", (article,))
        ]

    # feeds and runs -------------------------------------------------------------------------

    def feed_state(self, url: str) -> FeedState | None:
        row = self._one(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url = %s", (url,))
        return FeedState(**dict(zip(FeedState.__dataclass_fields__, row, strict=True))) if row else None

    def save_feed_state(self, state: FeedState) -> None:
        values = [getattr(state, name) for name in FeedState.__dataclass_fields__]
        updates = ", ".join(f"{name} = excluded.{name}" for name in FeedState.__dataclass_fields__ if name != "url")
        self._run(
            f"INSERT INTO feeds ({_FEED_COLUMNS}) VALUES ({', '.join(['%s'] * len(values))}) ON CONFLICT (url) DO UPDATE SET {updates}",
            values,
        )

    def feed_states(self, source: str) -> list[FeedState]:
        rows = self._all(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE source = %s ORDER BY url", (source,))
        return [FeedState(**dict(zip(FeedState.__dataclass_fields__, row, strict=True))) for row in rows]

    def record_run(
        self, source: str, *, started_ms: int, seconds: float, new: int, updated: int, unchanged: int, error: str | None
    ) -> None:
        self._run(
            "INSERT INTO runs (source, started_ms, seconds, new, updated, unchanged, error) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (source, started_ms, seconds, new, updated, unchanged, error),
        )

    def last_runs(self, source: str) -> tuple[int | None, int | None, str | None]:
        """(last success ms, last failure ms, last error) of an outlet."""
        (success,) = self._one("SELECT max(started_ms) FROM runs WHERE source = %s AND error IS NULL", (source,))
        failure = self._one(
            "SELECT started_ms, error FROM runs WHERE source = %s AND error IS NOT NULL ORDER BY started_ms DESC LIMIT 1", (source,)
        )
        return success, failure[0] if failure else None, failure[1] if failure else None

    def remember_items(self, items: Iterable[ReadItem]) -> None:
        items = list(items)
        self._many(FORGET_EARLIER_READS.format("%s"), [(item.article, item.feed, item.digest) for item in items])
        self._many(REMEMBER_ITEM.format("%s"), items)

    def last_run_ms(self) -> int | None:
        """When the last update of any outlet started (None: never)."""
        (found,) = self._one("SELECT max(started_ms) FROM runs")
        return int(found) if found is not None else None

    # journal --------------------------------------------------------------------------------

    def journal_add(self, items: Iterable[str]) -> None:
        self._run("INSERT INTO journal (item) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (list(items),))

    def journal_items(self) -> list[str]:
        return [row[0] for row in self._all("SELECT item FROM journal ORDER BY item")]

    def journal_clear(self, items: Iterable[str]) -> None:
        self._run("DELETE FROM journal WHERE item = ANY(%s::text[])", (list(items),))

    # export and history ---------------------------------------------------------------------

    def versions(self, source: str | None = None, since_ms: int | None = None) -> Iterator[tuple[ArticleRow, str | None, int | None]]:
        """Every article in (source, file id) order, as (row, revision path, revision seen_ms) for each of its earlier
        versions, oldest first, or one (row, None, None) when it has none; ``since_ms`` keeps articles published
        from then on. From a server-side cursor: memory stays flat."""
        tests = [(test, value) for test, value in (("a.source = %s", source), ("a.pub_ms >= %s", since_ms)) if value is not None]
        query = (
            f"SELECT {A_COLUMNS}, r.path, r.seen_ms FROM articles AS a LEFT JOIN revisions AS r ON r.article = a.rowid"
            + (" WHERE " + " AND ".join(test for test, _ in tests) if tests else "")
            + " ORDER BY a.source, a.file_id, a.rowid, r.seen_ms"
        )
        for *row, revision, seen_ms in self._stream(query, [value for _, value in tests]):
            yield ArticleRow(*row), revision, seen_ms

    def articles_with_id(self, source: str, file_id: int) -> list[ArticleRow]:
        """An outlet's articles with this file id: one, or more when an imported archive holds it in two folders."""
        return self._articles(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE source = %s AND file_id = %s ORDER BY path", (source, file_id))

    # days -----------------------------------------------------------------------------------

    def days(self, offset_ms: int) -> list[tuple[int, int]]:
        """(day, articles published that day), newest first; a day is counted from 1970-01-01 in the time zone
        ``offset_ms`` ahead of UTC."""
        query = (
            f"SELECT floor((pub_ms + %s)::numeric / {DAY_MS})::bigint AS day, count(*) FROM articles"
            " WHERE pub_ms IS NOT NULL GROUP BY day ORDER BY day DESC"
        )
        return [(int(day), int(count)) for day, count in self._all(query, (offset_ms,))]

    def published_between(self, since_ms: int, until_ms: int) -> list[ArticleRow]:
        """Articles published at or after ``since_ms`` and before ``until_ms``, newest first."""
        query = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE pub_ms >= %s AND pub_ms < %s ORDER BY pub_ms DESC, rowid DESC"
        return self._articles(query, (since_ms, until_ms))

    def around(self, since_ms: int, until_ms: int) -> tuple[int | None, int | None]:
        """(the first publication time at or after ``until_ms``, the last one before ``since_ms``)."""
        return tuple(
            self._one(
                "SELECT (SELECT min(pub_ms) FROM articles WHERE pub_ms >= %s), (SELECT max(pub_ms) FROM articles WHERE pub_ms < %s)",
                (until_ms, since_ms),
            )
        )

    def by_publication(self) -> Iterator[ArticleRow]:
        """Every dated article, oldest publication first, from one cursor (memory stays flat)."""
        for row in self._stream(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE pub_ms IS NOT NULL ORDER BY pub_ms, rowid"):
            yield ArticleRow(*row)

    # files ----------------------------------------------------------------------------------

    def file_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        for row in self._stream(_SCAN[_table(table)]):
            yield tuple(row)

    def file_version(self, table: str, path: str) -> tuple[str, int | None, str | None]:
        """(fingerprint, pub_ms, link) of the version the file at ``path`` should hold."""
        row = self._one(f"SELECT fingerprint, pub_ms, link FROM {_table(table)} WHERE path = %s", (path,))
        return str(row[0]), row[1], row[2]

    def record_files(self, table: str, stats: Iterable[tuple[str, int, int]]) -> None:
        """Remember (path, size, mtime_ns) of files as written or verified, in one statement."""
        paths, sizes, times = [], [], []
        for path, size, mtime_ns in stats:
            paths.append(path)
            sizes.append(size)
            times.append(mtime_ns)
        self._run(
            f"UPDATE {_table(table)} AS t SET size = v.size, mtime_ns = v.mtime_ns"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS v (path, size, mtime_ns) WHERE t.path = v.path",
            (paths, sizes, times),
        )

    def damaged(self) -> dict[str, str]:
        """path -> problem of the files found damaged and not restored yet."""
        return {str(path): str(problem) for path, problem in self._all("SELECT path, problem FROM damaged ORDER BY path")}

    def set_damaged(self, found: dict[str, str], now_ms: int) -> None:
        """The damaged files are exactly these (path -> problem); a file still damaged keeps when it was first found."""
        with self.atomic():
            self._run("DELETE FROM damaged WHERE NOT path = ANY(%s::text[])", (list(found),))
            self._run(
                "INSERT INTO damaged (path, problem, found_ms)"
                " SELECT path, problem, %s FROM unnest(%s::text[], %s::text[]) AS f (path, problem)"
                " ON CONFLICT (path) DO UPDATE SET problem = excluded.problem",
                (now_ms, list(found), list(found.values())),
            )

    def clear_damaged(self, paths: Iterable[str]) -> None:
        self._run("DELETE FROM damaged WHERE path = ANY(%s::text[])", (list(paths),))
