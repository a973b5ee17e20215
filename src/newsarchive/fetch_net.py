"""Where a connection may go: the rule on addresses, and a network backend that connects only to checked ones.

Checking a name and then letting httpcore connect to it would resolve it twice, and a hostile DNS server can answer
a public address to the check and a loopback one to the connection (DNS rebinding). ``CheckedBackend`` resolves
once, checks every address, and connects to a checked one. httpcore still does TLS with the name (SNI, certificate)
and httpx sends it in the Host header: both come from the request, not from the address connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the IPv4 address is the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, for local networks only (older Pythons call it global)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (mapped, 6to4, Teredo, NAT64, IPv4-compatible), where one does."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _not_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is (an IPv6 address that leads to an IPv4 one counts as that one), or
    None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and (kind := _not_public(embedded)):
        return kind
    if address.is_link_local:
        return "link-local"
    if address.is_loopback:
        return "loopback"
    local_ipv6 = isinstance(address, ipaddress.IPv6Address) and (address.is_site_local or address in _LOCAL_NAT64)
    if address.is_private or not address.is_global or address.is_multicast or local_ipv6:
        return "private or reserved"
    return None


class AddressRefused(Exception):
    """``host`` resolves to ``address``, a ``kind`` address, where the request must not go."""

    def __init__(self, host: str, address: IPAddress, kind: str) -> None:
        super().__init__(f"{host} is a {kind} address ({address})")
        self.host = host
        self.address = address
        self.kind = kind


async def resolve(host: str) -> list[IPAddress]:
    """The addresses ``host`` stands for, in the resolver's order: itself when it is an IP address. Raises OSError,
    UnicodeError or ValueError when it does not resolve. The one place names are resolved (tests replace it)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    # A scope (fe80::1%eth0) only comes with link-local addresses, which are refused anyway.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


async def checked_addresses(host: str, *, public_only: bool) -> list[IPAddress]:
    """``host``'s addresses, if every one of them is allowed; else AddressRefused. Never link-local (cloud metadata);
    with ``public_only`` (addresses taken from feed content) neither loopback, private nor reserved. A name with one
    refused address is refused whole: which address a connection gets is the resolver's choice, not ours."""
    addresses = await resolve(host)
    for address in addresses:
        kind = _not_public(address)
        if kind == "link-local" or (kind and public_only):
            raise AddressRefused(host, address, kind)
    return addresses


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, but a name is resolved here, checked, and the connection made to a checked address."""

    def __init__(self, *, public_only: bool) -> None:
        self.public_only = public_only
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # The connect timeout covers resolving and every address tried, as in the AnyIO backend it wraps.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                addresses = await checked_addresses(host, public_only=self.public_only)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except (OSError, UnicodeError, ValueError) as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        error: httpcore.ConnectError | None = None
        for left, address in zip(range(len(addresses), 0, -1), addresses, strict=True):
            # One after the other, as they came, each with its share of the time left: an address that drops packets
            # (a broken IPv6 route) cannot use up the whole timeout. No Happy Eyeballs, but never an unchecked address.
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise httpcore.ConnectTimeout(f"connecting to {host} timed out")
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=None if remaining is None else remaining / left,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"{host} has no address")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, over a connection pool that connects through a CheckedBackend. httpx 0.28 takes no
    network backend (encode/httpx#3749 proposes one), so the pool AsyncHTTPTransport builds is replaced by one built
    the same way with the backend."""

    def __init__(self, *, public_only: bool, limits: httpx.Limits, trust_env: bool) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=trust_env)
        super().__init__(verify=ssl_context, limits=limits, trust_env=trust_env)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(public_only=public_only),
        )
