"""``newsarchive migrate``: move an archive's index between SQLite and PostgreSQL. The files never move.

Every row of every table is copied, row ids included (the search index remembers how far it has read by row id,
so it stays current), into a target that must be empty (``replace``: emptied first), in one transaction: a copy cut
short leaves the target as it was. The archive's lock is held throughout, so no run writes the source meanwhile. The
source is left as it is. ``meta``'s ``schema`` row is SQLite's own record of its schema (PostgreSQL's is
``schema_migrations``), so it is not copied.

The new address is not written into ``newsarchive.toml``: ``publish`` commits that file to every mirror, and a
database address often carries a password. The user sets ``[cluster] database`` or ``NEWSARCHIVE_DATABASE``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import database_address
from .errors import ConfigError
from .index.db import Index
from .store import layout
from .store.atomic import ArchiveLock

if TYPE_CHECKING:
    from .index.postgres import PostgresIndex

SQLITE = "sqlite"


@dataclass(frozen=True)
class MigrateReport:
    source: str  # the SQLite file, or the database's address without its password
    target: str
    rows: dict[str, int]  # table -> rows copied
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "tables": self.rows,
            "rows": sum(self.rows.values()),
            "seconds": round(self.seconds, 3),
        }


def migrate_index(root: Path, database: str | None, to: str, *, replace: bool = False) -> MigrateReport:
    """Copy the index of the archive at ``root``, which is in ``database`` (None: SQLite beside the files), to ``to``:
    ``"sqlite"`` or a PostgreSQL address."""
    if to != SQLITE and not to.startswith(("postgresql://", "postgres://")):
        raise ConfigError("--to must be sqlite or a postgresql:// address", hint="e.g. --to postgresql://user@db.example/news")
    if to == SQLITE and database is None:
        raise ConfigError(
            "the index is in SQLite already (no cluster.database or NEWSARCHIVE_DATABASE is set)",
            hint="to bring an index back from PostgreSQL, set NEWSARCHIVE_DATABASE to its address for this command",
        )
    if database is not None and to != SQLITE and _same_database(database, to):
        raise ConfigError(f"the index is in {database_address(to)} already", hint="give another database with --to")
    from .index.postgres import PostgresIndex  # a ConfigError saying how to install psycopg, when it is missing

    started = time.monotonic()
    index_path = root / layout.INDEX_FILE
    with ArchiveLock(root / layout.LOCK_FILE):
        source: Index | PostgresIndex = Index(index_path, read_only=True) if database is None else PostgresIndex(database, read_only=True)
        try:
            target: Index | PostgresIndex = Index(index_path) if to == SQLITE else PostgresIndex(to)
            try:
                rows = _copy(source, target, replace=replace)
            finally:
                target.close()
        finally:
            source.close()
    where = str(index_path) if to == SQLITE else database_address(to)
    came_from = str(index_path) if database is None else database_address(database)
    return MigrateReport(source=came_from, target=where, rows=rows, seconds=time.monotonic() - started)


def _same_database(one: str, other: str) -> bool:
    return len({database_address(url).replace("postgres://", "postgresql://", 1) for url in (one, other)}) == 1


def _copy(source: Any, target: Any, *, replace: bool) -> dict[str, int]:
    from .index.postgres import PostgresIndex
    from .index.postgres.index import TABLES

    copied: dict[str, int] = {}
    with target.atomic():
        if not replace and not _empty(target, TABLES):
            where = target.address if isinstance(target, PostgresIndex) else str(target.path)
            raise ConfigError(
                f"{where} already holds an index: not overwritten",
                hint="give an empty database, or add --replace to empty this one first (its rows are lost)",
            )
        if replace:
            _clear(target, TABLES)
        for table in TABLES:
            present = set(_columns(source, table))
            columns = [column for column in _columns(target, table) if column in present]
            rows: Iterable[tuple[Any, ...]] = _rows(source, table, columns)
            if table == "meta":
                rows = (row for row in rows if row[columns.index("key")] != "schema")
            copied[table] = _load(target, table, columns, rows)
        if isinstance(target, PostgresIndex):
            target.resync_identities()
    return copied


def _columns(index: Any, table: str) -> list[str]:
    if isinstance(index, Index):
        return [str(row[1]) for row in index.db.execute(f"PRAGMA table_info({table})")]
    return index.columns(table)  # type: ignore[no-any-return]


def _rows(index: Any, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    if isinstance(index, Index):
        yield from index.db.execute(f"SELECT {_quoted(columns)} FROM {table}")
    else:
        yield from index.table_rows(table, columns)


def _load(index: Any, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
    if not isinstance(index, Index):
        return index.load_rows(table, columns, rows)  # type: ignore[no-any-return]
    count = 0

    def counted() -> Iterator[tuple[Any, ...]]:
        nonlocal count
        for row in rows:
            count += 1
            yield row

    index.db.executemany(f"INSERT INTO {table} ({_quoted(columns)}) VALUES ({', '.join('?' * len(columns))})", counted())
    return count


def _empty(index: Any, tables: tuple[str, ...]) -> bool:
    if not isinstance(index, Index):
        return index.is_empty()  # type: ignore[no-any-return]
    return not any(
        index.db.execute(f"SELECT 1 FROM {table} {_BUT_SCHEMA if table == 'meta' else ''} LIMIT 1").fetchone() for table in tables
    )


def _clear(index: Any, tables: tuple[str, ...]) -> None:
    if not isinstance(index, Index):
        index.clear()
        return
    for table in reversed(tables):
        index.db.execute(f"DELETE FROM {table} {_BUT_SCHEMA if table == 'meta' else ''}")


_BUT_SCHEMA = "WHERE key <> 'schema'"


def _quoted(columns: list[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)  # "offset" is a reserved word in PostgreSQL
