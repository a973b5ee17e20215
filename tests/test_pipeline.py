"""update() end to end: real HTTP on loopback, real files, real SQLite."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from newsarchive.archive import Archive
from newsarchive.check import check
from newsarchive.config import FetchConfig, SearchConfig, Settings
from newsarchive.index.db import CHANGED_SINCE
from newsarchive.index.search import SearchIndex
from newsarchive.models import Article, FeedItem
from newsarchive.pipeline import update
from newsarchive.sources import Source
from newsarchive.store.atomic import AtomicBatch
from newsarchive.store.fileformat import parse_article
from newsarchive.store.layout import SEARCH_DIR

from .conftest import FEEDS, FeedServer, item, rss, snapshot
from .test_parse import C1, FIXTURES, with_stray_ampersand

pytestmark = pytest.mark.usefixtures("index_backend")  # every test on SQLite and on PostgreSQL

FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=4, retries=1, backoff=0.01)


def make_archive(root: Path, *sources: Source, fetch: FetchConfig = FAST) -> Archive:
    Archive.init(root).close()
    return Archive.open(root, settings=Settings(sources=sources, fetch=fetch))


def article_files(root: Path, slug: str) -> list[Path]:
    return sorted((root / "articles" / slug).glob("*.md"))


def test_outlets_archived_with_ids_lists_and_readme(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1), item(2), item(3)))
    b = server.add("/b.xml", rss(item(10, day=2)))
    archive = make_archive(tmp_path, Source(name="甲台", slug="a", feeds=(a,)), Source(name="乙台", slug="b", feeds=(b,)))
    report = update(archive)
    assert [(s.slug, s.new, s.updated, s.unchanged, s.error) for s in report.sources] == [("a", 3, 0, 0, None), ("b", 1, 0, 0, None)]
    # Oldest first gets the highest id, so ascending file names list the newest first.
    names = [p.name for p in article_files(tmp_path, "a")]
    assert names == ["1048572.md", "1048573.md", "1048574.md"]
    assert parse_article((tmp_path / "articles/a/1048574.md").read_text()).title == "第1条新闻标题"
    assert (tmp_path / "lists/甲台.md").read_text() == (
        "甲台\n------\n\n"
        "6-1 [第3条新闻标题](/articles/a/1048572.md)\n\n"
        "6-1 [第2条新闻标题](/articles/a/1048573.md)\n\n"
        "6-1 [第1条新闻标题](/articles/a/1048574.md)\n\n"
    )
    assert (tmp_path / "README.md").read_text() == "抓取新闻媒体文章\n------\n\n[甲台](lists/甲台.md)\n\n[乙台](lists/乙台.md)\n\n"


def test_second_update_changes_zero_bytes_and_parses_nothing(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1), item(2)))
    e = server.add("/e.xml", rss(item(5)), etag='"e1"')
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a, e)))
    update(archive)
    before = {path: (tmp_path / path).stat().st_mtime_ns for path in snapshot(tmp_path)}
    contents = snapshot(tmp_path)
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].updated, report.sources[0].unchanged) == (0, 0, 3)
    assert snapshot(tmp_path) == contents
    assert {path: (tmp_path / path).stat().st_mtime_ns for path in snapshot(tmp_path)} == before
    assert server.routes["/e.xml"].requests[-1]["If-None-Match"] == '"e1"'


def test_changed_article_is_rewritten_in_place_and_its_old_version_kept(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1), item(2)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive)
    path = tmp_path / "articles/a/1048574.md"
    old = path.read_bytes()
    server.add("/a.xml", rss(item(1, body="<p>更正后的正文。</p>"), item(2)))
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].updated, report.sources[0].unchanged) == (0, 1, 1)
    assert parse_article(path.read_text()).body == "<p>更正后的正文。</p>"
    revisions = list((tmp_path / "revisions/a/1048574").glob("*.md"))
    assert len(revisions) == 1 and revisions[0].read_bytes() == old
    row = archive.index.article_at("articles/a/1048574.md")
    assert row is not None
    assert [r[0] for r in archive.index.revisions(row.rowid)] == [str(revisions[0].relative_to(tmp_path))]
    assert len(article_files(tmp_path, "a")) == 2


def test_white_space_or_entity_changes_are_not_revisions(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1, body="<p>正文 一</p>")))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive)
    contents = snapshot(tmp_path)
    server.add("/a.xml", rss(item(1, body="<p>正文&#32;\n 一</p>  ")))
    report = update(archive)
    assert report.sources[0].unchanged == 1 and report.sources[0].updated == 0
    assert snapshot(tmp_path) == contents


def test_a_feed_switching_parser_makes_no_new_version(server: FeedServer, tmp_path: Path) -> None:
    names = [name for name in FIXTURES if name not in ("hostile.xml", "malformed.xml")]
    sources = [Source(name=name, slug=f"s{n}", feeds=(server.feed(name),)) for n, name in enumerate(names)]
    archive = make_archive(tmp_path, *sources)
    report = update(archive)
    assert all(s.new and s.error is None for s in report.sources)
    first = [(0, 0, s.new) for s in report.sources]
    contents = snapshot(tmp_path)
    assert not any(C1.search(data.decode()) for data in contents.values())
    for name in names:  # one stray character: only feedparser's forgiving parser can read the feed now
        server.add("/" + name, with_stray_ampersand((FEEDS / name).read_bytes()))
    report = update(archive)
    assert [(s.new, s.updated, s.unchanged) for s in report.sources] == first
    assert all(any("feed has errors" in w for w in s.warnings) for s in report.sources)
    assert snapshot(tmp_path) == contents and not (tmp_path / "revisions").exists()


def test_feeds_of_one_outlet_merge_without_duplicates(server: FeedServer, tmp_path: Path) -> None:
    summary = server.add("/official.xml", rss(item(1, body="<p>摘要</p>"), item(2)))
    mirrored = dict(item(1, body="<p>摘要</p><p>全文第二段。</p>"))
    mirrored["link"] = mirrored["link"].replace("https://", "http://") + "?utm_source=RSS"
    mirrored["guid"] = "mirror-1"
    full = server.add("/mirror.xml", rss(mirrored, item(3)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(summary, full)))
    report = update(archive)
    assert report.sources[0].new == 3
    bodies = sorted(parse_article(p.read_text()).body for p in article_files(tmp_path, "a"))
    assert "<p>摘要</p><p>全文第二段。</p>" in bodies  # the fuller body of the two
    assert "<p>摘要</p>" not in bodies


def test_whole_archive_dedup_not_just_the_newest_files(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(*(item(n) for n in range(1, 61))))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive)
    server.add("/a.xml", rss(*(item(n, day=2) for n in range(61, 121)), item(1)))  # item 1 is 60 articles back
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].unchanged) == (60, 1)
    assert len(article_files(tmp_path, "a")) == 120


def _normalised(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the items the workers normalise from now on (small feeds: worker threads, in this process)."""
    import newsarchive.worker

    titles: list[str] = []
    real = newsarchive.worker.normalise_item

    def counting(item: FeedItem, **options: Any) -> Article:
        titles.append(item.title)
        return real(item, **options)

    monkeypatch.setattr(newsarchive.worker, "normalise_item", counting)
    return titles


def test_items_read_before_unchanged_are_neither_normalised_nor_compared_again(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = server.add("/a.xml", rss(*(item(n) for n in range(1, 6))))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    normalised = _normalised(monkeypatch)
    update(archive)
    assert len(normalised) == 5
    normalised.clear()
    server.add("/a.xml", rss(*(item(n) for n in range(1, 6)), item(2, body="<p>更正。</p>"), item(6)))
    report = update(archive)
    assert sorted(normalised) == ["第2条新闻标题", "第6条新闻标题"]  # the edit and the new one
    assert (report.sources[0].new, report.sources[0].updated, report.sources[0].unchanged) == (1, 1, 5)
    normalised.clear()
    server.add("/a.xml", rss(*(item(n) for n in range(6, 0, -1))))  # new bytes, the same items: the edit undone
    report = update(archive)
    assert normalised == ["第2条新闻标题"]  # item 2 as it was first read is no longer the stored version
    assert (report.sources[0].new, report.sources[0].updated, report.sources[0].unchanged) == (0, 1, 5)
    assert parse_article((tmp_path / "articles/a/1048573.md").read_text()).body == "<p>第2条新闻的正文。</p>"
    assert len(list((tmp_path / "revisions/a/1048573").glob("*.md"))) == 2  # every version kept
    normalised.clear()
    server.add("/a.xml", rss(*(item(n) for n in range(1, 7))))
    assert update(archive).sources[0].unchanged == 6 and normalised == []


def test_an_item_is_remembered_only_once_its_file_is_written(server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = server.add("/a.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive)
    server.add("/a.xml", rss(item(1, body="<p>更正。</p>"), item(2)))
    with monkeypatch.context() as failing:
        failing.setattr(AtomicBatch, "commit", lambda self: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
        assert update(archive).sources[0].error is not None
    report = update(archive)  # the journal puts the index back as the files are; the items are read again
    assert (report.sources[0].new, report.sources[0].updated) == (1, 1)
    assert parse_article((tmp_path / "articles/a/1048574.md").read_text()).body == "<p>更正。</p>"


def test_two_feeds_with_copies_of_one_length_do_not_replace_each_other(server: FeedServer, tmp_path: Path) -> None:
    first, second = dict(item(1, body="<p>甲版本。</p>")), dict(item(1, body="<p>乙版本。</p>"))
    a = server.add("/a.xml", rss(first))
    b = server.add("/b.xml", rss(second))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a, b)))
    update(archive)
    for n in range(2, 5):  # both feeds change each run; their copies of article 1 do not
        server.add("/a.xml", rss(first, item(n)))
        server.add("/b.xml", rss(second, item(n)))
        report = update(archive)
        assert (report.sources[0].new, report.sources[0].updated) == (1, 0)
    assert parse_article((tmp_path / "articles/a/1048574.md").read_text()).body == "<p>甲版本。</p>"
    assert not (tmp_path / "revisions").exists()


def test_a_correction_of_the_same_length_seen_only_in_another_feed_is_an_edit(server: FeedServer, tmp_path: Path) -> None:
    first = dict(item(1, body="<p>三人死亡。</p>"))
    a = server.add("/a.xml", rss(first))
    b = server.add("/b.xml", rss(first))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a, b)))
    update(archive)
    server.add("/a.xml", rss(item(2)))  # the feed that gave the article no longer carries it
    server.add("/b.xml", rss(dict(item(1, body="<p>五人死亡。</p>"))))
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].updated) == (1, 1)
    assert parse_article((tmp_path / "articles/a/1048574.md").read_text()).body == "<p>五人死亡。</p>"


def test_an_item_is_read_again_once_another_version_is_stored_by_other_means(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(a,)))
    update(archive)
    path = tmp_path / "articles/a/1048574.md"
    path.write_text(path.read_text().replace("的正文", "的另一个正文"), encoding="utf-8")
    with archive.index.atomic():  # as a killed run leaves a file it wrote: the next run indexes it as it is
        archive.index.journal_add(["file:articles/a/1048574.md"])
    archive.recover()
    server.add("/a.xml", rss(item(1), item(2)))
    report = update(archive)  # the item no longer matches the version stored: compared with it, it is an edit
    assert (report.sources[0].new, report.sources[0].updated) == (1, 1)
    assert parse_article(path.read_text()).body == "<p>第1条新闻的正文。</p>"


def test_one_failing_outlet_does_not_stop_the_others(server: FeedServer, tmp_path: Path) -> None:
    broken = server.add("/broken.xml", "oops", status=500)
    good = server.add("/good.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="坏", slug="bad", feeds=(broken,)), Source(name="好", slug="good", feeds=(good,)))
    report = update(archive)
    bad, fine = report.sources
    assert bad.error is not None and broken in bad.error and "HTTP 500" in bad.error
    assert fine.error is None and fine.new == 1
    assert not (tmp_path / "articles/bad").exists() or not list((tmp_path / "articles/bad").iterdir())
    state = archive.index.feed_state(broken)
    assert state is not None and state.failures == 1 and "HTTP 500" in (state.last_error or "")


def test_dead_feed_among_live_ones_is_a_warning(server: FeedServer, tmp_path: Path) -> None:
    live = server.add("/live.xml", rss(item(1)))
    dead = server.base + "/dead.xml"
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(dead, live)))
    report = update(archive)
    assert report.sources[0].error is None and report.sources[0].new == 1
    assert any(dead in w and "404" in w for w in report.sources[0].warnings)


def test_slow_server_past_the_deadline_fails_only_its_outlet(server: FeedServer, tmp_path: Path) -> None:
    slow = server.add("/slow.xml", rss(item(1)), drip=0.05)
    fast = server.add("/fast.xml", rss(item(2)))
    config = FetchConfig(read_timeout=2, total_timeout=1, retries=0)
    archive = make_archive(
        tmp_path, Source(name="慢", slug="slow", feeds=(slow,)), Source(name="快", slug="fast", feeds=(fast,)), fetch=config
    )
    report = update(archive)
    assert "total_timeout" in (report.sources[0].error or "")
    assert report.sources[1].new == 1


def test_a_304_to_a_first_request_fails_its_outlet_instead_of_archiving_nothing(server: FeedServer, tmp_path: Path) -> None:
    broken = server.add("/broken.xml", status=304)  # a cache or server that answers 304 to a plain GET
    archive = make_archive(tmp_path, Source(name="缓", slug="cached", feeds=(broken,)))
    report = update(archive)
    assert "304 Not Modified without a conditional request" in (report.sources[0].error or "")


def test_malformed_feed_yields_items_with_a_warning_and_non_feed_fails(server: FeedServer, tmp_path: Path) -> None:
    broken = rss(item(1), item(2)).replace(b"<title>\xe7\xac\xac1", b"<title>A & B &nbsp;\xe7\xac\xac1")
    bad = server.add("/bad.xml", broken)
    html = server.add("/page.html", "<!doctype html><html><body><p>Not a feed</p></body></html>")
    archive = make_archive(tmp_path, Source(name="乱", slug="messy", feeds=(bad,)), Source(name="页", slug="page", feeds=(html,)))
    report = update(archive)
    messy, page = report.sources
    assert messy.error is None and messy.new == 2 and messy.warnings
    assert page.error is not None and "not a feed" in page.error and html in page.error


def test_ids_continue_below_the_lowest_id_in_both_name_styles(server: FeedServer, tmp_path: Path) -> None:
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(server.add("/a.xml", rss(item(1))),)))
    folder = tmp_path / "articles/a"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1040005.md").write_text("<!--1-->\n[旧一](https://old.example.org/1)\n------\n\n<p>x</p>\n")
    (folder / "1040000_旧二 标题.md").write_text("<!--2-->\n[旧二 标题](https://old.example.org/2)\n------\n\n<p>y</p>\n")
    archive.reindex()
    update(archive)
    assert (folder / "1039999.md").exists()


def test_undated_items_get_first_seen_time_never_nan(server: FeedServer, tmp_path: Path) -> None:
    undated = {k: v for k, v in item(1).items() if k != "pubDate"}
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(server.add("/a.xml", rss(undated)),)))
    update(archive, clock=lambda: 1_780_000_000.0)
    text = (tmp_path / "articles/a/1048574.md").read_text()
    assert text.startswith("<!--1780000000000-->\n")
    update(archive, clock=lambda: 1_790_000_000.0)
    assert (tmp_path / "articles/a/1048574.md").read_text() == text


def test_feed_addresses_may_be_local_files(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss(item(1), item(2)))
    archive = make_archive(tmp_path / "archive", Source(name="本地", slug="local", feeds=(str(feed),)))
    assert update(archive).sources[0].new == 2
    feed.write_bytes(rss(item(1), item(2), item(3)))
    archive.settings = Settings(sources=(Source(name="本地", slug="local", feeds=(feed.as_uri(),)),), fetch=FAST)
    assert update(archive).sources[0].new == 1


@pytest.mark.parametrize("fixture", ["gbk.xml", "gbk_undeclared.xml", "big5.xml"])
def test_chinese_legacy_encodings_archive_as_utf8(server: FeedServer, tmp_path: Path, fixture: str) -> None:
    from newsarchive.parse import decode_feed

    url = server.feed(fixture)
    expected_titles = {i.strip() for i in _titles(decode_feed((Path(__file__).parent / "feeds" / fixture).read_bytes())[0])}
    archive = make_archive(tmp_path, Source(name="编码", slug="enc", feeds=(url,)))
    report = update(archive)
    assert report.sources[0].error is None and report.sources[0].new >= 2
    titles = {parse_article(p.read_text(encoding="utf-8")).title for p in article_files(tmp_path, "enc")}
    assert titles == expected_titles
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in title) for title in titles)


def _titles(text: str) -> list[str]:
    import re

    items = re.findall(r"<item>.*?</item>", text, re.DOTALL)
    return [re.search(r"<title>(.*?)</title>", i, re.DOTALL)[1] for i in items]  # type: ignore[index]


def test_a_feed_that_crashes_the_parser_fails_only_its_outlet(server: FeedServer, tmp_path: Path) -> None:
    evil = server.add("/evil.xml", b"<rss><channel><item><title>&nbsp;&#xD800;&#x110000;</title></item></channel></rss>")
    good = server.add("/good.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="坏", slug="evil", feeds=(evil,)), Source(name="好", slug="good", feeds=(good,)))
    report = update(archive)
    assert report.sources[1].new == 1 and report.sources[1].error is None
    evil_report = report.sources[0]
    assert evil_report.error is None or evil in evil_report.error


def test_a_summary_feed_does_not_undo_the_full_text_of_a_sibling_feed(server: FeedServer, tmp_path: Path) -> None:
    full = dict(item(1, body="<p>摘要</p><p>全文第二段。</p>"))
    summary = dict(item(1, body="<p>摘要</p>"))
    official = server.add("/official.xml", rss(summary), etag='"o1"')
    mirror = server.add("/mirror.xml", rss(full), etag='"m1"')
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(official, mirror)))
    update(archive)
    path = tmp_path / "articles/a/1048574.md"
    assert parse_article(path.read_text()).body == "<p>摘要</p><p>全文第二段。</p>"
    server.add("/official.xml", rss(summary, item(2)), etag='"o2"')  # the official feed changes, the mirror answers 304
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].updated) == (1, 0)
    assert parse_article(path.read_text()).body == "<p>摘要</p><p>全文第二段。</p>"
    assert not (tmp_path / "revisions").exists()
    edited = dict(item(1, body="<p>摘要</p><p>全文第二段，已更正。</p>"))
    server.add("/mirror.xml", rss(edited), etag='"m2"')  # an edit seen through the feed that gave the text
    report = update(archive)
    assert report.sources[0].updated == 1
    assert parse_article(path.read_text()).body == "<p>摘要</p><p>全文第二段，已更正。</p>"


def test_files_added_from_outside_are_indexed_before_ids_are_given(server: FeedServer, tmp_path: Path) -> None:
    url = server.add("/a.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(url,)))
    update(archive)
    stray = item(7)
    (tmp_path / "articles/a/1048500_外来的 文章.md").write_text(
        f"<!--1-->\n[{stray['title']}]({stray['link']})\n------\n\n<p>x</p>\n", encoding="utf-8"
    )  # as a git pull of another copy of the archive would
    server.add("/a.xml", rss(item(1), item(2), stray))
    report = update(archive)
    assert (report.sources[0].new, report.sources[0].unchanged) == (1, 1)  # item 7 is the stray: not new
    assert (tmp_path / "articles/a/1048499.md").exists()
    assert "外来的" in (tmp_path / "lists/甲.md").read_text()


def test_real_corpus_articles_come_out_of_a_feed_byte_for_byte(server: FeedServer, tmp_path: Path) -> None:
    """Each corpus file, turned back into the feed item it came from, is archived as exactly that file."""
    import html
    from email.utils import format_datetime

    from .conftest import shared

    corpus = shared("corpus", "duty-machine-news", "articles")
    expected: dict[str, bytes] = {}
    items = []
    for path in sorted(corpus.rglob("*.md")):
        data = path.read_bytes()
        parsed = parse_article(data.decode())
        assert parsed.pub_ms is not None and parsed.pub_ms % 1000 == 0
        from datetime import UTC, datetime

        when = format_datetime(datetime.fromtimestamp(parsed.pub_ms / 1000, UTC), usegmt=True)
        items.append(
            {
                "title": html.escape(parsed.title, quote=False),
                "link": html.escape(parsed.link or "", quote=False),
                "pubDate": when,
                "content:encoded": f"<![CDATA[{parsed.body}]]>" if "]]>" not in parsed.body else html.escape(parsed.body, quote=False),
            }
        )
        expected[parsed.link or ""] = data
    url = server.add("/corpus.xml", rss(*items))
    archive = make_archive(tmp_path, Source(name="语料", slug="corpus", feeds=(url,)))
    report = update(archive)
    assert report.sources[0].error is None
    produced = {parse_article(p.read_text(encoding="utf-8")).link: p.read_bytes() for p in article_files(tmp_path, "corpus")}
    assert len(produced) == len(expected)
    for link, data in expected.items():
        assert produced[link] == data, link


def test_a_feed_that_keeps_failing_backs_off_but_is_never_dropped(server: FeedServer, tmp_path: Path) -> None:
    from newsarchive.due import backoff_until
    from newsarchive.times import beijing

    broken = server.add("/broken.xml", "down", status=404)
    archive = make_archive(tmp_path, Source(name="坏", slug="bad", feeds=(broken,)))
    hour = 3600.0
    for run_number in range(3):  # three hourly runs: all fail, so the feed has failed three times in a row
        assert update(archive, clock=lambda n=run_number: 1_800_000_000 + n * hour).sources[0].error
    state = archive.index.feed_state(broken)
    assert state is not None and state.failures == 3
    retry_at = backoff_until(state)
    assert retry_at == state.last_attempt_ms + 30 * 60 * 1000
    hits = server.routes["/broken.xml"].hits
    resting = update(archive, clock=lambda: (retry_at - 60_000) / 1000)  # too early: not fetched, and still failed
    # The outlet's error is its last one and when the feed is tried again, in Beijing time as all human output.
    retry_shown = beijing(retry_at, named=True)
    assert resting.sources[0].error == f"{broken}: HTTP 404 Not Found (3 failures in a row; tried again after {retry_shown})"
    assert retry_shown.endswith(" Beijing time") and not resting.sources[0].warnings
    assert server.routes["/broken.xml"].hits == hits
    server.add("/broken.xml", rss(item(1)))
    back = update(archive, clock=lambda: (retry_at + 60_000) / 1000)  # due again, and the feed is back
    assert back.sources[0].new == 1 and archive.index.feed_state(broken).failures == 0  # type: ignore[union-attr]


def test_an_outlet_waiting_for_its_turn_after_failing_is_still_failed(server: FeedServer, tmp_path: Path) -> None:
    broken = server.add("/broken.xml", "down", status=404)
    archive = make_archive(tmp_path, Source(name="坏", slug="bad", feeds=(broken,), every=86400.0))
    assert update(archive, clock=lambda: 1_800_000_000.0).sources[0].error
    hits = server.routes["/broken.xml"].hits
    waiting = update(archive, clock=lambda: 1_800_003_600.0)  # an hour later: not its turn, not fetched, still failed
    assert server.routes["/broken.xml"].hits == hits
    assert [report.slug for report in waiting.failed] == ["bad"] and "HTTP 404" in str(waiting.sources[0].error)
    assert "tried again after" in str(waiting.sources[0].error) and "Beijing time" in str(waiting.sources[0].error)


def test_naming_an_outlet_tries_its_resting_feeds_now(server: FeedServer, tmp_path: Path) -> None:
    broken = server.add("/broken.xml", "down", status=404)
    archive = make_archive(tmp_path, Source(name="坏", slug="bad", feeds=(broken,)))
    for n in range(3):
        update(archive, clock=lambda n=n: 1_800_000_000 + n * 60.0)
    hits = server.routes["/broken.xml"].hits
    assert "tried again after" in str(update(archive, clock=lambda: 1_800_000_200.0).sources[0].error)  # resting
    assert server.routes["/broken.xml"].hits == hits
    assert update(archive, only=["bad"], clock=lambda: 1_800_000_200.0).sources[0].error  # tried, still down
    assert server.routes["/broken.xml"].hits > hits


def test_the_workers_cut_new_articles_for_search_as_the_store_would_from_their_files(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = [
        "<p>香港&amp;台灣 選舉</p><p>第二段：Biden 說 2024 年</p>",
        "<div><p>一带一路<br/>倡议 &lt;十年&gt;</p><script>var x = 1;</script><table><tr><td>表格</td><td>数据</td></tr></table></div>",
        "<p>  空白   很多 \n 的 正文 </p><!-- 注释 --><p>é café naïve</p>",
    ]
    feed = server.add("/a.xml", rss(*(item(n, body=body) for n, body in enumerate(bodies, 1))))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(feed,), allow_private=True))
    read_back: list[str] = []
    text_of = Archive._text_of
    monkeypatch.setattr(Archive, "_text_of", lambda self, path, unreadable: read_back.append(path) or text_of(self, path, unreadable))
    update(archive)
    assert read_back == []  # the run's end took the workers' fields: no article file read back
    queries = ["台湾", "臺灣", "选举", "biden", "2024", "一带一路", "倡议", "十年", "表格 数据", "正文", "café", "第二段", "标题", "注释"]
    worker_made = {query: [hit.path for hit in SearchIndex(tmp_path / SEARCH_DIR).search(query)] for query in queries}
    archive.sync_search(rebuild=True)  # from the files
    assert read_back
    assert {query: [hit.path for hit in SearchIndex(tmp_path / SEARCH_DIR).search(query)] for query in queries} == worker_made
    assert worker_made["注释"] == [] and worker_made["biden"]


def test_with_index_on_update_off_the_first_search_indexes_what_updates_stored(server: FeedServer, tmp_path: Path) -> None:
    feed = server.add("/a.xml", rss(item(1, title="王毅訪問中亞"), item(2, title="上海天气")))
    Archive.init(tmp_path).close()
    source = Source(name="甲", slug="a", feeds=(feed,), allow_private=True)
    archive = Archive.open(tmp_path, settings=Settings(sources=(source,), fetch=FAST, search=SearchConfig(index_on_update=False)))
    update(archive)
    assert archive.index.meta("search:rowid") in (None, "0")  # the run left indexing to the first search
    assert not (tmp_path / SEARCH_DIR / "meta.json").exists()
    assert not [f for f in check(archive).findings if f.part == "search"]  # behind by choice: not a fault
    assert [hit.title for hit in archive.search("王毅")] == ["王毅訪問中亞"]  # which caught up first
    assert [hit.title for hit in SearchIndex(tmp_path / SEARCH_DIR).search("上海")] == ["上海天气"]
    server.add("/a.xml", rss(item(1, title="王毅訪問中亞"), item(2, title="上海天气"), item(3, title="北京下雪")))
    update(archive)
    assert not SearchIndex(tmp_path / SEARCH_DIR).search("北京")
    assert check(archive, repair=True).ok  # repairing catches up, as a search would
    assert [hit.title for hit in SearchIndex(tmp_path / SEARCH_DIR).search("北京")] == ["北京下雪"]


def test_what_an_update_stores_is_searchable_when_it_ends(server: FeedServer, tmp_path: Path, index_backend: str) -> None:
    feed = server.add("/a.xml", rss(item(1, title="王毅訪問中亞"), item(2, title="上海天气")))
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(feed,)))
    update(archive)
    # The engine directly, not Archive.search (which would catch up first).
    assert [hit.title for hit in SearchIndex(tmp_path / SEARCH_DIR).search("王毅")] == ["王毅訪問中亞"]
    server.add("/a.xml", rss(item(1, title="王毅訪問中亞", body="<p>修改后的正文</p>"), item(2, title="上海天气")))
    update(archive)
    assert [hit.title for hit in SearchIndex(tmp_path / SEARCH_DIR).search("修改")] == ["王毅訪問中亞"]
    if index_backend != "sqlite":
        return
    # Catching up reads two indexes, never the whole table (every search in the reader starts with it).
    plan = archive.index.db.execute("EXPLAIN QUERY PLAN " + CHANGED_SINCE, (0, 0)).fetchall()
    assert not [step for step in plan if step[-1].startswith("SCAN")], plan
