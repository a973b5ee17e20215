"""update(): the only code that knows the order of the stages.

sources -> fetch -> parse -> normalise -> store, for every outlet at once:

- the event loop only does network I/O, so no response waits while others are processed;
- parsing and normalising run in worker threads, or in worker processes for large feeds so
  that a big run uses every core;
- everything that touches the archive (index and files) runs in one store thread, one
  outlet at a time, so writes never interleave.

A feed whose bytes have not changed (304, or the same hash as last time) is not parsed again.
One outlet's failure is a SourceReport with an error, never an exception that stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from .due import backoff_until, due_again_ms
from .errors import ConfigError, SourceError, StorageError
from .fetch import Fetcher, Fetches
from .index import FeedState
from .index.summaries import Summary
from .models import SourceReport, UpdateReport
from .sources import Source
from .store.damage import Damage, restore_from_copies, scan
from .store.staging import INCOMING, StagedArticle
from .store.store import Store
from .times import beijing

if TYPE_CHECKING:
    from .cluster import ClusterRound
    from .fulltext import FeedDraft, Need, Page
from .store.warc import WarcWriter

log = logging.getLogger(__name__)

ProgressCallback = Callable[[SourceReport], None]
Clock = Callable[[], float]
T = TypeVar("T")

# Feeds larger than this are parsed in worker processes: below it, starting them costs more than it saves.
PROCESS_THRESHOLD = 2 * 1024 * 1024


@dataclass
class _FeedOutcome:
    url: str
    articles: list[StagedArticle] = field(default_factory=list)
    state: FeedState | None = None
    skipped_items: int = 0  # items not read again: an unchanged feed's count of last time, or those unchanged since stored
    carried: list[int] = field(default_factory=list)  # the articles of those unchanged since stored
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    backing_off: bool = False
    draft: FeedDraft | None = None  # an outlet with full text: read, waiting for its pages
    summaries: list[Summary] = field(default_factory=list)


@dataclass(frozen=True)
class _Examined:
    """What the run's look at the archive's files found (store/damage.py): done in the store thread while the first
    feeds are on their way, since it stats every article file (0.4 s for 100,000)."""

    damages: list[Damage]
    restored: dict[str, str]  # path -> how: from the index's copy of the feed's text, or a revision
    refetch: frozenset[str]  # outlets whose damaged articles only their feeds can restore: read whole again, now


def _examine(archive: Store) -> _Examined:
    damages = scan(archive)  # files missing or changed: restored from a copy, else from the feed
    restored = {path: f"restored from {how}" for path, how in restore_from_copies(archive, damages).items()}
    refetch = frozenset(d.source for d in damages if d.source and d.path.startswith("articles/") and d.path not in restored)
    return _Examined(damages, restored, refetch)


def select_sources(sources: Sequence[Source], only: Sequence[str] | None) -> list[Source]:
    if not only:
        return [s for s in sources if s.enabled]
    known = {s.slug: s for s in sources}
    unknown = [slug for slug in only if slug not in known]
    if unknown:
        raise ConfigError(f"--only {unknown[0]}: no such outlet", hint=f"known outlets: {', '.join(known)}")
    return [known[slug] for slug in dict.fromkeys(only)]


class _Workers:
    """A thread pool for small feeds and, started on first need, a process pool for large ones."""

    def __init__(self) -> None:
        self.threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsarchive-parse")
        self._processes: Executor | None = None

    def for_size(self, size: int) -> Executor:
        cores = os.cpu_count() or 1
        if size < PROCESS_THRESHOLD or cores < 2:
            return self.threads
        if self._processes is None:
            from .processes import process_pool

            self._processes = process_pool()
        return self._processes

    def close(self) -> None:
        self.threads.shutdown(wait=True)
        if self._processes is not None:
            self._processes.shutdown(wait=True)


class _Run:
    """One update run: shared client, workers and the single store thread."""

    def __init__(
        self,
        archive: Store,
        fetcher: Fetches,
        clock: Clock,
        *,
        backoff: bool = True,
        cluster: ClusterRound | None = None,
        warc: WarcWriter | None = None,
    ) -> None:
        self.archive = archive
        self.cluster = cluster  # feeds read by the workers of a cluster (cluster.py), else here
        self.warc = warc
        # What the workers are handed: the index's read-only questions, and where to stage their files.
        self.reader = archive.index.reader()
        self.incoming = os.path.join(archive.root, INCOMING)
        self.fetcher = fetcher
        self.clock = clock
        self.workers = _Workers()
        self.store = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsarchive-store")
        # The store thread's first work, before any outlet is stored: awaited by each feed before it is read.
        self.examined: asyncio.Future[_Examined] = asyncio.get_running_loop().run_in_executor(self.store, _examine, archive)
        self.states: dict[str, FeedState] = {}
        self.backoff = backoff
        self.pages_fetched = 0  # article pages, of fulltext.MAX_PAGES_PER_RUN (not imported here: it imports lxml)

    async def look(self) -> _Examined:
        """What the look at the archive's files found, once it is done (a feed given up does not cancel it)."""
        return await asyncio.shield(self.examined)

    async def run_in(self, executor: Executor, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, partial(function, *args))

    async def feed(self, source: Source, url: str, now_ms: int) -> _FeedOutcome:
        previous = self.states.get(url) or FeedState(url=url, source=source.slug)
        retry_at = backoff_until(previous)
        if self.backoff and retry_at is not None and now_ms < retry_at:
            # A feed that keeps failing is tried less often, never dropped; its state stays as it was, and it is
            # still failing: its last error is this run's.
            last = previous.last_error or f"{url}: failed"
            resting = f"{last} ({previous.failures} failures in a row; tried again after {beijing(retry_at, named=True)})"
            return _FeedOutcome(url, skipped_items=previous.items or 0, error=resting, backing_off=True)
        state = replace(previous, source=source.slug, last_attempt_ms=now_ms)
        if self.cluster is not None:
            if source.slug in (await self.look()).refetch:
                state = _read_whole(state)
            return await self.feed_from_cluster(self.cluster, source, url, state, now_ms)
        try:
            examined_before = self.examined.done()
            if examined_before and source.slug in self.examined.result().refetch:
                state = _read_whole(state)
            result = await self.fetcher.via(source.proxy).fetch(
                url, etag=state.etag, last_modified=state.last_modified, headers=source.request_headers()
            )
            if not examined_before and source.slug in (await self.look()).refetch:  # found damaged meanwhile
                asked, state = state, _read_whole(state)
                if result.body is None and (asked.etag or asked.last_modified):
                    result = await self.fetcher.via(source.proxy).fetch(url, headers=source.request_headers())
            succeeded = replace(state, last_success_ms=now_ms, last_error=None, failures=0)
            if result.etag or result.last_modified:
                succeeded = replace(succeeded, etag=result.etag, last_modified=result.last_modified)
            if result.body is None:
                return _FeedOutcome(url, state=succeeded, skipped_items=state.items or 0)
            digest = hashlib.blake2b(result.body, digest_size=16).hexdigest()
            if digest == state.body_hash:
                return _FeedOutcome(url, state=succeeded, skipped_items=state.items or 0)
            log.debug("%s: %d bytes in %.2f s", url, len(result.body), result.elapsed)
            from .worker import prepare_feed, read_feed  # parsing libraries load only when something is parsed

            executor = self.workers.for_size(len(result.body))
            if source.fulltext != "feed":
                fulltext = (source.fulltext, source.fulltext_selector, source.max_items)
                draft = await self.run_in(
                    executor, read_feed, result.body, url, result.charset, source.slug, now_ms, self.reader, *fulltext
                )
                state = replace(succeeded, body_hash=digest, items=len(draft.articles))
                return _FeedOutcome(url, state=state, warnings=draft.warnings, draft=draft)
            articles, warnings, carried = await self.run_in(
                executor, prepare_feed, result.body, url, result.charset, source.slug, now_ms, self.reader, self.incoming, source.max_items
            )
        except StorageError:  # the archive's disk failed, not this feed: the run stops, saying where and what to do
            raise
        except Exception as exc:  # one feed's failure, whatever it is, must not stop the others
            if self.examined.done() and not self.examined.cancelled() and exc is self.examined.exception():
                raise  # the look at the archive's files failed: the run's failure, as before any feed was fetched
            return _failed(url, state, exc)
        log.debug("%s: %d items parsed and staged, %d unchanged since stored", url, len(articles), len(carried))
        state = replace(succeeded, body_hash=digest, items=len(articles) + len(carried))
        return _FeedOutcome(url, articles=articles, state=state, skipped_items=len(carried), carried=carried, warnings=warnings)

    async def feed_from_cluster(self, cluster: ClusterRound, source: Source, url: str, state: FeedState, now_ms: int) -> _FeedOutcome:
        """The feed fetched, parsed and normalised by a worker of the cluster; what is new or changed decided and staged
        here, against the index, as for a feed read here."""
        from .worker import draft_feed, stage_feed

        settings = self.archive.settings
        try:
            read = await cluster.read_feed(source, url, state, settings.fetch, seen_ms=now_ms, warc=self.warc is not None)
            if self.warc is not None:
                for exchange in read.captures:
                    await self.warc.keep(exchange)
            if read.error is not None:
                return _failed(url, state, SourceError(read.error, slug=source.slug, url=url))
            succeeded = replace(state, last_success_ms=now_ms, last_error=None, failures=0)
            if read.etag or read.last_modified:
                succeeded = replace(succeeded, etag=read.etag, last_modified=read.last_modified)
            if read.articles is None:  # 304, or the same bytes as last time
                return _FeedOutcome(url, state=succeeded, skipped_items=state.items or 0)
            succeeded = replace(succeeded, body_hash=read.body_hash, items=len(read.articles))
            threads = self.workers.threads
            if source.fulltext != "feed":
                fulltext = (source.slug, source.fulltext, source.fulltext_selector)
                draft = await self.run_in(threads, draft_feed, url, read.articles, read.warnings, self.reader, *fulltext)
                return _FeedOutcome(url, state=succeeded, warnings=draft.warnings, draft=draft)
            articles, warnings = await self.run_in(threads, stage_feed, read.articles, read.warnings, self.reader, self.incoming)
        except StorageError:
            raise
        except Exception as exc:
            return _failed(url, state, exc)
        return _FeedOutcome(url, articles=articles, state=succeeded, warnings=warnings)

    async def source(self, source: Source) -> SourceReport:
        started = time.monotonic()
        now_ms = int(self.clock() * 1000)
        if not source.feeds:
            return SourceReport(slug=source.slug, name=source.name, error="no feeds configured for this outlet")
        outcomes = await asyncio.gather(*(self.feed(source, url, now_ms) for url in source.feeds))
        if any(outcome.draft for outcome in outcomes):
            await self.full_text(source, [outcome for outcome in outcomes if outcome.draft is not None])
        return await self.run_in(self.store, self.store_source, source, outcomes, now_ms, started)

    async def full_text(self, source: Source, outcomes: list[_FeedOutcome]) -> None:
        """Fetch the pages the outlet's feeds need (see ``fulltext.plan_pages``; within the bounds per outlet and
        per run), then finish each feed in a worker: the pages' main text taken, the rest staged."""
        from .fulltext import MAX_PAGES_PER_OUTLET, MAX_PAGES_PER_RUN, plan_pages
        from .worker import finish_feed

        drafts = [outcome.draft for outcome in outcomes if outcome.draft is not None]
        plan = plan_pages(source.fulltext, drafts, min(MAX_PAGES_PER_OUTLET, MAX_PAGES_PER_RUN - self.pages_fetched))
        self.pages_fetched += len(plan)
        fetched = await asyncio.gather(*(self.page(source, url, drafts[places[0][0]].needs[places[0][1]]) for url, places in plan.items()))
        for number, (outcome, draft) in enumerate(zip(outcomes, drafts, strict=True)):
            pages = {index: page for page, places in zip(fetched, plan.values(), strict=True) for n, index in places if n == number}
            size = sum(len(page.body or b"") for page in pages.values()) + sum(len(article.body) for article in draft.articles)
            try:
                outcome.articles, warnings, outcome.summaries = await self.run_in(
                    self.workers.for_size(size), finish_feed, draft, pages, self.incoming, source.slug, source.fulltext_selector
                )
            except StorageError:
                raise
            except Exception as exc:  # this feed's failure; its bytes are read again next run
                log.warning("%s: full text failed", outcome.url, exc_info=True)
                outcome.error = f"{outcome.url}: full text failed: unexpected {type(exc).__name__}: {exc}"
                outcome.state = replace(outcome.state, body_hash=None) if outcome.state else None
            else:
                outcome.warnings += warnings
            outcome.draft = None

    async def page(self, source: Source, url: str, need: Need) -> Page:
        """One article page, fetched as an untrusted address; a failure is the page's error, never the feed's."""
        from .fulltext import Page

        try:
            result = await self.fetcher.via(source.proxy).fetch(
                url,
                etag=need.etag,
                last_modified=need.last_modified,
                untrusted=True,
                allow_private=source.allow_private,
                headers=source.request_headers(),
            )
        except SourceError as exc:
            return Page(url=url, error=str(exc))
        except Exception as exc:  # whatever it is, only this article keeps its feed body
            log.warning("%s: unexpected failure", url, exc_info=True)
            return Page(url=url, error=f"unexpected {type(exc).__name__}: {exc}")
        return Page(url=url, body=result.body, charset=result.charset, etag=result.etag, last_modified=result.last_modified)

    def store_source(self, source: Source, outcomes: list[_FeedOutcome], now_ms: int, started: float) -> SourceReport:
        """In the store thread: write the outlet's articles, then its feed state and run record."""
        archive = self.archive
        errors = [o.error for o in outcomes if o.error]
        warnings = [w for o in outcomes for w in o.warnings]
        report = SourceReport(slug=source.slug, name=source.name)
        if len(errors) == len(outcomes):  # every feed failed now or rests after failing: the outlet has failed
            report = replace(report, error="; ".join(errors))
        else:
            warnings += [error if o.backing_off else f"dead feed among live ones: {error}" for o in outcomes if (error := o.error)]
            try:
                carried = {article for o in outcomes for article in o.carried}
                applied = archive.apply(source, [a for o in outcomes for a in o.articles], now_ms, carried=carried)
            except StorageError:  # a full or failing disk fails every outlet: the run stops with one error
                raise
            except OSError as exc:
                report = replace(report, error=f"cannot write the archive: {StorageError.from_os_error(exc)}")
            except Exception as exc:  # the other outlets go on; the journal repairs this one
                log.warning("%s: storing failed", source.slug, exc_info=True)
                report = replace(report, error=f"storing failed: unexpected {type(exc).__name__}: {exc}")
            else:
                skipped = sum(o.skipped_items for o in outcomes)
                report = replace(report, new=applied.new, updated=applied.updated, unchanged=applied.unchanged + skipped)
        report = replace(report, warnings=tuple(warnings), seconds=time.monotonic() - started)
        log.debug("%s: stored +%d ~%d =%d", source.slug, report.new, report.updated, report.unchanged)
        # Feed state last: if the run dies before this, the next one parses the same bytes again.
        with archive.index.atomic():
            if report.error is None:  # the summaries of the articles just stored (full text)
                archive.index.save_summaries(summary for outcome in outcomes for summary in outcome.summaries)
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

    def close(self) -> None:
        self.workers.close()
        self.store.shutdown(wait=True)


async def update_async(
    archive: Store,
    *,
    only: Sequence[str] | None = None,
    clock: Clock = time.time,
    on_source_done: ProgressCallback | None = None,
    recheck: bool = False,
) -> UpdateReport:
    """The run's fetching and storing. It first looks at the archive's files, in the store thread while the first feeds
    are on their way: damaged ones are restored from a copy, else from their outlet's feed, read whole and now even if
    the outlet is not due. It ends by bringing the search index up to date (unless ``search.index_on_update`` is off
    and nothing was damaged) while the last captures are still being written."""
    started = time.monotonic()
    sources = select_sources(archive.settings.sources, only)
    run_started_ms = int(clock() * 1000)
    states = {url: state for source in sources for url in source.feeds if (state := archive.index.feed_state(url))}
    resting: list[Source] = []  # not due: fetched only if damaged articles need their feeds
    due: dict[str, int | None] = {}
    if not only:  # outlets fetched less often than each run wait for their turn; naming them fetches them now
        due = {s.slug: due_again_ms(s, states, run_started_ms) for s in sources}
        resting = [source for source in sources if due[source.slug] is not None]
        sources = [source for source in sources if due[source.slug] is None]
    warc = WarcWriter(archive.root, clock=clock, open_index=archive.another_index) if archive.settings.warc else None
    async with contextlib.AsyncExitStack() as stack:
        local = await stack.enter_async_context(Fetcher(archive.settings.fetch, capture=warc.capture if warc else None))
        fetcher: Fetches = local
        cluster = None
        if archive.settings.cluster.database:  # feeds, pages, images and rechecks fetched by the cluster's workers
            from .cluster import ClusterRound, QueuedFetcher

            cluster = await stack.enter_async_context(
                ClusterRound(archive.settings.cluster.database, concurrency=archive.settings.fetch.concurrency)
            )
            fetcher = QueuedFetcher(cluster, local, warc.keep if warc else None)
        # naming outlets means: try them now
        run = _Run(archive, fetcher, clock, backoff=not only, cluster=cluster, warc=warc)
        run.states = states
        try:

            async def one(source: Source) -> SourceReport:
                report = await run.source(source)
                if on_source_done:
                    on_source_done(report)
                return report

            async def damaged_resting() -> list[SourceReport]:  # damage cannot wait
                refetch = (await run.look()).refetch
                return await asyncio.gather(*(one(source) for source in resting if source.slug in refetch))

            reports, restoring = await asyncio.gather(asyncio.gather(*(one(source) for source in sources)), damaged_resting())
            examined = run.examined.result()
            waiting = [
                report
                for source in resting
                if source.slug not in examined.refetch and (report := _still_failing(source, states, due[source.slug]))
            ]
            if not only or recheck:  # after the feeds, through the same client: pages of recent articles (recheck.py)
                await _rechecks(archive, fetcher, int(clock() * 1000), every=recheck)
            if archive.settings.media.enabled:  # images of what this run stored, after it: they never hold an article back
                from .media import after_run

                await after_run(archive, fetcher, run_started_ms, int(clock() * 1000))
            # Off, a run leaves indexing to the first search, unless it mended damaged files: those would be left out.
            if archive.settings.search.index_on_update or examined.damages:  # what this run stored is searchable
                still = archive.index.damaged()
                mended = [damage.path for damage in examined.damages if damage.path not in still]
                # In the store thread, idle by now, which run.close() waits for: an interrupted run ends after it.
                await run.run_in(run.store, lambda: archive.sync_search(restored=mended))
        finally:
            run.close()
            if warc is not None:
                await warc.drain()
                warc.close()
    left = archive.index.damaged()
    from_feeds = {d.path: "restored from the feed" for d in examined.damages if d.path not in examined.restored and d.path not in left}
    return UpdateReport(
        sources=(*reports, *restoring, *waiting),
        seconds=time.monotonic() - started,
        restored=tuple(sorted((examined.restored | from_feeds).items())),
        damaged=tuple(left.items()),
    )


def _read_whole(state: FeedState) -> FeedState:
    """A feed whose outlet has damaged articles: asked without validators (no 304), and the same bytes parsed again."""
    return replace(state, etag=None, last_modified=None, body_hash=None)


def _failed(url: str, state: FeedState, exc: Exception) -> _FeedOutcome:
    """One feed's failure, whatever it is: its state and report say so; the other feeds go on."""
    message = str(exc) if isinstance(exc, SourceError) else f"{url}: unexpected {type(exc).__name__}: {exc}"
    if not isinstance(exc, SourceError):
        log.warning("%s", message, exc_info=True)
    return _FeedOutcome(url, state=replace(state, last_error=message, failures=state.failures + 1), error=message)


def _still_failing(source: Source, states: Mapping[str, FeedState], due_ms: int | None) -> SourceReport | None:
    """An outlet waiting for its turn (``every``) whose feeds all failed last time: failed still, not quietly fine."""
    feeds = [states.get(url) for url in source.feeds]
    if due_ms is None or not feeds or not all(state and state.failures for state in feeds):
        return None
    last = "; ".join(state.last_error or f"{state.url}: failed" for state in feeds if state)
    return SourceReport(slug=source.slug, name=source.name, error=f"{last} (tried again after {beijing(due_ms, named=True)})")


async def _rechecks(archive: Store, fetcher: Fetches, now_ms: int, *, every: bool) -> None:
    from .recheck import run_rechecks

    try:
        done = await run_rechecks(archive, fetcher, now_ms, every=every)
    except Exception:  # the feeds' articles are stored; rechecks are due again next run
        log.warning("rechecks failed", exc_info=True)
        return
    if done.checked:
        log.info(
            "rechecked %d pages: %d edited, %d found gone (to confirm), %d takedowns confirmed, %d inconclusive",
            *(done.checked, done.edited, done.gone, done.confirmed, done.inconclusive),
        )


def update(
    archive: Store,
    *,
    only: Sequence[str] | None = None,
    clock: Clock = time.time,
    on_source_done: ProgressCallback | None = None,
    recheck: bool = False,
) -> UpdateReport:
    """Fetch every enabled outlet (or those in ``only``) and store what is new or changed.

    Holds the archive lock for the whole run, first finishes whatever a killed run left, and ends
    with the search index up to date (unless ``search.index_on_update`` is off) and health.json and health.md
    written.
    """
    from .health import write_health  # health imports this module (backoff_until)

    with archive.lock():
        archive.index.check_readable()  # before fetching anything: a damaged index would fail the run after it
        archive.recover()
        report = asyncio.run(update_async(archive, only=only, clock=clock, on_source_done=on_source_done, recheck=recheck))
        try:
            write_health(archive, int(clock() * 1000))
        except (OSError, StorageError) as exc:  # derived files: the next run writes them again; they must not fail this one
            log.warning("health.json and health.md could not be written (the next run tries again): %s", exc)
        return report
