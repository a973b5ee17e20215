"""Every kind of page in a real headless Chromium (Debian's, driven by Playwright), from the reader (`serve`) and from
the static site (`file://`): home, an outlet, an article with a kept image, a remote image and a video embed, an
earlier version, the changes between versions, search, the daily digest, the outlets' health, the takedowns and the
404 page. Every request of the browser is listened to, aborted or not: none may go to another host. The video's link
is the one thing that reaches another host, and only when the reader clicks it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsarchive.archive import Archive
from newsarchive.web.pages import page_of

from .conftest import CHROMIUM, FeedServer, needs_chromium, serving
from .reading import make_every_page_archive

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """Made before the browser starts: Playwright's sync API keeps an event loop running, and update uses its own."""
    feeds = FeedServer()
    root = tmp_path_factory.mktemp("every-page")
    archive = make_every_page_archive(feeds, root / "archive")
    archive.build_site(root / "site")
    feeds.close()  # from here on, the outlet's server is gone: nothing may need it
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def browser(archive: Archive) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def page_paths(archive: Archive) -> dict[str, str]:
    """A path of each kind of page."""
    rows = {row.title: row for row in archive.articles("c")}
    edited = rows["快讯两稿"]
    older, newer = archive.index.revisions(edited.rowid)[0][2], edited.updated_ms
    return {
        "home": "index.html",
        "outlet": "outlets/c/index.html",
        "article with images and an embed": page_of(rows["救灾物资送达"].path),
        "versions": page_of(edited.path),
        "earlier version": page_of(archive.index.revisions(edited.rowid)[0][0]),
        "diff": edited.path.removesuffix(".md") + f"/diff-{older}-{newer}.html",
        "search": "search.html?q=救灾",
        "digest": "digest/2026-06-10.html",
        "days": "digest/index.html",
        "health": "health.html",
        "takedowns": "takedowns.html",
        "takedown": page_of(rows["被删除的报道"].path),
    }


# What each page shows once it is ready.
SHOWS = {
    "home": "码云 Gitee",
    "outlet": "救灾物资送达",
    "article with images and an embed": "志愿者正在登记",
    "versions": "2026-05-29 04:26:20",
    "earlier version": "这是较早的版本",
    "diff": "补充了细节",
    "search": "救灾物资送达",
    "digest": "快讯两稿",
    "days": "2026-06-10",
    "health": "丙台 (c)",
    "takedowns": "被删除的报道",
    "takedown": "已被媒体删除",
}


def read_every_page(browser: object, base: str, paths: dict[str, str], allowed: str) -> None:
    """Open every kind of page from ``base``; fail on a console error (a CSP refusal is one) or on any request outside
    ``allowed``. Requests elsewhere are recorded first, then aborted, so nothing leaves this machine even when the test
    fails."""
    context = browser.new_context()  # type: ignore[attr-defined]
    strays: list[str] = []
    errors: list[str] = []
    context.on("request", lambda request: None if request.url.startswith(allowed) else strays.append(request.url))
    context.route(lambda url: not url.startswith(allowed), lambda route: route.abort())
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    for kind, path in paths.items():
        page.goto(base + path, wait_until="load")
        page.wait_for_selector(f"main :text('{SHOWS[kind]}')")
        page.wait_for_load_state("networkidle")
        assert strays == [], (kind, strays)
    page.goto(base + paths["article with images and an embed"])
    assert page.eval_on_selector("img[alt=现场照片]", "image => image.complete && image.naturalWidth") == 40  # the kept copy
    assert page.locator("iframe").count() == 0 and page.locator("a.image-link").count() == 2  # remote image and video: links
    link = page.locator("a.video-link")
    assert link.get_attribute("href") == "https://www.youtube.com/watch?v=dQw4w9WgXcQ" and link.get_attribute("target") == "_blank"
    assert errors == [] and strays == []
    # Only the reader's click goes elsewhere: it opens the video's page in a new tab (aborted here, but seen).
    with context.expect_page() as opened:
        link.click()
    opened.value.wait_for_load_state()
    assert [url for url in strays if url.startswith("https://www.youtube.com/watch?v=dQw4w9WgXcQ")], strays
    context.close()


def test_reader_requests_nothing_from_another_host(browser: object, archive: Archive) -> None:
    with serving(archive) as base:
        read_every_page(browser, base, page_paths(archive), base)
        # The 404 page, however deep the address, links home.
        page = browser.new_page()  # type: ignore[attr-defined]
        response = page.goto(base + "articles/c/no/such/page.html")
        assert response.status == 404 and "frame-src 'none'" in response.headers["content-security-policy"]
        page.click("a.home-link")
        page.wait_for_selector("h1:has-text('媒体 Outlets')")
        page.close()


def test_static_site_requests_nothing_from_another_host(browser: object, archive: Archive) -> None:
    site = archive.root.parent / "site"
    paths = page_paths(archive)
    read_every_page(browser, site.as_uri() + "/", paths, site.as_uri() + "/")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto((site / "404.html").as_uri())
    assert "frame-src 'none'" in page.get_attribute("meta[http-equiv=Content-Security-Policy]", "content")
    page.click("a.home-link")
    page.wait_for_selector("h1:has-text('媒体 Outlets')")
    page.close()
