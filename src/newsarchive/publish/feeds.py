"""Atom feeds (per outlet, for the whole archive, of takedowns and of daily digests) and the sitemap, for the static
site and the reader.

Built with ElementTree so the XML is always well formed; characters XML cannot hold are dropped.
Entries link to the archived page when the site's address is known (``site.base_url``), else to
the original article.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from ..errors import ArticleFileError
from ..html import clean_html
from ..index import ArticleRow
from ..store.store import Store
from ..times import DAY_MS, OFFSET_MS, day_name, day_start_ms
from ..web import digest
from ..web.pages import HOME, digest_href, outlet_href, page_of

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
ALL = "all"  # feeds/all.xml: the whole archive
FEED_SIZE = 50
DIGEST_DAYS = 30  # days in feeds/digest.xml
SITEMAP_SIZE = 50_000  # the protocol's limit per file
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

ET.register_namespace("", ATOM)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _iso(ms: int | None) -> str:
    return datetime.fromtimestamp((ms or 0) / 1000, UTC).isoformat().replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    if text is not None:
        element.text = _xml_text(text)
    return element


def atom_feed(archive: Store, name: str) -> bytes | None:
    """``feeds/<name>.xml``: an outlet's newest articles, or the whole archive's for ``all``; None when
    there is no such outlet."""
    base = archive.settings.site.base_url
    if name == ALL:
        rows, title, page = archive.index.newest_overall(FEED_SIZE), archive.settings.title, HOME
    elif archive.index.count(name):
        rows, title, page = archive.index.newest(name, FEED_SIZE), archive.source_name(name), outlet_href(name)
    else:
        return None
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", (base + f"feeds/{name}.xml") if base else f"urn:newsarchive:feeds:{name}")
    _sub(feed, "title", title)
    _sub(feed, "updated", _iso(max((row.updated_ms or row.pub_ms or 0 for row in rows), default=0)))
    _sub(feed, "generator", "newsarchive")
    if base:  # links percent-encoded, as in the pages (outlet folders and file names may be Chinese, with spaces)
        _sub(feed, "link", rel="self", href=base + quote(f"feeds/{name}.xml"))
        _sub(feed, "link", rel="alternate", type="text/html", href=base + quote(page))
    for row in rows:
        _entry(archive, feed, row, base)
    return _document(feed)


def _entry(archive: Store, feed: ET.Element, row: ArticleRow, base: str | None) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "id", base + page_of(row.path) if base else f"urn:newsarchive:{row.path}")
    _sub(entry, "title", row.title)
    _sub(entry, "published", _iso(row.pub_ms))
    _sub(entry, "updated", _iso(row.updated_ms or row.pub_ms))
    _sub(_sub(entry, "author"), "name", archive.source_name(row.source))
    if base:
        _sub(entry, "link", rel="alternate", type="text/html", href=base + quote(page_of(row.path)))
    if row.link and row.link.startswith(("http://", "https://")):
        _sub(entry, "link", rel="related" if base else "alternate", href=row.link)
    try:
        body = clean_html(archive.read(row).body, row.link or "", remote_images=archive.settings.site.remote_images)
    except (OSError, ArticleFileError, UnicodeDecodeError):
        return
    _sub(entry, "content", body, type="html")


def takedowns_feed(archive: Store) -> bytes:
    """``feeds/takedowns.xml``: the articles the outlets removed (recheck.py), newest confirmation first, each with
    the archived text; a feed with no entries when there are none."""
    base = archive.settings.site.base_url
    found = archive.index.takedowns()[:FEED_SIZE]
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", (base + "feeds/takedowns.xml") if base else "urn:newsarchive:feeds:takedowns")
    _sub(feed, "title", f"{archive.settings.title}: 已被媒体删除 Removed by the outlets")
    _sub(feed, "updated", _iso(max((confirmed_ms for _, _, confirmed_ms, *_ in found), default=0)))
    _sub(feed, "generator", "newsarchive")
    if base:
        _sub(feed, "link", rel="self", href=base + "feeds/takedowns.xml")
    for row, first_ms, confirmed_ms, how, _, _ in found:
        _entry(archive, feed, row, base)  # the archived article, then what makes it a takedown entry
        entry = feed[-1]
        replaced = {
            "id": (base + page_of(row.path) + "#removed") if base else f"urn:newsarchive:takedown:{row.path}",
            "title": f"已被删除 Removed: {row.title}",
            "updated": _iso(confirmed_ms),
        }
        for tag, text in replaced.items():
            if (element := entry.find(f"{{{ATOM}}}{tag}")) is not None:
                element.text = _xml_text(text)
        outlet = archive.source_name(row.source)
        _sub(entry, "summary", f"{outlet} 删除了此文 removed this article ({how}); first found gone {_iso(first_ms)}")
    return _document(feed)


def digest_feed(archive: Store) -> bytes:
    """``feeds/digest.xml``: one entry per day (Beijing time) for the newest days with articles, each listing that
    day's articles by outlet, linked to their archived pages (with ``site.base_url``) or else to the originals."""
    base = archive.settings.site.base_url
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", (base + digest.DIGEST_FEED) if base else "urn:newsarchive:feeds:digest")
    _sub(feed, "title", f"{archive.settings.title}: 每日摘要 Daily digest")
    updated = _sub(feed, "updated", _iso(0))
    _sub(feed, "generator", "newsarchive")
    if base:
        _sub(feed, "link", rel="self", href=base + digest.DIGEST_FEED)
        _sub(feed, "link", rel="alternate", type="text/html", href=base + digest.DIGEST_INDEX)
    newest = 0
    for day, count in archive.index.days(OFFSET_MS)[:DIGEST_DAYS]:
        start = day_start_ms(day)
        rows = archive.index.published_between(start, start + DAY_MS)
        changed = max((row.updated_ms or row.pub_ms or 0 for row in rows), default=start)
        newest = max(newest, changed)
        entry = _sub(feed, "entry")
        page = digest_href(day)
        _sub(entry, "id", base + page if base else f"urn:newsarchive:digest:{day_name(day)}")
        _sub(entry, "title", f"{day_name(day)} 每日摘要 Daily digest ({count} 篇)")
        _sub(entry, "updated", _iso(changed))
        if base:
            _sub(entry, "link", rel="alternate", type="text/html", href=base + page)
        _sub(entry, "content", _digest_html(archive, rows, base), type="html")
    updated.text = _iso(newest)
    return _document(feed)


def _digest_html(archive: Store, rows: list[ArticleRow], base: str | None) -> str:
    """A day's articles as HTML: a heading per outlet, then its articles, newest first."""
    parts = []
    for slug, found in digest.by_outlet(archive, rows):
        parts.append(f"<h3>{escape(archive.source_name(slug))}</h3><ul>")
        for row in found:
            href = base + quote(page_of(row.path)) if base else row.link if (row.link or "").startswith(("http://", "https://")) else None
            title = escape(row.title)
            parts.append(f"<li><a href={quoteattr(href)}>{title}</a></li>" if href else f"<li>{title}</li>")
        parts.append("</ul>")
    return "".join(parts)


def sitemaps(archive: Store, pages: Iterator[str]) -> dict[str, bytes]:
    """``sitemap.xml`` (and ``sitemap-<n>.xml`` files with an index when there are more pages than one file
    may hold) for the site at ``site.base_url``; empty without one, as a sitemap needs absolute addresses."""
    base = archive.settings.site.base_url
    if not base:
        return {}
    files: dict[str, bytes] = {}
    for chunk in _batched(pages, SITEMAP_SIZE):
        files[f"sitemap-{len(files) + 1}.xml"] = _list("urlset", "url", [base + quote(page) for page in chunk])
    if len(files) <= 1:
        return {"sitemap.xml": files.popitem()[1] if files else _list("urlset", "url", [])}
    return {**files, "sitemap.xml": _list("sitemapindex", "sitemap", [base + name for name in files])}


def _batched(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _list(root: str, element: str, locations: list[str]) -> bytes:
    lines = [f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns="{SITEMAP}">']
    lines += [f"<{element}><loc>{escape(_xml_text(location))}</loc></{element}>" for location in locations]
    return ("\n".join([*lines, f"</{root}>"]) + "\n").encode()


def _document(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"
