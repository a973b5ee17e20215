"""Full text: article pages fetched over loopback for summary feeds, each outlet's rule, untrusted addresses,
legacy encodings, and no flip-flop between summary and full text across runs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from newsarchive import fulltext
from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, Settings, load_settings, render_config
from newsarchive.errors import ConfigError, FetchError
from newsarchive.fetch import Fetcher
from newsarchive.models import SourceReport
from newsarchive.pipeline import update
from newsarchive.sources import DEFAULT_SOURCES, Source, source_from_table
from newsarchive.store.fileformat import parse_article

from .conftest import FeedServer, rss, snapshot

PAGES = Path(__file__).parent / "pages"
FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=4, retries=1, backoff=0.01)
SUMMARY = "<p>一句话的摘要，说的是第{n}条新闻。</p>"


def make_archive(root: Path, *sources: Source, fetch: FetchConfig = FAST) -> Archive:
    Archive.init(root).close()
    return Archive.open(root, settings=Settings(sources=sources, fetch=fetch))


def outlet(*feeds: str, slug: str = "news", **options: object) -> Source:
    settings: dict[str, object] = {"fulltext": "auto", "allow_private": True, **options}
    return Source(name=slug.upper(), slug=slug, feeds=feeds, **settings)  # type: ignore[arg-type]


def entry(link: str, n: int, body: str | None = None, title: str | None = None) -> dict[str, str]:
    return {
        "title": title or f"第{n}条新闻标题",
        "link": link,
        "guid": link,
        "pubDate": f"Mon, 01 Jun 2026 {n % 24:02d}:00:00 GMT",
        "description": f"<![CDATA[{body or SUMMARY.format(n=n)}]]>",
    }


def page_html(n: int, paragraphs: int = 6, charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    text = "".join(
        f"<p>第{n}篇文章的第{k}段正文：记者在现场看到，居民们排队领取救灾物资，志愿者忙着登记每户人家的需要。</p>"
        for k in range(1, paragraphs + 1)
    )
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>第{n}条新闻标题</title></head><body>"
        '<header><nav><a href="/">首页</a><a href="/world">国际</a><a href="/china">中国</a></nav></header>'
        f'<main><article><h1>第{n}条新闻标题</h1><img src="/img/{n}.jpg" alt="现场照片">{text}</article>'
        '<aside><h2>热门文章</h2><a href="/x">另一条新闻</a></aside></main><footer>版权所有</footer></body></html>'
    )


def body(root: Path, path: str) -> str:
    return parse_article((root / path).read_text(encoding="utf-8")).body


def only(report: SourceReport) -> tuple[int, int, int, str | None]:
    return report.new, report.updated, report.unchanged, report.error


def summary_of(archive: Archive, path: str) -> str | None:
    row = archive.index.article_at(path)
    assert row is not None
    return archive.index.summary(row.rowid)


# -- each default outlet's rule, against its page structure -------------------------------------------------------

OUTLET_PAGES = {"rfi": "rfi.html", "rfa": "rfa.html", "voa": "voa.html", "bbc": "bbc.html", "dw": "dw.json", "nyt": "nyt.html"}
OUTLET_PAGES |= {"cdt": "cdt.html", "ft": "ft.html"}
OUTLET_LINKS = {"dw": "/zh/测试国家议会否决养老金改革方案/a-99000001", "ft": "/story/001099999"}
OUTLET_EXPECT = {  # what must be in the body besides the main text's paragraphs: leads, images, credits
    "rfi": ("正文导语", "/media/display/aaaa-bbbb/w:1280/p:16x9/tram.jpg", "正文引语"),
    "rfa": ("TESTIMAGE.jpg", "正文小标题", "<li>正文列表二"),
    "voa": ("0000-1111_w1023_r1_s.jpg", "正文图注"),
    "bbc": ("campus.jpg", "正文小标题"),
    "dw": ("<strong>正文导语", "https://static.dw.com/image/99000002_605.jpg", "https://static.dw.com/image/99000003_605.jpg"),
    "nyt": ('<p class="article-paragraph">正文第一段', "01oldtown-articleLarge.jpg", "正文作者"),
    "cdt": ("CDT编者注", "/chinese/files/2026/06/test-image.png", "正文网友乙"),
    "ft": ("正文导语", '<img src="https://thumbor.ftacademy.cn/unsafe/picture/1/000123456_piclink.jpg">'),
}


@pytest.mark.parametrize("slug", sorted(OUTLET_PAGES))
def test_each_default_outlets_rule_takes_the_main_text_of_its_pages(server: FeedServer, tmp_path: Path, slug: str) -> None:
    default = next(source for source in DEFAULT_SOURCES if source.slug == slug)
    link = server.base + OUTLET_LINKS.get(slug, f"/{slug}/2026/06/01/article.html")
    feed = server.add(f"/{slug}.xml", rss(entry(link, 1)))
    page_path = fulltext.page_address(link, fulltext.rule_for(slug, default.fulltext_selector)).removeprefix(server.base)
    page = server.add(page_path, (PAGES / OUTLET_PAGES[slug]).read_bytes(), headers={"Content-Type": "text/html; charset=utf-8"})
    archive = make_archive(tmp_path, replace(default, feeds=(feed,), allow_private=True))
    report = update(archive)
    assert only(report.sources[0]) == (1, 0, 0, None), report.sources[0].warnings
    text = body(tmp_path, f"articles/{slug}/1048574.md")
    assert "不要" not in text  # navigation, ads, promotions, related links, bylines, scripts
    assert all(f"正文第{n}段" in text for n in "一二三"), text
    assert all(expected in text for expected in OUTLET_EXPECT[slug]), text
    assert "\n" not in text and server.routes[page_path].hits == 1 and page
    assert summary_of(archive, f"articles/{slug}/1048574.md") == SUMMARY.format(n=1)


def test_a_legacy_rfa_page_is_read_by_its_story_text(server: FeedServer, tmp_path: Path) -> None:
    paragraphs = "".join(f"<p>正文第{n}段：旧版网页的正文，讲述的是一件发生在边境小镇的事情，当地居民对此议论纷纷。</p>" for n in "一二三")
    page = (
        '<html><head><meta charset="utf-8"></head><body><div id="nav">不要：导航</div>'
        '<div id="headerimg"><img src="/mandarin/img/lead.jpg"></div><span id="story_date">2024-04-24</span>'
        f'<div id="storytext">{paragraphs}</div><div id="related">不要：相关</div></body></html>'
    )
    server.add("/mandarin/yataibaodao/story.html", page)
    feed = server.add("/rfa.xml", rss(entry(server.base + "/mandarin/yataibaodao/story.html", 1)))
    archive = make_archive(tmp_path, outlet(feed, slug="rfa"))
    update(archive)
    text = body(tmp_path, "articles/rfa/1048574.md")
    assert text.startswith(f'<div id="headerimg"><img src="{server.base}/mandarin/img/lead.jpg"></div><p>正文第一段') and "不要" not in text


# -- when pages are fetched, and what stays ---------------------------------------------------------------------


def test_summary_feed_gets_its_pages_and_never_flip_flops_across_runs(server: FeedServer, tmp_path: Path) -> None:
    links = [server.add(f"/zh/{n}", page_html(n), headers={"Content-Type": "text/html"}, etag=f'"p{n}"') for n in (1, 2, 3)]
    feed = server.add("/feed.xml", rss(*(entry(link, n) for n, link in enumerate(links, 1))))
    archive = make_archive(tmp_path, outlet(feed))
    report = update(archive)
    assert only(report.sources[0]) == (3, 0, 0, None) and not report.sources[0].warnings
    first = body(tmp_path, "articles/news/1048574.md")
    assert first.startswith("<h1>第1条新闻标题</h1>") and "第1篇文章的第6段正文" in first and "热门文章" not in first
    assert f'<img src="{server.base}/img/1.jpg" alt="现场照片"/>' in first  # addresses made absolute
    assert summary_of(archive, "articles/news/1048574.md") == SUMMARY.format(n=1)
    contents = snapshot(tmp_path)

    # The same summaries again, in a feed with one more item: only the new article's page is fetched.
    links.append(server.add("/zh/4", page_html(4), headers={"Content-Type": "text/html"}))
    server.add("/feed.xml", rss(*(entry(link, n) for n, link in enumerate(links, 1))))
    report = update(archive)
    assert only(report.sources[0]) == (1, 0, 3, None)
    assert [server.routes[f"/zh/{n}"].hits for n in (1, 2, 3, 4)] == [1, 1, 1, 1]
    assert all(snapshot(tmp_path)[path] == data for path, data in contents.items() if path.startswith("articles/"))

    # A changed summary asks for the page again, conditionally: 304 leaves the stored text as it is.
    server.add("/feed.xml", rss(*(entry(link, n, body="<p>改过的摘要。</p>" if n == 1 else None) for n, link in enumerate(links, 1))))
    report = update(archive)
    assert only(report.sources[0]) == (0, 0, 4, None)
    assert server.routes["/zh/1"].hits == 2 and server.routes["/zh/1"].requests[-1]["If-None-Match"] == '"p1"'
    assert body(tmp_path, "articles/news/1048574.md") == first and summary_of(archive, "articles/news/1048574.md") == "<p>改过的摘要。</p>"
    assert not (tmp_path / "revisions").exists()

    # A rebuilt index keeps the summaries; an outlet switched to its feed's body keeps the stored page texts.
    archive.reindex()
    assert summary_of(archive, "articles/news/1048574.md") == "<p>改过的摘要。</p>"
    archive = Archive.open(tmp_path, settings=Settings(sources=(outlet(feed, fulltext="feed"),), fetch=FAST))
    links.append(server.base + "/zh/5")
    server.add("/feed.xml", rss(*(entry(link, n, body="<p>改过的摘要。</p>" if n == 1 else None) for n, link in enumerate(links, 1))))
    assert only(update(archive).sources[0]) == (1, 0, 4, None)
    assert body(tmp_path, "articles/news/1048574.md") == first and not (tmp_path / "revisions").exists()


def test_a_page_that_fails_with_503_keeps_the_feed_body_and_is_tried_again_later(server: FeedServer, tmp_path: Path) -> None:
    good = server.add("/zh/1", page_html(1))
    broken = server.add("/zh/2", "busy", status=503)
    feed = server.add("/feed.xml", rss(entry(good, 1), entry(broken, 2)))
    archive = make_archive(tmp_path, outlet(feed))
    report = update(archive)
    assert only(report.sources[0]) == (2, 0, 0, None)
    assert [w for w in report.sources[0].warnings if broken in w and "503" in w and "feed's body kept" in w]
    assert body(tmp_path, "articles/news/1048573.md") == SUMMARY.format(n=2)  # nothing lost, nothing stops
    assert "第1篇文章的第6段正文" in body(tmp_path, "articles/news/1048574.md")
    assert server.routes["/zh/2"].hits == 2  # fetch.retries = 1

    # The page works again; the next time the feed changes, the article gets its full text, the summary kept
    # as its earlier version.
    server.add("/zh/2", page_html(2))
    server.add("/feed.xml", rss(entry(good, 1), entry(broken, 2), entry(server.add("/zh/3", page_html(3)), 3)))
    report = update(archive)
    assert only(report.sources[0]) == (1, 1, 1, None) and not report.sources[0].warnings
    assert "第2篇文章的第6段正文" in body(tmp_path, "articles/news/1048573.md")
    assert [p.name for p in (tmp_path / "revisions/news/1048573").iterdir()] and server.routes["/zh/1"].hits == 1


def test_a_page_without_main_text_keeps_the_feed_body(server: FeedServer, tmp_path: Path) -> None:
    empty = server.add("/zh/1", "<html><body><nav>首页</nav></body></html>")
    thin = server.add("/zh/2", "<html><body><article><p>短。</p></article></body></html>")
    feed = server.add("/feed.xml", rss(entry(empty, 1), entry(thin, 2)))
    archive = make_archive(tmp_path, outlet(feed))
    report = update(archive)
    assert only(report.sources[0]) == (2, 0, 0, None) and len(report.sources[0].warnings) == 2
    assert body(tmp_path, "articles/news/1048574.md") == SUMMARY.format(n=1) and summary_of(archive, "articles/news/1048574.md") is None
    assert body(tmp_path, "articles/news/1048573.md") == SUMMARY.format(n=2)


def test_no_page_when_a_sibling_feed_carries_the_full_text(server: FeedServer, tmp_path: Path) -> None:
    link = server.add("/zh/1", page_html(1))
    full = "<p>" + "镜像源给出的全文，内容完整。" * 40 + "</p>"
    official = server.add("/official.xml", rss(entry(link, 1)))
    mirror = server.add("/mirror.xml", rss(entry(link, 1, body=full)))
    archive = make_archive(tmp_path, outlet(official, mirror))
    assert only(update(archive).sources[0]) == (1, 0, 0, None)
    assert server.routes["/zh/1"].hits == 0 and body(tmp_path, "articles/news/1048574.md") == full


def test_feed_mode_never_fetches_and_page_mode_always_does(server: FeedServer, tmp_path: Path) -> None:
    long_body = "<p>" + "足够长的正文。" * 60 + "</p>"
    one, two = server.add("/zh/1", page_html(1, paragraphs=40)), server.add("/zh/2", page_html(2))
    archive = make_archive(
        tmp_path,
        outlet(server.add("/a.xml", rss(entry(one, 1, body=long_body))), slug="a", fulltext="page"),
        outlet(server.add("/b.xml", rss(entry(two, 2))), slug="b", fulltext="feed"),
    )
    update(archive)
    assert server.routes["/zh/1"].hits == 1 and "第1篇文章的第40段正文" in body(tmp_path, "articles/a/1048574.md")
    assert server.routes["/zh/2"].hits == 0 and body(tmp_path, "articles/b/1048574.md") == SUMMARY.format(n=2)


def test_pages_per_outlet_are_bounded_newest_first_and_the_rest_come_later(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fulltext, "MAX_PAGES_PER_OUTLET", 2)
    links = [server.add(f"/zh/{n}", page_html(n)) for n in range(1, 5)]
    server.add("/feed.xml", rss(*(entry(link, n) for n, link in enumerate(links, 1))))
    archive = make_archive(tmp_path, outlet(server.base + "/feed.xml"))
    update(archive)
    assert [server.routes[f"/zh/{n}"].hits for n in range(1, 5)] == [0, 0, 1, 1]
    links.append(server.add("/zh/5", page_html(5)))
    server.add("/feed.xml", rss(*(entry(link, n) for n, link in enumerate(links, 1))))
    report = update(archive)
    assert only(report.sources[0]) == (1, 1, 3, None)  # the new one first, then the newest waiting one
    assert [server.routes[f"/zh/{n}"].hits for n in range(1, 6)] == [0, 1, 1, 1, 1]


# -- untrusted addresses ------------------------------------------------------------------------------------------


def test_without_allow_private_a_link_to_loopback_gets_no_page(server: FeedServer, tmp_path: Path) -> None:
    link = server.add("/zh/1", page_html(1))
    archive = make_archive(tmp_path, outlet(server.add("/feed.xml", rss(entry(link, 1))), allow_private=False))
    report = update(archive)  # the feed itself is on loopback too: configured addresses are trusted
    assert only(report.sources[0]) == (1, 0, 0, None)
    assert server.routes["/zh/1"].hits == 0
    assert [w for w in report.sources[0].warnings if "127.0.0.1 is a loopback address" in w and "allow_private" in w]
    assert body(tmp_path, "articles/news/1048574.md") == SUMMARY.format(n=1)


def test_a_redirect_from_an_allowed_host_to_a_private_address_is_refused(server: FeedServer) -> None:
    # The loopback server plays a proxy, so that the page's host (which does not resolve here) passes the check.
    secret = server.add("/secret", "内部数据")
    server.add("http://news.example.invalid/zh/1", status=302, headers={"Location": secret})
    server.add("http://news.example.invalid/zh/2", page_html(2))

    async def fetch(url: str) -> bytes | None:
        async with Fetcher(replace(FAST, proxy=server.base, retries=0)) as fetcher:
            return (await fetcher.fetch(url, untrusted=True)).body

    assert "第2篇文章" in (asyncio.run(fetch("http://news.example.invalid/zh/2")) or b"").decode()
    with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1 is a loopback address"):
        asyncio.run(fetch("http://news.example.invalid/zh/1"))
    with pytest.raises(FetchError, match="must be http"):
        asyncio.run(fetch("file:///etc/passwd"))
    port = server.server.server_address[1]
    for disguised in (f"http://localhost:{port}/secret", f"http://2130706433:{port}/secret", f"http://[::ffff:127.0.0.1]:{port}/secret"):
        with pytest.raises(FetchError, match="is a loopback address"):  # checked on the address the name resolves to
            asyncio.run(fetch(disguised))
    assert server.routes["/secret"].hits == 0


# -- legacy encodings ----------------------------------------------------------------------------------------------


LEGACY_TEXTS = {  # title, summary, a paragraph: each only in characters of its encoding
    "gbk": ("铁路夜车重新开行", "停运三年的夜车下周恢复。", "记者在车站看到，许多旅客提前赶来购票，车站增派了工作人员维持秩序。"),
    "gb18030": ("铁路夜车𠀋重开", "停运三年的夜车𠀋下周恢复。", "记者在车站看到，许多旅客提前赶来购票，𠀋车站增派了工作人员维持秩序。"),
    "big5": ("臺灣鐵路的夜車", "停駛三年的夜車下週恢復。", "記者在車站看到，許多旅客提前趕來購票，車站增派了工作人員維持秩序。"),
}


@pytest.mark.parametrize("encoding", sorted(LEGACY_TEXTS))
@pytest.mark.parametrize("declared", ["inside", "http", "none"])
def test_feeds_and_pages_in_legacy_encodings_decode(server: FeedServer, tmp_path: Path, encoding: str, declared: str) -> None:
    title, summary, paragraph = LEGACY_TEXTS[encoding]
    feed = rss(entry(server.base + "/zh/1", 1, title=title, body=f"<p>{summary}</p>")).decode().replace("测试", "測試")
    feed = feed.replace('encoding="utf-8"', f'encoding="{encoding}"' if declared == "inside" else "")
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={encoding}">' if declared == "inside" else ""
    text = "".join(f"<p>{n}．{paragraph}</p>" for n in range(1, 9))
    page = f"<html><head>{meta}<title>{title}</title></head><body><nav>首頁</nav><article><h1>{title}</h1>{text}</article></body></html>"
    charset = f"; charset={encoding}" if declared == "http" else ""
    server.add("/zh/1", page.encode(encoding), headers={"Content-Type": "text/html" + charset})
    feed_url = server.add("/feed.xml", feed.encode(encoding), headers={"Content-Type": "application/xml" + charset})
    archive = make_archive(tmp_path, outlet(feed_url))
    report = update(archive)
    assert only(report.sources[0]) == (1, 0, 0, None)
    article = parse_article((tmp_path / "articles/news/1048574.md").read_text(encoding="utf-8"))
    assert article.title == title and f"<p>8．{paragraph}</p>" in article.body, report.sources[0].warnings
    assert summary_of(archive, "articles/news/1048574.md") == f"<p>{summary}</p>"


# -- settings --------------------------------------------------------------------------------------------------


def test_source_tables_take_the_fulltext_keys_with_clear_errors(tmp_path: Path) -> None:
    table = {"name": "自建", "slug": "mine", "feeds": ["https://mine.example.org/feed"], "fulltext": "page", "allow_private": True}
    source = source_from_table({**table, "fulltext_selector": "div.post-content"}, "sources.toml")
    assert (source.fulltext, source.fulltext_selector, source.allow_private) == ("page", "div.post-content", True)
    assert source_from_table({"name": "甲", "slug": "a"}, "x").fulltext == "feed"
    for bad, message in (
        ({"fulltext": "full"}, "fulltext = 'full' is not one of 'feed', 'page', 'auto'"),
        ({"fulltext_selector": "div..x"}, "fulltext_selector = 'div..x' is not a CSS selector"),
        ({"fulltext_selector": ""}, "fulltext_selector a non-empty CSS selector"),
        ({"allow_private": "yes"}, "allow_private must be true or false"),
    ):
        with pytest.raises(ConfigError, match="sources.toml: .*" + message.replace("(", r"\(").replace(".", r"\.")):
            source_from_table({**table, **bad}, "sources.toml")


def test_init_writes_the_default_outlets_fulltext_keys_and_reads_them_back(tmp_path: Path) -> None:
    config = render_config()
    cdt = 'slug = "cdt"\nfeeds = ["https://chinadigitaltimes.net/chinese/feed/"]\nfulltext = "auto"\n'
    assert cdt + 'fulltext_selector = "div.post-content"\n' in config
    assert "allow_private" not in config
    Archive.init(tmp_path).close()
    assert load_settings(tmp_path).sources == DEFAULT_SOURCES
    mine = outlet("https://mine.example.org/feed", slug="mine")
    (tmp_path / "newsarchive.toml").write_text(render_config((mine,)), encoding="utf-8")
    assert load_settings(tmp_path).sources == (mine,)


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        ("<p>短短一句话。</p>", True),
        ("<p>" + "很长的正文。" * 60 + "</p>", False),
        ("<p>" + "很长的导语。" * 60 + "…</p>", True),
        ("<p>" + "很长的导语。" * 60 + '<a href="/x">阅读全文</a></p>', True),
        ("<p>" + "A long English lead. " * 30 + "[…]</p>", True),
    ],
)
def test_what_looks_like_a_summary(text: str, summary: bool) -> None:
    assert fulltext.looks_like_summary(text) is summary
