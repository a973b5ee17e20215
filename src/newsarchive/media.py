"""Images an article shows, kept in the archive: ``media/ab/<sha256>.<ext>``, each stored once by content.

After the store step of a run, the images of the articles that run stored (and the failed ones that are due
again) are fetched through the run's Fetcher, as untrusted addresses. Each run also reads a bounded number of
older articles whose images were never read (stored before images were kept, imported, or stored while they
were off), newest first: a large imported archive is covered over many runs, none of them long. The type
comes from the bytes, never the header: JPEG, PNG, GIF, WebP and AVIF are kept; SVG is refused (it can carry
script), as is anything else. 1x1 images (tracking pixels, placeholders) are remembered as skipped, not
stored. A failure is retried on later runs with backoff and never touches the article.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import ArticleFileError, FetchError, SourceError
from .index.images import FAILED, MEDIA_DIR, OK, SKIPPED, MediaRow, MediaStats, media_path
from .store.atomic import TMP_SUFFIX, AtomicBatch

if TYPE_CHECKING:
    from .fetch import Fetches
    from .index.backend import IndexBackend
    from .index.images import MediaIndex
    from .index.rows import ArticleRow
    from .store.store import Store

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # defaults of [media] max_image_bytes and max_run_bytes (config.MediaConfig)
MAX_RUN_BYTES = 500 * 1024 * 1024
MAX_IMAGES_PER_RUN = 2000
IN_FLIGHT = 8  # images fetched at once: the per-run byte cap can be passed by at most these (each within its own cap)
RETRY_FIRST_MS = 3600 * 1000  # after the first failure; doubled for each further one
RETRY_MAX_MS = 7 * 24 * 3600 * 1000
MAX_FAILURES = 8  # after this many, an image is no longer tried (its article shows the original address)
BACKFILL_STEP = 500  # articles read in one transaction by `newsarchive media --backfill`
BACKFILL_KEY = "media:backfill"  # meta: "<pub_ms> <rowid>" of the last article the backfill read ("-" for no date)


class MediaError(Exception):
    """Why one image is not kept; ``final`` when trying again would not help (wrong type, too large)."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


def sniff(data: bytes) -> str | None:
    """The file extension for the image format the bytes are in, or None for anything not kept (SVG included)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "avif"
    return None


def dimensions(data: bytes, ext: str) -> tuple[int, int] | None:
    """Width and height where the header gives them cheaply (PNG, GIF, JPEG, WebP), to recognise 1x1 pixels;
    None when they cannot be read. Never raises, whatever the bytes."""
    if ext == "png" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if ext == "gif" and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if ext == "jpg":
        return _jpeg_dimensions(data)
    if ext == "webp":
        return _webp_dimensions(data)
    return None


_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-SOF15 but DHT, JPG and DAC
_JPEG_STEPS = 4096  # markers looked at, at most: a real file reaches its frame header in a few dozen


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """From the frame header (SOFn), reached by walking the segments after SOI. Each step moves forward, and
    there are at most _JPEG_STEPS: hostile bytes (fill bytes without end, lengths below 2) end the walk."""
    at = 2
    for _ in range(_JPEG_STEPS):
        if at + 4 > len(data) or data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # a fill byte before the marker
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length (TEM, RSTn, SOI)
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan, before any frame header
            return None
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if length < 2:
            return None
        if marker in _JPEG_FRAMES:  # length, precision (1 byte), height, width
            if length < 7 or at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    """From the first chunk: VP8 (lossy key frame), VP8L (lossless) or VP8X (extended: the canvas)."""
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF  # the top 2 bits are a scale
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")  # 14 bits width - 1, 14 bits height - 1
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def retry_at(failures: int, now_ms: int) -> int:
    wait: int = min(RETRY_FIRST_MS * 2 ** (failures - 1), RETRY_MAX_MS)
    return now_ms + wait


@dataclass(frozen=True)
class MediaRunReport:
    downloaded: int = 0
    bytes: int = 0
    failed: int = 0
    skipped: int = 0
    left: int = 0  # due images not tried because of the per-run bounds


def check_image(data: bytes, url: str, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """The extension to store the bytes under; MediaError saying why not otherwise."""
    if len(data) > max_bytes:
        raise MediaError(f"{url}: {len(data):,} bytes, more than the {max_bytes:,} an image may have", final=True)
    ext = sniff(data)
    if ext is None:
        kind = "SVG (can carry script)" if b"<svg" in data[:1024].lower() else "not a JPEG, PNG, GIF, WebP or AVIF image"
        raise MediaError(f"{url}: refused: {kind}", final=True)
    return ext


def register_articles(archive: Store, since_ms: int) -> int:
    """Record which images the articles stored since ``since_ms`` show; returns the articles read."""
    index = archive.index
    rows = list(index.changed_since(2**62, since_ms - 1))  # no row id is that high: only the new and changed versions
    with index.atomic():
        return sum(_register(archive, row) for row in rows)


def _register(archive: Store, row: ArticleRow) -> bool:
    from .html import image_urls  # lxml and nh3: here, so that `media --stats` and `--prune` do without them

    try:
        body = archive.read(row).body
    except (OSError, ValueError, ArticleFileError) as exc:  # an unreadable file is the reindex's business, not ours
        log.info("%s: images not registered: %s", row.path, exc)
        return False
    archive.index.set_article_images(row.rowid, image_urls(body, row.link or ""))  # and marks it read
    return True


def backfill(archive: Store, limit: int) -> int:
    """Register the images of up to ``limit`` articles never read, newest first; returns how many were read,
    0 when none is left. Goes on from where the last call stopped (kept in meta), so each call costs about
    ``limit`` articles whatever the archive's size; past the oldest, it starts again from the newest, for
    articles added above that place meanwhile (an import). One transaction."""
    index = archive.index
    if limit < 1:
        return 0
    with index.atomic():  # the place is read and written in one go: a concurrent backfill waits for it
        if index.count_images_unread() == 0:
            return 0
        saved = (index.meta(BACKFILL_KEY) or "").split()
        after = (None if saved[0] == "-" else int(saved[0]), int(saved[1])) if len(saved) == 2 else None
        rows = index.images_unread(limit, after)
        if not rows and after is not None:
            rows = index.images_unread(limit)
        for row in rows:
            if not _register(archive, row):
                index.mark_images_read([row.rowid])  # not tried on every run; a reindex reads it again
        if rows:
            last = rows[-1]
            index.set_meta(BACKFILL_KEY, f"{'-' if last.pub_ms is None else last.pub_ms} {last.rowid}")
    return len(rows)


def backfill_now(archive: Store, articles: int) -> int:
    """`newsarchive media --backfill N`: up to ``articles`` articles, in transactions of BACKFILL_STEP so that a
    concurrent update is not held up long and memory stays flat; returns how many were read."""
    done = 0
    while done < articles and (read := backfill(archive, min(BACKFILL_STEP, articles - done))):
        done += read
    return done


async def download_due(
    archive: Store,
    fetcher: Fetches,
    now_ms: int,
    *,
    max_images: int = MAX_IMAGES_PER_RUN,
    max_run_bytes: int = MAX_RUN_BYTES,
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> MediaRunReport:
    """Fetch the images that are due (never tried, or failed and past their retry time), within the run's bounds,
    store the good ones and remember the rest. Never raises for one image."""
    index = archive.index
    due = index.media_due(now_ms, max_images + 1)
    left = max(0, len(due) - max_images)
    due = due[:max_images]
    private = {source.slug for source in archive.settings.sources if source.allow_private}
    budget = [max_run_bytes]
    results: list[tuple[str, bytes | None, str | None, bool]] = []

    in_flight = asyncio.Semaphore(IN_FLIGHT)
    by_host: dict[str, list[tuple[str, set[str]]]] = {}
    for url, sources in due:
        by_host.setdefault(urlsplit(url).hostname or "", []).append((url, sources))

    async def one(url: str, sources: set[str]) -> str | None:
        """Fetch one image; returns the error when the host could not be reached at all."""
        async with in_flight:
            if budget[0] <= 0:
                return None  # waits for the next run: not a failure
            try:
                try:  # the download stops as soon as the image is too large: it costs at most max_image_bytes
                    result = await fetcher.fetch(url, untrusted=True, allow_private=bool(sources & private), max_bytes=max_image_bytes)
                except FetchError as exc:
                    if exc.over_cap is not None:  # cut off, or refused from its Content-Length: final, as when measured
                        budget[0] -= exc.over_cap  # what it may have cost: oversize images do not escape the run's cap
                        raise MediaError(f"{url}: more than the {exc.over_cap:,} bytes an image may have", final=True) from None
                    raise
                data = result.body or b""
                budget[0] -= len(data)
                check_image(data, url, max_image_bytes)
                results.append((url, data, None, False))
            except MediaError as exc:
                results.append((url, None, str(exc), exc.final))
            except FetchError as exc:
                results.append((url, None, str(exc), False))
                # no connection at all (a slow image, or an HTTP error, says nothing of the host's other images)
                return str(exc) if exc.status is None and ": network error:" in str(exc) else None
            except SourceError as exc:
                results.append((url, None, str(exc), False))
            except Exception as exc:  # whatever it is, only this image is affected
                log.warning("%s: unexpected failure", url, exc_info=True)
                results.append((url, None, f"{url}: unexpected {type(exc).__name__}: {exc}", False))
            return None

    async def host(name: str, images: list[tuple[str, set[str]]]) -> None:
        # One image first: a host that cannot be reached (no such name, refused, timed out) costs one fetch
        # with its retries, not one per image; its other images are tried again on a later run, with backoff.
        unreachable = await _unresolvable(name, fetcher) or await one(*images[0])
        if unreachable is not None:
            rest = images if not any(url == images[0][0] for url, *_ in results) else images[1:]
            results.extend((url, None, f"{url}: not tried: {name} could not be reached ({unreachable})", False) for url, _ in rest)
            return
        await asyncio.gather(*(one(url, sources) for url, sources in images[1:]))

    await asyncio.gather(*(host(name, images) for name, images in by_host.items()))
    return await asyncio.to_thread(_store, archive.root, index, archive.batch(), results, now_ms, left + len(due) - len(results))


async def _unresolvable(name: str, fetcher: Fetches) -> str | None:
    """Why the host name cannot be resolved, when it is resolved here (no proxy); else None. A failed look-up
    takes milliseconds, where a fetch would retry it with backoff."""
    if fetcher.config.proxy or any(key.lower().endswith("_proxy") for key in os.environ):
        return None  # the proxy resolves names (socks5h), or may
    try:
        await asyncio.get_running_loop().getaddrinfo(name, None)
    except OSError as exc:
        return f"the host name was not found: {exc}"
    return None


def _store(
    root: Path, index: IndexBackend, batch: AtomicBatch, results: list[tuple[str, bytes | None, str | None, bool]], now_ms: int, left: int
) -> MediaRunReport:
    rows: list[MediaRow] = []
    written: set[Path] = set()
    downloaded = size = failed = skipped = 0
    for url, data, error, final in results:
        previous = index.media_row(url)
        failures = (previous.failures if previous else 0) + 1
        if data is None:
            failed += 1
            give_up = final or failures >= MAX_FAILURES
            rows.append(MediaRow(url, None, None, None, FAILED, failures, None if give_up else retry_at(failures, now_ms), error))
            continue
        ext = check_image(data, url, len(data))
        digest = hashlib.sha256(data).hexdigest()
        if dimensions(data, ext) == (1, 1):
            skipped += 1
            rows.append(MediaRow(url, digest, ext, len(data), SKIPPED, 0, None, "1x1 image (tracking pixel or placeholder)"))
            continue
        target = root / media_path(digest, ext)
        if target not in written and not target.exists():  # the same bytes under another address are stored once
            batch.write(target, data)
            written.add(target)
        downloaded += 1
        size += len(data)
        rows.append(MediaRow(url, digest, ext, len(data), OK, 0, None, None))
    batch.commit()  # files first: a row never names a file that is not there
    with index.atomic():
        for row in rows:
            index.save_media(row)
    return MediaRunReport(downloaded=downloaded, bytes=size, failed=failed, skipped=skipped, left=left)


async def after_run(archive: Store, fetcher: Fetches, since_ms: int, now_ms: int) -> MediaRunReport | None:
    """The pipeline's step after storing: register the images of what this run stored and of a few older articles
    never read (``backfill``), fetch what is due.
    Never raises: images must not fail a run whose articles are stored."""
    try:
        caps = archive.settings.media
        await asyncio.to_thread(register_articles, archive, since_ms)
        await asyncio.to_thread(backfill, archive, caps.backfill_per_run)
        report = await download_due(archive, fetcher, now_ms, max_run_bytes=caps.max_run_bytes, max_image_bytes=caps.max_image_bytes)
    except Exception:
        log.warning("images were not downloaded (the next run tries again)", exc_info=True)
        return None
    log.info("images: %d downloaded (%d bytes), %d failed, %d skipped, %d left for later", *_figures(report))
    return report


def _figures(report: MediaRunReport) -> tuple[int, int, int, int, int]:
    return report.downloaded, report.bytes, report.failed, report.skipped, report.left


def stats(archive: Store) -> MediaStats:
    return archive.index.media_stats()


def local_copies(index: MediaIndex, urls: Iterable[str]) -> dict[str, str]:
    """url -> media/… path of the images among ``urls`` that have a stored copy."""
    return {row.url: path for row in index.media_rows(urls) if (path := row.path) is not None}


@dataclass(frozen=True)
class PruneReport:
    files: list[str]  # relative paths of the files no article refers to (removed unless a dry run)
    bytes: int
    rows: int  # media rows of addresses no article shows


def prune(archive: Store, *, dry_run: bool = True) -> PruneReport:
    """Remove stored images (and leftover temporary files) no article refers to, and the rows of addresses no
    article shows. With ``dry_run`` only say what would go."""
    index = archive.index
    wanted = index.referenced_media_paths()
    folder = archive.root / MEDIA_DIR
    files: list[str] = []
    size = 0
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(archive.root).as_posix()
            if path.is_file() and (relative not in wanted or path.name.endswith(TMP_SUFFIX)):
                files.append(relative)
                size += path.stat().st_size
    rows = index.count_unreferenced_media()
    if not dry_run:
        with index.atomic():
            index.forget_unreferenced_media()
        for relative in files:
            with contextlib.suppress(FileNotFoundError):  # removed meanwhile: what we wanted
                os.unlink(archive.root / relative)
        archive.published(archive.root / relative for relative in files)
    return PruneReport(files=files, bytes=size, rows=rows)
