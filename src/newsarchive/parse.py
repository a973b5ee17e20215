"""Stage 3, parse: raw feed bytes -> ParsedFeed. Pure: no network, no disk.

A fast path reads well-formed RSS 0.90/0.9x/1.0 (RDF)/2.0 and Atom with lxml straight from
the bytes, so libxml2 decodes the declared encoding (GBK, GB2312, Big5, UTF-16 ...). Anything it
cannot take strictly (an undeclared or wrong encoding, a Latin-1 label, broken XML, HTML
entities, a DTD) goes to the careful path: decode the bytes by BOM, byte pattern, declaration,
HTTP charset, UTF-8 and detection, HTML's named entities written as numbers, then lxml again,
then feedparser's forgiving parser, whose recoveries become warnings.

Both paths read the same elements by the same rules (``_ITEM_FIELDS``, ``_kind``), so a feed that
moves from one path to the other gives the same articles; tests/test_parse.py holds them to it.
"""

from __future__ import annotations

import calendar
import codecs
import copy
import functools
import html
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.entities import html5
from typing import Any

from lxml import etree

from .errors import FeedError
from .models import FeedItem, ParsedFeed

_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
_MEDIA = "{http://search.yahoo.com/mrss/}"
_XHTML = "{http://www.w3.org/1999/xhtml}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS1_ITEMS = ("{http://purl.org/rss/1.0/}item", "{http://my.netscape.com/rdf/simple/0.9/}item")

# What an item's child elements give: (field, rank, kind). A field takes its first non-empty element by rank, then
# in document order, as feedparser does. An item's own elements are named here without the item's namespace (none,
# RSS 0.90's, RSS 1.0's or UserLand's); media:description, atom:link and the like are other things. The kind says
# how the element writes its content unless its type attribute says otherwise: html (markup as text), xhtml
# (elements), text.
_DATES = {
    _DCTERMS + "issued": ("date", 0, ""),
    _DC + "date": ("date", 1, ""),
    _DCTERMS + "modified": ("date", 1, ""),
    _DCTERMS + "created": ("date", 2, ""),
}
_ITEM_FIELDS = {
    "title": ("title", 0, "text"),
    _DC + "title": ("title", 0, "text"),
    _MEDIA + "title": ("title", 1, "text"),
    "link": ("link", 0, ""),
    "guid": ("guid", 0, ""),
    "pubDate": ("date", 0, ""),
    **_DATES,
    _CONTENT: ("body", 0, "html"),
    _XHTML + "body": ("body", 0, "xhtml"),
    "body": ("body", 0, "xhtml"),
    "description": ("body", 1, "html"),
    _DC + "description": ("body", 1, "html"),
    _ITUNES + "summary": ("body", 2, "text"),
    _MEDIA + "description": ("body", 2, "html"),
}
_ENTRY_FIELDS = {
    _ATOM + "title": ("title", 0, "text"),
    _ATOM + "id": ("guid", 0, ""),
    _ATOM + "published": ("date", 0, ""),
    _ATOM + "updated": ("date", 1, ""),
    **_DATES,
    _ATOM + "content": ("body", 0, "text"),
    _ATOM + "summary": ("body", 1, "text"),
}
# Atom text constructs and feedparser's content types, in their short and MIME spellings.
_KINDS = {
    "text": "text",
    "plain": "text",
    "text/plain": "text",
    "html": "html",
    "text/html": "html",
    "xhtml": "xhtml",
    "application/xhtml+xml": "xhtml",
}

_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_PREFIXED_TAG = re.compile(r"<[A-Za-z_][\w.-]*:")
# feedparser's test of whether a nominally plain RSS field holds HTML: a closing tag or an entity reference.
_HTML_HINTS = re.compile(r"</\w+>|&#?\w+;")
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_BARE_AMPERSAND = re.compile(r"&(?!#?\w+;)")
# Chinese sites label GBK text as GB2312 and Big5-HKSCS text as Big5: decode with the supersets. ISO-8859-1 and
# ASCII labels mean windows-1252, as the WHATWG Encoding Standard (and every browser) reads them.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
}
_SINGLE_BYTE = {"cp1252"}
_WIDE = ("utf-16", "utf-32")
# Where the NULs fall in the first four bytes of a document that starts with an ASCII character (XML 1.0 appendix F).
_NUL_PATTERNS: dict[tuple[bool, ...], str] = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}
# C1 controls mean nothing in a feed: they are windows-1252 bytes read as ISO-8859-1, or the same written as &#150;.
# They become what windows-1252 means by them, as HTML reads such references; the five it leaves undefined go.
_C1 = re.compile("[\x80-\x9f]")
_C1_REFERENCE = re.compile(rb"&#(?:0*(?:12[89]|1[3-5][0-9])|[xX]0*[89][0-9a-fA-F]);")  # &#128; to &#159;, &#x80; to &#x9f;
_C1_AS_1252 = {code: bytes([code]).decode("cp1252", "ignore") or None for code in range(0x80, 0xA0)}


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


def _no_c1(text: str) -> str:
    return text.translate(_C1_AS_1252) if _C1.search(text) else text


def _item(*, title: str, link: str | None, guid: str | None, date: str | None, body: str) -> FeedItem:
    return FeedItem(title=title, link=link or None, guid=guid or None, published_ms=parse_date(date), body=body)


def _without_c1(items: Iterable[FeedItem]) -> tuple[FeedItem, ...]:
    return tuple(
        FeedItem(
            title=_no_c1(i.title),
            link=_no_c1(i.link) if i.link else None,
            guid=_no_c1(i.guid) if i.guid else None,
            published_ms=i.published_ms,
            body=_no_c1(i.body),
        )
        for i in items
    )


def _kind(type_attr: str | None, default: str) -> str:
    """text, html or xhtml, from a type attribute (any spelling; an unknown type is text) or the element's default."""
    return _KINDS.get(type_attr.strip().lower(), "text") if type_attr else default


def _xhtml_inner(element: Any) -> str:
    """The markup inside an element whose content is elements, written as HTML: its text is text, so it stays
    escaped, and the elements lose their namespaces (and the declarations the feed's root would lend them)."""
    if len(element) == 0:
        return html.escape(element.text or "", quote=False)
    # Written whole, lxml declares the namespaces in scope once, on the element's own start tag, which goes.
    markup: str = etree.tostring(element, encoding="unicode", with_tail=False)
    inner = markup[markup.index(">") + 1 : markup.rindex("<")]
    if _PREFIXED_TAG.search(inner) is None:
        return inner
    plain = copy.deepcopy(element)  # rare: elements written with a prefix (xhtml:p) take their local names
    for node in plain.iter(etree.Element):
        node.tag = etree.QName(node).localname
    etree.cleanup_namespaces(plain)
    return _xhtml_inner(plain)


def _text_of_html(markup: str) -> str:
    return html.unescape(_TAGS.sub("", markup))


def _looks_like_html(text: str) -> bool:
    return _HTML_HINTS.search(text) is not None


def _content(element: Any, kind: str, *, guess: bool) -> tuple[str, str]:
    """An element's kind and content (markup for html and xhtml, text for text). An Atom XHTML construct's content is
    inside its div; RSS fields that are nominally text but hold elements or look like HTML are read as such."""
    if kind == "xhtml" or len(element):  # elements, also where a feed put raw XHTML in an HTML or text field
        div = element.find(_XHTML + "div") if kind == "xhtml" and element.tag.startswith(_ATOM) else None
        return "xhtml", _xhtml_inner(div if div is not None else element)
    text = element.text or ""
    if kind == "text" and guess and _looks_like_html(text):
        return "html", text
    return kind, text


def _as_title(kind: str, content: str) -> str:
    return content if kind == "text" else _text_of_html(content)


def _as_body(kind: str, content: str) -> str:
    return html.escape(content, quote=False) if kind == "text" else content


def _fields(element: Any, table: dict[str, tuple[str, int, str]], *, guess: bool) -> dict[str, str]:
    """The text of title, link, guid and date, and the body as HTML, read from an item's or entry's children."""
    found: dict[str, list[tuple[tuple[str, int, str], Any]]] = {}
    for child in element:
        spec = table.get(child.tag)  # a comment's tag is a function, in no table
        if spec is not None:
            found.setdefault(spec[0], []).append((spec, child))
    fields: dict[str, str] = {}
    for name, candidates in found.items():
        if len(candidates) > 1:
            candidates.sort(key=lambda candidate: candidate[0][1])
        for (_, _, default), child in candidates:
            if name == "title" or name == "body":
                if name == "body" and child.get("src"):  # Atom content given by address, not in the feed
                    continue
                kind, content = _content(child, _kind(child.get("type"), default), guess=guess)
                value = _as_title(kind, content) if name == "title" else _as_body(kind, content)
            else:
                value = (child.text or "").strip()
            if value and not value.isspace():
                fields[name] = value
                break
    return fields


@functools.cache
def _item_fields(namespace: str) -> dict[str, tuple[str, int, str]]:
    """``_ITEM_FIELDS`` for items in ``namespace`` (``{uri}``, or empty): RSS's own elements in it."""
    return {(name if name.startswith("{") else namespace + name): spec for name, spec in _ITEM_FIELDS.items()}


def _rss_items(elements: Iterable[Any]) -> Iterator[FeedItem]:
    for item in elements:
        tag = item.tag
        own = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
        fields = _fields(item, _item_fields(own), guess=True)
        guid = fields.get("guid") or item.get(_RDF + "about")
        link = fields.get("link")
        if not link and guid:
            element = item.find(own + "guid")
            if element is not None and element.get("isPermaLink", "true").lower() != "false":
                link = guid
        yield _item(title=fields.get("title", ""), link=link, guid=guid, date=fields.get("date"), body=fields.get("body", ""))


def _atom_items(root: Any) -> Iterator[FeedItem]:
    for entry in root.iterfind(_ATOM + "entry"):
        link = None
        for candidate in entry.iterfind(_ATOM + "link"):
            if candidate.get("rel", "alternate") == "alternate":
                link = candidate.get("href")
                break
        fields = _fields(entry, _ENTRY_FIELDS, guess=False)
        yield _item(title=fields.get("title", ""), link=link, guid=fields.get("guid"), date=fields.get("date"), body=fields.get("body", ""))


def _root_name(namespace: str | None, local: str) -> str:
    return f"<{local}> in namespace {namespace}" if namespace else f"<{local}> in no namespace"


def _no_items(url: str, root: str) -> str:
    return f"{url}: no items: the root element is {root}, and no item or entry was found in it"


def _parse_lxml(data: bytes, url: str) -> ParsedFeed:
    if b"<!ENTITY" in data[:8192]:
        raise _NotFast("internal DTD")
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError, LookupError) as exc:
        raise _NotFast(str(exc)) from exc
    tag = root.tag if isinstance(root.tag, str) else ""
    name = _root_name(*(tag[1:].split("}", 1) if tag.startswith("{") else (None, tag)))
    # In UTF-8, C1 controls come from two-byte sequences that start with C2, or from character references.
    utf8 = (root.getroottree().docinfo.encoding or "UTF-8").upper() == "UTF-8"
    may_hold_c1 = not utf8 or b"\xc2" in data or _C1_REFERENCE.search(data) is not None
    if tag == "rss" or tag.endswith("}rss"):
        channel = root.find(tag[: -len("rss")] + "channel")
        items = tuple(_rss_items((channel if channel is not None else root).iterfind(tag[: -len("rss")] + "item")))
    elif tag == _RDF + "RDF":
        items = tuple(_rss_items(element for element in root if element.tag in _RSS1_ITEMS))
    elif tag == _ATOM + "feed":
        items = tuple(_atom_items(root))
    else:
        raise _NotFast(f"the root element is {name}, not RSS or Atom")
    if may_hold_c1:
        items = _without_c1(items)
    return ParsedFeed(items=items, warnings=() if items else (_no_items(url, name),))


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        canonical = codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None
    return _SUPERSETS.get(canonical.replace("_", ""), _SUPERSETS.get(canonical, canonical))


def _wide_by_nuls(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, told by where the NULs of its first (ASCII) character fall."""
    return _NUL_PATTERNS.get(tuple(byte == 0 for byte in data[:4]))


def decode_feed(data: bytes, http_charset: str | None = None) -> tuple[str, str]:
    """Text and the encoding it was read with: BOM, UTF-16/32 by their NULs, then the XML declaration and HTTP
    charset, then UTF-8, then detection. A single-byte label on valid UTF-8 loses to UTF-8, as browsers do."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec
    if wide := _wide_by_nuls(data):
        return data.decode(wide, errors="replace"), wide
    declared = _DECLARATION.match(data[:512])
    candidates = [_codec(declared[1].decode("ascii")) if declared else None, _codec(http_charset)]
    # A UTF-16 or UTF-32 label on bytes without their NULs is wrong: the label itself was readable as ASCII.
    labels = [c for c in candidates if c and not c.startswith(_WIDE)]
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
    """The text by the first of ``labels`` that decodes ``data`` without error, and that label. windows-1252 always
    decodes: its five undefined bytes are dropped (WHATWG would make them C1 controls, which no file may hold)."""
    for label in dict.fromkeys(label for label in labels if label):
        try:
            return data.decode(label, errors="ignore" if label == "cp1252" else "strict"), label
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


def _entity_as_number(match: re.Match[str]) -> str:
    name = match[1]
    characters = html5.get(name + ";")
    if name in _XML_ENTITIES or characters is None:
        return match[0]
    return "".join(f"&#{ord(character)};" for character in characters)


def _html_entities_as_numbers(text: str) -> str:
    """HTML's named entities (&nbsp;, &mdash; ...), which XML does not know, written as character references."""
    return _NAMED_ENTITY.sub(_entity_as_number, text)


def _careful_xhtml(markup: str) -> str:
    """feedparser's rebuilt XHTML (``<br></br>``, bare ``&``) written as the fast path writes it."""
    fixed = _html_entities_as_numbers(_BARE_AMPERSAND.sub("&amp;", markup))
    try:
        div = etree.fromstring(f'<div xmlns="http://www.w3.org/1999/xhtml">{fixed}</div>'.encode(), _parser())
    except etree.XMLSyntaxError:
        return markup
    return _xhtml_inner(div)


def _careful_content(detail: Any) -> tuple[str, str]:
    kind = _kind(detail.get("type"), "text")
    value = detail.get("value") or ""
    return kind, _careful_xhtml(value) if kind == "xhtml" else value


def _careful_body(entry: Any, atom: bool) -> str:
    contents = [_careful_content(content) for content in entry.get("content", [])]
    summary = [_careful_content(entry["summary_detail"])] if "summary_detail" in entry else []
    # feedparser files the second of description, itunes:summary ... under content, as text: after the summary
    rss = [c for c in contents if c[0] != "text"] + summary + [c for c in contents if c[0] == "text"]
    candidates = contents + summary if atom else rss
    return next((body for body in (_as_body(*c) for c in candidates) if body.strip()), "")


def _root_of(data: bytes) -> str:
    """The first element's name and namespace, found without parsing, for saying why nothing was read."""
    start = re.search(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)([^>]*)>", data[:65536])
    if start is None:
        return "no element"
    prefix = (start[1] or b"")[:-1]
    declared = re.search(rb"xmlns" + (b":" + re.escape(prefix) if prefix else b"") + rb"""\s*=\s*["']([^"']*)["']""", start[3])
    return _root_name(declared[1].decode(errors="replace") if declared else None, start[2].decode())


def _parse_feedparser(data: bytes, url: str) -> ParsedFeed:
    import feedparser

    # No content-location: feedparser would resolve ids against it, and an id is kept as written.
    parsed = feedparser.parse(
        data, response_headers={"content-type": "application/xml; charset=utf-8"}, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.entries and (not parsed.get("version") or parsed.get("bozo")):
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements found"
        raise FeedError(f"{url}: not a feed that can be read: the root element is {_root_of(data)}: {reason}", url=url)
    atom = parsed.get("version", "").startswith("atom")
    items = []
    for entry in parsed.entries:
        title = _as_title(*_careful_content(entry["title_detail"])) if "title_detail" in entry else ""
        date = entry.get("published") or entry.get("updated") or entry.get("created")
        items.append(_item(title=title, link=entry.get("link"), guid=entry.get("id"), date=date, body=_careful_body(entry, atom)))
    warnings: tuple[str, ...] = ()
    if parsed.get("bozo"):
        warnings = (f"{url}: feed has errors, {len(items)} items recovered: {parsed.get('bozo_exception')}",)
    if not items:
        warnings += (_no_items(url, _root_of(data)),)
    return ParsedFeed(items=_without_c1(items), warnings=warnings, parser="feedparser")


def parse_feed(data: bytes, *, url: str = "<feed>", http_charset: str | None = None) -> ParsedFeed:
    """Parse a feed from its raw bytes. Raises FeedError when nothing in it can be read as a feed."""
    if not data.strip():
        raise FeedError(f"{url}: empty response, not a feed", url=url)
    declared = _DECLARATION.match(data[:512])
    mislabelled = declared is not None and _codec(declared[1].decode("ascii")) in _SINGLE_BYTE and not data.isascii()
    if not mislabelled:  # libxml2 would trust a Latin-1 label on UTF-8 bytes, and read 0x80-0x9F as C1 controls
        try:
            return _parse_lxml(data, url)
        except _NotFast:
            pass
    text, encoding = decode_feed(data, http_charset)
    utf8 = _as_utf8(_html_entities_as_numbers(text))
    try:
        feed = _parse_lxml(utf8, url)
    except _NotFast:
        return _parse_feedparser(utf8, url)
    if encoding != "utf-8" and not encoding.startswith(_WIDE) and not declared:
        return ParsedFeed(items=feed.items, warnings=(f"{url}: no encoding declared; read as {encoding}", *feed.warnings))
    return feed
