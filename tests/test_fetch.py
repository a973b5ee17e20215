"""Stage 2 over real HTTP on loopback: limits, deadlines, retries, conditional GET, redirects."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import re
import socket
import time
from pathlib import Path
from typing import Any

import brotli
import httpcore
import pytest

from newsarchive import fetch_net
from newsarchive.config import FetchConfig, load_settings, render_config
from newsarchive.errors import ConfigError, FetchError
from newsarchive.fetch import Fetcher
from newsarchive.models import FetchResult

from .conftest import FeedServer

FAST = FetchConfig(connect_timeout=2, read_timeout=2, total_timeout=5, retries=2, backoff=0.01)


def fetch(url: str, config: FetchConfig = FAST, **kwargs: Any) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(config) as fetcher:
            return await fetcher.fetch(url, **kwargs)

    return asyncio.run(go())


def test_plain_feed_with_charset_and_validators(server: FeedServer) -> None:
    url = server.add(
        "/f", "<rss/>", headers={"Content-Type": "text/xml; charset=GBK", "Last-Modified": "Mon, 01 Jun 2026 00:00:00 GMT"}, etag='"v1"'
    )
    result = fetch(url)
    assert (result.status, result.body, result.charset, result.etag) == (200, b"<rss/>", "GBK", '"v1"')
    assert result.last_modified == "Mon, 01 Jun 2026 00:00:00 GMT"
    assert server.routes["/f"].requests[0]["User-Agent"].startswith("newsarchive/")


def test_conditional_get_gives_304_without_body(server: FeedServer) -> None:
    url = server.add("/f", "<rss/>", etag='"v1"')
    result = fetch(url, etag='"v1"', last_modified="Mon, 01 Jun 2026 00:00:00 GMT")
    assert result.not_modified and result.status == 304
    sent = server.routes["/f"].requests[0]
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Mon, 01 Jun 2026 00:00:00 GMT"


def test_5xx_is_retried_then_succeeds(server: FeedServer) -> None:
    url = server.add("/f", "<rss/>", fail_first=2)
    result = fetch(url)
    assert result.body == b"<rss/>" and result.attempts == 3


def test_persistent_500_fails_with_address_status_and_attempts(server: FeedServer) -> None:
    url = server.add("/f", "oops", status=500)
    with pytest.raises(FetchError) as caught:
        fetch(url)
    assert caught.value.status == 500 and caught.value.attempts == 3
    assert url in str(caught.value) and "HTTP 500" in str(caught.value)
    assert server.routes["/f"].hits == 3


def test_404_is_not_retried(server: FeedServer) -> None:
    url = server.add("/f", "gone", status=404)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(url)
    assert server.routes["/f"].hits == 1


def test_429_honours_retry_after_up_to_the_cap(server: FeedServer) -> None:
    url = server.add("/f", "slow down", status=429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(FetchError, match="HTTP 429"):
        fetch(url, FetchConfig(total_timeout=5, retries=1, max_retry_after=0.2))
    assert 0.2 <= time.monotonic() - started < 3


def test_drip_feeding_server_cannot_hold_a_run(server: FeedServer) -> None:
    url = server.add("/f", b"x" * 100, drip=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match="total_timeout"):
        fetch(url, FetchConfig(read_timeout=5, total_timeout=1, retries=0))
    assert time.monotonic() - started < 3


def test_defaults_bound_how_long_one_server_holds_a_run() -> None:
    # A drip or a stall is cut off after one low-speed window (not retried); nothing takes past the total deadline.
    config = FetchConfig()
    assert (config.low_speed_limit, config.low_speed_time, config.total_timeout) == (1024, 15, 60)
    assert config.low_speed_time <= 30 and config.total_timeout <= 60


@pytest.mark.parametrize("behaviour", [{"drip": 0.1}, {"delay": 3}], ids=["drips", "stalls before answering"])
def test_a_server_below_the_low_speed_limit_is_cut_off_after_one_window(server: FeedServer, behaviour: dict[str, float]) -> None:
    url = server.add("/f", b"x" * 100, **behaviour)
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch(url, FetchConfig(read_timeout=5, total_timeout=10, low_speed_limit=100, low_speed_time=0.3, retries=2))
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert url in message and "fewer than 100 bytes a second over 0.3 s" in message
    assert "fetch.low_speed_limit" in message and "fetch.low_speed_time" in message
    assert server.routes["/f"].hits == 1  # not retried: each retry would hold the run as long again


def test_a_slow_server_above_the_low_speed_limit_is_read_over_many_windows(server: FeedServer) -> None:
    url = server.add("/f", b"y" * 600, drip=0.002)  # a few hundred bytes a second, for over a second: several windows
    started = time.monotonic()
    result = fetch(url, FetchConfig(total_timeout=10, low_speed_limit=25, low_speed_time=0.4, retries=0))
    assert result.body == b"y" * 600 and time.monotonic() - started > 0.8


def test_a_low_speed_limit_of_zero_turns_the_check_off(server: FeedServer) -> None:
    url = server.add("/f", b"z" * 8, drip=0.05)
    assert fetch(url, FetchConfig(total_timeout=10, low_speed_limit=0, low_speed_time=0.1)).body == b"z" * 8


def test_304_to_a_request_without_validators_is_an_error(server: FeedServer) -> None:
    url = server.add("/f", status=304)
    with pytest.raises(FetchError, match="304 Not Modified without a conditional request") as caught:
        fetch(url)
    assert caught.value.status == 304 and url in str(caught.value)
    assert fetch(url, etag='"v1"').not_modified  # asked with a validator, the same answer means unchanged


def test_a_retry_after_longer_than_the_deadline_leaves_gives_up_at_once(server: FeedServer) -> None:
    url = server.add("/f", "slow down", status=429, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"HTTP 429 .*would pass the 3 s deadline \(fetch.total_timeout\)"):
        fetch(url, FetchConfig(total_timeout=3, retries=2, max_retry_after=60))
    assert time.monotonic() - started < 1.5 and server.routes["/f"].hits == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("low_speed_limit = -1", "fetch.low_speed_limit cannot be negative"),
        ("low_speed_limit = 1.5", "fetch.low_speed_limit = 1.5 is not a"),
        ("low_speed_time = 0", "fetch.low_speed_time must be a positive number of seconds"),
        ("low_speed_time = nan", "fetch.low_speed_time must be a positive number of seconds"),
        ('low_speed_time = "soon"', "fetch.low_speed_time = 'soon' is not a float"),
    ],
)
def test_bad_fetch_limits_are_refused_naming_the_setting(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "newsarchive.toml").write_text(f"[fetch]\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="newsarchive.toml: " + re.escape(message)):
        load_settings(tmp_path, env={})


def test_fetch_limits_come_from_the_file_the_environment_and_init(tmp_path: Path) -> None:
    (tmp_path / "newsarchive.toml").write_text("[fetch]\nlow_speed_limit = 512\nlow_speed_time = 20\n", encoding="utf-8")
    fetch_config = load_settings(tmp_path, env={"NEWSARCHIVE_LOW_SPEED_TIME": "5"}).fetch
    assert (fetch_config.low_speed_limit, fetch_config.low_speed_time) == (512, 5.0)
    written = render_config()
    for default in ("# total_timeout = 60.0 ", "# low_speed_limit = 1024 ", "# low_speed_time = 15.0 "):
        assert default in written


def test_silent_server_times_out_on_read(server: FeedServer) -> None:
    url = server.add("/f", "late", delay=2)
    with pytest.raises(FetchError, match="timed out"):
        fetch(url, FetchConfig(read_timeout=0.3, total_timeout=10, retries=0))


def test_size_cap_before_and_after_decompression(server: FeedServer) -> None:
    config = FetchConfig(max_bytes=100_000, retries=0)
    big = server.add("/big", b"x" * 200_000)
    with pytest.raises(FetchError, match="max_bytes"):
        fetch(big, config)
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB that travel as ~50 kB
    gz = server.add("/gz", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="max_bytes"):
        fetch(gz, config)
    br = server.add("/br", brotli.compress(b"\0" * 50_000_000), headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="max_bytes"):
        fetch(br, config)


def test_a_cap_of_the_callers_own_is_lower_and_stops_the_download(server: FeedServer) -> None:
    config = FetchConfig(max_bytes=10_000_000, retries=0)
    small = server.add("/small", b"x" * 50_000)
    assert fetch(small, config, max_bytes=60_000).body == b"x" * 50_000
    with pytest.raises(FetchError, match=r"larger than 40,000 bytes$"):  # not fetch.max_bytes: the caller names its own cap
        fetch(small, config, max_bytes=40_000)
    bomb = server.add("/bomb", gzip.compress(b"\0" * 50_000_000), headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="larger than 40,000 bytes"):
        fetch(bomb, config, max_bytes=40_000)
    with pytest.raises(FetchError, match=r"larger than 10,000 bytes \(fetch.max_bytes\)"):  # never above fetch.max_bytes
        fetch(small, FetchConfig(max_bytes=10_000, retries=0), max_bytes=20_000_000)


def test_gzip_and_brotli_bodies_are_decoded(server: FeedServer) -> None:
    body = "<rss>中文</rss>".encode() * 1000
    assert fetch(server.add("/gz", body, gzip=True)).body == body
    assert fetch(server.add("/br", brotli.compress(body), headers={"Content-Encoding": "br"})).body == body


def test_corrupt_compression_is_an_error(server: FeedServer) -> None:
    url = server.add("/gz", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="corrupt"):
        fetch(url)


def test_redirects_followed_within_limit(server: FeedServer) -> None:
    final = server.add("/final", "<rss/>")
    server.add("/r1", status=301, headers={"Location": "/final"})
    assert fetch(server.base + "/r1").body == b"<rss/>"
    assert final
    server.add("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="redirects"):
        fetch(server.base + "/loop")


def test_an_outlets_credentials_do_not_follow_a_redirect_to_another_host(server: FeedServer) -> None:
    # As curl does without --location-trusted: Cookie and Authorization go to the host they were meant for only.
    server.add("/same", "<rss/>")
    server.add("/other", "<rss/>")
    server.add("/to-same", status=302, headers={"Location": "/same"})
    server.add("/to-other", status=302, headers={"Location": server.base.replace("127.0.0.1", "localhost") + "/other"})
    own = {"Cookie": "session=secret", "Authorization": "Bearer secret", "Referer": "https://outlet.invalid/"}
    for path in ("/to-same", "/to-other"):
        assert fetch(server.base + path, headers=own).body == b"<rss/>"
    [same], [other] = server.routes["/same"].requests, server.routes["/other"].requests
    assert same["Cookie"] == "session=secret" and same["Authorization"] == "Bearer secret"
    assert "Cookie" not in other and "Authorization" not in other, other
    assert other["Referer"] == "https://outlet.invalid/"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://files.example.org/feed.xml", "javascript:alert(1)"])
def test_redirect_only_to_http(server: FeedServer, target: str) -> None:
    url = server.add("/r", status=302, headers={"Location": target})
    with pytest.raises(FetchError, match="refused"):
        fetch(url)


def test_unreachable_address_is_a_network_error(server: FeedServer) -> None:
    port = server.server.server_address[1]
    server.close()
    with pytest.raises(FetchError, match="network error"):
        fetch(f"http://127.0.0.1:{port}/f", FetchConfig(retries=1, backoff=0.01))


def test_local_paths_and_file_urls(tmp_path: Path) -> None:
    feed = tmp_path / "中文 feed.xml"
    feed.write_bytes(b"<rss/>")
    assert fetch(str(feed)).body == b"<rss/>"
    assert fetch(feed.as_uri()).body == b"<rss/>"
    with pytest.raises(FetchError, match="cannot read"):
        fetch(str(tmp_path / "missing.xml"))


def test_per_host_limit_holds(server: FeedServer) -> None:
    for n in range(6):
        server.add(f"/f{n}", "<rss/>", delay=0.2)

    async def go() -> float:
        async with Fetcher(FetchConfig(per_host=2)) as fetcher:
            started = time.monotonic()
            await asyncio.gather(*(fetcher.fetch(f"{server.base}/f{n}") for n in range(6)))
            return time.monotonic() - started

    assert asyncio.run(go()) >= 0.55  # 6 requests, 2 at a time, 0.2 s each


def test_proxy_from_config_carries_the_request(server: FeedServer) -> None:
    # The loopback server plays the proxy: it receives the absolute address of a host that does not exist.
    server.add("http://feeds.example.invalid/rss.xml", "<rss/>")
    result = fetch("http://feeds.example.invalid/rss.xml", FetchConfig(proxy=server.base, retries=0))
    assert result.body == b"<rss/>"


def test_proxy_from_the_environment(server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.add("http://feeds.example.invalid/env.xml", "<rss/>")
    monkeypatch.setenv("HTTP_PROXY", server.base)
    assert fetch("http://feeds.example.invalid/env.xml", FetchConfig(retries=0)).body == b"<rss/>"


# -- DNS rebinding: the address connected to is the address checked -------------------------------------------------


class Resolver:
    """Stands in for fetch_net.resolve, where every name is resolved: the n-th lookup of a name gets the n-th answer
    (the last one from then on); None answers as for a name that does not exist. IP addresses stand for themselves."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *answers: list[str] | None) -> None:
        self.answers = answers
        self.asked: list[str] = []
        monkeypatch.setattr(fetch_net, "resolve", self)

    async def __call__(self, host: str) -> list[fetch_net.IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        assert host.endswith(".example.invalid"), host
        self.asked.append(host)
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(address) for address in answer]


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses connected to, which may only be loopback ones: were the code under test wrong and connected to
    a public address a fake resolver gave, the test fails here before any packet leaves. Names under example.invalid
    go to no proxy, so that requests for them reach the transport under test (conftest sends others to a dead one)."""
    connected: list[str] = []
    connect_tcp = httpcore.AnyIOBackend.connect_tcp

    async def loopback_connect_tcp(self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        assert ipaddress.ip_address(host).is_loopback, f"the code under test tried to connect to {host}"
        connected.append(host)
        return await connect_tcp(self, host, port, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", loopback_connect_tcp)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1,.example.invalid")
    return connected


def named(url: str, name: str) -> str:
    """The loopback server's address with a name in place of 127.0.0.1."""
    return url.replace("127.0.0.1", name, 1)


@pytest.mark.parametrize(
    ("on_connect", "refusal"),
    [
        (["127.0.0.1"], r"a loopback address \(127\.0\.0\.1\)"),
        (["::ffff:127.0.0.1"], r"a loopback address \(::ffff:(127\.0\.0\.1|7f00:1)\)"),  # spelt either way by Python version
        (["93.184.216.34", "10.0.0.7"], r"a private or reserved address \(10\.0\.0\.7\)"),  # every address counts
        (["169.254.169.254"], r"a link-local address \(169\.254\.169\.254\)"),
    ],
)
def test_a_name_that_changes_its_answer_after_the_check_is_refused_at_connect(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str], on_connect: list[str], refusal: str
) -> None:
    url = named(server.add("/secret", "内部数据"), "rebind.example.invalid")
    resolver = Resolver(monkeypatch, ["93.184.216.34"], on_connect)  # public to the check, then somewhere else
    with pytest.raises(FetchError, match=r"refused: rebind\.example\.invalid is " + refusal) as caught:
        fetch(url, untrusted=True)
    assert "must be public" in str(caught.value)
    assert resolver.asked == ["rebind.example.invalid"] * 2  # checked, then resolved again to connect: refused there
    assert server.routes["/secret"].hits == 0 and loopback_only == []


def test_a_redirect_that_changes_its_answer_to_link_local_is_refused_at_connect(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str]
) -> None:
    # A feed the user configured is trusted, but where it redirects to is not: never link-local (cloud metadata).
    server.add("/latest", "<rss/>")
    feed = server.add("/feed", status=302, headers={"Location": named(server.base, "meta.example.invalid") + "/latest"})
    resolver = Resolver(monkeypatch, ["127.0.0.1"], ["169.254.169.254"])
    with pytest.raises(FetchError, match=r"redirect to a link-local address \(169\.254\.169\.254\) refused"):
        fetch(feed)
    assert resolver.asked == ["meta.example.invalid"] * 2
    assert server.routes["/latest"].hits == 0 and loopback_only == ["127.0.0.1"]  # the feed itself only


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["::1", "127.0.0.1"]])
def test_allow_private_connects_to_the_address_resolved_and_sends_the_name(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str], answer: list[str]
) -> None:
    # The name does not exist (.invalid): the page can only be reached through the address the resolver gave.
    url = named(server.add("/zh/1", "<html>正文</html>"), "pages.example.invalid")
    resolver = Resolver(monkeypatch, answer)
    result = fetch(url, untrusted=True, allow_private=True)
    assert result.body == "<html>正文</html>".encode() and result.final_url == url
    assert server.routes["/zh/1"].requests[0]["Host"] == url.split("/")[2]
    assert resolver.asked == ["pages.example.invalid"] * 2
    assert loopback_only == answer  # in the resolver's order: nothing listens on ::1 there, so on to 127.0.0.1


def test_a_connection_opened_for_allow_private_never_serves_a_stricter_fetch(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str]
) -> None:
    # Pools reuse an open connection to the same host without resolving it again: one pool per rule.
    url = named(server.add("/zh/1", "正文"), "shared.example.invalid")
    resolver = Resolver(monkeypatch, ["127.0.0.1"], ["127.0.0.1"], ["93.184.216.34"], ["127.0.0.1"])

    async def go() -> bytes | None:
        async with Fetcher(FAST) as fetcher:
            body = (await fetcher.fetch(url, untrusted=True, allow_private=True)).body
            with pytest.raises(FetchError, match=r"is a loopback address \(127\.0\.0\.1\)"):
                await fetcher.fetch(url, untrusted=True)
            return body

    assert asyncio.run(go()) == "正文".encode()
    assert len(resolver.asked) == 4 and server.routes["/zh/1"].hits == 1 and loopback_only == ["127.0.0.1"]


def test_a_name_that_stops_resolving_at_connect_is_a_network_error(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, loopback_only: list[str]
) -> None:
    url = named(server.add("/zh/1", "正文"), "gone.example.invalid")
    resolver = Resolver(monkeypatch, ["93.184.216.34"], None)
    with pytest.raises(FetchError, match=r"network error: .*Name or service not known after 2 attempts"):
        fetch(url, FetchConfig(retries=1, backoff=0.01), untrusted=True)
    assert len(resolver.asked) == 4 and server.routes["/zh/1"].hits == 0 and loopback_only == []


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("64:ff9b::a00:1", "private or reserved"),  # NAT64 to 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b:1::5db8:d822", "private or reserved"),  # the local-use NAT64 prefix, whatever it embeds
        ("2002:a00:1::", "private or reserved"),  # 6to4 from 10.0.0.1
        ("2002:7f00:1::", "loopback"),
        ("fec0::1", "private or reserved"),  # site-local
        ("fe80::1", "link-local"),
        ("169.254.169.254", "link-local"),
        ("64:ff9b::5db8:d822", None),  # NAT64 to a public address
        ("93.184.216.34", None),
    ],
)
def test_addresses_that_lead_to_ipv4_count_as_that_address(address: str, kind: str | None) -> None:
    assert fetch_net._not_public(ipaddress.ip_address(address)) == kind
