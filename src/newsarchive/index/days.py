"""What the reader's daily digest and status pages ask of the index: articles by day of publication, the last run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..times import DAY_MS
from .rows import ARTICLE_COLUMNS, ArticleRow, IndexPart


class DayIndex(Protocol):
    """Articles by day of publication, and the last run: what the digest and status pages ask."""

    def days(self, offset_ms: int) -> list[tuple[int, int]]: ...

    def published_between(self, since_ms: int, until_ms: int) -> list[ArticleRow]: ...

    def around(self, since_ms: int, until_ms: int) -> tuple[int | None, int | None]: ...

    def by_publication(self) -> Iterator[ArticleRow]: ...

    def last_run_ms(self) -> int | None: ...


class DayQueries(IndexPart):
    """Articles by publication time (``articles_by_date``), and when the last run started."""

    def days(self, offset_ms: int) -> list[tuple[int, int]]:
        """(day, articles published that day), newest first; a day is counted from 1970-01-01 in the time zone
        ``offset_ms`` ahead of UTC. Read from ``articles_by_date`` alone."""
        shifted = "(pub_ms + ?1)"
        day = f"({shifted} / {DAY_MS} - ({shifted} % {DAY_MS} < 0))"  # floor, also before 1970
        query = f"SELECT {day} AS day, count(*) FROM articles WHERE pub_ms IS NOT NULL GROUP BY day ORDER BY day DESC"
        return [(int(found), int(count)) for found, count in self.db.execute(query, (offset_ms,))]

    def published_between(self, since_ms: int, until_ms: int) -> list[ArticleRow]:
        """Articles published at or after ``since_ms`` and before ``until_ms``, newest first."""
        query = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE pub_ms >= ? AND pub_ms < ? ORDER BY pub_ms DESC, rowid DESC"
        return [ArticleRow(*row) for row in self.db.execute(query, (since_ms, until_ms))]

    def around(self, since_ms: int, until_ms: int) -> tuple[int | None, int | None]:
        """(the first publication time at or after ``until_ms``, the last one before ``since_ms``): the neighbours of
        a stretch of time, each one step down ``articles_by_date``."""
        after = self.db.execute("SELECT min(pub_ms) FROM articles WHERE pub_ms >= ?", (until_ms,)).fetchone()[0]
        before = self.db.execute("SELECT max(pub_ms) FROM articles WHERE pub_ms < ?", (since_ms,)).fetchone()[0]
        return after, before

    def by_publication(self) -> Iterator[ArticleRow]:
        """Every dated article, oldest publication first, from one cursor (memory stays flat)."""
        query = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE pub_ms IS NOT NULL ORDER BY pub_ms, rowid"
        for row in self.db.execute(query):
            yield ArticleRow(*row)

    def last_run_ms(self) -> int | None:
        """When the last update of any outlet started (None: never)."""
        found = self.db.execute("SELECT max(started_ms) FROM runs").fetchone()[0]
        return int(found) if found is not None else None
