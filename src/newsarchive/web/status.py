"""What readers see of the archive's state, beside the articles: each outlet's health (health.py, as ``health.md``
shows it) and the articles their outlets removed (recheck.py), with the details of the banner on each one's page.
Shared by ``serve`` (health as of now) and ``build-site`` (as of the last update, so a rebuild with nothing new
writes nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..health import HEALTH_COLUMNS, STALE_FACTOR, STALE_MIN_MS, health_cells, source_health
from .pages import beijing_time, outlet_href, page_of, removed_banner

if TYPE_CHECKING:
    from .pages import Pages

HEALTH = "health.html"
TAKEDOWNS = "takedowns.html"
TAKEDOWNS_FEED = "feeds/takedowns.xml"


def health_page(pages: Pages, now_ms: int | None) -> str:
    """Every outlet's state as of ``now_ms`` (None: no update has run yet)."""
    rows = source_health(pages.archive, now_ms or 0)
    outlets = [
        {"cells": health_cells(row), "href": outlet_href(row.slug) if row.articles else None, "warn": row.failing or row.stale}
        for row in rows
    ]
    return pages.render(
        "health.html",
        HEALTH,
        columns=HEALTH_COLUMNS,
        outlets=outlets,
        as_of=beijing_time(now_ms)[0] if now_ms is not None else None,
        stale_factor=STALE_FACTOR,
        stale_hours=STALE_MIN_MS // 3_600_000,
    )


def takedowns_page(pages: Pages) -> str:
    """The confirmed takedowns, newest confirmation first, each as its page's banner says it."""
    found = []
    for row, first_ms, confirmed_ms, how, url, detail in pages.archive.index.takedowns():
        banner = removed_banner((first_ms, confirmed_ms, how, url, detail))
        confirmed, confirmed_iso = beijing_time(confirmed_ms)
        found.append(
            {
                "href": page_of(row.path),
                "title": row.title,
                "outlet": pages.archive.source_name(row.source),
                "banner": banner,
                "confirmed": confirmed,
                "confirmed_iso": confirmed_iso,
                "url": url if url.startswith(("http://", "https://")) else None,
                "detail": detail,
            }
        )
    return pages.render("takedowns.html", TAKEDOWNS, takedowns=found, feed=TAKEDOWNS_FEED)
