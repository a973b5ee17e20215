"""What the parts of ``PostgresIndex`` share: the connection, statements whose errors are translated, a nestable
``atomic()``, the meta table, and streams of rows that keep memory flat."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from ..rows import ARTICLE_COLUMNS, ArticleRow
from .connect import translated

A_COLUMNS = ", ".join("a." + column for column in ARTICLE_COLUMNS.split(", "))  # the article columns of ``articles AS a``
_cursors = itertools.count()


class Part:
    """The base of each part of ``PostgresIndex``."""

    db: psycopg.Connection[Any]
    url: str

    def _run(self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> psycopg.Cursor[Any]:
        with translated(self.url):
            return self.db.execute(query, params)

    def _one(self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        return self._run(query, params).fetchone()  # a client-side cursor: the rows are here already

    def _all(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._run(query, params).fetchall()

    def _many(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        with translated(self.url), self.db.cursor() as cursor:
            cursor.executemany(query, list(rows))

    def _stream(self, query: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        """Rows from a server-side cursor, a few hundred at a time: memory stays flat over any number of rows. The
        cursor is held (``WITH HOLD``), so the caller may commit transactions while it reads."""
        with translated(self.url), self.db.cursor(name=f"newsarchive_{next(_cursors)}", withhold=True) as cursor:
            cursor.itersize = 500
            cursor.execute(query, params)
            yield from cursor

    def _articles(self, query: str, params: Sequence[Any] = ()) -> list[ArticleRow]:
        return [ArticleRow(*row) for row in self._all(query, params)]

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction; nested calls become savepoints."""
        with translated(self.url), self.db.transaction():
            yield

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
