"""Images kept in the archive: an image server over loopback (good image, oversize, wrong type, SVG, 404, slow,
1x1 pixel), content-addressed storage, retries with backoff, stats, prune and reindex."""

from __future__ import annotations

import struct
import threading
import urllib.request
import zlib
from pathlib import Path
from urllib.error import HTTPError

import pytest

from newsarchive import media
from newsarchive.archive import Archive
from newsarchive.config import FetchConfig, MediaConfig, Settings
from newsarchive.errors import ConfigError
from newsarchive.index.images import MEDIA_DUE
from newsarchive.pipeline import update
from newsarchive.sources import Source

from .conftest import FeedServer, item, rss, serving

FAST = FetchConfig(connect_timeout=2, read_timeout=1, total_timeout=1.5, retries=0, backoff=0.01)


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid PNG written on the spot; ``seed`` makes distinct bytes of the same size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([seed % 256, 0, 0]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200) + b"\xff\xd9"
PIXEL_GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
PIXEL_GIF += b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def make_archive(root: Path, feed: str, *, media_config: MediaConfig | None = None) -> Archive:
    Archive.init(root).close()
    outlet = Source(name="NEWS", slug="news", feeds=(feed,), allow_private=True)
    return Archive.open(root, settings=Settings(sources=(outlet,), fetch=FAST, media=media_config or MediaConfig()))


def images(*addresses: str) -> str:
    return "<p>正文。</p>" + "".join(f'<img src="{address}" alt="图">' for address in addresses)


@pytest.fixture
def image_server(server: FeedServer) -> FeedServer:
    server.add("/good.png", png(4, 3), headers={"Content-Type": "image/jpeg"})  # the header lies: the bytes decide
    server.add("/same.png", png(4, 3))  # the same bytes under another address
    server.add("/photo.jpg", JPEG, headers={"Content-Type": "text/html"})
    server.add("/big.png", png(400, 400, seed=7) + bytes(300_000))
    server.add("/page.png", b"<html><body>not an image</body></html>", headers={"Content-Type": "image/png"})
    server.add("/logo.svg", SVG, headers={"Content-Type": "image/svg+xml"})
    server.add("/slow.png", png(5, 5), delay=3)
    server.add("/p1.gif", PIXEL_GIF)
    return server


def test_images_are_kept_by_content_with_failures_remembered(tmp_path: Path, image_server: FeedServer) -> None:
    base = image_server.base
    body = images(*(f"{base}/{name}" for name in ("good.png", "same.png", "photo.jpg", "big.png", "page.png", "logo.svg", "missing.png")))
    body += images(f"{base}/slow.png", f"{base}/p1.gif")
    feed = image_server.add("/feed.xml", rss(item(1, body=body)))
    with make_archive(tmp_path / "a", feed, media_config=MediaConfig(max_image_bytes=100_000)) as archive:
        report = update(archive)
        assert report.sources[0].new == 1 and report.sources[0].error is None  # images never fail the article
        index = archive.index
        good, same, photo = (index.media_row(f"{base}/{name}") for name in ("good.png", "same.png", "photo.jpg"))
        assert good is not None and same is not None and photo is not None
        assert good.status == media.OK and good.ext == "png" and good.path == same.path  # stored once
        assert photo.ext == "jpg"
        assert good.path is not None and (archive.root / good.path).read_bytes() == png(4, 3)
        assert good.path.startswith(f"media/{good.sha256[:2]}/")  # type: ignore[index]
        for name, words in (("big.png", "more than the 100,000"), ("page.png", "not a JPEG"), ("logo.svg", "SVG"), ("missing.png", "404")):
            row = index.media_row(f"{base}/{name}")
            assert row is not None and row.status == media.FAILED and words in (row.last_error or ""), (name, row)
        oversize = index.media_row(f"{base}/big.png")
        missing = index.media_row(f"{base}/missing.png")
        slow = index.media_row(f"{base}/slow.png")
        assert oversize is not None and oversize.next_try_ms is None  # final: never tried again
        assert missing is not None and missing.next_try_ms is not None  # retried later, with backoff
        assert slow is not None and slow.status == media.FAILED and slow.next_try_ms is not None
        pixel = index.media_row(f"{base}/p1.gif")
        assert pixel is not None and pixel.status == media.SKIPPED
        assert not list((archive.root / "media").rglob("*.gif"))
        figures = archive.media_stats()
        assert (figures.images, figures.failed, figures.skipped, figures.pending) == (2, 5, 1, 0)


def test_a_failed_image_is_retried_after_its_backoff(tmp_path: Path, server: FeedServer) -> None:
    address = f"{server.base}/later.png"
    feed = server.add("/feed.xml", rss(item(1, body=images(address))))
    clock = [1_800_000_000.0]
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive, clock=lambda: clock[0])
        first = archive.index.media_row(address)
        assert first is not None and first.failures == 1 and first.next_try_ms == int(clock[0] * 1000) + media.RETRY_FIRST_MS
        server.add("/later.png", png(2, 2))
        clock[0] += 60  # too early: not tried
        update(archive, clock=lambda: clock[0])
        assert server.routes["/later.png"].hits == 0
        clock[0] += media.RETRY_FIRST_MS / 1000
        update(archive, clock=lambda: clock[0])
        row = archive.index.media_row(address)
        assert row is not None and row.status == media.OK and row.failures == 0


def test_per_run_budget_leaves_the_rest_for_the_next_run(tmp_path: Path, server: FeedServer) -> None:
    addresses = [server.add(f"/{n}.png", png(50, 50, seed=n)) for n in range(30)]
    feed = server.add("/feed.xml", rss(*(item(n, body=images(address)) for n, address in enumerate(addresses))))
    size = len(png(50, 50))
    with make_archive(tmp_path / "a", feed, media_config=MediaConfig(max_run_bytes=2 * size)) as archive:
        update(archive)
        first = archive.media_stats()  # the cap can be passed by the images already in flight, no more
        assert 2 <= first.images <= 2 + media.IN_FLIGHT and first.images + first.pending == 30
        for _ in range(14):  # at least two a run
            update(archive)
        assert archive.media_stats().images == 30


def test_images_not_tried_yet_are_queued_in_an_older_index_and_after_a_reindex(tmp_path: Path, server: FeedServer) -> None:
    addresses = [server.add(f"/{n}.png", png(50, 50, seed=n)) for n in range(12)]
    feed = server.add("/feed.xml", rss(*(item(n, body=images(address)) for n, address in enumerate(addresses))))
    with make_archive(tmp_path / "a", feed, media_config=MediaConfig(max_run_bytes=2 * len(png(50, 50)))) as archive:
        update(archive)
        first = archive.media_stats()
        assert first.pending > 0 and first.images + first.pending == 12
        with archive.index.atomic():  # an index from before the queue
            archive.index.db.execute("DELETE FROM media_queue")
            archive.index.db.execute("DELETE FROM meta WHERE key = 'media:queue'")
        assert archive.media_stats() == first
        archive.reindex()
        assert archive.media_stats() == first
        # Each run reads the queue and the failed images due, never every address that articles show.
        plan = [step[-1].split() for step in archive.index.db.execute("EXPLAIN QUERY PLAN " + MEDIA_DUE, (0, 10)).fetchall()]
        assert not [step for step in plan if step[0] == "SCAN" and step[1] not in ("q", "d")], plan  # the queue and what it gives
        for _ in range(10):
            update(archive)
        assert archive.media_stats().images == 12 and archive.media_stats().pending == 0


def test_addresses_an_article_no_longer_shows_leave_the_queue(tmp_path: Path, server: FeedServer) -> None:
    feed = server.add("/feed.xml", rss(item(1, body=images("https://img.example.invalid/0.png"))))
    with make_archive(tmp_path / "a", feed, media_config=MediaConfig(enabled=False)) as archive:
        update(archive)
        row = next(archive.index.articles())
        for n in range(10):  # signed addresses that change with every version
            with archive.index.atomic():
                archive.index.set_article_images(row.rowid, [f"https://img.example.invalid/{n}.png?sig={n}"])
        assert archive.index.media_due(0, 5) == [("https://img.example.invalid/9.png?sig=9", {"news"})]
        assert archive.media_stats().pending == 1


def test_a_new_version_stored_while_images_were_off_has_its_images_read_later(tmp_path: Path, server: FeedServer) -> None:
    first, second = server.add("/first.png", png(3, 3)), server.add("/second.png", png(3, 3, seed=5))
    feed = server.add("/feed.xml", rss(item(1, body=images(first))))
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive)
        assert archive.media_stats().images == 1
    server.add("/feed.xml", rss(item(1, body=images(second))))  # a new version, stored with images off
    outlet = Source(name="NEWS", slug="news", feeds=(feed,), allow_private=True)
    with Archive.open(tmp_path / "a", settings=Settings(sources=(outlet,), fetch=FAST, media=MediaConfig(enabled=False))) as off:
        assert update(off).sources[0].updated == 1
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive)  # nothing new: the backfill reads the new version's images
        row = archive.index.media_row(second)
        assert row is not None and row.status == media.OK


def test_prune_removes_only_what_no_article_shows_and_reindex_keeps_media(tmp_path: Path, server: FeedServer) -> None:
    kept, dropped = server.add("/kept.png", png(3, 3)), server.add("/dropped.png", png(3, 3, seed=9))
    feed = server.add("/feed.xml", rss(item(1, body=images(kept, dropped))))
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive)
        kept_row, dropped_row = archive.index.media_row(kept), archive.index.media_row(dropped)
        assert kept_row is not None and dropped_row is not None and kept_row.path and dropped_row.path
        row = archive.index.article_at("articles/news/1048575.md") or next(archive.index.articles())
        archive.index.set_article_images(row.rowid, [kept])  # as if the article's new version showed one image only
        (archive.root / "media" / "zz").mkdir()
        (archive.root / "media" / "zz" / ("x.png" + ".newsarchive-tmp")).write_bytes(b"half")
        dry = archive.prune_media()
        assert sorted(dry.files) == sorted([dropped_row.path, "media/zz/x.png.newsarchive-tmp"]) and dry.rows == 1
        assert (archive.root / dropped_row.path).exists()  # a dry run removes nothing
        archive.prune_media(dry_run=False)
        assert not (archive.root / dropped_row.path).exists() and (archive.root / kept_row.path).exists()
        assert archive.index.media_row(dropped) is None
        archive.reindex()
        assert archive.index.media_row(kept) == kept_row  # operational memory survives a rebuild of the index
        assert archive.index.article_images(next(archive.index.articles()).rowid) == [kept]


def test_sniffing_and_settings() -> None:
    assert media.sniff(JPEG) == "jpg" and media.sniff(png(1, 1)) == "png" and media.sniff(PIXEL_GIF) == "gif"
    assert media.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert media.sniff(b"\x00\x00\x00\x1cftypavif\x00\x00") == "avif"
    assert media.sniff(SVG) is None and media.dimensions(PIXEL_GIF, "gif") == (1, 1)
    with pytest.raises(media.MediaError, match="SVG"):
        media.check_image(SVG, "https://news.example.org/a.svg")
    with pytest.raises(ConfigError, match=r"media\.max_run_bytes"):
        MediaConfig(max_run_bytes=0)


def test_reader_and_site_show_the_local_copy_and_fall_back_to_the_original(tmp_path: Path, server: FeedServer) -> None:
    kept, later = server.add("/kept.png", png(6, 6)), f"{server.base}/later.png"
    feed = server.add("/feed.xml", rss(item(1, body=images(kept, later))))
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive)
        row = next(archive.index.articles())
        stored = archive.index.media_row(kept)
        assert stored is not None and stored.path is not None
        with serving(archive) as base:
            page = urllib.request.urlopen(base + row.path.removesuffix(".md") + ".html", timeout=10).read().decode()
            assert f'src="../../{stored.path}"' in page and f'href="{kept}"' in page  # the copy, linking to the original
            assert f'href="{later}"' in page and f'src="{later}"' not in page  # not kept: a link (remote_images is off)
            with urllib.request.urlopen(base + stored.path, timeout=10) as answer:
                assert answer.headers["Content-Type"] == "image/png" and answer.headers["X-Content-Type-Options"] == "nosniff"
                assert answer.read() == png(6, 6)
            with pytest.raises(HTTPError):
                urllib.request.urlopen(base + "media/../newsarchive.toml", timeout=10)
        out = tmp_path / "site"
        archive.build_site(out)
        article_page = out / (row.path.removesuffix(".md") + ".html")
        assert (out / stored.path).read_bytes() == png(6, 6)
        assert f'src="../../{stored.path}"' in article_page.read_text(encoding="utf-8")
        server.add("/later.png", png(7, 7))  # downloaded by a later run: the article page is written again
        archive.index.save_media(media.MediaRow(later, None, None, None, media.FAILED, 1, 0, "404"))
        update(archive)
        again = archive.build_site(out)
        assert again.written >= 2 and f'src="{later}"' not in article_page.read_text(encoding="utf-8")
        assert article_page.read_text(encoding="utf-8").count('src="../../media/') == 2


def test_media_command(tmp_path: Path, server: FeedServer) -> None:
    from typer.testing import CliRunner

    from newsarchive.cli import app

    feed = server.add("/feed.xml", rss(item(1, body=images(server.add("/a.png", png(3, 3))))))
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive)
        archive.index.set_article_images(next(archive.index.articles()).rowid, [])
    runner = CliRunner()
    stats = runner.invoke(app, ["media", "--stats", "--archive", str(tmp_path / "a")])
    assert stats.exit_code == 0 and "1 images" in stats.output, stats.output
    dry = runner.invoke(app, ["media", "--prune", "--archive", str(tmp_path / "a")])
    assert dry.exit_code == 0 and "would remove" in dry.output and len(list((tmp_path / "a" / "media").rglob("*.png"))) == 1
    done = runner.invoke(app, ["media", "--prune", "--yes", "--archive", str(tmp_path / "a")])
    assert done.exit_code == 0 and "removed: 1 files" in done.output and not list((tmp_path / "a" / "media").rglob("*.png"))


def jpeg(width: int, height: int) -> bytes:
    """A valid baseline greyscale JPEG (every 8x8 block flat grey), built by hand: SOI, APP0, DQT, SOF0, DHT, SOS."""

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    one_code = b"\x01" + bytes(15) + b"\x00"  # one Huffman code, of length 1, for the symbol 0
    bits = "00" * (-(-width // 8) * -(-height // 8))  # per block: DC difference 0, then end of block
    bits += "1" * (-len(bits) % 8)
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
            segment(0xC4, b"\x00" + one_code + b"\x10" + one_code),
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            bytes(int(bits[at : at + 8], 2) for at in range(0, len(bits), 8)),
            b"\xff\xd9",
        ]
    )


# What Pillow 13 writes for a flat colour: lossy (VP8), lossless (VP8L) and with alpha (VP8X), 1x1 and 3x2.
_VP8 = "524946463600000057454250565038202a0000009001009d012a{}0002c04c25a00274ba00039800feed903f885dec6dbffcf4cfeb6fe3ff19000000"
_VP8L = "524946461e000000574542505650384c110000002f{}0007508f22d7a3ff8188e87f0000"
WEBP = {
    ("VP8 ", 1): bytes.fromhex(_VP8.format("01000100")),
    ("VP8 ", 3): bytes.fromhex(_VP8.format("03000200")),
    ("VP8L", 1): bytes.fromhex(_VP8L.format("000000")),
    ("VP8L", 3): bytes.fromhex(_VP8L.format("024000")),
    ("VP8X", 1): bytes.fromhex(
        "524946465200000057454250565038580a00000010000000000000000000414c5048020000000080565038202a0000009001009d012a"
        "0100010002c04c25a00274ba00039800feed903f885dec6dbffcf4cfeb6fe3ff19000000"
    ),
    ("VP8X", 3): bytes.fromhex(
        "524946465800000057454250565038580a00000010000000020000010000414c5048070000000080808080808000565038202a0000009001"
        "009d012a0300020002c04c25a00274ba00039800feed903f885dec6dbffcf4cfeb6fe3ff19000000"
    ),
}


def test_jpeg_and_webp_dimensions() -> None:
    for width, height in ((1, 1), (3, 2), (20, 17), (640, 480)):
        assert media.dimensions(jpeg(width, height), "jpg") == (width, height)
    progressive = jpeg(5, 4).replace(b"\xff\xc0", b"\xff\xc2")
    assert media.dimensions(progressive, "jpg") == (5, 4)
    padded = jpeg(1, 1).replace(b"\xff\xdb", b"\xff\xff\xff\xdb")  # fill bytes before a marker
    assert media.dimensions(padded, "jpg") == (1, 1)
    assert media.dimensions(JPEG, "jpg") is None  # no frame header: not known, so kept
    for (kind, size), data in WEBP.items():
        assert data[12:16] == kind.encode() and media.sniff(data) == "webp"
        assert media.dimensions(data, "webp") == ((1, 1) if size == 1 else (3, 2)), kind


def test_truncated_and_hostile_jpeg_and_webp_never_raise() -> None:
    import random

    whole = jpeg(3, 2)
    for end in range(len(whole)):
        assert media.dimensions(whole[:end], "jpg") in (None, (3, 2))
    for data in WEBP.values():
        for end in range(len(data)):
            assert media.dimensions(data[:end], "webp") in (None, (1, 1), (3, 2))
    hostile = [
        b"\xff\xd8" + b"\xff" * 1_000_000,  # fill bytes without end: stops after a bounded number of steps
        b"\xff\xd8\xff\xe0\x00\x00" + bytes(100),  # a length of 0 would not move forward
        b"\xff\xd8\xff\xe0\x00\x01\xff\xc0",  # nor would 1
        b"\xff\xd8\xff\xe0\xff\xff" + bytes(10),  # a length past the end
        b"\xff\xd8\xff\xc0\x00\x05\x08\x00",  # a frame header too short for its sizes
        b"\xff\xd8\xff\xda\x00\x08" + bytes(100),  # the scan before any frame header
        b"\xff\xd8" + b"\xff\xd0" * 10_000,  # restart markers only
        b"\xff\xd8\x00\xff\xc0\x00\x11\x08\x00\x01\x00\x01",  # not a marker where one must be
    ]
    for data in hostile:
        assert media.dimensions(data, "jpg") is None, data[:12]
    chance = random.Random(5)
    for _ in range(3000):
        data = b"\xff\xd8\xff" + bytes(
            chance.choice((0xFF, 0xC0, 0xD9, 0x00, 0x01, 0x11, chance.randrange(256))) for _ in range(chance.randrange(40))
        )
        size = media.dimensions(data, "jpg")
        assert size is None or all(0 <= side <= 0xFFFF for side in size)
        riff = b"RIFF\x00\x00\x00\x00WEBP" + chance.choice((b"VP8 ", b"VP8L", b"VP8X")) + chance.randbytes(chance.randrange(24))
        media.dimensions(riff, "webp")
    assert media.dimensions(b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20), "webp") is None  # no key frame start code


def test_one_pixel_jpeg_and_webp_are_skipped_and_larger_ones_kept(tmp_path: Path, server: FeedServer) -> None:
    served = {"/p.jpg": jpeg(1, 1), "/k.jpg": jpeg(3, 2), "/cut.jpg": jpeg(3, 2)[:30]}
    for (kind, size), data in WEBP.items():
        served[f"/{kind.strip().lower()}-{size}.webp"] = data
    addresses = {path: server.add(path, data) for path, data in served.items()}
    feed = server.add("/feed.xml", rss(item(1, body=images(*addresses.values()))))
    with make_archive(tmp_path / "a", feed) as archive:
        update(archive)
        status = {path: (row.status, row.ext) for path, address in addresses.items() if (row := archive.index.media_row(address))}
    assert status == {
        "/p.jpg": (media.SKIPPED, "jpg"),
        "/k.jpg": (media.OK, "jpg"),
        "/cut.jpg": (media.OK, "jpg"),  # truncated before its frame header: size unknown, kept as served
        "/vp8-1.webp": (media.SKIPPED, "webp"),
        "/vp8-3.webp": (media.OK, "webp"),
        "/vp8l-1.webp": (media.SKIPPED, "webp"),
        "/vp8l-3.webp": (media.OK, "webp"),
        "/vp8x-1.webp": (media.SKIPPED, "webp"),
        "/vp8x-3.webp": (media.OK, "webp"),
    }


class EndlessImage:
    """Serves a large PNG over loopback without Content-Length (so only reading it shows its size), counting the
    bytes the client took before it hung up."""

    SIZE = 64 * 1024 * 1024  # far more than loopback buffers hold (a few MiB)

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.sent = 0
        self.done = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                chunk = png(4, 4) + bytes(64 * 1024)
                try:
                    while owner.sent < owner.SIZE:
                        self.wfile.write(chunk)
                        owner.sent += len(chunk)
                except OSError:
                    pass  # the client stopped reading: what the test wants
                finally:
                    owner.done.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/huge.png"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_oversize_image_is_cut_off_while_downloading(tmp_path: Path, server: FeedServer) -> None:
    huge = EndlessImage()
    try:
        small = server.add("/small.png", png(4, 4))
        feed = server.add("/feed.xml", rss(item(1, body=images(huge.url, small))))
        config = MediaConfig(max_image_bytes=200_000)
        with make_archive(tmp_path / "a", feed, media_config=config) as archive:
            update(archive)
            assert huge.done.wait(10)
            row = archive.index.media_row(huge.url)
            assert row is not None and row.status == media.FAILED and "more than the 200,000 bytes" in (row.last_error or "")
            assert row.next_try_ms is None  # final, as when it was measured after the download
            kept = archive.index.media_row(small)
            assert kept is not None and kept.status == media.OK  # the cap applies to each image, not to the run
        assert huge.sent < EndlessImage.SIZE // 4, huge.sent  # the rest was never sent: the client hung up
    finally:
        huge.close()


def import_folder(root: Path, base: str, articles: dict[int, int | str]) -> Path:
    """A duty-machine archive: file id -> pub_ms ("NaN": no date); article <id> shows the image <base>/old<id>.png."""
    for number, pub_ms in articles.items():
        path = root / "articles" / "news" / f"{number}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = images(f"{base}/old{number}.png")
        path.write_text(f"<!--{pub_ms}-->\n[旧文{number}](https://news.example.org/old/{number})\n------\n\n{body}\n", encoding="utf-8")
    return root


def images_read(archive: Archive) -> set[str]:
    """The image addresses registered for the archive's articles."""
    return {url for row in archive.index.articles() for url in archive.index.article_images(row.rowid)}


def test_backfill_reads_older_articles_newest_first_within_its_bound(tmp_path: Path, server: FeedServer) -> None:
    base = server.base
    day = 86_400_000
    old = {1040000 + n: 1_700_000_000_000 + n * day for n in range(6)} | {1039000: "NaN"}  # 1040005 is the newest
    for number in old:
        server.add(f"/old{number}.png", png(3, 3, seed=number % 250))
    fresh = server.add("/new1.png", png(5, 5))
    feed = server.add("/feed.xml", rss(item(1, body=images(fresh))))
    with make_archive(tmp_path / "a", feed, media_config=MediaConfig(backfill_per_run=3)) as archive:
        archive.import_from(import_folder(tmp_path / "old", base, old))
        assert archive.index.count_images_unread() == 7 and images_read(archive) == set()
        update(archive)  # the run's own article, and the three newest imported ones
        expected = {fresh} | {f"{base}/old{n}.png" for n in (1040005, 1040004, 1040003)}
        assert images_read(archive) == expected
        assert all((row := archive.index.media_row(url)) and row.status == media.OK for url in expected)
        place = archive.index.meta(media.BACKFILL_KEY)  # where the next run goes on from: each run costs its bound only
        assert place is not None and place.split()[0] == str(old[1040003])
        edited, added = server.add("/edited.png", png(6, 6)), server.add("/new2.png", png(7, 7))
        server.add("/feed.xml", rss(item(1, body=images(edited)), item(2, body=images(added))))
        update(archive)  # a new article and a new version: read by the run itself; three more older ones
        expected = (expected - {fresh}) | {edited, added} | {f"{base}/old{n}.png" for n in (1040002, 1040001, 1040000)}
        assert images_read(archive) == expected
        update(archive)  # the undated one, last
        expected |= {f"{base}/old1039000.png"}
        assert images_read(archive) == expected and archive.index.count_images_unread() == 0
        hits = {path: route.hits for path, route in server.routes.items()}
        update(archive)  # nothing left: nothing read or fetched again
        assert images_read(archive) == expected and {path: route.hits for path, route in server.routes.items()} == hits | {
            "/feed.xml": hits["/feed.xml"] + 1
        }
        server.add("/old1050000.png", png(3, 3, seed=99))
        archive.import_from(import_folder(tmp_path / "more", base, {1050000: 1_800_000_000_000}))
        update(archive)  # newer than where the backfill stopped: found from the newest again
        assert f"{base}/old1050000.png" in images_read(archive) and archive.index.count_images_unread() == 0
        assert media.backfill(archive, 0) == 0


def test_backfill_off_and_reindex(tmp_path: Path, server: FeedServer) -> None:
    feed = server.add("/feed.xml", rss(item(1)))
    with make_archive(tmp_path / "a", feed, media_config=MediaConfig(backfill_per_run=0)) as archive:
        archive.import_from(import_folder(tmp_path / "old", server.base, {1040000: 1_700_000_000_000, 1040001: "NaN"}))
        update(archive)
        assert images_read(archive) == set() and archive.index.count_images_unread() == 2  # 0: no backfill
        assert media.backfill(archive, 1) == 1 and archive.index.count_images_unread() == 1
        archive.reindex()  # what was read stays read (same files); the rest is still to read
        assert archive.index.count_images_unread() == 1 and images_read(archive) == {f"{server.base}/old1040000.png"}
    with pytest.raises(ConfigError, match=r"media\.backfill_per_run"):
        MediaConfig(backfill_per_run=-1)


def test_an_unreadable_article_does_not_hold_the_backfill_up(tmp_path: Path, server: FeedServer) -> None:
    feed = server.add("/feed.xml", rss(item(1)))
    with make_archive(tmp_path / "a", feed) as archive:
        archive.import_from(import_folder(tmp_path / "old", server.base, {1040000: 1_700_000_000_000, 1040001: 1_600_000_000_000}))
        (archive.root / "articles" / "news" / "1040000.md").write_text("不是文章", encoding="utf-8")  # changed on disk since
        assert media.backfill(archive, 5) == 2 and archive.index.count_images_unread() == 0  # not read again on every run
        assert images_read(archive) == {f"{server.base}/old1040001.png"}


def test_media_backfill_command(tmp_path: Path, server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from newsarchive.cli import app

    Archive.init(tmp_path / "a").close()
    with Archive.open(tmp_path / "a") as archive:
        archive.import_from(import_folder(tmp_path / "old", server.base, {1040000 + n: 1_700_000_000_000 + n for n in range(5)}))
    runner = CliRunner()
    first = runner.invoke(app, ["media", "--backfill", "2", "--archive", str(tmp_path / "a")])
    assert first.exit_code == 0 and "images of 2 articles read; 3 articles left; 2 images not tried yet" in first.output, first.output
    monkeypatch.setattr(media, "BACKFILL_STEP", 2)  # several transactions
    rest = runner.invoke(app, ["media", "--backfill", "100", "--json", "--archive", str(tmp_path / "a")])
    assert rest.exit_code == 0 and json.loads(rest.output) == {"articles": 3, "articles_left": 0, "pending": 5}, rest.output
    assert server.routes == {}  # reading is all it does: the updates download
