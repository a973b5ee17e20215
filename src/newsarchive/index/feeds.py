"""Feeds and runs in the index: each feed's validators and failures (``FeedState``), one row per outlet per run, and
the feed items known unchanged since their article was stored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

FEED_ITEMS_SCHEMA = """\
CREATE TABLE IF NOT EXISTS feed_items (  -- items as read (normalise.item_digest) that gave or match their article's version:
    digest TEXT PRIMARY KEY,             -- read again, such an item is neither normalised nor compared (worker.prepare_feed)
    article INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_items_by_article ON feed_items (article);
"""


@dataclass(frozen=True, kw_only=True)
class FeedState:
    url: str
    source: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_attempt_ms: int | None = None
    last_success_ms: int | None = None
    last_error: str | None = None
    failures: int = 0
    items: int | None = None


class FeedIndex(Protocol):
    """Feeds' states (validators, failures, backoff) and the history of runs: what pipeline.py and health.py ask."""

    def feed_state(self, url: str) -> FeedState | None: ...

    def save_feed_state(self, state: FeedState) -> None: ...

    def feed_states(self, source: str) -> list[FeedState]: ...

    def record_run(
        self, source: str, *, started_ms: int, seconds: float, new: int, updated: int, unchanged: int, error: str | None
    ) -> None: ...

    def last_runs(self, source: str) -> tuple[int | None, int | None, str | None]: ...

    def remember_items(self, items: Iterable[tuple[str, int]]) -> None:
        """(item digest, article): items that gave or match the article's current version, its file written."""
        ...

    def forget_items(self, article: int) -> None:
        """The article's version changes: the items that matched the one before no longer do."""
        ...
