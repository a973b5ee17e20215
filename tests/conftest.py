"""Shared fixtures: a real HTTP server on loopback, archives in tmp_path, a clean environment."""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .pg import Cluster, Unavailable

if TYPE_CHECKING:
    from newsarchive.archive import Archive

FEEDS = Path(__file__).parent / "feeds"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared(*parts: str) -> Path:
    """A path in ../shared/, skipping the test when that material is absent (as in a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus is only beside the project in its own workspace")
    return path


# The browser tests drive Debian's chromium through Playwright (no browser download); without it they are skipped.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
)


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes | Callable[[], bytes] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when If-None-Match matches
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between single bytes of the body
    gzip: bool = False
    hits: int = 0
    fail_first: int = 0  # answer 503 this many times first
    requests: list[dict[str, str]] = field(default_factory=list)


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                route = routes.get(self.path)
                if route is None:
                    self._send(404, b"not found", {})
                    return
                route.hits += 1
                route.requests.append(dict(self.headers))
                if route.delay:
                    time.sleep(route.delay)
                if route.fail_first >= route.hits:
                    self._send(503, b"busy", {"Retry-After": "0"})
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self._send(304, b"", {"ETag": route.etag})
                    return
                body = route.body() if callable(route.body) else route.body
                headers = dict(route.headers)
                if route.etag:
                    headers["ETag"] = route.etag
                if route.gzip:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                if route.drip:
                    self.send_response(route.status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    try:
                        for index in range(len(body)):
                            self.wfile.write(body[index : index + 1])
                            self.wfile.flush()
                            time.sleep(route.drip)
                    except OSError:
                        pass
                    return
                self._send(route.status, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    headers.setdefault("Content-Type", "application/xml")
                    for key, value in headers.items():
                        self.send_header(key, value)
                    if status != 304:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if status != 304:
                        self.wfile.write(body)
                except OSError:
                    pass

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that a test kills or times out drop connections on purpose

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, body: bytes | str | Callable[[], bytes] = b"", **options: object) -> str:
        """Serve ``body`` at ``path`` and return its full address."""
        if isinstance(body, str):
            body = body.encode()
        self.routes[path] = Route(body=body, **options)  # type: ignore[arg-type]
        return self.base + path

    def feed(self, name: str, path: str | None = None, **options: object) -> str:
        """Serve a fixture from tests/feeds/."""
        return self.add(path or "/" + name, (FEEDS / name).read_bytes(), **options)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feed_server = FeedServer()
    yield feed_server
    feed_server.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL server for the whole test session (tests/pg.py); skips the test with the reason when
    PostgreSQL or psycopg is not there."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]' installs it")
    cluster = Cluster()
    try:
        cluster.start()
    except Unavailable as exc:
        pytest.skip(str(exc))
    yield cluster
    cluster.stop()


_databases = itertools.count()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The address of a new, empty database on the session's PostgreSQL server."""
    return pg_cluster.create_database(f"test_{next(_databases)}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[Any]]]:
    """Processes a test starts (workers, readers), killed and reaped at its end, their pipes closed."""
    started: list[subprocess.Popen[Any]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def index_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test module's tests on both backends of the index (``pytestmark = pytest.mark.usefixtures("index_backend")``):
    with "postgresql", every archive a test opens keeps its index in a database of its own on the session's server
    (and is closed at the end, as a test that leaves an archive open leaves its connection)."""
    if request.param != "postgresql":
        yield str(request.param)
        return
    from newsarchive.store.store import Store

    cluster: Cluster = request.getfixturevalue("pg_cluster")
    databases: dict[Path, str] = {}
    opened: list[Store] = []

    def database(store: Store) -> str:
        if store.root not in databases:
            databases[store.root] = cluster.create_database(f"test_{next(_databases)}")
        opened.append(store)
        return databases[store.root]

    monkeypatch.setattr(Store, "database", property(database))
    yield str(request.param)
    for store in opened:
        store.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or newsarchive setting from the developer's shell leaks into a test; and a safety net:
    any request that is not for this machine goes to a closed loopback port instead of anywhere else."""
    for name in list(os.environ):
        if name.upper().endswith("_PROXY") or name.startswith("NEWSARCHIVE_"):
            monkeypatch.delenv(name)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")


def rss(*items: dict[str, str], extra_ns: str = "") -> bytes:
    """A small RSS 2.0 feed written on the spot: items as dicts of element name -> inner XML."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"{extra_ns}>',
    ]
    parts.append("<channel><title>测试</title><link>https://example.org/</link>")
    for item in items:
        parts.append("<item>" + "".join(f"<{key}>{value}</{key.split()[0]}>" for key, value in item.items()) + "</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def item(n: int, *, day: int = 1, body: str | None = None, title: str | None = None) -> dict[str, str]:
    """The n-th generated item: distinct title, link, guid and date."""
    return {
        "title": title or f"第{n}条新闻标题",
        "link": f"https://news.example.org/zh/{n}",
        "guid": f"https://news.example.org/zh/{n}",
        "pubDate": f"Mon, {day:02d} Jun 2026 {n % 24:02d}:{n % 60:02d}:00 GMT",
        "description": f"<![CDATA[{body or f'<p>第{n}条新闻的正文。</p>'}]]>",
    }


def sources_file(tmp_path: Path, outlets: dict[str, list[str]], names: dict[str, str] | None = None) -> Path:
    """A --sources TOML file: slug -> feed addresses."""
    names = names or {}
    lines = []
    for slug, feeds in outlets.items():
        feed_list = ", ".join(f'"{feed}"' for feed in feeds)
        lines += ["[[sources]]", f'name = "{names.get(slug, slug.upper())}"', f'slug = "{slug}"', f"feeds = [{feed_list}]", ""]
    path = tmp_path / "sources.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of an archive, by relative path, but the hidden index folder, and health.json, health.md and
    warc/, which record each run and so change on every run."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and ".newsarchive" not in path.relative_to(root).parts
        and path.relative_to(root).parts[0] != "warc"  # raw captures grow with every run
        and str(path.relative_to(root)) not in ("health.json", "health.md")
    }


@contextmanager
def serving(archive: Archive) -> Iterator[str]:
    """The reader (`serve`) over ``archive`` on a free loopback port, in a thread; yields its address, ending in /."""
    from newsarchive.web.app import make_server

    http = make_server(archive, "127.0.0.1", 0)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/"
    finally:
        http.shutdown()
        http.server_close()
