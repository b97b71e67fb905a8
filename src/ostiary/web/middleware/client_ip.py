"""Resolve the real client IP once per request (SEC-63).

The peer address of the TCP connection is the only thing a client cannot forge. `X-Forwarded-For`
is believed only when the peer is one of our own proxies, and then only as far as the chain of our
own proxies goes: walking from the right, every hop appended by a trusted proxy is skipped and the
first untrusted hop is the client. Anything left of that hop was written by the client and is ignored.

A malformed hop (`a`, empty, garbage) never raises and is never skipped over — skipping it would let
a client choose the address further left — so resolution falls back to the peer address. Rate
limits then key on our proxy, which is conservative (shared bucket) rather than bypassable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary.web.middleware._asgi import header_values, scope_of, state

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

STATE_KEY = "client_ip"
UNKNOWN = "unknown"
# A real chain of our own proxies is short; a long one is an attacker padding it with trusted-looking
# addresses to make us parse forever.
MAX_HOPS = 20


@lru_cache(maxsize=4096)  # every request parses its peer; a few distinct addresses are most of them
def parse_ip(value: str) -> IPAddress | None:
    """Parse one hop; tolerate `[v6]`, `[v6]:port` and `v4:port`; None when it is not an address."""
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        text = text[1:end] if end > 0 else ""
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has at least two colons
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket must key the same as over plain IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def resolve_client_ip(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client address for a peer and its `X-Forwarded-For` header values (in received order)."""
    if not peer:
        return UNKNOWN
    peer_ip = parse_ip(peer)
    if peer_ip is None:
        return peer  # not an IP (a unix socket, a test client): cannot be a trusted proxy
    if not _is_trusted(peer_ip, trusted):
        return str(peer_ip)

    hops = [hop for value in forwarded_for for hop in value.split(",")]
    candidate = peer_ip
    for hop in reversed(hops[-MAX_HOPS:]):
        hop_ip = parse_ip(hop)
        if hop_ip is None:
            return str(peer_ip)
        if not _is_trusted(hop_ip, trusted):
            return str(hop_ip)
        candidate = hop_ip
    if len(hops) > MAX_HOPS:
        return str(peer_ip)  # only trusted hops within the cap: refuse to guess further left
    # Every hop is one of our proxies (an internal caller): the leftmost one is where it started.
    return str(candidate)


def _is_trusted(address: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_ip(scope_or_request: Any) -> str:
    """The resolved client IP of a request (a scope or a Starlette `Request`/`WebSocket`).

    Falls back to the raw peer address when the middleware did not run, so callers (rate limiters,
    audit) never get None and never see a forwarded header.
    """
    scope = scope_of(scope_or_request)
    resolved = scope.get("state", {}).get(STATE_KEY)
    if isinstance(resolved, str):
        return resolved
    peer = scope.get("client")
    return str(peer[0]) if peer else UNKNOWN


class ClientIpMiddleware:
    """Store the resolved client IP in `scope["state"]["client_ip"]`."""

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        # Parsed once here: a typo in configuration fails at start-up, not on a request.
        self.trusted: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(net.strip(), strict=False) for net in trusted_proxies
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # WebSockets come from a client too; resolving costs nothing and touches no message.
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            forwarded = (
                [value.decode("latin-1") for value in header_values(scope, b"x-forwarded-for")]
                if self.trusted
                else []
            )
            state(scope)[STATE_KEY] = resolve_client_ip(peer[0] if peer else None, forwarded, self.trusted)
        await self.app(scope, receive, send)
