"""An archive to read, made by the real pipeline over loopback: two outlets, paging, an edited article."""

from __future__ import annotations

from pathlib import Path

from newsarchive.config import FetchConfig, Settings, SiteConfig
from newsarchive.pipeline import update
from newsarchive.sources import Source
from newsarchive.store.archive import Archive

from .conftest import FeedServer, item, rss

FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=4, retries=0, backoff=0.01)
HOSTILE = '<p>正文<script>alert(1)</script><img src="/pic.jpg" onerror="alert(2)"><a href="javascript:alert(3)">链接</a></p>'


def outlet_a(*extra: dict[str, str], edited: bool = False) -> bytes:
    items = [item(n, day=n) for n in range(1, 7)]
    items[0] = item(
        1, day=1, title="王毅訪問中亞", body="<p>「一帶一路」倡議十週年。</p>" + ("<p>更新：补充了细节。</p>" if edited else "")
    )
    items[1] = item(2, day=2, title="上海疫情", body=HOSTILE)
    return rss(*items, *extra)


def make_reading_archive(server: FeedServer, root: Path, *, page_size: int = 3) -> Archive:
    a = server.add("/a.xml", outlet_a())
    b = server.add("/b.xml", rss(item(20, day=9, title="台灣選舉結果", body="<p>台湾的选举。</p>")))
    Archive.init(root).close()
    settings = Settings(
        sources=(Source(name="甲台", slug="a", feeds=(a,)), Source(name="乙台", slug="b", feeds=(b,))),
        fetch=FAST,
        site=SiteConfig(page_size=page_size),
    )
    archive = Archive.open(root, settings=settings)
    update(archive, clock=lambda: 1_780_000_000.0)
    server.add("/a.xml", outlet_a(edited=True))
    update(archive, clock=lambda: 1_780_003_600.0)
    return archive
