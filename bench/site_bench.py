"""Time `newsarchive build-site` on a generated archive of N articles: the first build, a rebuild with
nothing new, and a rebuild after one new article (what it rewrites).

    python bench/site_bench.py [--files 100000]

Prints seconds, files written and the size of the site and of its search files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from common import newsarchive, settle, timed
from import_bench import generate


def size_of(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def row(label: str, seconds: float, peak: float, report: dict[str, int]) -> str:
    return f"{label:<28} {seconds:8.2f} {peak:8.0f} {report['written']:8,} {report['unchanged']:10,} {report['removed']:8,}"


def build(archive: Path, site: Path) -> tuple[float, float, dict[str, int]]:
    seconds, peak, result = timed(newsarchive("build-site", str(site), "--archive", str(archive), "--json"))
    report: dict[str, int] = json.loads(result.stdout)
    return seconds, peak, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000, help="articles in the generated archive")
    parser.add_argument("--settle", type=float, default=20, help="seconds to let the disk go quiet before each timed run")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out", help="where archives are made (default: bench/out)")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="site-", dir=options.workdir))
    try:
        generate(work / "source", options.files)
        timed(newsarchive("init", str(work / "archive")))
        timed(newsarchive("import", str(work / "source"), "--archive", str(work / "archive")))
        site = work / "site"
        print(f"{'build':<28} {'s':>8} {'peak MB':>8} {'written':>8} {'unchanged':>10} {'removed':>8}")
        for label in ("first build", "again, nothing new"):
            settle(options.settle)
            seconds, peak, report = build(work / "archive", site)
            print(row(label, seconds, peak, report))
        # One new article, imported as a file from outside (as update would add it: the next id down).
        extra = work / "extra" / "articles" / "rfi"
        extra.mkdir(parents=True)
        text = "<!--1900000000000-->\n[新来的一条新闻](https://rfi.example.org/zh/new)\n------\n\n<p>新来的一条新闻的正文。</p>\n"
        (extra / "1000000.md").write_text(text, encoding="utf-8")
        timed(newsarchive("import", str(work / "extra"), "--archive", str(work / "archive")))
        settle(options.settle)
        seconds, peak, report = build(work / "archive", site)
        print(row("after one new article", seconds, peak, report))
        articles = size_of(work / "archive" / "articles")
        print(f"site: {size_of(site):,.0f} MB, of which search/ {size_of(site / 'search'):,.0f} MB; archive articles {articles:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
