"""Stage 2, fetch: feeds over HTTP(S) (httpx, async) or from local files -> FetchResult.

Politeness and safety live here: a per-host and a global limit on requests at once,
connect/read/total deadlines, a low-speed limit (curl's), a cap on the response size that also holds after
decompression (gzip and brotli bombs), a few redirects and only to http(s) addresses
that are not link-local, conditional GET, and retries with backoff on network errors,
5xx and 429 (Retry-After honoured up to a cap). Addresses taken from feed content (article
pages) are untrusted: http(s) only, and only to public addresses, checked on every hop, and (without a proxy)
again on the address actually connected to (fetch_net).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from .config import FetchConfig
from .errors import FetchError
from .fetch_net import AddressRefused, CheckedTransport, checked_addresses
from .fetch_paths import is_local_path, local_path
from .models import FetchResult

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_VALIDATORS = ("if-none-match", "if-modified-since")


class _CorruptBody(Exception):
    pass


class _Decoder(Protocol):
    def feed(self, chunk: bytes, limit: int) -> bytes: ...

    def pending(self) -> bool: ...


class _Identity:
    def feed(self, chunk: bytes, limit: int) -> bytes:
        return chunk

    def pending(self) -> bool:
        return False


class _Zlib:
    """gzip or deflate, never producing more than ``limit`` bytes from one call."""

    def __init__(self, wbits: int) -> None:
        self._inflater = zlib.decompressobj(wbits)

    def feed(self, chunk: bytes, limit: int) -> bytes:
        try:
            return self._inflater.decompress(self._inflater.unconsumed_tail + chunk, limit)
        except zlib.error as exc:
            raise _CorruptBody(str(exc)) from exc

    def pending(self) -> bool:
        return bool(self._inflater.unconsumed_tail)


class _Brotli:
    def __init__(self) -> None:
        import brotli

        self._error = brotli.error
        self._decompressor = brotli.Decompressor()

    def feed(self, chunk: bytes, limit: int) -> bytes:
        try:
            return bytes(self._decompressor.process(chunk, output_buffer_limit=limit))
        except self._error as exc:
            raise _CorruptBody(str(exc)) from exc

    def pending(self) -> bool:
        return False  # at the output limit the body is too large anyway


def _decoder(content_encoding: str) -> _Decoder:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if encoding == "br":
        return _Brotli()
    raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
        if not math.isfinite(seconds):
            return None
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), cap)


def _refused(url: httpx.URL, refused: AddressRefused, *, untrusted: bool) -> FetchError:
    """The error for a request the address rule refused, saying which address and why."""
    if not untrusted:  # then only link-local addresses are refused, and only after a redirect
        return FetchError(f"{url}: redirect to a link-local address ({refused.address}) refused", url=str(url))
    return FetchError(
        f"{url}: refused: {url.host} is a {refused.kind} address ({refused.address}); addresses taken from feed content must be public"
        + ("" if refused.kind == "link-local" else " (allow_private = true in the outlet's [[sources]] table allows a self-hosted one)"),
        url=str(url),
    )


async def check_address(url: httpx.URL, *, untrusted: bool, allow_private: bool = False) -> None:
    """Refuse hosts that resolve where a request must not go. Redirects may lead anywhere a feed author likes,
    so never to link-local addresses (cloud metadata). Addresses taken from feed content (``untrusted``: article
    pages, images) go only to public addresses, unless the outlet allows private ones (self-hosted, tests); even
    then never link-local. Checked on every address the host resolves to, before each request and redirect.

    This is a check before the request: a proxy, when one carries it, resolves the name again, out of our reach.
    Without a proxy the request goes through a CheckedTransport (fetch_net), which checks the addresses it
    connects to by the same rule: that closes the gap between this lookup and the connection (DNS rebinding)."""
    try:
        await checked_addresses(url.raw_host.decode("ascii"), public_only=untrusted and not allow_private)
    except AddressRefused as refused:
        raise _refused(url, refused, untrusted=untrusted) from None
    except (OSError, UnicodeError, ValueError):
        return  # unresolvable here: the request fails and says so, or a proxy resolves it (socks5h)


# Called for every HTTP response with the request that got it, and the body as received (still content-encoded,
# not yet decoded), or None when the body was not read (redirects, errors, 304). Awaited, so that a slow writer
# slows fetching rather than piling up responses in memory.
CaptureHook = Callable[[str, httpx.Request, httpx.Response, bytes | None], Awaitable[None]]


class _RawTee(httpx.AsyncByteStream):
    """A response stream that keeps the bytes as they arrive, before decoding, for a capture."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream
        self.chunks: list[bytes] = []
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self.chunks.append(chunk)
            yield chunk
        self.finished = True

    async def aclose(self) -> None:
        await self._stream.aclose()


class _LowSpeed:
    """curl's low-speed limit (--speed-limit, --speed-time): ``limit`` bytes a second must arrive over ``window``
    seconds, counted from the request, else the attempt is cut off; each time they have, a new window starts. So a
    server that drips, or stalls before or during its answer, is cut off after one window instead of holding the
    run until the total deadline. ``scope`` is the timeout that cuts the attempt off."""

    def __init__(self, scope: asyncio.Timeout, limit: int, window: float) -> None:
        self._scope = scope
        self._window = window
        self._due = limit * window
        self._got = 0
        if limit:
            self._restart()

    def _restart(self) -> None:
        self._got = 0
        self._scope.reschedule(asyncio.get_running_loop().time() + self._window)

    def received(self, size: int) -> None:
        self._got += size
        if self._due and self._got >= self._due:
            self._restart()


_CREDENTIALS = frozenset({"cookie", "authorization", "proxy-authorization"})  # an outlet's headers that stay on its host


class _Retry(Exception):
    def __init__(self, reason: str, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.wait = wait


class Fetches(Protocol):
    """What fetches pages, images and rechecks: a ``Fetcher`` here, or the workers of a cluster (``cluster.QueuedFetcher``)."""

    @property
    def config(self) -> FetchConfig: ...

    def via(self, proxy: str | None) -> Fetches: ...

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
    ) -> FetchResult: ...


class Fetcher:
    """One shared client for a run. Use as ``async with Fetcher(config) as fetcher``.

    Requests whose addresses are checked (addresses from feed content, and every redirect) go through clients of
    their own whose connections are made to checked addresses only (fetch_net.CheckedTransport), one client per
    rule: a pool reuses an open connection to the same host without resolving it again, so a connection opened
    under a looser rule (a feed the user configured, an outlet with allow_private) must never serve a stricter one."""

    def __init__(self, config: FetchConfig, *, capture: CaptureHook | None = None) -> None:
        self.config = config
        self._capture = capture
        self._limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency)
        self._client = self._new_client()
        self._checked: dict[bool, httpx.AsyncClient] = {}  # by public_only
        self._all = asyncio.Semaphore(config.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._proxied: dict[str, Fetcher] = {}

    def via(self, proxy: str | None) -> Fetcher:
        """This fetcher, or one with the same settings through ``proxy`` (an outlet's own), made on first use and closed
        with this one. Its limits per host and in all are its own."""
        if proxy is None or proxy == self.config.proxy:
            return self
        child = self._proxied.get(proxy)
        if child is None:
            child = self._proxied[proxy] = Fetcher(replace(self.config, proxy=proxy), capture=self._capture)
        return child

    def _new_client(self, *, public_only: bool | None = None) -> httpx.AsyncClient:
        """A client as configured; with ``public_only`` given, one that connects only where that rule allows."""
        config = self.config
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=config.connect_timeout, read=config.read_timeout, write=config.read_timeout, pool=config.total_timeout
            ),
            follow_redirects=False,
            proxy=config.proxy,
            trust_env=config.proxy is None,
            limits=self._limits,
            headers={
                "User-Agent": config.user_agent,
                "Accept-Encoding": "gzip, deflate, br",
                "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
            },
        )
        if public_only is not None:
            # httpx takes proxies from the environment only when it builds the client's transport itself (a transport=
            # argument turns them off), so the client is built as usual, then its default transport, the one for
            # requests no proxy carries, is replaced. Proxied requests keep httpx's proxy transports: there the proxy
            # resolves the name, and check_address before the request is the only check.
            client._transport = CheckedTransport(public_only=public_only, limits=self._limits, trust_env=config.proxy is None)
        return client

    def _client_for(self, *, checked: bool, public_only: bool) -> httpx.AsyncClient:
        if not checked:
            return self._client  # a feed the user configured, before any redirect: trusted, as it is
        client = self._checked.get(public_only)
        if client is None:  # made on first use: most runs never need the allow_private one
            client = self._checked[public_only] = self._new_client(public_only=public_only)
        return client

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in (self._client, *self._checked.values()):
            await client.aclose()
        for child in self._proxied.values():
            await child.__aexit__()

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
        """Fetch one feed, or with ``untrusted`` an address taken from feed content (an article page): then only
        http(s) to public addresses (see ``check_address``). Raises FetchError saying what went wrong and where;
        304 gives a result without body. ``max_bytes`` lowers the size cap for this response (an image): the
        download stops as soon as the body is larger. ``headers`` are sent besides the usual ones (an outlet's own, a
        User-Agent among them)."""
        started = time.monotonic()
        limit = self.config.max_bytes if max_bytes is None else min(max_bytes, self.config.max_bytes)
        if untrusted and not url.lower().startswith(("http://", "https://")):
            raise FetchError(f"{url[:200]}: refused: an address taken from feed content must be http(s)", url=url)
        if is_local_path(url) or url.startswith("file:"):
            return await asyncio.to_thread(self._read_file, url, started, limit)
        if not url.startswith(("http://", "https://")):
            raise FetchError(f"{url}: only http(s), file:// and local paths can be fetched", url=url)
        host = urlsplit(url).netloc.lower()
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self.config.per_host))
        attempts = 0
        config = self.config
        # Waiting for a free slot does not count against the deadline; retries and their waits do, and a
        # host that asked us to wait (429, Retry-After) keeps its slot meanwhile.
        async with self._all, per_host:
            try:
                async with asyncio.timeout(config.total_timeout) as deadline:
                    while True:
                        attempts += 1
                        try:
                            async with asyncio.timeout(None) as slow:
                                speed = _LowSpeed(slow, config.low_speed_limit, config.low_speed_time)
                                result = await self._attempt(
                                    url, etag, last_modified, limit, speed, untrusted=untrusted, allow_private=allow_private, extra=headers
                                )
                            return replace(result, attempts=attempts, elapsed=time.monotonic() - started)
                        except TimeoutError:
                            if not slow.expired():
                                raise
                            # Not retried: a server that slow would hold the run once more for each retry.
                            raise FetchError(
                                f"{url}: cut off: fewer than {config.low_speed_limit:,} bytes a second over {config.low_speed_time:g} s"
                                " (fetch.low_speed_limit, fetch.low_speed_time)",
                                url=url,
                                attempts=attempts,
                            ) from None
                        except _Retry as retry:
                            tried = f"{retry} after {attempts} attempt{'s' * (attempts > 1)}"
                            if attempts > config.retries:
                                raise FetchError(f"{url}: {tried}", url=url, status=retry.status, attempts=attempts) from None
                            wait = retry.wait if retry.wait is not None else config.backoff * 2 ** (attempts - 1) * random.uniform(0.8, 1.2)
                            left = (deadline.when() or math.inf) - asyncio.get_running_loop().time()
                            if wait >= left:  # the server asks for longer than the deadline leaves: give up now, not then
                                raise FetchError(
                                    f"{url}: {tried}; waiting {wait:.1f} s to retry would pass the {config.total_timeout:g} s deadline"
                                    " (fetch.total_timeout)",
                                    url=url,
                                    status=retry.status,
                                    attempts=attempts,
                                ) from None
                            log.info("%s: %s; retrying in %.1f s", url, retry, wait)
                            await asyncio.sleep(wait)
            except TimeoutError:
                raise FetchError(
                    f"{url}: gave up after {self.config.total_timeout:g} s (fetch.total_timeout), {attempts} attempt{'s' * (attempts > 1)}",
                    url=url,
                    attempts=attempts,
                ) from None

    async def _attempt(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        limit: int,
        speed: _LowSpeed,
        *,
        untrusted: bool = False,
        allow_private: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> FetchResult:
        headers = dict(extra or {})
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise FetchError(f"{url}: not a valid address: {exc}", url=url) from None
        for hop in range(self.config.max_redirects + 1):
            checked = bool(hop) or untrusted
            if checked:
                await check_address(target, untrusted=untrusted, allow_private=allow_private)
            client = self._client_for(checked=checked, public_only=untrusted and not allow_private)
            try:
                response = await client.send(client.build_request("GET", target, headers=headers), stream=True)
            except AddressRefused as refused:  # the name resolved elsewhere on connecting than above (DNS rebinding)
                raise _refused(target, refused, untrusted=untrusted) from None
            except httpx.TimeoutException as exc:
                raise _Retry(f"timed out ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise _Retry(f"network error: {exc or type(exc).__name__}") from exc
            except httpx.InvalidURL as exc:  # httpx prepares the next hop even when not following redirects
                raise FetchError(f"{url}: redirect refused: the server gave an address that is not http(s): {exc}", url=url) from exc
            tee = None
            if self._capture is not None and isinstance(response.stream, httpx.AsyncByteStream):
                tee = response.stream = _RawTee(response.stream)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    await self._captured(url, response, tee)
                    location = response.headers["location"]
                    scheme = urlsplit(location).scheme.lower()
                    if scheme not in ("", "http", "https"):
                        raise FetchError(f"{url}: redirect to {location[:100]!r} refused: only http(s) addresses are followed", url=url)
                    try:
                        target, previous = target.join(location), target
                    except httpx.InvalidURL:
                        raise FetchError(f"{url}: redirect to {location[:100]!r} refused: not a valid address", url=url) from None
                    if (target.scheme, target.host, target.port) != (previous.scheme, previous.host, previous.port):
                        # as curl without --location-trusted: credentials go to the host they were given for only
                        headers = {name: value for name, value in headers.items() if name.lower() not in _CREDENTIALS}
                    continue
                try:
                    result = await self._result(url, response, limit, speed)
                except (_Retry, FetchError):
                    if tee is not None and not tee.chunks:  # answered, body unread (an error status): proof the server was asked
                        await self._captured(url, response, tee)
                    raise  # a body refused part way (size, corrupt, broken) is not captured
                await self._captured(url, response, tee)
                return result
            finally:
                await response.aclose()
        raise FetchError(f"{url}: more than {self.config.max_redirects} redirects (fetch.max_redirects)", url=url)

    async def _captured(self, url: str, response: httpx.Response, tee: _RawTee | None) -> None:
        if self._capture is not None and tee is not None:
            body = b"".join(tee.chunks) if tee.finished else None
            tee.chunks.clear()  # the joined copy is all the capture needs
            await self._capture(url, response.request, response, body)

    async def _result(self, url: str, response: httpx.Response, limit: int, speed: _LowSpeed) -> FetchResult:
        status = response.status_code
        if status == 304 and not any(name in response.request.headers for name in _VALIDATORS):
            # Nothing to compare with, so "not modified" says nothing: a broken server or cache, not an unchanged feed.
            raise FetchError(f"{url}: 304 Not Modified without a conditional request", url=url, status=status)
        if status == 304:
            return FetchResult(
                url=url, status=304, body=None, etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
            )
        if status in RETRY_STATUSES:
            wait = _retry_after(response.headers.get("retry-after"), self.config.max_retry_after)
            raise _Retry(f"HTTP {status} {response.reason_phrase}".rstrip(), status=status, wait=wait)
        if status >= 300:
            raise FetchError(f"{url}: HTTP {status} {response.reason_phrase}".rstrip(), url=url, status=status)
        body = await self._read_body(url, response, limit, speed)
        return FetchResult(
            url=url,
            status=status,
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            charset=_charset(response.headers.get("content-type")),
            final_url=str(response.url),
        )

    async def _read_body(self, url: str, response: httpx.Response, limit: int, speed: _LowSpeed) -> bytes:
        too_large = FetchError(
            f"{url}: response larger than {limit:,} bytes{self._setting(limit)}", url=url, status=response.status_code, over_cap=limit
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and not response.headers.get("content-encoding"):
            raise too_large
        try:
            decoder = _decoder(response.headers.get("content-encoding", ""))
        except ValueError as exc:
            raise FetchError(f"{url}: {exc}", url=url) from None
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_raw():  # as the bytes arrive, so that the low-speed limit counts them
                speed.received(len(chunk))
                data = decoder.feed(chunk, limit - size + 1)
                while True:
                    size += len(data)
                    if size > limit:
                        raise too_large
                    parts.append(data)
                    if not decoder.pending():
                        break
                    data = decoder.feed(b"", limit - size + 1)
        except httpx.TimeoutException as exc:
            raise _Retry("timed out while reading the response") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"connection broke while reading the response: {exc or type(exc).__name__}") from exc
        except _CorruptBody as exc:
            raise FetchError(f"{url}: the compressed response is corrupt: {exc}", url=url) from exc
        return b"".join(parts)

    def _setting(self, limit: int) -> str:
        """Which setting a size cap comes from, when it is this client's (a caller's own cap is the caller's to name)."""
        return " (fetch.max_bytes)" if limit == self.config.max_bytes else ""

    def _read_file(self, address: str, started: float, limit: int) -> FetchResult:
        path = local_path(address)
        try:
            with path.open("rb") as handle:
                body = handle.read(limit + 1)
        except OSError as exc:
            raise FetchError(f"{address}: cannot read {path}: {exc.strerror}", url=address) from exc
        if len(body) > limit:
            raise FetchError(f"{address}: file larger than {limit:,} bytes{self._setting(limit)}", url=address, over_cap=limit)
        return FetchResult(url=address, status=200, body=body, elapsed=time.monotonic() - started)
