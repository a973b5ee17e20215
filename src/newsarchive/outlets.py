"""The outlets of newsarchive.toml, managed as feed readers manage theirs: add one (finding its feed on a page),
remove one, and move the list in and out as OPML 2.0.

newsarchive.toml is edited with tomlkit so that the user's comments and layout stay. Every edit is read back
through the same checks as a run's configuration before it replaces the file, and the file is replaced whole
(written beside it, synced, renamed): a refused edit leaves it exactly as it was.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urljoin, urlsplit

from lxml import etree

from .config import CONFIG_FILE
from .errors import ConfigError, FeedError, FetchError
from .sources import DEFAULT_SOURCES, Source, source_fields, sources_from_tables
from .store.atomic import TMP_SUFFIX, AtomicBatch, turn
from .store.layout import HIDDEN

if TYPE_CHECKING:  # tomlkit is imported by the functions that edit: `opml export` reads, and pays nothing for it
    import tomlkit
    from tomlkit.items import AoT, Table

# The `type` of a page's <link rel="alternate"> that announces a feed.
FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml"})
# Where sites usually keep their feed, tried in this order when a page announces none.
COMMON_FEED_PATHS = ("/feed", "/rss", "/rss.xml", "/feed.xml", "/atom.xml", "/index.xml", "/feed/", "/rss/")
# Labels of a host that say nothing about the outlet (rss.dw.com is "dw"; feeds.bbci.co.uk is "bbci").
_NOISE_LABELS = frozenset({"www", "rss", "feed", "feeds", "m", "api", "cn", "zh", "news"})
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "edu", "ac"})
# Attributes of our own on OPML outlines, so that an exported list imports back unchanged; other readers ignore them.
OPML_NS = "https://newsarchive.invalid/opml"


@dataclass(frozen=True, kw_only=True)
class OpmlFeed:
    """One feed outline of an OPML file."""

    xml_url: str
    title: str
    html_url: str | None = None
    category: str | None = None
    slug: str | None = None  # from an export of newsarchive: the feeds of one outlet share it
    fulltext: str | None = None
    fulltext_selector: str | None = None


@dataclass
class OpmlReport:
    """What an OPML import did: outlets added, feeds skipped as already configured, and feeds refused (with why)."""

    added: list[Source] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (feed, slug of the outlet that has it)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (feed, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [{"slug": s.slug, "name": s.name, "feeds": list(s.feeds)} for s in self.added],
            "duplicates": [{"feed": feed, "slug": slug} for feed, slug in self.duplicates],
            "refused": [{"feed": feed, "reason": reason} for feed, reason in self.refused],
        }


# -- reading and writing newsarchive.toml ----------------------------------------------------------------------


def _config_path(root: Path) -> Path:
    return root / CONFIG_FILE


P = ParamSpec("P")
R = TypeVar("R")


def _one_edit_at_a_time(edit: Callable[Concatenate[Path, P], R]) -> Callable[Concatenate[Path, P], R]:
    """An edit of the newsarchive.toml in its first argument's folder, waiting for any other: two at once (two `add`s)
    would each write the file as they read it, and one's change would be lost. An archive keeps the lock file in
    .newsarchive/; a folder without one is no archive that a command could be editing beside."""

    @functools.wraps(edit)
    def waiting_its_turn(root: Path, /, *args: P.args, **options: P.kwargs) -> R:
        hidden = root / HIDDEN
        with turn(hidden / "config.lock") if hidden.is_dir() else contextlib.nullcontext():
            return edit(root, *args, **options)

    return waiting_its_turn


def _load_document(root: Path) -> tomlkit.TOMLDocument:
    import tomlkit

    path = _config_path(root)
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix the TOML syntax at the place named") from None


def _source_table(source: Source) -> Table:
    import tomlkit

    table = tomlkit.table()
    table.update(source_fields(source))
    return table


def _sources_array(document: tomlkit.TOMLDocument) -> AoT:
    """The document's [[sources]]; a file without any means the built-in outlets, which are written out first so
    that an edit does not silently drop them."""
    import tomlkit
    from tomlkit.items import AoT

    if "sources" not in document:
        document.add(tomlkit.nl())
        document["sources"] = tomlkit.aot()
        for source in DEFAULT_SOURCES:
            document["sources"].append(_source_table(source))
    sources = document["sources"]
    if not isinstance(sources, AoT):
        raise ConfigError(f"{CONFIG_FILE}: sources must be an array of tables: [[sources]]")
    return sources


def _checked(root: Path, document: tomlkit.TOMLDocument) -> tuple[str, tuple[Source, ...]]:
    """The document's text and its outlets, read back through the checks every run applies."""
    import tomlkit

    text = tomlkit.dumps(document)
    path = _config_path(root)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # tomlkit wrote what tomllib cannot read: refuse rather than write it
        raise ConfigError(f"{path}: the edited configuration would not be valid TOML: {exc}") from None
    return text, sources_from_tables(data.get("sources", []), str(path), root)


def _write(root: Path, text: str) -> None:
    path = _config_path(root)
    batch = AtomicBatch()
    try:
        batch.write(path, text.encode("utf-8"))
        batch.commit()
    except OSError as exc:
        Path(f"{path}{TMP_SUFFIX}").unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write it: {exc.strerror}", hint="check the folder's permissions and free space") from None


# -- names ----------------------------------------------------------------------------------------------------


def feed_key(url: str) -> str:
    """A feed address compared loosely: scheme, case of the host, a trailing slash and a default port aside."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    path = parts.path.rstrip("/") or ""
    return f"{host}{port}{path}" + (f"?{parts.query}" if parts.query else "") if host else url.strip()


def propose_slug(url: str, taken: Iterable[str], title: str = "") -> str:
    """A short folder name for an outlet, from its host: https://rss.dw.com/… is "dw", feeds.bbci.co.uk "bbci";
    from the feed's ``title`` when the host is an address; a -2, -3 … keeps it apart from the slugs ``taken``."""
    host = (urlsplit(url).hostname or "").lower()
    labels = [label for label in host.split(".") if label]
    if _is_address(host) or len(labels) < 2:
        labels = [re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")]
    else:
        labels.pop()  # the top-level domain
        if len(labels) > 1 and labels[-1] in _SECOND_LEVEL:
            labels.pop()  # co.uk, com.tw …
    meaningful = [label for label in labels if label not in _NOISE_LABELS] or labels
    base = re.sub(r"[^a-z0-9_.-]+", "-", meaningful[-1]).strip("-.")[:56] or "outlet"
    taken = set(taken)
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _unique_name(name: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name} ({number})", number + 1
    return candidate


def _clean_name(name: str, fallback: str) -> str:
    """A display name that can be lists/<name>.md: one line, no path separators."""
    name = re.sub(r"\s+", " ", name).strip().replace("/", "／").replace("\\", "＼").lstrip(".")
    return name[:80] or fallback


# -- finding a feed ---------------------------------------------------------------------------------------------


def feed_links(page: bytes, base_url: str) -> list[str]:
    """The feeds a page announces with <link rel="alternate" type="application/rss+xml" …>, absolute, in order."""
    import lxml.html

    try:
        document = lxml.html.document_fromstring(page)
    except (etree.ParserError, ValueError):
        return []
    found: list[str] = []
    for link in document.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            address = urljoin(base_url, href)
            if address.startswith(("http://", "https://")) and address not in found:
                found.append(address)
    return found


def _looks_like_feed(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return (head.startswith(b"<?xml") or head.startswith(b"<rss") or head.startswith(b"<feed")) and b"<html" not in head


def feed_title(data: bytes) -> str:
    """The feed's own title (channel or feed title), as plain text; "" when it has none."""
    import feedparser

    return str(feedparser.parse(data).feed.get("title", "") or "").strip()


def origin_of(url: str) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(url))


@dataclass(frozen=True, kw_only=True)
class FoundFeed:
    url: str
    title: str
    items: int


async def find_feed(url: str, fetch: Any) -> FoundFeed:
    """The feed at ``url``, or the first one the page at ``url`` announces, or one at a common path of its site;
    fetched and parsed once to check that it is a feed. ``fetch`` is a ``Fetcher.fetch``. Raises FeedError naming
    what was tried."""
    from .parse import parse_feed

    async def try_feed(address: str) -> tuple[FoundFeed | None, bytes]:
        # The page's links are its content: only those on the site the user named are trusted as that address is;
        # others are fetched as untrusted addresses are (public ones only), never at loopback or the private network.
        result = await fetch(address, untrusted=origin_of(address) != origin)
        body = result.body or b""
        if not _looks_like_feed(body):
            return None, body
        parsed = parse_feed(body, url=address, http_charset=result.charset)
        return FoundFeed(url=address, title=feed_title(body), items=len(parsed.items)), body

    origin = origin_of(url)
    found, page = await try_feed(url)
    if found is not None:
        return found
    tried = [url]
    candidates = feed_links(page, url) + [origin + path for path in COMMON_FEED_PATHS]
    for candidate in dict.fromkeys(candidates):
        tried.append(candidate)
        try:
            found, _ = await try_feed(candidate)
        except (FetchError, FeedError):
            continue
        if found is not None:
            return found
    raise FeedError(
        f"{url}: no feed found (tried {len(tried)} addresses: the feeds the page names, then {', '.join(COMMON_FEED_PATHS[:4])} …)",
        url=url,
        hint="give the feed's own address (it ends in .xml, /rss or /feed on most sites)",
    )


# -- editing the outlets ----------------------------------------------------------------------------------------


def refuse_duplicate(feeds: Sequence[str], sources: Iterable[Source]) -> None:
    """ConfigError when an outlet among ``sources`` archives one of ``feeds`` already (compared by ``feed_key``)."""
    keys = {feed_key(feed): feed for feed in feeds}
    for source in sources:
        for feed in source.feeds:
            if feed_key(feed) in keys:
                raise ConfigError(
                    f"{keys[feed_key(feed)]}: outlet {source.slug!r} already archives this feed",
                    hint="see `newsarchive sources`; nothing was added",
                )


@_one_edit_at_a_time
def add_source(root: Path, *, feeds: Sequence[str], name: str | None = None, slug: str | None = None, title: str = "") -> Source:
    """Append a [[sources]] table for ``feeds`` to newsarchive.toml. The slug is proposed from the host and the name
    taken from the feed's ``title`` unless given. Refused (ConfigError) when an outlet already has one of the feeds
    or the slug or name is taken."""
    document = _load_document(root)
    array = _sources_array(document)
    existing = _checked(root, document)[1]
    refuse_duplicate(feeds, existing)
    if slug is None:
        slug = propose_slug(feeds[0], (s.slug for s in existing), title)
    elif any(s.slug == slug for s in existing):
        raise ConfigError(f"an outlet with slug {slug!r} exists already", hint="choose another with --slug")
    if name is None:
        name = _unique_name(_clean_name(title, slug), (s.name for s in existing))
    elif any(s.name == name for s in existing):
        raise ConfigError(f"an outlet named {name!r} exists already", hint="choose another with --name")
    source = Source(name=name, slug=slug, feeds=tuple(feeds))
    array.append(_source_table(source))
    text, _ = _checked(root, document)
    _write(root, text)
    return source


@_one_edit_at_a_time
def ensure_source(root: Path, source: Source) -> None:
    """Append ``source`` to newsarchive.toml unless an outlet with its slug is there."""
    document = _load_document(root)
    array = _sources_array(document)
    if all(existing.slug != source.slug for existing in _checked(root, document)[1]):
        array.append(_source_table(source))
        _write(root, _checked(root, document)[0])


@_one_edit_at_a_time
def remove_source(root: Path, slug: str) -> Source:
    """Take the outlet ``slug`` out of newsarchive.toml (its articles stay in the archive). ConfigError if unknown."""
    document = _load_document(root)
    array = _sources_array(document)
    sources = _checked(root, document)[1]
    for position, source in enumerate(sources):
        if source.slug == slug:
            del array[position]
            text, _ = _checked(root, document)
            _write(root, text)
            return source
    raise ConfigError(f"no outlet with slug {slug!r} in {_config_path(root)}", hint="`newsarchive sources` lists them")


# -- OPML ---------------------------------------------------------------------------------------------------------


def parse_opml(data: bytes, where: str) -> list[OpmlFeed]:
    """The feed outlines of an OPML file (1.0 or 2.0, as Miniflux, FreshRSS, Feedly and Inoreader write them),
    outlines nested in categories included. Raises ConfigError when it is not OPML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"{where}: not an OPML file: {exc}", hint="export the list again from your feed reader") from None
    if etree.QName(root).localname != "opml" or root.find("body") is None:
        raise ConfigError(f"{where}: not an OPML file (its root is <{etree.QName(root).localname}>, not <opml> with a <body>)")
    feeds: list[OpmlFeed] = []

    def walk(element: Any, category: str | None) -> None:
        for outline in element.iterchildren("outline"):
            label = (outline.get("title") or outline.get("text") or "").strip()
            xml_url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            if xml_url:
                feeds.append(
                    OpmlFeed(
                        xml_url=xml_url,
                        title=label,
                        html_url=(outline.get("htmlUrl") or None),
                        category=category,
                        slug=outline.get(f"{{{OPML_NS}}}slug"),
                        fulltext=outline.get(f"{{{OPML_NS}}}fulltext"),
                        fulltext_selector=outline.get(f"{{{OPML_NS}}}fulltext_selector"),
                    )
                )
            walk(outline, label or category if not xml_url else category)

    walk(root.find("body"), None)
    return feeds


def render_opml(sources: Iterable[Source], title: str) -> bytes:
    """OPML 2.0 of the outlets: an outline per feed (others readers see every feed), each carrying its outlet's slug
    and full-text settings in attributes of our own, so that the file imports back into the same outlets."""
    nsmap = {"newsarchive": OPML_NS}
    root = etree.Element("opml", version="2.0", nsmap=nsmap)
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    for source in sources:
        if not source.enabled:
            continue
        for feed in source.feeds:
            outline = etree.SubElement(body, "outline", type="rss", text=source.name, title=source.name, xmlUrl=feed)
            outline.set(f"{{{OPML_NS}}}slug", source.slug)
            if source.fulltext != "feed":
                outline.set(f"{{{OPML_NS}}}fulltext", source.fulltext)
            if source.fulltext_selector:
                outline.set(f"{{{OPML_NS}}}fulltext_selector", source.fulltext_selector)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


@_one_edit_at_a_time
def import_opml(root: Path, feeds: Sequence[OpmlFeed]) -> OpmlReport:
    """Add the outlets of OPML ``feeds`` to newsarchive.toml in one write: feeds an outlet has already are skipped,
    feeds that cannot be an outlet are refused with the reason; outlines sharing a newsarchive slug become one
    outlet. Nothing is written when nothing is added; the file is never half-written."""
    document = _load_document(root)
    array = _sources_array(document)
    existing = list(_checked(root, document)[1])
    report = OpmlReport()
    owner = {feed_key(feed): source.slug for source in existing for feed in source.feeds}
    grouped: dict[str, list[OpmlFeed]] = {}
    for feed in feeds:
        if not feed.xml_url.lower().startswith(("http://", "https://")):
            report.refused.append((feed.xml_url, "not an http(s) address"))
        elif feed_key(feed.xml_url) in owner:
            report.duplicates.append((feed.xml_url, owner[feed_key(feed.xml_url)]))
        else:
            owner[feed_key(feed.xml_url)] = "(earlier in this file)"
            grouped.setdefault(feed.slug or "\0" + feed.xml_url, []).append(feed)
    for group in grouped.values():
        first, taken = group[0], existing + report.added
        slugs = [s.slug.casefold() for s in taken]  # one folder where case does not count (Windows, macOS)
        slug = first.slug if first.slug and first.slug.casefold() not in slugs else propose_slug(first.xml_url, slugs, first.title)
        name = _unique_name(_clean_name(first.title, slug), (s.name for s in taken))
        fields: dict[str, Any] = {"name": name, "slug": slug, "feeds": [g.xml_url for g in group]}
        fields |= {key: value for key in ("fulltext", "fulltext_selector") if (value := getattr(first, key))}
        try:
            report.added.append(sources_from_tables([fields], "OPML", root)[0])
        except ConfigError as exc:
            report.refused.extend((g.xml_url, str(exc)) for g in group)
    if report.added:
        for source in report.added:
            array.append(_source_table(source))
        text, _ = _checked(root, document)
        _write(root, text)
    return report


def delete_outlet_files(root: Path, source: Source, others: Iterable[Source] = ()) -> int:
    """Delete an outlet's articles, earlier versions and list (its folders under articles/ and revisions/, by slug
    or by the name older archives used, unless that name is the slug of one of the ``others``, whose folder it is).
    The index must be rebuilt after (``reindex``). Returns the files deleted."""
    import shutil

    theirs = {other.slug for other in others if other.slug != source.slug}
    deleted = 0
    for top in ("articles", "revisions"):
        for folder in dict.fromkeys(folder for folder in (source.slug, source.name) if folder not in theirs):
            path = root / top / folder
            if path.is_dir() and path.parent == root / top:
                deleted += sum(len(files) for _, _, files in os.walk(path))
                shutil.rmtree(path)
    listing = root / "lists" / f"{source.name}.md"
    if listing.is_file():
        listing.unlink()
        deleted += 1
    return deleted
