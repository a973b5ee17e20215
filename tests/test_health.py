"""health.json and health.md after every update: real HTTP on loopback, real files, real SQLite."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from markdown_it import MarkdownIt

from newsarchive.health import HEALTH_COLUMNS, markdown_cell, source_health
from newsarchive.pipeline import update
from newsarchive.sources import Source

from .conftest import FeedServer, item, rss
from .test_pipeline import make_archive

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
HOUR = 3600.0


def health(root: Path) -> dict[str, dict[str, object]]:
    data = json.loads((root / "health.json").read_text(encoding="utf-8"))
    return {row["slug"]: row for row in data["sources"]}


def table_cells(markdown: str) -> list[list[str]]:
    """The cells of the first table, as GitHub would show them (parsed by a CommonMark + GFM-table parser)."""
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    table = rendered.split("<table>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.DOTALL)
    return [[html.unescape(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.DOTALL)] for row in rows]


def test_files_written_after_a_run_with_the_run_values(server: FeedServer, tmp_path: Path) -> None:
    a = server.add("/a.xml", rss(item(1), item(2), item(3)))
    b = server.add("/b.xml", rss(item(10)))
    archive = make_archive(tmp_path, Source(name="甲台", slug="a", feeds=(a,)), Source(name="乙台", slug="b", feeds=(b,)))
    update(archive, clock=lambda: T0)
    text = (tmp_path / "health.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert json.dumps(data, ensure_ascii=False, indent=2) + "\n" == text  # round-trips, nothing lost
    assert (data["generated_ms"], data["generated_at"]) == (T0 * 1000, "2027-01-15T08:00:00Z")
    rows = {row["slug"]: row for row in data["sources"]}
    assert list(rows) == ["a", "b"]
    row = rows["a"]
    assert list(row)[:6] == ["slug", "name", "enabled", "feeds", "articles", "articles_24h"]
    assert (row["name"], row["articles"], row["articles_24h"], row["consecutive_failures"]) == ("甲台", 3, 3, 0)
    assert (row["last_success_ms"], row["last_success_at"]) == (T0 * 1000, "2027-01-15T08:00:00Z")
    assert (row["last_new_ms"], row["last_new_at"]) == (T0 * 1000, "2027-01-15T08:00:00Z")
    assert (row["stale"], row["failing"], row["next_try_ms"], row["current_error"]) == (False, False, None, None)
    assert row["usual_gap_ms"] is None  # one run is too little history
    # `newsarchive sources` shows the same rows.
    assert [r.to_json() for r in source_health(archive, int(T0 * 1000))] == data["sources"]

    markdown = (tmp_path / "health.md").read_text(encoding="utf-8")
    assert markdown.startswith("# 新闻源状态 Outlet health\n")
    cells = table_cells(markdown)
    assert cells[0] == list(HEALTH_COLUMNS)
    assert cells[1] == ["", "甲台 (a)", "2027-01-15 16:00", "2027-01-15 16:00", "3", "", ""]  # Beijing time

    # The same run again at the same moment: the same bytes, so nothing is written.
    mtimes = [(tmp_path / name).stat().st_mtime_ns for name in ("health.json", "health.md")]
    update(archive, clock=lambda: T0)
    assert [(tmp_path / name).stat().st_mtime_ns for name in ("health.json", "health.md")] == mtimes
    assert not list(tmp_path.glob("*.newsarchive-tmp"))

    # A day later: one new article; the 24-hour count has only that one.
    server.add("/a.xml", rss(item(1), item(2), item(3), item(4)))
    update(archive, clock=lambda: T0 + 25 * HOUR)
    rows = health(tmp_path)
    assert (rows["a"]["articles"], rows["a"]["articles_24h"], rows["a"]["last_new_ms"]) == (4, 1, (T0 + 25 * HOUR) * 1000)
    assert (rows["b"]["articles_24h"], rows["b"]["last_new_ms"], rows["b"]["last_success_ms"]) == (0, T0 * 1000, (T0 + 25 * HOUR) * 1000)


def test_a_failing_outlet_shows_its_failures_error_and_next_try(server: FeedServer, tmp_path: Path) -> None:
    broken = server.add("/broken.xml", "down", status=404)
    good = server.add("/good.xml", rss(item(1)))
    archive = make_archive(tmp_path, Source(name="坏", slug="bad", feeds=(broken,)), Source(name="好", slug="good", feeds=(good,)))
    for n in range(3):  # three hourly runs: the feed has failed three times in a row
        update(archive, clock=lambda n=n: T0 + n * HOUR)
    last_attempt_ms = int((T0 + 2 * HOUR) * 1000)
    retry_ms = last_attempt_ms + 30 * 60 * 1000  # backing off: 15 min after the second failure, 30 after the third
    rows = health(tmp_path)
    bad = rows["bad"]
    assert (bad["consecutive_failures"], bad["failing"], bad["failing_feeds"]) == (3, True, [broken])
    assert bad["current_error"] == f"{broken}: HTTP 404 Not Found" and "HTTP 404" in str(bad["last_error"])
    assert (bad["next_try_ms"], bad["next_try_at"]) == (retry_ms, "2027-01-15T10:30:00Z")
    assert bad["last_success_ms"] is None and bad["articles"] == 0
    assert rows["good"]["failing"] is False and rows["good"]["consecutive_failures"] == 0

    # A run while it rests: not fetched, so no success either; still failing, still backing off.
    update(archive, clock=lambda: T0 + 2 * HOUR + 600)
    bad = health(tmp_path)["bad"]
    assert (bad["consecutive_failures"], bad["last_success_ms"], bad["next_try_ms"]) == (3, None, retry_ms)
    cells = {row[1]: row for row in table_cells((tmp_path / "health.md").read_text(encoding="utf-8"))}
    assert cells["坏 (bad)"][0] == "⚠ 失败 failing"
    assert cells["坏 (bad)"][5] == f"3 × {broken}: HTTP 404 Not Found"
    assert cells["坏 (bad)"][6] == "2027-01-15 18:30"  # Beijing time
    assert cells["好 (good)"][0] == "" and cells["好 (good)"][5] == ""

    # Never dropped: when it is due and the feed is back, the outlet recovers.
    server.add("/broken.xml", rss(item(7)))
    update(archive, clock=lambda: retry_ms / 1000 + 60)
    bad = health(tmp_path)["bad"]
    assert (bad["consecutive_failures"], bad["failing"], bad["next_try_ms"], bad["current_error"], bad["articles"]) == (
        0,
        False,
        None,
        None,
        1,
    )
    assert bad["last_success_ms"] == retry_ms + 60_000


def test_an_outlet_silent_for_long_past_its_usual_gap_is_stale(server: FeedServer, tmp_path: Path) -> None:
    feeds = {slug: server.add(f"/{slug}.xml", rss()) for slug in ("regular", "quiet", "young")}
    archive = make_archive(tmp_path, *(Source(name=slug, slug=slug, feeds=(url,)) for slug, url in feeds.items()))
    for n in range(8):  # eight hourly runs, each bringing one new article of the first two outlets
        for base, slug in ((0, "regular"), (100, "quiet")):
            server.add(f"/{slug}.xml", rss(*(item(base + k) for k in range(n + 1))))
        if n == 0:
            server.add("/young.xml", rss(item(200)))  # one run of history, then nothing
        update(archive, clock=lambda n=n: T0 + n * HOUR)
    rows = health(tmp_path)
    assert [rows[slug]["usual_gap_ms"] for slug in ("regular", "quiet", "young")] == [HOUR * 1000, HOUR * 1000, None]
    assert not any(row["stale"] for row in rows.values())

    # 20 hours on: the regular outlet brought something new, the quiet one nothing since (more than 12 h,
    # and more than 3 usual gaps); the young one has too little history to say.
    server.add("/regular.xml", rss(*(item(k) for k in range(9))))
    update(archive, clock=lambda: T0 + 27 * HOUR)
    rows = health(tmp_path)
    assert (rows["regular"]["stale"], rows["quiet"]["stale"], rows["young"]["stale"]) == (False, True, False)
    assert rows["quiet"]["last_new_ms"] == (T0 + 7 * HOUR) * 1000 and rows["quiet"]["failing"] is False
    cells = {row[1]: row[0] for row in table_cells((tmp_path / "health.md").read_text(encoding="utf-8"))}
    assert cells == {"新闻源 Outlet": "状态 Status", "regular (regular)": "", "quiet (quiet)": "⚠ 停更 stale", "young (young)": ""}

    # Not stale before 12 hours of silence, however regular the outlet was.
    assert not source_health(archive, int((T0 + 7 * HOUR + 11 * HOUR) * 1000))[1].stale


def test_health_md_is_a_valid_table_whatever_the_error_says(tmp_path: Path) -> None:
    odd = str(tmp_path / "no|such\nfeed `x` *y* <b>z</b> [l](m) &amp; ~s~ \\.xml")  # a local feed that is not there
    archive = make_archive(tmp_path / "archive", Source(name="奇怪", slug="odd", feeds=(odd,)))
    update(archive, clock=lambda: T0)
    markdown = (tmp_path / "archive" / "health.md").read_text(encoding="utf-8")
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 3  # heading, delimiter, one outlet: the line break did not end the row
    cells = table_cells(markdown)
    assert [len(row) for row in cells] == [len(HEALTH_COLUMNS)] * 2
    shown = cells[1][5]
    assert shown.startswith("1 × ") and "no|such feed `x` *y* <b>z</b> [l](m) &amp; ~s~ \\.xml" in shown
    assert ": cannot read " in shown
    error = health(tmp_path / "archive")["odd"]["current_error"]
    assert isinstance(error, str) and "\n" in error  # the file keeps the error as it was


def test_markdown_cell_escapes_what_markdown_would_interpret() -> None:
    text = "a|b\nc `d` *e* _f_ [g](h) <i> &lt; ~j~ \\k"
    markdown = f"| x |\n| --- |\n| {markdown_cell(text)} |\n"
    assert table_cells(markdown)[1] == ["a|b c `d` *e* _f_ [g](h) <i> &lt; ~j~ \\k"]


def test_long_errors_are_cut_in_health_md_but_kept_whole_in_health_json(tmp_path: Path) -> None:
    long_path = str(tmp_path / ("长" * 300 + ".xml"))
    archive = make_archive(tmp_path / "archive", Source(name="长", slug="long", feeds=(long_path,)))
    update(archive, clock=lambda: T0)
    shown = table_cells((tmp_path / "archive" / "health.md").read_text(encoding="utf-8"))[1][5]
    assert len(shown) <= 170 and shown.endswith("…")
    assert long_path in str(health(tmp_path / "archive")["long"]["current_error"])


def test_health_files_that_cannot_be_written_never_fail_a_run(server: FeedServer, tmp_path: Path) -> None:
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(server.add("/a.xml", rss(item(1))),)))
    (tmp_path / "health.json").mkdir()  # cannot be replaced by a file
    report = update(archive, clock=lambda: T0)
    assert report.sources[0].new == 1 and report.sources[0].error is None
    assert (tmp_path / "articles" / "a").is_dir()


def test_health_queries_use_the_index(server: FeedServer, tmp_path: Path) -> None:
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=(server.add("/a.xml", rss(item(1), item(2))),)))
    update(archive, clock=lambda: T0)
    statements: list[str] = []
    db = archive.index.db
    db.set_trace_callback(statements.append)
    try:
        source_health(archive, int(T0 * 1000))
    finally:
        db.set_trace_callback(None)
    seen = [s for s in statements if "first_seen_ms" in s]
    assert len(seen) == 2
    for statement in seen:
        plan = " ".join(str(row[3]) for row in db.execute("EXPLAIN QUERY PLAN " + statement))
        assert "COVERING INDEX articles_by_source_seen" in plan and "TEMP B-TREE" not in plan, plan


def test_sources_of_an_archive_that_never_ran_have_no_times(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, Source(name="甲", slug="a", feeds=("http://127.0.0.1:9/a.xml",)))
    rows = source_health(archive, int(T0 * 1000))
    assert [(r.last_success_ms, r.last_new_ms, r.articles_24h, r.stale, r.failing) for r in rows] == [(None, None, 0, False, False)]
