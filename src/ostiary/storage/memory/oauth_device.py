"""In-memory device-authorization store (RFC 8628 §3.2–3.5) for unit tests and embedding."""

from __future__ import annotations

from dataclasses import replace

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization


class MemoryDeviceCodeStore:
    """Implements DeviceCodeStore.

    No method awaits, so each check-and-change (`decide`, `poll`, `consume`) is one step on the
    event loop: of two concurrent decisions or redemptions exactly one wins. Records past
    `expires_at` are purged lazily on `save`, as Redis would evict them.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._by_device: dict[str, DeviceAuthorization] = {}
        self._device_by_user: dict[str, str] = {}  # user-code digest → device-code digest

    async def save(self, record: DeviceAuthorization) -> None:
        self._purge()
        if record.device_code_digest in self._by_device or record.user_code_digest in self._device_by_user:
            raise Conflict("device or user code digest collision")
        self._by_device[record.device_code_digest] = record
        self._device_by_user[record.user_code_digest] = record.device_code_digest

    async def get_by_user_code(self, user_code_digest: str) -> DeviceAuthorization | None:
        device = self._device_by_user.get(user_code_digest)
        return self._by_device.get(device) if device is not None else None

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
        record = await self.get_by_user_code(user_code_digest)
        if record is None or record.status != "pending" or record.expires_at <= now:
            return None
        decided = replace(
            record,
            status="approved" if approve else "denied",
            user_id=user_id,
            auth_time=auth_time,
            amr=amr,
            scope=scope,
            decided_at=now,
        )
        self._by_device[record.device_code_digest] = decided
        return decided

    async def poll(
        self, device_code_digest: str, *, now: float
    ) -> tuple[DeviceAuthorization, float | None] | None:
        record = self._by_device.get(device_code_digest)
        if record is None:
            return None
        polled = replace(record, last_polled_at=now)
        self._by_device[device_code_digest] = polled
        return polled, record.last_polled_at

    async def consume(self, device_code_digest: str) -> DeviceAuthorization | None:
        record = self._by_device.get(device_code_digest)
        if record is None or record.status != "approved":
            return None
        del self._by_device[device_code_digest]
        del self._device_by_user[record.user_code_digest]
        return record

    def _purge(self) -> None:
        now = self._clock.now()
        for record in [r for r in self._by_device.values() if r.expires_at < now]:
            del self._by_device[record.device_code_digest]
            del self._device_by_user[record.user_code_digest]
