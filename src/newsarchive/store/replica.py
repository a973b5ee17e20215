"""A reader's copy of an archive on another machine, kept current from the outbox in PostgreSQL.

The archive's machine publishes every file a page is made from (``layout.REPLICATED_*``: articles, revisions, lists,
README, media, takedowns, health, newsarchive.toml; not WARC captures) into the outbox of its index's database as it
commits them (``Store.batch``, ``Store.published``). A reader (``serve --database``) copies them into a cache folder of
its own, written atomically, and indexes the articles among them into a tantivy search index of its own in that folder.
Its progress (the outbox's epoch and the last ``seq`` applied, files and search alike) is a small file in the cache,
``.newsarchive/replica.json``: the index in the database is opened read-only and never written. The reader reads the
index itself (lists, articles' rows, health, takedowns) from the database, as the archive's machine does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Self

from ..config import Settings, database_address, load_settings
from ..errors import ArchiveNotFoundError, ArticleFileError, StorageError
from ..html import plain_text
from ..index.postgres.index import PostgresIndex
from ..index.postgres.outbox import EPOCH
from ..index.search import SearchDoc
from . import layout
from .atomic import ArchiveLock, AtomicBatch, storage_errors
from .store import Store

log = logging.getLogger(__name__)

STATE_FILE = f"{layout.HIDDEN}/replica.json"
_PAGE = 500  # outbox rows fetched and applied at a time
_COMMIT_EVERY = 5000  # articles added to the search index between its commits (and saves of the place reached)


def default_cache(url: str) -> Path:
    """``~/.cache/newsarchive/<hash of the database's address>`` (``$XDG_CACHE_HOME`` where set)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "newsarchive" / hashlib.sha256(database_address(url).encode()).hexdigest()[:16]


class ReplicaStore(Store):
    """The cache folder as a read-only store over the index in the database. Its search index is searched as it is:
    ``Replica.catch_up`` keeps it current, and the progress the store keeps in the index is the archive's, not its."""

    def _search_needs_sync(self) -> bool:
        return False


class Replica:
    """The copy in ``cache`` of the archive whose index is in the PostgreSQL database ``url``."""

    def __init__(self, url: str, cache: Path) -> None:
        self.url = url
        self.cache = cache.absolute()
        self._lock = ArchiveLock(self.cache / layout.LOCK_FILE)
        self._index: PostgresIndex | None = None
        self._store: ReplicaStore | None = None

    @classmethod
    def open(cls, url: str, cache: Path) -> Self:
        """Take the cache folder (one reader at a time: ``ArchiveLockedError``), connect to the database read-only and
        check that an archive has published to it (``ArchiveNotFoundError``)."""
        replica = cls(url, cache)
        try:
            with storage_errors(replica.cache):
                replica.cache.mkdir(parents=True, exist_ok=True)
            replica._lock.acquire()
            replica._index = PostgresIndex(url, read_only=True)
            if replica._index.meta(EPOCH) is None and replica._state() == (None, 0):
                raise ArchiveNotFoundError(
                    f"{database_address(url)}: no archive has published its files there yet",
                    hint="run `newsarchive update` on the archive's machine, with this database in [cluster] database, then start again",
                )
        except BaseException:
            replica.close()
            raise
        return replica

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._index is not None:
            self._index.close()
            self._index = None
        self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def index(self) -> PostgresIndex:
        if self._index is None:
            raise ValueError("the replica is closed")
        return self._index

    def settings(self) -> Settings:
        """The archive's newsarchive.toml, as copied, with this reader's database address."""
        settings = load_settings(self.cache)
        return replace(settings, cluster=replace(settings.cluster, database=self.url))

    def store(self) -> ReplicaStore:
        """The cache as a read-only store (its settings read once, on first use)."""
        if self._store is None:
            self._store = ReplicaStore(self.cache, self.settings(), read_only=True)
        return self._store

    # progress ---------------------------------------------------------------------------------

    def _state(self) -> tuple[str | None, int]:
        try:
            state = json.loads((self.cache / STATE_FILE).read_text(encoding="utf-8"))
            return state["epoch"], int(state["seq"])
        except FileNotFoundError:
            return None, 0
        except (ValueError, KeyError, TypeError, OSError) as exc:
            log.warning("%s cannot be read (%s): copying the archive again", self.cache / STATE_FILE, exc)
            return None, 0

    def _save_state(self, epoch: str, seq: int) -> None:
        batch = AtomicBatch()
        batch.write(self.cache / STATE_FILE, json.dumps({"epoch": epoch, "seq": seq}).encode())
        batch.commit()

    # catching up ------------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply what the outbox holds after this copy's place, and index the articles among it; returns the files
        applied. An outbox with a new epoch (the archive's index was rebuilt) is copied again from the start."""
        epoch, seq = self._state()
        current = self.index.meta(EPOCH)
        if current is None:
            return 0  # nothing published yet, or the index is being rebuilt: keep what we have
        if current != epoch:
            if epoch is not None:
                log.warning("the archive's index was rebuilt: copying its files again")
            self._forget()
            seq = 0
        applied = pending = 0
        while rows := self.index.outbox_since(seq, _PAGE):
            batch = AtomicBatch()
            articles: list[str] = []
            for _, path, data in rows:
                if not layout.replicated(path):
                    log.warning("the outbox names %s, which readers do not copy: skipped", path)
                    continue
                target = self.cache / path
                if data is None:
                    with storage_errors(target):
                        target.unlink(missing_ok=True)
                else:
                    batch.write(target, data)
                if path.startswith(layout.ARTICLES + "/"):
                    articles.append(path)
            batch.commit()
            pending += self._index_search(articles)
            seq = rows[-1][0]
            applied += len(rows)
            if pending >= _COMMIT_EVERY or len(rows) < _PAGE:  # a search commit costs a tenth of a second or more
                self._commit_search()
                self._save_state(current, seq)
                pending = 0
        if pending:
            self._commit_search()
        if applied:
            self._save_state(current, seq)
        return applied

    def _forget(self) -> None:
        """Remove the copied files and the search index: the copy starts again."""
        with storage_errors(self.cache):
            for top in (*layout.REPLICATED_FOLDERS, layout.SEARCH_DIR):
                shutil.rmtree(self.cache / top, ignore_errors=True)
            for name in (*layout.REPLICATED_FILES, STATE_FILE):
                (self.cache / name).unlink(missing_ok=True)
        if self._store is not None:
            self._store.close()  # its search index is gone

    def _index_search(self, paths: Iterable[str]) -> int:
        """Add these articles (as the database's rows and the copied files have them) to this copy's search; returns
        how many (``_commit_search`` makes them searchable)."""
        rows = self.index.articles_at(paths)
        if not rows:
            return 0
        store = self.store()
        docs: list[SearchDoc] = []
        for row in rows.values():
            try:
                text = plain_text(store.read(row.path).body)
            except (OSError, ValueError, ArticleFileError) as exc:  # removed since, or not yet copied: a later row brings it
                log.info("%s: not searchable yet: %s", row.path, exc)
                continue
            docs.append(SearchDoc(path=row.path, source=row.source, title=row.title, pub_ms=row.pub_ms or 0, text=text))
        with self._search_errors():
            return self.store().search_index.add(docs)

    def _commit_search(self) -> None:
        with self._search_errors():
            self.store().search_index.commit()

    @contextmanager
    def _search_errors(self) -> Iterator[None]:
        try:
            yield
        except (ValueError, OSError) as exc:  # tantivy's
            raise StorageError(f"{self.cache / layout.SEARCH_DIR}: the search index cannot be written: {exc}") from exc
