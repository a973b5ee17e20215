"""Several machines sharing an archive's work through PostgreSQL (``[cluster] database``).

The archive's machine stays the one writer of files: ``update`` puts a job per due feed into the queue
(``index/queue.py``) and applies the results as they come back. Workers (``newsarchive worker``, on any machine,
given nothing but the database's address) claim jobs and do stages 2 to 4 of a feed: fetch it (conditionally, with
the validators the writer sent), parse and normalise it; they hand back the articles, the feed's new validators and,
when the archive keeps WARC captures, the raw exchanges for the writer to write. What is new or changed is decided and
staged by the writer, against its index, as for a feed it read itself (``worker.stage_feed``, ``worker.draft_feed``).

While no other worker has been seen lately, the writer works the queue itself: a cluster degrades to one machine.
Article pages (full text), images and rechecks are fetched by workers too (``QueuedFetcher``): the bytes come back, and
the writer does with them what it does on one machine.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from .config import FetchConfig
from .errors import FetchError, NewsarchiveError
from .fetch import Fetcher
from .fetch_paths import is_local_path
from .index.feeds import FeedState
from .index.queue import Finished, Job, JobQueue, worker_name
from .models import Article, FetchResult
from .sources import Source
from .store.warc import Exchange

log = logging.getLogger(__name__)

LEASE_S = 30.0  # a claimed job is lost to another worker when its worker has not renewed it for this long
MAX_ATTEMPTS = 3  # leases that may run out on a job before it fails
POLL_S = 0.05  # how often an idle worker, and the writer, look at the queue
ALIVE_S = 10.0  # a worker seen within this is alive: the writer leaves the work to it


@dataclass(frozen=True, kw_only=True)
class FeedRead:
    """A feed as a worker read it: ``articles`` None when it had not changed (304, or the same bytes)."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    articles: list[Article] | None = None
    warnings: list[str] = field(default_factory=list)
    captures: list[Exchange] = field(default_factory=list)
    error: str | None = None


def feed_payload(source: Source, url: str, state: FeedState, fetch: FetchConfig, *, seen_ms: int, warc: bool) -> dict[str, Any]:
    """What a worker needs to read one feed, as JSON: no file and no index of the archive."""
    return {
        "url": url,
        "source": source.slug,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "body_hash": state.body_hash,
        "headers": source.request_headers(),
        "proxy": source.proxy,
        "max_items": source.max_items,
        "seen_ms": seen_ms,
        "fetch": asdict(fetch),
        "warc": warc,
    }


# the worker's side ------------------------------------------------------------------------


class _Fetchers:
    """One Fetcher per fetch configuration the jobs carry (usually one), each capturing what its jobs ask for."""

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._fetchers: dict[str, Fetcher] = {}
        self.captures: dict[str, list[Exchange]] = {}  # url -> exchanges, for the jobs that keep WARC captures

    async def __aenter__(self) -> _Fetchers:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stack.__aexit__(*exc)

    async def get(self, values: dict[str, Any]) -> Fetcher:
        known = {f.name for f in fields(FetchConfig)}
        key = repr(sorted(values.items()))
        if key not in self._fetchers:
            config = FetchConfig(**{name: value for name, value in values.items() if name in known})
            self._fetchers[key] = await self._stack.enter_async_context(Fetcher(config, capture=self._capture))
        return self._fetchers[key]

    async def _capture(self, url: str, request: Any, response: Any, body: bytes | None) -> None:
        if url in self.captures:
            self.captures[url].append(Exchange.of(url, request, response, body, time.time()))

    async def do(self, job: Job) -> dict[str, Any]:
        """A job done with the Fetcher of its configuration and outlet's proxy; with the exchanges it made, as the writer
        keeps them, when the archive keeps WARC captures."""
        payload = job.payload
        url = payload["url"]
        captures: list[Exchange] = []
        if payload.get("warc"):
            self.captures[url] = captures
        try:
            fetcher = (await self.get(payload["fetch"])).via(payload.get("proxy"))
            answer = await (read_feed_job if job.kind == "feed" else fetch_job)(fetcher, payload)
        finally:
            self.captures.pop(url, None)
        return {**answer, "captures": [_exchange_json(exchange) for exchange in captures]}


async def read_feed_job(fetcher: Fetcher, payload: dict[str, Any]) -> dict[str, Any]:
    """Stages 2 to 4 of one feed: fetch (conditionally), and when its bytes changed, parse and normalise."""
    from .worker import normalise_feed

    url = payload["url"]
    result = await fetcher.fetch(url, etag=payload.get("etag"), last_modified=payload.get("last_modified"), headers=payload.get("headers"))
    answer: dict[str, Any] = {"etag": result.etag, "last_modified": result.last_modified}
    if result.body is not None:
        digest = hashlib.blake2b(result.body, digest_size=16).hexdigest()
        answer["body_hash"] = digest
        if digest != payload.get("body_hash"):
            articles, warnings = await asyncio.to_thread(
                normalise_feed, result.body, url, result.charset, payload["source"], payload["seen_ms"], payload.get("max_items")
            )
            answer["articles"] = [_article_json(article) for article in articles]
            answer["warnings"] = warnings
    return answer


async def fetch_job(fetcher: Fetcher, payload: dict[str, Any]) -> dict[str, Any]:
    """One address fetched for the writer (an article page, an image, a recheck), as its own fetcher would: the
    result, or the fetch's error with what the writer's code looks at (its status, the size cap passed)."""
    options = {name: payload.get(name) for name in ("etag", "last_modified", "max_bytes", "headers")}
    try:
        result = await fetcher.fetch(payload["url"], untrusted=payload["untrusted"], allow_private=payload["allow_private"], **options)
    except FetchError as exc:
        return {"error": {"message": str(exc), "status": exc.status, "attempts": exc.attempts, "over_cap": exc.over_cap}}
    return {**asdict(result), "body": None if result.body is None else base64.b64encode(result.body).decode("ascii")}


async def run_worker(
    url: str,
    *,
    concurrency: int = 8,
    lease_s: float = LEASE_S,
    name: str | None = None,
    stop: asyncio.Event | None = None,
    may_work: Callable[[], bool] = lambda: True,
    on_job: Callable[[Job, bool], None] | None = None,
) -> int:
    """Claim and do jobs until ``stop`` is set (for ever without one); returns the jobs done. ``may_work``: whether to
    claim now (the writer's own worker yields to others). A job that raises fails with its error as the result."""
    name = name or worker_name()
    stop = stop or asyncio.Event()
    queue = await JobQueue.connect(url)
    leased: dict[int, Job] = {}
    done = 0

    async def heartbeat() -> None:
        while not stop.is_set():
            await queue.heartbeat(name, [job.token for job in leased.values()], lease_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), lease_s / 3)

    async def work(fetchers: _Fetchers) -> None:
        nonlocal done
        while not stop.is_set():
            job = await queue.claim(name, lease_s, MAX_ATTEMPTS) if may_work() else None
            if job is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_S)
                continue
            leased[job.id] = job
            try:
                result, error = await fetchers.do(job), None
            except NewsarchiveError as exc:  # the feed's failure, said as one line
                result, error = None, str(exc)
            except Exception as exc:
                log.warning("%s: unexpected %s", job.payload.get("url"), type(exc).__name__, exc_info=True)
                result, error = None, f"{job.payload.get('url')}: unexpected {type(exc).__name__}: {exc}"
            finally:
                del leased[job.id]
            kept = await queue.complete(job, name, result, error)
            done += kept
            if on_job is not None:
                on_job(job, kept)

    try:
        await queue.heartbeat(name, [], lease_s)
        async with _Fetchers() as fetchers:
            await asyncio.gather(heartbeat(), *(work(fetchers) for _ in range(concurrency)))
    finally:
        await queue.close()
    return done


# the writer's side ------------------------------------------------------------------------


class ClusterRound:
    """The writer's side of one ``update``: the writer's lock on the database, a round of jobs, their results."""

    def __init__(self, url: str, *, concurrency: int, lease_s: float = LEASE_S) -> None:
        self.url = url
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.name = f"{worker_name()} (writer)"
        self._waiting: dict[int, asyncio.Future[Finished]] = {}
        self._stop = asyncio.Event()
        self._others: list[str] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._failure: BaseException | None = None

    async def __aenter__(self) -> ClusterRound:
        self.queue = await JobQueue.connect(self.url)
        try:
            await self.queue.hold_writer_lock()
            self.round = await self.queue.start_round()
            self._others = await self.queue.workers_seen(ALIVE_S)
        except BaseException:
            await self.queue.close()
            raise
        self._tasks = [
            asyncio.create_task(self._watch()),
            asyncio.create_task(
                run_worker(
                    self.url, concurrency=self.concurrency, lease_s=self.lease_s, name=self.name, stop=self._stop, may_work=self._alone
                )
            ),
        ]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._stop.set()
        try:
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, NewsarchiveError) and exc[0] is None:
                    raise result
        finally:
            await self.queue.close()

    def _alone(self) -> bool:
        return not self._others

    async def _watch(self) -> None:
        """Hand each finished job to whoever waits for it; give up on jobs whose workers keep dying; note who works."""
        checked = 0.0
        while not self._stop.is_set():
            for finished in await self.queue.take_finished(self.round):
                future = self._waiting.pop(finished.id, None)
                if future is not None and not future.done():
                    future.set_result(finished)
            if time.monotonic() - checked > 1:
                checked = time.monotonic()
                await self.queue.fail_abandoned(MAX_ATTEMPTS)
                self._others = [name for name in await self.queue.workers_seen(ALIVE_S) if name != self.name]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), POLL_S)

    async def run(self, kind: str, url: str, per_host: int, payload: dict[str, Any]) -> Finished:
        """A job done by whichever worker claims it (the writer's own when none other is there)."""
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        job = await self.queue.enqueue(self.round, kind, urlsplit(url).hostname or url, per_host, payload)
        self._waiting[job] = future
        return await future

    async def read_feed(self, source: Source, url: str, state: FeedState, fetch: FetchConfig, *, seen_ms: int, warc: bool) -> FeedRead:
        """The feed read by a worker: fetched, parsed and normalised."""
        finished = await self.run("feed", url, fetch.per_host, feed_payload(source, url, state, fetch, seen_ms=seen_ms, warc=warc))
        if not finished.ok or finished.result is None:
            return FeedRead(error=finished.error or f"{url}: failed in a worker")
        return _feed_read(finished.result)


class QueuedFetcher:
    """``fetch.Fetches`` through the cluster's workers: article pages, images and rechecks fetched on any machine, as
    the writer's own Fetcher would (the same settings, checks and caps); their WARC exchanges kept here. Local files
    (feeds given as paths) stay the writer's to read."""

    def __init__(self, cluster: ClusterRound, local: Fetcher, keep: Callable[[Exchange], Awaitable[None]] | None, proxy: str | None = None):
        self.cluster = cluster
        self.local = local
        self.keep = keep
        self.proxy = proxy

    @property
    def config(self) -> FetchConfig:
        return self.local.config

    def via(self, proxy: str | None) -> QueuedFetcher:
        return QueuedFetcher(self.cluster, self.local, self.keep, proxy)

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        untrusted: bool = False,
        allow_private: bool = False,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        if is_local_path(url) or url.startswith("file:"):
            local = self.local.via(self.proxy)
            return await local.fetch(
                url,
                etag=etag,
                last_modified=last_modified,
                untrusted=untrusted,
                allow_private=allow_private,
                max_bytes=max_bytes,
                headers=headers,
            )
        payload = {
            "url": url,
            "etag": etag,
            "last_modified": last_modified,
            "max_bytes": max_bytes,
            "headers": dict(headers or {}),
            "untrusted": untrusted,
            "allow_private": allow_private,
            "proxy": self.proxy,
            "fetch": asdict(self.config),
            "warc": self.keep is not None,
        }
        finished = await self.cluster.run("fetch", url, self.config.per_host, payload)
        if not finished.ok or finished.result is None:
            raise FetchError(finished.error or f"{url}: failed in a worker", url=url)
        answer = finished.result
        if self.keep is not None:
            for exchange in _exchanges(answer):
                await self.keep(exchange)
        if (error := answer.get("error")) is not None:
            raise FetchError(error["message"], url=url, status=error["status"], attempts=error["attempts"], over_cap=error["over_cap"])
        body = answer["body"]
        values = {name: answer[name] for name in ("url", "status", "etag", "last_modified", "charset", "attempts", "elapsed", "final_url")}
        return FetchResult(**values, body=None if body is None else base64.b64decode(body))


# JSON both ways ---------------------------------------------------------------------------


def _article_json(article: Article) -> dict[str, Any]:
    return {**asdict(article), "keys": list(article.keys)}


def _exchange_json(exchange: Exchange) -> dict[str, Any]:
    values = asdict(exchange)
    values["body"] = None if exchange.body is None else base64.b64encode(exchange.body).decode("ascii")
    return values


def _exchanges(result: dict[str, Any]) -> list[Exchange]:
    return [
        Exchange(
            **{
                **values,
                "request_headers": [tuple(pair) for pair in values["request_headers"]],
                "response_headers": [tuple(pair) for pair in values["response_headers"]],
                "body": None if values.get("body") is None else base64.b64decode(values["body"]),
            }
        )
        for values in result.get("captures", [])
    ]


def _feed_read(result: dict[str, Any]) -> FeedRead:
    articles = result.get("articles")
    captures = _exchanges(result)
    return FeedRead(
        etag=result.get("etag"),
        last_modified=result.get("last_modified"),
        body_hash=result.get("body_hash"),
        articles=None if articles is None else [Article(**{**values, "keys": tuple(values["keys"])}) for values in articles],
        warnings=list(result.get("warnings", [])),
        captures=captures,
    )
