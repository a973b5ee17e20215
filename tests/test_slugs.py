"""Outlets in Chinese-named folders: the slug rule, and an outlet with slug = "法广" through import, update,
lists, search, export, the reader, the static site (in Chromium when it is installed) and publish."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urljoin

import pytest

from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, Settings, SiteConfig, load_settings
from newsarchive.errors import ConfigError
from newsarchive.pipeline import update
from newsarchive.sources import Source, slug_for_folder
from newsarchive.store.fileformat import render_article

from .conftest import CHROMIUM, FeedServer, item, needs_chromium, rss, serving

FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=4, retries=0, backoff=0.01)
SLUG, NAME = "法广", "法国国际广播电台"


@pytest.mark.parametrize(
    "slug",
    [
        "rfi",
        "法广",
        "美国之音",
        "中国数字时代",
        "BBC",
        "dw.de",
        "rfi_2020-old",
        "Ελλάδα",
        "новости",
        "é",
        "٣٠",
        "中" * 64,
        "COM10",
        "con_news",
    ],
)
def test_good_slugs(slug: str, tmp_path: Path) -> None:
    assert Source(name="台", slug=slug).slug == slug
    (tmp_path / "newsarchive.toml").write_text(f'[[sources]]\nname = "台"\nslug = "{slug}"\n', encoding="utf-8")
    assert load_settings(tmp_path, env={}).sources[0].slug == slug


@pytest.mark.parametrize(
    ("slug", "problem"),
    [
        ("", "it is empty"),
        ("中" * 65, "longer than 64 characters"),
        (".git", "starts or ends with a dot"),
        ("..", "starts or ends with a dot"),
        ("rfi.", "starts or ends with a dot"),
        ("法 广", "SPACE is neither"),
        ("法\u3000广", "IDEOGRAPHIC SPACE is neither"),
        ("法\u00a0广", "NO-BREAK SPACE is neither"),
        ("a/b", "SOLIDUS is neither"),
        ("a\\b", "REVERSE SOLIDUS is neither"),
        ("rfi\n", "U+000A is neither"),
        ("rfi\x7f", "U+007F is neither"),
        ("法\u200b广", "ZERO WIDTH SPACE is neither"),
        ("\u202erfi", "RIGHT-TO-LEFT OVERRIDE is neither"),
        ("rfi\ufeff", "ZERO WIDTH NO-BREAK SPACE is neither"),
        ("rfi:1", "COLON is neither"),
        ("news*", "ASTERISK is neither"),
        ("①", "CIRCLED DIGIT ONE is neither"),
        ("e\u0301", "COMBINING ACUTE ACCENT is neither"),
        ("CON", "Windows reserves that name"),
        ("nul", "Windows reserves that name"),
        ("Aux.news", "Windows reserves that name"),
        ("com1", "Windows reserves that name"),
        ("LPT9", "Windows reserves that name"),
        ("com0", "Windows reserves that name"),
    ],
)
def test_bad_slugs_are_refused_saying_why(slug: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        Source(name="台", slug=slug)
    assert repr(slug) in str(caught.value) and "法广" in (caught.value.hint or "")
    (tmp_path / "newsarchive.toml").write_text(f'[[sources]]\nname = "台"\nslug = {json.dumps(slug)}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="newsarchive.toml: .*" + re.escape(problem)):
        load_settings(tmp_path, env={})


def test_slugs_that_differ_only_in_case_are_one_folder_on_some_systems(tmp_path: Path) -> None:
    (tmp_path / "newsarchive.toml").write_text(
        '[[sources]]\nname = "甲"\nslug = "rfi"\n\n[[sources]]\nname = "乙"\nslug = "RFI"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="two sources share the slug"):
        load_settings(tmp_path, env={})


def test_a_folder_is_the_outlet_whose_slug_it_is_before_the_one_named_so() -> None:
    sources = (Source(name="法广", slug="rfi"), Source(name="法广旧档", slug="法广"))
    assert [slug_for_folder(folder, sources) for folder in ("法广", "rfi", "法广旧档", "美国之音")] == ["法广", "rfi", "法广", "voa"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """An older archive's articles/法广/ imported, then continued by update from a loopback feed."""
    root = tmp_path_factory.mktemp("slugs")
    old = root / "old" / "articles" / SLUG
    old.mkdir(parents=True)
    old_text = render_article(
        pub_ms=1_602_546_944_000,
        title="旧闻 塞纳河畔",
        link="https://www.rfi.fr/cn/old/1",
        body="<p>二〇二〇年的旧闻，说的是塞纳河畔。</p>",
    )
    (old / "1042089_旧闻 塞纳河畔.md").write_text(old_text, encoding="utf-8")
    feeds = FeedServer()
    feed = feeds.add("/rfi.xml", rss(item(1, title="巴黎新闻一则", body="<p>巴黎的新闻，关于卢浮宫。</p>")))
    Archive.init(root / "archive").close()
    settings = Settings(
        sources=(Source(name=NAME, slug=SLUG, feeds=(feed,)),), fetch=FAST, site=SiteConfig(base_url="https://news.example.org/")
    )
    archive = Archive.open(root / "archive", settings=settings)
    assert archive.import_from(root / "old").imported == 1
    report = update(archive, clock=lambda: 1_780_000_000.0)
    feeds.close()
    assert [(s.slug, s.new, s.error) for s in report.sources] == [(SLUG, 1, None)]
    archive.build_site(root / "site")
    yield archive
    archive.close()


def test_update_continues_the_chinese_named_folder_and_its_list(archive: Archive) -> None:
    folder = archive.root / "articles" / SLUG
    assert sorted(p.name for p in folder.iterdir()) == ["1042088.md", "1042089_旧闻 塞纳河畔.md"]
    assert (archive.root / f"lists/{NAME}.md").read_text(encoding="utf-8") == (
        f"{NAME}\n------\n\n"
        f"6-1 [巴黎新闻一则](/articles/{SLUG}/1042088.md)\n\n"
        f"10-13 [旧闻 塞纳河畔](/articles/{SLUG}/1042089_旧闻%20塞纳河畔.md)\n\n"
    )


def test_search_and_export_by_the_chinese_slug(archive: Archive) -> None:
    hits = archive.search("卢浮宫", source=SLUG)
    assert [(h.source, h.path) for h in hits] == [(SLUG, f"articles/{SLUG}/1042088.md")]
    assert [h.path for h in archive.search("塞纳河", source=SLUG)] == [f"articles/{SLUG}/1042089_旧闻 塞纳河畔.md"]
    out = io.BytesIO()
    archive.export(out, source=SLUG)
    rows = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert sorted((r["source"], r["path"]) for r in rows) == [
        (SLUG, f"articles/{SLUG}/1042088.md"),
        (SLUG, f"articles/{SLUG}/1042089_旧闻 塞纳河畔.md"),
    ]


def test_cli_search_takes_the_chinese_slug(archive: Archive) -> None:
    from .test_cli import explain, run

    result = run("search", "卢浮宫", "--source", SLUG, "--json", "--archive", archive.root)
    assert result.returncode == 0, explain(result)
    assert [hit["path"] for hit in json.loads(result.stdout)["hits"]] == [f"articles/{SLUG}/1042088.md"]


def _hrefs(html: str) -> list[str]:
    return [h for h in re.findall(r'href="([^"]*)"', html) if not h.startswith(("http://", "https://", "#", "?"))]


def test_static_site_links_are_percent_encoded_and_lead_to_its_files(archive: Archive) -> None:
    site = archive.root.parent / "site"
    outlet = site / "outlets" / SLUG / "index.html"
    for page in (site / "index.html", outlet):
        hrefs = _hrefs(page.read_text(encoding="utf-8"))
        assert any(SLUG in unquote(h) for h in hrefs)
        for href in hrefs:
            assert href.isascii() and " " not in href, href
            assert (page.parent / unquote(href.split("?")[0])).resolve().is_file(), href
    feed = (site / "feeds" / f"{SLUG}.xml").read_text(encoding="utf-8")
    assert f'href="https://news.example.org/feeds/{quote(SLUG)}.xml"' in feed
    assert f'href="https://news.example.org/articles/{quote(SLUG)}/1042089_{quote("旧闻 塞纳河畔")}.html"' in feed


def test_reader_serves_the_outlet_and_its_articles(archive: Archive) -> None:
    with serving(archive) as base:
        outlet = urllib.request.urlopen(base + f"outlets/{quote(SLUG)}/index.html", timeout=10).read().decode()
        assert NAME in outlet and "巴黎新闻一则" in outlet
        article = next(h for h in _hrefs(outlet) if "1042088" in h)
        assert "卢浮宫" in urllib.request.urlopen(urljoin(base + f"outlets/{quote(SLUG)}/", article), timeout=10).read().decode()
        found = urllib.request.urlopen(base + f"search.html?q={quote('卢浮宫')}&source={quote(SLUG)}", timeout=10).read().decode()
        assert f'href="articles/{quote(SLUG)}/1042088.html"' in found


def test_publish_commits_the_chinese_folder_under_the_outlet_name(archive: Archive) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = archive.root
    subprocess.run(["git", "init", "--quiet", str(root)], check=True)
    for key, value in (("user.email", "test@example.invalid"), ("user.name", "test")):
        subprocess.run(["git", "-C", str(root), "config", key, value], check=True)
    report = archive.publish()
    assert report.commit
    message = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%s"], capture_output=True, text=True, check=True).stdout
    assert message.strip() == f"{NAME} +2"
    files = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, text=True, check=True).stdout.split("\0")
    assert f"articles/{SLUG}/1042089_旧闻 塞纳河畔.md" in files


@needs_chromium
def test_static_site_from_file_urls_in_chromium(archive: Archive) -> None:
    from playwright.sync_api import sync_playwright

    site = archive.root.parent / "site"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = chromium.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((site / "index.html").as_uri())
            page.click(f"a:has-text('{NAME}')")
            page.click("a:has-text('旧闻 塞纳河畔')")
            page.wait_for_selector("text=二〇二〇年的旧闻")
            page.goto((site / "search.html").as_uri() + f"?q=卢浮宫&source={quote(SLUG)}")
            page.click("ol.entries a:has-text('巴黎新闻一则')")
            page.wait_for_selector("text=巴黎的新闻")
            assert errors == []
        finally:
            chromium.close()
