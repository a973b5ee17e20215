"""The built-in demo: sample feeds of our own, served on a loopback port, archived for real.

It needs no network: the feeds ship inside the package and the HTTP server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import as_file, files

from .sources import Source

# slug -> (display name, sample file)
DEMO_OUTLETS = {"rfi": ("法广", "rfi.xml"), "dw": ("德国之声", "dw.xml"), "bbc": ("BBC", "bbc.xml"), "cdt": ("中国数字时代", "cdt.xml")}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_samples() -> Iterator[tuple[Source, ...]]:
    """Serve the sample feeds on 127.0.0.1 and yield outlets that read them over HTTP."""
    with as_file(files("newsarchive") / "data" / "samples") as folder:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield tuple(Source(name=name, slug=slug, feeds=(f"{base}/{file}",)) for slug, (name, file) in DEMO_OUTLETS.items())
        finally:
            server.shutdown()
            server.server_close()
