"""What a 10-minute cadence (`newsarchive run --every 10m`) costs per day: requests, bytes and CPU.

    python bench/cadence_bench.py [--outlets 8] [--items 100] [--new-per-hour 3] [--hours 24] [--every 10m]

A simulated day on loopback, run in one process with a clock that moves 10 minutes a round (so a day takes a
minute, not a day): each outlet's feed holds its newest items and gains new ones through the day; the server
sends ETags (304 for an unchanged feed); every article page is served, and rechecked on the minute schedule
issue 16 asks for (``recheck_schedule = ["10m", "30m", "1h", "3h", "6h", "1d"]``). With ``--slow N``, N of the
outlets are fetched every hour only (``every = "1h"``). Prints per day: feed requests and 304s, recheck
requests, bytes sent, CPU seconds, and where the CPU goes (feeds, rechecks, the rest).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import FeedServer, paragraph

from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, RecheckConfig, Settings
from newsarchive.durations import parse_duration
from newsarchive.sources import Source

T0 = 1_780_000_000.0
SCHEDULE = tuple(parse_duration(gap) / 3600 for gap in ("10m", "30m", "1h", "3h", "6h", "1d"))


class Outlet:
    """One outlet's feed, growing through the day, and its article pages."""

    def __init__(self, slug: str, base: str, items: int, bodies: dict[str, bytes]) -> None:
        self.slug, self.base, self.bodies = slug, base, bodies
        self.rng = random.Random(slug)
        self.entries: list[str] = []
        for _ in range(items):
            self.publish(T0 - 3600 * 24)

    def publish(self, when: float) -> None:
        n = len(self.entries)
        text = "".join(f"<p>{paragraph(self.rng, 120)}</p>" for _ in range(8))
        path = f"/{self.slug}/{n}.html"
        self.bodies[path] = (
            f"<html><head><meta charset='utf-8'><title>{n}</title></head><body><article>{text}</article></body></html>".encode()
        )
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))
        self.entries.append(
            f"<item><title>{self.slug} 第{n}条 {paragraph(self.rng, 12)}</title><link>{self.base}{path}</link>"
            f"<guid>{self.base}{path}</guid><pubDate>{date}</pubDate><description><![CDATA[{text}]]></description></item>"
        )

    def render(self, keep: int) -> None:
        items = "".join(reversed(self.entries[-keep:]))
        self.bodies[f"/{self.slug}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{self.slug}</title>{items}</channel></rss>'
        ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outlets", type=int, default=8)
    parser.add_argument("--items", type=int, default=100, help="items each feed holds")
    parser.add_argument("--new-per-hour", type=float, default=3, help="new articles per outlet per hour")
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--every", default="10m", help="time between rounds")
    parser.add_argument("--slow", type=int, default=0, help="outlets fetched every hour only (every = 1h)")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)
    step = parse_duration(options.every)
    rounds = int(options.hours * 3600 / step)

    bodies: dict[str, bytes] = {}
    server = FeedServer(bodies, conditional=True)
    outlets = [Outlet(f"o{n}", server.base, options.items, bodies) for n in range(options.outlets)]
    for outlet in outlets:
        outlet.render(options.items)
    sources = tuple(
        Source(
            name=f"O{n}",
            slug=outlet.slug,
            feeds=(f"{server.base}/{outlet.slug}.xml",),
            allow_private=True,
            recheck_schedule=SCHEDULE,
            every=3600 if n < options.slow else None,
        )
        for n, outlet in enumerate(outlets)
    )
    work = Path(tempfile.mkdtemp(prefix="cadence-", dir=options.workdir))
    try:
        Archive.init(work / "archive").close()
        settings = Settings(sources=sources, fetch=replace(FetchConfig(), retries=0), recheck=RecheckConfig(per_run=1000))
        archive = Archive.open(work / "archive", settings=settings)
        # The first round, a month before: its articles are past the recheck window, and it is not counted.
        archive.update(clock=lambda: T0 - 31 * 86400)
        before_hits, before_304 = dict(server.hits), server.not_modified
        cpu = wall = 0.0
        published = 0.0
        new_articles = 0
        for number in range(1, rounds + 1):
            now = T0 + number * step
            published += options.new_per_hour * step / 3600
            while published >= 1:  # the outlets publish in turn
                for outlet in outlets:
                    outlet.publish(now - 60)
                    outlet.render(options.items)
                published -= 1
            started_cpu, started = time.process_time(), time.perf_counter()
            report = archive.update(clock=lambda now=now: now)  # type: ignore[misc]
            cpu += time.process_time() - started_cpu
            wall += time.perf_counter() - started
            new_articles += report.new
        archive.close()
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    hits = {path: count - before_hits.get(path, 0) for path, count in server.hits.items()}
    feeds = sum(count for path, count in hits.items() if path.endswith(".xml"))
    pages = sum(count for path, count in hits.items() if path.endswith(".html"))
    scale = 24 / options.hours
    print(
        f"{options.outlets} outlets ({options.slow} of them every 1h), {options.items} items a feed, {options.new_per_hour:g} new an hour"
        f" each; rounds every {options.every}: {rounds} in {options.hours:g} h"
    )
    print(f"{'per day':28} {'count':>10}")
    for name, value in (
        ("rounds", rounds * scale),
        ("new articles", new_articles * scale),
        ("feed requests", feeds * scale),
        ("  of them 304 Not Modified", (server.not_modified - before_304) * scale),
        ("page rechecks", pages * scale),
        ("CPU seconds", cpu * scale),
        ("wall seconds", wall * scale),
    ):
        print(f"{name:28} {value:10,.1f}")
    print(f"per round: {cpu / rounds * 1000:.0f} ms of CPU, {wall / rounds * 1000:.0f} ms of wall time")
    window = RecheckConfig().window_days
    print(
        f"in a steady state the articles of the {window - 1} days before are rechecked daily too:"
        f" {new_articles * scale * (window - 1):,.0f} more page requests a day (recheck.window_days = {window})"
    )


if __name__ == "__main__":
    main()
