"""Redis revoked grants and opaque access tokens (RFC 7009 §2.1, RFC 7662 §2.2; SEC-29, SEC-75).

Namespaces: `…oauth:grant-revoked:<grant id>` (a revocation, kept until `remember_until`),
`…oauth:at:<digest>` (a token as JSON, evicted at `expires_at`), `…oauth:at-grant:<grant id>`
(the set of a grant's token digests, kept as long as its longest-lived token) and
`…oauth:at-client:<client id>` (a sorted set of a client's token digests scored by expiry, trimmed of
expired ones on every save, so it holds at most the client's live tokens). Saving a token and
revoking its grant are each one Lua script, so a token is either revoked with its grant or saved
after it (and then refused by the revoked-grant check the minter makes).
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
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken

# KEYS: revocation. ARGV: value JSON, remember_until in ms. Never shortens an earlier promise.
_REVOKE_GRANT_ID = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local current = redis.call('PTTL', KEYS[1])
if current > 0 and now + current >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""

# KEYS: token, grant set, client set. ARGV: token JSON, expiry in ms, digest.
_SAVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
-- The grant's and the client's sets live as long as their longest-lived token.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local current = redis.call('PTTL', KEYS[2])
redis.call('SADD', KEYS[2], ARGV[3])
if current < 0 or now + current < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[2], ARGV[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
current = redis.call('PTTL', KEYS[3])
if current < 0 or now + current < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[3], ARGV[2]) end
return 1
"""

# KEYS: token. ARGV: the grant-set key prefix, digest, the client-set key prefix.
# Delete the token and its index entries.
_REVOKE = """
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('DEL', KEYS[1])
local token = cjson.decode(value)
redis.call('SREM', ARGV[1] .. token['grant_id'], ARGV[2])
redis.call('ZREM', ARGV[3] .. token['client_id'], ARGV[2])
return 1
"""

# KEYS: grant set. ARGV: the token key prefix. Delete every token of the grant; count the live ones.
_REVOKE_GRANT = """
local revoked = 0
for _, digest in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  revoked = revoked + redis.call('DEL', ARGV[1] .. digest)
end
redis.call('DEL', KEYS[1])
return revoked
"""

# KEYS: client set. ARGV: the token key prefix, the grant-set key prefix, batch size.
# Delete up to a batch of the client's tokens; returns {revoked, still in the set}. Batches keep
# Redis responsive when a client has many live tokens; the caller loops until the set is empty.
_REVOKE_CLIENT = """
local revoked = 0
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[3]))
for i = 1, #popped, 2 do
  local digest = popped[i]
  local value = redis.call('GET', ARGV[1] .. digest)
  if value then
    redis.call('DEL', ARGV[1] .. digest)
    redis.call('SREM', ARGV[2] .. cjson.decode(value)['grant_id'], digest)
    revoked = revoked + 1
  end
end
return {revoked, redis.call('ZCARD', KEYS[1])}
"""
REVOKE_CLIENT_BATCH = 500


@contextmanager
def _unavailable_on_redis_failure() -> Iterator[None]:
    """An unreachable Redis is a 503 (StoreUnavailable), never an allow (SEC-78)."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailable() from exc


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(epoch_seconds: float) -> int:
    return math.ceil(epoch_seconds * 1000)


class RedisRevokedGrantStore:
    """Implements RevokedGrantStore; a revocation evicts itself at `remember_until`."""

    def __init__(self, client: Redis, *, prefix: str = "ostiary:") -> None:
        self._r = client
        self._prefix = prefix
        self._revoke = client.register_script(_REVOKE_GRANT_ID)

    def _key(self, grant_id: str) -> str:
        return f"{self._prefix}oauth:grant-revoked:{grant_id}"

    async def revoke(self, grant_id: str, *, at: float, remember_until: float) -> None:
        value = json.dumps({"revoked_at": at, "remember_until": remember_until})
        with _unavailable_on_redis_failure():
            await self._revoke(keys=[self._key(grant_id)], args=[value, _ms(remember_until)])

    async def is_revoked(self, grant_id: str) -> bool:
        with _unavailable_on_redis_failure():
            return bool(await self._r.exists(self._key(grant_id)))


class RedisOpaqueTokenStore:
    """Implements OpaqueTokenStore; a revoked token is deleted, a live one evicts itself at expiry."""

    def __init__(self, client: Redis, *, prefix: str = "ostiary:") -> None:
        self._r = client
        self._prefix = prefix
        self._save = client.register_script(_SAVE)
        self._revoke = client.register_script(_REVOKE)
        self._revoke_grant = client.register_script(_REVOKE_GRANT)
        self._revoke_client = client.register_script(_REVOKE_CLIENT)

    def _token_key(self, digest: str = "") -> str:
        return f"{self._prefix}oauth:at:{digest}"

    def _grant_key(self, grant_id: str = "") -> str:
        return f"{self._prefix}oauth:at-grant:{grant_id}"

    def _client_key(self, client_id: str = "") -> str:
        return f"{self._prefix}oauth:at-client:{client_id}"

    async def save(self, token: OpaqueAccessToken) -> None:
        value = json.dumps(asdict(token), separators=(",", ":"))
        keys = [
            self._token_key(token.digest),
            self._grant_key(token.grant_id),
            self._client_key(token.client_id),
        ]
        with _unavailable_on_redis_failure():
            saved = await self._save(keys=keys, args=[value, _ms(token.expires_at), token.digest])
        if not saved:
            raise Conflict("opaque access-token digest collision")

    async def get(self, digest: str) -> OpaqueAccessToken | None:
        with _unavailable_on_redis_failure():
            raw = await self._r.get(self._token_key(digest))
        if raw is None:
            return None
        data = json.loads(_text(raw))
        return OpaqueAccessToken(**{**data, "scope": tuple(data["scope"])})

    async def revoke(self, digest: str) -> bool:
        with _unavailable_on_redis_failure():
            revoked = await self._revoke(
                keys=[self._token_key(digest)], args=[self._grant_key(), digest, self._client_key()]
            )
        return bool(revoked)

    async def revoke_grant(self, grant_id: str) -> int:
        with _unavailable_on_redis_failure():
            revoked = await self._revoke_grant(keys=[self._grant_key(grant_id)], args=[self._token_key()])
        return int(revoked)

    async def revoke_client(self, client_id: str) -> int:
        # Tokens saved before the client index existed are not found here; introspection refuses
        # a disabled client's tokens anyway, and they expire within the access-token lifetime.
        revoked, remaining = 0, 1
        with _unavailable_on_redis_failure():
            while remaining:
                count, remaining = await self._revoke_client(
                    keys=[self._client_key(client_id)],
                    args=[self._token_key(), self._grant_key(), REVOKE_CLIENT_BATCH],
                )
                revoked += int(count)
        return revoked
