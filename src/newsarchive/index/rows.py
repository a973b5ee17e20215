"""What the index's modules share: the article row and its columns, and queries with an IN list of any length."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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
