"""Rechecks of recent articles' pages and the takedowns they find (recheck.py): the rechecks and takedowns tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from .rows import ARTICLE_COLUMNS, ArticleRow, IndexPart

RECHECKS_SCHEMA = """\
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


class RecheckIndex(Protocol):
    """Rechecks of articles' pages and the takedowns they find (recheck.py)."""

    def due_rechecks(
        self,
        since_ms: int,
        now_ms: int,
        limit: int,
        *,
        first_gap_ms: int = 0,
        first_gaps: Mapping[str, int] | None = None,
        every: bool = False,
    ) -> list[ArticleRow]: ...

    def recheck_state(self, article: int) -> tuple[int, str | None]: ...

    def save_recheck(self, article: int, next_ms: int | None, checks: int, status: str, page_hash: str | None) -> None: ...

    def takedown(self, article: int) -> tuple[int, int | None, str, str, str | None] | None: ...

    def save_takedown(
        self, article: int, first_seen_gone_ms: int, confirmed_ms: int | None, how: str, url: str, detail: str | None
    ) -> None: ...

    def forget_takedown(self, article: int) -> None: ...

    def takedowns(self, since_ms: int | None = None) -> list[tuple[ArticleRow, int, int, str, str, str | None]]: ...


class RecheckQueries(IndexPart):
    """The rechecks and takedowns part of ``Index``."""

    def _carry_over_rechecks(self, old_path: Path) -> None:
        # By path: row ids change in a rebuild, and a takedown stays one whatever the file's version.
        statements = []
        for table, columns in (
            ("rechecks", "next_ms, checks, last_status, page_hash"),
            ("takedowns", "first_seen_gone_ms, confirmed_ms, how, url, detail"),
        ):
            picked = ", ".join(f"t.{column}" for column in columns.split(", "))
            statements.append(
                f"INSERT OR IGNORE INTO {table} (article, {columns}) SELECT a.rowid, {picked} FROM old.{table} AS t"
                " JOIN old.articles AS o ON o.rowid = t.article JOIN articles AS a ON a.path = o.path"
            )
        self._carry_over(old_path, "rechecks or takedowns", *statements)

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
        """Articles first seen since ``since_ms`` whose recheck is due (never rechecked ones ``first_gap_ms`` after they
        were first seen, or their outlet's gap in ``first_gaps``; all of them with ``every``), least recently due first;
        confirmed takedowns are never rechecked."""
        gaps = dict(first_gaps or {})
        gap = "CASE a.source " + "WHEN ? THEN ? " * len(gaps) + "ELSE ? END" if gaps else "?"
        due = "" if every else f" AND (r.article IS NULL AND a.first_seen_ms + {gap} <= ? OR r.next_ms <= ?)"
        query = (
            f"SELECT {', '.join('a.' + c for c in ARTICLE_COLUMNS.split(', '))} FROM articles AS a"
            " LEFT JOIN rechecks AS r ON r.article = a.rowid LEFT JOIN takedowns AS t ON t.article = a.rowid"
            f" WHERE a.first_seen_ms >= ? AND a.link IS NOT NULL AND t.confirmed_ms IS NULL{due}"
            " ORDER BY coalesce(r.next_ms, a.first_seen_ms) LIMIT ?"
        )
        cases = [value for slug, ms in gaps.items() for value in (slug, ms)]
        values = (since_ms, limit) if every else (since_ms, *cases, first_gap_ms, now_ms, now_ms, limit)
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
            f"SELECT {', '.join('a.' + c for c in ARTICLE_COLUMNS.split(', '))},"
            " t.first_seen_gone_ms, t.confirmed_ms, t.how, t.url, t.detail FROM takedowns AS t JOIN articles AS a ON a.rowid = t.article"
            " WHERE t.confirmed_ms IS NOT NULL AND t.confirmed_ms >= ?"
            " ORDER BY t.confirmed_ms DESC"
        )
        width = len(ARTICLE_COLUMNS.split(", "))
        return [(ArticleRow(*row[:width]), *row[width:]) for row in self.db.execute(query, (since_ms or 0,))]
