"""A reader on another machine: ``serve --database URL`` keeps a copy of the archive's files from the outbox in
PostgreSQL and its own search index, and never reads the archive's folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from newsarchive.errors import ArchiveNotFoundError
from newsarchive.store.replica import Replica

from .conftest import FeedServer, rss
from .test_cluster import cli, entry

pytestmark = pytest.mark.usefixtures("pg_cluster")


def write_config(root: Path, url: str | None, feed: str) -> None:
    cluster = f'[cluster]\ndatabase = "{url}"\n\n' if url else ""
    (root / "newsarchive.toml").write_text(
        f'{cluster}[media]\nenabled = false\n\n[[sources]]\nname = "R台"\nslug = "r"\nfeeds = ["{feed}"]\n',
        encoding="utf-8",
    )


class Reader:
    def __init__(self, process: subprocess.Popen[str], address: str) -> None:
        self.process = process
        self.address = address

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.address + path, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def search(self, query: str) -> dict[str, Any]:
        status, body = self.get("api/search?q=" + urllib.parse.quote(query))
        assert status == 200, body
        result: dict[str, Any] = json.loads(body)
        return result


@pytest.fixture
def readers(processes: list[subprocess.Popen[str]]) -> list[subprocess.Popen[str]]:
    return processes


def start_reader(readers: list[subprocess.Popen[str]], url: str, cache: Path, cwd: Path) -> Reader:
    command = [sys.executable, "-m", "newsarchive", "serve", "--database", url, "--cache", str(cache), "--port", "0"]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    readers.append(process)
    assert process.stderr is not None
    said = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        said.append(line)
        if " at http://" in line:
            return Reader(process, line.split(" at ", 1)[1].split()[0])
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"the reader did not start: {''.join(said)}")


def test_a_reader_elsewhere_serves_the_archive_and_follows_its_updates(
    server: FeedServer, tmp_path: Path, pg_url: str, readers: list[subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # --database reads a copy only outside an archive folder
    feed = server.add("/r.xml", rss(entry("r", 1), entry("r", 2)))
    assert cli("init", archive).returncode == 0
    write_config(archive, pg_url, feed)
    updated = cli("update", "-a", archive)
    assert updated.returncode == 0, updated.stderr
    moved = tmp_path / "moved"
    archive.rename(moved)  # the reader cannot read the archive's folder: it is no longer where it was, nor known to it
    cache = elsewhere / "cache"
    reader = start_reader(readers, pg_url, cache, elsewhere)
    status, home = reader.get("")
    assert status == 200 and "r第1条新闻" in home and "R台" in home, home
    found = reader.search("第2条")
    assert found["total"] == 1 and found["hits"][0]["title"] == "r第2条新闻", found
    path = found["hits"][0]["path"]
    status, page = reader.get(path.removesuffix(".md") + ".html")
    assert status == 200 and "r第2条新闻的正文" in page, page
    assert (cache / path).read_bytes() == (moved / path).read_bytes()
    assert not (cache / "warc").exists() and not (cache / ".newsarchive" / "index.sqlite").exists()

    # a second reader on the same copy is refused; one on another copy is welcome
    second = subprocess.run(
        [sys.executable, "-m", "newsarchive", "serve", "--database", pg_url, "--cache", str(cache), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 3 and "locked" in second.stderr, second.stderr

    # the archive's machine updates: the running reader shows and finds the new article within seconds
    edited = {**entry("r", 2), "description": "<![CDATA[<p>r第2条新闻的正文, 改过了。</p>]]>"}
    server.add("/r.xml", rss(entry("r", 1), edited, entry("r", 3)))
    again = cli("update", "-a", moved)
    assert again.returncode == 0, again.stderr
    deadline = time.monotonic() + 15
    while (found := reader.search("第3条"))["total"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found["total"] == 1 and found["hits"][0]["title"] == "r第3条新闻", found
    status, listing = reader.get("outlets/r/")
    assert status == 200 and "r第3条新闻" in listing
    assert reader.search("第1条")["total"] == 1  # indexed once, not again
    assert reader.search("改过了")["total"] == 1  # the edited version is the one searched

    wanted = replicated(moved)
    assert any(path.startswith("revisions/") for path in wanted) and "health.json" in wanted
    deadline = time.monotonic() + 15
    while replicated(cache) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    assert replicated(cache) == wanted  # every file a page is made from, byte for byte; no WARC, no index

    # the commands that read, on this other machine: from a copy of their own, or from the one the reader keeps
    for copy in (elsewhere / "copy", cache):
        where = ("--database", pg_url, "--cache", copy)
        found_here = cli("search", "改过了", "--json", *where)
        assert found_here.returncode == 0 and json.loads(found_here.stdout)["total"] == 1, found_here.stderr
        listed = cli("sources", "--json", *where)
        assert listed.returncode == 0 and '"r"' in listed.stdout, listed.stderr
        history = cli("history", "https://r.invalid/zh/2", *where)
        assert history.returncode == 0 and "改过了" in history.stdout, history.stderr
        exported = cli("export", "--output", elsewhere / "out.jsonl", *where)
        assert exported.returncode == 0, exported.stderr
        assert len((elsewhere / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 4  # 3 articles, one edited once
    assert replicated(elsewhere / "copy") == wanted


def replicated(root: Path) -> dict[str, bytes]:
    tops = ("articles", "revisions", "lists", "takedowns", "media", "README.md", "newsarchive.toml", "health.json", "health.md")
    return {
        file.relative_to(root).as_posix(): file.read_bytes()
        for top in tops
        for file in ([root / top] if (root / top).is_file() else sorted((root / top).rglob("*")))
        if file.is_file()
    }


def test_an_archive_moved_into_a_cluster_is_published_whole_and_a_reindex_starts_readers_over(
    server: FeedServer, tmp_path: Path, pg_url: str
) -> None:
    archive, cache = tmp_path / "archive", tmp_path / "cache"
    feed = server.add("/r.xml", rss(*(entry("r", n) for n in range(1, 6))))
    assert cli("init", archive).returncode == 0
    write_config(archive, None, feed)
    assert cli("update", "-a", archive).returncode == 0  # on one machine: SQLite
    moved = cli("migrate", "--to", pg_url, "-a", archive)
    assert moved.returncode == 0, moved.stderr
    write_config(archive, pg_url, feed)
    with pytest.raises(ArchiveNotFoundError, match="no archive has published"):
        Replica.open(pg_url, cache)
    assert cli("update", "-a", archive).returncode == 0  # nothing new, but the files are published at its start
    with Replica.open(pg_url, cache) as replica:
        assert replica.catch_up() == len(replicated(archive))
        assert replicated(cache) == replicated(archive)
        assert [hit.title for hit in replica.store().search("第4条")] == ["r第4条新闻"]
        assert replica.catch_up() == 0
        rebuilt = cli("reindex", "-a", archive)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert replica.catch_up() == 0  # the new index has published nothing yet: the copy stays as it is
        assert cli("update", "-a", archive).returncode == 0
        assert replica.catch_up() == len(replicated(archive))  # a new epoch: copied again from the start
        assert replicated(cache) == replicated(archive)
        rows = replica.index.outbox_since(0, 10_000)
        assert len(rows) == len({path for _, path, _ in rows}) == len(replicated(archive))  # one row per file, however often written
        assert [hit.title for hit in replica.store().search("第4条")] == ["r第4条新闻"]


@pytest.mark.parametrize(
    ("situation", "status", "says"),
    [
        ("unreachable", 1, "127.0.0.1:9"),
        ("no archive yet", 2, "no archive has published"),
        ("cache is a file", 1, "cache"),
        ("not PostgreSQL", 2, "is not a PostgreSQL address"),
    ],
)
def test_a_reader_that_cannot_start_says_why_in_one_line(
    situation: str, status: int, says: str, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = {
        "unreachable": "postgresql://news:secret@127.0.0.1:9/news",
        "not PostgreSQL": "mysql://news:secret@127.0.0.1/news",
    }.get(situation, pg_url)
    cache = tmp_path / "cache"
    if situation == "cache is a file":
        cache.write_text("not a folder\n", encoding="utf-8")
        cache = cache / "copy"
    ran = cli("serve", "--database", url, "--cache", cache, "--port", "0")
    assert ran.returncode == status and says in ran.stderr, (ran.returncode, ran.stderr)
    assert "Traceback" not in ran.stderr and "secret" not in ran.stderr
