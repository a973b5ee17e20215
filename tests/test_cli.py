"""The command line as users and scripts call it: subprocesses, exit statuses, --json, the lock, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from newsarchive.store.atomic import ArchiveLock
from newsarchive.store.fileformat import parse_article

from .conftest import FeedServer, item, rss, snapshot, sources_file


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "newsarchive", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_init_update_json_and_exit_statuses(server: FeedServer, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    result = run("init", archive)
    assert result.returncode == 0, explain(result)
    assert "[[sources]]" in (archive / "newsarchive.toml").read_text()
    good = server.add("/good.xml", rss(item(1), item(2)))
    bad = server.add("/bad.xml", "no", status=500)
    sources = sources_file(tmp_path, {"good": [good], "bad": [bad]})
    result = run("update", "--archive", archive, "--sources", sources, "--json")
    assert result.returncode == 1, explain(result)
    data = json.loads(result.stdout)
    by_slug = {s["slug"]: s for s in data["sources"]}
    assert {k: by_slug["good"][k] for k in ("new", "updated", "unchanged", "error")} == {
        "new": 2,
        "updated": 0,
        "unchanged": 0,
        "error": None,
    }
    assert "HTTP 500" in by_slug["bad"]["error"] and bad in by_slug["bad"]["error"]
    result = run("update", "--archive", archive, "--sources", sources, "--only", "good")
    assert result.returncode == 0, explain(result)
    assert "unchanged" in result.stderr and result.stdout == ""


def test_archive_is_found_from_a_folder_inside_it(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", rss(item(1)))]})
    (tmp_path / "articles" / "deep").mkdir(parents=True)
    result = run("update", "--sources", sources, cwd=tmp_path / "articles" / "deep")
    assert result.returncode == 0, explain(result)
    assert (tmp_path / "articles/a/1048574.md").exists()


def test_usage_errors_exit_2_with_one_line_saying_what_to_fix(tmp_path: Path) -> None:
    run("init", tmp_path)
    cases = {
        ("update", "--archive", tmp_path, "--sources", tmp_path / "missing.toml"): "missing.toml: no such file",
        ("update", "--archive", tmp_path, "--only", "nope"): "--only nope: no such outlet",
        ("update", "--archive", tmp_path / "nowhere"): "is not an archive",
        ("update", "--archive", tmp_path, "--bogus"): "No such option",
    }
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[[sources]]\nname = \n")
    cases[("update", "--archive", tmp_path, "--sources", bad_toml)] = "bad.toml: not valid TOML"
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[sources]]\nname = "x"\nslug = "x"\nfeed = "typo"\n')
    cases[("update", "--archive", tmp_path, "--sources", unknown)] = "unknown key 'feed'"
    for args, message in cases.items():
        result = run(*args)
        assert result.returncode == 2, explain(result)
        assert message in result.stderr, explain(result)
        assert "Traceback" not in result.stderr


def test_outside_any_archive_says_how_to_make_one(tmp_path: Path) -> None:
    result = run("update", cwd=tmp_path)
    assert result.returncode == 2 and "newsarchive init" in result.stderr, explain(result)


def test_a_second_run_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    run("init", tmp_path)
    with ArchiveLock(tmp_path / ".newsarchive" / "lock"):
        result = run("update", "--archive", tmp_path, "--only", "rfi")
    assert result.returncode == 3, explain(result)  # its own status: not "some outlets failed"
    assert "locked" in result.stderr and str(os.getpid()) in result.stderr


def test_killed_run_leaves_a_valid_archive_that_the_next_run_completes(server: FeedServer, tmp_path: Path) -> None:
    count = 1500
    big = rss(*(item(n, body=f"<p>{'正文' * 200}{n}</p>") for n in range(count)))
    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", big)], "b": [server.add("/b.xml", big)]})
    archive = tmp_path / "archive"
    run("init", archive)
    command = [sys.executable, "-m", "newsarchive", "update", "--archive", str(archive), "--sources", str(sources)]
    killed_mid_write = False
    for delay in (0.0, 0.05, 0.1, 0.2, 0.4):
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        folder = archive / "articles"
        while time.monotonic() < deadline and child.poll() is None:
            if any(folder.rglob("*.newsarchive-tmp")) or any(folder.rglob("*.md")):
                break
            time.sleep(0.002)
        time.sleep(delay)
        if child.poll() is None:
            killed_mid_write = True
            child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        # Valid at every moment: whatever is visible parses.
        for path in folder.rglob("*.md"):
            parse_article(path.read_text(encoding="utf-8"), path)
    assert killed_mid_write, "every run finished before it could be killed; the test proves nothing"
    result = run("update", "--archive", archive, "--sources", sources, "--json")
    assert result.returncode == 0, explain(result)
    for slug in ("a", "b"):
        files = sorted((archive / "articles" / slug).glob("*.md"))
        assert len(files) == count, slug
        links = {parse_article(p.read_text()).link for p in files}
        assert len(links) == count
    assert not list(archive.rglob("*.newsarchive-tmp"))
    before = snapshot(archive)
    result = run("update", "--archive", archive, "--sources", sources, "--json")
    assert all(s["new"] == 0 and s["updated"] == 0 for s in json.loads(result.stdout)["sources"])
    assert snapshot(archive) == before


def test_sources_shows_health(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    bad = server.add("/bad.xml", "no", status=503)
    sources = sources_file(tmp_path, {"bad": [bad]})
    run("update", "--archive", tmp_path, "--sources", sources)
    config = tmp_path / "newsarchive.toml"
    config.write_text(config.read_text() + f'\n[[sources]]\nname = "坏"\nslug = "bad"\nfeeds = ["{bad}"]\n')
    result = run("sources", "--archive", tmp_path, "--json")
    assert result.returncode == 0, explain(result)
    rows = {row["slug"]: row for row in json.loads(result.stdout)["sources"]}
    assert rows["bad"]["consecutive_failures"] == 1 and "HTTP 503" in rows["bad"]["last_error"]
    assert rows["rfi"]["articles"] == 0 and rows["reuters"]["enabled"] is False
    table = run("sources", "--archive", tmp_path)
    assert "bad" in table.stderr and "HTTP 503" in table.stderr


def test_demo_works_without_network(tmp_path: Path) -> None:
    result = run("demo", tmp_path / "demo")
    assert result.returncode == 0, explain(result)
    lists = sorted(p.name for p in (tmp_path / "demo" / "lists").iterdir())
    assert lists == sorted(["法广.md", "德国之声.md", "BBC.md", "中国数字时代.md"])
    assert len(list((tmp_path / "demo" / "articles").rglob("*.md"))) >= 15


def test_relative_feed_paths_are_relative_to_the_sources_file(tmp_path: Path) -> None:
    run("init", tmp_path / "archive")
    folder = tmp_path / "feeds"
    folder.mkdir()
    (folder / "local.xml").write_bytes(rss(item(1), item(2)))
    (folder / "sources.toml").write_text('[[sources]]\nname = "本地"\nslug = "local"\nfeeds = ["local.xml"]\n', encoding="utf-8")
    result = run("update", "--archive", tmp_path / "archive", "--sources", folder / "sources.toml", "--json", cwd=tmp_path / "archive")
    assert result.returncode == 0, explain(result)
    assert json.loads(result.stdout)["sources"][0]["new"] == 2


def test_proxy_option(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    server.add("http://feeds.example.invalid/a.xml", rss(item(1)))  # only reachable through the "proxy"
    sources = sources_file(tmp_path, {"a": ["http://feeds.example.invalid/a.xml"]})
    result = run("update", "--archive", tmp_path, "--sources", sources, "--proxy", server.base, "--json")
    assert result.returncode == 0, explain(result)
    assert json.loads(result.stdout)["sources"][0]["new"] == 1
    result = run("update", "--archive", tmp_path, "--sources", sources, "--proxy", "ftp://proxy.example.invalid")
    assert result.returncode == 2 and "is not a proxy address" in result.stderr, explain(result)


def test_search_after_update_and_after_reindex(server: FeedServer, tmp_path: Path) -> None:
    run("init", tmp_path)
    feed = rss(
        item(1, title="王毅訪問中亞", body="<p>「一帶一路」倡議十週年。</p>"),
        item(2, title="上海疫情", body="<p>新冠疫情在上海蔓延。</p>", day=3),
    )
    sources = sources_file(tmp_path, {"a": [server.add("/a.xml", feed)]})
    run("update", "--archive", tmp_path, "--sources", sources)
    result = run("search", "一带一路", "--archive", tmp_path, "--json")
    assert result.returncode == 0, explain(result)
    hits = json.loads(result.stdout)["hits"]
    assert [hit["title"] for hit in hits] == ["王毅訪問中亞"] and "【一帶一路】" in hits[0]["snippet"]
    result = run("search", "疫", "--archive", tmp_path, "--since", "2026-06-02")
    assert result.returncode == 0 and "上海疫情" in result.stdout, explain(result)
    assert run("search", "疫", "--archive", tmp_path, "--until", "2026-06-02", "--json").stdout.count('"path"') == 0
    run("reindex", "--archive", tmp_path)
    result = run("search", "王毅", "--archive", tmp_path, "--json")
    assert len(json.loads(result.stdout)["hits"]) == 1, explain(result)
    result = run("search", "，。", "--archive", tmp_path)
    assert result.returncode == 2 and "nothing to search for" in result.stderr, explain(result)
