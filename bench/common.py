"""Shared helpers for the benchmarks: generated Chinese text, a loopback feed server, child-process timing."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Commands are timed as users run them: with the bytecode caches that pip writes when it installs. A machine that
# sets PYTHONDONTWRITEBYTECODE (this one does) would otherwise compile every module again in every process, the
# update's worker processes included: a quarter of a second a process here.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def compile_package(env: dict[str, str] | None = None) -> None:
    """Write the bytecode caches of the newsarchive that ``env`` (its PYTHONPATH) imports, as pip does on install."""
    code = "import compileall, os, newsarchive; compileall.compile_dir(os.path.dirname(newsarchive.__file__), quiet=1)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


# Common characters, so the generated text has the byte profile of real Chinese news.
CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
    "十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间"
    "样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入"
    "常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门"
)
PUNCTUATION = "，，，。、；："


def paragraph(rng: random.Random, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(rng.choice(CHARS))
        if rng.random() < 0.06:
            out.append(rng.choice(PUNCTUATION))
    return "".join(out) + "。"


def article_html(rng: random.Random, size: int) -> str:
    """About ``size`` bytes of article HTML over several lines, as outlets publish it."""
    parts = ['<div class="article-body">', f'<img src="https://img.example.org/{rng.getrandbits(64):016x}.jpg" alt="">']
    total = 0
    while total < size:
        text = paragraph(rng, rng.randint(60, 220))
        parts.append(f"  <p>{text}</p>")
        total += len(text.encode()) + 10
    parts.append("</div>")
    return "\n".join(parts)


def rss_feed(slug: str, items: int, body_bytes: int, seed: int = 0, first: int = 0) -> bytes:
    """A feed of items ``first`` .. ``first + items - 1``, newest first (item n is 10 minutes older than n - 1).
    Each item's text depends only on its number, so feeds cut from different ``first`` share their items."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>',
        f"<title>{slug}</title><link>https://{slug}.example.org/</link>",
    ]
    base = 1_780_000_000
    for n in range(first, first + items):
        rng = random.Random(f"{slug}-{seed}-{n}")
        when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(base - n * 600))
        title = paragraph(rng, rng.randint(10, 24))[:-1]
        link = f"https://{slug}.example.org/zh/新闻/{n:06d}-{hashlib.md5(title.encode()).hexdigest()[:8]}"
        body = article_html(rng, body_bytes)
        out.append(
            f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{when}</pubDate>"
            f"<description><![CDATA[{paragraph(rng, 80)}]]></description><content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode()


_CONTENT_TYPES = {"xml": "application/rss+xml; charset=utf-8", "png": "image/png"}


class FeedServer:
    """Serves prepared bodies (feeds, pages, images) on 127.0.0.1, the type from the path's suffix; with
    ``conditional`` it sends ETags and answers 304. Each answer goes out in one write: headers and body
    written apart would wait for the client's delayed ACK (40 ms an answer) and time that instead."""

    def __init__(self, bodies: dict[str, bytes], *, conditional: bool = False) -> None:
        self.bodies = bodies
        self.hits: dict[str, int] = {}  # requests per path
        self.not_modified = 0  # 304s sent
        tags: dict[str, tuple[bytes, str]] = {}  # path -> (body, ETag); a body replaced in ``bodies`` gets a new one
        server = self

        def tag_of(path: str, body: bytes) -> str:
            known = tags.get(path)
            if known is None or known[0] is not body:
                known = tags[path] = (body, '"' + hashlib.md5(body).hexdigest() + '"')
            return known[1]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # buffered: flushed once when the answer is complete

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                body = bodies.get(path)
                server.hits[path] = server.hits.get(path, 0) + 1
                if body is None:
                    self.send_error(404)
                    return
                if conditional and self.headers.get("If-None-Match") == tag_of(path, body):
                    server.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", tag_of(path, body))
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", _CONTENT_TYPES.get(path.rpartition(".")[2], "text/html; charset=utf-8"))
                self.send_header("Content-Length", str(len(body)))
                if conditional:
                    self.send_header("ETag", tag_of(path, body))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def settle(seconds: float) -> None:
    """Flush and let the disk go quiet, so that a timed command does not pay for earlier writes or
    deletions. (On the virtual machines this project runs on, deferred disk work from one run made the
    next several times slower.)"""
    os.sync()
    time.sleep(seconds)


def timed(command: list[str], peaks: dict[str, float] | None = None) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Run a command; return (wall seconds, peak resident MB of the child, result). Output goes to
    files, which never block the child. Given ``peaks``, it gets the peaks of the two parts of that memory, sampled
    every 20 ms (Linux): ``anon``, the process's own, and ``file``, the pages of files it maps (a search index
    being merged), which count as resident while the kernel keeps them and which it can take back."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        done = threading.Event()
        sampler = threading.Thread(target=_sample_memory, args=(process.pid, done, peaks), daemon=True)
        if peaks is not None:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        if peaks is not None:
            sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}):\n{stderr.decode()}")
    return seconds, usage.ru_maxrss / 1024, subprocess.CompletedProcess(command, code, stdout, stderr)


def _sample_memory(pid: int, done: threading.Event, peaks: dict[str, float] | None) -> None:
    assert peaks is not None
    peaks.update(anon=0.0, file=0.0)
    while not done.wait(0.02):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:  # ended
            return
        for line in status.splitlines():
            name, _, value = line.partition(":")
            if name in ("RssAnon", "RssFile"):
                key = "anon" if name == "RssAnon" else "file"
                peaks[key] = max(peaks[key], int(value.split()[0]) / 1024)


def newsarchive(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsarchive", *args]


def search_left_to_first_use(archive: Path) -> None:
    """Set a new archive not to index for search as update and import end (``search.index_on_update = false``):
    the first search catches up instead."""
    config = archive / "newsarchive.toml"
    text = config.read_text(encoding="utf-8")
    if "[search]\n" not in text:
        sys.exit(f"{config}: no [search] table to set index_on_update in")
    config.write_text(text.replace("[search]\n", "[search]\nindex_on_update = false\n", 1), encoding="utf-8")


@contextlib.contextmanager
def postgresql(url: str | None, name: str) -> Iterator[tuple[str, Any]]:
    """The PostgreSQL database a benchmark measures and the server it is on: ``url`` as given (and None), else database
    ``name`` on a throwaway server started from the machine's binaries (tests/pg.py; the benchmark puts the project on
    ``sys.path``), on which more databases can be made, stopped at the end."""
    if url is not None:
        yield url, None
        return
    from tests.pg import Cluster

    cluster = Cluster()
    cluster.start()
    try:
        yield cluster.create_database(name), cluster
    finally:
        cluster.stop()


__all__ = ["FeedServer", "article_html", "compile_package", "newsarchive", "paragraph", "postgresql", "rss_feed", "settle", "timed"]
