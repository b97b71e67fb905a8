"""Device authorization grants at rest (RFC 8628 §3.2–3.5), keyed by digests only.

The device code (high entropy) and the user code (low entropy, typed by a person) are both stored
as SHA-256 digests of their canonical forms; the user code's short life and the per-IP limit on
the verification page are what make guessing it useless (RFC 8628 §5.1, SEC-37).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol

DeviceStatus = Literal["pending", "approved", "denied"]


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code_digest: str
    user_code_digest: str
    client_id: str
    scope: tuple[str, ...]  # requested ∩ client-allowed; narrowed again at approval
    grant_id: str  # names every token the redemption produces
    issued_at: float
    expires_at: float
    interval: int  # seconds the client must wait between polls
    status: DeviceStatus = "pending"
    user_id: str | None = None  # set by the approving (or denying) user
    auth_time: float | None = None
    amr: tuple[str, ...] = ()
    last_polled_at: float | None = None
    # When the user decided: what the user's not-before is compared with at redemption
    # (compose/not_before.py). `issued_at` precedes the decision, and `auth_time` (the sign-in) may
    # precede a password change the same session survived.
    decided_at: float | None = None

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> DeviceAuthorization:
        """A record from a stored mapping with a key per field (sequences for the tuples); other
        keys are ignored, and a missing optional one takes its default (a record saved before the
        field existed). How both the SQL and the Redis store read one back."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**{**values, "scope": tuple(values["scope"]), "amr": tuple(values["amr"])})


class DeviceCodeStore(Protocol):
    async def save(self, record: DeviceAuthorization) -> None:
        """Insert a new pending authorization. Stores may evict it after `expires_at`."""
        ...

    async def get_by_user_code(self, user_code_digest: str) -> DeviceAuthorization | None:
        """For the verification page; expired records may still be returned (callers check)."""
        ...

    async def decide(
        self,
        user_code_digest: str,
        *,
        approve: bool,
        user_id: str,
        auth_time: float,
        amr: tuple[str, ...],
        scope: tuple[str, ...],
        now: float,
    ) -> DeviceAuthorization | None:
        """Atomically move a *pending, unexpired* record to approved/denied with the deciding user,
        the granted `scope` and `decided_at = now`; None (and no change) if it was not pending or
        has expired, so of two concurrent decisions exactly one wins."""
        ...

    async def poll(
        self, device_code_digest: str, *, now: float
    ) -> tuple[DeviceAuthorization, float | None] | None:
        """Record a poll: set `last_polled_at = now` and return the record as it now is together
        with the previous `last_polled_at` (for `slow_down`, §3.5). None if unknown/redeemed."""
        ...

    async def consume(self, device_code_digest: str) -> DeviceAuthorization | None:
        """Atomically take an *approved* record (single redemption, §3.5): the first caller gets it
        and it is gone; every later caller, and any caller while pending/denied, gets None."""
        ...
