"""The reader and the static site in a real headless Chromium (Debian's, driven by Playwright): open the home
page, search for a two-character word, open a hit, follow the outlet link. No console errors, and no request
to any host but the server (or, from file://, to anything but the site's files)."""

from __future__ import annotations

import shutil
import threading
import zipfile
from collections.abc import Iterator

import pytest

from newsarchive.store.archive import Archive
from newsarchive.web.app import make_server

from .conftest import FeedServer
from .reading import make_reading_archive

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
)


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


@pytest.fixture(scope="module")
def browser(archive: Archive) -> Iterator[object]:
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
    http = make_server(archive, "127.0.0.1", 0)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}/"
    try:
        page, errors, strays = visit(browser, base, base)
        read_and_search(page)
        page.goto(base + "outlets/a/page-1.html")  # type: ignore[attr-defined]
        page.click("a:has-text('上海疫情')")  # type: ignore[attr-defined]
        page.wait_for_selector("a.image-link")  # type: ignore[attr-defined]
        assert errors == [] and strays == []
    finally:
        http.shutdown()
        http.server_close()


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
