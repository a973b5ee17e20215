"""Time image downloads: the images of generated articles, fetched over loopback, checked and stored by content.

    python bench/media_bench.py [--articles 200] [--images 4] [--kib 60] [--per-host 8] [--runs 3]

An outlet's feed has --articles items, each showing --images pictures written the ways outlets write them
(plain src, data-src, srcset, a noscript fallback), one in ten shared with another article (stored once). The
images are PNGs of about --kib KiB served on 127.0.0.1. The articles are stored first with images off; then
``media.after_run`` is timed alone (registering each article's images, fetching with --per-host requests at
once (fetch.per_host), type sniffing, hashing, the atomic writes): images/s and MiB/s, median of --runs fresh
archives.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path

from common import FeedServer, paragraph, settle

from newsarchive import media
from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, MediaConfig, Settings
from newsarchive.fetch import Fetcher
from newsarchive.sources import Source


def png(rng: random.Random, kib: int) -> bytes:
    """A valid PNG of about ``kib`` KiB of noise (noise does not compress, so the size is what is asked)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    width = 128
    height = max(2, kib * 1024 // (width * 3))
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


def picture(address: str, way: int) -> str:
    if way == 0:
        return f'<img src="{address}" alt="图">'
    if way == 1:
        return f'<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="{address}" alt="图">'
    if way == 2:
        return f'<img srcset="{address}?w=320 320w, {address} 1024w" alt="图">'
    return f'<img class="lazyload" src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><noscript><img src="{address}" alt="图"></noscript>'


def build(args: argparse.Namespace) -> tuple[dict[str, bytes], int]:
    """The feed and image bodies by path, and the number of distinct images."""
    rng = random.Random(6)
    bodies: dict[str, bytes] = {}
    items = []
    distinct = 0
    for n in range(args.articles):
        shown = []
        for k in range(args.images):
            shared = rng.random() < 0.1 and distinct > 0
            number = rng.randrange(distinct) if shared else distinct
            if not shared:
                bodies[f"/img/{number}.png"] = png(rng, args.kib)
                distinct += 1
            shown.append(picture(f"/img/{number}.png", k % 4))
        body = f"<p>{paragraph(rng, 120)}</p>{''.join(shown)}<p>{paragraph(rng, 200)}</p>"
        items.append(
            f"<item><title>第{n}条新闻</title><link>https://news.example.org/zh/{n}</link><guid>https://news.example.org/zh/{n}</guid>"
            f"<pubDate>Mon, 01 Jun 2026 {n % 24:02d}:{n % 60:02d}:00 GMT</pubDate><description><![CDATA[{body}]]></description></item>"
        )
    feed = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>测试</title><link>https://news.example.org/</link>'
    bodies["/feed.xml"] = (feed + "".join(items) + "</channel></rss>").encode()
    return bodies, distinct


def one_run(server: FeedServer, args: argparse.Namespace, workdir: Path) -> tuple[float, media.MediaRunReport]:
    root = workdir / "archive"
    shutil.rmtree(root, ignore_errors=True)
    Archive.init(root).close()
    # Article bodies carry root-relative addresses; the feed's <link> is elsewhere, so give them in full.
    outlet = Source(name="NEWS", slug="news", feeds=(server.base + "/feed.xml",), allow_private=True)
    fetch = FetchConfig(per_host=args.per_host, concurrency=max(16, args.per_host))
    settings = Settings(sources=(outlet,), fetch=fetch, media=MediaConfig(enabled=False, max_run_bytes=1 << 40))
    with Archive.open(root, settings=settings) as archive:
        archive.update()
        archive.settings = Settings(sources=(outlet,), fetch=fetch, media=MediaConfig(max_run_bytes=1 << 40))
        settle(0.5)

        async def images() -> media.MediaRunReport | None:
            async with Fetcher(fetch) as fetcher:
                return await media.after_run(archive, fetcher, 0, int(time.time() * 1000))

        started = time.perf_counter()
        report = asyncio.run(images())
        seconds = time.perf_counter() - started
    assert report is not None
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--kib", type=int, default=60)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bodies, distinct = build(args)
    server = FeedServer(bodies)
    # the generated bodies name images by path: make them absolute on this server
    bodies["/feed.xml"] = bodies["/feed.xml"].replace(b'"/img/', f'"{server.base}/img/'.encode())
    bodies["/feed.xml"] = bodies["/feed.xml"].replace(b", /img/", f", {server.base}/img/".encode())
    times, reports = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="media-bench-") as workdir:
            for _ in range(args.runs):
                seconds, report = one_run(server, args, Path(workdir))
                times.append(seconds)
                reports.append(report)
    finally:
        server.close()
    report = reports[-1]
    seconds = statistics.median(times)
    print(f"{args.articles} articles x {args.images} images, {distinct} distinct PNGs of ~{args.kib} KiB, per_host {args.per_host}")
    print(f"downloaded {report.downloaded} addresses ({report.bytes / 2**20:.1f} MiB), failed {report.failed}")
    rate, mib = report.downloaded / seconds, report.bytes / 2**20 / seconds
    print(f"median of {args.runs}: {seconds:.2f} s = {rate:.0f} images/s, {mib:.1f} MiB/s")


if __name__ == "__main__":
    main()
