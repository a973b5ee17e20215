"""WARC captures, summaries (full text), images and rechecks: the queries of ``index/captures.py``,
``summaries.py``, ``images.py`` and ``rechecks.py`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import psycopg

from ...errors import ArchiveError
from ..captures import CaptureRow
from ..images import MediaRow, MediaStats, media_path
from ..rows import ARTICLE_COLUMNS, ArticleRow
from ..summaries import Summary
from .base import A_COLUMNS, Part

_CAPTURE_SELECT = (
    'SELECT c.url, c.target, c.captured_ms, c.status, c.file, c."offset", c.length, c.payload_digest, r.original_file, r.original_offset'
    ' FROM captures AS c LEFT JOIN capture_revisits AS r ON r.file = c.file AND r."offset" = c."offset"'
)
_MEDIA_COLUMNS = "url, sha256, ext, bytes, status, failures, next_try_ms, last_error"
QUEUE_FILLED = "media:queue"  # as images.py: media_queue holds every address shown and never tried
_MEDIA_DUE = (
    "SELECT d.url, (SELECT string_agg(DISTINCT a.source, ',') FROM article_images AS i JOIN articles AS a ON a.rowid = i.article"
    " WHERE i.url = d.url) FROM ("
    " SELECT url, article FROM media_queue AS q WHERE EXISTS (SELECT 1 FROM article_images WHERE url = q.url)"
    " UNION ALL SELECT m.url, (SELECT max(article) FROM article_images WHERE url = m.url) FROM media AS m"
    " WHERE m.status = 'failed' AND m.next_try_ms <= %s AND EXISTS (SELECT 1 FROM article_images WHERE url = m.url))"
    " AS d ORDER BY d.article DESC LIMIT %s"
)


def _capture(row: tuple[Any, ...]) -> CaptureRow:
    return CaptureRow(**dict(zip(CaptureRow.__dataclass_fields__, row, strict=True)))


class CaptureQueries(Part):
    def add_capture(self, capture: CaptureRow) -> None:
        """Remember where a response (or a revisit) is kept; the same place given again replaces the row."""
        place = (capture.file, capture.offset)
        try:
            with self.atomic():  # a revisit never stands without its original: it would pass for a full response
                self._run(
                    'INSERT INTO captures (url, target, captured_ms, status, file, "offset", length, payload_digest)'
                    ' VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (file, "offset") DO UPDATE SET url = excluded.url,'
                    " target = excluded.target, captured_ms = excluded.captured_ms, status = excluded.status, length = excluded.length,"
                    " payload_digest = excluded.payload_digest",
                    (capture.url, capture.target, capture.captured_ms, capture.status, *place, capture.length, capture.payload_digest),
                )
                if capture.original_file is None:
                    self._run('DELETE FROM capture_revisits WHERE file = %s AND "offset" = %s', place)
                else:
                    self._run(
                        'INSERT INTO capture_revisits VALUES (%s, %s, %s, %s) ON CONFLICT (file, "offset") DO UPDATE'
                        " SET original_file = excluded.original_file, original_offset = excluded.original_offset",
                        (*place, capture.original_file, capture.original_offset),
                    )
        except psycopg.DatabaseError as exc:
            raise ArchiveError(f"{self.url}: cannot record the capture of {capture.url}: {exc}") from exc

    def capture_for(self, url: str, at_ms: int) -> CaptureRow | None:
        """The response that a run starting at ``at_ms`` took from ``url``: its first successful (2xx) capture then or later."""
        row = self._one(
            f"{_CAPTURE_SELECT} WHERE c.url = %s AND c.captured_ms >= %s AND c.status BETWEEN 200 AND 299"
            ' ORDER BY c.captured_ms, c.file, c."offset" LIMIT 1',
            (url, at_ms),
        )
        return _capture(row) if row else None

    def captures_of(self, url: str) -> list[CaptureRow]:
        """Every response captured for ``url`` (redirects, errors and 304s too), oldest first."""
        return [
            _capture(row) for row in self._all(f'{_CAPTURE_SELECT} WHERE c.url = %s ORDER BY c.captured_ms, c.file, c."offset"', (url,))
        ]

    def originals_of(self, url: str, payload_digest: str, *, near_ms: int | None = None, limit: int = 3) -> list[CaptureRow]:
        """Full responses (no revisits) captured from ``url`` with this payload digest, newest first; with ``near_ms``,
        only those captured within a millisecond of it."""
        near = "" if near_ms is None else " AND c.captured_ms BETWEEN %s AND %s"
        params = (url, payload_digest) + (() if near_ms is None else (near_ms - 1, near_ms + 1))
        rows = self._all(
            f"{_CAPTURE_SELECT} WHERE c.url = %s AND c.payload_digest = %s AND r.file IS NULL{near}"
            ' ORDER BY c.captured_ms DESC, c.file DESC, c."offset" DESC LIMIT %s',
            (*params, limit),
        )
        return [_capture(row) for row in rows]

    def capture_end(self, file: str) -> int:
        """Where the last indexed response of a WARC file ends."""
        return int(self._one('SELECT max("offset" + length) FROM captures WHERE file = %s', (file,))[0] or 0)

    def forget_captures(self, file: str, from_offset: int) -> None:
        self._run('DELETE FROM captures WHERE file = %s AND "offset" + length > %s', (file, from_offset))

    def forget_original_offsets(self, file: str) -> None:
        self._run("UPDATE capture_revisits SET original_offset = NULL WHERE original_file = %s", (file,))

    def capture_offsets(self, file: str) -> list[int]:
        return [int(offset) for (offset,) in self._all('SELECT "offset" FROM captures WHERE file = %s', (file,))]

    def capture_files(self) -> list[str]:
        return [str(file) for (file,) in self._all("SELECT DISTINCT file FROM captures ORDER BY file")]


class SummaryQueries(Part):
    if TYPE_CHECKING:

        def find_many(self, keys: Iterable[str]) -> dict[str, ArticleRow]: ...

    def save_summaries(self, summaries: Iterable[Summary]) -> int:
        """Write the summaries rows of the articles holding their keys (one with none is skipped); returns the rows written."""
        written = 0
        for summary in summaries:
            found = self.find_many(summary.keys)
            row = next((found[key] for key in summary.keys if key in found), None)
            if row is None:
                continue
            self._run(
                "INSERT INTO summaries (article, text, fingerprint, page, tries, etag, last_modified) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (article) DO UPDATE SET text = excluded.text, fingerprint = excluded.fingerprint, page = excluded.page,"
                " tries = excluded.tries, etag = excluded.etag, last_modified = excluded.last_modified",
                (row.rowid, summary.text, summary.fingerprint, int(summary.page), summary.tries, summary.etag, summary.last_modified),
            )
            written += 1
        return written

    def feed_version(self, article: int) -> tuple[str, str] | None:
        row = self._one("SELECT fingerprint, text FROM summaries WHERE article = %s", (article,))
        return (str(row[0]), str(row[1])) if row else None

    def forget_feed_version(self, article: int) -> None:
        self._run("DELETE FROM summaries WHERE article = %s", (article,))

    def summary(self, article: int) -> str | None:
        row = self._one("SELECT text FROM summaries WHERE article = %s AND page = 1", (article,))
        return str(row[0]) if row else None


class MediaQueries(Part):
    def set_article_images(self, article: int, urls: Iterable[str]) -> None:
        """The images an article shows, replacing those it showed; the article counts as read (``images_read``)."""
        urls = list(dict.fromkeys(urls))
        with self.atomic():
            shown_before = set(self.article_images(article))
            self._run("DELETE FROM article_images WHERE article = %s", (article,))
            self._run("INSERT INTO article_images (article, url) SELECT %s, unnest(%s::text[])", (article, urls))
            self._run(
                "INSERT INTO media_queue (url, article) SELECT u, %s FROM unnest(%s::text[]) AS u"
                " WHERE NOT EXISTS (SELECT 1 FROM media WHERE url = u)"
                " ON CONFLICT (url) DO UPDATE SET article = greatest(media_queue.article, excluded.article)",
                (article, urls),
            )
            # Addresses no article shows any more leave the queue (signed addresses that change with every version).
            self._run(
                "DELETE FROM media_queue AS q WHERE url = ANY(%s::text[]) AND NOT EXISTS (SELECT 1 FROM article_images WHERE url = q.url)",
                (sorted(shown_before.difference(urls)),),
            )
            self.mark_images_read([article])

    def mark_images_read(self, articles: Iterable[int]) -> None:
        self._run("INSERT INTO images_read (article) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING", (list(articles),))

    def count_images_unread(self) -> int:
        (count,) = self._one("SELECT (SELECT count(*) FROM articles) - (SELECT count(*) FROM images_read)")
        return max(0, int(count))

    def images_unread(self, limit: int, after: tuple[int | None, int] | None = None) -> list[ArticleRow]:
        """Up to ``limit`` articles whose images were never read, newest first (by date, then row id; undated last),
        from the one after ``after`` (its (pub_ms, rowid)) or from the newest."""
        unread = "NOT EXISTS (SELECT 1 FROM images_read WHERE article = articles.rowid)"
        rows: list[ArticleRow] = []
        if after is None or after[0] is not None:
            dated, values = ("(pub_ms, rowid) < (%s, %s)", after) if after is not None else ("pub_ms IS NOT NULL", ())
            rows += self._articles(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE {dated} AND {unread} ORDER BY pub_ms DESC, rowid DESC LIMIT %s",
                (*values, limit),
            )
        if len(rows) < limit:
            below = after[1] if after is not None and after[0] is None else 2**62
            rows += self._articles(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE pub_ms IS NULL AND rowid < %s AND {unread} ORDER BY rowid DESC LIMIT %s",
                (below, limit - len(rows)),
            )
        return rows

    def _fill_media_queue(self) -> None:
        """Queue every address shown and never tried, once: for an index filled by a copy, and after a reindex."""
        if self.meta(QUEUE_FILLED) is not None:
            return
        with self.atomic():
            self._run(
                "INSERT INTO media_queue (url, article) SELECT i.url, max(i.article) FROM article_images AS i"
                " WHERE NOT EXISTS (SELECT 1 FROM media WHERE url = i.url) GROUP BY i.url ON CONFLICT DO NOTHING"
            )
            self.set_meta(QUEUE_FILLED, "1")

    def media_due(self, now_ms: int, limit: int) -> list[tuple[str, set[str]]]:
        """Image addresses to fetch now (never tried, or failed and due), newest articles' first, with the outlets showing them."""
        self._fill_media_queue()
        return [(str(url), set(str(sources).split(","))) for url, sources in self._all(_MEDIA_DUE, (now_ms, limit))]

    def media_row(self, url: str) -> MediaRow | None:
        row = self._one(f"SELECT {_MEDIA_COLUMNS} FROM media WHERE url = %s", (url,))
        return MediaRow(*row) if row else None

    def media_rows(self, urls: Iterable[str]) -> list[MediaRow]:
        rows = self._all(f"SELECT {_MEDIA_COLUMNS} FROM media WHERE url = ANY(%s::text[])", (list(dict.fromkeys(urls)),))
        return [MediaRow(*row) for row in rows]

    def save_media(self, row: MediaRow) -> None:
        with self.atomic():
            self._run(
                f"INSERT INTO media ({_MEDIA_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (url) DO UPDATE SET"
                " sha256 = excluded.sha256, ext = excluded.ext, bytes = excluded.bytes, status = excluded.status,"
                " failures = excluded.failures, next_try_ms = excluded.next_try_ms, last_error = excluded.last_error",
                (row.url, row.sha256, row.ext, row.bytes, row.status, row.failures, row.next_try_ms, row.last_error),
            )
            self._run("DELETE FROM media_queue WHERE url = %s", (row.url,))

    def article_images(self, article: int) -> list[str]:
        return [str(url) for (url,) in self._all("SELECT url FROM article_images WHERE article = %s", (article,))]

    def media_stats(self) -> MediaStats:
        files, size = self._one(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM (SELECT DISTINCT sha256, ext, bytes FROM media WHERE status = 'ok') AS kept"
        )
        failed, skipped = self._one(
            "SELECT count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'skipped') FROM media"
        )
        self._fill_media_queue()
        (pending,) = self._one("SELECT count(*) FROM media_queue AS q WHERE EXISTS (SELECT 1 FROM article_images WHERE url = q.url)")
        return MediaStats(images=int(files), bytes=int(size), failed=int(failed), pending=int(pending), skipped=int(skipped))

    def referenced_media_paths(self) -> set[str]:
        rows = self._all(
            "SELECT DISTINCT m.sha256, m.ext FROM media AS m"
            " WHERE m.status = 'ok' AND EXISTS (SELECT 1 FROM article_images WHERE url = m.url)"
        )
        return {media_path(str(sha256), str(ext)) for sha256, ext in rows}

    def count_unreferenced_media(self) -> int:
        return int(self._one("SELECT count(*) FROM media AS m WHERE NOT EXISTS (SELECT 1 FROM article_images WHERE url = m.url)")[0])

    def forget_unreferenced_media(self) -> None:
        with self.atomic():
            self._run("DELETE FROM media AS m WHERE NOT EXISTS (SELECT 1 FROM article_images WHERE url = m.url)")
            self._run("DELETE FROM media_queue AS q WHERE NOT EXISTS (SELECT 1 FROM article_images WHERE url = q.url)")

    def local_images_by_article(self) -> dict[int, list[tuple[str, str]]]:
        """article rowid -> (address, media/… path) of each of its images with a stored copy, in one query."""
        found: dict[int, list[tuple[str, str]]] = {}
        rows = self._all(
            "SELECT i.article, i.url, m.sha256, m.ext FROM article_images AS i JOIN media AS m ON m.url = i.url"
            " WHERE m.status = 'ok' ORDER BY i.article, i.url"
        )
        for article, url, sha256, ext in rows:
            found.setdefault(int(article), []).append((str(url), media_path(str(sha256), str(ext))))
        return found

    def stored_media(self) -> list[tuple[str, str]]:
        return [(str(sha), str(ext)) for sha, ext in self._all("SELECT DISTINCT sha256, ext FROM media WHERE status = 'ok'")]

    def fetch_media_again(self, sha256: str, reason: str) -> None:
        self._run(
            "UPDATE media SET status = 'failed', sha256 = NULL, ext = NULL, bytes = NULL, failures = 0, next_try_ms = 0, last_error = %s"
            " WHERE sha256 = %s AND status = 'ok'",
            (reason, sha256),
        )


class RecheckQueries(Part):
    def due_rechecks(
        self,
        since_ms: int,
        now_ms: int,
        limit: int,
        *,
        first_gap_ms: int = 0,
        first_gaps: Mapping[str, int] | None = None,
        every: bool = False,
    ) -> list[ArticleRow]:
        """Articles first seen since ``since_ms`` whose recheck is due (never rechecked ones ``first_gap_ms`` after they were
        first seen, or their outlet's gap in ``first_gaps``; all of them with ``every``), least recently due first;
        confirmed takedowns are never rechecked."""
        gaps = dict(first_gaps or {})
        gap = "CASE a.source " + "WHEN %s THEN %s::bigint " * len(gaps) + "ELSE %s::bigint END" if gaps else "%s::bigint"
        due = "" if every else f" AND (r.article IS NULL AND a.first_seen_ms + {gap} <= %s OR r.next_ms <= %s)"
        query = (
            f"SELECT {A_COLUMNS} FROM articles AS a"
            " LEFT JOIN rechecks AS r ON r.article = a.rowid LEFT JOIN takedowns AS t ON t.article = a.rowid"
            f" WHERE a.first_seen_ms >= %s AND a.link IS NOT NULL AND t.confirmed_ms IS NULL{due}"
            " ORDER BY coalesce(r.next_ms, a.first_seen_ms), a.rowid LIMIT %s"
        )
        cases = [value for slug, ms in gaps.items() for value in (slug, ms)]
        values = (since_ms, limit) if every else (since_ms, *cases, first_gap_ms, now_ms, now_ms, limit)
        return self._articles(query, values)

    def recheck_state(self, article: int) -> tuple[int, str | None]:
        row = self._one("SELECT checks, page_hash FROM rechecks WHERE article = %s", (article,))
        return (int(row[0]), row[1]) if row else (0, None)

    def save_recheck(self, article: int, next_ms: int | None, checks: int, status: str, page_hash: str | None) -> None:
        self._run(
            "INSERT INTO rechecks (article, next_ms, checks, last_status, page_hash) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (article) DO UPDATE SET next_ms = excluded.next_ms, checks = excluded.checks,"
            " last_status = excluded.last_status, page_hash = excluded.page_hash",
            (article, next_ms, checks, status, page_hash),
        )

    def takedown(self, article: int) -> tuple[int, int | None, str, str, str | None] | None:
        row = self._one("SELECT first_seen_gone_ms, confirmed_ms, how, url, detail FROM takedowns WHERE article = %s", (article,))
        return (int(row[0]), row[1], row[2], row[3], row[4]) if row else None

    def save_takedown(
        self, article: int, first_seen_gone_ms: int, confirmed_ms: int | None, how: str, url: str, detail: str | None
    ) -> None:
        self._run(
            "INSERT INTO takedowns (article, first_seen_gone_ms, confirmed_ms, how, url, detail) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (article) DO UPDATE SET first_seen_gone_ms = excluded.first_seen_gone_ms, confirmed_ms = excluded.confirmed_ms,"
            " how = excluded.how, url = excluded.url, detail = excluded.detail",
            (article, first_seen_gone_ms, confirmed_ms, how, url, detail),
        )

    def forget_takedown(self, article: int) -> None:
        self._run("DELETE FROM takedowns WHERE article = %s AND confirmed_ms IS NULL", (article,))

    def takedowns(self, since_ms: int | None = None) -> list[tuple[ArticleRow, int, int, str, str, str | None]]:
        """Confirmed takedowns, newest confirmation first: (article, first_seen_gone_ms, confirmed_ms, how, url, detail)."""
        query = (
            f"SELECT {A_COLUMNS}, t.first_seen_gone_ms, t.confirmed_ms, t.how, t.url, t.detail"
            " FROM takedowns AS t JOIN articles AS a ON a.rowid = t.article"
            " WHERE t.confirmed_ms IS NOT NULL AND t.confirmed_ms >= %s ORDER BY t.confirmed_ms DESC"
        )
        width = len(ARTICLE_COLUMNS.split(", "))
        return [(ArticleRow(*row[:width]), *row[width:]) for row in self._all(query, (since_ms or 0,))]
