"""Several machines sharing an archive's work through PostgreSQL: the queue's leases, politeness and single writer,
and real workers (``newsarchive worker`` processes) reading an update's feeds, one of them killed mid-lease."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from newsarchive.archive import Archive
from newsarchive.config import ClusterConfig, FetchConfig, MediaConfig, RecheckConfig, Settings
from newsarchive.errors import ArchiveLockedError
from newsarchive.index.queue import JobQueue
from newsarchive.sources import Source
from newsarchive.store.fileformat import parse_article

from .conftest import FeedServer, rss

FETCH = FetchConfig(connect_timeout=2, read_timeout=10, total_timeout=20, retries=0, per_host=6)


def entry(outlet: str, n: int) -> dict[str, str]:
    link = f"https://{outlet}.invalid/zh/{n}"
    return {
        "title": f"{outlet}第{n}条新闻",
        "link": link,
        "guid": link,
        "pubDate": f"Mon, 01 Jun 2026 {n % 24:02d}:{n % 60:02d}:00 GMT",
        "description": f"<![CDATA[<p>{outlet}第{n}条新闻的正文。</p>]]>",
    }


async def _queue(url: str) -> JobQueue:
    return await JobQueue.connect(url)


def test_jobs_are_leased_politely_and_each_result_is_taken_once(pg_url: str) -> None:
    async def scenario() -> None:
        writer, worker, second = await _queue(pg_url), await _queue(pg_url), await _queue(pg_url)
        try:
            await writer.hold_writer_lock()
            with pytest.raises(ArchiveLockedError, match="another archive's writer"):
                await second.hold_writer_lock()
            round_ = await writer.start_round()
            first = await writer.enqueue(round_, "feed", "a.invalid", 1, {"n": 1})
            await writer.enqueue(round_, "feed", "a.invalid", 1, {"n": 2})
            third = await writer.enqueue(round_, "feed", "b.invalid", 1, {"n": 3})
            one = await worker.claim("w1", 30, 3)
            two = await worker.claim("w2", 30, 3)
            assert one is not None and one.id == first
            assert two is not None and two.id == third  # a.invalid has its one job out: politeness holds across workers
            assert await worker.claim("w3", 30, 3) is None
            assert await worker.complete(one, "w1", {"answer": 1})
            assert not await worker.complete(one, "w1", {"answer": 2})  # handed back once
            taken = await writer.take_finished(round_)
            assert [(f.id, f.ok, f.result) for f in taken] == [(first, True, {"answer": 1})]
            assert await writer.take_finished(round_) == []
            after = await worker.claim("w3", 30, 3)
            assert after is not None and after.payload == {"n": 2}  # a.invalid's place is free again
        finally:
            for queue in (writer, worker, second):
                await queue.close()

    asyncio.run(scenario())


def test_a_lease_that_runs_out_goes_to_another_worker_and_the_first_cannot_hand_back(pg_url: str) -> None:
    async def scenario() -> None:
        writer, worker = await _queue(pg_url), await _queue(pg_url)
        try:
            round_ = await writer.start_round()
            job = await writer.enqueue(round_, "feed", "a.invalid", 1, {"n": 1})
            lost = await worker.claim("dead", 0.3, 2)
            assert lost is not None and await worker.claim("other", 0.3, 2) is None
            await asyncio.sleep(0.5)
            again = await worker.claim("other", 0.3, 2)
            assert again is not None and again.id == job and again.attempts == 2 and again.token != lost.token
            assert not await worker.complete(lost, "dead", {"late": True})
            await asyncio.sleep(0.5)  # the second lease runs out too: two attempts, and the job fails
            await writer.fail_abandoned(2)
            (failed,) = await writer.take_finished(round_)
            assert not failed.ok and failed.error is not None and "2 workers took it" in failed.error
        finally:
            await writer.close()
            await worker.close()

    asyncio.run(scenario())


def test_a_database_that_cannot_be_reached_is_one_line_without_the_password() -> None:
    with pytest.raises(Exception) as raised:
        asyncio.run(_queue("postgresql://news:secret@127.0.0.1:9/news"))
    assert "secret" not in str(raised.value) and "127.0.0.1:9" in str(raised.value) and "cannot connect" in str(raised.value)


@pytest.fixture
def workers(processes: list[subprocess.Popen[bytes]]) -> list[subprocess.Popen[bytes]]:
    return processes


def start_worker(pg_url: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "newsarchive", "worker", "--database", pg_url, "--lease", "2", "--concurrency", "2"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())


def test_workers_share_an_update_and_one_killed_mid_lease_loses_nothing(
    server: FeedServer, tmp_path: Path, pg_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    outlets = [f"o{n}" for n in range(6)]
    feeds = {
        slug: [server.add(f"/{slug}/{k}.xml", rss(*(entry(slug, n) for n in range(k * 10, k * 10 + 10)))) for k in (0, 1)]
        for slug in outlets
    }
    slow = server.add("/o0/slow.xml", rss(*(entry("o0", n) for n in range(100, 105))), delay=3)
    feeds["o0"].append(slow)
    sources = tuple(Source(name=slug.upper(), slug=slug, feeds=tuple(feeds[slug])) for slug in outlets)
    settings = Settings(
        sources=sources,
        fetch=FETCH,
        cluster=ClusterConfig(database=pg_url),
        media=MediaConfig(enabled=False),
        recheck=RecheckConfig(per_run=0),
    )
    Archive.init(tmp_path).close()
    workers.extend(start_worker(pg_url) for _ in range(3))

    async def alive() -> list[str]:
        queue = await _queue(pg_url)
        try:
            deadline = time.monotonic() + 30
            while len(seen := await queue.workers_seen(10)) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return seen
        finally:
            await queue.close()

    assert len(asyncio.run(alive())) == 3, b"".join(p.stderr.read() if p.stderr and p.poll() is not None else b"" for p in workers)
    killed: list[str] = []

    def kill_the_slow_feeds_worker() -> None:
        """When a worker has claimed the slow feed (its server is answering it), kill that worker."""

        async def find() -> str | None:
            queue = await _queue(pg_url)
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    rows = await queue._call("SELECT worker FROM jobs WHERE payload->>'url' = %s AND state = 'leased'", (slow,))
                    if rows and server.routes["/o0/slow.xml"].hits:
                        return str(rows[0][0])
                    await asyncio.sleep(0.05)
                return None
            finally:
                await queue.close()

        holder = asyncio.run(find())
        if holder is not None:
            os.kill(int(holder.rsplit(":", 1)[1]), signal.SIGKILL)
            killed.append(holder)

    killer = threading.Thread(target=kill_the_slow_feeds_worker)
    killer.start()
    with Archive.open(tmp_path, settings=settings) as archive:
        report = archive.update()
    killer.join()
    assert killed, "no worker held the slow feed"
    assert sum(p.poll() is not None for p in workers) == 1
    assert not report.failed, [s.error for s in report.failed]
    assert {s.slug: s.new for s in report.sources} == {slug: 25 if slug == "o0" else 20 for slug in outlets}
    assert server.routes["/o0/slow.xml"].hits == 2  # taken again by another worker after the lease ran out
    files = sorted((tmp_path / "articles").rglob("*.md"))
    assert len(files) == 125  # every article once
    titles = {parse_article(file.read_text(encoding="utf-8"), file).title for file in files}
    assert len(titles) == 125

    async def who() -> set[str]:
        queue = await _queue(pg_url)
        try:
            return {str(name) for (name,) in await queue._call("SELECT DISTINCT worker FROM jobs WHERE state = 'done'")}
        finally:
            await queue.close()

    assert len(who_did := asyncio.run(who())) >= 2 and not any("(writer)" in name for name in who_did)
    with Archive.open(tmp_path, settings=settings) as archive:
        again = archive.update()
    assert again.new == 0 and not again.failed and len(list((tmp_path / "articles").rglob("*.md"))) == 125


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    command = [sys.executable, "-m", "newsarchive", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60, check=False)


@pytest.mark.parametrize(
    ("args", "env", "status", "says"),
    [
        (("worker",), {}, 2, "give the cluster's database"),
        (("worker", "--database", "mysql://news@127.0.0.1/news"), {}, 2, "is not a PostgreSQL address"),
        (("worker",), {"NEWSARCHIVE_DATABASE": "postgresql://news:secret@127.0.0.1:9/news"}, 1, "127.0.0.1:9"),
        (("worker", "--database", "postgresql://news:secret@127.0.0.1:9/news", "--concurrency", "0"), {}, 2, "--concurrency"),
    ],
)
def test_a_worker_that_cannot_start_says_why_in_one_line(args: tuple[str, ...], env: dict[str, str], status: int, says: str) -> None:
    ran = cli(*args, env=env)
    assert ran.returncode == status and says in ran.stderr, (ran.returncode, ran.stderr)
    assert "Traceback" not in ran.stderr and "secret" not in ran.stderr


def test_an_update_refuses_a_database_another_writer_holds_and_one_it_cannot_reach(server: FeedServer, tmp_path: Path, pg_url: str) -> None:
    feed = server.add("/a.xml", rss(entry("a", 1)))
    Archive.init(tmp_path).close()
    (tmp_path / "newsarchive.toml").write_text(
        f'[cluster]\ndatabase = "{pg_url}"\n\n[[sources]]\nname = "A"\nslug = "a"\nfeeds = ["{feed}"]\n', encoding="utf-8"
    )

    async def held() -> subprocess.CompletedProcess[str]:
        writer = await _queue(pg_url)
        try:
            await writer.hold_writer_lock()
            return await asyncio.to_thread(cli, "update", "-a", tmp_path)
        finally:
            await writer.close()

    refused = asyncio.run(held())
    assert refused.returncode == 3 and "another archive's writer" in refused.stderr, refused.stderr
    assert not list((tmp_path / "articles").rglob("*.md"))
    unreachable = cli("update", "-a", tmp_path, env={"NEWSARCHIVE_DATABASE": "postgresql://news:secret@127.0.0.1:9/news"})
    assert unreachable.returncode == 1 and "127.0.0.1:9" in unreachable.stderr and "secret" not in unreachable.stderr, unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) <= 2 and "Traceback" not in unreachable.stderr
    worked = cli("update", "-a", tmp_path)  # no worker: the archive's machine works the queue itself
    assert worked.returncode == 0 and len(list((tmp_path / "articles").rglob("*.md"))) == 1, worked.stderr
    # The commands that read, with the index in PostgreSQL.
    found = cli("search", "第1条", "-a", tmp_path, "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["total"] == 1, found.stderr
    listed = cli("sources", "-a", tmp_path, "--json")
    assert listed.returncode == 0 and "a" in listed.stdout, listed.stderr
    history = cli("history", "https://a.invalid/zh/1", "-a", tmp_path)
    assert history.returncode == 0 and "a第1条新闻" in history.stdout, history.stderr
    exported = cli("export", "--output", tmp_path / "out.jsonl", "-a", tmp_path)
    assert exported.returncode == 0 and len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 1, exported.stderr
    assert cli("check", "-a", tmp_path).returncode == 0


def test_pages_images_and_captures_are_fetched_by_the_workers(
    server: FeedServer, tmp_path: Path, pg_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    """An outlet with full text: its feed, its article pages and their images all fetched by a worker on "another
    machine"; the archive's machine writes the articles, the images and the WARC records."""
    from .test_fulltext import page_html
    from .test_media import png

    links = [server.add(f"/p/{n}.html", page_html(n), headers={"Content-Type": "text/html; charset=utf-8"}) for n in (1, 2)]
    for n in (1, 2):
        server.add(f"/img/{n}.jpg", png(40 + n, 30), headers={"Content-Type": "image/png"})
    feed = server.add(
        "/f.xml",
        rss(
            *(
                {"title": f"第{n}条新闻标题", "link": link, "guid": link, "description": "摘要"}
                for n, link in zip((1, 2), links, strict=True)
            )
        ),
    )
    source = Source(name="N", slug="n", feeds=(feed,), fulltext="page", allow_private=True)
    settings = Settings(sources=(source,), fetch=FETCH, cluster=ClusterConfig(database=pg_url), recheck=RecheckConfig(per_run=0))
    Archive.init(tmp_path).close()
    workers.append(start_worker(pg_url))

    async def wait_and_ask(query: str) -> list[tuple[object, ...]]:
        queue = await _queue(pg_url)
        try:
            while not await queue.workers_seen(10):
                await asyncio.sleep(0.05)
            return [] if not query else await queue._call(query)
        finally:
            await queue.close()

    asyncio.run(wait_and_ask(""))
    with Archive.open(tmp_path, settings=settings) as archive:
        report = archive.update()
        assert report.new == 2 and not report.failed, report
        bodies = [archive.read(row).body for row in archive.articles("n")]
        assert all("第6段正文" in body for body in bodies)  # the pages' text, not the feed's summary
        assert archive.media_stats().images == 2
    done = asyncio.run(wait_and_ask("SELECT kind, payload->>'url', worker FROM jobs WHERE state = 'done'"))
    fetched = {str(url) for kind, url, worker in done if "(writer)" not in str(worker)}
    assert fetched >= {feed, *links, server.base + "/img/1.jpg", server.base + "/img/2.jpg"}, done
    warc = b"".join(path.read_bytes() for path in (tmp_path / "warc").glob("*.warc.gz"))
    assert warc, "no WARC records written"


def test_the_writer_killed_mid_round_loses_and_doubles_nothing(
    server: FeedServer, tmp_path: Path, pg_url: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    """Kill the archive's `update` (SIGKILL) while workers hold its jobs: the next `update` starts a new round, finds the
    index (in PostgreSQL) and the files as the killed one left them, and ends with every article once."""
    feeds = [server.add(f"/w/{k}.xml", rss(*(entry(f"w{k}", n) for n in range(8)))) for k in range(4)]
    slow = server.add("/w/slow.xml", rss(*(entry("slow", n) for n in range(3))), delay=4)
    sources = "\n".join(f'[[sources]]\nname = "W{k}"\nslug = "w{k}"\nfeeds = ["{url}"]\n' for k, url in enumerate([*feeds, slow]))
    Archive.init(tmp_path).close()
    (tmp_path / "newsarchive.toml").write_text(f'[cluster]\ndatabase = "{pg_url}"\n\n[recheck]\nper_run = 0\n\n{sources}', encoding="utf-8")
    workers.append(start_worker(pg_url))
    environment = {**os.environ, "NO_COLOR": "1"}
    writer = subprocess.Popen([sys.executable, "-m", "newsarchive", "update", "-a", str(tmp_path)], env=environment, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not server.routes["/w/slow.xml"].hits and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the quick feeds applied, the slow one still in a worker's hands
    writer.kill()
    writer.wait()
    assert writer.stderr is not None
    writer.stderr.close()
    after = cli("update", "-a", tmp_path)
    assert after.returncode == 0, after.stderr
    files = list((tmp_path / "articles").rglob("*.md"))
    titles = {parse_article(file.read_text(encoding="utf-8"), file).title for file in files}
    assert len(files) == len(titles) == 4 * 8 + 3
