"""Errors of the resource-server SDK (a refused token itself is `ostiary.core.jwt_verify.InvalidToken`)."""

from __future__ import annotations


class VerificationUnavailable(Exception):
    """The token could not be checked at all: the JWKS was never fetched, or the introspection
    endpoint failed. Fail closed: the request is refused (503), never let through, and the failure
    is never remembered as "inactive"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # safe to log: names what failed, never a token
        super().__init__(reason)


class DiscoveryError(Exception):
    """The issuer's metadata could not be fetched, or does not describe that issuer."""
