"""The public API: a pinned set of names, all importable, enough to update and read an archive."""

from __future__ import annotations

from pathlib import Path

import newsarchive
from newsarchive import Archive, Settings, Source

from .conftest import FeedServer, item, rss


def test_public_names_are_pinned() -> None:
    assert newsarchive.__all__ == [
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
    for name in newsarchive.__all__:
        assert getattr(newsarchive, name) is not None


def test_open_update_and_iterate(server: FeedServer, tmp_path: Path) -> None:
    url = server.add("/a.xml", rss(item(1), item(2)))
    Archive.init(tmp_path).close()
    with Archive.open(tmp_path, settings=Settings(sources=(Source(name="甲", slug="a", feeds=(url,)),))) as archive:
        report = archive.update()
        assert report.new == 2 and not report.failed
        rows = list(archive.articles("a"))
        assert [row.title for row in rows] == ["第2条新闻标题", "第1条新闻标题"]
        assert archive.read(rows[0]).body == "<p>第2条新闻的正文。</p>"
