"""Time the fast (lxml) parsing path on generated feeds, against another commit's parse.py in the same process.

    python bench/parse_bench.py [--vs main] [--rounds 7]

Generates an RSS 2.0 feed (content:encoded, as most outlets publish) and an Atom feed (XHTML content), then
times ``parse_feed`` of this checkout and of ``git show <vs>:src/newsarchive/parse.py``, interleaved round by
round, and prints each one's best MB/s and items/s per feed.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from common import article_html, paragraph, rss_feed

from newsarchive import parse as current

ROOT = Path(__file__).resolve().parent.parent


def atom_feed(items: int, body_bytes: int) -> bytes:
    rng = random.Random(3)
    out = ['<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>基准</title><id>tag:bench</id>']
    for n in range(items):
        body = article_html(rng, body_bytes).replace('alt="">', 'alt=""/>')
        out.append(
            f"<entry><id>tag:bench,2026:{n}</id><title>{paragraph(rng, 16)}</title>"
            f'<link href="https://bench.example.org/{n}"/><updated>2026-05-01T08:00:00Z</updated>'
            f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">{body}</div></content></entry>'
        )
    return ("".join(out) + "</feed>").encode()


def load_parse(ref: str) -> ModuleType:
    """parse.py as it stands at ``ref``, imported beside this checkout's as newsarchive.parse_<ref>."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:src/newsarchive/parse.py"], capture_output=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "parse.py"
    path.write_bytes(source)
    name = "newsarchive.parse_" + "".join(c if c.isalnum() else "_" for c in ref)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def best_seconds(module: ModuleType, data: bytes) -> float:
    started = time.process_time()
    feed = module.parse_feed(data, url="bench")
    seconds = time.process_time() - started
    assert feed.parser == "lxml" and feed.items, "the bench must time the fast path"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vs", default="main", help="the commit to compare with (default: main)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    feeds = {"rss2 content:encoded": rss_feed("bench", 400, 6000), "atom xhtml": atom_feed(400, 6000)}
    versions = {"this checkout": current, args.vs: load_parse(args.vs)}
    print(f"{'feed':<22} {'MB':>6} {'items':>6}  " + "  ".join(f"{label:>22}" for label in versions))
    for feed_name, data in feeds.items():
        items = len(current.parse_feed(data).items)
        best = dict.fromkeys(versions, float("inf"))
        for _ in range(args.rounds):  # interleaved, so that the machine's load falls on both alike
            for label, module in versions.items():
                best[label] = min(best[label], best_seconds(module, data))
        mb = len(data) / 1e6
        cells = "  ".join(f"{mb / best[label]:8.1f} MB/s {items / best[label]:6.0f}/s" for label in versions)
        print(f"{feed_name:<22} {mb:6.1f} {items:6}  {cells}")


if __name__ == "__main__":
    main()
