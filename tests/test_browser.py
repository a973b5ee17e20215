"""The reader and the static site in a real headless Chromium (Debian's, driven by Playwright): open the home
page, search for a two-character word, open a hit, follow the outlet link. No console errors, and no request
to any host but the server (or, from file://, to anything but the site's files)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsarchive.archive import Archive
from newsarchive.config import Settings
from newsarchive.sources import Source

from .conftest import CHROMIUM, FeedServer, item, needs_chromium, rss, serving
from .reading import FAST, make_reading_archive

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """Made before the browser starts: Playwright's sync API keeps an event loop running, and update uses its own."""
    feeds = FeedServer()
    root = tmp_path_factory.mktemp("reading")
    archive = make_reading_archive(feeds, root / "archive")
    archive.build_site(root / "site")
    archive.bundle(root / "news.zip")
    with zipfile.ZipFile(root / "news.zip") as bundle:
        bundle.extractall(root / "usb")
    feeds.close()
    yield archive
    archive.close()


FILLER = "".join(f"第{n}段：甲乙丙丁戊己庚辛壬癸，子丑寅卯辰巳午未申酉戌亥。" for n in range(60))  # ~2,000 characters


@pytest.fixture(scope="module")
def long_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A static site of two outlets whose articles hold the words searched for far past their start: c's long article
    has 鹦鹉螺 (in simplified), 臺灣海峽 (in traditional), Joe Biden and the phrase 深海探测计划; d's has 鹦鹉 and every pair
    of 深海探测 but not the phrase."""
    feeds = FeedServer()
    root = tmp_path_factory.mktemp("long")
    deep = f"<p>开头一段。</p><p>{FILLER}</p><p>{FILLER}科学家乘坐鹦鹉螺号潜入臺灣海峽，Joe Biden 称赞这项深海探测计划。</p>"
    near = "<p>鹦鹉学舌。深海探险的人说，这座海探测站很旧。</p>"
    c = feeds.add("/c.xml", rss(item(1, day=3, title="一篇很长的报道", body=deep), item(2, day=4, title="另一篇报道")))
    d = feeds.add("/d.xml", rss(item(3, day=5, title="丁台的短讯", body=near)))
    Archive.init(root / "archive").close()
    sources = (Source(name="丙台", slug="c", feeds=(c,)), Source(name="丁台", slug="d", feeds=(d,)))
    with Archive.open(root / "archive", settings=Settings(sources=sources, fetch=FAST)) as archive:
        archive.update()
        archive.build_site(root / "site")
    feeds.close()
    yield root / "site"


@pytest.fixture(scope="module")
def browser(archive: Archive, long_site: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def visit(browser: object, start: str, allowed: str) -> tuple[object, list[str], list[str]]:
    """A new page at ``start``, recording console errors and every request outside ``allowed``."""
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    strays: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: strays.append(request.url) if not request.url.startswith(allowed) else None)
    page.goto(start)
    return page, errors, strays


def read_and_search(page: object) -> None:
    """Home -> search 台湾 (traditional text in the article) -> the hit -> its outlet."""
    page.wait_for_selector("text=甲台")  # type: ignore[attr-defined]
    page.fill("header input[name=q]", "台湾")  # type: ignore[attr-defined]
    page.press("header input[name=q]", "Enter")  # type: ignore[attr-defined]
    hit = page.wait_for_selector("ol.entries a:has-text('台灣選舉結果')")  # type: ignore[attr-defined]
    hit.click()
    page.wait_for_selector("h1:has-text('台灣選舉結果')")  # type: ignore[attr-defined]
    page.click("a.outlet")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:has-text('乙台')")  # type: ignore[attr-defined]
    assert "台灣選舉結果" in page.inner_text("main")  # type: ignore[attr-defined]


def test_reader_in_chromium(browser: object, archive: Archive) -> None:
    with serving(archive) as base:
        page, errors, strays = visit(browser, base, base)
        read_and_search(page)
        page.goto(base + "outlets/a/page-1.html")  # type: ignore[attr-defined]
        page.click("a:has-text('上海疫情')")  # type: ignore[attr-defined]
        page.wait_for_selector("a.image-link")  # type: ignore[attr-defined]
        assert errors == [] and strays == []


def test_static_site_from_file_urls(browser: object, archive: Archive) -> None:
    out = archive.root.parent / "site"
    page, errors, strays = visit(browser, (out / "index.html").as_uri(), out.as_uri())
    read_and_search(page)
    page.goto((out / "search.html").as_uri() + "?q=一帶一路")  # type: ignore[attr-defined]
    page.wait_for_selector("ol.entries a:has-text('王毅訪問中亞')")  # type: ignore[attr-defined]
    page.goto((out / "search.html").as_uri() + "?q=新闻&source=b")  # type: ignore[attr-defined]
    page.wait_for_selector("text=没有找到")  # type: ignore[attr-defined]
    assert errors == [] and strays == []


def test_offline_bundle_opens_and_searches_from_file_urls(browser: object, archive: Archive) -> None:
    usb = archive.root.parent / "usb"
    page, errors, strays = visit(browser, (usb / "index.html").as_uri(), usb.as_uri())
    read_and_search(page)
    assert errors == [] and strays == []


def search_results(browser: object, site: Path, query: str) -> tuple[str, list[str], list[str]]:
    """The status line, the titles found and their snippets' marked words, once the snippets are in (from file://)."""
    page, errors, strays = visit(browser, (site / "search.html").as_uri() + "?" + query, site.as_uri())
    page.wait_for_selector("body[data-results]")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelectorAll('iframe').length === 0")  # type: ignore[attr-defined]
    status = page.inner_text("#status")  # type: ignore[attr-defined]
    titles = [a.inner_text() for a in page.query_selector_all("#results li > a")]  # type: ignore[attr-defined]
    marks = [m.inner_text() for m in page.query_selector_all("#results .snippet mark")]  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]
    assert errors == [] and strays == [], (errors, strays)
    return status, titles, marks


@pytest.mark.parametrize(
    ("query", "titles", "marked"),
    [
        ("q=鹦鹉螺", ["一篇很长的报道"], "鹦鹉螺"),  # a word 4,000 characters into the article
        ("q=鸚鵡螺", ["一篇很长的报道"], "鹦鹉螺"),  # traditional query, simplified text
        ("q=台湾海峡", ["一篇很长的报道"], "臺灣海峽"),  # simplified query, traditional text
        ("q=螺", ["一篇很长的报道"], "螺"),  # one character
        ("q=BIDEN", ["一篇很长的报道"], "Biden"),  # an English word, any case
        ("q=%22深海探测%22", ["一篇很长的报道"], "深海探测"),  # a phrase: d holds its pairs, not the phrase
        ("q=鹦鹉+计划", ["一篇很长的报道"], "鹦鹉"),  # several terms, all needed
        ("q=鹦鹉", ["丁台的短讯", "一篇很长的报道"], "鹦鹉"),  # the same count: the newest first
        ("q=鹦鹉&source=d", ["丁台的短讯"], "鹦鹉"),  # an outlet
        ("q=报道&sort=date", ["另一篇报道", "一篇很长的报道"], ""),  # newest first (in titles only: nothing marked)
        ("q=报道&until=2026-06-03", ["一篇很长的报道"], ""),  # up to a day
    ],
)
def test_static_search_finds_every_word_of_the_text(browser: object, long_site: Path, query: str, titles: list[str], marked: str) -> None:
    status, found, marks = search_results(browser, long_site, query)
    assert found == titles and f"找到 {len(titles)} 篇" in status, (status, found)
    assert marks[:1] == ([marked] if marked else []), marks


def test_a_query_typed_in_the_search_page_runs_there_and_back_returns_to_the_last(browser: object, long_site: Path) -> None:
    """No new page for a query typed in the search page (its start is most of a query's time); the address changes
    as if the page had been opened with it; what an earlier query still brings (its snippets, a phrase's checks) never
    reaches the later one's list."""
    page, errors, strays = visit(browser, (long_site / "search.html").as_uri() + "?q=鹦鹉螺", long_site.as_uri())
    page.wait_for_selector("body[data-results]")  # type: ignore[attr-defined]
    page.evaluate("window.stayed = true")  # type: ignore[attr-defined]
    page.evaluate(  # type: ignore[attr-defined]
        """() => { const form = document.querySelector('form.filters');
                   form.q.value = '"深海探测"'; form.requestSubmit();
                   form.q.value = '鹦鹉'; form.requestSubmit(); }"""
    )
    page.wait_for_function("() => document.querySelectorAll('iframe').length === 0 && !!document.body.dataset.results")  # type: ignore[attr-defined]
    titles = [a.inner_text() for a in page.query_selector_all("#results li > a")]  # type: ignore[attr-defined]
    # the phrase's check of d's article (it holds the words, not the phrase) came after the list of 鹦鹉 was shown
    assert titles == ["丁台的短讯", "一篇很长的报道"] and "找到 2 篇" in page.inner_text("#status")  # type: ignore[attr-defined]
    assert page.evaluate("window.stayed") and page.url.endswith("search.html?q=%E9%B9%A6%E9%B9%89&sort=relevance")  # type: ignore[attr-defined]
    page.select_option("form.filters select[name=source]", "d")  # type: ignore[attr-defined]
    page.click("form.filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("text=找到 1 篇")  # type: ignore[attr-defined]
    assert [a.inner_text() for a in page.query_selector_all("#results li > a")] == ["丁台的短讯"]  # type: ignore[attr-defined]
    page.go_back()  # type: ignore[attr-defined]
    page.wait_for_selector("text=找到 2 篇")  # type: ignore[attr-defined]
    assert page.evaluate("window.stayed") and page.input_value("form.filters input[name=q]") == "鹦鹉"  # type: ignore[attr-defined]
    assert page.input_value("form.filters select[name=source]") == ""  # type: ignore[attr-defined]
    assert errors == [] and strays == [], (errors, strays)
