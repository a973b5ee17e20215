"""Stage 3, parse: raw feed bytes -> ParsedFeed. Pure: no network, no disk.

A fast path reads well-formed RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom with lxml straight from
the bytes, so libxml2 decodes the declared encoding (GBK, GB2312, Big5 ...). Anything it
cannot take strictly (an undeclared or wrong encoding, broken XML, HTML entities, a DTD)
goes to the careful path: decode the bytes by BOM, declaration, HTTP charset, UTF-8 and
detection, then lxml again, then feedparser's forgiving parser, whose recoveries become
warnings.
"""

from __future__ import annotations

import calendar
import codecs
import html
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lxml import etree

from .errors import FeedError
from .models import FeedItem, ParsedFeed

_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_DATE = "{http://purl.org/dc/elements/1.1/}date"
_ATOM = "{http://www.w3.org/2005/Atom}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS1_ITEMS = ("{http://purl.org/rss/1.0/}item", "{http://my.netscape.com/rdf/simple/0.9/}item")
_XHTML_DIV = "{http://www.w3.org/1999/xhtml}div"
_RSS1 = "{http://purl.org/rss/1.0/}"
# An item's own elements, with or without the RSS 1.0 namespace; media:description, atom:link and the
# like are other things and must not be taken for them.
_RSS_FIELDS = {
    **{name: name for name in ("title", "link", "guid", "pubDate", "description")},
    **{_RSS1 + name: name for name in ("title", "link", "description")},
    _CONTENT: _CONTENT,
    _DC_DATE: _DC_DATE,
}
_XHTML_DECLARATION = ' xmlns="http://www.w3.org/1999/xhtml"'

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
# Chinese sites label GBK text as GB2312 and Big5-HKSCS text as Big5: decode with the supersets.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "big5": "big5hkscs", "cp950": "big5hkscs"}
_SINGLE_BYTE = {"latin-1", "iso8859-1", "cp1252", "ascii"}


class _NotFast(Exception):
    """The fast path declines; the careful path takes over."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_pis=True, recover=False)


def parse_date(value: str | None) -> int | None:
    """Milliseconds since the epoch from an RFC 822 or ISO 8601 date (feedparser's many formats last); a date
    without a zone is taken as UTC. None for no date, nonsense, or a date before 1970, which the format's
    date line cannot hold: the article then takes the time it was first seen."""
    if not value or not value.strip():
        return None
    try:
        ms = _parse_date(value.strip())
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    return ms if ms is not None and ms >= 0 else None


def _parse_date(text: str) -> int | None:
    moment: datetime | None = None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            from feedparser.datetimes import _parse_date as feedparser_date

            parsed = feedparser_date(text)
            return calendar.timegm(parsed) * 1000 if parsed else None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _inner(element: Any) -> str:
    """An element's content as markup: its text, or its children serialised when a feed put raw HTML in it."""
    if len(element) == 0:
        return element.text or ""
    return (element.text or "") + "".join(
        etree.tostring(child, encoding="unicode", with_tail=True)
        for child in element
        if not isinstance(child, etree._ProcessingInstruction)
    )


def _text_of_html(markup: str) -> str:
    return html.unescape(_TAGS.sub("", markup))


def _rss_items(elements: Iterator[Any]) -> Iterator[FeedItem]:
    for item in elements:
        fields: dict[str, Any] = {}
        for child in item:
            tag = child.tag
            if isinstance(tag, str):
                name = _RSS_FIELDS.get(tag)
                if name is not None:
                    fields.setdefault(name, child)
        guid = fields.get("guid")
        guid_text = (guid.text or "").strip() if guid is not None else item.get(_RDF + "about")
        link = fields.get("link")
        link_text = (link.text or "").strip() if link is not None else None
        if not link_text and guid is not None and guid.get("isPermaLink", "true").lower() != "false":
            link_text = guid_text
        date = fields.get("pubDate")
        if date is None:
            date = fields.get(_DC_DATE)
        body = ""
        for name in (_CONTENT, "description"):
            if name in fields:
                body = _inner(fields[name])
                if body.strip():
                    break
        title = fields.get("title")
        yield FeedItem(
            title=_inner(title) if title is not None else "",
            link=link_text or None,
            guid=guid_text or None,
            published_ms=parse_date(date.text if date is not None else None),
            body=body,
        )


def _atom_text(element: Any) -> str:
    kind = element.get("type", "text")
    if kind == "xhtml":
        div = element.find(_XHTML_DIV)
        return _inner(div if div is not None else element).replace(_XHTML_DECLARATION, "")
    return _inner(element)


def _atom_items(root: Any) -> Iterator[FeedItem]:
    for entry in root.iterfind(_ATOM + "entry"):
        link = None
        for candidate in entry.iterfind(_ATOM + "link"):
            if candidate.get("rel", "alternate") == "alternate":
                link = candidate.get("href")
                break
        title_el = entry.find(_ATOM + "title")
        title = ""
        if title_el is not None:
            title = _atom_text(title_el)
            if title_el.get("type") in ("html", "xhtml"):
                title = _text_of_html(title)
        body = ""
        for name in ("content", "summary"):
            element = entry.find(_ATOM + name)
            if element is not None and not element.get("src"):
                body = _atom_text(element)
                if element.get("type", "text") == "text":
                    body = html.escape(body, quote=False)
                if body.strip():
                    break
        date = entry.find(_ATOM + "published")
        if date is None:
            date = entry.find(_ATOM + "updated")
        guid = entry.findtext(_ATOM + "id")
        yield FeedItem(
            title=title,
            link=link,
            guid=guid.strip() if guid else None,
            published_ms=parse_date(date.text if date is not None else None),
            body=body,
        )


def _parse_lxml(data: bytes) -> ParsedFeed:
    if b"<!ENTITY" in data[:8192]:
        raise _NotFast("internal DTD")
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError, LookupError) as exc:
        raise _NotFast(str(exc)) from exc
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag == "rss" or tag.endswith("}rss"):
        channel = root.find("channel")
        items = channel.iterfind("item") if channel is not None else root.iterfind("item")
        return ParsedFeed(items=tuple(_rss_items(items)))
    if tag == _RDF + "RDF":
        items = (element for element in root if element.tag in _RSS1_ITEMS)
        return ParsedFeed(items=tuple(_rss_items(items)))
    if tag == _ATOM + "feed":
        return ParsedFeed(items=tuple(_atom_items(root)))
    raise _NotFast(f"root element {tag!r}")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        canonical = codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None
    return _SUPERSETS.get(canonical.replace("_", ""), _SUPERSETS.get(canonical, canonical))


def decode_feed(data: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """Text and the encoding it was read with: BOM, then the XML declaration and HTTP charset, then UTF-8,
    then detection. A single-byte label on valid UTF-8 loses to UTF-8, as browsers do."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec
    declared = _DECLARATION.match(data[:512])
    candidates = [_codec(declared[1].decode("ascii")) if declared else None, _codec(http_charset)]
    labels = [c for c in candidates if c]
    if any(label in _SINGLE_BYTE for label in labels):
        labels.insert(0, "utf-8")
    labels.append("utf-8")
    if decoded := _decode_first(data, labels):
        return decoded
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and (decoded := _decode_first(data, [_codec(best.encoding) or best.encoding])):
        return decoded
    return data.decode("utf-8", errors="replace"), "utf-8"


def _decode_first(data: bytes, labels: Iterable[str | None]) -> tuple[str, str] | None:
    """The text by the first of ``labels`` that decodes ``data`` without error, and that label."""
    for label in dict.fromkeys(label for label in labels if label):
        try:
            return data.decode(label), label
        except (UnicodeDecodeError, LookupError):
            continue
    return None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_page(data: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """An HTML page's text and the encoding it was read with, as ``decode_feed`` reads feeds: a BOM, then valid
    UTF-8 (GBK or Big5 Chinese is practically never valid UTF-8, while servers often mislabel UTF-8 pages), then
    the page's own <meta> charset and the HTTP charset (GBK and GB2312 read as GB18030, Big5 as Big5-HKSCS), then
    detection."""
    if not data.startswith(_BOMS):
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        meta = _META_CHARSET.search(data[:4096])
        if decoded := _decode_first(data, [_codec(meta[1].decode("ascii")) if meta else None, _codec(http_charset)]):
            return decoded
    return decode_feed(data)


def _as_utf8(text: str) -> bytes:
    """UTF-8 bytes of the feed with its declaration saying so, for parsers that trust declarations."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    return b'<?xml version="1.0" encoding="utf-8"?>' + body.encode("utf-8")


def _parse_feedparser(data: bytes, url: str) -> ParsedFeed:
    import feedparser

    parsed = feedparser.parse(
        data,
        response_headers={"content-type": "application/xml; charset=utf-8", "content-location": url},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    if not parsed.entries and (not parsed.get("version") or parsed.get("bozo")):
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements found"
        raise FeedError(f"{url}: not a feed that can be read: {reason}", url=url)
    items = []
    for entry in parsed.entries:
        body = ""
        for content in entry.get("content", []):
            if content.get("value", "").strip():
                body = content["value"]
                break
        else:
            body = entry.get("summary", "") or ""
        published = parse_date(entry.get("published") or entry.get("updated"))
        if published is None:
            struct = entry.get("published_parsed") or entry.get("updated_parsed")
            published = calendar.timegm(struct) * 1000 if struct else None
        title = entry.get("title", "") or ""
        if entry.get("title_detail", {}).get("type") == "text/html":
            title = _text_of_html(title)
        items.append(FeedItem(title=title, link=entry.get("link") or None, guid=entry.get("id") or None, published_ms=published, body=body))
    warnings: tuple[str, ...] = ()
    if parsed.get("bozo"):
        warnings = (f"{url}: feed has errors, {len(items)} items recovered: {parsed.get('bozo_exception')}",)
    return ParsedFeed(items=tuple(items), warnings=warnings, parser="feedparser")


def parse_feed(data: bytes, *, url: str = "<feed>", http_charset: str | None = None) -> ParsedFeed:
    """Parse a feed from its raw bytes. Raises FeedError when nothing in it can be read as a feed."""
    if not data.strip():
        raise FeedError(f"{url}: empty response, not a feed", url=url)
    declared = _DECLARATION.match(data[:512])
    mislabelled = declared is not None and _codec(declared[1].decode("ascii")) in _SINGLE_BYTE and not data.isascii()
    if not mislabelled:  # libxml2 would trust a Latin-1 label on UTF-8 bytes and garble the text
        try:
            return _parse_lxml(data)
        except _NotFast:
            pass
    text, encoding = decode_feed(data, http_charset)
    utf8 = _as_utf8(text)
    try:
        feed = _parse_lxml(utf8)
    except _NotFast:
        return _parse_feedparser(utf8, url)
    if encoding != "utf-8" and not _DECLARATION.match(data[:512]):
        return ParsedFeed(items=feed.items, warnings=(f"{url}: no encoding declared; read as {encoding}",), parser="lxml")
    return feed
