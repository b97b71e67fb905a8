"""RFC 7517 §5 JWK Sets fetched from an issuer's `jwks_uri`, parsed once, cached, refetched with care.

- The set is fetched on first use and parsed into `VerificationKey`s (PyJWK), each pinned to the
  `alg` its JWK declares (RFC 8725 §3.1); a key that appears unchanged in a later fetch is reused,
  not parsed again.
- It is fresh for the response's `Cache-Control: max-age`, capped by `max_age` (so a purged key
  stops verifying within `max_age` at most), or `max_age` when the server says nothing.
- A token naming an unknown `kid` (a key rotated in since the last fetch, OIDC Core §10.1.1) causes
  a refetch — but at most one per `min_refetch_interval`, whatever the tokens say, so a flood of
  made-up kids cannot turn the API into a load generator against the issuer. Concurrent requests
  wait for the one fetch in flight instead of starting their own.
- A failed refetch keeps the keys already held; the next try waits for `min_refetch_interval`.
- Only the configured URL is ever fetched: nothing in a token (`jku`, `x5u`, `jwk`) chooses it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import httpx
import jwt

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.jwt_verify import VerificationKey
from ostiary.sdk._http import DEFAULT_TIMEOUT, OwnedClient, check_url, read_json
from ostiary.sdk.errors import VerificationUnavailable

log = logging.getLogger(__name__)


def cache_lifetime(cache_control: str | None) -> float | None:
    """Seconds a response may be reused per its Cache-Control (RFC 9111 §5.2.2); None if unsaid."""
    if not cache_control:
        return None
    max_age: float | None = None
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            value = value.strip().strip('"')
            if not value.isdigit():
                return 0.0  # RFC 9111 §4.2.1: an invalid freshness lifetime means stale
            max_age = float(value)
    return max_age


ParsedJwk = tuple[dict[str, Any], VerificationKey]  # the JWK as published, and its parsed key


def parse_jwks(document: Any, known: Mapping[str, ParsedJwk] | None = None) -> dict[str, ParsedJwk]:
    """The usable keys of a JWK Set by kid; a JWK identical to one in `known` is not parsed again.

    Skipped: keys without a kid, kids that appear twice (ambiguous), and keys `VerificationKey`
    refuses — no or an unsupported `alg`, `use` other than `sig`, private or symmetric members, weak
    RSA, a curve that does not match the alg. A document without a `keys` array is an error.
    """
    jwk_list = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(jwk_list, list):
        raise VerificationUnavailable("the JWKS has no 'keys' array")
    kids = Counter(j.get("kid") for j in jwk_list if isinstance(j, dict) and isinstance(j.get("kid"), str))
    parsed: dict[str, ParsedJwk] = {}
    for jwk_data in jwk_list:
        kid = jwk_data.get("kid") if isinstance(jwk_data, dict) else None
        if not isinstance(kid, str) or kids[kid] > 1:
            continue
        previous = (known or {}).get(kid)
        if previous is not None and previous[0] == jwk_data:
            parsed[kid] = previous
            continue
        try:
            parsed[kid] = (jwk_data, VerificationKey.from_jwk(jwk_data))
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            log.info("JWKS key %r skipped: %s", kid, exc)
    return parsed


class JwksCache:
    """The verification keys published at `jwks_uri`, kept fresh (see the module docstring)."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        http: httpx.AsyncClient | None = None,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        if max_age < 0 or min_refetch_interval < 0:
            raise ValueError("max_age and min_refetch_interval must not be negative")
        self.jwks_uri = check_url(jwks_uri, what="JWKS URI", allow_insecure_http=allow_insecure_http)
        self._http = OwnedClient(http, timeout)
        self._max_age = max_age
        self._min_refetch_interval = min_refetch_interval
        self._clock = clock or SystemClock()
        self._keys: Mapping[str, VerificationKey] = MappingProxyType({})
        self._parsed: dict[str, ParsedJwk] = {}
        self._fresh_until = -math.inf
        self._attempted_at = -math.inf
        self._lock = asyncio.Lock()
        self.available = False  # True once a set has been fetched successfully
        self.generation = 0  # bumped whenever the key set changes

    @property
    def keys(self) -> Mapping[str, VerificationKey]:
        """The keys held now (read-only, no I/O)."""
        return self._keys

    async def get(self) -> Mapping[str, VerificationKey]:
        """The keys, fetched first if none are held yet or the held set has gone stale."""
        if self._clock.now() >= self._fresh_until:
            await self._refresh(stale_only=True)
        return self._keys

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        """Refetch because a token names `kid`; at most once per `min_refetch_interval`.

        Returns whether `kid` is known afterwards.
        """
        if kid not in self._keys:
            await self._refresh(stale_only=False)
        return kid in self._keys

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> JwksCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _refresh(self, *, stale_only: bool) -> None:
        async with self._lock:  # one fetch in flight; the others wait for its result
            now = self._clock.now()
            if stale_only and now < self._fresh_until:
                return  # another request refreshed while this one waited
            if now - self._attempted_at < self._min_refetch_interval:
                return
            self._attempted_at = now
            try:
                document, lifetime = await self._fetch()
                parsed = parse_jwks(document, self._parsed)
            except VerificationUnavailable as exc:
                log.warning("JWKS refresh from %s failed (%s); keeping the keys held", self.jwks_uri, exc)
                return
            if parsed != self._parsed:
                self.generation += 1
                self._keys = MappingProxyType({kid: key for kid, (_, key) in parsed.items()})
                self._parsed = parsed
            self.available = True
            self._fresh_until = now + lifetime

    async def _fetch(self) -> tuple[Any, float]:
        try:
            async with self._http.get().stream(
                "GET", self.jwks_uri, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise VerificationUnavailable(f"JWKS answered HTTP {response.status_code}")
                document = await read_json(response, what="JWKS")
                said = cache_lifetime(response.headers.get("cache-control"))
        except httpx.HTTPError as exc:
            raise VerificationUnavailable(f"JWKS unreachable: {type(exc).__name__}") from None
        lifetime = self._max_age if said is None else min(said, self._max_age)
        return document, lifetime
