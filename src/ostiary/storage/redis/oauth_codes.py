"""Redis authorization-code store (RFC 6749 §4.1.2): single use by one Lua script (SEC-29, SEC-75).

Live codes live under `…oauth:code:<digest>` and redemptions under `…oauth:code-redeemed:<digest>`,
a namespace no other single-use kind shares. Both expire natively (PEXPIREAT) from the record's own
times: the code at `expires_at`, the redemption `REDEEMED_MEMORY_SECONDS` later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ostiary.core.errors import Conflict, StoreUnavailable
from ostiary.storage.interfaces.oauth_codes import REDEEMED_MEMORY_SECONDS, AuthorizationCodeRecord

# KEYS: live, redeemed. ARGV: record JSON, expiry in ms. A digest once redeemed never goes live again.
_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""

# KEYS: live, redeemed. ARGV: seconds to remember. Take the code and mark it redeemed in one step.
_CONSUME = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
redis.call('DEL', KEYS[1])
local record = cjson.decode(value)
local forget_after = math.ceil((record['expires_at'] + tonumber(ARGV[1])) * 1000)
redis.call('SET', KEYS[2], record['grant_id'])
redis.call('PEXPIREAT', KEYS[2], string.format('%d', forget_after))
return value
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


def _record(raw: Any) -> AuthorizationCodeRecord:
    data = json.loads(_text(raw))
    return AuthorizationCodeRecord(**{**data, "scope": tuple(data["scope"]), "amr": tuple(data["amr"])})


class RedisAuthorizationCodeStore:
    """Implements AuthorizationCodeStore; Redis evicts codes and redemptions by themselves."""

    def __init__(self, client: Redis, *, prefix: str = "ostiary:") -> None:
        self._r = client
        self._prefix = prefix
        self._save = client.register_script(_SAVE)
        self._consume = client.register_script(_CONSUME)

    def _keys(self, code_digest: str) -> list[str]:
        return [f"{self._prefix}oauth:code:{code_digest}", f"{self._prefix}oauth:code-redeemed:{code_digest}"]

    async def save(self, code_digest: str, record: AuthorizationCodeRecord) -> None:
        value = json.dumps(asdict(record), separators=(",", ":"))
        with _unavailable_on_redis_failure():
            saved = await self._save(
                keys=self._keys(code_digest), args=[value, math.ceil(record.expires_at * 1000)]
            )
        if not saved:
            raise Conflict("authorization code digest collision")

    async def consume(self, code_digest: str) -> AuthorizationCodeRecord | None:
        with _unavailable_on_redis_failure():
            raw = await self._consume(keys=self._keys(code_digest), args=[REDEEMED_MEMORY_SECONDS])
        return _record(raw) if raw is not None else None

    async def get_redeemed(self, code_digest: str) -> str | None:
        with _unavailable_on_redis_failure():
            grant_id = await self._r.get(self._keys(code_digest)[1])
        return _text(grant_id) if grant_id is not None else None
