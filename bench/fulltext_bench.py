"""Time full text: extraction of the main text from generated article pages, and an update that takes its
articles' text from their pages over loopback.

    python bench/fulltext_bench.py [--pages 500] [--body 6000] [--runs 3] [--per-host 2]

Pages are generated from a fixed seed: the article (paragraphs, a picture, links) inside a site's furniture
(navigation, related links, ads, a footer, scripts), with about --body bytes of article text each.
Extraction (``fulltext.extract``, decoding included) is timed in one thread for each way of finding the main
text: a default outlet's rule (RFI's page structure), a ``fulltext_selector``, trafilatura (no rule), and
trafilatura on the same pages in GBK with no declared charset. The update is ``Archive.update()`` on one
outlet whose summary feed has --pages items, each page served on loopback: pages/s from the feed's fetch to
the stored files, with --per-host requests at once (fetch.per_host, default 2, as for real outlets).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import FeedServer, paragraph, settle

from newsarchive import fulltext
from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, Settings
from newsarchive.sources import Source

FURNITURE_TOP = (
    '<header class="site"><nav><a href="/">首页</a><a href="/world/">国际</a><a href="/china/">中国</a>'
    '<a href="/opinion/">评论</a></nav></header><div class="ad">广告</div><script>var analytics = {"page": "article"};</script>'
)
FURNITURE_BOTTOM = (
    '<aside class="related"><h2>相关文章</h2>'
    + "".join(f'<a href="/zh/{n}">相关新闻标题之{n}</a>' for n in range(8))
    + '</aside><footer class="site">版权所有 · 联系我们 · 隐私政策</footer><script src="/app.js"></script>'
)


def article_page(rng: random.Random, n: int, size: int, rfi: bool) -> str:
    paragraphs, total = [], 0
    while total < size:
        text = paragraph(rng, rng.randint(60, 200))
        paragraphs.append(f'<p>{text}<a href="/zh/{rng.randint(1, 9999)}">链接</a></p>' if rng.random() < 0.2 else f"<p>{text}</p>")
        total += len(text.encode())
    picture = f'<figure><img src="/img/{n}.jpg" alt="图片"><figcaption>{paragraph(rng, 20)}</figcaption></figure>'
    if rfi:
        article = (
            f'<article class="t-content"><header><h1 class="t-content__title">第{n}篇</h1>'
            f'<p class="t-content__chapo">{paragraph(rng, 60)}</p><div class="t-content__main-media">{picture}</div></header>'
            f'<div class="t-content__body"><div class="o-self-promo">订阅</div>{"".join(paragraphs)}</div></article>'
        )
    else:
        article = f'<article><h1>第{n}篇</h1>{picture}<div class="article-body">{"".join(paragraphs)}</div></article>'
    head = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>第{n}篇</title></head>'
    return f"{head}<body>{FURNITURE_TOP}<main>{article}</main>{FURNITURE_BOTTOM}</body></html>"


def time_extraction(pages: list[bytes], rule: fulltext.Rule | None, runs: int) -> float:
    """Median pages/s of extract() over ``runs`` passes."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for page in pages:
            fulltext.extract(page, url="https://news.example.org/zh/1", rule=rule)
        rates.append(len(pages) / (time.perf_counter() - started))
    return statistics.median(rates)


def time_update(pages: int, size: int, per_host: int, runs: int, settle_seconds: float) -> tuple[float, float]:
    rng = random.Random("update")
    bodies = {f"/zh/{n}": article_page(rng, n, size, rfi=False).encode() for n in range(pages)}
    server = FeedServer(bodies)
    items = "".join(
        f"<item><title>第{n}篇</title><link>{server.base}/zh/{n}</link><guid>{server.base}/zh/{n}</guid>"
        f"<pubDate>Mon, 01 Jun 2026 08:{n % 60:02d}:00 GMT</pubDate><description>{paragraph(rng, 60)}</description></item>"
        for n in range(pages)
    )
    feed = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>页</title>{items}</channel></rss>'
    bodies["/feed.xml"] = feed.encode()
    fulltext.MAX_PAGES_PER_OUTLET = fulltext.MAX_PAGES_PER_RUN = pages  # one run takes them all
    source = Source(name="页", slug="pages", feeds=(server.base + "/feed.xml",), fulltext="auto", allow_private=True)
    seconds = []
    try:
        for _ in range(runs):
            root = Path(tempfile.mkdtemp(prefix="fulltext-"))
            try:
                Archive.init(root).close()
                settle(settle_seconds)
                with Archive.open(root, settings=Settings(sources=(source,), fetch=FetchConfig(per_host=per_host))) as archive:
                    started = time.perf_counter()
                    report = archive.update()
                    seconds.append(time.perf_counter() - started)
                outlet = report.sources[0]
                if outlet.new != pages or outlet.warnings:
                    raise SystemExit(f"update stored {outlet.new} of {pages}: {outlet.error or outlet.warnings[:3]}")
            finally:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        server.close()
    median = statistics.median(seconds)
    return median, pages / median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--body", type=int, default=6000, help="bytes of article text per page")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-host", type=int, default=2, help="fetch.per_host for the update")
    parser.add_argument("--settle", type=float, default=5, help="seconds to let the disk go quiet before each timed update")
    options = parser.parse_args()

    rng = random.Random("fulltext")
    rfi_pages = [article_page(rng, n, options.body, rfi=True).encode() for n in range(options.pages)]
    plain_pages = [article_page(rng, n, options.body, rfi=False) for n in range(options.pages)]
    utf8 = [page.encode() for page in plain_pages]
    gbk = [page.replace('<meta charset="utf-8">', "").replace("·", "-").encode("gbk") for page in plain_pages]
    kb = sum(len(page) for page in utf8) / len(utf8) / 1024
    print(f"{options.pages} generated pages of {kb:.0f} kB on average, {options.runs} runs, medians\n")
    cases: list[tuple[str, list[bytes], Callable[[], fulltext.Rule | None]]] = [
        ("default outlet rule (rfi)", rfi_pages, lambda: fulltext.rule_for("rfi", None)),
        ('fulltext_selector = "div.article-body"', utf8, lambda: fulltext.rule_for("mine", "div.article-body")),
        ("trafilatura (no rule)", utf8, lambda: None),
        ("trafilatura, GBK undeclared", gbk, lambda: None),
    ]
    fulltext.extract(utf8[0], url="https://news.example.org/", rule=None)  # imports trafilatura before timing
    print("| extraction | pages/s | ms/page |\n| --- | ---: | ---: |")
    for name, pages, rule in cases:
        rate = time_extraction(pages, rule(), options.runs)
        print(f"| {name} | {rate:,.0f} | {1000 / rate:.2f} |")
    seconds, rate = time_update(options.pages, options.body, options.per_host, options.runs, options.settle)
    print(f"\nupdate from empty, {options.pages} summary items, their pages on loopback (per_host = {options.per_host}):")
    print(f"{seconds:.2f} s, {rate:,.0f} pages/s")


if __name__ == "__main__":
    main()
