"""``newsarchive serve``: the reader over HTTP, from the archive as it is now.

A small threaded server from the standard library is enough for a reader on one machine (it binds to
127.0.0.1 unless told otherwise); each thread keeps its own connection to the index. Every answer
carries a Content-Security-Policy that allows scripts only from the server itself.
"""

from __future__ import annotations

import errno
import logging
import queue
import re
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigError
from ..store.store import Store
from ..times import OFFSET_MS, day_number
from . import digest, status
from .pages import DIFF_PAGE, HOME, SEARCH, STATIC_FILES, Pages, content_security_policy

log = logging.getLogger(__name__)

_OUTLET = re.compile(r"^outlets/([^/]+)/(?:index\.html|page-([1-9][0-9]{0,8})\.html)?$")
_MEDIA = re.compile(r"^media/[0-9a-f]{2}/[0-9a-f]{64}\.(?:jpg|png|gif|webp|avif)$")
_MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif"}
_TYPES = {
    ".svg": "image/svg+xml",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".xml": "application/atom+xml; charset=utf-8",
}


class Reader:
    """Answers one request path with (status, content type, body). The server starts a thread per request,
    so ready ``Pages`` (each with its index connection) wait in a pool between requests."""

    def __init__(self, open_archive: Callable[[], Store]) -> None:
        self._open_archive = open_archive
        self._idle: queue.LifoQueue[Pages] = queue.LifoQueue()

    def answer(self, target: str) -> tuple[int, str, bytes]:
        try:
            pages = self._idle.get_nowait()
        except queue.Empty:
            pages = Pages(self._open_archive(), static=False)
        try:
            return self._answer(pages, target)
        finally:
            self._idle.put(pages)

    def close(self) -> None:
        """Close the idle pages' index connections (SQLite then removes the WAL files it made to read)."""
        while True:
            try:
                self._idle.get_nowait().archive.close()
            except queue.Empty:
                return

    def _answer(self, pages: Pages, target: str) -> tuple[int, str, bytes]:
        parts = urlsplit(target)
        path = unquote(parts.path).lstrip("/")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        html = "text/html; charset=utf-8"
        if path in ("", HOME):
            return 200, html, pages.home().encode()
        if path.startswith("api/"):
            from . import api

            return api.answer(pages, path, query)
        if path == SEARCH:
            number = query.get("page", "1")
            return (
                200,
                html,
                pages.search(
                    query.get("q", "").strip(),
                    source=query.get("source", ""),
                    since=query.get("since", ""),
                    until=query.get("until", ""),
                    sort=query.get("sort", "relevance"),
                    number=int(number) if number.isdigit() and 0 < int(number) < 1000 else 1,
                ).encode(),
            )
        if path.startswith("static/") and path.removeprefix("static/") in STATIC_FILES:
            name = path.removeprefix("static/")
            return 200, _TYPES[Path(name).suffix], resources.files(__package__).joinpath("static", name).read_bytes()
        if path == status.HEALTH:
            return 200, html, status.health_page(pages, int(time.time() * 1000)).encode()
        if path == status.TAKEDOWNS:
            return 200, html, status.takedowns_page(pages).encode()
        if path in ("digest/", digest.DIGEST_INDEX):
            return 200, html, digest.index_page(pages, pages.archive.index.days(OFFSET_MS)).encode()
        if (match := digest.DAY_PAGE.match(path)) and (day := day_number(match[1])) is not None:
            page = digest.served_day(pages, day)
            if page is not None:
                return 200, html, page.encode()
        if path.startswith("feeds/") and path.endswith(".xml"):
            from ..publish import feeds

            if path == digest.DIGEST_FEED:
                return 200, _TYPES[".xml"], feeds.digest_feed(pages.archive)
            if path == status.TAKEDOWNS_FEED:
                return 200, _TYPES[".xml"], feeds.takedowns_feed(pages.archive)
            feed = feeds.atom_feed(pages.archive, path.removeprefix("feeds/").removesuffix(".xml"))
            if feed is not None:
                return 200, _TYPES[".xml"], feed
        if match := _OUTLET.match(path):
            page = pages.outlet(match[1], int(match[2]) if match[2] else None)
            if page is not None:
                return 200, html, page.encode()
        if DIFF_PAGE.match(path) and ".." not in path.split("/"):  # any two versions the reader chose: ?from=<id>&to=<id>
            page = pages.diff(path, query.get("from"), query.get("to"))
            if page is not None:
                return 200, html, page.encode()
        if path.endswith(".html") and path.startswith(("articles/", "revisions/")) and ".." not in path.split("/"):
            page = pages.article(path)
            if page is not None:
                return 200, html, page.encode()
        if _MEDIA.match(path):  # an image kept by media.py: the name says its type (sniffed from the bytes when stored)
            try:
                return 200, _MEDIA_TYPES[Path(path).suffix], (pages.archive.root / path).read_bytes()
            except OSError:
                pass
        # Its link home climbs as many folders as the path has: never fewer than the browser's address (which a %2F
        # can only make shallower), and climbing past the top stays at the top.
        return 404, html, pages.not_found(path).encode()


class NoLookupHTTPServer(ThreadingHTTPServer):
    """The standard library's threaded server, without the look-up of the host's full name (``socket.getfqdn``) that
    ``HTTPServer.server_bind`` makes: a reverse DNS query, sent off the machine where the hosts file does not answer."""

    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


def make_server(archive: Store, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server for ``archive`` bound to ``host:port`` (port 0: any free one); call ``serve_forever()``."""
    root, settings, kind = archive.root, archive.settings, type(archive)
    reader = Reader(lambda: kind(root, settings, read_only=True))
    csp = content_security_policy(settings.site.remote_images) + "; frame-ancestors 'none'"

    class Handler(BaseHTTPRequestHandler):
        server_version = "newsarchive"

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def _answer(self, *, with_body: bool) -> None:
            try:
                status, kind, body = reader.answer(self.path)
            except Exception:
                log.exception("%s: could not make this page", self.path)
                status, kind, body = 500, "text/plain; charset=utf-8", "出错了。Something went wrong: see the server's log.\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "max-age=3600" if self.path.startswith(("/static/", "/media/")) else "no-cache")
            self.end_headers()
            if with_body:
                self.wfile.write(body)

    class Server(NoLookupHTTPServer):
        def server_close(self) -> None:
            super().server_close()
            reader.close()

    try:
        return Server((host, port), Handler)
    except OSError as exc:  # socket.gaierror too: a host name that does not resolve
        raise _bind_error(host, port, exc) from exc


def _bind_error(host: str, port: int, error: OSError) -> ConfigError:
    """Why the reader cannot listen on ``host:port``, naming the option to change."""
    reason = error.strerror or str(error)
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"--host {host}: cannot listen there ({reason})", hint="give an address of this machine, such as 127.0.0.1 or 0.0.0.0"
        )
    if error.errno == errno.EADDRINUSE:
        return ConfigError(
            f"--port {port}: {host}:{port} is already in use by another program", hint="choose another port (--port 0: any free one)"
        )
    if error.errno == errno.EACCES:
        return ConfigError(f"--port {port}: not allowed to listen on {host}:{port} ({reason})", hint="choose a port above 1023")
    return ConfigError(f"cannot listen on {host}:{port}: {reason}", hint="check --host and --port")


def serve_replica(
    url: str,
    cache: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    every: float = 2.0,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the reader on any machine from the archive whose index is in the PostgreSQL database ``url``: its files
    copied into ``cache`` from the outbox, at the start and then every ``every`` seconds (``store/replica.py``)."""
    from ..store.replica import Replica

    with Replica.open(url, cache) as replica:
        applied = replica.catch_up()
        log.info("%s: %d files copied from the outbox", cache, applied)
        stop = threading.Event()

        def follow() -> None:
            said = None
            while not stop.wait(every):
                try:
                    replica.catch_up()
                    said = None
                except Exception as exc:  # the database away, or its index being rebuilt: serve what we have, say so once
                    if str(exc) != said:
                        log.warning("the copy could not catch up (it tries again every %g s): %s", every, exc)
                        said = str(exc)

        follower = threading.Thread(target=follow, name="replica", daemon=True)
        follower.start()
        try:
            serve(replica.store(), host, port, on_ready=on_ready)
        finally:
            stop.set()
            follower.join()


def serve(archive: Store, host: str = "127.0.0.1", port: int = 8000, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the reader until interrupted."""
    server = make_server(archive, host, port)
    address = f"http://{host if ':' not in host else f'[{host}]'}:{server.server_address[1]}/"
    if on_ready:
        on_ready(address)
    if threading.current_thread() is threading.main_thread():  # stopped by a service manager: as by Ctrl-C
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
