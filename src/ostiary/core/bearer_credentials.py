"""RFC 6750 §2.1: the `Authorization: Bearer <token>` credential, read in one place for the server,
UserInfo and the resource-server SDK."""

from __future__ import annotations

import re

# credentials = "Bearer" 1*SP b64token. The scheme is case-insensitive (RFC 9110 §11.1), so the flag
# is scoped to it: IGNORECASE over the token's character class made a match ~6× slower (6 µs for a
# 560-character token, on every bearer request).
_BEARER = re.compile(r"(?i:Bearer) +([A-Za-z0-9\-._~+/]+=*)")


def bearer_token(authorization: str) -> str | None:
    """The token of a Bearer credential (surrounding whitespace ignored); None when the value is
    anything else: another scheme, no token, a character outside b64token, a second word."""
    match = _BEARER.fullmatch(authorization.strip())
    return match.group(1) if match is not None else None
