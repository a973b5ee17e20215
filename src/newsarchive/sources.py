"""Stage 1, sources: the built-in outlets and ``[[sources]]`` tables -> ``Source`` objects."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

SLUG_MAX = 64
# Names Windows keeps for devices, with or without an extension (nul.md too): no folder can bear them there.
_WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"{port}{n}" for port in ("com", "lpt") for n in range(10))})
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
# How an outlet's article text is taken (fulltext.py): the feed's body; the article page's main text; or the
# page only when the feed's body is short or looks like a summary.
FULLTEXT_MODES = ("feed", "page", "auto")


@dataclass(frozen=True, kw_only=True)
class Source:
    """One outlet: its display name (``lists/<name>.md``), its folder and its feeds, in order of preference."""

    name: str
    slug: str
    feeds: tuple[str, ...] = ()
    enabled: bool = True
    fulltext: str = "feed"
    fulltext_selector: str | None = None  # CSS selector of the page's main text; else the outlet's rule, then trafilatura
    allow_private: bool = False  # addresses from feed content may be loopback or private (a self-hosted outlet, tests)
    # As feed readers offer them: how often, as whom and through what its feeds are fetched, and how much is taken.
    every: float | None = None  # seconds: fetched at most this often (every = "6h"); None: on every run
    recheck_schedule: tuple[float, ...] | None = None  # hours between rechecks of its pages; None: recheck.schedule_hours
    max_items: int | None = None  # items taken from each feed at most, in the feed's order
    user_agent: str | None = None  # None: fetch.user_agent
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request for its feeds and pages
    proxy: str | None = None  # None: fetch.proxy

    def request_headers(self) -> dict[str, str]:
        """Its own headers, sent with every request for its feeds and pages (a User-Agent of its own among them)."""
        headers = dict(self.headers)
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        return headers

    def __post_init__(self) -> None:
        problem = slug_problem(self.slug)
        if problem:
            raise ConfigError(
                f"source slug {self.slug!r} cannot be an outlet's folder: {problem}",
                hint=f"use at most {SLUG_MAX} letters (any script), digits, '-', '_' or '.', like slug = \"rfi\" or slug = \"法广\"",
            )
        if not self.name.strip() or _BAD_NAME.search(self.name) or self.name.startswith("."):
            raise ConfigError(
                f"source name {self.name!r} cannot be a file name for lists/<name>.md",
                hint="use a display name without '/', '\\', control characters or a leading dot",
            )
        for feed in self.feeds:
            if not isinstance(feed, str) or not feed.strip():
                raise ConfigError(f"source {self.slug!r} has an empty feed address")
            check_feed(self.slug, feed)
        if self.fulltext not in FULLTEXT_MODES:
            raise ConfigError(
                f"source {self.slug!r}: fulltext = {self.fulltext!r} is not one of {', '.join(map(repr, FULLTEXT_MODES))}",
                hint='"feed" keeps the feed\'s body, "page" takes the article page\'s text, "auto" the page only for summaries',
            )


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot name an outlet's folder (``articles/<slug>/``) on every system git checks out on, or None.
    Letters of any script and digits, as the older duty-machine archives' Chinese-named folders (articles/法广/)."""
    if not slug:
        return "it is empty"
    if len(slug) > SLUG_MAX:
        return f"it is longer than {SLUG_MAX} characters"
    for char in slug:
        if char not in "-_." and not unicodedata.category(char).startswith("L") and unicodedata.category(char) != "Nd":
            return f"{unicodedata.name(char, f'U+{ord(char):04X}')} is neither a letter, a digit, '-', '_' nor '.'"
    if slug.startswith(".") or slug.endswith("."):
        return "it starts or ends with a dot"
    if slug.split(".")[0].lower() in _WINDOWS_RESERVED:
        return "Windows reserves that name for a device"
    return None


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: C: is a drive
_MISSING_COLON = re.compile(r"^https?/", re.IGNORECASE)  # http//host/feed, https/host/feed


def _feed_problem(feed: str) -> str | None:
    """What is wrong with a feed address, or None for an http(s) address with a host, a file: URL or a local path."""
    scheme = _SCHEME.match(feed)
    if scheme is None:
        if feed.startswith("//"):
            return "has no scheme: write http:// or https:// before the host"
        if _MISSING_COLON.match(feed):
            return "lacks the ':' after http (write http:// or https://)"
        return None  # a local path
    name = scheme.group(1).lower()
    if name in ("http", "https"):
        if not feed[len(name) + 1 :].startswith("//") or not urlsplit(feed).hostname:
            return f"is not a whole {name}:// address with a host"
        return None
    if name == "file":
        return None
    return f"uses {name}:, which cannot be fetched"


def check_feed(slug: str, feed: str) -> None:
    """Feed addresses are checked when the configuration loads, not taken for local paths at fetch time."""
    problem = _feed_problem(feed.strip())
    if problem:
        raise ConfigError(
            f"source {slug!r}: feed {feed!r} {problem}", hint="a feed is an http:// or https:// address, a file:// URL or a local path"
        )


def _check_selector(slug: str, selector: str) -> None:
    """Checked where configuration is read, not for the built-in outlets: cssselect costs start-up time. Translated
    as lxml's CSSSelector translates it (lxml's translator is cssselect's), without importing lxml, which every
    command reading the configuration would pay for and only full text uses."""
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(selector)
    except (SelectorError, ValueError) as exc:
        raise ConfigError(
            f"source {slug!r}: fulltext_selector = {selector!r} is not a CSS selector: {exc}",
            hint='e.g. fulltext_selector = "div.post-content"',
        ) from None


DEFAULT_SOURCES: tuple[Source, ...] = (
    # The official feeds of all but RFA and CDT carry summaries: "auto" takes the article page for those (see
    # fulltext.py for each outlet's rule), and the feedx.net mirrors' full texts make a page unnecessary.
    Source(name="法广", slug="rfi", feeds=("https://www.rfi.fr/cn/rss", "https://feedx.net/rss/rfi.xml"), fulltext="auto"),
    Source(
        name="自由亚洲电台",
        slug="rfa",
        feeds=("https://www.rfa.org/arc/outboundfeeds/mandarin/rss/", "https://www.rfa.org/mandarin/rss2.xml"),
        fulltext="auto",
    ),
    Source(
        name="美国之音",
        slug="voa",
        feeds=("https://www.voachinese.com/api/zm_yql-vomx-tpeybti", "https://feedx.net/rss/mgzy1.xml"),
        fulltext="auto",
    ),
    Source(
        name="BBC", slug="bbc", feeds=("https://feeds.bbci.co.uk/zhongwen/simp/rss.xml", "https://feedx.net/rss/bbc.xml"), fulltext="auto"
    ),
    Source(name="德国之声", slug="dw", feeds=("https://rss.dw.com/rdf/rss-chi-all", "https://feedx.net/rss/dw.xml"), fulltext="auto"),
    Source(name="纽约时报", slug="nyt", feeds=("https://cn.nytimes.com/rss/", "https://feedx.net/rss/nytimes.xml"), fulltext="auto"),
    # The original archived CDT from its pages' div.post-content; the feed's content:encoded is the full text too.
    Source(
        name="中国数字时代",
        slug="cdt",
        feeds=("https://chinadigitaltimes.net/chinese/feed/",),
        fulltext="auto",
        fulltext_selector="div.post-content",
    ),
    # Reuters has had no Chinese feed since 2022-04; kept so that archives holding it import under its slug.
    Source(name="路透", slug="reuters", feeds=(), enabled=False),
    Source(name="金融时报", slug="ft", feeds=("https://www.ftchinese.com/rss/feed", "https://feedx.net/rss/ft.xml"), fulltext="auto"),
)

# duty-machine's 2020 archives put each outlet in a folder named after it (articles/法广/...).
FOLDER_ALIASES: Mapping[str, str] = {source.name: source.slug for source in DEFAULT_SOURCES}

_KEYS = {"name", "slug", "feeds", "enabled", "fulltext", "fulltext_selector", "allow_private"}
_READER_KEYS = {"every", "recheck_schedule", "max_items", "user_agent", "headers", "proxy"}
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
# Headers that describe the connection or the body: httpx sets them, and a wrong one breaks the request.
_OWN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding", "if-none-match", "if-modified-since"}


def bad_proxy(proxy: object) -> bool:
    """True unless ``proxy`` is a whole proxy address (scheme://host…) of a scheme httpx can use."""
    if not isinstance(proxy, str):
        return True
    parts = urlsplit(proxy)
    return parts.scheme not in PROXY_SCHEMES or not proxy.startswith(f"{parts.scheme}://") or not parts.hostname


def header_text(value: str) -> bool:
    """Text httpx can send in a header: printable ASCII (it encodes header values as ASCII)."""
    return value.isascii() and value.isprintable()


def reader_settings(table: Mapping[str, Any], slug: str) -> dict[str, Any]:
    """The per-outlet settings that feed readers offer, checked and converted (``every`` and ``recheck_schedule``
    are durations: "10m", "6h", "1d")."""
    from .durations import parse_duration

    settings: dict[str, Any] = {}
    if (every := table.get("every")) is not None:
        settings["every"] = parse_duration(every, what=f"source {slug!r}: every =")
    if (schedule := table.get("recheck_schedule")) is not None:
        if not isinstance(schedule, list) or not schedule:
            raise ConfigError(
                f"source {slug!r}: recheck_schedule must be a list of durations", hint='e.g. ["10m", "30m", "1h", "6h", "1d"]'
            )
        what = f"source {slug!r}: recheck_schedule item"
        settings["recheck_schedule"] = tuple(parse_duration(gap, what=what) / 3600 for gap in schedule)
    if (max_items := table.get("max_items")) is not None:
        if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 1:
            raise ConfigError(f"source {slug!r}: max_items = {max_items!r} must be a whole number of at least 1")
        settings["max_items"] = max_items
    if (agent := table.get("user_agent")) is not None:
        if not isinstance(agent, str) or not agent.strip() or not header_text(agent):
            raise ConfigError(f"source {slug!r}: user_agent must be one line of text", hint="printable ASCII: HTTP headers carry no other")
        settings["user_agent"] = agent.strip()
    if (headers := table.get("headers")) is not None:
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError(f"source {slug!r}: headers must be a table of names and text", hint='headers = { Referer = "https://…" }')
        for name, value in headers.items():
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name) or name.lower() in _OWN_HEADERS or not header_text(value):
                raise ConfigError(f"source {slug!r}: header {name!r} cannot be set", hint="newsarchive sets it, or it is not a header")
        settings["headers"] = tuple(sorted(headers.items()))
    if (proxy := table.get("proxy")) is not None:
        if bad_proxy(proxy):
            raise ConfigError(
                f"source {slug!r}: proxy = {proxy!r} is not a proxy address", hint="use http://, https://, socks5:// or socks5h://host:port"
            )
        settings["proxy"] = proxy
    return settings


def _resolve_feed(feed: str, base: Path | None) -> str:
    """A relative local path is relative to the file that names it, not to wherever the command runs."""
    if base is None or "://" in feed or feed.startswith(("file:", "/", "~")):
        return feed
    return str(base / feed)


def source_fields(source: Source) -> dict[str, Any]:
    """The keys of a [[sources]] table for ``source``, those that differ from the defaults, as TOML values."""
    from .durations import format_duration

    fields: dict[str, Any] = {"name": source.name, "slug": source.slug, "feeds": list(source.feeds)}
    defaults = Source(name=source.name, slug=source.slug)
    for key in ("enabled", "fulltext", "fulltext_selector", "allow_private", "max_items", "user_agent", "proxy"):
        if getattr(source, key) != getattr(defaults, key):
            fields[key] = getattr(source, key)
    if source.every is not None:
        fields["every"] = format_duration(source.every)
    if source.recheck_schedule is not None:
        fields["recheck_schedule"] = [format_duration(hours * 3600) for hours in source.recheck_schedule]
    if source.headers:
        fields["headers"] = dict(source.headers)
    return fields


def source_from_table(table: Mapping[str, Any], where: str, base: Path | None = None) -> Source:
    """Build one Source from a ``[[sources]]`` table; ``where`` names the file for error messages and
    ``base`` is its folder."""
    unknown = set(table) - _KEYS - _READER_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown)[0]!r} in [[sources]]",
            hint=f"allowed keys: {', '.join(sorted(_KEYS | _READER_KEYS))}",
        )
    try:
        name, slug = table["name"], table["slug"]
    except KeyError as exc:
        raise ConfigError(f"{where}: a [[sources]] table lacks {exc.args[0]!r}", hint='give name = "..." and slug = "..."') from None
    feeds = table.get("feeds", [])
    if isinstance(feeds, str):
        feeds = [feeds]
    if not isinstance(name, str) or not isinstance(slug, str) or not isinstance(feeds, list) or not all(isinstance(f, str) for f in feeds):
        raise ConfigError(f"{where}: source {slug!r}: name and slug must be strings, feeds a list of strings")
    enabled, allow_private = table.get("enabled", True), table.get("allow_private", False)
    for key, flag in (("enabled", enabled), ("allow_private", allow_private)):
        if not isinstance(flag, bool):
            raise ConfigError(f"{where}: source {slug!r}: {key} must be true or false")
    fulltext, selector = table.get("fulltext", "feed"), table.get("fulltext_selector")
    if not isinstance(fulltext, str) or not (selector is None or (isinstance(selector, str) and selector.strip())):
        raise ConfigError(
            f"{where}: source {slug!r}: fulltext must be a string and fulltext_selector a non-empty CSS selector",
            hint='fulltext = "auto", fulltext_selector = "div.post-content"',
        )
    try:
        if selector is not None:
            _check_selector(slug, selector)
        for feed in feeds:
            check_feed(slug, feed)  # as written: a relative path made absolute would hide http//…
        return Source(
            name=name,
            slug=slug,
            feeds=tuple(_resolve_feed(feed, base) for feed in feeds),
            enabled=enabled,
            fulltext=fulltext,
            fulltext_selector=selector,
            allow_private=allow_private,
            **reader_settings(table, slug),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}", hint=exc.hint) from None


def sources_from_tables(tables: Iterable[Mapping[str, Any]], where: str, base: Path | None = None) -> tuple[Source, ...]:
    sources = tuple(source_from_table(table, where, base) for table in tables)
    seen: dict[str, str] = {}
    for source in sources:
        # Folders that differ only in case are one folder on Windows and macOS.
        for key, kind in ((source.slug.casefold(), "slug"), ("name:" + source.name, "name")):
            if key in seen:
                raise ConfigError(f"{where}: two sources share the {kind} {key.removeprefix('name:')!r}")
            seen[key] = kind
    return sources


def slug_for_folder(folder: str, sources: Iterable[Source]) -> str:
    """The outlet slug an ``articles/<folder>`` belongs to: its slug, a display-name folder, or the folder itself. A
    slug wins over a name: with slug = "法广" configured, articles/法广/ is that outlet's even when another is named 法广."""
    sources = tuple(sources)
    for source in sources:
        if folder == source.slug:
            return source.slug
    for source in sources:
        if folder == source.name:
            return source.slug
    return FOLDER_ALIASES.get(folder, folder)
