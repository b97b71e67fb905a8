"""Outbound HTTP of the SDK: only https (or plain http to loopback), bounded bodies and waits.

Every document the SDK fetches (discovery metadata, the JWKS, introspection answers) decides which
tokens an API accepts, so it must not come over a channel an attacker on the path could rewrite, and
a hostile or broken server must not be able to make an API buffer an unbounded body.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from ostiary.sdk.errors import VerificationUnavailable

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_DOCUMENT_BYTES = 256 * 1024
DEFAULT_TIMEOUT = 5.0


def check_url(url: str, *, what: str, allow_insecure_http: bool = False) -> str:
    """Refuse a URL that is not https, except http to a loopback host (local development)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"the {what} must be an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and not allow_insecure_http:
        raise ValueError(f"the {what} must use https (plain http is allowed only to localhost)")
    return url


async def read_json(response: httpx.Response, *, what: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """The JSON body of a streamed response, refused past `max_bytes` without buffering more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise VerificationUnavailable(f"the {what} is larger than {max_bytes} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise VerificationUnavailable(f"the {what} is not valid JSON") from None


class OwnedClient:
    """An `httpx.AsyncClient` given by the caller (theirs to close) or made here on first use."""

    def __init__(self, http: httpx.AsyncClient | None, timeout: float) -> None:
        self._given = http
        self._own: httpx.AsyncClient | None = None
        self._timeout = timeout

    def get(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        if self._own is None:
            # No redirects: a document must come from the URL that was configured, not from
            # wherever that URL points today.
            self._own = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._own

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.aclose()
            self._own = None
