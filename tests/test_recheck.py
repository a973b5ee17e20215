"""Rechecks and takedowns: article pages served on loopback are looked at again on a schedule; an edit on the
page only becomes a new version, a removed page becomes a takedown on a later run, a 503 never does."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, RecheckConfig, Settings, load_settings, render_config
from newsarchive.errors import ConfigError
from newsarchive.recheck import HOUR_MS, classify, next_check_ms, takedown_path, text_share
from newsarchive.sources import Source
from newsarchive.web.pages import Pages

from .conftest import FeedServer, rss

FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=4, retries=1, backoff=0.01)
T0 = 1_780_000_000.0  # seconds: the first run


def paragraphs(n: int, changed: int | None = None) -> str:
    said = {k: "记者在现场看到居民排队领取救灾物资" for k in range(1, 6)}
    if changed:
        said[changed] = "当局随后否认了此前公布的伤亡数字"
    return "".join(f"<p>第{n}篇报道的第{k}段：{said[k]}，志愿者忙着登记。</p>" for k in range(1, 6))


def page(n: int, changed: int | None = None) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>第{n}条</title></head><body>'
        '<nav><a href="/">首页</a><a href="/world">国际</a></nav>'
        f"<main><article><h1>第{n}条新闻标题</h1>{paragraphs(n, changed)}</article></main><footer>版权所有</footer></body></html>"
    )


def entry(link: str, n: int) -> dict[str, str]:
    return {
        "title": f"第{n}条新闻标题",
        "link": link,
        "guid": link,
        "pubDate": f"Mon, 01 Jun 2026 0{n}:00:00 GMT",
        "description": f"<![CDATA[{paragraphs(n)}]]>",
    }


def make_archive(root: Path, feed: str) -> Archive:
    Archive.init(root).close()
    source = Source(name="NEWS", slug="news", feeds=(feed,), fulltext="feed", allow_private=True)
    return Archive.open(root, settings=Settings(sources=(source,), fetch=FAST))


def test_edited_removed_and_failing_pages_over_three_runs(server: FeedServer, tmp_path: Path) -> None:
    links = [server.add(f"/news/{n}", page(n), headers={"Content-Type": "text/html; charset=utf-8"}) for n in (1, 2, 3)]
    archive = make_archive(tmp_path / "a", server.add("/feed.xml", rss(*(entry(link, n) for n, link in enumerate(links, 1)))))
    assert archive.update(clock=lambda: T0).sources[0].new == 3
    assert all(server.routes[f"/news/{n}"].hits == 0 for n in (1, 2, 3))  # nothing is due in the first hour

    server.routes["/news/1"].body = page(1, changed=3).encode()  # edited on the page only; the feed stays as it was
    server.routes["/news/2"].status = 404
    server.routes["/news/3"].status = 503
    archive.update(clock=lambda: T0 + 2 * 3600)
    rows = {row.link: row for row in archive.articles("news")}
    edited = archive.read(rows[links[0]])
    assert "当局随后否认了此前公布的伤亡数字" in edited.body
    assert len(archive.index.revisions(rows[links[0]].rowid)) == 1  # the earlier version kept under revisions/
    pending = archive.index.takedown(rows[links[1]].rowid)
    assert pending is not None and pending[1] is None and pending[2] == "404"  # found gone, not yet confirmed
    assert archive.index.takedown(rows[links[2]].rowid) is None
    assert not (archive.root / "takedowns").exists()

    # The feed changes (a new article), but still carries the version from before the edit: that is no newer
    # version, the edit stands.
    fourth = server.add("/news/4", page(4), headers={"Content-Type": "text/html; charset=utf-8"})
    server.add("/feed.xml", rss(*(entry(link, n) for n, link in enumerate([*links, fourth], 1))))
    archive.update(clock=lambda: T0 + 4 * 3600)
    assert "当局随后否认了此前公布的伤亡数字" in archive.read(rows[links[0]]).body
    assert len(archive.index.revisions(rows[links[0]].rowid)) == 1
    confirmed = archive.index.takedown(rows[links[1]].rowid)
    assert confirmed is not None and confirmed[1] == int((T0 + 4 * 3600) * 1000) and confirmed[0] == int((T0 + 2 * 3600) * 1000)
    assert archive.index.takedown(rows[links[2]].rowid) is None  # a 503, however often, is no takedown
    record = json.loads((archive.root / takedown_path(rows[links[1]].path)).read_text(encoding="utf-8"))
    assert record["how"] == "404" and record["link"] == links[1] and record["confirmed_at"].endswith("Z")
    assert [row.path for row, *_ in archive.index.takedowns()] == [rows[links[1]].path]

    archive.reindex()  # the records survive a rebuilt index
    assert [row.path for row, *_ in archive.index.takedowns()] == [rows[links[1]].path]
    archive.close()
    (archive.root / ".newsarchive" / "index.sqlite").unlink()  # and the loss of the index: the files are the record
    (archive.root / "takedowns" / "news" / "broken.json").write_text("{not json", encoding="utf-8")
    archive.reindex()
    found = archive.index.takedowns()
    assert [(row.path, how, confirmed) for row, _, confirmed, how, *_ in found] == [
        (rows[links[1]].path, "404", int((T0 + 4 * 3600) * 1000))
    ]
    check_takedown_is_shown(archive, rows[links[1]].path, tmp_path)
    archive.close()


def check_takedown_is_shown(archive: Archive, path: str, tmp_path: Path) -> None:
    """The banner on the article's page, the site's feed of takedowns, the export's field and the command."""
    page = Pages(archive, static=False).article(path.removesuffix(".md") + ".html")
    assert page is not None and "已被媒体删除" in page and "HTTP 404" in page
    site = tmp_path / "site"
    archive.build_site(site, base_url="https://mirror.example.org/news")
    assert "已被媒体删除" in (site / path.removesuffix(".md")).with_suffix(".html").read_text(encoding="utf-8")
    feed = feedparser.parse((site / "feeds" / "takedowns.xml").read_bytes())
    assert not feed.bozo and [entry.title for entry in feed.entries] == ["已被删除 Removed: 第2条新闻标题"]
    assert feed.entries[0].link == "https://mirror.example.org/news/" + path.removesuffix(".md") + ".html"
    stream = io.BytesIO()
    archive.export(stream)
    records = [json.loads(line) for line in stream.getvalue().decode().splitlines()]
    assert [record["takedown"]["how"] for record in records if record["takedown"]] == ["404"]
    archive.close()
    env = {**os.environ, "NO_COLOR": "1"}
    command = [sys.executable, "-m", "newsarchive", "takedowns", "--archive", str(archive.root), "--json"]
    listed = subprocess.run(command, capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [found["path"] for found in json.loads(listed.stdout)["takedowns"]] == [path]


def test_a_page_back_before_confirmation_is_no_takedown_and_recheck_forces(server: FeedServer, tmp_path: Path) -> None:
    link = server.add("/news/1", page(1), headers={"Content-Type": "text/html; charset=utf-8"})
    archive = make_archive(tmp_path / "a", server.add("/feed.xml", rss(entry(link, 1))))
    archive.update(clock=lambda: T0)
    archive.update(clock=lambda: T0 + 60, recheck=True)  # --recheck: now, whatever the schedule says
    assert server.routes["/news/1"].hits == 1
    server.routes["/news/1"].status = 410
    archive.update(clock=lambda: T0 + 120, recheck=True)
    row = next(archive.articles("news"))
    assert archive.index.takedown(row.rowid) is not None
    server.routes["/news/1"].status = 200
    archive.update(clock=lambda: T0 + 3 * 3600, recheck=True)
    assert archive.index.takedown(row.rowid) is None  # it was a hiccup
    archive.update(clock=lambda: T0 + 4 * 3600, recheck=True)
    assert len(archive.index.revisions(row.rowid)) == 0  # the same page read again is no edit
    archive.close()


def test_after_a_page_edit_only_a_change_of_the_article_in_the_feed_is_a_newer_version(server: FeedServer, tmp_path: Path) -> None:
    link = server.add("/news/1", page(1), headers={"Content-Type": "text/html; charset=utf-8"})
    other = server.add("/news/2", page(2), headers={"Content-Type": "text/html; charset=utf-8"})
    archive = make_archive(tmp_path / "a", server.add("/feed.xml", rss(entry(link, 1))))
    archive.update(clock=lambda: T0)
    server.routes["/news/1"].body = page(1, changed=2).encode()
    archive.update(clock=lambda: T0 + 60, recheck=True)
    row = next(archive.articles("news"))
    assert len(archive.index.revisions(row.rowid)) == 1 and "当局随后否认" in archive.read(row).body

    server.add("/feed.xml", rss(entry(link, 1), entry(other, 2)))  # the feed changes, article 1 as before the edit
    archive.update(clock=lambda: T0 + 120)
    assert len(archive.index.revisions(row.rowid)) == 1 and "当局随后否认" in archive.read(row).body

    newer = {**entry(link, 1), "title": "第1条新闻标题（更新）"}
    server.add("/feed.xml", rss(newer, entry(other, 2)))  # the outlet changed the article in its feed: that is newer
    archive.update(clock=lambda: T0 + 180)
    assert len(archive.index.revisions(row.rowid)) == 2 and archive.read(row).title == "第1条新闻标题（更新）"
    server.add("/feed.xml", rss(entry(other, 2), newer))  # the same again, in another order: no version
    archive.update(clock=lambda: T0 + 240)
    assert len(archive.index.revisions(row.rowid)) == 2 and archive.index.feed_version(row.rowid) is None
    archive.close()


STORED = paragraphs(7)


@pytest.mark.parametrize(
    ("status", "error", "body", "kind", "how"),
    [
        (404, "HTTP 404 Not Found", None, "gone", "404"),
        (410, "HTTP 410 Gone", None, "gone", "410"),
        (503, "HTTP 503 after 2 attempts", None, "inconclusive", None),
        (429, "HTTP 429 after 2 attempts", None, "inconclusive", None),
        (None, "network error: connection refused", None, "inconclusive", None),
        (None, None, "<html><body><h1>首页</h1><p>今日要闻：股市上涨，天气晴朗，欢迎订阅。</p></body></html>", "gone", "text gone"),
        (None, None, "<html><body><p>Just a moment... checking your browser (captcha)</p></body></html>", "inconclusive", None),
        (None, None, "<html><body><p>请输入验证码后继续访问</p></body></html>", "inconclusive", None),
        (None, None, page(7), "unchanged", None),
    ],
)
def test_classify(status: int | None, error: str | None, body: str | None, kind: str, how: str | None) -> None:
    verdict = classify(
        STORED, url="https://news.example.org/7", body=body.encode() if body else None, charset=None, status=status, error=error
    )
    assert (verdict.kind, verdict.how) == (kind, how)
    if kind == "inconclusive":
        assert verdict.detail


def test_text_share_and_schedule() -> None:
    assert text_share(STORED, page(7)) == 1.0
    assert text_share(STORED, "<p>无关</p>") < 0.1
    config = RecheckConfig(window_days=2, schedule_hours=(1, 24))
    first = 0
    assert next_check_ms(first, 0, 0, config) == HOUR_MS
    assert next_check_ms(first, 5, 10 * HOUR_MS, config) == 34 * HOUR_MS  # the last gap repeats
    assert next_check_ms(first, 5, 30 * HOUR_MS, config) is None  # past the window


def test_recheck_settings(tmp_path: Path) -> None:
    assert "[recheck]" in render_config()
    (tmp_path / "newsarchive.toml").write_text("[recheck]\nper_run = 5\nschedule_hours = [0.5, 24]\n", encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.recheck.per_run == 5 and settings.recheck.schedule_hours == (0.5, 24)
    (tmp_path / "newsarchive.toml").write_text("[recheck]\nschedule_hours = [0]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"recheck.schedule_hours"):
        load_settings(tmp_path)


def test_a_redirect_to_a_section_or_home_page_is_gone() -> None:
    from newsarchive.recheck import classify, redirected_away

    article = "https://news.example.org/zh/news/2026/06/01/story"
    assert redirected_away(article, "https://news.example.org/zh/news")
    assert redirected_away(article, "https://news.example.org/")
    assert not redirected_away(article, article)
    assert not redirected_away(article, "https://news.example.org/zh/news/2026/06/01/story-updated")
    assert not redirected_away(article, None)
    verdict = classify(
        "<p>原文</p>",
        url=article,
        body=b"<html>section</html>",
        charset="utf-8",
        status=200,
        error=None,
        final_url="https://news.example.org/zh/news/",
    )
    assert (verdict.kind, verdict.how) == ("gone", "redirect")
