"""Images articles show (media.py) in the index: the media, article_images and images_read tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .rows import ARTICLE_COLUMNS, ArticleRow, IndexPart, rows_in

MEDIA_DIR = "media"
OK, FAILED, SKIPPED = "ok", "failed", "skipped"  # a media row's status


def media_path(sha256: str, ext: str) -> str:
    """The address of a stored image relative to the archive, e.g. media/ab/ab12….jpg."""
    return f"{MEDIA_DIR}/{sha256[:2]}/{sha256}.{ext}"


@dataclass(frozen=True)
class MediaRow:
    url: str
    sha256: str | None
    ext: str | None
    bytes: int | None
    status: str
    failures: int
    next_try_ms: int | None
    last_error: str | None

    @property
    def path(self) -> str | None:
        return media_path(self.sha256, self.ext) if self.status == OK and self.sha256 and self.ext else None


@dataclass(frozen=True)
class MediaStats:
    images: int  # stored files
    bytes: int
    failed: int  # addresses that failed at least once and have no copy
    pending: int  # addresses shown by articles and not tried yet
    skipped: int  # 1x1 pixels


_QUEUE_FILLED = "media:queue"  # meta: media_queue holds every address shown and never tried
# The addresses due, newest articles' first, with the outlets showing them: from the queue and the failed images
# due, never from every address that articles show (1.5 million for 500,000 articles: half a second a run).
MEDIA_DUE = (
    "SELECT d.url, (SELECT group_concat(DISTINCT a.source) FROM article_images AS i JOIN articles AS a ON a.rowid = i.article"
    " WHERE i.url = d.url) FROM ("
    " SELECT url, article FROM media_queue AS q WHERE EXISTS (SELECT 1 FROM article_images WHERE url = q.url)"
    " UNION ALL SELECT m.url, (SELECT max(article) FROM article_images WHERE url = m.url) FROM media AS m"
    " WHERE m.status = 'failed' AND m.next_try_ms <= ? AND EXISTS (SELECT 1 FROM article_images WHERE url = m.url))"
    " AS d ORDER BY d.article DESC LIMIT ?"
)

MEDIA_SCHEMA = """\
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
CREATE INDEX IF NOT EXISTS media_failed ON media (next_try_ms) WHERE status = 'failed';
CREATE TABLE IF NOT EXISTS media_queue (  -- addresses articles show that were never tried: what media_due starts from
    url TEXT PRIMARY KEY,
    article INTEGER NOT NULL            -- the newest article showing it: newer articles' images come first
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS media_queue_by_article ON media_queue (article);
CREATE TABLE IF NOT EXISTS images_read (  -- articles whose current images are in article_images: the backfill skips them
    article INTEGER PRIMARY KEY REFERENCES articles (rowid) ON DELETE CASCADE
);
"""


class MediaIndex(Protocol):
    """The images articles show and their stored copies (media.py)."""

    def set_article_images(self, article: int, urls: Iterable[str]) -> None: ...

    def mark_images_read(self, articles: Iterable[int]) -> None: ...

    def count_images_unread(self) -> int: ...

    def images_unread(self, limit: int, after: tuple[int | None, int] | None = None) -> list[ArticleRow]: ...

    def media_due(self, now_ms: int, limit: int) -> list[tuple[str, set[str]]]: ...

    def media_row(self, url: str) -> MediaRow | None: ...

    def media_rows(self, urls: Iterable[str]) -> list[MediaRow]: ...

    def save_media(self, row: MediaRow) -> None: ...

    def article_images(self, article: int) -> list[str]: ...

    def media_stats(self) -> MediaStats: ...

    def referenced_media_paths(self) -> set[str]: ...

    def count_unreferenced_media(self) -> int: ...

    def forget_unreferenced_media(self) -> None: ...

    def local_images_by_article(self) -> dict[int, list[tuple[str, str]]]: ...

    def stored_media(self) -> list[tuple[str, str]]: ...

    def fetch_media_again(self, sha256: str, reason: str) -> None: ...


class MediaQueries(IndexPart):
    """The media part of ``Index``."""

    def _carry_over_media(self, old_path: Path) -> None:
        self._carry_over(
            old_path,
            "media",
            "INSERT OR IGNORE INTO media SELECT * FROM old.media",
            "INSERT OR IGNORE INTO article_images (article, url) SELECT a.rowid, i.url FROM old.article_images AS i"
            " JOIN old.articles AS o ON o.rowid = i.article JOIN articles AS a ON a.path = o.path",
        )
        self._fill_media_queue()
        # Apart: an index older than the backfill has no images_read, and its articles are simply read again. A file
        # that changed since is read again too: only the same version stays read.
        self._carry_over(
            old_path,
            "record of the articles whose images were read",
            "INSERT OR IGNORE INTO images_read (article) SELECT a.rowid FROM old.images_read AS r"
            " JOIN old.articles AS o ON o.rowid = r.article JOIN articles AS a ON a.path = o.path AND a.fingerprint = o.fingerprint",
        )

    def set_article_images(self, article: int, urls: Iterable[str]) -> None:
        """The images an article shows, replacing those it showed; the article counts as read (``images_read``)."""
        urls = list(dict.fromkeys(urls))
        shown_before = set(self.article_images(article))
        self.db.execute("DELETE FROM article_images WHERE article = ?", (article,))
        self.db.executemany("INSERT OR IGNORE INTO article_images (article, url) VALUES (?, ?)", ((article, url) for url in urls))
        self.db.executemany(
            "INSERT INTO media_queue (url, article) SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM media WHERE url = ?1)"
            " ON CONFLICT (url) DO UPDATE SET article = max(article, excluded.article)",
            ((url, article) for url in urls),
        )
        # Addresses this article no longer shows leave the queue when no other article shows them (signed addresses
        # that change with every version would otherwise pile up in it).
        self.db.executemany(
            "DELETE FROM media_queue WHERE url = ?1 AND NOT EXISTS (SELECT 1 FROM article_images WHERE url = ?1)",
            ((url,) for url in shown_before.difference(urls)),
        )
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
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE {dated} AND {unread} ORDER BY pub_ms DESC, rowid DESC LIMIT ?",
                (*values, limit),
            ).fetchall()
        if len(rows) < limit:
            below = after[1] if after is not None and after[0] is None else 2**62
            rows += self.db.execute(
                f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE pub_ms IS NULL AND rowid < ? AND {unread} ORDER BY rowid DESC LIMIT ?",
                (below, limit - len(rows)),
            ).fetchall()
        return [ArticleRow(*row) for row in rows]

    def _fill_media_queue(self) -> None:
        """Queue every address shown and never tried, once: for an index made before the queue, and after a reindex."""
        if self.meta(_QUEUE_FILLED) is not None:
            return
        with self.atomic():
            self.db.execute(
                "INSERT OR IGNORE INTO media_queue (url, article) SELECT i.url, max(i.article) FROM article_images AS i"
                " WHERE NOT EXISTS (SELECT 1 FROM media WHERE url = i.url) GROUP BY i.url"
            )
            self.set_meta(_QUEUE_FILLED, "1")

    def media_due(self, now_ms: int, limit: int) -> list[tuple[str, set[str]]]:
        """Image addresses to fetch now (never tried, or failed and due), newest articles' first, with the outlets
        showing them."""
        self._fill_media_queue()
        rows = self.db.execute(MEDIA_DUE, (now_ms, limit))
        return [(str(url), set(str(sources).split(","))) for url, sources in rows]

    def media_row(self, url: str) -> MediaRow | None:
        row = self.db.execute("SELECT * FROM media WHERE url = ?", (url,)).fetchone()
        return MediaRow(*row) if row else None

    def media_rows(self, urls: Iterable[str]) -> list[MediaRow]:
        return [MediaRow(*row) for row in rows_in(self.db, "SELECT * FROM media WHERE url IN ({marks})", urls)]

    def save_media(self, row: MediaRow) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO media VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (row.url, row.sha256, row.ext, row.bytes, row.status, row.failures, row.next_try_ms, row.last_error),
        )
        self.db.execute("DELETE FROM media_queue WHERE url = ?", (row.url,))

    def article_images(self, article: int) -> list[str]:
        return [str(url) for (url,) in self.db.execute("SELECT url FROM article_images WHERE article = ?", (article,))]

    def media_stats(self) -> MediaStats:
        files, size = self.db.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM (SELECT DISTINCT sha256, ext, bytes FROM media WHERE status = 'ok')"
        ).fetchone()
        failed, skipped = self.db.execute(
            "SELECT count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'skipped') FROM media"
        ).fetchone()
        self._fill_media_queue()
        (pending,) = self.db.execute(
            "SELECT count(*) FROM media_queue AS q WHERE EXISTS (SELECT 1 FROM article_images WHERE url = q.url)"
        ).fetchone()
        return MediaStats(images=int(files), bytes=int(size), failed=int(failed), pending=int(pending), skipped=int(skipped))

    def referenced_media_paths(self) -> set[str]:
        """media/… paths of stored images some article shows."""
        rows = self.db.execute(
            "SELECT DISTINCT m.sha256, m.ext FROM media AS m WHERE m.status = 'ok' AND m.url IN (SELECT url FROM article_images)"
        )
        return {media_path(str(sha256), str(ext)) for sha256, ext in rows}

    def count_unreferenced_media(self) -> int:
        (count,) = self.db.execute("SELECT count(*) FROM media WHERE url NOT IN (SELECT url FROM article_images)").fetchone()
        return int(count)

    def forget_unreferenced_media(self) -> None:
        self.db.execute("DELETE FROM media WHERE url NOT IN (SELECT url FROM article_images)")
        self.db.execute("DELETE FROM media_queue WHERE url NOT IN (SELECT url FROM article_images)")

    def local_images_by_article(self) -> dict[int, list[tuple[str, str]]]:
        """article rowid -> (address, media/… path) of each of its images with a stored copy, in one query (the static site)."""
        found: dict[int, list[tuple[str, str]]] = {}
        rows = self.db.execute(
            "SELECT i.article, i.url, m.sha256, m.ext FROM article_images AS i JOIN media AS m ON m.url = i.url"
            " WHERE m.status = 'ok' ORDER BY i.article, i.url"
        )
        for article, url, sha256, ext in rows:
            found.setdefault(int(article), []).append((str(url), media_path(str(sha256), str(ext))))
        return found

    def stored_media(self) -> list[tuple[str, str]]:
        """(sha256, ext) of every image file kept."""
        return [(str(sha), str(ext)) for sha, ext in self.db.execute("SELECT DISTINCT sha256, ext FROM media WHERE status = 'ok'")]

    def fetch_media_again(self, sha256: str, reason: str) -> None:
        """The stored copy of these bytes is gone: the addresses that gave it are downloaded again by the next run."""
        self.db.execute(
            "UPDATE media SET status = 'failed', sha256 = NULL, ext = NULL, bytes = NULL, failures = 0, next_try_ms = 0, last_error = ?"
            " WHERE sha256 = ? AND status = 'ok'",
            (reason, sha256),
        )
