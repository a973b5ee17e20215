"""Stage 4, normalise: FeedItem -> Article. Pure functions: dates, links, body, identity.

The rules that make files byte-identical to duty-machine/news live here and in
``store/fileformat.py``: JavaScript's idea of white space, WHATWG URL serialisation,
and the body joined from stripped lines.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .models import Article, FeedItem
from .store.fileformat import JS_WHITESPACE, fold_title, join_body
from .version import __version__

_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|at_\w+|full|archive)$", re.IGNORECASE)
_DOUBLE_SLASH = re.compile(r"/{2,}")
WEB_SCHEMES = ("http:", "https:")


def serialise_link(raw: str | None, base: str | None = None) -> str | None:
    """The WHATWG serialisation of an item's address, resolved against ``base``; None unless http(s).

    Parentheses are percent-encoded so that no address can end the Markdown link early.
    """
    import ada_url  # here, not at the top: runs that parse nothing never load it

    if not raw or not raw.strip():
        return None
    raw = raw.strip(JS_WHITESPACE)
    try:
        href = ada_url.URL(raw).href if ada_url.check_url(raw) or not base else ada_url.join_url(base, raw)
    except ValueError:
        return None
    if not href.startswith(WEB_SCHEMES):
        return None
    return href.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def link_key(link: str, source: str = "") -> str:
    """A normalised form of an address for de-duplication within an outlet: one article, one key, however
    the feed spells it.

    Scheme, ``www.``/``m.`` prefixes, default ports, doubled slashes, percent-encoding case, a trailing
    slash, tracking parameters, parameter order and the fragment do not count.
    """
    import ada_url

    try:
        url = ada_url.URL(link)
    except ValueError:
        return f"link:{source}:{link}"
    host = url.hostname.lower()
    for prefix in ("www.", "m."):
        host = host.removeprefix(prefix)
    port = url.port
    if port and port not in ("80", "443"):
        host += ":" + port
    path = url.pathname
    if "//" in path:
        path = _DOUBLE_SLASH.sub("/", path)
    if "%" in path:
        path = quote(unquote(path), safe="/:@!$&'()*+,;=-._~")
    if len(path) > 1:
        path = path.rstrip("/")
    query = ""
    if url.search:
        params = [(k, v) for k, v in parse_qsl(url.search[1:], keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
        query = "?" + urlencode(sorted(params)) if params else ""
    return f"link:{source}:{host}{path}{query}"


def guid_key(source: str, guid: str) -> str:
    return f"guid:{source}:{guid}"


def _canonical(text: str) -> bytes:
    # Entities decoded, NFC, then every ASCII, no-break and ideographic space dropped (on bytes: fast).
    data = unicodedata.normalize("NFC", html.unescape(text)).encode()
    return data.translate(None, b" \t\n\r\x0b\x0c").replace(b"\xc2\xa0", b"").replace(b"\xe3\x80\x80", b"")


def fingerprint(title: str, body: str) -> str:
    """Identity of a version: changes only when title or body change beyond white space or entity encoding."""
    return hashlib.sha256(_canonical(title) + b"\x00" + _canonical(body)).hexdigest()[:32]


def article_keys(source: str, link: str | None, guid: str | None, title: str) -> tuple[str, ...]:
    keys: list[str] = []
    if link:
        keys.append(link_key(link, source))
    if guid:
        keys.append(guid_key(source, guid))
    if not keys:
        keys.append(f"title:{source}:{title}")
    return tuple(keys)


# Raised when normalise_item would make another article of the same item: every item is then normalised once more.
RULES = 1


def item_digest(item: FeedItem, *, source: str, feed: str) -> str:
    """Identity of a feed item as read, with all else its article depends on (``normalise_item``; the base of its
    links is the feed's address): an item read again with the same digest makes the same article, so it need not be
    normalised and compared again. After an upgrade, whose rules may differ, every item is normalised once more."""
    read = (item.title, item.link or "", item.guid or "", str(item.published_ms), item.body)
    whole = "".join(f"{len(part)}:{part}" for part in (__version__, str(RULES), source, feed, *read))
    return hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:32]  # SHA-256: the fastest here (CPUs hash it)


def normalise_item(
    item: FeedItem, *, source: str, seen_ms: int, base_url: str | None = None, feed: str | None = None, digest: str | None = None
) -> Article:
    """Turn a feed item into the article the archive keeps. An undated item takes the time it was first seen.
    ``digest``: the item's ``item_digest``, for an archive that remembers the items it has read (worker.prepare_feed)."""
    title = fold_title(item.title)
    guid = item.guid.strip() if item.guid and item.guid.strip() else None
    raw_link = item.link
    if not raw_link and guid and guid.startswith(("http://", "https://")):
        raw_link = guid
    link = serialise_link(raw_link, base_url)
    body = join_body(item.body)
    return Article(
        source=source,
        title=title,
        link=link,
        guid=guid,
        pub_ms=item.published_ms if item.published_ms is not None else seen_ms,
        body=body,
        keys=article_keys(source, link, guid, title),
        fingerprint=fingerprint(title, body),
        feed=feed,
        item_digest=digest,
    )


def article_from_file(source: str, *, title: str, link: str | None, pub_ms: int | None, body: str) -> Article:
    """An article read back from its file; imported files have no guid."""
    return Article(
        source=source,
        title=title,
        link=link,
        guid=None,
        pub_ms=pub_ms,
        body=body,
        keys=article_keys(source, link, None, title),
        fingerprint=fingerprint(title, body),
    )
