"""The daily digest: a page per day (Beijing time, UTC+8) with every article published that day, by outlet, and a page
listing the days. Shared by ``serve`` and ``build-site``, like pages.py; the Atom feed of digests is in publish/feeds.py.

A day's page is ``digest/<YYYY-MM-DD>.html``: its articles are those the lists date to that day, so a day's page
changes only when an article of that day arrives or changes, and a static rebuild rewrites only those days.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..index import ArticleRow
from ..times import DAY_MS, day_name, day_of, day_start_ms
from .pages import Pages, digest_href

if TYPE_CHECKING:
    from ..store.store import Store

DIGEST_INDEX = "digest/index.html"
DIGEST_FEED = "feeds/digest.xml"
DAY_PAGE = re.compile(r"^digest/([0-9]{4}-[0-9]{2}-[0-9]{2})\.html$")


def by_day(rows: Iterable[ArticleRow]) -> Iterator[tuple[int, list[ArticleRow]]]:
    """Rows in publication order (``Index.by_publication``) grouped into days."""
    for day, group in itertools.groupby(rows, key=lambda row: day_of(row.pub_ms or 0)):
        yield day, list(group)


def by_outlet(archive: Store, rows: list[ArticleRow]) -> list[tuple[str, list[ArticleRow]]]:
    """A day's articles by outlet (slug), outlets in the configured order, each outlet's articles newest first."""
    order = {source.slug: n for n, source in enumerate(archive.settings.sources)}
    grouped: dict[str, list[ArticleRow]] = {}
    for row in sorted(rows, key=lambda row: (-(row.pub_ms or 0), -row.rowid)):
        grouped.setdefault(row.source, []).append(row)
    return sorted(grouped.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def outlets_of(pages: Pages, rows: list[ArticleRow]) -> list[dict[str, Any]]:
    return [
        {"slug": slug, "name": pages.archive.source_name(slug), "entries": [pages.entry(row, time_only=True) for row in found]}
        for slug, found in by_outlet(pages.archive, rows)
    ]


def day_page(pages: Pages, day: int, rows: list[ArticleRow], *, newer: int | None, older: int | None) -> str:
    """The digest of one day from its rows (``Index.published_between`` over the day)."""
    return pages.render(
        "digest.html",
        digest_href(day),
        day=day_name(day),
        count=len(rows),
        outlets=outlets_of(pages, rows),
        previous=digest_href(newer) if newer is not None else None,
        next=digest_href(older) if older is not None else None,
        labels=("← 较新 Newer", "较早 Older →"),
    )


def index_page(pages: Pages, days: list[tuple[int, int]]) -> str:
    """The list of days with articles, newest first, from ``Index.days(OFFSET_MS)``."""
    listed = [{"href": digest_href(day), "name": day_name(day), "count": count} for day, count in days]
    return pages.render("digests.html", DIGEST_INDEX, days=listed, feed=DIGEST_FEED)


def day_rows(pages: Pages, day: int) -> list[ArticleRow]:
    start = day_start_ms(day)
    return pages.archive.index.published_between(start, start + DAY_MS)


def served_day(pages: Pages, day: int) -> str | None:
    """The digest of ``day`` for ``serve``, its neighbours found in the index; None when no article is of that day."""
    rows = day_rows(pages, day)
    if not rows:
        return None
    start = day_start_ms(day)
    after, before = pages.archive.index.around(start, start + DAY_MS)
    newer, older = (day_of(ms) if ms is not None else None for ms in (after, before))
    return day_page(pages, day, rows, newer=newer, older=older)
