"""An archive to read, made by the real pipeline over loopback: two outlets, paging, an edited article."""

from __future__ import annotations

from pathlib import Path

from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, Settings, SiteConfig
from newsarchive.pipeline import update
from newsarchive.sources import Source

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


# Every kind of page the reader has: an article with a kept image, a remote image and a video embed, one edited
# twice within a minute, one its outlet removed (a takedown), a mirror readers can browse.
T0 = 1_779_999_960.0  # seconds, on a minute
PARAGRAPH = "<p>丙台记者报道：救灾物资已经送达灾区，志愿者正在登记。</p>"


def article_page(body: str) -> str:
    head = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head>'
    return f"{head}<body><main><article>{body}</article></main></body></html>"


def make_every_page_archive(server: FeedServer, root: Path) -> Archive:
    from newsarchive.config import Mirror

    from .test_media import png

    image = server.add("/c/photo.png", png(40, 30))
    embed = '<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" title="记者会视频"></iframe>'
    remote = '<img src="https://img.example.invalid/remote.jpg" alt="远方的图">'
    video = '<video src="https://video.example.invalid/v.mp4" poster="https://video.example.invalid/p.jpg"></video>'
    bodies = {
        1: f'{PARAGRAPH}<p><img src="{image}" alt="现场照片"></p>{embed}{remote}{video}',
        2: "<p>丙台独家：这篇报道后来被删除了。</p>",
        3: "<p>丙台快讯：第一稿。</p>",
    }
    headers = {"Content-Type": "text/html; charset=utf-8"}
    links = {n: server.add(f"/c/{n}", article_page(body), headers=headers) for n, body in bodies.items()}

    def feed() -> bytes:
        items = [item(n, day=10, title=title, body=bodies[n]) | {"link": links[n], "guid": links[n]} for n, title in TITLES.items()]
        return rss(*items)

    feed_url = server.add("/c.xml", feed())
    Archive.init(root).close()
    settings = Settings(
        sources=(Source(name="丙台", slug="c", feeds=(feed_url,), allow_private=True),),
        fetch=FAST,
        mirrors=(Mirror(name="码云 Gitee", url=str(root / "nowhere.git"), read_url="https://mirror.example.invalid/news/"),),
    )
    archive = Archive.open(root, settings=settings)
    update(archive, clock=lambda: T0)
    bodies[3] = "<p>丙台快讯：第二稿，补充了细节。</p>"  # edited 20 seconds later: two versions in one minute
    server.add("/c/3", article_page(bodies[3]), headers=headers)
    server.add("/c.xml", feed())
    update(archive, clock=lambda: T0 + 20)
    server.routes["/c/2"].status = 404  # removed by the outlet: found gone, then confirmed an hour later
    update(archive, clock=lambda: T0 + 2 * 3600)
    update(archive, clock=lambda: T0 + 4 * 3600)
    return archive


TITLES = {1: "救灾物资送达", 2: "被删除的报道", 3: "快讯两稿"}
