"""Feeds and runs in the index: each feed's validators and failures (``FeedState``), one row per outlet per run, and
the feed items known unchanged since their article was stored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

FEED_ITEMS_SCHEMA = """\
CREATE TABLE IF NOT EXISTS feed_items (  -- items as read (normalise.item_digest) that gave or matched a version of their
    digest TEXT PRIMARY KEY,             -- article: read again while it is the stored one, such an item is neither
    article INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE,  -- normalised nor compared (worker.prepare_feed)
    feed TEXT NOT NULL,                  -- the feed that carried it: one row per article and feed, the last read
    fingerprint TEXT NOT NULL            -- the article's version it gave or matched
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_items_by_article ON feed_items (article, feed);
"""
# Both backends: the earlier reads of the item from its feed go, then the item is kept (the parameters twice over).
FORGET_EARLIER_READS = "DELETE FROM feed_items WHERE article = {0} AND feed = {0} AND digest <> {0}"
REMEMBER_ITEM = (
    "INSERT INTO feed_items (digest, article, feed, fingerprint) VALUES ({0}, {0}, {0}, {0}) ON CONFLICT (digest)"
    " DO UPDATE SET article = excluded.article, feed = excluded.feed, fingerprint = excluded.fingerprint"
)


class ReadItem(NamedTuple):
    """A feed item that gave or matched its article's version ``fingerprint`` (a row of ``feed_items``)."""

    digest: str
    article: int
    feed: str
    fingerprint: str


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

    def remember_items(self, items: Iterable[ReadItem]) -> None:
        """Items that gave or matched their article's version, its file written: while that version is stored, they
        need not be read again."""
        ...
