"""Store one page on request (``newsarchive save URL``), as duty-machine/duty-machine did for its readers.

Each page is fetched through the run's client (limits, deadlines, size caps, WARC capture), its main text taken
by the full-text machinery (the outlet's rule, then trafilatura), and stored through ``Store.apply`` as an
article of the outlet it belongs to: the one given, the one whose feeds or recent articles are on its host, or
else the outlet kept for requests. Stored like any other article, it gets its images and its rechecks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from .errors import ConfigError, NewsarchiveError, SourceError
from .fetch import Fetcher
from .fulltext import ExtractionError, extract, rule_for, text_length
from .models import FeedItem
from .normalise import link_key, normalise_item, serialise_link
from .outlets import ensure_source
from .parse import decode_page, parse_date
from .sources import Source
from .store.store import Store
from .store.warc import WarcWriter

log = logging.getLogger(__name__)

# The outlet that holds saved pages whose host no outlet has: a folder of its own, never fetched by `update`.
REQUESTS = Source(name="按需存档", slug="requests", feeds=(), enabled=False)
MIN_TEXT = 10  # characters of main text a saved page must hold
RECENT_LINKS = 200  # an outlet's newest articles whose hosts say which pages are its own
_DATE_META = re.compile(
    r"""<meta\s[^>]*?(?:property|name|itemprop)\s*=\s*["'](?:article:published_time|og:published_time|datePublished|pubdate|publishdate)["'][^>]*>""",
    re.IGNORECASE,
)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Saved:
    """What became of one address: ``saved`` (a new article at ``path``), ``there`` (the archive has it at
    ``path``) or ``failed`` (``reason`` says why)."""

    url: str
    outcome: str
    path: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"url": self.url, "outcome": self.outcome, "path": self.path, "reason": self.reason}


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().removeprefix("www.")


def outlet_hosts(archive: Store) -> dict[str, str]:
    """host -> slug: the hosts of each outlet's feeds and of its newest articles' links (a feed is often on another
    host than the pages, feeds.bbci.co.uk for www.bbc.com)."""
    hosts: dict[str, str] = {}
    for source in archive.settings.sources:
        for row in archive.index.newest(source.slug, RECENT_LINKS):
            if row.link:
                hosts.setdefault(host_of(row.link), source.slug)
        for feed in source.feeds:
            hosts.setdefault(host_of(feed), source.slug)
    return hosts


def title_and_date(page: str, url: str) -> tuple[str, int | None]:
    """The page's title (trafilatura's reading of og:title, <title> …; "" when none) and publication time: its
    article:published_time (or the like) meta, else the day trafilatura finds. The page is read by trafilatura once."""
    from trafilatura import extract_metadata

    found = extract_metadata(page, default_url=url)
    title = (found.title or "").strip()
    for tag in _DATE_META.findall(page):
        if (content := _CONTENT.search(tag)) and (ms := parse_date(content[1])) is not None:
            return title, ms
    return title, parse_date(f"{found.date}T00:00:00+08:00") if found.date else None


class Saver:
    """Saves addresses into one archive; the caller holds the archive's lock."""

    def __init__(self, archive: Store, fetcher: Fetcher, *, outlet: str | None, clock: Callable[[], float] = time.time) -> None:
        self.archive = archive
        self.fetcher = fetcher
        self.clock = clock
        self.outlet = archive.settings.source(outlet) if outlet else None
        if outlet and self.outlet is None:
            raise ConfigError(f"--outlet {outlet}: no such outlet", hint="`newsarchive sources` lists them")
        self.hosts = outlet_hosts(archive)

    def source_for(self, url: str) -> Source:
        if self.outlet is not None:
            return self.outlet
        slug = self.hosts.get(host_of(url))
        return (self.archive.settings.source(slug) if slug else None) or self.archive.settings.source(REQUESTS.slug) or REQUESTS

    def already_there(self, link: str) -> str | None:
        """The path of an article of any outlet with this link."""
        slugs = {s.slug for s in self.archive.settings.sources} | set(self.archive.index.sources_present()) | {REQUESTS.slug}
        keys = [link_key(link, slug) for slug in sorted(slugs)]
        found = self.archive.index.find_many(keys)
        return next((row.path for row in found.values()), None)

    async def save(self, url: str) -> Saved:
        link = serialise_link(url)
        if link is None or not link.startswith(("http://", "https://")):
            return Saved(url=url, outcome="failed", reason="not an http(s) address")
        if path := await asyncio.to_thread(self.already_there, link):
            return Saved(url=url, outcome="there", path=path)
        source = self.source_for(link)
        try:
            result = await self.fetcher.via(source.proxy).fetch(
                link, untrusted=True, allow_private=source.allow_private, headers=source.request_headers()
            )
        except SourceError as exc:
            return Saved(url=url, outcome="failed", reason=str(exc))
        final = serialise_link(result.final_url) or link if result.final_url else link
        if final != link and (path := await asyncio.to_thread(self.already_there, final)):
            return Saved(url=url, outcome="there", path=path)
        try:
            return await asyncio.to_thread(self._store, url, final, source, result.body or b"", result.charset)
        except ExtractionError as exc:
            return Saved(url=url, outcome="failed", reason=f"{final}: {exc}")

    def _store(self, url: str, link: str, source: Source, body: bytes, charset: str | None) -> Saved:
        text, _ = decode_page(body, charset)
        main = extract(body, url=link, charset=charset, rule=rule_for(source.slug, source.fulltext_selector))
        if text_length(main) < MIN_TEXT:  # a menu or a cookie notice is not an article
            raise ExtractionError(f"the page holds no main text (found {text_length(main)} characters)")
        now_ms = int(self.clock() * 1000)
        title, published = title_and_date(text, link)
        item = FeedItem(title=title or link, link=link, guid=None, published_ms=published, body=main)
        article = normalise_item(item, source=source.slug, seen_ms=now_ms)
        if source is REQUESTS and self.archive.settings.source(REQUESTS.slug) is None:
            ensure_source(self.archive.root, REQUESTS)  # written into newsarchive.toml, so that lists, reader and site name it
            self.archive.settings = replace(self.archive.settings, sources=(*self.archive.settings.sources, REQUESTS))
        self.archive.apply(source, [article], now_ms)
        return Saved(url=url, outcome="saved", path=self.already_there(link))


async def save_async(archive: Store, urls: Sequence[str], *, outlet: str | None, clock: Callable[[], float]) -> list[Saved]:
    warc = WarcWriter(archive.root, clock=clock, open_index=archive.another_index) if archive.settings.warc else None
    started_ms = int(clock() * 1000)
    async with Fetcher(archive.settings.fetch, capture=warc.capture if warc else None) as fetcher:
        try:
            saver = Saver(archive, fetcher, outlet=outlet, clock=clock)
            results = []
            for url in urls:  # one at a time: the same address twice is "already there" the second time
                try:
                    results.append(await saver.save(url))
                except NewsarchiveError as exc:
                    results.append(Saved(url=url, outcome="failed", reason=str(exc)))
            if archive.settings.media.enabled and any(r.outcome == "saved" for r in results):
                from .media import after_run

                await after_run(archive, fetcher, started_ms, int(clock() * 1000))
        finally:
            if warc is not None:
                await warc.drain()
                warc.close()
    return results


def save(archive: Store, urls: Iterable[str], *, outlet: str | None = None, clock: Callable[[], float] = time.time) -> list[Saved]:
    """Store each page of ``urls`` (see the module's text); holds the archive lock, and ends with what was saved
    searchable (unless ``search.index_on_update`` is off)."""
    wanted = [url.strip() for url in urls if url.strip()]
    with archive.lock():
        archive.recover()
        results = asyncio.run(save_async(archive, wanted, outlet=outlet, clock=clock))
        if archive.settings.search.index_on_update:
            archive.sync_search()
    return results
