"""What the index's modules share: the article row and its columns, queries with an IN list of any length, and
``IndexPart``, the base of the mixins that make up ``Index``."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

log = logging.getLogger(__name__)

ARTICLE_COLUMNS = "rowid, source, file_id, path, title, link, guid, pub_ms, fingerprint, first_seen_ms, updated_ms, origin, body_length"


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


class ArticleIndex(Protocol):
    """Articles, their identity keys and their earlier versions (revisions): what the store decides with."""

    def find_many(self, keys: Iterable[str]) -> dict[str, ArticleRow]: ...

    def articles_at(self, paths: Iterable[str]) -> dict[str, ArticleRow]: ...

    def article_at(self, path: str) -> ArticleRow | None: ...

    def add_article(self, row: ArticleRow, keys: Iterable[str]) -> int: ...

    def remove_article(self, path: str) -> None: ...

    def paths_in(self, folder: str) -> set[str]: ...

    def lowest_file_id(self, source: str) -> int | None: ...

    def newest(self, source: str, limit: int) -> list[ArticleRow]: ...

    def newest_overall(self, limit: int) -> list[ArticleRow]: ...

    def oldest_first(self, source: str, offset: int, limit: int) -> list[ArticleRow]: ...

    def articles(self, source: str | None = None) -> Iterator[ArticleRow]: ...

    def changed_since(self, rowid: int, updated_ms: int) -> Iterator[ArticleRow]: ...

    def count(self, source: str) -> int: ...

    def counts(self) -> dict[str, int]: ...

    def sources_present(self) -> list[str]: ...

    def seen_times(self, source: str, limit: int) -> list[int]: ...

    def count_seen_since(self, source: str, since_ms: int) -> int: ...

    def add_revision(
        self, article: int, *, path: str, title: str, link: str | None, pub_ms: int | None, seen_ms: int, fingerprint: str
    ) -> None: ...

    def revision_at(self, path: str) -> tuple[int, str, int] | None: ...

    def article_by_rowid(self, rowid: int) -> ArticleRow | None: ...

    def remove_revision(self, path: str) -> None: ...

    def revisions(self, article: int) -> list[tuple[str, str, int]]: ...

    def versions(self, source: str | None = None, since_ms: int | None = None) -> Iterator[tuple[ArticleRow, str | None, int | None]]: ...

    def articles_with_id(self, source: str, file_id: int) -> list[ArticleRow]: ...


def rows_in(db: sqlite3.Connection, query: str, values: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``query``, whose ``{marks}`` stands for the placeholders of an IN list, for any number of
    values: asked in chunks that SQLite accepts."""
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        yield from db.execute(query.format(marks=", ".join("?" * len(chunk))), chunk)


def read_only_rows_in(path: str, query: str, keys: list[str]) -> list[tuple[Any, ...]]:
    """``rows_in`` on a read-only connection of its own, from any thread or process (WAL lets readers run beside the
    writer); no rows when there is no index yet: everything is new then, and the store decides for certain."""
    if not keys or not os.path.exists(path):
        return []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.DatabaseError:
        return []
    try:
        return list(rows_in(db, query, keys))
    except sqlite3.DatabaseError:
        return []
    finally:
        db.close()


class IndexPart:
    """What each part of ``Index`` (captures, summaries, images, rechecks) has of the whole."""

    db: sqlite3.Connection

    if TYPE_CHECKING:

        def atomic(self) -> AbstractContextManager[None]: ...

        def meta(self, key: str) -> str | None: ...

        def set_meta(self, key: str, value: str) -> None: ...

    def _carry_over(self, old_path: Path, what: str, *statements: str) -> None:
        """Copy ``what`` from the old index (attached as ``old``) in one transaction of its own: an old index without
        those tables loses only them."""
        try:
            with self.atomic():
                for statement in statements:
                    self.db.execute(statement)
        except sqlite3.DatabaseError as exc:
            log.info("%s: no %s carried over: %s", old_path, what, exc)
