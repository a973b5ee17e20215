"""Outlet health from the index: what ``newsarchive sources`` shows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .pipeline import backoff_until
from .store.archive import Archive


@dataclass(frozen=True, kw_only=True)
class SourceHealth:
    slug: str
    name: str
    enabled: bool
    feeds: tuple[str, ...]
    articles: int
    last_success_ms: int | None
    last_error_ms: int | None
    last_error: str | None
    failing_feeds: tuple[str, ...]  # feeds whose last attempt failed
    consecutive_failures: int  # of the outlet's worst feed
    next_try_ms: int | None = None  # a feed that keeps failing is tried again only after this

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["feeds"] = list(self.feeds)
        data["failing_feeds"] = list(self.failing_feeds)
        return data


def source_health(archive: Archive) -> list[SourceHealth]:
    counts = archive.index.counts()
    configured = {s.slug for s in archive.settings.sources}
    rows = []
    for source in archive.settings.sources:
        success, failure_ms, error = archive.index.last_runs(source.slug)
        states = archive.index.feed_states(source.slug)
        rows.append(
            SourceHealth(
                slug=source.slug,
                name=source.name,
                enabled=source.enabled,
                feeds=source.feeds,
                articles=counts.get(source.slug, 0),
                last_success_ms=success,
                last_error_ms=failure_ms,
                last_error=error,
                failing_feeds=tuple(s.url for s in states if s.failures and s.url in source.feeds),
                consecutive_failures=max((s.failures for s in states if s.url in source.feeds), default=0),
                next_try_ms=max((t for s in states if s.url in source.feeds and (t := backoff_until(s))), default=None),
            )
        )
    for slug in sorted(set(counts) - configured):  # imported outlets that are not configured
        rows.append(
            SourceHealth(
                slug=slug,
                name=slug,
                enabled=False,
                feeds=(),
                articles=counts[slug],
                last_success_ms=None,
                last_error_ms=None,
                last_error=None,
                failing_feeds=(),
                consecutive_failures=0,
            )
        )
    return rows
