"""Indexing an archive's files: ``import`` (bringing them in) and ``reindex`` (in place).

Files are read, checked and copied by worker processes, a batch of a thousand at a time, while
the store indexes the batches they hand back: memory stays flat however large the archive, and
both cores work. A malformed file is reported with its path and reason and skipped.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ArticleFileError, StorageError
from ..index import ArticleRow
from ..models import ImportReport
from ..normalise import article_from_file, guid_key
from ..sources import slug_for_folder
from . import layout
from .atomic import AtomicBatch
from .damage import record_written
from .fileformat import parse_article
from .staging import INCOMING

if TYPE_CHECKING:
    from .folder import ArchiveFolder

BATCH = 1000
_counter = itertools.count()
PROCESS_THRESHOLD = 5 * BATCH  # fewer files than this are read in this process


@dataclass(frozen=True)
class FileEntry:
    """One article file as read by a worker: where it goes, what it says, its copy waiting to be committed."""

    path: str  # relative to the archive
    slug: str
    number: int
    title: str
    link: str | None
    pub_ms: int | None
    fingerprint: str
    keys: tuple[str, ...]
    body_length: int = 0
    staged: str | None = None  # the copy, staged in incoming/, to be renamed into place
    present: bool = False  # the target already holds these very bytes


def _copy(origin: str, target: str, data: bytes) -> None:
    """A hard link where the file system allows (no second copy of the bytes to write: the archive never
    changes a file in place, it writes a new one and renames it), else a copy."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)
    try:
        os.link(origin, target)
    except OSError:
        with open(target, "wb") as handle:
            handle.write(data)


def read_batch(batch: list[tuple[str, str]], copy_root: str | None, folder_slugs: dict[str, str]) -> tuple[list[FileEntry], list[str]]:
    """Read and check a batch of (relative path, origin) files; stage their copies in ``copy_root``'s
    incoming/. Runs in a worker process: touches no index."""
    entries: list[FileEntry] = []
    errors: list[str] = []
    for path, origin in batch:
        try:
            entry = _read_one(path, origin, copy_root, folder_slugs)
        except _Skip as skip:
            errors.append(f"{skip}; skipped")
        else:
            entries.append(entry)
    return entries, errors


class _Skip(Exception):
    pass


def _read_one(path: str, origin: str, copy_root: str | None, folder_slugs: dict[str, str]) -> FileEntry:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise _Skip(f"{origin!r}: the file name is not UTF-8") from None
    folder, name = path.split("/")[1:3]
    number = layout.file_id(name)
    if number is None:
        raise _Skip(f"{origin}: file name has no article id (expected <id>.md or <id>_<title>.md)")
    try:
        with open(origin, "rb") as handle:
            data = handle.read()
        parsed = parse_article(data.decode("utf-8"), origin)
    except UnicodeDecodeError as exc:
        raise _Skip(f"{origin}:1: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ArticleFileError as exc:
        raise _Skip(str(exc)) from None
    except OSError as exc:
        raise _Skip(f"{origin}: cannot read: {exc.strerror}") from None
    staged, present = None, False
    if copy_root is not None:
        target = os.path.join(copy_root, path)
        try:
            with open(target, "rb") as handle:
                existing: bytes | None = handle.read()
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise _Skip(f"{target}: cannot read: {exc.strerror}") from None
        if existing is not None and existing != data:
            raise _Skip(f"{origin}: {target} already holds a different article")
        present = existing is not None
        if not present:
            staged = os.path.join(copy_root, INCOMING, f"import-{os.getpid()}-{next(_counter)}.md")
            try:
                _copy(origin, staged, data)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):  # every file would fail: stop, saying why once
                    raise StorageError.from_os_error(exc, staged) from exc
                raise _Skip(f"{origin}: cannot copy into the archive: {exc.strerror}") from None
    slug = folder_slugs.get(folder, folder)
    article = article_from_file(slug, title=parsed.title, link=parsed.link, pub_ms=parsed.pub_ms, body=parsed.body)
    return FileEntry(
        path=path,
        slug=slug,
        number=number,
        title=article.title,
        link=article.link,
        pub_ms=article.pub_ms,
        fingerprint=article.fingerprint,
        keys=article.keys,
        staged=staged,
        present=present,
    )


def _article_files(source_root: Path) -> Iterator[tuple[str, str]]:
    articles = source_root / layout.ARTICLES
    for folder in sorted((e for e in os.scandir(articles) if e.is_dir()), key=lambda e: e.name):
        for entry in os.scandir(folder.path):
            if entry.name.endswith(".md") and entry.is_file():
                yield f"{layout.ARTICLES}/{folder.name}/{entry.name}", entry.path


def _batches(source_root: Path) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for item in _article_files(source_root):
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Indexer:
    """Indexes the article files of ``source_root`` into ``archive``, copying them when ``copy``."""

    def __init__(self, archive: ArchiveFolder, *, copy: bool, on_progress: Callable[[int], None] | None) -> None:
        self.archive = archive
        self.copy = copy
        self.on_progress = on_progress
        self.files = self.imported = self.unchanged = self.duplicates = 0
        self.errors: list[str] = []
        self.slugs: set[str] = set()

    def _folder_slugs(self, folders: Iterable[str]) -> dict[str, str]:
        return {folder: slug_for_folder(folder, self.archive.settings.sources) for folder in folders}

    def refresh(self, paths: list[str]) -> None:
        """Make the index agree with these article files: reindex those that are valid, drop the others."""
        entries, _ = read_batch(
            [(path, os.path.join(self.archive.root, path)) for path in paths], None, self._folder_slugs(p.split("/")[1] for p in paths)
        )
        valid = {entry.path for entry in entries}
        for path in paths:
            if path not in valid:
                self.archive.index.remove_article(path)
        self._index(entries, [])

    def run(self, source_root: Path) -> ImportReport:
        started = time.monotonic()
        folder_slugs = self._folder_slugs(entry.name for entry in os.scandir(source_root / layout.ARTICLES) if entry.is_dir())
        copy_root = str(self.archive.root) if self.copy else None
        executor = self._executor(source_root)
        try:
            pending: deque[Future[tuple[list[FileEntry], list[str]]]] = deque()
            for batch in _batches(source_root):
                pending.append(executor.submit(read_batch, batch, copy_root, folder_slugs))
                if len(pending) > 4:  # a few batches ahead at most: memory stays flat
                    self._index(*pending.popleft().result())
            while pending:
                self._index(*pending.popleft().result())
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        revisions = source_root / layout.REVISIONS
        if not self.copy and revisions.is_dir():
            self._index_revisions(revisions)
        self.archive.refresh_lists(sorted(self.slugs))
        return ImportReport(
            files=self.files,
            imported=self.imported,
            unchanged=self.unchanged,
            duplicates=self.duplicates,
            errors=tuple(self.errors),
            seconds=time.monotonic() - started,
        )

    def _executor(self, source_root: Path) -> Executor:
        cores = os.cpu_count() or 1
        many = sum(1 for _, _ in zip(range(PROCESS_THRESHOLD), _article_files(source_root), strict=False)) >= PROCESS_THRESHOLD
        if cores > 1 and many:
            from ..processes import process_pool

            return process_pool()
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(max_workers=1)

    def _index(self, entries: list[FileEntry], errors: list[str]) -> None:
        index = self.archive.index
        self.files += len(entries) + len(errors)
        self.errors += errors
        writes = AtomicBatch()
        journal = [f"file:{entry.path}" for entry in entries if entry.staged]
        with index.atomic():
            known = index.find_many(key for entry in entries for key in entry.keys)
            current = index.articles_at([entry.path for entry in entries])
            for entry in entries:
                if entry.staged:
                    writes.adopt(entry.staged, os.path.join(self.archive.root, entry.path))
                elif entry.present:
                    self.unchanged += 1
                holder = next((known[key] for key in entry.keys if key in known), None)
                if holder is not None and holder.path != entry.path:
                    self.duplicates += 1
                before = current.get(entry.path)
                guid_keys = (guid_key(entry.slug, before.guid),) if before and before.guid else ()
                index.add_article(
                    ArticleRow(
                        0,
                        entry.slug,
                        entry.number,
                        entry.path,
                        entry.title,
                        entry.link,
                        before.guid if before else None,
                        entry.pub_ms,
                        entry.fingerprint,
                        before.first_seen_ms if before else None,
                        before.updated_ms if before else None,
                    ),
                    entry.keys + guid_keys,
                )
                self.imported += 1
                self.slugs.add(entry.slug)
            # Killed between here and the journal's clearing, the next run's recover() finishes the batch.
            index.journal_add(journal)
        writes.commit()
        with index.atomic():
            record_written(self.archive, [entry.path for entry in entries])
            index.journal_clear(journal)
        if self.on_progress:
            self.on_progress(self.files)

    def _index_revisions(self, revisions: Path) -> None:
        index = self.archive.index
        indexed: list[str] = []
        with index.atomic():
            for directory, _, names in os.walk(revisions):
                for name in names:
                    if not name.endswith(".md") or not name[:-3].isdigit():
                        continue
                    path = str(Path(directory, name).relative_to(self.archive.root))
                    row = index.article_at(layout.article_of_revision(path))
                    try:
                        parsed = self.archive.read(path)
                    except (ArticleFileError, UnicodeDecodeError, OSError) as exc:
                        self.errors.append(f"{path}: {exc}; skipped")
                        continue
                    if row is None:
                        self.errors.append(f"{path}: a revision of an article that is not in the archive; skipped")
                        continue
                    article = article_from_file(row.source, title=parsed.title, link=parsed.link, pub_ms=parsed.pub_ms, body=parsed.body)
                    index.add_revision(
                        row.rowid,
                        path=path,
                        title=parsed.title,
                        link=parsed.link,
                        pub_ms=parsed.pub_ms,
                        seen_ms=int(name[:-3]),
                        fingerprint=article.fingerprint,
                    )
                    indexed.append(path)
            record_written(self.archive, indexed)
