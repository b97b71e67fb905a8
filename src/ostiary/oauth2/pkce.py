"""RFC 7636 §4: PKCE with S256 only (RFC 9700 §2.1.1) — required on every authorization request.

`plain` is refused (SEC-27): it protects nothing once the authorization request leaks. A verifier
sent for a code that was issued without a challenge is refused too (SEC-28, RFC 9700 §4.8.2): an
attacker who strips the challenge from the front channel must not get a code that is then redeemed
as if PKCE had been checked.
"""

from __future__ import annotations

import base64
import hashlib
import re

from ostiary.core.secrets import constant_time_equals
from ostiary.oauth2.errors import InvalidGrant, InvalidRequest

CODE_CHALLENGE_METHODS_SUPPORTED: tuple[str, ...] = ("S256",)
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # §4.1: unreserved characters, 43..128
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")  # §4.2: BASE64URL(SHA-256), no padding


def s256_challenge(verifier: str) -> str:
    """§4.2: code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_code_challenge(challenge: str | None, method: str | None) -> str:
    """§4.3 / §4.4.1 at the authorization endpoint: return the method or raise `invalid_request`.

    A missing method means `plain` (§4.3), which is refused like an explicit `plain`.
    """
    if challenge is None:
        raise InvalidRequest("code_challenge is required (PKCE with S256).")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256.")
    if not _S256_CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge is not a BASE64URL-encoded SHA-256 digest.")
    return method


def check_verifier_shape(verifier: str) -> None:
    """§4.1: 43–128 characters of [A-Za-z0-9-._~], else `invalid_request`."""
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidRequest("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].")


def verify_code_verifier(verifier: str | None, challenge: str | None, method: str | None) -> None:
    """§4.6 at the token endpoint: raise unless `verifier` proves the code's challenge."""
    if verifier is not None:
        check_verifier_shape(verifier)
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("The code was issued without a code_challenge.")  # downgrade
        return
    if verifier is None:
        raise InvalidGrant("code_verifier is required for this code.")
    if method != "S256" or not constant_time_equals(s256_challenge(verifier), challenge):
        raise InvalidGrant("The code_verifier does not match the code_challenge.")
