"""Status and conventions (issue 11, sections 2 and 5): exit statuses that tell the truth, one time zone, the
API's paths, feed addresses checked when the configuration loads, output off a terminal, --json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main
from rich.cells import cell_len

from newsarchive import Archive, ConfigError, Source, load_settings
from newsarchive.cli import app
from newsarchive.store.atomic import ArchiveLock

from .conftest import FeedServer, item, rss, sources_file
from .test_cli import explain, run


def test_an_outlet_backing_off_after_failures_fails_the_run_until_it_succeeds(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    broken = server.add("/broken.xml", "gone", status=404)
    sources = sources_file(tmp_path, {"bad": [broken], "good": [server.add("/good.xml", rss(item(1)))]})
    for _ in range(2):  # fetched and failed: exit 1
        assert run("update", "--archive", tmp_path, "--sources", sources).returncode == 1
    hits = server.routes["/broken.xml"].hits
    third = run("update", "--archive", tmp_path, "--sources", sources, "--json")  # backing off: not fetched, still failed
    assert third.returncode == 1, explain(third)
    assert server.routes["/broken.xml"].hits == hits
    bad = {row["slug"]: row for row in json.loads(third.stdout)["sources"]}["bad"]
    assert f"{broken}: HTTP 404 Not Found" in bad["error"] and "2 failures in a row; tried again after" in bad["error"]
    assert bad["error"].endswith(" Beijing time)"), bad["error"]  # one time zone in all human output, named
    table = run("update", "--archive", tmp_path, "--sources", sources)
    assert table.returncode == 1 and "tried again after" in table.stderr and "UTC" not in table.stderr, explain(table)
    server.add("/broken.xml", rss(item(2)))
    back = run("update", "--archive", tmp_path, "--sources", sources, "--only", "bad")  # tried now, and back
    assert back.returncode == 0, explain(back)


def test_exit_statuses_say_what_happened(tmp_path: Path) -> None:
    run("init", tmp_path)
    with ArchiveLock(tmp_path / ".newsarchive" / "lock"):
        locked = run("update", "--archive", tmp_path, "--only", "rfi")
    assert locked.returncode == 3 and "locked" in locked.stderr, explain(locked)
    for query in ("", "  ", "，。"):
        result = run("search", query, "--archive", tmp_path)
        assert result.returncode == 2 and "nothing to search for" in result.stderr, explain(result)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    commands = readme.split("\n## Commands\n", 1)[1].split("\n### ", 1)[0]
    for status in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert status in commands, f"the README's Commands section has no row {status}"


def test_import_and_reindex_report_the_whole_run_search_indexing_included(tmp_path: Path) -> None:
    source = tmp_path / "old"
    for n in range(200):
        path = source / "articles" / "rfi" / f"{1048574 - n}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<!--{1600000000000 + n}-->\n[标题{n}](https://www.rfi.fr/cn/{n})\n------\n\n<p>正文{n}</p>\n", encoding="utf-8")
    with Archive.init(tmp_path / "archive") as archive:
        for call in (lambda: archive.import_from(source), archive.reindex):
            started = time.monotonic()
            report = call()
            took = time.monotonic() - started
            assert report.seconds >= 0.9 * took, (report.seconds, took)  # before, search indexing (most of it) was left out


class PathLike:
    """A path-like object that is neither str nor pathlib.Path."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __fspath__(self) -> str:
        return self.path


def test_every_path_argument_of_the_api_takes_str_and_path_like(server: FeedServer, tmp_path: Path) -> None:
    url = server.add("/a.xml", rss(item(1)))
    os.chdir(tmp_path)  # the README's example: relative names as str
    Archive.init("my-archive").close()
    with Archive.open("my-archive") as archive:
        assert archive.root == tmp_path / "my-archive"
    sources = sources_file(tmp_path, {"a": [url]})
    with Archive.open(PathLike(tmp_path / "my-archive"), sources_file=str(sources)) as archive:
        assert archive.update().new == 1
        assert archive.read("articles/a/1048574.md").title == "第1条新闻标题"
        assert archive.read(PathLike(Path("articles/a/1048574.md"))).title == "第1条新闻标题"
        assert len(archive.history(PathLike(Path("articles/a/1048574.md"))).versions) == 1
        assert archive.build_site(str(tmp_path / "site")).written > 0
        assert archive.bundle(PathLike(tmp_path / "b.zip")).articles == 1
        assert archive.import_from(str(tmp_path / "my-archive")).files == 1
    Archive.init(PathLike(tmp_path / "other")).close()
    assert load_settings(str(tmp_path / "other"), sources_file=PathLike(sources)).sources[0].slug == "a"


@pytest.mark.parametrize(
    ("feed", "says"),
    [
        ("ftp://feeds.example.invalid/a.xml", "ftp:"),
        ("javascript:alert(1)", "javascript:"),
        ("http//feeds.example.invalid/a.xml", "lacks the ':'"),
        ("https:/feeds.example.invalid/a.xml", "https:// address"),
        ("http://", "http:// address"),
        ("//feeds.example.invalid/a.xml", "no scheme"),
        ("mailto:news@example.invalid", "mailto:"),
    ],
)
def test_feed_addresses_are_checked_when_the_configuration_loads(tmp_path: Path, feed: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Source(name="坏", slug="bad", feeds=(feed,))
    assert says in str(raised.value) and "source 'bad'" in str(raised.value)
    sources = sources_file(tmp_path, {"bad": [feed]})
    with pytest.raises(ConfigError) as raised:  # before a relative path is resolved, which would hide http//…
        load_settings(tmp_path, sources_file=sources)
    assert str(raised.value).startswith(f"{sources}: source 'bad': feed {feed!r}") and says in str(raised.value)


def test_a_bad_feed_address_is_a_configuration_error_naming_its_source(tmp_path: Path) -> None:
    run("init", tmp_path)
    sources = sources_file(tmp_path, {"bad": ["javascript:alert(1)"]})
    result = run("update", "--archive", tmp_path, "--sources", sources)
    assert result.returncode == 2 and f"{sources}: source 'bad': feed 'javascript:alert(1)'" in result.stderr, explain(result)
    config = tmp_path / "newsarchive.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[sources]]\nname = "坏"\nslug = "bad"\nfeeds = ["http//x.invalid/a"]\n')
    result = run("update", "--archive", tmp_path)
    assert result.returncode == 2 and f"{config}: source 'bad': feed 'http//x.invalid/a'" in result.stderr, explain(result)
    assert "Traceback" not in result.stderr


def test_local_feeds_stay_allowed(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(rss(item(1)))
    feeds = ("a.xml", str(tmp_path / "a.xml"), (tmp_path / "a.xml").as_uri(), "~/feeds/a.xml", "http://127.0.0.1:8/a.xml")
    assert Source(name="本地", slug="local", feeds=feeds).feeds == feeds


def test_a_bad_option_is_blamed_not_the_configuration(tmp_path: Path) -> None:
    run("init", tmp_path)
    result = run("update", "--archive", tmp_path, "--proxy", "ftp://proxy.example.invalid")
    assert result.returncode == 2, explain(result)
    assert "--proxy 'ftp://proxy.example.invalid' is not a proxy address" in result.stderr, explain(result)
    assert "newsarchive.toml" not in result.stderr, explain(result)
    with pytest.raises(ConfigError, match="NEWSARCHIVE_PROXY"):
        load_settings(tmp_path, env={"NEWSARCHIVE_PROXY": "ftp://x"})
    (tmp_path / "newsarchive.toml").write_text('[fetch]\nproxy = "ftp://x"\n')
    with pytest.raises(ConfigError, match=r"newsarchive.toml: fetch.proxy 'ftp://x' is not a proxy address"):
        load_settings(tmp_path)


def test_help_usage_and_summaries_follow_conventions() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    top = subprocess.run([sys.executable, "-m", "newsarchive", "-h"], capture_output=True, text=True, env=env, timeout=60)
    assert top.returncode == 0 and "--quiet" in top.stdout, top.stderr
    listed = top.stdout.split("Commands:", 1)[1]
    assert "..." not in listed  # no summary cut short
    group = typer.main.get_command(app)
    top_level = group.commands  # type: ignore[attr-defined]
    for listing, commands in ((listed, top_level), (None, top_level["opml"].commands)):
        for name, command in commands.items():
            summary = command.get_short_help_str(40)
            assert summary.endswith(".") and summary[0].isupper() and " " in summary and "..." not in summary, name
            assert listing is None or " ".join(summary.split()[:3]) in " ".join(listing.split()), name
    for command, usage in (
        ("init", "DIR"),
        ("search", "QUERY"),
        ("import", "SRC"),
        ("build-site", "OUT"),
        ("demo", "[DIR]"),
        ("opml import", "FILE"),
    ):
        result = subprocess.run([sys.executable, "-m", "newsarchive", *command.split(), "-h"], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Usage: newsarchive {command} [OPTIONS] {usage}\n"), result.stdout
        assert "{" not in result.stdout.splitlines()[0]


def test_off_a_terminal_lines_are_whole_and_each_outlet_is_reported_once(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    long_path = "/" + "a-very-long-feed-path-" * 6 + ".xml"
    bad = server.add(long_path, "gone", status=404)
    sources = sources_file(tmp_path, {"good": [server.add("/good.xml", rss(item(1)))], "bad": [bad]})
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    command = [sys.executable, "-m", "newsarchive", "update", "--archive", str(tmp_path), "--sources", str(sources)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1, explain(result)
    assert f"{bad}: HTTP 404 Not Found" in result.stderr, explain(result)  # one whole line, however wide
    assert result.stderr.count("(good)") == 1 and result.stderr.count("(bad)") == 1 and "good:" not in result.stderr, explain(result)
    # --quiet: only what failed, one line; nothing at all when all went well
    quiet = subprocess.run([*command[:3], "--quiet", *command[3:]], capture_output=True, text=True, env=env, timeout=60)
    assert quiet.returncode == 1 and quiet.stdout == "", explain(quiet)
    assert quiet.stderr.splitlines() == [f"failed: bad: {bad}: HTTP 404 Not Found"], explain(quiet)
    quiet = subprocess.run([*command[:3], "-q", *command[3:], "--only", "good"], capture_output=True, text=True, env=env, timeout=60)
    assert quiet.returncode == 0 and quiet.stderr == "", explain(quiet)


def test_sources_reads_at_any_width(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    bad = server.add("/bad.xml", "gone", status=404)
    config = tmp_path / "newsarchive.toml"
    config.write_text(config.read_text(encoding="utf-8") + f'\n[[sources]]\nname = "坏的新闻源"\nslug = "bad"\nfeeds = ["{bad}"]\n')
    run("update", "--archive", tmp_path, "--only", "bad")
    for width in (60, 100, 400):  # on a terminal of that width (a pseudo-terminal)
        shown = re.sub(r"\x1b\[[0-9;]*m", "", on_terminal(["sources", "--archive", str(tmp_path)], width))
        lines = [line.rstrip() for line in shown.splitlines()]
        assert all(cell_len(line) <= width for line in lines), shown
        assert "…" not in shown and "坏的新闻源 (bad)" in shown and "自由亚洲电台 (rfa)" in shown, shown
        assert f"{bad}: HTTP 404 Not Found" in " ".join(line.strip() for line in lines), shown


def on_terminal(args: list[str], width: int) -> str:
    """What a command shows on a terminal of ``width`` columns (a pseudo-terminal; colours off)."""
    import pty

    controller, terminal = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": str(width), "TERM": "xterm"}
    child = subprocess.Popen(
        [sys.executable, "-m", "newsarchive", *args], stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert child.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_json_times_are_milliseconds_and_search_hits_carry_link_score_and_total(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    feed = rss(*(item(n, title=f"上海新闻{n}") for n in range(1, 6)))
    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", feed)]})
    run("update", "--archive", tmp_path, "--sources", sources)
    result = run("search", "上海", "--archive", tmp_path, "--limit", "2", "--json")
    assert result.returncode == 0, explain(result)
    found = json.loads(result.stdout)
    assert found["total"] == 5 and len(found["hits"]) == 2
    for hit in found["hits"]:
        assert hit["link"].startswith("https://news.example.org/zh/") and isinstance(hit["score"], float)
        assert hit["published_at"].endswith("Z")
    text = run("search", "上海", "--archive", tmp_path, "--limit", "2")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d\+08:00  a  上海新闻", text.stdout), explain(text)  # the zone named
    history = json.loads(run("history", found["hits"][0]["path"], "--archive", tmp_path, "--json").stdout)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", history["versions"][0]["seen_at"]), history  # as every _at field

    def decimals(data: object) -> list[int]:
        if isinstance(data, float):
            return [len(repr(data).split(".")[1])]
        if isinstance(data, dict):
            return [n for value in data.values() for n in decimals(value)]
        if isinstance(data, list):
            return [n for value in data for n in decimals(value)]
        return []

    for args in (("reindex",), ("import", tmp_path), ("build-site", tmp_path / "site"), ("bundle", tmp_path / "b.zip")):
        result = run(*args, "--archive", tmp_path, "--json")
        assert result.returncode == 0, explain(result)
        data = json.loads(result.stdout)
        assert "seconds" in data and max(decimals(data)) <= 3, (args, data)
