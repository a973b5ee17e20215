"""A reader on another machine: ``newsarchive serve --database URL`` over an archive of N generated articles.

    python bench/replica_bench.py [--articles 50000] [--runs 100] [--database URL]

The archive's machine imports N generated article files (about 2 kB of Chinese each, over the default outlets) into an
archive whose index is in PostgreSQL, which publishes every file to the outbox. Then a reader starts from an empty
cache in a child process (``serve --database URL --cache DIR --port 0``, from another folder): the time until it
answers is its first copy (files written and indexed into its own search). Its pages and searches are timed through
HTTP (p50 and p95 of ``--runs`` requests each), then one new article is stored on the archive's machine and the time
until the reader's search finds it is measured. Without ``--database`` a throwaway PostgreSQL server is started from
the machine's binaries (tests/pg.py, a Unix socket, fsync off): the database's disk is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import article_html, paragraph, postgresql

from newsarchive.archive import Archive
from newsarchive.models import Article
from newsarchive.sources import DEFAULT_SOURCES


def generate(folder: Path, count: int) -> tuple[list[str], list[str]]:
    """A duty-machine archive of ``count`` article files; returns their paths and titles."""
    rng = random.Random(5)
    slugs = [source.slug for source in DEFAULT_SOURCES if source.enabled]
    titles = [paragraph(rng, rng.randint(8, 24))[:-1] for _ in range(2000)]
    bodies = ["".join(article_html(rng, 1500).split("\n")) for _ in range(500)]
    paths, used = [], []
    for n in range(count):
        slug = slugs[n % len(slugs)]
        path = f"articles/{slug}/{1048574 - n // len(slugs)}.md"
        title = f"{titles[n % 2000]}{n}"
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        pub_ms = 1_700_000_000_000 + n * 60_000
        target.write_text(f"<!--{pub_ms}-->\n[{title}](https://{slug}.example.org/{n})\n------\n\n{bodies[n % 500]}\n", encoding="utf-8")
        paths.append(path)
        used.append(title)
    return paths, used


def timings(url: str, runs: int) -> tuple[float, float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
        seconds.append((time.perf_counter() - started) * 1000)
    seconds.sort()
    return statistics.median(seconds), seconds[max(0, int(len(seconds) * 0.95) - 1)]


def found(base: str, query: str) -> int:
    with urllib.request.urlopen(base + "api/search?q=" + urllib.parse.quote(query), timeout=60) as response:
        return int(json.loads(response.read())["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--database", help="an empty PostgreSQL database (default: a throwaway server)")
    options = parser.parse_args()
    with postgresql(options.database, "bench_replica") as (url, _):
        work = Path(tempfile.mkdtemp(prefix="replica-"))
        reader = None
        try:
            started = time.perf_counter()
            paths, titles = generate(work / "source", options.articles)
            print(f"{options.articles:,} article files generated in {time.perf_counter() - started:.0f} s")
            os.environ["NEWSARCHIVE_DATABASE"] = url
            started = time.perf_counter()
            with Archive.init(work / "archive") as archive:
                archive.import_from(work / "source")
            shutil.rmtree(work / "source")
            print(f"imported into the index in PostgreSQL and published to the outbox in {time.perf_counter() - started:.0f} s")

            elsewhere = work / "elsewhere"
            elsewhere.mkdir()
            command = [sys.executable, "-m", "newsarchive", "serve", "--database", url, "--cache", str(elsewhere / "cache"), "--port", "0"]
            env = {key: value for key, value in os.environ.items() if key != "NEWSARCHIVE_DATABASE"}
            started = time.perf_counter()
            reader = subprocess.Popen(command, cwd=elsewhere, stderr=subprocess.PIPE, text=True, env=env)
            assert reader.stderr is not None
            base = ""
            while not base:
                line = reader.stderr.readline()
                if not line:
                    raise SystemExit(f"the reader stopped: {reader.wait()}")
                if " at http://" in line:
                    base = line.split(" at ", 1)[1].split()[0]
            first = time.perf_counter() - started
            print(f"reader's first copy: {first:.0f} s ({options.articles / first:,.0f} articles/s, files and search)")

            middle = paths[len(paths) // 2]
            pages = {
                "home": "index.html",
                "outlet, newest page": "outlets/rfi/index.html",
                "outlet, middle page": f"outlets/rfi/page-{max(1, options.articles // 8 // 50 // 2)}.html",
                "article": middle.removesuffix(".md") + ".html",
                "search page, 2 chars": "search.html?q=" + urllib.parse.quote("中国"),
                "api/search, 2 chars": "api/search?q=" + urllib.parse.quote("中国"),
                "api/search, a title": "api/search?q=" + urllib.parse.quote(titles[len(titles) // 3][:6]),
            }
            print(f"{'page':<22} {'p50 ms':>8} {'p95 ms':>8}")
            for label, path in pages.items():
                p50, p95 = timings(base + path, options.runs)
                print(f"{label:<22} {p50:8.1f} {p95:8.1f}")

            word = "独一无二的新标题"
            article = Article(
                source="rfi", title=word, link="https://rfi.example.org/new", guid=None, pub_ms=int(time.time() * 1000),
                body="<p>新文章。</p>", keys=("link:rfi:https://rfi.example.org/new",), fingerprint="new",
            )  # fmt: skip
            with Archive.open(work / "archive") as archive:
                source = archive.settings.source("rfi")
                assert source is not None
                started = time.perf_counter()
                with archive.lock():
                    archive.apply(source, [article])
            while found(base, word) == 0:
                time.sleep(0.05)
            print(f"a new article stored on the archive's machine is found on the reader after {time.perf_counter() - started:.1f} s")
        finally:
            if reader is not None:
                reader.kill()
                reader.wait()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
