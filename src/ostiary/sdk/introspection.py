"""RFC 7662 §2: asking the issuer whether a (typically opaque) access token is active, with a cache.

- The API authenticates as a confidential client with `client_secret_basic` (RFC 6749 §2.3.1: id and
  secret form-encoded before base64) and sends `token` with `token_type_hint=access_token`.
- An active answer is cached until the token's `exp` or `cache_ttl`, whichever comes first; an
  inactive one for `inactive_ttl` (a few seconds: enough to absorb a flood of garbage tokens, short
  enough not to matter). Cache keys are SHA-256 digests, never the tokens themselves.
- A failed call (unreachable, non-200, not JSON, `active` not a boolean) raises
  `VerificationUnavailable` and is never cached: an outage must not turn into "inactive" for the
  next minutes, nor — failing closed — into "active".
- An active answer is still refused when it names another `issuer` than configured, lacks the
  configured `audience` (when one is set), has expired, is not yet valid, or has a `token_type`
  other than `Bearer` — a refresh token, say (SEC-20: no type confusion). A missing `iss` is
  accepted: the endpoint *is* the issuer.
"""

from __future__ import annotations

import base64
import math
import re
from collections import OrderedDict
from typing import Any
from urllib.parse import quote_plus

import httpx

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.jwt_verify import InvalidToken
from ostiary.core.secrets import sha256_hex
from ostiary.sdk._http import DEFAULT_TIMEOUT, OwnedClient, check_url, read_json
from ostiary.sdk.errors import VerificationUnavailable
from ostiary.sdk.token_info import TokenInfo

# RFC 6750 §2.1 b64token: tokens that could not be bearer tokens are refused without a call.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_Entry = tuple[float, TokenInfo | None]  # (valid until, info or None for inactive)


def basic_auth(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def accepted(
    answer: dict[str, Any], *, now: float, issuer: str | None = None, audience: str | None = None
) -> TokenInfo | None:
    """The `TokenInfo` of an introspection answer this API may accept, else None (see above)."""
    if answer.get("active") is not True:
        return None
    token_type = answer.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return None  # e.g. "refresh_token": never accepted as an access token
    if issuer is not None and answer.get("iss", issuer) != issuer:
        return None
    try:
        info = TokenInfo.from_claims(answer)
    except ValueError:
        return None  # active but without a subject: nothing an API could authorize
    if audience is not None and audience not in info.audience:
        return None
    nbf = answer.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and nbf > now + 60:
        return None
    if info.expires_at is not None and now >= info.expires_at:
        return None
    return info


class IntrospectionClient:
    """Validate tokens through the issuer's introspection endpoint (see the module docstring)."""

    def __init__(
        self,
        introspection_endpoint: str,
        client_id: str,
        client_secret: str,
        *,
        cache_ttl: float = 60.0,
        inactive_ttl: float = 5.0,
        issuer: str | None = None,
        audience: str | None = None,
        max_entries: int = 10_000,
        max_token_bytes: int = 8192,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("introspection needs the API's client_id and client_secret")
        if cache_ttl < 0 or inactive_ttl < 0 or max_entries < 0:
            raise ValueError("cache_ttl, inactive_ttl and max_entries must not be negative")
        self.endpoint = check_url(
            introspection_endpoint, what="introspection endpoint", allow_insecure_http=allow_insecure_http
        )
        self._authorization = basic_auth(client_id, client_secret)
        self._cache_ttl = cache_ttl
        self._inactive_ttl = inactive_ttl
        self._issuer = issuer
        self._audience = audience
        self._max_entries = max_entries
        self._max_token_bytes = max_token_bytes
        self._http = OwnedClient(http, timeout)
        self._clock = clock or SystemClock()
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    async def verify(self, token: str) -> TokenInfo:
        """The token's info, or `InvalidToken` (inactive) / `VerificationUnavailable`."""
        if not isinstance(token, str) or len(token) > self._max_token_bytes or not _B64TOKEN.fullmatch(token):
            raise InvalidToken("malformed")
        key = sha256_hex(token)
        now = self._clock.now()
        cached = self._cache.get(key)
        if cached is not None and now < cached[0]:
            self._cache.move_to_end(key)
            info = cached[1]
        else:
            answer = await self.introspect(token)
            info = accepted(answer, now=self._clock.now(), issuer=self._issuer, audience=self._audience)
            self._remember(key, info, now)
        if info is None:
            raise InvalidToken("inactive")
        if info.expires_at is not None and now >= info.expires_at:
            raise InvalidToken("expired")
        return info

    async def introspect(self, token: str) -> dict[str, Any]:
        """One uncached RFC 7662 call; the answer as sent (a JSON object with a boolean `active`)."""
        try:
            async with self._http.get().stream(
                "POST",
                self.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                headers={"Authorization": self._authorization, "Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    raise VerificationUnavailable(f"introspection answered HTTP {response.status_code}")
                answer = await read_json(response, what="introspection response")
        except httpx.HTTPError as exc:
            raise VerificationUnavailable(f"introspection unreachable: {type(exc).__name__}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise VerificationUnavailable("the introspection response has no boolean 'active'")
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> IntrospectionClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _remember(self, key: str, info: TokenInfo | None, now: float) -> None:
        if info is None:
            until = now + self._inactive_ttl
        else:
            until = min(now + self._cache_ttl, info.expires_at if info.expires_at is not None else math.inf)
        if until <= now or self._max_entries == 0:
            return
        self._cache[key] = (until, info)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
