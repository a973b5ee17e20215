"""The one exception tree of newsarchive.

Every expected failure raises one of these; each carries ``.hint``, one line
that says what to do about it. Library exceptions (httpx, lxml, feedparser,
sqlite3) are translated where those libraries are called and chained with
``from``; nothing above those modules catches them.

::

    NewsarchiveError            base; .hint
      ConfigError               bad newsarchive.toml, sources file or option   -> exit 2
      ArchiveError
        ArchiveNotFoundError    no archive here
        ArchiveLockedError      another run holds the lock
        ArticleFileError        .path, .line: a malformed article file
        StorageError            .path: the disk or a file failed (full, read-only, not allowed, damaged)
      SourceError               .slug, .url: one outlet failed; the others go on
        FetchError              .status, .attempts
        FeedError               the feed could not be parsed
      SearchError               a query that cannot be searched for
      PublishError              .remote: git could not commit or push
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class NewsarchiveError(Exception):
    """Base of every error newsarchive raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(NewsarchiveError):
    """A bad configuration file, sources file or option."""

    hint = "fix the setting named above, or see `newsarchive --help`"


class ArchiveError(NewsarchiveError):
    """Something is wrong with the archive on disk."""


class ArchiveNotFoundError(ArchiveError):
    hint = "run `newsarchive init DIR` or pass --archive DIR"


class ArchiveLockedError(ArchiveError):
    hint = "wait for the other run to finish; the lock frees itself when that process ends"


class ArticleFileError(ArchiveError):
    """An article file that is not in the duty-machine format."""

    hint = "fix or remove the file; the rest of the archive is unaffected"

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason


class StorageError(ArchiveError):
    """The archive's disk or one of its files failed: full, read-only, not allowed, a file where a folder should be,
    or damaged. ``from_os_error`` turns an OSError into one, naming the path and what to do."""

    hint = "check the path and the disk, then run again; a run cut short is completed by the next one"

    def __init__(self, message: str, *, path: Path | str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = None if path is None else Path(path)

    @classmethod
    def from_os_error(cls, error: OSError, path: Path | str | None = None) -> StorageError:
        """``error`` as one line naming the path (``path``, or the one the error carries) and a hint for its kind."""
        where = os.fspath(path) if path is not None else error.filename
        reason = error.strerror or str(error)
        hint = _OS_HINTS.get(error.errno or 0)
        return cls(f"{where}: {reason}" if where else reason, path=where, hint=hint)


_OS_HINTS = {
    errno.ENOSPC: "free space on that disk, then run again; a run cut short is completed by the next one",
    errno.EDQUOT: "free space within your disk quota, then run again; a run cut short is completed by the next one",
    errno.EROFS: "that file system is read-only: mount it writable, or give a folder on another one",
    errno.EACCES: "check the permissions of that path: the user running newsarchive must be able to read and write it",
    errno.EPERM: "check the permissions of that path: the user running newsarchive must be able to read and write it",
    errno.ENOTDIR: "a file stands where a folder is needed: move it away, or give another path",
    errno.EISDIR: "a folder stands where a file is needed: move it away, or give another path",
    errno.ENOENT: "a folder on that path does not exist or cannot be made there: check the path",
    errno.EIO: "the disk reported an input/output error: check it (dmesg, fsck), then run again",
}


class SourceError(NewsarchiveError):
    """One outlet or one of its feeds failed; the other outlets carry on."""

    def __init__(self, message: str, *, slug: str = "", url: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.slug = slug
        self.url = url


class FetchError(SourceError):
    hint = "check the address and your network or proxy; the next run retries"

    def __init__(self, message: str, *, url: str, status: int | None = None, attempts: int = 1, over_cap: int | None = None) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.attempts = attempts
        self.over_cap = over_cap  # the size cap (bytes) the response passed: asking again gets the same answer


class SearchError(NewsarchiveError):
    """A query that cannot be searched for."""

    hint = "give words, names or a few characters; quote a phrase to keep its spaces"


class PublishError(NewsarchiveError):
    """git could not commit or push; ``remote`` names the mirror when a push failed."""

    hint = "check git's message above; an unreachable mirror is pushed again on the next publish"

    def __init__(self, message: str, *, remote: str = "", hint: str | None = None) -> None:
        super().__init__(f"{remote}: {message}" if remote else message, hint=hint)
        self.remote = remote


class FeedError(SourceError):
    hint = "the server did not send a feed this time; check the address in a browser"


__all__ = [
    "ArchiveError",
    "ArchiveLockedError",
    "ArchiveNotFoundError",
    "ArticleFileError",
    "ConfigError",
    "FeedError",
    "FetchError",
    "NewsarchiveError",
    "PublishError",
    "SearchError",
    "SourceError",
    "StorageError",
]
