"""The reader over real HTTP on loopback: pages, paging, versions, search with filters, headers, refusals."""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest

from newsarchive.archive import Archive
from newsarchive.web.pages import relative

from .conftest import FeedServer, serving
from .reading import make_reading_archive


@pytest.fixture
def reader(server: FeedServer, tmp_path: Path) -> Iterator[tuple[str, Archive]]:
    archive = make_reading_archive(server, tmp_path / "archive")
    with serving(archive) as base:
        yield base, archive
    archive.close()


def get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_home_lists_outlets_and_newest_with_headers(reader: tuple[str, Archive]) -> None:
    base, _ = reader
    status, headers, page = get(base)
    assert status == 200 and "甲台" in page and "乙台" in page and "台灣選舉結果" in page
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert 'href="outlets/a/index.html"' in page and 'href="static/style.css"' in page
    assert "http://" not in page.replace(base, "") and "https://" not in page  # nothing from another host


def test_outlet_pages_count_from_the_oldest(reader: tuple[str, Archive]) -> None:
    base, _ = reader
    _, _, newest = get(base + "outlets/a/index.html")
    _, _, first = get(base + "outlets/a/page-1.html")
    assert "6 篇" in newest and "第条" not in newest
    assert "第6条新闻标题" in newest and "第4条新闻标题" in newest and "第3条新闻标题" not in newest
    assert "王毅訪問中亞" in first and "第6条新闻标题" not in first
    assert 'href="page-1.html"' in newest and 'href="page-2.html"' in first
    assert get(base + "outlets/a/page-3.html")[0] == 404 and get(base + "outlets/zz/index.html")[0] == 404


def test_article_page_is_clean_and_shows_versions(reader: tuple[str, Archive]) -> None:
    base, archive = reader
    row = next(r for r in archive.articles("a") if r.title == "上海疫情")
    status, _, page = get(base + row.path.removesuffix(".md") + ".html")
    assert status == 200 and "上海疫情" in page and "甲台" in page
    assert "<script>alert" not in page and "onerror" not in page and "javascript:" not in page
    assert "原文 Original" in page and "2026-06-02 10:02" in page  # 02:02 UTC shown in UTC+8
    assert "<img" not in page and "image-link" in page  # remote images become links unless site.remote_images
    edited = next(r for r in archive.articles("a") if r.title == "王毅訪問中亞")
    _, _, page = get(base + edited.path.removesuffix(".md") + ".html")
    assert "版本 Versions" in page and "更新：补充了细节。" in page
    old = archive.index.revisions(edited.rowid)[0][0]
    assert old.removesuffix(".md") + ".html" in urllib.parse.unquote(page).replace("../../", "")
    _, _, previous = get(base + old.removesuffix(".md") + ".html")
    assert "这是较早的版本" in previous and "更新：补充了细节。" not in previous


def test_search_with_filters_and_paging(reader: tuple[str, Archive]) -> None:
    base, _ = reader
    _, _, page = get(base + "search.html?" + urllib.parse.urlencode({"q": "台湾"}))
    assert "台灣選舉結果" in page and "<mark>" in page
    _, _, page = get(base + "search.html?" + urllib.parse.urlencode({"q": "台湾", "source": "a"}))
    assert "台灣選舉結果" not in page and "没有找到" in page
    _, _, page = get(base + "search.html?" + urllib.parse.urlencode({"q": "新闻", "until": "2026-06-03"}))
    assert "第3条新闻标题" in page and "第4条新闻标题" not in page
    _, _, page = get(base + "search.html?" + urllib.parse.urlencode({"q": "新闻", "sort": "date"}))
    assert "下一页 Next" in page and page.index("第6条") < page.index("第5条")
    _, _, page = get(base + "search.html?" + urllib.parse.urlencode({"q": "新闻", "sort": "date", "page": 2}))
    assert "第3条新闻标题" in page and "上一页 Previous" in page
    status, _, page = get(base + "search.html?" + urllib.parse.urlencode({"q": "新闻", "since": "yesterday"}))
    assert status == 200 and "is not a date" in page


def test_refusals(reader: tuple[str, Archive]) -> None:
    base, _ = reader
    for path in (
        "newsarchive.toml",
        "articles/../newsarchive.toml",
        "articles/a/%2e%2e/%2e%2e/newsarchive.toml",
        ".newsarchive/index.sqlite",
        "static/x.js",
    ):
        assert get(base + path)[0] == 404, path


def test_relative_links() -> None:
    assert relative("articles/a/1.html", "outlets/a/index.html") == "../../outlets/a/index.html"
    assert relative("index.html", "search.html?q=1") == "search.html?q=1"
    assert relative("search.html", "search/") == "search/"
    assert relative("outlets/甲/index.html", "index.html") == "../../index.html"


def test_relative_links_between_any_two_pages() -> None:
    assert relative("articles/a/1.html", "articles/a/2.html") == "2.html"
    assert relative("articles/a/1.html", "articles/a/") == "./"
    assert relative("articles/a/1.html", "articles/b/1.html") == "../b/1.html"
    assert relative("revisions/a/1/5.html", "articles/a/1.html") == "../../../articles/a/1.html"


@pytest.fixture(scope="module")
def every_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Archive]]:
    """The reader over an archive with an embed, a kept image, two versions in one minute, a takedown and a mirror."""
    from .reading import make_every_page_archive

    feeds = FeedServer()
    archive = make_every_page_archive(feeds, tmp_path_factory.mktemp("every") / "archive")
    feeds.close()
    with serving(archive) as base:
        yield base, archive
    archive.close()


def test_video_embeds_are_boxes_and_no_page_may_frame_anything(every_page: tuple[str, Archive]) -> None:
    base, archive = every_page
    row = next(r for r in archive.articles("c") if r.title == "救灾物资送达")
    status, headers, page = get(base + row.path.removesuffix(".md") + ".html")
    assert status == 200 and "<iframe" not in page and "youtube.com/embed" not in page
    assert 'class="video">视频 Video: 记者会视频 <a href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"' in page
    assert "frame-src 'none'" in headers["Content-Security-Policy"] and "youtube" not in headers["Content-Security-Policy"]


def test_versions_in_the_same_minute_show_their_seconds(every_page: tuple[str, Archive]) -> None:
    base, archive = every_page
    row = next(r for r in archive.articles("c") if r.title == "快讯两稿")
    _, _, page = get(base + row.path.removesuffix(".md") + ".html")
    assert "2026-05-29 04:26:00" in page and "2026-05-29 04:26:20" in page  # two versions 20 s apart
    older = archive.index.revisions(row.rowid)[0][2]
    _, _, diff = get(base + row.path.removesuffix(".md") + f"/diff-{older}-{row.updated_ms}.html")
    assert "04:26:00</time>" in diff and "04:26:20</time>" in diff
    _, _, other = get(base + next(r for r in archive.articles("c") if r.title == "救灾物资送达").path.removesuffix(".md") + ".html")
    assert "版本 Versions" not in other


def test_health_and_takedowns_pages(every_page: tuple[str, Archive]) -> None:
    base, archive = every_page
    status, _, health = get(base + "health.html")
    assert status == 200 and "丙台 (c)" in health and "上次成功 Last success" in health and "2026-05-29 08:26" in health
    assert 'href="outlets/c/index.html"' in health
    status, _, takedowns = get(base + "takedowns.html")
    removed = next(r for r in archive.articles("c") if r.title == "被删除的报道")
    assert status == 200 and "被删除的报道" in takedowns and f'href="{removed.path.removesuffix(".md")}.html"' in takedowns
    assert "已被媒体删除 Removed by the outlet on" in takedowns and "(HTTP 404)" in takedowns
    _, _, home = get(base)
    assert 'href="health.html"' in home and 'href="takedowns.html"' in home
    status, headers, feed = get(base + "feeds/takedowns.xml")
    assert status == 200 and "被删除的报道" in feed and headers["Content-Type"].startswith("application/atom+xml")


def test_the_home_page_lists_the_mirrors_readers_can_browse(every_page: tuple[str, Archive]) -> None:
    base, _ = every_page
    _, _, home = get(base)
    assert '<a href="https://mirror.example.invalid/news/" rel="noopener noreferrer">码云 Gitee</a>' in home
    assert "nowhere.git" not in home  # the git address is for publish, not for readers


def test_daily_digest_pages(reader: tuple[str, Archive]) -> None:
    base, _ = reader
    _, _, home = get(base)
    assert 'href="digest/index.html"' in home and 'href="digest/2026-06-10.html"' in home  # the newest day
    status, _, days = get(base + "digest/index.html")
    assert status == 200 and days.index("2026-06-10") < days.index("2026-06-06") and 'href="2026-06-01.html"' in days
    # 2026-06-06 in Beijing: 甲台's item 6 (06-06 06:06 UTC); 台灣選舉結果 is 乙台's on 06-09 20:20 UTC, so 06-10 there.
    status, _, day = get(base + "digest/2026-06-06.html")
    assert status == 200 and "第6条新闻标题" in day and "第5条新闻标题" not in day and "14:06" in day
    assert 'href="2026-06-10.html"' in day and 'href="2026-06-05.html"' in day  # newer and older days
    _, _, day = get(base + "digest/2026-06-10.html")
    assert "乙台" in day and "台灣選舉結果" in day and "甲台" not in day
    assert get(base + "digest/2026-06-08.html")[0] == 404 and get(base + "digest/2026-13-01.html")[0] == 404
    status, _, feed = get(base + "feeds/digest.xml")
    assert status == 200 and "2026-06-10 每日摘要 Daily digest (1 篇)" in feed


def test_not_found_is_a_page_that_links_home(reader: tuple[str, Archive]) -> None:
    base, _ = reader
    status, headers, page = get(base + "outlets/a/deep/no-such-page.html")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert 'href="../../../index.html"' in page and "没有这一页" in page
