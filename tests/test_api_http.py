"""`serve`'s read-only JSON API over real HTTP: /api/search, /api/outlets, /api/articles/<slug>/<id>, /api/takedowns."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, RecheckConfig, Settings
from newsarchive.sources import Source

from .conftest import FeedServer, item, rss, serving

T0 = 1_780_000_000.0


@pytest.fixture
def reader(server: FeedServer, tmp_path: Path) -> Iterator[str]:
    items = [item(n, title=f"第{n}条关于水库的新闻") for n in range(1, 8)]
    feed = server.add("/feed.xml", rss(*items))
    Archive.init(tmp_path / "a").close()
    settings = Settings(
        sources=(Source(name="本地台", slug="local", feeds=(feed,)),),
        fetch=FetchConfig(retries=0, total_timeout=5),
        recheck=RecheckConfig(per_run=0),
        warc=False,
    )
    archive = Archive.open(tmp_path / "a", settings=settings)
    archive.update(clock=lambda: T0)
    items[0]["description"] = "<![CDATA[<p>改过的正文，水库决堤。</p>]]>"
    server.routes["/feed.xml"].body = rss(*items)
    archive.update(clock=lambda: T0 + 3600)
    with serving(archive) as base:
        yield base.removesuffix("/")
    archive.close()


def get(base: str, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_search_is_paged_with_a_total(reader: str) -> None:
    status, first, headers = get(reader, "/api/search?q=%E6%B0%B4%E5%BA%93&size=3")  # 水库
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert "Access-Control-Allow-Origin" not in headers, "no web page elsewhere may read the archive"
    assert first["total"] == 7 and first["page"] == 1 and len(first["hits"]) == 3
    hit = first["hits"][0]
    assert {"path", "source", "outlet", "title", "link", "pub_ms", "published_at", "score", "snippet", "page"} <= set(hit)
    assert hit["outlet"] == "本地台" and hit["link"].startswith("https://news.example.org/") and "【" in hit["snippet"]
    seen = [h["path"] for h in first["hits"]]
    while first["next"]:
        _, first, _ = get(reader, first["next"])
        seen += [h["path"] for h in first["hits"]]
    assert len(seen) == len(set(seen)) == 7
    _, by_date, _ = get(reader, "/api/search?q=%E6%B0%B4%E5%BA%93&sort=date&size=100")
    dates = [h["pub_ms"] for h in by_date["hits"]]
    assert dates == sorted(dates, reverse=True)
    _, none, _ = get(reader, "/api/search?q=%E6%B0%B4%E5%BA%93&source=nothing")
    assert none["total"] == 0 and none["hits"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/search?q=",
        "/api/search?q=x&sort=best",
        "/api/search?q=x&page=0",
        "/api/search?q=x&size=1000",
        "/api/search?q=x&since=june",
        "/api/search?q=x&page=101&size=100",
    ],
)
def test_bad_parameters_are_400_with_the_reason(reader: str, path: str) -> None:
    status, data, _ = get(reader, path)
    assert status == 400 and data["error"]


def test_outlets_article_and_takedowns(reader: str) -> None:
    status, data, _ = get(reader, "/api/outlets")
    assert status == 200
    [outlet] = [o for o in data["outlets"] if o["slug"] == "local"]
    assert outlet["articles"] == 7 and outlet["name"] == "本地台"

    _, found, _ = get(reader, "/api/search?q=%E5%86%B3%E5%A0%A4")  # 决堤: only in the edited version
    slug, number = found["hits"][0]["path"].removesuffix(".md").split("/")[1:]
    status, article, _ = get(reader, f"/api/articles/{slug}/{number}")
    assert status == 200
    assert "水库决堤" in article["text"] and article["html"].startswith("<p>")
    assert [v["latest"] for v in article["versions"]] == [False, True]
    assert "水库决堤" not in article["versions"][0]["text"] and "水库决堤" in article["versions"][1]["text"]
    assert article["takedown"] is None

    status, missing, _ = get(reader, f"/api/articles/{slug}/1")
    assert status == 404 and "no such article" in missing["error"]
    assert get(reader, "/api/nothing")[0] == 404

    status, taken, _ = get(reader, "/api/takedowns")
    assert status == 200 and taken["total"] == 0 and taken["takedowns"] == [] and taken["next"] is None
