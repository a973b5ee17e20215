"""Damage: article files and revisions that are missing or no longer what the index knows, found and restored.

The index records each file's size and modification time as written (``index/files.py``). Every ``update``
looks at them all with a stat, which costs little: a file whose size and time are as recorded is taken as
written; any other is read and compared with the index (its title and body's fingerprint, its date and link).
``check`` reads every file. What is found damaged goes into the index's ``damaged`` table, until restored:

1. from a copy the archive keeps of that very version: the index's copy of the feed's text (full text's
   ``summaries``, when the file held exactly that) or an earlier version under ``revisions/`` with the same
   text (an article edited and then edited back);
2. from the feed, by ``update``: the workers take a damaged article for one the archive does not hold, so its
   feed's copy is staged, and ``Store.apply`` writes it over the damaged file (``pipeline``);
3. what neither can restore (a revision, an article no feed carries any longer) is reported by every run.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ArticleFileError
from ..normalise import fingerprint
from . import layout
from .fileformat import parse_article, render_article

if TYPE_CHECKING:
    from .folder import ArchiveFolder

log = logging.getLogger(__name__)

DAMAGED_DIR = f"{layout.HIDDEN}/damaged"  # what stood in a damaged file's place and was not a file (a folder), moved aside


@dataclass(frozen=True)
class Damage:
    path: str  # articles/… or revisions/…
    problem: str
    source: str | None = None  # the outlet's slug


def _problem(root: Path, path: str, known: tuple[str, int | None, str | None]) -> str | None:
    """What is wrong with the file at ``path`` that should hold the version ``known`` (fingerprint, date, link); None when
    nothing is."""
    try:
        data = (root / path).read_bytes()
    except FileNotFoundError:
        return "missing"
    except IsADirectoryError:
        return "a folder stands in its place"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if not data:
        return "empty"
    try:
        parsed = parse_article(data.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        return f"not UTF-8 at byte {exc.start} (cut short or overwritten)"
    except ArticleFileError as exc:
        return f"not an article file: {exc.reason}"
    expected, pub_ms, link = known
    if fingerprint(parsed.title, parsed.body) != expected:
        return "its title or text is not the version the index holds (changed, or cut short)"
    if (parsed.pub_ms, parsed.link or None) != (pub_ms, link or None):
        return "its date or link is not the one the index holds"
    return None


def _stat_problem(root: str, path: str) -> tuple[str | None, os.stat_result | None]:
    try:
        found = os.stat(root + path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", None
    except OSError as exc:
        return f"cannot be read: {exc.strerror}", None
    if stat.S_ISDIR(found.st_mode):
        return "a folder stands in its place", None
    if not stat.S_ISREG(found.st_mode):
        return "not a regular file", None
    return None, found


def scan(archive: ArchiveFolder, *, full: bool = False, record: bool = True) -> list[Damage]:
    """The article files and revisions that are missing or not what the index knows. ``full`` reads every file;
    otherwise only those whose size or time is not as recorded (a file never recorded, from an index older than
    these records, is taken as it is, unless it is empty). With ``record``, the sizes and times of the files found
    right are recorded, and the ``damaged`` table set to what was found."""
    root, index = archive.root, archive.index
    prefix = f"{root}{os.sep}"  # joined as strings: a Path per file would cost more than its stat
    found: list[Damage] = []
    verified: dict[str, list[tuple[str, int, int]]] = {}
    for table in ("articles", "revisions"):
        fresh = verified.setdefault(table, [])
        for path, size, mtime_ns, source in index.file_rows(table):
            problem, found_stat = _stat_problem(prefix, path)
            if found_stat is not None:
                same = (size, mtime_ns) == (found_stat.st_size, found_stat.st_mtime_ns)
                if full or (size is not None and not same) or found_stat.st_size == 0:
                    problem = _problem(root, path, index.file_version(table, path))
                if problem is None and not same:
                    fresh.append((path, found_stat.st_size, found_stat.st_mtime_ns))
            if problem is not None:
                found.append(Damage(path, problem, source))
    if record:
        with index.atomic():
            for table, stats in verified.items():
                index.record_files(table, stats)
            index.set_damaged({damage.path: damage.problem for damage in found}, int(time.time() * 1000))
    return found


def record_written(archive: ArchiveFolder, paths: Iterable[str]) -> None:
    """Remember the size and time of files just written (articles or revisions), in the caller's transaction."""
    by_table: dict[str, list[tuple[str, int, int]]] = {"articles": [], "revisions": []}
    for path in paths:
        try:
            found = os.stat(archive.root / path)
        except OSError:
            continue
        table = "revisions" if path.startswith(layout.REVISIONS + "/") else "articles"
        by_table[table].append((path, found.st_size, found.st_mtime_ns))
    for table, stats in by_table.items():
        archive.index.record_files(table, stats)
    archive.index.clear_damaged(paths)


def make_way(root: Path, path: str) -> None:
    """Before a file is written at ``path``: what is not a file there (a folder) is moved aside into
    .newsarchive/damaged/, never deleted."""
    target = root / path
    if target.is_dir() and not target.is_symlink():
        aside = root / DAMAGED_DIR / f"{path}.{int(time.time() * 1000)}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, aside)
        log.warning("%s: the folder that stood in its place was moved to %s", path, aside.relative_to(root))


def restore_from_copies(archive: ArchiveFolder, damages: Iterable[Damage]) -> dict[str, str]:
    """Restore the damaged article files of which the archive keeps the very same version: the index's copy of the
    feed's text, or a revision with the same text. Returns path -> where it was restored from."""
    index, root = archive.index, archive.root
    batch = archive.batch()
    restored: dict[str, str] = {}
    for damage in damages:
        row = index.article_at(damage.path)
        if row is None:
            continue
        copy = index.feed_version(row.rowid)
        data: bytes | None = None
        if copy is not None and copy[0] == row.fingerprint:
            data = render_article(pub_ms=row.pub_ms, title=row.title, link=row.link, body=copy[1]).encode("utf-8")
            how = "the index's copy of the feed's text"
        else:
            data, how = _same_revision(archive, row.rowid, (row.fingerprint, row.pub_ms, row.link)), "an earlier version with the same text"
        if data is None:
            continue
        make_way(root, damage.path)
        batch.write(root / damage.path, data)
        restored[damage.path] = how
    if not restored:
        return restored
    items = [f"file:{path}" for path in restored]
    with index.atomic():
        index.journal_add(items)
    batch.commit()
    with index.atomic():
        record_written(archive, restored)
        index.journal_clear(items)
    return restored


def _same_revision(archive: ArchiveFolder, rowid: int, known: tuple[str, int | None, str | None]) -> bytes | None:
    damaged = archive.index.damaged()
    for path, _, _ in reversed(archive.index.revisions(rowid)):
        if path not in damaged and _problem(archive.root, path, known) is None:
            return (archive.root / path).read_bytes()
    return None
