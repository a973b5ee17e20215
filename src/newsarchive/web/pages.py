"""The reader's pages, shared by ``serve`` and ``build-site``: what each page shows, rendered from
templates/.

Pages live at the same paths on the server and in the static site (``index.html``,
``outlets/<slug>/page-<n>.html``, ``articles/<folder>/<id>.html``, ``revisions/.../<ms>.html``,
``search.html``), and every link is relative to the page it is on, so the same HTML works from a
server, from ``file://`` and under any mirror path. An outlet's pages are counted from its oldest
article, so a page that is full never changes again and a static rebuild rewrites only the newest.
Article bodies are cleaned at output time; the stored files stay as published.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from ..diff import compare, read_version, segments_html, versions_of
from ..errors import ArticleFileError, NewsarchiveError
from ..html import clean_html
from ..index import ArticleRow
from ..store import layout
from ..store.store import Store
from ..times import day_name, day_of

HOME = "index.html"
SEARCH = "search.html"
STATIC_FILES = ("style.css", "search.js", "icon.svg")
NEWEST_ON_HOME = 30
COUNTS_TTL = 10.0  # seconds
BEIJING = timezone(timedelta(hours=8))

# Scripts only from the site itself (the static search), no inline script, nothing from another host, and no frames:
# video embeds are boxes whose link opens the video's own page in a new tab (html.py), so no page needs one. (The
# static search page alone frames the site's own pages, hidden, to read their text: frame-src 'self'.)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{images}; media-src 'self'{images};"
    " frame-src {frames}; form-action 'self'; base-uri 'none'"
)
# The changes between two versions, beside the article's page: diff-<older>-<newer>.html (versions named by when they
# were first seen, in ms), or on the server diff.html?from=<older>&to=<newer> for any two.
DIFF_PAGE = re.compile(r"^(articles/.+)/diff(?:-([0-9]+|latest)-([0-9]+|latest))?\.html$")


def content_security_policy(remote_images: bool, *, frames: str = "'none'") -> str:
    return CSP.format(images=" https: http:" if remote_images else "", frames=frames)


def digest_href(day: int) -> str:
    return f"digest/{day_name(day)}.html"


def outlet_href(slug: str, number: int | None = None) -> str:
    return f"outlets/{slug}/index.html" if number is None else f"outlets/{slug}/page-{number}.html"


def page_of(path: str) -> str:
    """The page of an article file or an earlier version: ``articles/rfi/1048574.md`` -> ``.html``."""
    return path.removesuffix(".md") + ".html"


def diff_page(article: str, older: str | None = None, newer: str | None = None) -> str:
    """``articles/rfi/1048574.md`` -> ``articles/rfi/1048574/diff-<older>-<newer>.html`` (``diff.html`` without ids)."""
    return article.removesuffix(".md") + (f"/diff-{older}-{newer}.html" if older and newer else "/diff.html")


def diff_pages(row: ArticleRow, revisions: list[tuple[str, str, int]]) -> list[str]:
    """The pages of the changes from each version of an article to the next (``revisions`` from ``Index.revisions``)."""
    versions = versions_of(row, revisions)
    return [diff_page(row.path, older.id, newer.id) for older, newer in pairwise(versions)]


def relative(current: str, target: str) -> str:
    """``target`` (a site path, maybe with ``?query``) as a link from the page at ``current``. Both are
    paths inside the site, so this is string work (``posixpath.relpath`` asks the OS for the cwd each time)."""
    path, mark, query = target.partition("?")
    here, there = current.split("/")[:-1], path.split("/")
    common = 0
    while common < len(here) and common < len(there) - 1 and here[common] == there[common]:
        common += 1
    link = "../" * (len(here) - common) + "/".join(there[common:])
    return quote(link or "./") + mark + query


def day_ms(value: str, *, end: bool = False) -> int:
    """Milliseconds at the start (or the last of the end) of a YYYY-MM-DD day in Beijing time, as the lists
    count days. ValueError says what is wrong."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=BEIJING)
    except ValueError:
        raise ValueError(f"{value!r} is not a date like 2026-11-24") from None
    return int(((day + timedelta(days=1)) if end else day).timestamp() * 1000) - (1 if end else 0)


def beijing_time(ms: int | None, *, seconds: bool = False) -> tuple[str, str]:
    """(shown, ISO 8601) for a time in ms, shown in UTC+8 as the outlets' readers count it, to the minute (or second)."""
    if ms is None:
        return "", ""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    shown = moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return shown, moment.isoformat().replace("+00:00", "Z")


def version_times(times: list[int | None]) -> list[str]:
    """When each version was first seen, to the minute, or to the second where two fall in the same minute."""
    minutes = [beijing_time(ms)[0] for ms in times]
    return [beijing_time(ms, seconds=True)[0] if minutes.count(shown) > 1 else shown for ms, shown in zip(times, minutes, strict=True)]


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One line of a list of articles."""

    href: str
    title: str
    date: str
    iso: str
    outlet: str = ""
    snippet: Markup | str = ""


def removed_banner(takedown: tuple[int, int | None, str, str, str | None] | None) -> dict[str, str] | None:
    """What an article's page says of a confirmed takedown (recheck.py): when it was first found gone, and how."""
    if takedown is None or takedown[1] is None:
        return None
    date, iso = beijing_time(takedown[0])
    hows = {"404": "HTTP 404", "410": "HTTP 410", "text gone": "页面上已无此文 the page no longer holds the text"}
    how = hows.get(takedown[2], takedown[2])
    return {"date": date, "iso": iso, "how": how}


def marked(snippet: str) -> Markup:
    """A search snippet with its matches (between 【 and 】) marked, everything else escaped."""
    return Markup(str(escape(snippet)).replace("【", "<mark>").replace("】", "</mark>"))


@cache
def templates() -> jinja2.Environment:
    """One environment for every Pages: jinja2 compiles each template once and is safe across threads."""
    return jinja2.Environment(loader=jinja2.PackageLoader("newsarchive.web"), autoescape=True, trim_blocks=True, lstrip_blocks=True)


class Pages:
    """Renders the reader's pages from one archive. Not shared between threads (it holds the index)."""

    def __init__(self, archive: Store, *, static: bool) -> None:
        self.archive = archive
        self.site = archive.settings.site
        self.static = static
        self._counts: tuple[float, dict[str, int]] | None = None
        self.env = templates()

    def local_images(self, page: str, article: int) -> dict[str, str]:
        """The article's images kept in media/, as addresses relative to ``page`` (see ``newsarchive.media``)."""
        from ..media import local_copies

        copies = local_copies(self.archive.index, self.archive.index.article_images(article))
        return {url: relative(page, path) for url, path in copies.items()}

    def render(self, template: str, current: str, *, base: str | None = None, frames: str = "'none'", **context: Any) -> str:
        """``template`` for the page at ``current``: links relative to it, or absolute under ``base`` when given; ``frames``
        is what the page may show in a frame."""
        rel: Callable[[str], str] = (lambda target: base + quote(target)) if base else (lambda target: relative(current, target))
        return self.env.get_template(template).render(
            rel=rel,
            static=self.static,
            csp=content_security_policy(self.site.remote_images, frames=frames),
            site_title=self.archive.settings.title,
            **context,
        )

    # what pages there are -------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Articles per outlet; counting a million rows takes a while, so the server reuses it for a few seconds."""
        now = time.monotonic()
        if self._counts is None or now - self._counts[0] > COUNTS_TTL:
            self._counts = (now, self.archive.index.counts())
        return self._counts[1]

    def outlets(self) -> list[dict[str, Any]]:
        counts = self.counts()
        slugs = [s.slug for s in self.archive.settings.sources if s.slug in counts] + sorted(
            set(counts) - {s.slug for s in self.archive.settings.sources}
        )
        return [{"slug": slug, "name": self.archive.source_name(slug), "count": counts[slug], "href": outlet_href(slug)} for slug in slugs]

    def page_count(self, count: int) -> int:
        return max(1, math.ceil(count / self.site.page_size))

    def entry(self, row: ArticleRow, *, with_outlet: bool = False, time_only: bool = False) -> Entry:
        date, iso = beijing_time(row.pub_ms)
        date = date.partition(" ")[2] if time_only else date
        return Entry(
            href=page_of(row.path), title=row.title, date=date, iso=iso, outlet=self.archive.source_name(row.source) if with_outlet else ""
        )

    # pages ----------------------------------------------------------------------------------

    def home(self) -> str:
        rows = self.archive.index.newest_overall(NEWEST_ON_HOME)
        newest = [self.entry(row, with_outlet=True) for row in rows]
        day = day_of(rows[0].pub_ms) if rows and rows[0].pub_ms is not None else None
        newest_day = {"href": digest_href(day), "name": day_name(day)} if day is not None else None
        mirrors = [(mirror.name, mirror.read_url) for mirror in self.archive.settings.mirrors if mirror.read_url]
        return self.render("home.html", HOME, outlets=self.outlets(), newest=newest, newest_day=newest_day, mirrors=mirrors)

    def not_found(self, current: str, *, base: str | None = None) -> str:
        """The page for an address with none: links home from ``current`` (or under ``base``: a static host serves
        the site's 404.html at whatever address was asked, so only absolute links work there)."""
        return self.render("404.html", current, base=base)

    def outlet(self, slug: str, number: int | None = None) -> str | None:
        """Page ``number`` of an outlet (1 holds its oldest articles); None shows the newest at
        ``index.html``. None when there is no such page."""
        count = self.archive.index.count(slug)
        pages = self.page_count(count)
        shown = pages if number is None else number
        if not count or not 1 <= shown <= pages:
            return None
        size = self.site.page_size
        return self.outlet_page(slug, number, self.archive.index.oldest_first(slug, (shown - 1) * size, size), pages=pages, count=count)

    def outlet_page(self, slug: str, number: int | None, rows: list[ArticleRow], *, pages: int, count: int) -> str:
        """An outlet's page from its rows, oldest first (``number`` None: its newest page, at index.html)."""
        shown = pages if number is None else number
        return self.render(
            "outlet.html",
            outlet_href(slug, number),
            outlet=self.archive.source_name(slug),
            count=count if number is None else None,  # only on the newest page: the others never change
            number=shown,
            feed=f"feeds/{slug}.xml",
            entries=[self.entry(row) for row in reversed(rows)],
            previous=outlet_href(slug, shown + 1) if shown < pages else None,
            next=outlet_href(slug, shown - 1) if shown > 1 else None,
            labels=("← 较新 Newer", "较早 Older →"),
        )

    def article(self, page: str) -> str | None:
        """The page of an article (``articles/...html``), of an earlier version (``revisions/...html``) or of the
        changes between two versions (see ``DIFF_PAGE``)."""
        if DIFF_PAGE.match(page):
            return self.diff(page)
        path = page.removesuffix(".html") + ".md"
        if path.startswith(layout.REVISIONS + "/"):
            found = self.archive.index.revision_at(path)
            row = self.archive.index.article_by_rowid(found[0]) if found else None
            seen_ms = found[2] if found else None
        else:
            row, seen_ms = self.archive.index.article_at(path), None
        if row is None or not path.endswith(".md") or "/../" in path:
            return None
        try:
            stored = self.archive.read(path)
        except (OSError, ArticleFileError, UnicodeDecodeError):
            return None
        body = clean_html(stored.body, stored.link or "", remote_images=self.site.remote_images, local=self.local_images(page, row.rowid))
        date, iso = beijing_time(stored.pub_ms)
        listed = versions_of(row, self.archive.index.revisions(row.rowid))
        seen_times = version_times([v.seen_ms for v in listed])
        versions = [
            {"href": page_of(v.path), "title": v.title, "seen": seen_times[n], "current": v.path == path, "id": v.id}
            | {"diff": diff_page(row.path, listed[n - 1].id, v.id) if n else None}
            for n, v in enumerate(listed)
        ]
        return self.render(
            "article.html",
            page,
            title=stored.title,
            outlet=self.archive.source_name(row.source),
            outlet_href=outlet_href(row.source),
            date=date,
            iso=iso,
            link=stored.link if (stored.link or "").startswith(("http://", "https://")) else None,
            body=Markup(body),
            versions=versions,
            version_of=page_of(row.path) if seen_ms is not None else None,
            seen=next((version["seen"] for version in versions if version["current"]), ""),
            compare=diff_page(row.path),
            removed=removed_banner(self.archive.index.takedown(row.rowid)),
        )

    def diff(self, page: str, older: str | None = None, newer: str | None = None) -> str | None:
        """The changes between two versions of an article, inserted and deleted text marked; the versions come from
        the page's name or else from ``older`` and ``newer`` (ids, see ``diff.Version.id``). None when there is no such
        article or version, or a version's file cannot be read."""
        match = DIFF_PAGE.match(page)
        row = self.archive.index.article_at(match[1] + ".md") if match else None
        if match is None or row is None:
            return None
        older, newer = (match[2], match[3]) if match[2] else (older, newer)
        versions = versions_of(row, self.archive.index.revisions(row.rowid))
        ids = [version.id for version in versions]
        if older not in ids or newer not in ids:
            return None
        before, after = (read_version(self.archive, versions[ids.index(which)]) for which in (older, newer))
        if before.error or after.error:
            return None
        changes = compare(before, after)
        first, last = sorted((ids.index(older), ids.index(newer)))
        seen_times = version_times([v.seen_ms for v in versions])
        shown = [
            {"id": v.id, "seen": seen, "title": v.title, "href": page_of(v.path)} for v, seen in zip(versions, seen_times, strict=True)
        ]
        return self.render(
            "diff.html",
            page,
            title=after.title,
            outlet=self.archive.source_name(row.source),
            outlet_href=outlet_href(row.source),
            article_href=page_of(row.path),
            older=shown[ids.index(older)],
            newer=shown[ids.index(newer)],
            changed=changes.changed,
            title_diff=Markup(segments_html(changes.title)) if changes.title_changed else None,
            paragraphs=[Markup(segments_html(paragraph)) for paragraph in changes.paragraphs],
            previous=diff_page(row.path, ids[first - 1], ids[first]) if first > 0 else None,
            next=diff_page(row.path, ids[last], ids[last + 1]) if last + 1 < len(ids) else None,
            versions=shown,
            compare=diff_page(row.path),
        )

    def search(
        self, query: str = "", *, source: str = "", since: str = "", until: str = "", sort: str = "relevance", number: int = 1
    ) -> str:
        """The search page: results from the search index on the server, a form and a script on the static site."""
        context: dict[str, Any] = {"query": query, "source": source, "since": since, "until": until, "sort": sort, "number": number}
        context["outlets"] = self.outlets()
        entries: list[Entry] = []
        if query and not self.static:
            size = self.site.page_size
            try:
                hits = self.archive.search(
                    query,
                    source=source or None,
                    since_ms=day_ms(since) if since else None,
                    until_ms=day_ms(until, end=True) if until else None,
                    limit=size * number + 1,
                    sort="date" if sort == "date" else "relevance",
                )
            except (NewsarchiveError, ValueError) as exc:  # a bad query or date is shown on the page
                context["error"] = str(exc.args[0]) if exc.args else str(exc)
                hits = []
            for hit in hits[size * (number - 1) : size * number]:
                date, iso = beijing_time(hit.pub_ms)
                outlet = self.archive.source_name(hit.source)
                entries.append(
                    Entry(href=page_of(hit.path), title=hit.title, date=date, iso=iso, outlet=outlet, snippet=marked(hit.snippet))
                )
            base = {"q": query, "source": source, "since": since, "until": until, "sort": sort}
            context["next"] = search_href(base, number + 1) if len(hits) > size * number else None
            context["previous"] = search_href(base, number - 1) if number > 1 else None
        # The static search reads each hit's text from its page, loaded in a hidden frame (search.js).
        return self.render("search.html", SEARCH, frames="'self'" if self.static else "'none'", entries=entries, **context)


def search_href(params: dict[str, str], number: int) -> str:
    from urllib.parse import urlencode

    return SEARCH + "?" + urlencode({**{k: v for k, v in params.items() if v}, "page": number})
