"""Time the damage scan that every `update` makes before fetching, and the whole read of `check`, over N article files.

    python bench/damage_bench.py [--files 100000] [--check]

The files (~12 kB of Chinese each) and their index rows are written straight in. The first scan records their sizes
and times (as the first run after the index gains them does); the next ones only stat, the first of them with a cold
page cache where the kernel allows dropping it. ``--check`` also times ``check``'s read of every file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from newsarchive.archive import Archive
from newsarchive.normalise import fingerprint
from newsarchive.store.damage import scan
from newsarchive.store.fileformat import render_article


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--check", action="store_true", help="also time check's full read")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="damage-bench-"))
    try:
        archive = Archive.init(root)
        body = "<p>" + "正文" * 2000 + "</p>"
        (root / "articles/x").mkdir(parents=True)
        rows = []
        for n in range(args.files):
            path, title, link, pub_ms = f"articles/x/{1048575 - n}.md", f"标题{n}", f"https://example.org/{n}", 1780000000000 + n
            (root / path).write_text(render_article(pub_ms=pub_ms, title=title, link=link, body=body), encoding="utf-8")
            rows.append(("x", 1048575 - n, path, title, link, pub_ms, fingerprint(title, body)))
        with archive.index.atomic():
            archive.index.db.executemany(
                "INSERT INTO articles (source, file_id, path, title, link, pub_ms, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
        started = time.perf_counter()
        scan(archive)
        print(f"{args.files:,} files: first scan, recording sizes and times: {time.perf_counter() - started:.2f} s")
        os.system("sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null")
        for label in ("cold cache", "warm"):
            started = time.perf_counter()
            found = scan(archive)
            print(f"scan ({label}): {time.perf_counter() - started:.2f} s, {len(found)} damaged")
        if args.check:
            started = time.perf_counter()
            scan(archive, full=True, record=False)
            print(f"check's read of every file: {time.perf_counter() - started:.2f} s")
        archive.close()
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
