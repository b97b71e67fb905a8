"""Devices a user has logged in from, for the new-device login notice (authn/login_notices.py).

A device is an opaque fingerprint (an HMAC of the network prefix and the User-Agent); the store
never sees an address or a browser string, only the digest and when it was first and last seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DeviceSighting:
    new: bool  # this fingerprint was not known for the user before
    known_before: int  # how many other fingerprints the user had (0: the account's first login)


class KnownDeviceStore(Protocol):
    async def remember(self, user_id: str, fingerprint: str, *, now: float, keep: int) -> DeviceSighting:
        """Record a login from this fingerprint (insert or touch, race-safe: of concurrent first
        sightings exactly one is `new`) and keep only the `keep` most recently seen per user."""
        ...

    async def forget_user(self, user_id: str) -> int: ...
