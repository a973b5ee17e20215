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
from newsarchive.config import FetchConfig, MediaConfig, Settings
from newsarchive.errors import ConfigError
from newsarchive.pipeline import update
from newsarchive.sources import Source
from newsarchive.store.archive import Archive
from newsarchive.web.app import make_server

from .conftest import FeedServer, item, rss

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
        for name, words in (("big.png", "more than the 100000"), ("page.png", "not a JPEG"), ("logo.svg", "SVG"), ("missing.png", "404")):
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
        http = make_server(archive, "127.0.0.1", 0)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{http.server_address[1]}/"
            page = urllib.request.urlopen(base + row.path.removesuffix(".md") + ".html", timeout=10).read().decode()
            assert f'src="../../{stored.path}"' in page and f'href="{kept}"' in page  # the copy, linking to the original
            assert f'href="{later}"' in page and f'src="{later}"' not in page  # not kept: a link (remote_images is off)
            with urllib.request.urlopen(base + stored.path, timeout=10) as answer:
                assert answer.headers["Content-Type"] == "image/png" and answer.headers["X-Content-Type-Options"] == "nosniff"
                assert answer.read() == png(6, 6)
            with pytest.raises(HTTPError):
                urllib.request.urlopen(base + "media/../newsarchive.toml", timeout=10)
        finally:
            http.shutdown()
            http.server_close()
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
