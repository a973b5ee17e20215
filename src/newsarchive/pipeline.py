"""update(): the only code that knows the order of the stages.

sources -> fetch -> parse -> normalise -> store, for every outlet at once. Each outlet's
feeds are fetched concurrently; a feed whose bytes have not changed (304, or the same
hash as last time) is not parsed again. One outlet's failure is a SourceReport with an
error, never an exception that stops the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from .errors import ConfigError, SourceError
from .fetch import Fetcher, is_local_path
from .index import FeedState
from .models import Article, SourceReport, UpdateReport
from .normalise import normalise_item
from .parse import parse_feed
from .sources import Source
from .store.archive import Archive

ProgressCallback = Callable[[SourceReport], None]
Clock = Callable[[], float]


@dataclass
class _FeedOutcome:
    url: str
    articles: list[Article] = field(default_factory=list)
    state: FeedState | None = None
    skipped_items: int | None = None  # unchanged feed: the item count of last time
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def select_sources(sources: Sequence[Source], only: Sequence[str] | None) -> list[Source]:
    if not only:
        return [s for s in sources if s.enabled]
    known = {s.slug: s for s in sources}
    unknown = [slug for slug in only if slug not in known]
    if unknown:
        raise ConfigError(f"--only {unknown[0]}: no such outlet", hint=f"known outlets: {', '.join(known)}")
    return [known[slug] for slug in dict.fromkeys(only)]


async def _fetch_feed(archive: Archive, fetcher: Fetcher, source: Source, url: str, now_ms: int) -> _FeedOutcome:
    state = archive.index.feed_state(url) or FeedState(url=url, source=source.slug)
    state = replace(state, source=source.slug, last_attempt_ms=now_ms)
    try:
        result = await fetcher.fetch(url, etag=state.etag, last_modified=state.last_modified)
        succeeded = replace(state, last_success_ms=now_ms, last_error=None, failures=0)
        if result.etag or result.last_modified:
            succeeded = replace(succeeded, etag=result.etag, last_modified=result.last_modified)
        if result.body is None:
            return _FeedOutcome(url, state=succeeded, skipped_items=state.items or 0)
        digest = hashlib.blake2b(result.body, digest_size=16).hexdigest()
        if digest == state.body_hash:
            return _FeedOutcome(url, state=succeeded, skipped_items=state.items or 0)
        parsed = await asyncio.to_thread(parse_feed, result.body, url=url, http_charset=result.charset)
    except SourceError as exc:
        return _FeedOutcome(url, state=replace(state, last_error=str(exc), failures=state.failures + 1), error=str(exc))
    base = None if is_local_path(url) else url
    articles = [normalise_item(item, source=source.slug, seen_ms=now_ms, base_url=base) for item in parsed.items]
    return _FeedOutcome(
        url,
        articles=articles,
        state=replace(succeeded, body_hash=digest, items=len(articles)),
        warnings=list(parsed.warnings),
    )


async def _update_source(archive: Archive, fetcher: Fetcher, source: Source, clock: Clock) -> SourceReport:
    started = time.monotonic()
    now_ms = int(clock() * 1000)
    if not source.feeds:
        return SourceReport(slug=source.slug, name=source.name, error="no feeds configured for this outlet")
    outcomes = await asyncio.gather(*(_fetch_feed(archive, fetcher, source, url, now_ms) for url in source.feeds))
    errors = [o.error for o in outcomes if o.error]
    warnings = [w for o in outcomes for w in o.warnings]
    report = SourceReport(slug=source.slug, name=source.name)
    if len(errors) == len(outcomes):
        report = replace(report, error="; ".join(errors))
    else:
        warnings += [f"dead feed among live ones: {error}" for error in errors]
        try:
            applied = archive.apply(source, [a for o in outcomes for a in o.articles], now_ms)
        except OSError as exc:
            report = replace(report, error=f"cannot write the archive: {exc}")
        else:
            skipped = sum(o.skipped_items or 0 for o in outcomes)
            report = replace(report, new=applied.new, updated=applied.updated, unchanged=applied.unchanged + skipped)
    report = replace(report, warnings=tuple(warnings), seconds=time.monotonic() - started)
    # Feed state last: if the run dies before this, the next one parses the same bytes again.
    with archive.index.atomic():
        for outcome in outcomes:
            if outcome.state is not None and not (report.error and outcome.error is None):
                archive.index.save_feed_state(outcome.state)
        archive.index.record_run(
            source.slug,
            started_ms=now_ms,
            seconds=report.seconds,
            new=report.new,
            updated=report.updated,
            unchanged=report.unchanged,
            error=report.error,
        )
    return report


async def update_async(
    archive: Archive,
    *,
    only: Sequence[str] | None = None,
    clock: Clock = time.time,
    on_source_done: ProgressCallback | None = None,
) -> UpdateReport:
    started = time.monotonic()
    sources = select_sources(archive.settings.sources, only)

    async with Fetcher(archive.settings.fetch) as fetcher:

        async def run(source: Source) -> SourceReport:
            report = await _update_source(archive, fetcher, source, clock)
            if on_source_done:
                on_source_done(report)
            return report

        reports = await asyncio.gather(*(run(source) for source in sources))
    return UpdateReport(sources=tuple(reports), seconds=time.monotonic() - started)


def update(
    archive: Archive,
    *,
    only: Sequence[str] | None = None,
    clock: Clock = time.time,
    on_source_done: ProgressCallback | None = None,
) -> UpdateReport:
    """Fetch every enabled outlet (or those in ``only``) and store what is new or changed.

    Holds the archive lock for the whole run and first finishes whatever a killed run left.
    """
    with archive.lock():
        archive.recover()
        return asyncio.run(update_async(archive, only=only, clock=clock, on_source_done=on_source_done))
