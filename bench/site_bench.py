"""Time `newsarchive build-site` on a generated archive of N articles (the first build, a rebuild with nothing new,
a rebuild after --new new articles), measure the site's size, and time its full-text search in headless Chromium
from file://.

    python bench/site_bench.py [--files 100000] [--characters 700,2900] [--skip-rebuilds] [--new 20] [--no-browser]

The articles are those of search_bench.py (words of news text with realistic frequencies, topics, a tenth or so in
traditional characters, 8 outlets over 5 years), written as duty-machine files with their text in paragraphs.
Prints seconds, files written, the size of the site, of its search files and of the articles' plain text, each per
article, and for each kind of query the time until the first page of results is shown, typed into the open search page
(from its submit) and opened as a link in a fresh page (from the navigation's start, Chromium's performance.now()),
and the search files it loaded, against the budgets of issue 15.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from common import compile_package, newsarchive, search_left_to_first_use, settle, timed
from search_bench import SPAN_MS, START_MS, articles

SITE_BUDGET_MB = 1000  # GitHub Pages stops at 1 GB
SEARCH_SHARE = 0.5  # search files at most half the articles' plain text
QUERY_BUDGET_MB = 1.0
QUERY_BUDGET_MS = 300.0
QUERIES = {
    "1 character (疫)": "q=疫",
    "1 character, newest first (的)": "q=的&sort=date",
    "2 characters (台湾)": "q=台湾",
    "2 characters, newest first (王毅)": "q=王毅&sort=date",
    "traditional (臺灣)": "q=臺灣",
    "English word (biden)": "q=biden",
    "phrase (一带一路)": "q=一带一路",
    "2 terms (香港 选举)": "q=香港+选举",
    "2 characters, outlet + year (芯片)": "q=芯片&source=rfa&since=2021-01-01&until=2021-12-31",
}


def generate(root: Path, count: int, characters: tuple[int, int], *, seed: int = 0, newest: bool = False) -> int:
    """Write ``count`` article files under root/articles (``newest``: in the span's last milliseconds, after all
    others, as update brings new articles, with ids of their own); returns the bytes of their plain text."""
    text_bytes = 0
    for n, doc in enumerate(articles(count, seed, characters)):
        if newest:
            doc = replace(doc, path=f"articles/{doc.source}/{2_000_000 + n}.md", pub_ms=START_MS + SPAN_MS - count + n)
        paragraphs = "".join(f"<p>{line}</p>" for line in doc.text.split("\n") if line)
        target = root / doc.path
        target.parent.mkdir(parents=True, exist_ok=True)
        link = f"https://{doc.source}.example.org/zh/{target.stem}"
        target.write_text(f"<!--{doc.pub_ms}-->\n[{doc.title}]({link})\n------\n\n{paragraphs}\n", encoding="utf-8")
        text_bytes += len((doc.title + "\n" + doc.text).encode())
    return text_bytes


def size_of(folder: Path) -> int:
    """Bytes of the files under ``folder``, but the site's state database (not part of the site: bundle leaves it out)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def row(label: str, seconds: float, peak: float, report: dict[str, int]) -> str:
    return f"{label:<28} {seconds:8.2f} {peak:8.0f} {report['written']:8,} {report['unchanged']:10,} {report['removed']:8,}"


def build(archive: Path, site: Path) -> tuple[float, float, dict[str, int]]:
    seconds, peak, result = timed(newsarchive("build-site", str(site), "--archive", str(archive), "--json"))
    report: dict[str, int] = json.loads(result.stdout)
    return seconds, peak, report


TYPED = """query => {
    const form = document.querySelector('form.filters'), params = new URLSearchParams(query);
    for (const field of form.elements) {
        if (field.name) field.value = params.get(field.name) || (field.tagName === 'SELECT' ? field.options[0].value : '');
    }
    form.requestSubmit();
}"""


def browse(site: Path, runs: int) -> None:
    """Each query from file:// in headless Chromium, two ways: typed into the search page, open and ready (ms from the
    submit until the results are shown: the search itself), and opened as a link in a fresh page (ms from the
    navigation's start: the page's own start too). Also the search files each loaded (sizes read from disk: file://
    responses carry no length) and, for a link, where its time went."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium: search not timed (apt-get install chromium)")
        return
    heading = f"query (from file://, {runs} runs of each)"
    print(f"\n{heading:<40} typed: ms p50   max  link: ms p50   max     MB     hits   link p50 ms: page ready, loaded, ranked")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for label, query in QUERIES.items():
            typed, linked, loaded, status, marks = [], [], 0, "", []
            for _ in range(runs):
                page = browser.new_page()
                page.goto((site / "search.html").as_uri())
                page.wait_for_selector("#status:has-text('输入搜索词')")
                page.evaluate(TYPED, query)
                page.wait_for_selector("body[data-results]", timeout=60_000)
                started = page.evaluate("performance.getEntriesByName('search-start')[0].startTime")  # the marks of the last query
                typed.append(float(page.get_attribute("body", "data-results") or 0) - started)
                page.close()
                page = browser.new_page()
                files: list[str] = []
                page.on("request", lambda request, files=files: files.append(request.url))
                page.goto((site / "search.html").as_uri() + "?" + query)
                page.wait_for_selector("body[data-results]", timeout=60_000)
                linked.append(float(page.get_attribute("body", "data-results") or 0))
                marks.append(
                    page.evaluate(
                        "['search-start', 'search-loaded', 'search-ranked'].map(n => performance.getEntriesByName(n)[0].startTime)"
                    )
                )
                status = page.inner_text("#status")
                wanted = [url for url in files if "/search/" in url]
                loaded = sum((site / "search" / url.split("/search/", 1)[1]).stat().st_size for url in wanted)
                page.close()
            found = status.split(" 篇")[0].removeprefix("找到 ") if "找到" in status else "0"
            flag = "" if max(typed) <= QUERY_BUDGET_MS and loaded <= QUERY_BUDGET_MB * 1e6 else "  over budget"
            phases = "/".join(f"{statistics.median(mark[n] for mark in marks):.0f}" for n in range(3))
            print(
                f"{label:<40} {statistics.median(typed):14.0f} {max(typed):5.0f} {statistics.median(linked):12.0f} {max(linked):5.0f}"
                f" {loaded / 1e6:6.2f} {found:>8}   {phases}{flag}"
            )
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000, help="articles in the generated archive")
    parser.add_argument("--characters", default="700,2900", help="least and most characters of an article's text")
    parser.add_argument("--runs", type=int, default=5, help="times each query is timed")
    parser.add_argument("--skip-rebuilds", action="store_true", help="time the first build only")
    parser.add_argument("--new", type=int, default=1, help="new articles before the last rebuild (20: an hourly update)")
    parser.add_argument("--no-browser", action="store_true", help="do not time the search in Chromium")
    parser.add_argument("--settle", type=float, default=20, help="seconds to let the disk go quiet before each timed run")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out", help="where archives are made (default: bench/out)")
    parser.add_argument("--keep", action="store_true", help="keep the archive and site (their folder is printed)")
    options = parser.parse_args()
    least, most = (int(n) for n in options.characters.split(","))
    options.workdir.mkdir(parents=True, exist_ok=True)
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="site-", dir=options.workdir))
    try:
        text_bytes = generate(work / "source", options.files, (least, most))
        timed(newsarchive("init", str(work / "archive")))
        search_left_to_first_use(work / "archive")  # the site makes its own search files from the articles
        seconds, peak, _ = timed(newsarchive("import", str(work / "source"), "--archive", str(work / "archive")))
        print(f"imported {options.files:,} articles in {seconds:.0f} s ({peak:.0f} MB peak)", flush=True)
        site = work / "site"
        print(f"{'build':<28} {'s':>8} {'peak MB':>8} {'written':>8} {'unchanged':>10} {'removed':>8}")
        for label in ("first build", "again, nothing new")[: 1 if options.skip_rebuilds else 2]:
            settle(options.settle)
            seconds, peak, report = build(work / "archive", site)
            print(row(label, seconds, peak, report))
        if not options.skip_rebuilds:
            # New articles of the newest year, as an hourly update brings them, imported as files from outside.
            generate(work / "extra", options.new, (least, most), seed=1, newest=True)
            timed(newsarchive("import", str(work / "extra"), "--archive", str(work / "archive")))
            settle(options.settle)
            seconds, peak, report = build(work / "archive", site)
            print(row(f"after {options.new} new article{'s' * (options.new > 1)}", seconds, peak, report))
        count = options.files
        total, search, pages = size_of(site), size_of(site / "search"), size_of(site / "articles")
        articles_mb = size_of(work / "archive" / "articles") / 1e6
        print(f"\narticles {articles_mb:,.0f} MB; their plain text {text_bytes / 1e6:,.0f} MB ({text_bytes / count:,.0f} bytes an article)")
        print(f"site {total / 1e6:,.0f} MB ({total / count:,.0f} bytes an article; budget {SITE_BUDGET_MB:,} MB)")
        print(f"  article pages {pages / 1e6:,.0f} MB ({pages / count:,.0f} bytes an article)")
        print(
            f"  search files {search / 1e6:,.0f} MB ({search / count:,.0f} bytes an article), "
            f"{search / text_bytes:.2f} of the plain text (budget {SEARCH_SHARE})"
        )
        if not options.no_browser:
            browse(site, options.runs)
        if options.keep:
            print(f"kept: {work}", file=sys.stderr)
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
