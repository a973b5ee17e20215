"""Takedown records: a file per confirmed takedown, ``takedowns/<folder>/<id>.json``, so that they travel with the
archive (recheck.py finds and confirms them); ``reindex`` puts them back into the index."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..index.rows import ArticleRow
    from .folder import ArchiveFolder

log = logging.getLogger(__name__)

TAKEDOWNS = "takedowns"


def takedown_path(article_path: str) -> str:
    """``articles/rfi/1048574.md`` → ``takedowns/rfi/1048574.json``."""
    folder, _, name = article_path.removeprefix("articles/").rpartition("/")
    return f"{TAKEDOWNS}/{folder}/{name.rsplit('.', 1)[0]}.json"


def index_takedown_files(store: ArchiveFolder) -> int:
    """Put the confirmed takedowns recorded in ``takedowns/`` into the index (``reindex`` calls this, so the
    records survive the loss of the index); returns how many were added. A file that cannot be read is reported."""
    added = 0
    with store.index.atomic():
        for file in sorted((store.root / TAKEDOWNS).glob("*/*.json")):
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
                row = store.index.article_at(str(record["path"]))
                known = store.index.takedown(row.rowid) if row else None
                if row is None or (known is not None and known[1] is not None):
                    continue
                store.index.save_takedown(
                    row.rowid,
                    int(record["first_seen_gone_ms"]),
                    int(record["confirmed_ms"]),
                    str(record["how"]),
                    str(record["url"]),
                    None if record.get("detail") is None else str(record["detail"]),
                )
                added += 1
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("%s: not a takedown record newsarchive can read: %s", file, exc)
    return added


def utc_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def takedown_record(row: ArticleRow, first_ms: int, confirmed_ms: int, how: str, url: str, detail: str | None) -> dict[str, object]:
    return {
        "path": row.path,
        "source": row.source,
        "title": row.title,
        "link": row.link,
        "how": how,
        "url": url,
        "detail": detail,
        "first_seen_gone_ms": first_ms,
        "first_seen_gone_at": utc_iso(first_ms),
        "confirmed_ms": confirmed_ms,
        "confirmed_at": utc_iso(confirmed_ms),
    }
