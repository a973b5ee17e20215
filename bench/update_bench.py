"""Time `newsarchive update` on N outlets x M items served on loopback: from empty, then with nothing new.

    python bench/update_bench.py [--outlets 8] [--items 500] [--body 12000] [--runs 3]

Prints articles/s and the peak memory of the update process, for the command (a fresh process, as
users run it) and for Archive.update() alone (the interpreter started and newsarchive imported).
"nothing new" is measured against a server without validators (the feed bytes are downloaded, hashed
and found unchanged, so nothing is parsed) and against one that sends ETags (a 304 costs no download).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import FeedServer, newsarchive, rss_feed, settle, timed

# Times Archive.update() alone, after the interpreter has started and imported newsarchive.
IN_PROCESS = """
import json, sys, time
from pathlib import Path
from newsarchive import Archive
with Archive.open(Path(sys.argv[1]), sources_file=Path(sys.argv[2])) as archive:
    started = time.perf_counter()
    report = archive.update()
    print(json.dumps({"inner": time.perf_counter() - started, **report.to_json()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outlets", type=int, default=8)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--body", type=int, default=12000, help="bytes of HTML per item")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=10, help="seconds to let the disk go quiet before each timed run")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out", help="where archives are made (default: bench/out)")
    options = parser.parse_args()
    options.workdir.mkdir(parents=True, exist_ok=True)

    bodies = {f"/o{n}.xml": rss_feed(f"o{n}", options.items, options.body) for n in range(options.outlets)}
    megabytes = sum(len(b) for b in bodies.values()) / 1e6
    count = options.outlets * options.items
    print(f"{options.outlets} outlets x {options.items} items, {megabytes:.1f} MB of feeds on loopback")
    results: dict[str, list[tuple[float, float]]] = {}
    for conditional in (False, True):
        server = FeedServer(bodies, conditional=conditional)
        for _ in range(options.runs):
            for mode in ("command", "in-process"):
                work = Path(tempfile.mkdtemp(prefix="update-", dir=options.workdir))
                try:
                    sources = work / "sources.toml"
                    sources.write_text(
                        "".join(
                            f'[[sources]]\nname = "O{n}"\nslug = "o{n}"\nfeeds = ["{server.base}/o{n}.xml"]\n\n'
                            for n in range(options.outlets)
                        )
                    )
                    timed(newsarchive("init", str(work / "archive")))
                    if mode == "command":
                        command = newsarchive("update", "--archive", str(work / "archive"), "--sources", str(sources), "--json")
                    else:
                        command = [sys.executable, "-c", IN_PROCESS, str(work / "archive"), str(sources)]
                    for name, field in (
                        ("from empty", "new"),
                        ("nothing new, 304" if conditional else "nothing new, same bytes", "unchanged"),
                    ):
                        if name == "from empty" and conditional:
                            name = "from empty (ETag server)"
                        settle(options.settle)
                        seconds, peak, result = timed(command)
                        report = json.loads(result.stdout)
                        assert sum(s[field] for s in report["sources"]) == count, report
                        seconds = report.get("inner", seconds)
                        results.setdefault(f"{name}: {mode}", []).append((seconds, peak))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
        server.close()
    print(f"{'update':42} {'median s':>9} {'articles/s':>11} {'peak MB':>8}")
    for name, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        peak = max(p for _, p in runs)
        print(f"{name:42} {seconds:9.2f} {count / seconds:11,.0f} {peak:8.0f}")


if __name__ == "__main__":
    main()
