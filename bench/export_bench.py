"""Time `newsarchive export` over an index of N articles and show that its memory stays flat: records/s and the
peak resident memory of the command at each size (default 100,000, 500,000 and 1,000,000), in each format.

    python bench/export_bench.py [--sizes 100000,500000,1000000] [--formats jsonl,parquet] [--settle 5]

Export reads every article file, so every index row needs one: a few hundred real article files (~4.4 kB
bodies with links and an image) are generated once and hard-linked to every path, which costs no disk space;
one article in 50 also has an earlier version. The index rows go straight into SQLite, as in reader_bench.py.
The archive grows from one size to the next. The export's output goes through a pipe to `wc -c`, so no disk
holds gigabytes of it; the files are all in the page cache, so this measures the export, not the disk.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import article_html, newsarchive, paragraph, settle, timed

from newsarchive.archive import Archive
from newsarchive.sources import DEFAULT_SOURCES

FILES = 300
REVISION_EVERY = 50
START_MS = 1_500_000_000_000


def write_pool(folder: Path, count: int) -> list[Path]:
    """``count`` article files to link the index's paths to."""
    rng = random.Random(6)
    folder.mkdir(parents=True)
    files = []
    for n in range(count):
        links = "".join(f'<a href="/zh/{rng.getrandbits(32):x}">相关{k}</a>' for k in range(3))
        body = "".join(article_html(rng, 4000).split("\n")) + f"<p>{links}</p>"
        title = paragraph(rng, rng.randint(8, 24))[:-1]
        path = folder / f"{n}.md"
        path.write_text(f"<!--{START_MS + n * 60_000}-->\n[{title}](https://news.example.org/zh/{n})\n------\n\n{body}\n", encoding="utf-8")
        files.append(path)
    return files


def grow(root: Path, start: int, stop: int, pool: list[Path]) -> None:
    """Index rows ``start`` to ``stop`` over the default outlets, each path a hard link to a file of the pool."""
    archive = Archive.open(root)
    slugs = [s.slug for s in DEFAULT_SOURCES if s.enabled]
    db = archive.index.db
    made: set[str] = set()
    with archive.index.atomic():
        for n in range(start, stop):
            slug = slugs[n % len(slugs)]
            number = 1048574 - n // len(slugs)
            path = f"articles/{slug}/{number}.md"
            pub_ms = START_MS + n * 60_000
            cursor = db.execute(
                "INSERT INTO articles (source, file_id, path, title, link, pub_ms, fingerprint, first_seen_ms, updated_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (slug, number, path, f"第{n}条", f"https://{slug}.example.org/{n}", pub_ms, str(n), pub_ms, pub_ms + 3_600_000),
            )
            paths = [path]
            if n % REVISION_EVERY == 0:
                revision = f"revisions/{slug}/{number}/{pub_ms}.md"
                db.execute(
                    "INSERT INTO revisions (article, path, title, link, pub_ms, seen_ms, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (cursor.lastrowid, revision, f"第{n}条", f"https://{slug}.example.org/{n}", pub_ms, pub_ms, f"r{n}"),
                )
                paths.append(revision)
            for relative in paths:
                folder = os.path.dirname(relative)
                if folder not in made:
                    os.makedirs(root / folder, exist_ok=True)
                    made.add(folder)
                os.link(pool[n % len(pool)], root / relative)
    archive.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,500000,1000000", help="articles in the index at each measurement, ascending")
    parser.add_argument("--formats", default="jsonl,parquet")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of quiet disk before each timed run")
    options = parser.parse_args()
    sizes = sorted(int(size) for size in options.sizes.split(","))
    formats = options.formats.split(",")
    work = Path(tempfile.mkdtemp(prefix="export-"))
    try:
        Archive.init(work / "archive").close()
        pool = write_pool(work / "pool", FILES)
        print("| articles | format | versions | output MB | s | records/s | peak MB |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        done = 0
        for size in sizes:
            started = time.perf_counter()
            grow(work / "archive", done, size, pool)
            print(f"(index and links for {size - done:,} more articles in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
            done = size
            for kind in formats:
                settle(options.settle)
                command = " ".join(newsarchive("export", "--archive", str(work / "archive"), "--format", kind)) + " | wc -c"
                seconds, peak, result = timed(["sh", "-c", command])
                exported = re.search(r"exported ([\d,]+) versions", result.stderr.decode())
                if exported is None:
                    sys.exit(f"the export failed:\n{result.stderr.decode()}")
                records = int(exported[1].replace(",", ""))
                megabytes = int(result.stdout) / 1e6
                print(f"| {size:,} | {kind} | {records:,} | {megabytes:,.0f} | {seconds:.1f} | {records / seconds:,.0f} | {peak:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
