"""The store: duty-machine files on disk plus the index beside them.

Every change goes the same way: decide against the index, journal the paths about to be
written and commit the index, write the files (atomically, as one batch), regenerate the
lists that changed, clear the journal. A run killed anywhere in between leaves valid files,
and ``recover()`` at the start of the next run makes the index agree with them again.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from ..config import Settings, load_settings, render_config
from ..errors import ArchiveError, ArchiveLockedError, ArchiveNotFoundError, ArticleFileError, ConfigError, StorageError
from ..index import ArticleRow
from ..index.backend import IndexBackend, Rebuild, open_index
from ..index.feeds import ReadItem
from ..index.search import Hit, SearchBackend, SearchDoc, open_search, query_terms, search_present, snippet
from ..models import Article, ImportReport
from ..sources import Source
from . import layout
from .atomic import TMP_SUFFIX, ArchiveLock, AtomicBatch, write_if_changed
from .damage import make_way, record_written
from .fileformat import ArticleFile, ListEntry, parse_article, render_list, render_readme
from .folder import StrPath
from .staging import StagedArticle, clear_incoming, render_bytes
from .takedowns import index_takedown_files

if TYPE_CHECKING:
    from ..index.postgres.outbox import OutboxQueries

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


def _now_ms() -> int:
    return int(time.time() * 1000)


def _merge(articles: Iterable[Article | StagedArticle]) -> tuple[list[StagedArticle], list[str]]:
    """One entry per article, oldest first: an article that several feeds of an outlet carry keeps the
    fullest body. Also returns the staged files of the entries left out."""
    unique: dict[str, StagedArticle] = {}
    aliases: dict[str, str] = {}
    dropped: list[str] = []
    for entry in articles:
        item = entry if isinstance(entry, StagedArticle) else StagedArticle(entry, len(entry.body))
        keys = item.article.keys
        first = next((aliases[key] for key in keys if key in aliases), None)
        if first is None:
            first = keys[0]
            unique[first] = item
        else:
            loser = item
            if item.body_length > unique[first].body_length:
                loser, unique[first] = unique[first], item
            if loser.staged:
                dropped.append(loser.staged)
        for key in keys:
            aliases.setdefault(key, first)
    return sorted(unique.values(), key=lambda item: item.article.pub_ms or 0), dropped


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "-"


def _warn_unreadable(unreadable: list[str], what: str) -> None:
    """One line for article files that could not be read, however many: the first, and how many more."""
    if unreadable:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        log.warning("%s%s: %s; `newsarchive check` lists them, `update` restores those their feeds still carry", unreadable[0], more, what)


def _shorter_copy(row: ArticleRow, item: StagedArticle, *, beside_stored: bool) -> bool:
    """A shorter body from another feed of the outlet than the one that gave the stored version: the same
    article as a summary beside a full text, not an edit. (Edits are seen through the feed that gave it.)
    ``beside_stored``: a feed carries the article unchanged in this run, not read again (worker.prepare_feed); a copy
    as long as the stored one is no edit either then, as when both were read and the one first stood."""
    feed = item.article.feed
    if not (row.origin and feed and feed != row.origin and row.body_length):
        return False
    return item.body_length <= row.body_length if beside_stored else item.body_length < row.body_length


class Store:
    """An archive folder: ``articles/``, ``lists/``, ``README.md``, ``revisions/`` and ``.newsarchive/``."""

    def __init__(self, root: Path, settings: Settings, *, read_only: bool = False) -> None:
        self.root = root
        self.settings = settings
        self.read_only = read_only  # a command that only reads: the index is opened so that nothing is written
        self._index: IndexBackend | None = None
        self._search: SearchBackend | None = None
        self._fresh_fields: dict[str, tuple[str, str]] = {}  # path -> search fields its worker made (_put, _sync_search)

    @property
    def index(self) -> IndexBackend:
        """The index, opened on first use (so that ``reindex`` can replace one that no longer opens)."""
        if self._index is None:
            self._index = open_index(self.root / layout.INDEX_FILE, database=self.database, read_only=self.read_only)
        return self._index

    @property
    def database(self) -> str | None:
        """The PostgreSQL database that holds the index (``[cluster] database``), or None: SQLite beside the files."""
        return self.settings.cluster.database

    def batch(self) -> AtomicBatch:
        """An atomic batch of writes to the archive; in a cluster, what it commits is published to the readers."""
        return AtomicBatch(on_commit=self.published if self.database and not self.read_only else None)

    def published(self, paths: Iterable[StrPath]) -> None:
        """In a cluster, publish these files' current state (their bytes, or their absence) to the readers on other
        machines, through the outbox in the database (``store/replica.py``); paths they do not copy are left out."""
        if not self.database or self.read_only:
            return
        files: list[tuple[str, bytes | None]] = []
        for path in paths:
            relative = Path(os.path.relpath(path, self.root)).as_posix()
            if layout.replicated(relative):
                try:
                    files.append((relative, (self.root / relative).read_bytes()))
                except FileNotFoundError:
                    files.append((relative, None))
        if files:
            self._outbox().outbox_put(files)

    def _outbox(self) -> OutboxQueries:
        from ..index.postgres.outbox import OutboxQueries

        index = self.index
        if not isinstance(index, OutboxQueries):  # a cluster's index is in PostgreSQL
            raise TypeError(f"the index has no outbox: {index!r}")
        return index

    def publish_all(self, *, again: bool = False) -> None:
        """In a cluster, make sure the outbox holds every file the readers copy: all of them the first time (or
        ``again``), else the configuration when it changed since (``outlets`` and hands edit it outside any batch). At
        the start of every locked run (``recover``)."""
        if not self.database or self.read_only:
            return
        from ..index.postgres.outbox import EPOCH

        outbox = self._outbox()
        if again or not self.index.meta(EPOCH) or outbox.outbox_empty():
            log.info("publishing the archive's files to the readers (the outbox)")
            self.published(self.root / name for name in layout.REPLICATED_FILES)  # the settings first: readers need them
            files = (
                path
                for top in layout.REPLICATED_FOLDERS
                for path in (self.root / top).rglob("*")
                if path.is_file() and not path.name.endswith(TMP_SUFFIX)
            )
            while chunk := list(itertools.islice(files, 500)):
                self.published(chunk)
            with self.index.atomic():
                self.index.set_meta(EPOCH, os.urandom(8).hex())
                self.index.set_meta("outbox:config", _digest(self.root / layout.CONFIG_FILE))
        elif self.index.meta("outbox:config") != (config := _digest(self.root / layout.CONFIG_FILE)):
            with self.index.atomic():
                self.published([self.root / layout.CONFIG_FILE])
                self.index.set_meta("outbox:config", config)

    def another_index(self) -> IndexBackend:
        """A second connection to the index, for a thread that writes beside the store's (WARC captures)."""
        return open_index(self.root / layout.INDEX_FILE, database=self.database, patient=True)

    # opening --------------------------------------------------------------------------------

    @classmethod
    def init(cls, root: StrPath, *, sources: tuple[Source, ...] | None = None) -> Self:
        """Make ``root`` (a ``str`` or path) an archive: newsarchive.toml with the default outlets and an empty
        layout. An existing newsarchive.toml is kept."""
        root = Path(root).resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
            config = root / layout.CONFIG_FILE
            if not config.exists():
                config.write_text(render_config(sources) if sources else render_config(), encoding="utf-8")
            for folder in (layout.ARTICLES, layout.LISTS, layout.HIDDEN):
                (root / folder).mkdir(exist_ok=True)
            gitignore = root / layout.HIDDEN / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# the index is derived data: `newsarchive reindex` rebuilds it\n*\n", encoding="utf-8")
        except OSError as exc:
            error = StorageError.from_os_error(exc)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
                raise error from exc
            raise ConfigError(f"cannot make an archive in {root}: {error}", hint=error.hint) from exc  # the path given will not do
        return cls.open(root)

    @classmethod
    def open(
        cls,
        root: StrPath | None = None,
        *,
        sources_file: StrPath | None = None,
        overrides: Mapping[str, Any] | None = None,
        settings: Settings | None = None,
        read_only: bool = False,
    ) -> Self:
        """Open the archive at ``root``, or the one containing the current folder. ``sources_file`` and
        ``overrides`` (``fetch.<name>`` values) go to ``load_settings``; ``settings`` replaces them all.
        ``read_only``: for commands that only read, which then write nothing to the archive."""
        if root is None:
            root = layout.find_root(Path.cwd())
        else:
            root = Path(root).resolve()
            if not root.is_dir() or not ((root / layout.CONFIG_FILE).is_file() or (root / layout.HIDDEN).is_dir()):
                raise ArchiveNotFoundError(f"{root} is not an archive (no {layout.CONFIG_FILE} in it)")
        if settings is None:
            settings = load_settings(root, sources_file=sources_file, overrides=overrides)
        return cls(root, settings, read_only=read_only)

    def close(self) -> None:
        self._search = None
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock(self) -> ArchiveLock:
        return ArchiveLock(self.root / layout.LOCK_FILE)

    # reading --------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        source: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 20,
        sort: str = "relevance",
    ) -> list[Hit]:
        """Search the archive (see ``newsarchive.index.search``). Nothing is written when the search index is up to
        date; when it is behind the index (a run was killed before bringing it up to date), missing or unreadable, it
        is first brought up to date or rebuilt, unless another run holds the archive or it cannot be written (a full
        disk, a read-only file system)."""
        if self._search_needs_sync():
            try:
                with self.lock():
                    self.close()
                    self.read_only = False  # catching up writes the search index and its place in the index
                    if self.index.journal_items():  # its rows name files it did not write: the next update completes them
                        log.warning(
                            "a run was interrupted before it finished: searching what it had indexed; the next `update` completes it"
                        )
                    else:
                        self.sync_search()
            except ArchiveLockedError:
                log.info("the archive is busy: searching what was indexed before")
            except ArchiveError as exc:
                log.warning("searching what was indexed before: the search index could not catch up: %s", exc)
        hits = self.search_index.search(query, source=source, since_ms=since_ms, until_ms=until_ms, limit=limit, sort=sort)
        terms, rows = query_terms(query), self.index.articles_at(hit.path for hit in hits)
        unreadable: list[str] = []
        found = [
            replace(
                hit,
                snippet=snippet(self._text_of(hit.path, unreadable) or "", terms),
                link=row.link if (row := rows.get(hit.path)) else None,
            )
            for hit in hits
        ]
        _warn_unreadable(unreadable, "shown without a snippet")
        return found

    def count_matches(self, query: str, *, source: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int:
        """How many articles match ``query`` in all (``search`` returns the best or newest ``limit`` of them)."""
        return self.search_index.count(query, source=source, since_ms=since_ms, until_ms=until_ms)

    def _text_of(self, path: str, unreadable: list[str]) -> str | None:
        """The plain text of an article, or None (its path added to ``unreadable``) when its file cannot be read."""
        from ..html import plain_text  # lxml and nh3: here, not on import, for the commands that never show a snippet

        try:
            return plain_text(self.read(path).body)
        except (OSError, ValueError, ArticleFileError) as exc:  # ValueError: not UTF-8
            unreadable.append(f"{path}: {exc}")
            return None

    @property
    def search_index(self) -> SearchBackend:
        if self._search is None:
            self._search = open_search(self.root / layout.SEARCH_DIR, self.settings.search)
        return self._search

    def search_behind(self) -> bool:
        """Whether articles were stored or changed since the search index last caught up (found without writing)."""
        index = self.index
        rows = index.changed_since(int(index.meta("search:rowid") or 0), int(index.meta("search:updated_ms") or -1))
        return next(rows, None) is not None

    def _search_needs_sync(self) -> bool:
        """Whether the search index is behind the index, missing, unreadable or emptied, or a killed run left work
        (found without writing anything)."""
        index = self.index
        if self.search_behind() or index.journal_items():
            return True
        if index.meta("search:rowid") in (None, "0"):
            return False  # nothing to search
        if not search_present(self.root / layout.SEARCH_DIR):
            return True
        try:
            return not self.search_index.documents()
        except (ValueError, OSError):  # damaged (SearchIndexError is a ValueError)
            return True

    def sync_search(self, *, rebuild: bool = False, restored: Iterable[str] = ()) -> int:
        """Bring the search index up to date with the archive; returns the articles indexed. The caller
        holds the lock. After ``reindex`` (new row ids), or with ``rebuild``, everything is indexed again. A search
        index that is missing or cannot be read is rebuilt from the articles, saying so; one that still fails is
        reported and left for the next run: it is derived data and must not fail a run. ``restored``: articles whose
        damaged files were restored, indexed again (a file that could not be read was left out)."""
        folder = self.root / layout.SEARCH_DIR
        indexed = self.index.meta("search:rowid") not in (None, "0")
        problem = "rebuilding it" if rebuild else None
        if problem is None and indexed and not search_present(folder):
            problem = f"{folder} is missing: rebuilding it from the articles"
        if problem is None:
            try:
                documents = self.search_index.documents()
            except (ValueError, OSError) as exc:  # SearchIndexError is a ValueError
                problem = f"{folder} cannot be read ({exc}): rebuilding it from the articles"
            else:
                if indexed and not documents:  # deleted, and made again empty by a search that could not bring it up to date
                    problem = f"{folder} is empty: rebuilding it from the articles"
        if problem is not None:
            if not rebuild:
                log.warning("the search index: %s", problem)
            self._search = None
            shutil.rmtree(folder, ignore_errors=True)
            with self.index.atomic():
                self.index.set_meta("search:rowid", "0")
                self.index.set_meta("search:updated_ms", "-1")
        try:
            return self._sync_search(restored)
        except Exception as exc:  # tantivy raises plain ValueError and OSError
            log.warning("the search index could not be brought up to date (the next run tries again): %s", exc)
            return 0

    def _sync_search(self, restored: Iterable[str] = ()) -> int:
        fresh, self._fresh_fields = self._fresh_fields, {}
        rowid = int(self.index.meta("search:rowid") or 0)
        updated = int(self.index.meta("search:updated_ms") or -1)
        rows = itertools.chain(self.index.articles_at(restored).values() if rowid else (), self.index.changed_since(rowid, updated))
        count, last_rowid, last_updated = 0, rowid, updated
        unreadable: list[str] = []
        while batch := list(itertools.islice(rows, 2000)):
            if last_rowid == 0:
                self.search_index.clear()
            count += self.search_index.add(doc for row in batch if (doc := self._search_doc(row, fresh, unreadable)))
            last_rowid = max(last_rowid, *(row.rowid for row in batch))
            last_updated = max(last_updated, *(row.updated_ms or -1 for row in batch))
        _warn_unreadable(unreadable, "not searchable")
        if count == 0 and last_rowid == rowid:
            return 0
        self.search_index.commit()
        with self.index.atomic():
            self.index.set_meta("search:rowid", str(last_rowid))
            self.index.set_meta("search:updated_ms", str(last_updated))
        return count

    def _search_doc(self, row: ArticleRow, fresh: Mapping[str, tuple[str, str]], unreadable: list[str]) -> SearchDoc | None:
        """What the search index takes of a row: the fields its worker made, else the text of its file (None when
        that cannot be read)."""
        fields = fresh.get(row.path)
        text = "" if fields else self._text_of(row.path, unreadable)
        if text is None:
            return None
        return SearchDoc(path=row.path, source=row.source, title=row.title, pub_ms=row.pub_ms or 0, text=text, fields=fields)

    def articles(self, source: str | None = None) -> Iterator[ArticleRow]:
        """The index's rows, newest first within each outlet."""
        return self.index.articles(source)

    def read(self, row: ArticleRow | StrPath) -> ArticleFile:
        """The article file of an index row, or of a path relative to the archive (``articles/rfi/1048574.md``)."""
        path = row.path if isinstance(row, ArticleRow) else os.fspath(row)
        data = (self.root / path).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:  # a file cut short in a character, or damaged
            raise ArticleFileError(self.root / path, data.count(b"\n", 0, exc.start) + 1, f"not UTF-8 at byte {exc.start}") from None
        return parse_article(text, self.root / path)

    def source_name(self, slug: str) -> str:
        source = self.settings.source(slug)
        return source.name if source else slug

    # writing --------------------------------------------------------------------------------

    def _next_id(self, slug: str) -> int:
        """The id below the lowest this outlet has, in any folder and either file-name style."""
        lowest = self.index.lowest_file_id(slug)
        return (layout.TOP_ID if lowest is None else lowest) - 1

    def apply(
        self, source: Source, articles: Iterable[Article | StagedArticle], now_ms: int | None = None, *, carried: Collection[int] = ()
    ) -> ApplyResult:
        """Store one outlet's articles: new ones get the next ids (oldest first), changed ones are rewritten
        in place with their previous version kept, unchanged ones touch nothing. Articles may come staged
        (already rendered into incoming/ by a worker) or whole. ``carried``: the rows of articles that a feed carries
        unchanged in this run, not read again (worker.prepare_feed)."""
        now_ms = _now_ms() if now_ms is None else now_ms
        items, dropped = _merge(articles)
        self._adopt_strays(source)
        known = self.index.find_many(key for item in items for key in item.article.keys)
        damaged = self.index.damaged()
        new: list[StagedArticle] = []
        changed: list[tuple[ArticleRow, StagedArticle]] = []
        claimed: set[int] = set()
        matched: list[ReadItem] = []  # items that gave or matched the version stored: not read again while it is

        def match(item: StagedArticle, rowid: int, fingerprint: str) -> None:
            if item.article.item_digest and item.article.feed:
                matched.append(ReadItem(item.article.item_digest, rowid, item.article.feed, fingerprint))

        for item in items:
            row = next((known[key] for key in item.article.keys if key in known), None)
            if row is not None and row.rowid in claimed:  # two entries, one stored article: the first stands
                if item.staged:
                    dropped.append(item.staged)
                continue
            if row is None:
                new.append(item)
            elif row.path in damaged and (item.staged or len(item.article.body) == item.body_length):
                changed.append((row, item))  # the feed's copy restores the damaged file (see store/damage.py)
                claimed.add(row.rowid)
            elif row.fingerprint != item.article.fingerprint and not _shorter_copy(row, item, beside_stored=row.rowid in carried):
                changed.append((row, item))
                claimed.add(row.rowid)
            else:
                if item.staged:
                    dropped.append(item.staged)
                match(item, row.rowid, row.fingerprint)
        matched[:] = [read for read in matched if read.article not in claimed]  # matched a version another entry replaces
        for path in dropped:
            os.unlink(path)
        unchanged = len(items) - len(new) - len(changed)  # entries folded into a claimed article count here too
        if not new and not changed:
            if matched:
                with self.index.atomic():
                    self.index.remember_items(matched)
            return ApplyResult(unchanged=unchanged)
        batch = self.batch()
        written: list[str] = []
        restored: list[str] = []
        with self.index.atomic():
            for row, item in changed:
                old = self.root / row.path
                seen = row.updated_ms or row.first_seen_ms or row.pub_ms or 0
                revision = layout.revision_path(row.path, seen)
                if row.path in damaged:  # no revision of damaged bytes: the same version is written again, or a newer one
                    make_way(self.root, row.path)
                    if row.fingerprint == item.article.fingerprint:
                        restored.append(row.path)
                        self._put(batch, item, row.path, row.file_id, first_seen_ms=row.first_seen_ms, now_ms=row.updated_ms or now_ms)
                    else:
                        log.warning("%s: damaged, and replaced by the feed's newer version; the damaged one is lost", row.path)
                        self._put(batch, item, row.path, row.file_id, first_seen_ms=row.first_seen_ms, now_ms=now_ms)
                    match(item, row.rowid, item.article.fingerprint)
                    written.append(row.path)
                    continue
                if old.exists():
                    batch.write(self.root / revision, old.read_bytes())
                    self.index.add_revision(
                        row.rowid,
                        path=revision,
                        title=row.title,
                        link=row.link,
                        pub_ms=row.pub_ms,
                        seen_ms=seen,
                        fingerprint=row.fingerprint,
                    )
                    written.append(revision)
                if item.article.feed:  # a feed's version now: what a page gave before is no longer held against it
                    self.index.forget_feed_version(row.rowid)
                self._put(batch, item, row.path, row.file_id, first_seen_ms=row.first_seen_ms, now_ms=now_ms)
                match(item, row.rowid, item.article.fingerprint)
                written.append(row.path)
            number = self._next_id(source.slug)
            for item in new:
                while os.path.exists(os.path.join(self.root, layout.article_path(source.slug, number))):
                    number -= 1  # a file nobody indexed: never overwrite it
                if number < 0:
                    raise ArchiveError(f"outlet {source.slug!r} has run out of ids below {layout.TOP_ID}")
                path = layout.article_path(source.slug, number)
                match(item, self._put(batch, item, path, number, first_seen_ms=now_ms, now_ms=now_ms), item.article.fingerprint)
                written.append(path)
                number -= 1
            self.index.journal_add([f"file:{path}" for path in written] + [f"list:{source.slug}"])
        self._stage_lists([source.slug], batch)  # renamed after the articles they link to
        batch.commit()
        with self.index.atomic():
            record_written(self, written)
            self.index.journal_clear([f"file:{path}" for path in written] + [f"list:{source.slug}"])
            self._remember_folders(source)
            # only now that the files hold them: an item remembered before would never be read again to write its file
            self.index.remember_items(matched)
        return ApplyResult(new=len(new), updated=len(changed) - len(restored), unchanged=unchanged)  # a restore is no update

    def _outlet_folders(self, source: Source) -> list[Path]:
        # duty-machine's 2020 archives named the folder after the outlet
        return [self.root / layout.ARTICLES / folder for folder in dict.fromkeys((source.slug, source.name))]

    def _adopt_strays(self, source: Source) -> None:
        """Index article files that something else (a git pull, a copy) put in the outlet's folders since
        our last write, so that no new id collides with theirs. A folder whose modification time is the
        one we recorded is not listed."""
        from .importing import Indexer

        for folder in self._outlet_folders(source):
            try:
                mtime = str(folder.stat().st_mtime_ns)
            except FileNotFoundError:
                continue
            if self.index.meta(f"folder:{folder.name}") == mtime:
                continue
            prefix = f"{layout.ARTICLES}/{folder.name}/"
            known = self.index.paths_in(prefix)
            strays = [
                prefix + entry.name for entry in os.scandir(folder) if entry.name.endswith(".md") and prefix + entry.name not in known
            ]
            if strays:
                log.warning("%s: indexing %d article files that were added from outside", folder, len(strays))
                with self.index.atomic():
                    Indexer(self, copy=False, on_progress=None).refresh(strays)
                self.published(self.root / path for path in strays)

    def _remember_folders(self, source: Source) -> None:
        for folder in self._outlet_folders(source):
            if folder.is_dir():
                self.index.set_meta(f"folder:{folder.name}", str(folder.stat().st_mtime_ns))

    def _put(self, batch: AtomicBatch, item: StagedArticle, path: str, number: int, *, first_seen_ms: int | None, now_ms: int) -> int:
        """Write an article's file into the batch and its row into the index; returns the row's id."""
        article = item.article
        target = os.path.join(self.root, path)
        if item.search_fields and self.settings.search.index_on_update:  # else kept for no run's end
            self._fresh_fields[path] = item.search_fields
        else:
            self._fresh_fields.pop(path, None)
        if item.staged:
            batch.adopt(item.staged, target)
        elif len(article.body) == item.body_length:
            batch.write(target, render_bytes(article))
        else:
            raise ValueError(f"{path}: the worker kept no file and no body for an article that must be written")
        row = ArticleRow(
            rowid=0,
            source=article.source,
            file_id=number,
            path=path,
            title=article.title,
            link=article.link,
            guid=article.guid,
            pub_ms=article.pub_ms,
            fingerprint=article.fingerprint,
            first_seen_ms=first_seen_ms,
            updated_ms=now_ms,
            origin=article.feed,
            body_length=item.body_length,
        )
        return self.index.add_article(row, article.keys)

    def refresh_lists(self, slugs: Iterable[str]) -> list[str]:
        """Regenerate lists/<name>.md of these outlets and README.md; files whose bytes would not change are
        not touched. Returns the paths written."""
        batch = self.batch()
        written = self._stage_lists(slugs, batch)
        batch.commit()
        return written

    def _stage_lists(self, slugs: Iterable[str], batch: AtomicBatch) -> list[str]:
        return [path for path, data in self.list_files(slugs).items() if write_if_changed(self.root / path, data, batch)]

    def list_files(self, slugs: Iterable[str]) -> dict[str, bytes]:
        """What lists/<name>.md of these outlets and README.md hold, by path, as the index has them."""
        files = {}
        for slug in dict.fromkeys(slugs):
            name = self.source_name(slug)
            entries = [
                ListEntry(path=row.path.removeprefix(layout.ARTICLES + "/"), title=row.title, pub_ms=row.pub_ms)
                for row in self.index.newest(slug, self.settings.list_size)
            ]
            files[layout.list_path(name)] = render_list(name, entries).encode("utf-8")
        present = set(self.index.sources_present())
        configured = [s.slug for s in self.settings.sources]
        order = [slug for slug in configured if slug in present] + sorted(present - set(configured))
        mirrors = [(m.name, m.read_url) for m in self.settings.mirrors if m.read_url]
        files["README.md"] = render_readme(self.settings.title, [self.source_name(slug) for slug in order], mirrors).encode("utf-8")
        return files

    def recover(self) -> list[str]:
        """Finish what a killed run left: make the index agree with the files it was writing, regenerate its
        lists. Returns the journal items handled."""
        clear_incoming(self.root)
        self.publish_all()
        items = self.index.journal_items()
        if not items:
            return []
        from .importing import Indexer

        slugs, articles = [], []
        with self.index.atomic():
            for item in items:
                kind, _, value = item.partition(":")
                if kind == "list":
                    slugs.append(value)
                    continue
                (self.root / (value + TMP_SUFFIX)).unlink(missing_ok=True)
                if not value.startswith(layout.REVISIONS + "/"):
                    articles.append(value)
                elif not (self.root / value).exists():
                    self.index.remove_revision(value)
            Indexer(self, copy=False, on_progress=None).refresh(articles)
        self.refresh_lists(slugs)
        # what the killed run wrote may not have reached the outbox: publish each path as it is now
        self.published([self.root / item.partition(":")[2] for item in items if item.startswith("file:")])
        self.published([self.root / layout.list_path(self.source_name(slug)) for slug in slugs] + [self.root / "README.md"])
        with self.index.atomic():
            self.index.journal_clear(items)
        log.warning("recovered %d journal entries left by an interrupted run", len(items))
        return items

    # import and reindex ---------------------------------------------------------------------

    def import_from(self, source_root: StrPath, *, on_progress: Callable[[int], None] | None = None) -> ImportReport:
        """Take in a duty-machine archive folder: its article files are linked or copied byte for byte (kept
        where they are when ``source_root`` is this archive) and indexed; malformed files are reported and
        skipped. Holds the archive lock."""
        from .importing import Indexer

        started = time.monotonic()  # the report's time is the whole run's, search indexing included
        source_root = Path(source_root).resolve()
        if not (source_root / layout.ARTICLES).is_dir():
            raise ConfigError(
                f"{source_root}: not a duty-machine archive (no articles/ folder in it)",
                hint="give the folder that holds articles/ and lists/",
            )
        with self.lock():
            self.recover()
            report = Indexer(self, copy=source_root != self.root, on_progress=on_progress).run(source_root)
            self.publish_all(again=True)  # linked or copied by workers, outside any batch
            if self.settings.search.index_on_update:
                self.sync_search()
            return replace(report, seconds=time.monotonic() - started)

    def reindex(self, *, on_progress: Callable[[int], None] | None = None) -> ImportReport:
        """Rebuild the index from the files alone, into a new database that replaces the old one at the end.
        What the files cannot tell is carried over from the old index when it can still be read; one that
        cannot be opened at all is simply replaced. Holds the archive lock."""
        from .importing import Indexer

        started = time.monotonic()  # the report's time is the whole run's, search indexing included
        rebuild = Rebuild(self.root / layout.INDEX_FILE, self.database)
        with self.lock():
            clear_incoming(self.root)
            self.close()
            fresh = self._index = rebuild.open()
            try:
                report = Indexer(self, copy=False, on_progress=on_progress).run(self.root)
                rebuild.carry_over(fresh)
                index_takedown_files(self)  # the files are the record: a lost index loses no takedown
            except BaseException:
                self.close()
                raise
            self._index = None
            rebuild.replace(fresh)
            self.sync_search(rebuild=True)  # whatever state the search index was in
        return replace(report, seconds=time.monotonic() - started)
