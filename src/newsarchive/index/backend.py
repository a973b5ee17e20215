"""The index as the store sees it: one protocol per concern, and the one place an index is opened.

Each concern's protocol lives beside its row types (rows.py: articles; feeds.py; files.py; days.py; summaries.py;
images.py: media; captures.py; rechecks.py). ``IndexBackend`` is all of them with the transaction, the meta values
and the journal; ``Index`` (db.py, SQLite) is today's one implementation. A backend goes here: ``open_index`` picks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

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

    def carry_over_from(self, old_path: Path) -> None: ...

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def journal_add(self, items: Iterable[str]) -> None: ...

    def journal_items(self) -> list[str]: ...

    def journal_clear(self, items: Iterable[str]) -> None: ...


def open_index(path: Path, *, read_only: bool = False, patient: bool = False) -> IndexBackend:
    """The archive's index: SQLite at ``path`` (``.newsarchive/index.sqlite``). ``read_only``: for commands that only
    read. ``patient``: a second connection that writes beside the store's (WARC captures) and waits up to a minute for
    the store's transactions rather than failing."""
    from .db import Index

    index = Index(path, read_only=read_only)
    if patient:
        index.db.execute("PRAGMA busy_timeout = 60000")
    return index
