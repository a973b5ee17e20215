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

import ada_url

from .models import Article, FeedItem

# What JavaScript's \s matches: duty-machine stripped titles and body lines with /^\s*|\s*$/.
JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

# White space that would break the one-line title: folded to one space. Plain and ideographic spaces stay,
# since real titles carry runs of them and the files must stay byte-identical.
_TITLE_BREAKS = re.compile(r"[\t\n\x0b\x0c\r\x85\u2028\u2029]+")
_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|at_\w+|full|archive)$", re.IGNORECASE)
_DOUBLE_SLASH = re.compile(r"/{2,}")
WEB_SCHEMES = ("http:", "https:")


def js_strip(text: str) -> str:
    return text.strip(JS_WHITESPACE)


def fold_title(title: str) -> str:
    """Strip a title and fold line breaks and tabs inside it to one space."""
    return js_strip(_TITLE_BREAKS.sub(" ", title))


def join_body(body: str) -> str:
    """The article body as duty-machine wrote it: every line stripped, joined with nothing between."""
    return "".join(js_strip(line) for line in body.split("\n"))


def serialise_link(raw: str | None, base: str | None = None) -> str | None:
    """The WHATWG serialisation of an item's address, resolved against ``base``; None unless http(s).

    Parentheses are percent-encoded so that no address can end the Markdown link early.
    """
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
    path = quote(unquote(_DOUBLE_SLASH.sub("/", url.pathname)), safe="/:@!$&'()*+,;=-._~")
    if len(path) > 1:
        path = path.rstrip("/")
    params = [(k, v) for k, v in parse_qsl(url.search.removeprefix("?"), keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    query = "?" + urlencode(sorted(params)) if params else ""
    return f"link:{source}:{host}{path}{query}"


def guid_key(source: str, guid: str) -> str:
    return f"guid:{source}:{guid}"


def fingerprint(title: str, body: str) -> str:
    """Identity of a version: changes only when title or body change beyond white space or entity encoding."""

    def canon(text: str) -> str:
        return "".join(unicodedata.normalize("NFC", html.unescape(text)).split())

    digest = hashlib.blake2b(digest_size=16)
    digest.update(canon(title).encode())
    digest.update(b"\x00")
    digest.update(canon(body).encode())
    return digest.hexdigest()


def article_keys(source: str, link: str | None, guid: str | None, title: str) -> tuple[str, ...]:
    keys: list[str] = []
    if link:
        keys.append(link_key(link, source))
    if guid:
        keys.append(guid_key(source, guid))
    if not keys:
        keys.append(f"title:{source}:{title}")
    return tuple(keys)


def normalise_item(item: FeedItem, *, source: str, seen_ms: int, base_url: str | None = None) -> Article:
    """Turn a feed item into the article the archive keeps. An undated item takes the time it was first seen."""
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
