"""Redis device-authorization store (RFC 8628 §3.2–3.5, SEC-37, SEC-75): a hash per authorization.

`…oauth:device:<device digest>` is a hash of JSON-encoded fields; `…oauth:device-user:<user digest>`
points at it for the verification page. Both expire at `expires_at` (PEXPIREAT). Every
check-and-change (`decide`, `poll`, `consume`) is one Lua script, so of two concurrent decisions or
redemptions exactly one wins, and no other single-use kind shares these namespaces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ostiary.core.errors import Conflict, StoreUnavailable
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization

_PENDING = json.dumps("pending")
_APPROVED = json.dumps("approved")

# KEYS: device, user. ARGV: expiry in ms, the device-code digest, then field/value pairs.
_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[1])
return 1
"""

# KEYS: device. ARGV: now, then field/value pairs. Only a pending, unexpired record is decided.
_DECIDE = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return false end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: device. ARGV: now (JSON). Returns the previous last_polled_at, then the record.
_POLL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local previous = redis.call('HGET', KEYS[1], 'last_polled_at')
redis.call('HSET', KEYS[1], 'last_polled_at', ARGV[1])
return {previous, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: device. ARGV: the approved status (JSON), the user-code key prefix. Take an approved record.
_CONSUME = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return false end
local record = redis.call('HGETALL', KEYS[1])
local user_code = cjson.decode(redis.call('HGET', KEYS[1], 'user_code_digest'))
redis.call('DEL', KEYS[1], ARGV[2] .. user_code)
return record
"""


@contextmanager
def _unavailable_on_redis_failure() -> Iterator[None]:
    """An unreachable Redis is a 503 (StoreUnavailable), never an allow (SEC-78)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailable() from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(**values: Any) -> list[str]:
    """Flatten to HSET's field/value pairs, every value JSON-encoded."""
    return [item for name, value in values.items() for item in (name, json.dumps(value))]


def _record(pairs: Sequence[Any]) -> DeviceAuthorization:
    return DeviceAuthorization.from_fields(
        {_text(pairs[i]): json.loads(_text(pairs[i + 1])) for i in range(0, len(pairs), 2)}
    )


class RedisDeviceCodeStore:
    """Implements DeviceCodeStore; Redis evicts authorizations at `expires_at` by itself."""

    def __init__(self, client: Redis, *, prefix: str = "ostiary:") -> None:
        self._r = client
        self._prefix = prefix
        self._save = client.register_script(_SAVE)
        self._decide = client.register_script(_DECIDE)
        self._poll = client.register_script(_POLL)
        self._consume = client.register_script(_CONSUME)

    def _device_key(self, device_code_digest: str) -> str:
        return f"{self._prefix}oauth:device:{device_code_digest}"

    def _user_key(self, user_code_digest: str = "") -> str:
        return f"{self._prefix}oauth:device-user:{user_code_digest}"

    async def save(self, record: DeviceAuthorization) -> None:
        fields = _fields(
            device_code_digest=record.device_code_digest,
            user_code_digest=record.user_code_digest,
            client_id=record.client_id,
            scope=list(record.scope),
            grant_id=record.grant_id,
            issued_at=record.issued_at,
            expires_at=record.expires_at,
            interval=record.interval,
            status=record.status,
            user_id=record.user_id,
            auth_time=record.auth_time,
            amr=list(record.amr),
            last_polled_at=record.last_polled_at,
            decided_at=record.decided_at,
        )
        keys = [self._device_key(record.device_code_digest), self._user_key(record.user_code_digest)]
        with _unavailable_on_redis_failure():
            saved = await self._save(
                keys=keys, args=[math.ceil(record.expires_at * 1000), record.device_code_digest, *fields]
            )
        if not saved:
            raise Conflict("device or user code digest collision")

    async def get_by_user_code(self, user_code_digest: str) -> DeviceAuthorization | None:
        with _unavailable_on_redis_failure():
            device = await self._r.get(self._user_key(user_code_digest))
            if device is None:
                return None
            pairs = await self._r.hgetall(self._device_key(_text(device)))
        if not pairs:
            return None
        return _record([item for pair in pairs.items() for item in pair])

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
        fields = _fields(
            status="approved" if approve else "denied",
            user_id=user_id,
            auth_time=auth_time,
            amr=list(amr),
            scope=list(scope),
            decided_at=now,
        )
        with _unavailable_on_redis_failure():
            device = await self._r.get(self._user_key(user_code_digest))
            if device is None:
                return None
            # The script re-checks the state it changes; the pointer itself never changes.
            pairs = await self._decide(
                keys=[self._device_key(_text(device))], args=[repr(now), _PENDING, *fields]
            )
        return _record(pairs) if pairs else None

    async def poll(
        self, device_code_digest: str, *, now: float
    ) -> tuple[DeviceAuthorization, float | None] | None:
        with _unavailable_on_redis_failure():
            found = await self._poll(keys=[self._device_key(device_code_digest)], args=[json.dumps(now)])
        if not found:
            return None
        previous, pairs = found
        return _record(pairs), json.loads(_text(previous))

    async def consume(self, device_code_digest: str) -> DeviceAuthorization | None:
        with _unavailable_on_redis_failure():
            pairs = await self._consume(
                keys=[self._device_key(device_code_digest)], args=[_APPROVED, self._user_key()]
            )
        return _record(pairs) if pairs else None
