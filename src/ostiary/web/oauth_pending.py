"""Carrying an authorization request across the login and consent pages, sealed (RFC 6749 §4.1.1).

Between `/authorize` and the user's answer the browser makes other requests (the login form, the
consent form). Rather than keep server-side state per pending request, the original parameters
travel in a URL or form field, base64url-encoded and HMAC-sealed with the purpose, the time and,
for consent, the session it was shown to. A sealed request only proves *what was asked and when*:
it is validated again in full (client, redirect URI, PKCE, scope) every time it is opened, so a
client changed or disabled in between is seen.

- `resume`: the return-to of the login page. Its time also marks the request: a sign-in at or after
  that time satisfies `prompt=login` and `max_age`, so the flow cannot loop back to the login page.
- `consent`: the hidden field of the consent form, bound to the session that saw the page, so a
  sealed request taken from one browser cannot be approved from another.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from ostiary.core.clock import Clock
from ostiary.core.secrets import constant_time_equals, hmac_sha256_hex
from ostiary.oauth2.errors import InvalidRequest
from ostiary.oauth2.requests import Params, parse_params

Purpose = Literal["resume", "consent"]
RESUME_TTL_SECONDS = 900  # time to sign in, password manager and second factor included
CONSENT_TTL_SECONDS = 900  # time to read the consent page
MAX_SEALED_LENGTH = 1900  # the login page keeps a return-to of at most 2000 characters


@dataclass(frozen=True)
class PendingRequest:
    params: dict[str, list[str]]
    issued_at: int


class PendingRequests:
    def __init__(self, key: bytes, clock: Clock) -> None:
        if len(key) < 32:
            raise ValueError("the pending-request key must have at least 32 bytes")
        self._key = key
        self._clock = clock

    def seal(self, params: Params, purpose: Purpose, *, binding: str = "") -> str:
        pairs = [(name, value) for name, values in params.items() for value in values]
        body = base64.urlsafe_b64encode(urlencode(pairs).encode("utf-8")).rstrip(b"=").decode("ascii")
        issued_at = math.floor(self._clock.now())
        return f"{body}.{issued_at}.{self._mac(purpose, binding, body, issued_at)}"

    def open(
        self, sealed: str | None, purpose: Purpose, *, ttl: int, binding: str = ""
    ) -> PendingRequest | None:
        """The request if `sealed` is genuine, for this purpose and binding, and not older than `ttl`."""
        if not sealed or len(sealed) > 4 * MAX_SEALED_LENGTH:
            return None
        body, _, rest = sealed.partition(".")
        issued, _, mac = rest.partition(".")
        if not issued.isdigit() or len(issued) > 12:
            return None
        issued_at = int(issued)
        if not constant_time_equals(mac, self._mac(purpose, binding, body, issued_at)):
            return None
        if not 0 <= self._clock.now() - issued_at <= ttl:
            return None
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return PendingRequest(parse_params(raw), issued_at)
        except (binascii.Error, UnicodeDecodeError, InvalidRequest):
            return None  # cannot happen for what we sealed; refuse rather than guess

    def _mac(self, purpose: str, binding: str, body: str, issued_at: int) -> str:
        return hmac_sha256_hex(self._key, f"ostiary-pending|{purpose}|{binding}|{issued_at}|{body}")
