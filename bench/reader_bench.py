"""Time the reader's pages over an index of N articles (default 1,000,000): home, an outlet's newest
page, its oldest and a middle page, and an article page; p50/p95 over repeated requests through the real
HTTP server.

    python bench/reader_bench.py [--articles 1000000]

The index rows are generated straight into SQLite (the pages read the index, and article files only
for the article page, of which a few hundred real files are written).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import article_html, paragraph

from newsarchive.archive import Archive
from newsarchive.config import Settings
from newsarchive.sources import DEFAULT_SOURCES
from newsarchive.web.app import make_server


def generate(root: Path, count: int) -> list[str]:
    """An archive whose index holds ``count`` rows over the default outlets; returns the paths with files."""
    archive = Archive.init(root)
    rng = random.Random(3)
    slugs = [s.slug for s in DEFAULT_SOURCES if s.enabled]
    titles = [paragraph(rng, rng.randint(8, 24))[:-1] for _ in range(1000)]
    with_files = []
    db = archive.index.db
    with archive.index.atomic():
        for n in range(count):
            slug = slugs[n % len(slugs)]
            number = 1048574 - n // len(slugs)
            path = f"articles/{slug}/{number}.md"
            db.execute(
                "INSERT INTO articles (source, file_id, path, title, link, pub_ms, fingerprint, first_seen_ms, updated_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    slug,
                    number,
                    path,
                    titles[n % 1000],
                    f"https://{slug}.example.org/{n}",
                    1_500_000_000_000 + n * 60_000,
                    str(n),
                    None,
                    None,
                ),
            )
            if n % (count // 300 or 1) == 0:
                with_files.append(path)
    for path in with_files:
        row = archive.index.article_at(path)
        assert row is not None
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        body = "".join(article_html(rng, 4000).split("\n"))
        (root / path).write_text(f"<!--{row.pub_ms}-->\n[{row.title}]({row.link})\n------\n\n{body}\n", encoding="utf-8")
    archive.close()
    return with_files


def timings(url: str, runs: int) -> tuple[float, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        with urllib.request.urlopen(url) as response:
            response.read()
        seconds.append((time.perf_counter() - started) * 1000)
    seconds.sort()
    return statistics.median(seconds), seconds[int(len(seconds) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=100)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reader-"))
    try:
        started = time.perf_counter()
        files = generate(work / "archive", options.articles)
        print(f"index of {options.articles:,} articles generated in {time.perf_counter() - started:.0f} s")
        archive = Archive.open(work / "archive", settings=Settings())
        server = make_server(archive, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        pages = {
            "home": "index.html",
            "outlet, newest page": "outlets/rfi/index.html",
            "outlet, oldest page": "outlets/rfi/page-1.html",
            "outlet, middle page": f"outlets/rfi/page-{options.articles // 8 // 50 // 2}.html",
            "article": files[len(files) // 2].removesuffix(".md") + ".html",
        }
        print(f"{'page':<22} {'p50 ms':>8} {'p95 ms':>8}")
        for label, path in pages.items():
            p50, p95 = timings(base + path, options.runs)
            print(f"{label:<22} {p50:8.1f} {p95:8.1f}")
        server.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
