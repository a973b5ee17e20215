"""Time `newsarchive import` and `reindex` on a generated duty-machine archive of N files.

    python bench/import_bench.py [--sizes 25000,50000,100000] [--no-search]

Prints files/s and the peak memory of the command, for each size, so that a flat memory
figure as the count grows can be seen; and that peak's two parts (sampled): the process's own memory (anon) and the
pages of the files it maps (file: the search index's segments, which tantivy maps to merge them).
With --no-search the archive is set not to index for search at the end of
the import (``search.index_on_update = false``): the files and the index alone, as the first search then catches up.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import article_html, compile_package, newsarchive, paragraph, search_left_to_first_use, settle, timed

FOLDERS = ["rfi", "rfa", "voa", "bbc", "dw", "nyt", "cdt", "ft", "法广"]


def generate(root: Path, count: int) -> int:
    """Write ``count`` article files (both file-name styles) under root/articles; returns total bytes."""
    rng = random.Random(7)
    bodies = ["".join(article_html(rng, rng.randint(2000, 9000)).split("\n")) for _ in range(200)]
    titles = [paragraph(rng, rng.randint(8, 24))[:-1] for _ in range(1000)]
    total = 0
    per_folder = count // len(FOLDERS) + 1
    written = 0
    for folder in FOLDERS:
        target = root / "articles" / folder
        target.mkdir(parents=True, exist_ok=True)
        for n in range(per_folder):
            if written == count:
                break
            number = 1048574 - n
            title = titles[(written * 7) % len(titles)]
            name = f"{number}_{title[:20]}.md" if folder == "法广" else f"{number}.md"
            text = (
                f"<!--{1600000000000 + written * 60000}-->\n[{title}](https://{folder}.example.org/zh/{written})\n------\n\n"
                f"{bodies[written % len(bodies)]}\n"
            )
            data = text.encode()
            (target / name).write_bytes(data)
            total += len(data)
            written += 1
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=30, help="seconds to let the disk go quiet before each timed run")
    parser.add_argument("--sizes", default="25000,50000,100000", help="comma-separated file counts")
    parser.add_argument("--no-search", dest="search", action="store_false", help="import without indexing for search")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out", help="where archives are made (default: bench/out)")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)
    compile_package()
    print(
        f"{'files':>8} {'MB':>6} {'import s':>9} {'files/s':>9} {'peak MB':>8} {'anon/file':>10} "
        f"{'reindex s':>10} {'files/s':>9} {'peak MB':>8} {'anon/file':>10}"
    )
    for count in (int(size) for size in options.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix="import-", dir=options.workdir))
        try:
            started = time.perf_counter()
            size = generate(work / "source", count)
            generated = time.perf_counter() - started
            timed(newsarchive("init", str(work / "archive")))
            if not options.search:
                search_left_to_first_use(work / "archive")
            settle(options.settle)
            parts: dict[str, float] = {}
            seconds, peak, _ = timed(newsarchive("import", str(work / "source"), "--archive", str(work / "archive")), parts)
            settle(options.settle)
            re_parts: dict[str, float] = {}
            re_seconds, re_peak, _ = timed(newsarchive("reindex", "--archive", str(work / "archive")), re_parts)
            split, re_split = (f"{p['anon']:.0f}/{p['file']:.0f}" for p in (parts, re_parts))
            print(
                f"{count:8,} {size / 1e6:6.0f} {seconds:9.2f} {count / seconds:9,.0f} {peak:8.0f} {split:>10} "
                f"{re_seconds:10.2f} {count / re_seconds:9,.0f} {re_peak:8.0f} {re_split:>10}   (generated in {generated:.0f} s)"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
