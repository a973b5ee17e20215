"""``serve``'s read-only JSON API beside its pages, for other tools: search, outlets with their health, an article
with its versions, takedowns. Every list is paged (``page``, ``size``); every time is given in milliseconds and as
ISO 8601 UTC. No CORS header is sent: a web page elsewhere cannot read what the reader's own archive holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..errors import NewsarchiveError
from ..health import source_health
from ..html import plain_text
from ..times import iso
from .pages import Pages, day_ms, page_of

MAX_SIZE = 100  # hits or records in one answer at most
MAX_DEPTH = 10_000  # hits a search may be paged through: a deeper page would rank that many first
_ARTICLE = re.compile(r"^api/articles/([^/]+)/([0-9]{1,7})$")
JSON = "application/json; charset=utf-8"


class BadRequest(Exception):
    """A parameter that cannot be used: answered with 400 and the reason."""


def _paging(query: Mapping[str, str], default_size: int) -> tuple[int, int]:
    try:
        page = int(query.get("page", "1"))
        size = int(query.get("size", str(default_size)))
    except ValueError:
        raise BadRequest("page and size must be whole numbers") from None
    if not (1 <= page <= 10_000 and 1 <= size <= MAX_SIZE):
        raise BadRequest(f"page must be from 1 to 10000 and size from 1 to {MAX_SIZE}")
    return page, size


def _next(path: str, query: Mapping[str, str], page: int, more: bool) -> str | None:
    return f"/{path}?{urlencode({**query, 'page': str(page + 1)})}" if more else None


def search(pages: Pages, query: Mapping[str, str]) -> dict[str, Any]:
    """/api/search: the parameters of the search page (q, source, since, until, sort) and page, size."""
    archive = pages.archive
    words = query.get("q", "").strip()
    sort = query.get("sort", "relevance")
    if sort not in ("relevance", "date"):
        raise BadRequest("sort must be relevance or date")
    page, size = _paging(query, pages.site.page_size)
    if page * size > MAX_DEPTH:
        raise BadRequest(f"a search shows its first {MAX_DEPTH:,} hits: narrow it with source, since or until")
    try:
        since = day_ms(query["since"]) if query.get("since") else None
        until = day_ms(query["until"], end=True) if query.get("until") else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    source = query.get("source") or None
    try:
        hits = archive.search(words, source=source, since_ms=since, until_ms=until, limit=page * size + 1, sort=sort)
        total = archive.search_index.count(words, source=source, since_ms=since, until_ms=until)
        if len(hits) < min(total, page * size + 1):  # a reader catching up (store/replica.py) added some in between
            hits = archive.search(words, source=source, since_ms=since, until_ms=until, limit=page * size + 1, sort=sort)
    except NewsarchiveError as exc:
        raise BadRequest(str(exc)) from None
    shown = hits[(page - 1) * size : page * size]
    return {
        "query": words,
        "sort": sort,
        "page": page,
        "size": size,
        "total": total,
        "hits": [
            {
                "path": hit.path,
                "source": hit.source,
                "outlet": archive.source_name(hit.source),
                "title": hit.title,
                "link": hit.link,
                "pub_ms": hit.pub_ms,
                "published_at": iso(hit.pub_ms),
                "score": round(hit.score, 3),
                "snippet": hit.snippet,
                "page": "/" + page_of(hit.path),
            }
            for hit in shown
        ],
        "next": _next("api/search", query, page, len(hits) > page * size),
    }


def outlets(pages: Pages) -> dict[str, Any]:
    """/api/outlets: every outlet with its article count and health (as ``health.json`` has it)."""
    return {"outlets": [row.to_json() for row in source_health(pages.archive)]}


def article(pages: Pages, slug: str, number: int) -> dict[str, Any] | None:
    """/api/articles/<slug>/<id>: the article's current text and HTML, and every version with its text."""
    from ..diff import history

    archive = pages.archive
    rows = archive.index.articles_with_id(slug, number)
    if len(rows) != 1:
        return None
    found = history(archive, rows[0].path)
    try:
        stored = archive.read(rows[0])
    except (OSError, UnicodeDecodeError, NewsarchiveError):
        return None
    takedown = archive.index.takedown(rows[0].rowid)
    return {
        "source": slug,
        "outlet": archive.source_name(slug),
        "id": number,
        "path": rows[0].path,
        "page": "/" + page_of(rows[0].path),
        "title": stored.title,
        "link": stored.link,
        "pub_ms": stored.pub_ms,
        "published_at": iso(stored.pub_ms),
        "html": stored.body,
        "text": plain_text(stored.body),
        "versions": [version.to_json() | {"text": version.text} for version in found.versions],
        "takedown": None
        if takedown is None or takedown[1] is None
        else {"how": takedown[2], "url": takedown[3], "first_seen_gone_at": iso(takedown[0]), "confirmed_at": iso(takedown[1])},
    }


def takedowns(pages: Pages, query: Mapping[str, str]) -> dict[str, Any]:
    """/api/takedowns: the articles their outlets removed, newest first."""
    from ..recheck import takedowns as confirmed

    page, size = _paging(query, pages.site.page_size)
    found = confirmed(pages.archive)
    return {
        "page": page,
        "size": size,
        "total": len(found),
        "takedowns": [t.to_json() for t in found[(page - 1) * size : page * size]],
        "next": _next("api/takedowns", query, page, len(found) > page * size),
    }


def answer(pages: Pages, path: str, query: Mapping[str, str]) -> tuple[int, str, bytes]:
    """(status, content type, body) for an ``api/…`` path."""
    try:
        if path == "api/search":
            data: dict[str, Any] | None = search(pages, query)
        elif path == "api/outlets":
            data = outlets(pages)
        elif path == "api/takedowns":
            data = takedowns(pages, query)
        elif match := _ARTICLE.match(path):
            data = article(pages, match[1], int(match[2]))
        else:
            data = None
    except BadRequest as exc:
        return 400, JSON, _dump({"error": str(exc)})
    if data is None:
        return 404, JSON, _dump({"error": f"/{path}: no such article or API address", "see": "/api/outlets"})
    return 200, JSON, _dump(data)


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
