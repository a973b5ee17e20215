"""How a cluster's workers share an update: feeds per hour per worker, the scaling, and the writer's apply rate.

    python bench/cluster_bench.py [--feeds 1000] [--items 5] [--delay 0.1] [--hosts 16] [--workers 1,2,4] [--runs 1]

A farm of small feeds on loopback, spread over ``--hosts`` addresses (127.0.0.1, 127.0.0.2, ...: politeness is per
host, cluster-wide), each answer held back ``--delay`` seconds as a distant server's would be, with ETags. For each
number of workers (``newsarchive worker`` processes, 8 jobs at once each) the archive's ``update`` runs twice on a
new database and archive: from empty (every feed read and its articles applied) and again (every feed a 304). The
counts are interleaved over ``--runs``. Prints per pass the time, feeds per hour per worker, the speed-up over one
worker, the writer's CPU and the workers' (where the time goes), and from the first pass the writer's apply rate.
PostgreSQL is a throwaway server started from the machine's binaries (tests/pg.py), or ``--database URL`` (each
measurement then uses a new schema-free database made there with CREATE DATABASE).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pg import Cluster

from newsarchive.archive import Archive
from newsarchive.config import ClusterConfig, FetchConfig, MediaConfig, RecheckConfig, Settings
from newsarchive.index.queue import JobQueue
from newsarchive.sources import Source


def feed_body(feed: int, items: int) -> bytes:
    entries = "".join(
        f"<item><title>第{feed}号源第{n}条消息</title><link>https://f{feed}.invalid/{n}</link><guid>https://f{feed}.invalid/{n}</guid>"
        f"<pubDate>Mon, 01 Jun 2026 {n % 24:02d}:00:00 GMT</pubDate><description><![CDATA[<p>第{feed}号源第{n}条消息的正文，"
        f"记者报道了当天发生的事情。</p>]]></description></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>f{feed}</title>{entries}</channel></rss>'.encode()


def serve_farm(port: int, hosts: int, feeds: int, items: int, delay: float, ready: multiprocessing.synchronize.Event) -> None:
    """In a process of its own: every feed on every host address (the feed's own host is the one it is listed on)."""
    bodies = {f"/{n}.xml": feed_body(n, items) for n in range(feeds)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            time.sleep(delay)
            etag = f'"{self.path}"'
            if body is None:
                status, body, headers = 404, b"", ""
            elif self.headers.get("If-None-Match") == etag:
                status, body, headers = 304, b"", f"ETag: {etag}\r\n"
            else:
                status, headers = 200, f"ETag: {etag}\r\nContent-Type: application/rss+xml\r\n"
            length = "" if status == 304 else f"Content-Length: {len(body)}\r\n"
            self.wfile.write(f"HTTP/1.1 {status} X\r\n{headers}{length}\r\n".encode() + body)

    servers = []
    for host in range(1, hosts + 1):
        server = ThreadingHTTPServer((f"127.0.0.{host}", port), Handler)
        server.daemon_threads = True
        servers.append(server)
    import threading

    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    threading.Event().wait()


def wait_for_workers(url: str, count: int) -> None:
    async def seen() -> None:
        queue = await JobQueue.connect(url)
        try:
            deadline = time.monotonic() + 60
            while len(await queue.workers_seen(10)) < count:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(await queue.workers_seen(10))} of {count} workers started")
                await asyncio.sleep(0.1)
        finally:
            await queue.close()

    asyncio.run(seen())


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(cluster: Cluster, name: str, workers: int, sources: tuple[Source, ...], fetch: FetchConfig) -> dict[str, float]:
    url = cluster.create_database(name)
    settings = Settings(
        sources=sources,
        fetch=fetch,
        cluster=ClusterConfig(database=url),
        media=MediaConfig(enabled=False),
        recheck=RecheckConfig(per_run=0),
    )
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as folder:
        Archive.init(folder).close()
        command = [sys.executable, "-m", "newsarchive", "worker", "--database", url, "--concurrency", "8"]
        processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        figures: dict[str, float] = {}
        try:
            wait_for_workers(url, workers)
            for label in ("empty", "again"):
                cpu, started = own_cpu(), time.perf_counter()
                with Archive.open(folder, settings=settings) as archive:
                    report = archive.update()
                figures[label] = time.perf_counter() - started
                figures[f"{label}_writer_cpu"] = own_cpu() - cpu
                figures[f"{label}_new"] = report.new
                if report.failed:
                    raise SystemExit(f"{len(report.failed)} outlets failed: {report.failed[0].error}")
        finally:
            before = children_cpu()
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait()
            figures["workers_cpu"] = children_cpu() - before
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds each answer is held back (a distant server)")
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--runs", type=int, default=1)
    options = parser.parse_args()
    counts = [int(n) for n in options.workers.split(",")]

    ready = multiprocessing.get_context("spawn").Event()
    port = 18000 + os.getpid() % 1000
    farm = multiprocessing.get_context("spawn").Process(
        target=serve_farm, args=(port, options.hosts, options.feeds, options.items, options.delay, ready), daemon=True
    )
    farm.start()
    ready.wait(60)
    # One outlet per feed, as a farm of small sites is: each outlet's articles applied apart.
    sources = tuple(
        Source(name=f"F{n}", slug=f"f{n}", feeds=(f"http://127.0.0.{n % options.hosts + 1}:{port}/{n}.xml",)) for n in range(options.feeds)
    )
    fetch = FetchConfig(per_host=4, concurrency=64, retries=0)
    cluster = Cluster()
    cluster.start()
    results: dict[int, list[dict[str, float]]] = {count: [] for count in counts}
    try:
        for run in range(options.runs):
            for count in counts:  # interleaved: each run measures every count once
                results[count].append(measure(cluster, f"bench_{run}_{count}", count, sources, fetch))
                print(f"run {run + 1}, {count} workers: {results[count][-1]}", file=sys.stderr)
    finally:
        cluster.stop()
        farm.kill()

    feeds = options.feeds
    print(f"\n{feeds} feeds x {options.items} items on {options.hosts} loopback hosts, {options.delay * 1000:.0f} ms per answer, ETags")
    print(f"per_host {fetch.per_host} (cluster-wide), 8 jobs at once per worker; medians of {options.runs} run(s)\n")
    print("| workers | pass | time | feeds/h per worker | speed-up | writer CPU | workers' CPU |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    base: dict[str, float] = {}
    for count in counts:
        for label in ("empty", "again"):
            seconds = statistics.median(r[label] for r in results[count])
            base.setdefault(label, seconds)
            writer_cpu = statistics.median(r[f"{label}_writer_cpu"] for r in results[count])
            workers_cpu = statistics.median(r["workers_cpu"] for r in results[count]) if label == "again" else float("nan")
            rate = feeds / seconds * 3600 / count
            print(
                f"| {count} | {'from empty' if label == 'empty' else 'all 304'} | {seconds:.1f} s | {rate:,.0f} |"
                f" {base[label] / seconds:.2f}x | {writer_cpu:.1f} s | {'' if label == 'empty' else f'{workers_cpu:.1f} s (both passes)'} |"
            )
    articles = statistics.median(r["empty_new"] for r in results[counts[-1]])
    seconds = statistics.median(r["empty"] for r in results[counts[-1]])
    rate = articles / seconds
    print(f"\nthe writer applied {articles:,.0f} articles in {seconds:.1f} s from empty with {counts[-1]} workers: {rate:,.0f} articles/s")


if __name__ == "__main__":
    main()
