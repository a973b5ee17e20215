"""The static site: relative links, incremental rebuilds, Atom feeds that parse back, the sitemap, the
search index files."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from newsarchive.archive import Archive
from newsarchive.publish.sitesearch import read_meta, shard_of, tokens_of

from .conftest import FeedServer, item, rss
from .reading import make_reading_archive, outlet_a


def site_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".newsarchive-site"}


def test_pages_link_relatively_and_every_link_resolves(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    report = archive.build_site(out)
    assert report.written > 0 and (out / "index.html").is_file() and (out / ".nojekyll").is_file()
    pages = [p for p in out.rglob("*.html")]
    assert len(pages) >= 7 + 1 + 3 + 2 + 2  # articles, one earlier version, outlet pages, home and search
    for page in pages:
        tree = html.fromstring(page.read_bytes())
        for link in tree.xpath("//a/@href | //link/@href | //script/@src"):
            if link.startswith(("http://", "https://")):
                assert "original" in (tree.xpath(f'//a[@href="{link}"]/@class') or [""])[0] or "image-link" in str(
                    tree.xpath(f'//a[@href="{link}"]/@class')
                ), (page, link)  # only the original article and its images point elsewhere
                continue
            assert not link.startswith("/"), (page, link)
            target = (page.parent / link.split("?")[0]).resolve()
            assert target.exists() or link.endswith("/"), (page, link)


def test_rebuild_after_one_new_article_rewrites_only_what_changed(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    archive.build_site(out)
    before = site_files(out)
    again = archive.build_site(out)
    assert again.written == 0 and site_files(out) == before
    server.add("/a.xml", outlet_a(item(7, day=7, title="新来的一条"), edited=True))
    archive.update()
    report = archive.build_site(out)
    after = site_files(out)
    changed = sorted(path for path in after if before.get(path) != after[path])
    new_page = next(path for path in changed if path.startswith("articles/"))
    assert "新来的一条" in after[new_page].decode()
    # The new article, its outlet's newest pages, its day's digest and the days either side (their links to it), the
    # list of days, the home page, the feeds, the health page (a new run); and the search files of its tokens.
    assert report.written == len(changed)
    pages = [path for path in changed if not path.startswith("search/")]
    # page-2 was the newest and full: it gains its link to the new page-3.
    expected = [
        new_page,
        "digest/2026-06-06.html",
        "digest/2026-06-07.html",
        "digest/2026-06-10.html",
        "digest/index.html",
        "feeds/a.xml",
        "feeds/all.xml",
        "feeds/digest.xml",
        "health.html",
        "index.html",
        "outlets/a/index.html",
        "outlets/a/page-2.html",
        "outlets/a/page-3.html",
    ]
    assert pages == expected, pages
    # Only the search files of its year (2026): the shards of its tokens, its documents file, the times; and meta.js.
    shards = read_meta(out / "search/meta.js")["years"]["2026"]["shards"]
    touched = {f"search/2026/s{shard_of(token, shards)}.js" for token in tokens_of("新来的一条\n第7条新闻的正文。")}
    assert set(changed) - set(pages) <= touched | {"search/2026/d0.js", "search/2026/w.js", "search/meta.js"}
    assert not any(path.startswith("outlets/a/page-1") or path.startswith("outlets/b/") for path in changed), changed
    assert all(before[path] == after[path] for path in before if path.startswith("articles/") and path != new_page)


def test_search_files_rebuilt_after_changes_are_those_of_a_whole_build(server: FeedServer, tmp_path: Path) -> None:
    """New, edited and removed articles: the search files a rebuild leaves are, byte for byte, those a whole build
    into another folder makes; only those that changed were written."""
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    archive.build_site(out)
    for step, change in enumerate(("new and edited", "removed")):
        before = site_files(out)
        if change == "removed":
            row = next(archive.articles("b"))
            (archive.root / row.path).unlink()
            archive.reindex()
        else:  # a new article, and an edit of the first (its text and its title)
            first = item(1, day=1, title="王毅访问中亚五国", body="<p>「一带一路」倡议十周年，鹦鹉螺号。</p>")
            server.add("/a.xml", rss(first, *[item(n, day=n) for n in range(2, 7)], item(8, day=8, title="新来的鹦鹉螺")))
            archive.update()
        report = archive.build_site(out)
        after = site_files(out)
        archive.build_site(tmp_path / f"whole{step}")
        whole = site_files(tmp_path / f"whole{step}")
        search = {path: data for path, data in after.items() if path.startswith("search/")}
        assert search == {path: data for path, data in whole.items() if path.startswith("search/")}, change
        assert report.written == sum(before.get(path) != data for path, data in after.items()), change
        assert [number for number, _, _ in postings(out / "search", 2026, "鹦_鹉")] == [0, 7 - step]


def test_removed_articles_lose_their_pages(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    archive.build_site(out)
    row = next(archive.articles("b"))
    (archive.root / row.path).unlink()
    archive.reindex()
    report = archive.build_site(out)
    assert report.removed >= 1 and not (out / row.path.replace(".md", ".html")).exists()
    assert not (out / "outlets/b/index.html").exists()
    assert not (out / "digest/2026-06-10.html").exists() and "2026-06-10" not in (out / "digest/index.html").read_text()


def test_atom_feeds_parse_back_and_sitemap_with_base_url(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    archive.build_site(out, base_url="https://mirror.example.org/news")
    feed = feedparser.parse((out / "feeds/all.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert len(feed.entries) == 7 and feed.entries[0].title == "台灣選舉結果"
    assert feed.entries[0].link.startswith("https://mirror.example.org/news/articles/b/")
    assert "<script" not in feed.entries[0].content[0].value
    outlet = feedparser.parse((out / "feeds/a.xml").read_bytes())
    assert not outlet.bozo and outlet.feed.title == "甲台" and len(outlet.entries) == 6
    hostile = next(e for e in outlet.entries if e.title == "上海疫情")
    assert "alert" not in hostile.content[0].value
    sitemap = etree.fromstring((out / "sitemap.xml").read_bytes())
    locations = [loc.text for loc in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    assert "https://mirror.example.org/news/index.html" in locations and len(locations) >= 12
    assert all(str(loc).startswith("https://mirror.example.org/news/") for loc in locations)


def test_without_base_url_feeds_point_at_the_originals_and_no_sitemap(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    archive.build_site(tmp_path / "site")
    feed = feedparser.parse((tmp_path / "site/feeds/b.xml").read_bytes())
    assert not feed.bozo and feed.entries[0].link == "https://news.example.org/zh/20"
    assert not (tmp_path / "site/sitemap.xml").exists()


def postings(search: Path, year: int, token: str) -> list[tuple[int, int, bool]]:
    """(article number in the year, count, in the title) for each article holding ``token``, read back from the
    search files as search.js reads them."""
    shards = read_meta(search / "meta.js")["years"][str(year)]["shards"]
    text = (search / f"{year}/s{shard_of(token, shards)}.js").read_text()
    encoded = json.loads(re.match(r"naSearch\.shard\(\d+,\d+,(.*)\);\n$", text, re.S)[1]).get(token)  # type: ignore[index]
    if encoded is None:
        return []
    bits = "".join(format(byte, "08b") for byte in base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
    at = 0

    def read(width: int) -> int:
        nonlocal at
        at += width
        return int(bits[at - width : at] or "0", 2)

    def gamma() -> int:
        nonlocal at
        zeros = bits.index("1", at) - at
        at += zeros
        return read(zeros + 1)

    count, k = gamma(), read(5)
    found, number = [], -1
    for _ in range(count):
        quotient = bits.index("0", at) - at
        at += quotient + 1
        number += (quotient << k) + read(k) + 1
        code = gamma() - 1
        found.append((number, code // 2 + 1, bool(code & 1)))
    return found


def test_search_files_hold_every_token_of_the_text_with_counts(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    filler = "甲乙丙丁，戊己庚辛。" * 40  # 400 characters before the word
    server.add("/b.xml", rss(item(20, day=9, title="台灣選舉結果", body=f"<p>台湾的选举。</p><p>{filler}鹦鹉螺号，鹦鹉螺。</p>")))
    archive.update()
    archive.build_site(tmp_path / "site")
    search = tmp_path / "site/search"
    assert sorted(path.name for path in search.iterdir()) == ["2026", "meta.js", "t2s.js"]
    assert [(count, title) for _, count, title in postings(search, 2026, "鹉_螺")] == [(2, False)]  # 400 characters in
    assert [(count, title) for _, count, title in postings(search, 2026, "台_湾")] == [(2, True)]  # 灣 folded to 湾
    assert len(postings(search, 2026, "一_带")) == 1 and postings(search, 2026, "新_闻")  # 一帶一路 in a lead, 新闻 everywhere
    assert tokens_of("台灣，Joe Biden") == ["台", "湾", "台_湾", "joe", "biden", "joe_biden"]  # punctuation ends a run
    documents = (search / "2026/d0.js").read_text()
    assert "台灣選舉結果" in documents and "t2s" not in documents
    assert "灣湾" in (search / "t2s.js").read_text()


def test_search_files_are_sharded_by_year(server: FeedServer, tmp_path: Path) -> None:
    """Articles of another year go to that year's files, which a rebuild for this year leaves as they are."""
    archive = make_reading_archive(server, tmp_path / "archive")
    old = item(30, day=1, title="旧闻一则", body="<p>二〇二五年的鹦鹉螺。</p>")
    old["pubDate"] = "Mon, 02 Jun 2025 08:00:00 GMT"
    server.add("/b.xml", rss(item(20, day=9, title="台灣選舉結果", body="<p>台湾的选举。</p>"), old))
    archive.update()
    out = tmp_path / "site"
    archive.build_site(out)
    meta = read_meta(out / "search/meta.js")
    assert {year: summary["articles"] for year, summary in meta["years"].items()} == {"2025": 1, "2026": 7}
    assert [number for number, _, _ in postings(out / "search", 2025, "鹦_鹉")] == [0] and not postings(out / "search", 2026, "鹦_鹉")
    before = site_files(out)
    server.add("/a.xml", outlet_a(item(7, day=7, title="新来的一条"), edited=True))
    archive.update()
    archive.build_site(out)
    after = site_files(out)
    assert all(after[path] == data for path, data in before.items() if path.startswith("search/2025/"))
    assert any(after[path] != data for path, data in before.items() if path.startswith("search/2026/"))


def test_site_is_refused_inside_the_archive_folders(server: FeedServer, tmp_path: Path) -> None:
    from newsarchive.errors import PublishError

    archive = Archive.init(tmp_path / "archive")
    with pytest.raises(PublishError, match="inside the archive"):
        archive.build_site(tmp_path / "archive" / "articles" / "site")


def test_a_big_sitemap_is_split_with_an_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from newsarchive.publish import feeds

    monkeypatch.setattr(feeds, "SITEMAP_SIZE", 2)
    archive = SimpleNamespace(settings=SimpleNamespace(site=SimpleNamespace(base_url="https://m.example.org/")))
    files = feeds.sitemaps(archive, iter(["index.html", "a/1.html", "a/2.html", "outlets/甲/index.html"]))  # type: ignore[arg-type]
    assert sorted(files) == ["sitemap-1.xml", "sitemap-2.xml", "sitemap.xml"]
    assert b"<sitemapindex" in files["sitemap.xml"] and b"https://m.example.org/sitemap-2.xml" in files["sitemap.xml"]
    assert b"https://m.example.org/outlets/%E7%94%B2/index.html" in files["sitemap-2.xml"]


def test_bundle_holds_the_site_and_the_raw_archive(server: FeedServer, tmp_path: Path) -> None:
    import zipfile

    archive = make_reading_archive(server, tmp_path / "archive")
    report = archive.bundle(tmp_path / "out" / "news.zip")
    names = zipfile.ZipFile(tmp_path / "out" / "news.zip").namelist()
    assert report.articles == 7 and "index.html" in names and "search.html" in names and "search/meta.js" in names
    assert "archive/README.md" in names and "archive/lists/甲台.md" in names and "archive/health.json" in names
    assert sum(name.startswith("archive/articles/") for name in names) == 7 and any(n.startswith("archive/revisions/") for n in names)
    assert not any(name.endswith(".sqlite") for name in names) and list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "news.zip"]
    # Since a day: only the articles published from then, with lists and a site of their own.
    report = archive.bundle(tmp_path / "recent.zip", since_ms=archive.index.article_at(next(archive.articles("b")).path).pub_ms)  # type: ignore[union-attr]
    recent = zipfile.ZipFile(tmp_path / "recent.zip")
    articles = [name for name in recent.namelist() if name.startswith("archive/articles/")]
    assert report.articles == 1 and len(articles) == 1 and "archive/lists/乙台.md" in recent.namelist()
    assert "台灣選舉結果" in recent.read("index.html").decode() and "第6条新闻标题" not in recent.read("index.html").decode()


def test_daily_digest_health_takedowns_and_404_pages(server: FeedServer, tmp_path: Path) -> None:
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    archive.build_site(out, base_url="https://mirror.example.org/news")
    days = sorted(p.name for p in (out / "digest").iterdir())
    assert days == [f"2026-06-0{n}.html" for n in range(1, 7)] + ["2026-06-10.html", "index.html"]
    assert 'href="digest/2026-06-10.html"' in (out / "index.html").read_text()
    day = (out / "digest/2026-06-01.html").read_text()
    assert "王毅訪問中亞" in day and 'href="../articles/a/' in day and 'href="2026-06-02.html"' in day
    digests = feedparser.parse((out / "feeds/digest.xml").read_bytes())
    assert (
        not digests.bozo
        and len(digests.entries) == 7
        and digests.entries[0].link == "https://mirror.example.org/news/digest/2026-06-10.html"
    )
    assert "https://mirror.example.org/news/articles/b/" in digests.entries[0].content[0].value
    # Health as of the last update (so a rebuild with nothing new writes nothing), the takedowns (none yet).
    health = (out / "health.html").read_text()
    assert "甲台 (a)" in health and "截至 As of <time>2026-05-29 05:26</time>" in health
    assert "还没有发现被删除的文章" in (out / "takedowns.html").read_text()
    # A static host serves 404.html at whatever address was asked: with a base_url its links are absolute.
    missing = html.fromstring((out / "404.html").read_bytes())
    assert missing.xpath("//a[@class='home-link']/@href") == ["https://mirror.example.org/news/index.html"]
    assert missing.xpath("//link[@rel='stylesheet']/@href") == ["https://mirror.example.org/news/static/style.css"]
    assert archive.build_site(out).written == 0


def test_mirrors_readers_can_browse_are_on_the_home_page_in_readme_and_in_the_bundle(server: FeedServer, tmp_path: Path) -> None:
    import zipfile
    from dataclasses import replace

    from newsarchive.config import Mirror

    archive = make_reading_archive(server, tmp_path / "archive")
    mirrors = (
        Mirror(name="github", url="git@github.com:you/news.git", read_url="https://you.github.io/news/"),
        Mirror(name="gitee", url="git@gitee.com:you/news.git"),  # pushed to, but not for reading
        Mirror(name="ipfs (网关)", url="/srv/news.git", read_url="https://ipfs.example.invalid/ipns/news/"),
    )
    readme_before = (archive.root / "README.md").read_text()
    assert "镜像" not in readme_before
    archive.settings = replace(archive.settings, mirrors=mirrors)
    archive.refresh_lists(())
    readme = (archive.root / "README.md").read_text()
    assert readme == readme_before + (
        "镜像 Mirrors\n------\n\n[github](https://you.github.io/news/)\n\n[ipfs (网关)](https://ipfs.example.invalid/ipns/news/)\n\n"
    )
    archive.build_site(tmp_path / "site")
    home = html.fromstring((tmp_path / "site/index.html").read_bytes())
    assert home.xpath("//section[@class='mirrors']//a/@href") == ["https://you.github.io/news/", "https://ipfs.example.invalid/ipns/news/"]
    archive.bundle(tmp_path / "news.zip")
    bundle = zipfile.ZipFile(tmp_path / "news.zip")
    notes = bundle.read("README.txt").decode()
    assert "github: https://you.github.io/news/\n" in notes and "ipfs (网关): https://ipfs.example.invalid/ipns/news/\n" in notes
    assert "gitee" not in notes and "https://you.github.io/news/" in bundle.read("index.html").decode()
    assert "https://you.github.io/news/" in bundle.read("archive/README.md").decode()


def test_the_build_state_is_kept_in_the_archive_never_in_the_site(server: FeedServer, tmp_path: Path) -> None:
    """The state holds every article's search tokens (679 MB at 100,000 articles): published with the site, it
    would push a GitHub Pages site past its 1 GB. A folder emptied, or left by an older version, is built whole."""
    archive = make_reading_archive(server, tmp_path / "archive")
    out = tmp_path / "site"
    (out).mkdir()
    (out / ".newsarchive-site.sqlite").write_bytes(b"state of an older version")
    first = archive.build_site(out)
    assert not (out / ".newsarchive-site.sqlite").exists()
    assert not [path for path in out.rglob("*") if path.suffix in (".sqlite", ".sqlite-wal", ".sqlite-shm")]
    assert (out / ".newsarchive-site").stat().st_size < 100
    assert list((archive.root / ".newsarchive" / "sites").glob("*.sqlite"))
    for path in sorted(out.iterdir()):  # emptied, as a user or a deploy step would
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    again = archive.build_site(out)
    assert again.written == first.written, "every page is written again, none taken for already there"
