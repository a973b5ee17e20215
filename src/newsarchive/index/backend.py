"""The index as the store sees it: one protocol per concern, and the one place an index is opened.

Each concern's protocol lives beside its row types (rows.py: articles; feeds.py; files.py; days.py; summaries.py;
images.py: media; captures.py; rechecks.py). ``IndexBackend`` is all of them with the transaction, the meta values
and the journal; ``Index`` (db.py, SQLite) is today's one implementation. A backend goes here: ``open_index`` picks it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .captures import CaptureIndex
from .days import DayIndex
from .feeds import FeedIndex
from .files import FileIndex
from .images import MediaIndex
from .rechecks import RecheckIndex
from .rows import ArticleIndex
from .summaries import IndexReader, SummaryIndex


class IndexBackend(ArticleIndex, FeedIndex, FileIndex, DayIndex, SummaryIndex, MediaIndex, CaptureIndex, RecheckIndex, Protocol):
    """An archive's whole index: every concern, one nestable transaction (``atomic``), meta values and the journal of
    the files a run is writing (store.py's ``apply`` and ``recover``)."""

    def reader(self) -> IndexReader:
        """What workers ask of the index, read-only, from any thread or process."""
        ...

    def close(self) -> None: ...

    def check_readable(self) -> None: ...

    def atomic(self) -> AbstractContextManager[None]: ...

    def carry_over_from(self, old_path: Path | str) -> None:
        """Keep the operational memory of the index at ``old_path`` (a rebuild's last step): a file (SQLite) or a
        schema of the same database (PostgreSQL)."""
        ...

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def journal_add(self, items: Iterable[str]) -> None: ...

    def journal_items(self) -> list[str]: ...

    def journal_clear(self, items: Iterable[str]) -> None: ...


def open_index(path: Path, *, database: str | None = None, read_only: bool = False, patient: bool = False) -> IndexBackend:
    """The archive's index: in the PostgreSQL ``database`` (``[cluster] database``), else SQLite at ``path``
    (``.newsarchive/index.sqlite``). ``read_only``: for commands that only read. ``patient``: a second connection that
    writes beside the store's (WARC captures) and waits up to a minute for the store's transactions rather than
    failing (PostgreSQL's row locks wait by themselves)."""
    if database:
        from .postgres import PostgresIndex

        return PostgresIndex(database, read_only=read_only)
    from .db import Index

    index = Index(path, read_only=read_only)
    if patient:
        index.db.execute("PRAGMA busy_timeout = 60000")
    return index


class Rebuild:
    """A new, empty index beside the archive's (``reindex``), filled from the files, then put in its place carrying over
    what the files cannot tell: a file beside the SQLite one, or a schema beside the PostgreSQL one."""

    def __init__(self, path: Path, database: str | None) -> None:
        self.path = path
        self.database = database
        self.fresh_path = path.with_name(path.name + ".rebuild")

    def open(self) -> IndexBackend:
        if self.database:
            from .postgres.index import PostgresIndex

            PostgresIndex.drop_schema(self.database, REBUILD_SCHEMA)  # what a killed rebuild left
            return PostgresIndex(self.database, schema=REBUILD_SCHEMA)
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.fresh_path) + suffix).unlink(missing_ok=True)
        return open_index(self.fresh_path)

    def carry_over(self, fresh: IndexBackend) -> None:
        """Keep the old index's operational memory (feed state, runs, guids, first-seen times...) when it can be read."""
        if self.database:
            from .postgres.index import DEFAULT_SCHEMA

            fresh.carry_over_from(DEFAULT_SCHEMA)
        else:
            fresh.carry_over_from(self.path)

    def replace(self, fresh: IndexBackend) -> None:
        """The rebuilt index takes the old one's place (and is closed)."""
        if self.database:
            from .postgres.index import DEFAULT_SCHEMA, PostgresIndex

            assert isinstance(fresh, PostgresIndex)
            fresh.take_place_of(DEFAULT_SCHEMA)
            fresh.close()
            return
        fresh.close()
        for suffix in ("-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        os.replace(self.fresh_path, self.path)


REBUILD_SCHEMA = "newsarchive_rebuild"


if TYPE_CHECKING:  # mypy holds each implementation to the protocols
    from .db import Index
    from .postgres.index import PostgresIndex, PostgresReader
    from .summaries import SqliteReader

    def _sqlite(index: Index, reader: SqliteReader) -> tuple[IndexBackend, IndexReader]:
        return index, reader

    def _postgres(index: PostgresIndex, reader: PostgresReader) -> tuple[IndexBackend, IndexReader]:
        return index, reader
