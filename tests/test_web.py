"""The reader over real HTTP on loopback: pages, paging, versions, search with filters, headers, refusals."""

from __future__ import annotations

import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest

from newsarchive.store.archive import Archive
from newsarchive.web.app import make_server
from newsarchive.web.pages import relative

from .conftest import FeedServer
from .reading import make_reading_archive


@pytest.fixture
def reader(server: FeedServer, tmp_path: Path) -> Iterator[tuple[str, Archive]]:
    archive = make_reading_archive(server, tmp_path / "archive")
    http = make_server(archive, "127.0.0.1", 0)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_address[1]}/", archive
    http.shutdown()
    http.server_close()
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
