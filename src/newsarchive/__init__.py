"""newsarchive: a durable, searchable archive of news feeds in the duty-machine/news format.

The public API, which the command line itself uses::

    from newsarchive import Archive

    with Archive.open("my-archive") as archive:
        report = archive.update()
        for row in archive.articles("rfi"):
            print(row.path, row.title, archive.read(row).body[:80])

Names are imported on first use, so ``import newsarchive`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

_EXPORTS = {
    "Archive": "newsarchive.archive",
    "Article": "newsarchive.models",
    "ArticleFileError": "newsarchive.errors",
    "ArticleRow": "newsarchive.index",
    "ArchiveError": "newsarchive.errors",
    "ArchiveLockedError": "newsarchive.errors",
    "ArchiveNotFoundError": "newsarchive.errors",
    "ConfigError": "newsarchive.errors",
    "FeedError": "newsarchive.errors",
    "FetchConfig": "newsarchive.config",
    "FetchError": "newsarchive.errors",
    "ImportReport": "newsarchive.models",
    "NewsarchiveError": "newsarchive.errors",
    "PublishError": "newsarchive.errors",
    "SearchError": "newsarchive.errors",
    "Settings": "newsarchive.config",
    "Source": "newsarchive.sources",
    "SourceError": "newsarchive.errors",
    "SourceReport": "newsarchive.models",
    "StorageError": "newsarchive.errors",
    "UpdateReport": "newsarchive.models",
    "load_settings": "newsarchive.config",
}

__all__ = [
    "Archive",
    "ArchiveError",
    "ArchiveLockedError",
    "ArchiveNotFoundError",
    "Article",
    "ArticleFileError",
    "ArticleRow",
    "ConfigError",
    "FeedError",
    "FetchConfig",
    "FetchError",
    "ImportReport",
    "NewsarchiveError",
    "PublishError",
    "SearchError",
    "Settings",
    "Source",
    "SourceError",
    "SourceReport",
    "StorageError",
    "UpdateReport",
    "__version__",
    "load_settings",
]

if TYPE_CHECKING:
    from .archive import Archive
    from .config import FetchConfig, Settings, load_settings
    from .errors import (
        ArchiveError,
        ArchiveLockedError,
        ArchiveNotFoundError,
        ArticleFileError,
        ConfigError,
        FeedError,
        FetchError,
        NewsarchiveError,
        PublishError,
        SearchError,
        SourceError,
        StorageError,
    )
    from .index import ArticleRow
    from .models import Article, ImportReport, SourceReport, UpdateReport
    from .sources import Source


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'newsarchive' has no attribute {name!r}")
