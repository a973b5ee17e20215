"""Per-outlet settings that feed readers offer: every, user_agent, headers, proxy, max_items, recheck_schedule;
checked where the configuration is read, and honoured by update and its rechecks (loopback server, real archive)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, RecheckConfig, Settings, load_settings, render_config
from newsarchive.errors import ConfigError
from newsarchive.sources import Source, source_fields, sources_from_tables

from .conftest import FeedServer, item, rss

FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=4, retries=0)
T0 = 1_780_000_000.0
HTML = {"Content-Type": "text/html; charset=utf-8"}


def table(**keys: Any) -> dict[str, Any]:
    return {"name": "本地", "slug": "local", "feeds": ["http://127.0.0.1:9/feed.xml"], **keys}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"every": "6h"}, {"every": 21600.0}),
        ({"every": "1h30m"}, {"every": 5400.0}),
        ({"recheck_schedule": ["10m", "30m", "1h", "1d"]}, {"recheck_schedule": (1 / 6, 0.5, 1.0, 24.0)}),
        ({"max_items": 20}, {"max_items": 20}),
        ({"user_agent": "Mozilla/5.0 (archiver)"}, {"user_agent": "Mozilla/5.0 (archiver)"}),
        (
            {"headers": {"Referer": "https://a.invalid/", "Cookie": "gdpr=1"}},
            {"headers": (("Cookie", "gdpr=1"), ("Referer", "https://a.invalid/"))},
        ),
        ({"proxy": "socks5h://127.0.0.1:1080"}, {"proxy": "socks5h://127.0.0.1:1080"}),
    ],
)
def test_good_outlet_settings(keys: dict[str, Any], expected: dict[str, Any]) -> None:
    [source] = sources_from_tables([table(**keys)], "newsarchive.toml")
    for key, value in expected.items():
        assert getattr(source, key) == pytest.approx(value) if key == "recheck_schedule" else getattr(source, key) == value
    # written back (add, opml import, init) as it was read
    assert sources_from_tables([source_fields(source)], "again") == (source,)


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"every": "soon"}, "every = 'soon' is not a duration"),
        ({"every": "0m"}, "must be longer than zero"),
        ({"every": "inf"}, "every = 'inf' is not a duration"),  # float() reads it: an OverflowError in update after
        ({"recheck_schedule": ["10m", "nan"]}, "recheck_schedule item 'nan' is not a duration"),
        ({"recheck_schedule": "10m"}, "recheck_schedule must be a list of durations"),
        ({"recheck_schedule": []}, "recheck_schedule must be a list of durations"),
        ({"recheck_schedule": ["10m", "later"]}, "recheck_schedule item 'later' is not a duration"),
        ({"max_items": 0}, "max_items = 0 must be a whole number of at least 1"),
        ({"max_items": True}, "max_items = True"),
        ({"user_agent": "two\nlines"}, "user_agent must be one line"),
        ({"headers": ["Referer"]}, "headers must be a table"),
        ({"headers": {"Host": "a.invalid"}}, "header 'Host' cannot be set"),
        ({"headers": {"Bad Name": "x"}}, "header 'Bad Name' cannot be set"),
        ({"headers": {"X-A": "b\r\nX-Injected: 1"}}, "header 'X-A' cannot be set"),
        ({"proxy": "ftp://127.0.0.1:21"}, "proxy = 'ftp://127.0.0.1:21' is not a proxy address"),
        # httpx refuses these only when it fetches (a traceback from `save`): refused where they are read
        ({"proxy": "http"}, "proxy = 'http' is not a proxy address"),
        ({"proxy": "socks5://"}, "proxy = 'socks5://' is not a proxy address"),
        ({"user_agent": "存档机器人"}, "user_agent must be one line"),
        ({"headers": {"X-A": "值"}}, "header 'X-A' cannot be set"),
        ({"evry": "6h"}, "unknown key 'evry'"),
    ],
)
def test_bad_outlet_settings_name_the_outlet(keys: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        sources_from_tables([table(**keys)], "newsarchive.toml")
    assert says in str(raised.value)
    assert "newsarchive.toml" in str(raised.value)


def test_a_proxy_without_a_host_is_refused_for_all_fetching(tmp_path: Path) -> None:
    (tmp_path / "newsarchive.toml").write_text('[fetch]\nproxy = "http"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fetch\.proxy 'http' is not a proxy address"):
        load_settings(tmp_path)


def test_a_user_agent_httpx_cannot_send_is_refused_for_all_fetching(tmp_path: Path) -> None:
    (tmp_path / "newsarchive.toml").write_text('[fetch]\nuser_agent = "新闻存档"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fetch\.user_agent '新闻存档' must be one line of text"):
        load_settings(tmp_path)


def test_init_writes_them_back(tmp_path: Path) -> None:
    source = Source(name="本地", slug="local", feeds=("http://127.0.0.1:9/f",), every=3600, max_items=5, headers=(("Referer", "x"),))
    (tmp_path / "newsarchive.toml").write_text(render_config((source,)), encoding="utf-8")
    assert load_settings(tmp_path).sources == (source,)


def archive_of(root: Path, *sources: Source, recheck: RecheckConfig | None = None) -> Archive:
    Archive.init(root).close()
    settings = Settings(sources=sources, fetch=FAST, recheck=recheck or RecheckConfig(per_run=0), warc=False)
    return Archive.open(root, settings=settings)


def test_every_fetches_an_outlet_only_when_due(server: FeedServer, tmp_path: Path) -> None:
    hourly = server.add("/hourly.xml", rss(item(1)))
    slow = server.add("/slow.xml", rss(item(2)))
    archive = archive_of(
        tmp_path / "a",
        Source(name="每次", slug="always", feeds=(hourly,)),
        Source(name="六小时", slug="slow", feeds=(slow,), every=6 * 3600),
    )

    def hits() -> tuple[int, int]:
        return server.routes["/hourly.xml"].hits, server.routes["/slow.xml"].hits

    assert {r.slug for r in archive.update(clock=lambda: T0).sources} == {"always", "slow"}
    assert hits() == (1, 1)
    report = archive.update(clock=lambda: T0 + 3600)
    assert [r.slug for r in report.sources] == ["always"], "an outlet not due is left out of the run"
    assert hits() == (2, 1)
    archive.update(clock=lambda: T0 + 6 * 3600 - 30)  # a run half a minute early is on time
    assert hits() == (3, 2)
    archive.update(only=["slow"], clock=lambda: T0 + 6 * 3600 + 60)  # naming it fetches it now
    assert hits() == (3, 3)


def test_user_agent_headers_and_max_items_reach_feeds_and_pages(server: FeedServer, tmp_path: Path) -> None:
    pages = [
        server.add(f"/news/{n}", f"<html><body><article><p>{'第{n}篇很长的正文。' * 80}</p></article></body></html>", headers=HTML)
        for n in range(5)
    ]
    items = [dict(item(n), link=link, guid=link, description="摘要") for n, link in enumerate(pages)]
    feed = server.add("/feed.xml", rss(*items))
    source = Source(
        name="本地",
        slug="local",
        feeds=(feed,),
        fulltext="page",
        allow_private=True,
        user_agent="Mozilla/5.0 (test archiver)",
        headers=(("Referer", "https://local.invalid/"),),
        max_items=2,
    )
    archive = archive_of(tmp_path / "a", source)
    assert archive.update(clock=lambda: T0).sources[0].new == 2  # the first two items only
    fetched = [server.routes[path] for path in ("/feed.xml", "/news/0", "/news/1")]
    for route in fetched:
        [headers] = route.requests
        assert headers["User-Agent"] == "Mozilla/5.0 (test archiver)"
        assert headers["Referer"] == "https://local.invalid/"
    assert all(server.routes[f"/news/{n}"].hits == 0 for n in (2, 3, 4))


def test_an_outlet_proxy_carries_its_feed(server: FeedServer, tmp_path: Path) -> None:
    # The loopback server plays the proxy: only it knows the host of the feed, which does not exist.
    server.add("http://feeds.elsewhere.invalid/rss.xml", rss(item(1)))
    direct = server.add("/direct.xml", rss(item(2)))
    archive = archive_of(
        tmp_path / "a",
        Source(name="代理", slug="proxied", feeds=("http://feeds.elsewhere.invalid/rss.xml",), proxy=server.base),
        Source(name="直连", slug="direct", feeds=(direct,)),
    )
    report = {r.slug: r for r in archive.update(clock=lambda: T0).sources}
    assert report["proxied"].error is None and report["proxied"].new == 1
    assert report["direct"].new == 1


def test_a_page_deleted_ten_minutes_after_it_was_first_seen(server: FeedServer, tmp_path: Path) -> None:
    text = "".join(f"<p>第{k}段：记者在现场看到居民排队领取救灾物资。</p>" for k in range(6))
    link = server.add("/news/1", f"<html><body><article><h1>标题</h1>{text}</article></body></html>", headers=HTML)
    feed = server.add("/feed.xml", rss(dict(item(1), link=link, guid=link, description=f"<![CDATA[{text}]]>")))
    source = Source(name="本地", slug="local", feeds=(feed,), allow_private=True, recheck_schedule=(10 / 60, 0.5, 1.0))
    archive = archive_of(tmp_path / "a", source, recheck=RecheckConfig(confirm_hours=0.25))
    archive.update(clock=lambda: T0)
    archive.update(clock=lambda: T0 + 5 * 60)
    assert server.routes["/news/1"].hits == 0, "not due before ten minutes"
    server.routes["/news/1"].status = 404
    archive.update(clock=lambda: T0 + 10 * 60)
    [row] = archive.articles("local")
    pending = archive.index.takedown(row.rowid)
    assert pending is not None and pending[1] is None, "found gone ten minutes after it was first seen"
    archive.update(clock=lambda: T0 + 41 * 60)  # the next recheck, 30 minutes on, confirms it
    [takedown] = archive.takedowns()
    assert takedown.path == row.path and takedown.how == "404"
