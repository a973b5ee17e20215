"""Errors, never tracebacks (issue 11 §3): every command, run as users run it (a subprocess), against every bad
situation a user can meet (a busy port, a bad host, impossible paths, a file where a folder should be, a read-only
or full disk, a damaged index, search index or article file) says what went wrong and where in one line, with the
documented exit status. And commands that only read never write to the archive, even where they could not."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import FeedServer, item, rss, sources_file

PAGE = 4096  # SQLite's page size in the index


def run(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "newsarchive", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.args[3:]}: exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def template(feeds: FeedServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of two outlets made by the real `update`, its search index up to date."""
    folder = tmp_path_factory.mktemp("template")
    feed = rss(*(item(n, body=f"<p>第{n}条新闻的正文，说到电梯和地铁。</p>") for n in range(1, 13)))
    outlets = {"a": [feeds.add("/a.xml", feed)], "b": [feeds.add("/b.xml", rss(item(20), item(21)))]}
    archive = folder / "archive"
    for args in (("init", archive), ("update", "--archive", archive, "--sources", sources_file(folder, outlets))):
        result = run(*args)
        assert result.returncode == 0, explain(result)
    return archive


@pytest.fixture(scope="module")
def fresh_sources(feeds: FeedServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sources whose articles the template does not have: one small feed, and one over 2 MB (parsed in a worker process)."""
    big = rss(*(item(n, body="<p>" + "很长的正文。" * 400 + "</p>") for n in range(100, 500)))
    assert len(big) > 2_000_000
    outlets = {"fresh": [feeds.add("/fresh.xml", rss(item(40), item(41)))], "big": [feeds.add("/big.xml", big)]}
    return sources_file(tmp_path_factory.mktemp("fresh"), outlets)


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small file system (CI runs as root)")
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()}): needs root with CAP_SYS_ADMIN")


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@contextlib.contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[Path]:
    """``folder`` seen read-only at ``view`` (a read-only bind mount: even root cannot write there)."""
    view.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(folder), str(view))
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until ``leave`` bytes are left (0: until the file system refuses)."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "wb") as filler, contextlib.suppress(OSError):
        filler.write(b"\0" * max(0, free - leave))
        while not leave:
            filler.write(b"\0" * 65536)
            filler.flush()


# The bad situations: each makes what it needs in ``place`` (an empty folder) from the template archive and returns
# what the commands' arguments refer to, as {archive}, {file}, {port}, {feeds} and {search}.
Setup = Callable[[Path, Path, contextlib.ExitStack], dict[str, str]]


def copy(template: Path, place: Path) -> Path:
    archive = place / "archive"
    shutil.copytree(template, archive, symlinks=True)
    return archive


def busy_port(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    listener = stack.enter_context(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return {"archive": str(copy(template, place)), "port": str(listener.getsockname()[1])}


def plain(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    (place / "FILE").write_text("a file, not a folder")
    return {"archive": str(copy(template, place)), "file": str(place / "FILE")}


def file_for_folder(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    archive = copy(template, place)
    (archive / "articles" / "fresh").write_text("a file where the outlet's folder goes")
    return {"archive": str(archive)}


def file_for_hidden_folder(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    archive = copy(template, place)
    shutil.rmtree(archive / ".newsarchive")
    (archive / ".newsarchive").write_text("a file where the index's folder goes")
    return {"archive": str(archive)}


def read_only_disk(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    return {"archive": str(stack.enter_context(read_only_view(copy(template, place), place / "view")))}


def full_disk(template: Path, place: Path, stack: contextlib.ExitStack, leave: int = 0) -> dict[str, str]:
    disk = stack.enter_context(small_disk(place / "disk"))
    archive = copy(template, disk)
    shutil.rmtree(archive / "warc")  # room for what the commands need; the rest of the disk is filled
    source = disk / "duty-machine"
    shutil.copytree(template / "articles", source / "articles")
    fill(disk, leave)
    return {"archive": str(archive), "source": str(source)}


def nearly_full_disk(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    return full_disk(template, place, stack, leave=48 * 1024)


def damaged_index(template: Path, place: Path, stack: contextlib.ExitStack, pages: int = 0) -> dict[str, str]:
    """Pages of index.sqlite overwritten: ``pages`` in the middle, or every page but the first (the schema)."""
    archive = copy(template, place)
    index = archive / ".newsarchive" / "index.sqlite"
    count = index.stat().st_size // PAGE
    with open(index, "r+b") as file:
        for page in range(count // 2, count // 2 + pages) if pages else range(1, count):
            file.seek(page * PAGE)
            file.write(bytes([0xA5]) * PAGE)
    return {"archive": str(archive), "index": str(index)}


def few_damaged_pages(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    return damaged_index(template, place, stack, pages=3)


def damaged_search_index(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    archive = copy(template, place)
    search = archive / ".newsarchive" / "search"
    for part in search.glob("*.store"):
        part.write_bytes(part.read_bytes()[:8] + bytes([0xA5]) * 64)
    return {"archive": str(archive), "search": str(search)}


def truncated_article(template: Path, place: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    """An article file cut short in the middle of a character (as by a full disk or a careless copy)."""
    archive = copy(template, place)
    path = min((archive / "articles" / "a").glob("*.md"))
    data = path.read_bytes()
    path.write_bytes(data[: data.index("正文".encode()) + 1])
    return {"archive": str(archive), "file": str(path), "article": str(path.relative_to(archive))}


@dataclass(frozen=True)
class Case:
    setup: Setup
    args: tuple[str, ...]  # {archive}, {port}, ... filled from what the setup returns
    status: int | tuple[int, ...]
    names: str | None  # a line of the output must name this (filled the same way)


CASES = {
    "serve on a busy port": Case(busy_port, ("serve", "-a", "{archive}", "--port", "{port}"), 2, "127.0.0.1:{port}"),
    "serve on a host that is not an address": Case(busy_port, ("serve", "-a", "{archive}", "--host", "999.1.1.1"), 2, "999.1.1.1"),
    "init in /proc": Case(plain, ("init", "/proc/newsarchive-test"), 2, "/proc/newsarchive-test"),
    "init under a file": Case(plain, ("init", "{file}/sub"), 2, "{file}/sub"),
    "update with a file as archive": Case(plain, ("update", "-a", "{file}"), 2, "{file}"),
    "export to an impossible path": Case(plain, ("export", "-a", "{archive}", "-o", "/proc/none/out.jsonl"), 2, "/proc/none/out.jsonl"),
    "export under a file": Case(plain, ("export", "-a", "{archive}", "-o", "{file}/out.jsonl"), 2, "{file}/out.jsonl"),
    "build-site to an impossible path": Case(plain, ("build-site", "/proc/none", "-a", "{archive}"), (1, 2), "/proc/none"),
    "bundle to an impossible path": Case(plain, ("bundle", "/proc/none/x.zip", "-a", "{archive}"), (1, 2), "/proc/none"),
    "opml export to an impossible path": Case(
        plain, ("opml", "export", "-a", "{archive}", "-o", "/proc/none/x.opml"), (1, 2), "/proc/none"
    ),
    "import from a file": Case(plain, ("import", "{file}", "-a", "{archive}"), 2, "{file}"),
    "update, a file for an outlet's folder": Case(
        file_for_folder, ("update", "-a", "{archive}", "--sources", "{fresh}", "--only", "fresh"), 1, "{archive}/articles/fresh"
    ),
    "update, a file for .newsarchive": Case(
        file_for_hidden_folder, ("update", "-a", "{archive}", "--sources", "{fresh}"), 1, "{archive}/.newsarchive"
    ),
    "search, a file for .newsarchive": Case(file_for_hidden_folder, ("search", "第1条", "-a", "{archive}"), 1, "{archive}/.newsarchive"),
    "update on a read-only disk": Case(read_only_disk, ("update", "-a", "{archive}", "--sources", "{fresh}"), 1, "{archive}/.newsarchive"),
    "remove on a read-only disk": Case(read_only_disk, ("remove", "rfi", "-a", "{archive}"), 1, "{archive}/"),
    "add on a read-only disk": Case(read_only_disk, ("add", "{feed}", "-a", "{archive}"), 1, "{archive}/"),
    "save on a full disk": Case(full_disk, ("save", "{feed}", "-a", "{archive}"), 1, "{archive}/.newsarchive"),
    "reindex on a read-only disk": Case(read_only_disk, ("reindex", "-a", "{archive}"), 1, "{archive}/.newsarchive"),
    "update on a full disk": Case(full_disk, ("update", "-a", "{archive}", "--sources", "{fresh}"), 1, "{archive}/.newsarchive"),
    "update on a nearly full disk": Case(nearly_full_disk, ("update", "-a", "{archive}", "--sources", "{fresh}"), 1, "{archive}/"),
    "import on a full disk": Case(full_disk, ("import", "{source}", "-a", "{archive}"), 1, "{archive}/.newsarchive"),
    "import on a nearly full disk": Case(nearly_full_disk, ("import", "{source}", "-a", "{archive}"), 1, "{archive}/"),
    "reindex on a full disk": Case(full_disk, ("reindex", "-a", "{archive}"), 1, "{archive}/.newsarchive"),
    "search on a full disk": Case(full_disk, ("search", "第1条", "-a", "{archive}"), 0, None),
    "sources on a full disk": Case(full_disk, ("sources", "-a", "{archive}"), 0, None),
    "export on a full disk": Case(full_disk, ("export", "-a", "{archive}"), 0, None),
    "update, damaged index": Case(damaged_index, ("update", "-a", "{archive}", "--sources", "{fresh}"), 1, "{index}"),
    "update, a few damaged pages in the index": Case(
        few_damaged_pages, ("update", "-a", "{archive}", "--sources", "{fresh}"), 1, "{index}"
    ),
    "import, damaged index": Case(damaged_index, ("import", "{archive}", "-a", "{archive}"), 1, "{index}"),
    "search, damaged index": Case(damaged_index, ("search", "第1条", "-a", "{archive}"), 1, "{index}"),
    "sources, damaged index": Case(damaged_index, ("sources", "-a", "{archive}"), 1, "{index}"),
    "history, damaged index": Case(damaged_index, ("history", "a/1048574", "-a", "{archive}"), 1, "{index}"),
    "export, damaged index": Case(damaged_index, ("export", "-a", "{archive}"), 1, "{index}"),
    "takedowns, damaged index": Case(damaged_index, ("takedowns", "-a", "{archive}"), 1, "{index}"),
    "media, damaged index": Case(damaged_index, ("media", "--stats", "-a", "{archive}"), 1, "{index}"),
    "build-site, damaged index": Case(damaged_index, ("build-site", "{archive}/../site", "-a", "{archive}"), 1, "{index}"),
    "check, damaged index": Case(damaged_index, ("check", "-a", "{archive}"), 1, "{index}"),
    "check on a full disk": Case(full_disk, ("check", "-a", "{archive}"), (0, 1), None),
    "reindex, damaged index": Case(damaged_index, ("reindex", "-a", "{archive}"), 0, None),
    # a damaged search index is derived data: one line naming it, or (once it rebuilds itself) hits
    "search, damaged search index": Case(damaged_search_index, ("search", "第1条", "-a", "{archive}"), (0, 1), "{search}"),
    "search, truncated article": Case(truncated_article, ("search", "电梯", "-a", "{archive}"), 0, "{article}"),
    "export, truncated article": Case(truncated_article, ("export", "-a", "{archive}"), 1, "{article}"),
    "history, truncated article": Case(truncated_article, ("history", "{article}", "-a", "{archive}"), 0, "{file}"),
}


@pytest.mark.parametrize("name", CASES)
def test_every_failure_is_one_line_naming_where(name: str, template: Path, fresh_sources: Path, feeds: FeedServer, tmp_path: Path) -> None:
    case = CASES[name]
    with contextlib.ExitStack() as stack:
        values = {"fresh": str(fresh_sources), "feed": feeds.base + "/fresh.xml", **case.setup(template, tmp_path, stack)}
        hits = sum(route.hits for route in feeds.routes.values())
        result = run(*(arg.format(**values) for arg in case.args), timeout=30)
        fetched = sum(route.hits for route in feeds.routes.values()) - hits
    output = result.stdout + result.stderr
    assert "Traceback" not in output, explain(result)
    statuses = case.status if isinstance(case.status, tuple) else (case.status,)
    assert result.returncode in statuses, explain(result)
    if case.names and (result.returncode or name.endswith("truncated article")):
        named = case.names.format(**values)
        assert any(named in line for line in output.splitlines()), f"no line names {named}\n" + explain(result)
    if name.startswith("update, ") and "damaged" in name:
        assert fetched == 0, "the index is checked before any feed is fetched"


def test_debug_shows_the_traceback(template: Path, tmp_path: Path) -> None:
    values = damaged_index(template, tmp_path, contextlib.ExitStack())
    result = run("--debug", "sources", "-a", values["archive"])
    assert result.returncode == 1 and "Traceback" in result.stderr and values["index"] in result.stderr, explain(result)


# Commands that only read never write to the archive --------------------------------------------------------------

READ_ONLY = (
    ("search", "第1条"),
    ("search", "电梯", "--sort", "date", "--json"),
    ("sources", "--json"),
    ("history", "a/1048574"),
    ("export",),
    ("takedowns",),
    ("media", "--stats"),
    ("opml", "export"),
    ("check",),
)


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, modification time and hash (the lock file and the index included)."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def check_read_only_commands(archive: Path, *, search: bool = True) -> None:
    for args in READ_ONLY:
        result = run(*args, "-a", archive)
        if args[0] in ("search", "check") and not search:  # they read the search index
            assert result.returncode == 1 and "read-only file system" in result.stderr.lower(), explain(result)
            assert str(archive / ".newsarchive" / "search") in result.stderr, explain(result)
            continue
        assert result.returncode == 0 and "Traceback" not in result.stderr, explain(result)
        assert not any(line.startswith(("error", "warning")) for line in result.stderr.splitlines()), explain(result)
    command = [sys.executable, "-m", "newsarchive", "serve", "-a", str(archive), "--port", "0"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "300"}) as served:
        try:
            assert served.stderr is not None
            line = served.stderr.readline()
            assert " at http://" in line, line + served.stderr.read()
            address = line.split(" at ")[1].split()[0]
            for page in ("", "outlets/a/index.html", "search.html?q=%E7%AC%AC1%E6%9D%A1" if search else "search.html"):
                with urllib.request.urlopen(address + page, timeout=10) as answer:
                    assert answer.status == 200
        finally:
            served.terminate()  # as a service manager stops it
            assert served.wait(timeout=10) == 0


def test_read_only_commands_write_nothing(template: Path, tmp_path: Path) -> None:
    archive = copy(template, tmp_path)
    time.sleep(0.01)  # a write now would show in modification times
    before = tree(archive)
    check_read_only_commands(archive)
    assert tree(archive) == before


def test_read_only_commands_work_on_a_read_only_file_system(template: Path, tmp_path: Path) -> None:
    """All but search and check, which read the search index, whose library (tantivy) writes a lock file even to
    read: they say so in one line."""
    archive = copy(template, tmp_path)
    with read_only_view(archive, tmp_path / "view") as view:
        check_read_only_commands(view, search=False)
