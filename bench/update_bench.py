"""Time `newsarchive update` on N outlets x M items served on loopback, in the shapes users meet, and show
where the time goes; with --original, time the job it replaces on the same feeds, interleaved.

    python bench/update_bench.py [--outlets 8] [--items 500] [--new 20] [--body 12000] [--runs 3]
                                 [--shapes hourly,empty,lean,same,304] [--original DIR] [--baseline SRC] [--no-profile]
                                 [--archived N]

Shapes (everything on at its defaults: search, WARC, images, health, rechecks; but lean):
  hourly  the archive already holds an earlier feed; the feed now brings --new items, the rest archived
  empty   from an empty archive
  lean    from an empty archive, with WARC, images and indexing for search switched off (archive.warc,
          media.enabled, search.index_on_update): the Markdown files and the index, the original's job
  same    nothing new, server without validators (downloaded, hashed, found unchanged, not parsed)
  304     nothing new, server with ETags (nothing downloaded)
With --archived N the archive of the hourly, same and 304 shapes holds N more articles (a generated duty-machine
archive imported once, searchable, and copied for each run), as an archive imported from duty-machine/news does: what
a run costs that grows with the archive shows.
Each timed run is the command as users run it (a fresh process); the state before it is made by untimed
runs. Printed per shape: median wall and CPU seconds (the process and its worker processes), peak MB,
and with --original the original's figures and the ratio (original / newsarchive, median of the
interleaved pairs: a ratio holds on a busy machine where absolute times do not). --baseline SRC runs another
version of newsarchive (its ``src`` folder, e.g. ``git archive main src | tar -x -C /tmp/main``) interleaved
too, with the ratio baseline / this one. "This one" is the newsarchive that ``python -m newsarchive`` imports:
point PYTHONPATH at a copy of ``src`` so that edits made while the bench runs do not mix versions. The
original sends no conditional requests, so it is not run for 304 (it would be the same as ``same``).

The profile (one more run per shape, not counted) samples every thread of the update process every 2 ms
and tells where its wall time goes: the main thread's time by phase (start-up, fetch, parse, store, search
index, WARC, images, rechecks, health), and while it waits, what the other threads do; then each phase's
thread-seconds and the CPU seconds of the process and of its worker processes (those are not sampled).

The original (duty-machine/news, perform.js with rss-parser, jsdom and node-fetch; not shipped here):
  mkdir DIR && cp perform.js DIR/ && cd DIR && npm install jsdom@^16.4.0 node-fetch@^2.6.7 rss-parser@^3.8.0
Its script is read from DIR and adapted in memory for each run, nothing else changed: its table of outlets
(``sitesInfo`` and ``feedxUrls``) is replaced by the loopback feeds, the two outlets fetched by other code
(CDT and RFA) are not called, and an item's content is ``content:encoded`` where the feed has it (as its
RFA code reads it; feedx put the whole body in ``description``, these feeds put a summary there). It runs
with node (``--node``) in a folder of its own holding ``articles/`` and ``lists/``, where an hourly run
finds the files of its earlier run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import FeedServer, compile_package, newsarchive, rss_feed, settle

# Runs Archive.update() as `newsarchive update` does, sampling every thread's stack to say where time goes.
PROFILED = r"""
import collections, json, resource, sys, threading, time
born = float(sys.argv[3])  # the parent's perf_counter when it started this process (CLOCK_MONOTONIC)
from pathlib import Path
from newsarchive import Archive
RULES = [  # (phase, path fragments); a stack is the first phase any of its frames matches
    ("images", ("newsarchive/media.py", "newsarchive/index/images.py")),
    ("rechecks", ("newsarchive/recheck.py", "newsarchive/index/rechecks.py")),
    ("health", ("newsarchive/health.py",)),
    ("search index", ("newsarchive/index/search.py",)),
    ("damage scan", ("newsarchive/store/damage.py",)),
    ("WARC", ("newsarchive/store/warc.py", "/warcio/")),
    ("parse", ("newsarchive/parse.py", "/feedparser/", "/lxml/")),
    ("normalise", ("newsarchive/normalise.py", "newsarchive/html.py", "/nh3/")),
    ("stage files", ("newsarchive/store/staging.py",)),
    ("store/apply", ("newsarchive/store/", "newsarchive/index/")),
    ("fetch (HTTP work)", ("newsarchive/fetch", "/httpx/", "/httpcore/", "/h11/", "/anyio/")),
]
def phase(frame):
    names = []
    while frame is not None:
        if frame.f_code.co_name != "update":  # Archive.update (archive.py) holds the whole run
            names.append(frame.f_code.co_filename)
        frame = frame.f_back
    for name, fragments in RULES:
        if any(f in n for n in names for f in fragments):
            return name
    return None  # idle: the event loop's select, a worker waiting for work
main_id = threading.get_ident()
main_time, thread_time = collections.Counter(), collections.Counter()
done = False
def sample():
    last = time.perf_counter()
    while not done:
        time.sleep(0.002)
        now = time.perf_counter()
        step, last = now - last, now
        frames = sys._current_frames()
        others = [p for ident, f in frames.items() if ident not in (main_id, threading.get_ident()) and (p := phase(f))]
        for p in others:
            thread_time[p] += step
        mine = phase(frames[main_id]) if main_id in frames else None
        if mine:
            thread_time[mine] += step
            main_time[mine] += step
        elif others:
            main_time["waits for: " + min(others, key=[r[0] for r in RULES].index)] += step
        else:
            main_time["waits: network or worker processes"] += step
with Archive.open(Path(sys.argv[1]), sources_file=Path(sys.argv[2])) as archive:
    started = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report = archive.update()
    done = True
    sampler.join()
    ended = time.perf_counter()
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "startup": started - born, "update": ended - started, "main": main_time, "threads": thread_time,
    "cpu": me.ru_utime + me.ru_stime, "cpu_workers": kids.ru_utime + kids.ru_stime, **report.to_json(),
}))
"""

SHAPES = {
    "hourly": "the hourly run: {new} new per outlet, {old} archived",
    "empty": "from empty",
    "lean": "from empty, no WARC, images, search",
    "same": "nothing new, same bytes (no validators)",
    "304": "nothing new, 304 (ETag server)",
}


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float, float, bytes]:
    """Run a command to its end; (wall s, CPU s of it and its reaped children, peak MB, stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(command)} failed:\n{err.read().decode()}")
        return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


class Original:
    """duty-machine/news's perform.js, pointed at the loopback feeds (see the docstring)."""

    def __init__(self, folder: Path, node: str, feeds: dict[str, str]) -> None:
        script = (folder / "perform.js").read_text()
        sites = [{"name": slug, "abbr": slug, "feed": url} for slug, url in feeds.items()]
        tables = f"let sitesInfo = {json.dumps(sites)}\nlet feedxUrls = {json.dumps(feeds)}\n"
        script, n1 = re.subn(r"let sitesInfo = \[.*?\n\]\n\s*let feedxUrls = \{.*?\n\}\n", lambda _: tables, script, count=1, flags=re.S)
        script, n2 = re.subn(r"\n\s*performCDT\(\)\n\s*performSite\('自由亚洲电台'\)", "", script, count=1)
        script, n3 = re.subn(r"content: item\.content,", "content: item['content:encoded'] || item.content,", script, count=1)
        if (n1, n2, n3) != (1, 1, 1):
            sys.exit(f"{folder / 'perform.js'} is not the script this bench knows how to adapt")
        self.script, self.node = script, node
        self.env = {**os.environ, "NODE_PATH": str(folder / "node_modules")}

    def command(self, work: Path) -> tuple[list[str], Path, dict[str, str]]:
        (work / "articles").mkdir(parents=True, exist_ok=True)
        (work / "lists").mkdir(exist_ok=True)
        (work / "perform.js").write_text(self.script)
        return [self.node, "perform.js"], work, self.env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outlets", type=int, default=8)
    parser.add_argument("--items", type=int, default=500, help="items in each feed")
    parser.add_argument("--new", type=int, default=20, help="new items per feed in the hourly run")
    parser.add_argument("--body", type=int, default=12000, help="bytes of HTML per item")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shapes", default="hourly,empty,lean,same,304", help=f"comma-separated, of: {', '.join(SHAPES)}")
    parser.add_argument("--original", type=Path, help="folder with duty-machine/news's perform.js and node_modules")
    parser.add_argument("--node", default=shutil.which("node") or "node")
    parser.add_argument("--baseline", type=Path, help="the src folder of another newsarchive version, timed interleaved")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the per-phase profile")
    parser.add_argument("--settle", type=float, default=10, help="seconds to let the disk go quiet before each timed run")
    parser.add_argument(
        "--archived",
        type=int,
        default=0,
        help="articles the archive holds already besides the feeds' (a duty-machine archive of N files imported, searchable) "
        "in the hourly, same and 304 shapes",
    )
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "out", help="where archives are made (default: bench/out)")
    options = parser.parse_args()
    shapes = options.shapes.split(",")
    if unknown := set(shapes) - set(SHAPES):
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    options.workdir.mkdir(parents=True, exist_ok=True)

    compile_package()
    if options.baseline:
        compile_package({**os.environ, "PYTHONPATH": str(options.baseline.resolve())})
    slugs = [f"o{n}" for n in range(options.outlets)]
    now = {f"/{s}.xml": rss_feed(s, options.items, options.body) for s in slugs}
    earlier = {f"/{s}.xml": rss_feed(s, options.items, options.body, first=options.new) for s in slugs}
    count = options.outlets * options.items
    print(f"{options.outlets} outlets x {options.items} items, {sum(map(len, now.values())) / 1e6:.1f} MB of feeds on loopback")

    servers = {False: FeedServer(dict(now)), True: FeedServer(dict(now), conditional=True)}
    template = imported(options.workdir, options.archived) if options.archived else None
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    profiles: dict[str, dict[str, object]] = {}

    def serve(server: FeedServer, bodies: dict[str, bytes]) -> None:
        server.bodies.clear()
        server.bodies.update(bodies)

    def ours(shape: str, profile: bool, who: str = "newsarchive") -> None:
        env = {**os.environ, "PYTHONPATH": str(options.baseline.resolve())} if who == "baseline" else None
        server = servers[shape == "304"]
        work = Path(tempfile.mkdtemp(prefix="update-", dir=options.workdir))
        try:
            sources = work / "sources.toml"
            sources.write_text("".join(f'[[sources]]\nname = "{s}"\nslug = "{s}"\nfeeds = ["{server.base}/{s}.xml"]\n\n' for s in slugs))
            archive = str(work / "archive")
            if template is not None and shape not in ("empty", "lean"):
                shutil.copytree(template, archive, symlinks=True)  # copy2: the files' times as the index recorded them
            else:
                run(newsarchive("init", archive), env=env)
            if shape == "lean":
                config = Path(archive) / "newsarchive.toml"
                lean = {"[archive]": "warc = false", "[media]": "enabled = false", "[search]": "index_on_update = false"}
                lines = config.read_text(encoding="utf-8").splitlines()
                config.write_text("".join(f"{line}\n{lean[line]}\n" if line in lean else f"{line}\n" for line in lines), encoding="utf-8")
            update = newsarchive("update", "--archive", archive, "--sources", str(sources), "--json")
            if shape not in ("empty", "lean"):  # the state before: an earlier feed (hourly) or this very one
                serve(server, earlier if shape == "hourly" else now)
                run(update, env=env)
            serve(server, now)
            settle(options.settle)
            if profile:
                command = [sys.executable, "-c", PROFILED, archive, str(sources), repr(time.perf_counter())]
                profiles[shape] = json.loads(run(command)[3])
                report = profiles[shape]
            else:
                seconds, cpu, peak, out = run(update, env=env)
                report = json.loads(out)
                results.setdefault((shape, who), []).append((seconds, cpu, peak))
                print(f"  {shape}, {who}: {seconds:.2f} s, {cpu:.2f} CPU s", flush=True)
            new = {"hourly": options.outlets * options.new, "empty": count, "lean": count}
            field, want = ("new", new[shape]) if shape in new else ("unchanged", count)
            got = sum(s[field] for s in report["sources"])  # type: ignore[attr-defined]
            assert got == want, (shape, field, got, want, report)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def original(shape: str, job: Original) -> None:
        work = Path(tempfile.mkdtemp(prefix="original-", dir=options.workdir))
        try:
            command, cwd, env = job.command(work)
            if shape not in ("empty", "lean"):
                serve(servers[False], earlier if shape == "hourly" else now)
                run(command, cwd, env)
            serve(servers[False], now)
            settle(options.settle)
            results.setdefault((shape, "original"), []).append(run(command, cwd, env)[:3])
            print(f"  {shape}, original: {results[(shape, 'original')][-1][0]:.2f} s", flush=True)
            files = sum(len(os.listdir(work / "articles" / s)) for s in slugs)
            assert files == count + (options.outlets * options.new if shape == "hourly" else 0), files
        finally:
            shutil.rmtree(work, ignore_errors=True)

    job = None
    if options.original:
        base = servers[False].base
        job = Original(options.original, options.node, {s: f"{base}/{s}.xml" for s in slugs})
    for shape in shapes:
        for _ in range(options.runs):
            ours(shape, profile=False)
            if options.baseline:
                ours(shape, profile=False, who="baseline")
            if job and shape != "304":  # the original sends no conditional requests: 304 is the same to it
                original(shape, job)
        if options.profile:
            ours(shape, profile=True)
    for server in servers.values():
        server.close()
    if template is not None:
        shutil.rmtree(template.parent, ignore_errors=True)

    print(f"\n{'update':48} {'':12} {'median s':>9} {'CPU s':>7} {'peak MB':>8} {'articles/s':>11}")
    for shape in shapes:
        name = SHAPES[shape].format(new=options.new, old=options.items - options.new)
        for who in ("newsarchive", "baseline", "original"):
            runs = results.get((shape, who))
            if not runs:
                continue
            seconds = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"{name:48} {who:12} {seconds:9.2f} {cpu:7.2f} {max(r[2] for r in runs):8.0f} {count / seconds:11,.0f}")
        for who in ("baseline", "original"):
            if (shape, who) in results:
                pairs = zip(results[(shape, who)], results[(shape, "newsarchive")], strict=True)
                ratios = sorted(o[0] / n[0] for o, n in pairs)
                low, high = ratios[0], ratios[-1]
                print(f"{'':48} {'ratio':12} {statistics.median(ratios):8.2f}x  ({who} / newsarchive; pairs {low:.2f}-{high:.2f})")
    for shape, profile in profiles.items():
        print_profile(SHAPES[shape].format(new=options.new, old=options.items - options.new), profile)


def imported(workdir: Path, count: int) -> Path:
    """An archive holding ``count`` articles imported from a generated duty-machine archive, searchable: copied for
    each run of the shapes that start from an archive (the original job, which reads no earlier file but the ones its
    items name, is run without them)."""
    from import_bench import generate

    work = Path(tempfile.mkdtemp(prefix="archived-", dir=workdir))
    generate(work / "source", count)
    archive = work / "archive"
    run(newsarchive("init", str(archive)))
    started = time.perf_counter()
    run(newsarchive("import", str(work / "source"), "--archive", str(archive)))
    print(f"the archive holds {count:,} imported articles besides the feeds' (imported in {time.perf_counter() - started:.0f} s)")
    shutil.rmtree(work / "source")
    return archive


def print_profile(name: str, profile: dict[str, object]) -> None:
    main: dict[str, float] = profile["main"]  # type: ignore[assignment]
    threads: dict[str, float] = profile["threads"]  # type: ignore[assignment]
    startup, update = float(profile["startup"]), float(profile["update"])  # type: ignore[arg-type]
    wall = startup + update
    print(f"\nwhere the time goes, {name}: {wall:.2f} s wall")
    print(f"  {'main thread':40} {'s':>6} {'share':>6}")
    rows: list[tuple[str, float]] = [("start-up (interpreter, imports, open)", startup)]
    rows += sorted(main.items(), key=lambda kv: -kv[1])
    rows.append(("unsampled", update - sum(main.values())))
    for label, seconds in rows:
        print(f"  {label:40} {seconds:6.2f} {seconds / wall:6.0%}")
    busy = ", ".join(f"{label} {seconds:.2f}" for label, seconds in sorted(threads.items(), key=lambda kv: -kv[1]))
    print(f"  thread-seconds inside each phase (running or blocked), all threads: {busy}")
    print(f"  CPU s: {profile['cpu']:.2f} in the process (its threads), {profile['cpu_workers']:.2f} in worker processes")


if __name__ == "__main__":
    main()
