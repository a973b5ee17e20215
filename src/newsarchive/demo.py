"""The built-in demo: sample outlets of our own, served on this machine, archived for real.

Everything the sample feeds point to (article pages, images) is at ``http://127.0.0.1/...`` and is served by the
demo's own server, which the demo archive uses as its proxy (``fetch.proxy``): every request the demo and that
archive make goes to 127.0.0.1, and a request for any other address is refused there, not forwarded. Addresses are
IP literals, so no name is ever looked up. The links stay the same from one demo run to the next (only the proxy's
port changes), so running the demo again updates its archive without duplicates.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from html import escape
from http.server import BaseHTTPRequestHandler
from importlib.resources import as_file, files
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .archive import Archive
from .config import CONFIG_FILE, render_config
from .errors import ConfigError
from .models import FeedItem
from .parse import parse_feed
from .sources import Source
from .web.app import NoLookupHTTPServer

# Where the sample outlets live. Reached through the demo's server (a proxy), whatever port that listens on.
DEMO_ORIGIN = "http://127.0.0.1"
# slug -> (display name, sample feed)
DEMO_OUTLETS = {"rfi": ("法广", "rfi.xml"), "dw": ("德国之声", "dw.xml"), "bbc": ("BBC", "bbc.xml"), "cdt": ("中国数字时代", "cdt.xml")}
DEMO_MARK = "# A demo archive, made by `newsarchive demo`."

Routes = Mapping[str, tuple[str, bytes]]  # path -> (content type, body)


def demo_sources() -> tuple[Source, ...]:
    # allow_private: the pages and images the sample feeds point to are on 127.0.0.1
    return tuple(
        Source(name=name, slug=slug, feeds=(f"{DEMO_ORIGIN}/feeds/{file}",), allow_private=True)
        for slug, (name, file) in DEMO_OUTLETS.items()
    )


def demo_config(proxy: str) -> str:
    """The demo archive's newsarchive.toml: the sample outlets only, every request through the demo's server."""
    header = (
        f"{DEMO_MARK} Its outlets are the demo's samples, served on this machine\n"
        "# only while `newsarchive demo` runs: run it again to update this archive. For real outlets, make another\n"
        "# archive with `newsarchive init DIR`.\n"
    )
    confined = (
        "[fetch]\n"
        "# Every request goes to the demo's server on this machine, which serves the samples and nothing else, so that\n"
        "# nothing in this archive reaches another machine. `newsarchive demo` sets the port each time it runs; when it\n"
        "# is not running, nothing answers there, and trying again would not help.\n"
        f'proxy = "{proxy}"\n'
        "retries = 0\n"
    )
    return header + render_config(demo_sources(), title="抓取新闻媒体文章（演示）").replace("[fetch]\n", confined, 1)


def demo_archive(root: Path, proxy: str) -> Archive:
    """Make ``root`` the demo archive (or refresh one made before), its requests confined to ``proxy``. An archive
    that is not a demo is refused: the demo never adds its samples to real news."""
    root = root.resolve()
    config = root / CONFIG_FILE
    if config.is_file() and not config.read_text(encoding="utf-8", errors="replace").startswith(DEMO_MARK):
        raise ConfigError(
            f"{root} is an archive of real outlets: the demo writes only into a new folder or into its own demo archive",
            hint="give another folder: newsarchive demo demo-archive",
        )
    root.mkdir(parents=True, exist_ok=True)
    config.write_text(demo_config(proxy), encoding="utf-8")
    Archive.init(root).close()
    # The flag's place in the precedence: a NEWSARCHIVE_PROXY of the user's cannot take the demo's requests elsewhere.
    return Archive.open(root, overrides={"fetch.proxy": proxy})


def _page(item: FeedItem) -> bytes:
    title = escape(item.title)
    return (
        f'<!DOCTYPE html>\n<html lang="zh"><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body><article><h1>{title}</h1>\n{item.body}\n</article></body></html>\n"
    ).encode()


def sample_routes(folder: Path) -> Routes:
    """What the demo's server answers: the feeds, their images, and a page for each article holding its text (so a
    recheck of the page finds the article there)."""
    routes = {f"/images/{path.name}": ("image/png", path.read_bytes()) for path in folder.glob("images/*.png")}
    for path in folder.glob("*.xml"):
        routes[f"/feeds/{path.name}"] = ("application/xml", data := path.read_bytes())
        for item in parse_feed(data).items:
            if item.link:
                routes[unquote(urlsplit(item.link).path)] = ("text/html; charset=utf-8", _page(item))
    return routes


class _Handler(BaseHTTPRequestHandler):
    """Answers requests for the samples, sent to it directly or as a proxy (absolute address); refuses the rest."""

    protocol_version = "HTTP/1.1"
    server: _SampleServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_CONNECT(self) -> None:  # a tunnel would lead to another host
        self._send(403, "text/plain", b"the newsarchive demo serves only its samples\n")

    def _answer(self, *, with_body: bool) -> None:
        target = urlsplit(self.path)
        if target.netloc and (target.scheme, target.hostname, target.port) not in {("http", "127.0.0.1", None), ("http", "127.0.0.1", 80)}:
            self._send(403, "text/plain", f"the newsarchive demo serves only {DEMO_ORIGIN}/, never forwards\n".encode())
            return
        route = self.server.routes.get(unquote(target.path))
        if route is None:
            self._send(404, "text/plain", b"not a sample of the newsarchive demo\n")
            return
        content_type, body = route
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if self.headers.get("If-None-Match") == etag:
            self._send(304, content_type, b"", etag=etag)
        else:
            self._send(200, content_type, body, etag=etag, with_body=with_body)

    def _send(self, status: int, content_type: str, body: bytes, *, etag: str | None = None, with_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        if with_body:
            self.wfile.write(body)


class _SampleServer(NoLookupHTTPServer):
    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        super().__init__(("127.0.0.1", 0), _Handler)


@contextmanager
def serve_samples() -> Iterator[str]:
    """Serve the samples on 127.0.0.1 and yield the server's address, for ``fetch.proxy``."""
    with as_file(files("newsarchive") / "data" / "samples") as folder:
        routes = sample_routes(folder)
    server = _SampleServer(routes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
