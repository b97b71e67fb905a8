"""An API key in a request turned into the caller it proves (SEC-52..54), without SQL when a cache can
answer.

Stateful keys: the SHA-256 of the presented key is looked up in a bounded LRU whose entries are
labelled with the authorization version (every revocation and rotation bumps it) and are at most
`recheck_seconds` old. On a miss the row is read by its lookup prefix and its digest compared in
constant time; an unknown prefix is compared against a dummy digest, so both failures do the same
work — one hash, one indexed read, one comparison — and end in the same failure path (SEC-53).
Stateless keys: signature and expiry in memory (api_keys_stateless.py), then the revocation list.

Either way the owner must be enabled now, and the caller's principal is the owner's *current* one
narrowed to the key's scopes: `permissions` = scopes ∩ the owner's permissions, and the policy engine
receives the scopes with the owner's current roles, so a key never does more than its owner may at
the time of use (SEC-52, SEC-12). The owner's principal comes from the version-keyed principal cache.

Failures answer one generic `InvalidApiKey`, are audited with their reason and counted per client IP
and per claimed lookup prefix. Past the IP limit the IP is refused (429) before any key is checked,
in this worker at once and in the others on their next counted failure. Past the prefix limit,
failures answer 429; a correct key is still accepted, so whoever learns a prefix cannot lock its owner
out (at ≥ 128 bits the limit is about noise and alerting, not about guessing). Last use (time, IP) is
written at most once per `touch_interval` per key, and a failing write never fails the request.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from ostiary.authn.api_keys_format import (
    MAX_KEY_CHARS,
    claimed_prefix,
    key_digest,
    kind_of,
    lookup_prefix_of,
)
from ostiary.authn.api_keys_stateless import RevocationList, StatelessKeys
from ostiary.authn.audit import Auditor
from ostiary.authn.principals import Authenticated, PrincipalResolver, VersionSource
from ostiary.authn.ratelimit import RateLimiter
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import NotAuthenticated, RateLimited
from ostiary.core.jwt_verify import InvalidToken
from ostiary.core.principal import Principal
from ostiary.core.secrets import constant_time_equals
from ostiary.storage.interfaces.api_keys import ApiKeyKind, ApiKeyLookup, ApiKeyRecord

log = logging.getLogger("ostiary.api_keys")
MEMO_SIZE = 10_000


@dataclass(frozen=True)
class ApiKeyAuthConfig:
    recheck_seconds: float = 30.0  # the longest a cached key goes without a read, whatever the version
    cache_size: int = 10_000
    touch_interval: float = 60.0
    failures_per_ip: str = "20/minute"
    failures_per_prefix: str = "20/minute"


@dataclass(frozen=True)
class ApiKeyAuthenticated(Authenticated):
    """A caller proven by an API key; `user` is the owner's (cached) record."""

    key_id: str = ""
    key_kind: ApiKeyKind = "stateful"


class InvalidApiKey(NotAuthenticated):
    """One answer for every refused key; `reason` is for the audit log only."""

    code = "invalid_token"

    def __init__(self, reason: str, *, owner: str | None = None) -> None:
        self.reason = reason
        self.owner = owner  # the owner of a key whose prefix matched: their audit trail shows it
        super().__init__("The API key is invalid, expired or revoked.")


@dataclass(frozen=True)
class _Cached:
    record: ApiKeyRecord
    version: int
    loaded_at: float


@dataclass(frozen=True)
class _Proven:
    key_id: str
    kind: ApiKeyKind
    user_id: str
    scopes: frozenset[str]


class ApiKeyAuthenticator:
    def __init__(
        self,
        lookup: ApiKeyLookup,
        stateless: StatelessKeys,
        revocations: RevocationList,
        principals: PrincipalResolver,
        versions: VersionSource,
        limiter: RateLimiter,
        auditor: Auditor,
        clock: Clock,
        config: ApiKeyAuthConfig,
    ) -> None:
        self._lookup = lookup
        self._stateless = stateless
        self._revocations = revocations
        self._principals = principals
        self._versions = versions
        self._limiter = limiter
        self._auditor = auditor
        self._clock = clock
        self.config = config
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._touched: OrderedDict[str, float] = OrderedDict()
        self._blocked: OrderedDict[str, float] = OrderedDict()
        # Compared against when the prefix is unknown: a real digest of a key nobody holds.
        self._dummy_digest = key_digest(secrets.token_urlsafe(32))

    async def authenticate(self, presented: str, meta: RequestMeta) -> ApiKeyAuthenticated:
        """The caller `presented` proves; `InvalidApiKey`, or `RateLimited` for a throttled client."""
        ip = meta.ip or "unknown"
        self._refuse_if_blocked(ip)
        try:
            if kind_of(presented) == "stateless":
                proven = await self._stateless_key(presented)
            else:
                proven = await self._stateful_key(presented)
            owner = await self._principals.for_user(proven.user_id)
            if owner is None:
                raise InvalidApiKey("owner_disabled", owner=proven.user_id)
        except InvalidApiKey as exc:
            await self._failed(exc, presented, meta)
            raise
        user, principal = owner
        if proven.kind == "stateful":
            await self._touch(proven.key_id, meta)
        key_principal = Principal(
            subject=user.id,
            kind="api_key",
            method="api_key",
            username=user.username,
            roles=principal.roles,
            groups=principal.groups,
            permissions=proven.scopes & principal.permissions,
            scopes=proven.scopes,
        )
        return ApiKeyAuthenticated(user, key_principal, None, proven.key_id, proven.kind)

    def clear(self) -> None:
        self._cache.clear()

    # --- stateful ----------------------------------------------------------------------------------

    async def _stateful_key(self, presented: str) -> _Proven:
        now = self._clock.now()
        digest = key_digest(presented[:MAX_KEY_CHARS])
        version = await self._versions.current_version()
        cached = self._cache.get(digest)
        if (
            cached is not None
            and cached.version == version
            and 0 <= now - cached.loaded_at < self.config.recheck_seconds
        ):
            self._cache.move_to_end(digest)
            record = cached.record
        else:
            self._cache.pop(digest, None)
            record = await self._read(presented, digest)
            if record.live_at(now) and self.config.cache_size:
                self._cache[digest] = _Cached(record, version, now)
                while len(self._cache) > self.config.cache_size:
                    self._cache.popitem(last=False)
                if record.last_used_at is not None:
                    self._remember(self._touched, record.id, record.last_used_at)
        if not now < record.expires_at:
            raise InvalidApiKey("expired", owner=record.user_id)
        if record.revoked_at is not None and not now < record.revoked_at:
            raise InvalidApiKey("revoked", owner=record.user_id)
        return _Proven(record.id, "stateful", record.user_id, record.scopes)

    async def _read(self, presented: str, digest: str) -> ApiKeyRecord:
        """The row of a correct key. Unknown and wrong keys take the same steps (SEC-53)."""
        prefix = lookup_prefix_of(presented)
        # A malformed key still costs one lookup, of a prefix no key can have.
        record = await self._lookup.find_by_prefix(prefix if prefix is not None else "~")
        stored = record.digest if record is not None and record.digest else self._dummy_digest
        matches = constant_time_equals(stored, digest)
        if record is None or not matches:
            raise InvalidApiKey(
                "wrong_secret" if record is not None else "unknown_key" if prefix else "malformed",
                owner=record.user_id if record is not None else None,
            )
        return record

    async def _touch(self, key_id: str, meta: RequestMeta) -> None:
        now = self._clock.now()
        last = self._touched.get(key_id)
        if last is not None and 0 <= now - last < self.config.touch_interval:
            return
        self._remember(self._touched, key_id, now)
        try:
            await self._lookup.touch(
                key_id, now=now, ip=meta.ip or None, min_interval=self.config.touch_interval
            )
        except Exception:  # last use is informational: never fail the request over it
            log.warning("could not record the last use of API key %s", key_id, exc_info=True)

    # --- stateless ---------------------------------------------------------------------------------

    async def _stateless_key(self, presented: str) -> _Proven:
        try:
            claims = self._stateless.verify(presented)
        except InvalidToken as exc:
            raise InvalidApiKey(exc.reason) from None
        revoked_at = await self._revocations.revoked_at(claims.jti)
        if revoked_at is not None and not self._clock.now() < revoked_at:
            raise InvalidApiKey("revoked", owner=claims.subject)
        return _Proven(claims.jti, "stateless", claims.subject, claims.scopes)

    # --- failures ----------------------------------------------------------------------------------

    def _refuse_if_blocked(self, ip: str) -> None:
        until = self._blocked.get(ip)
        if until is None:
            return
        remaining = until - self._clock.now()
        if remaining > 0:
            raise RateLimited(retry_after=math.ceil(remaining))
        del self._blocked[ip]

    async def _failed(self, exc: InvalidApiKey, presented: str, meta: RequestMeta) -> None:
        prefix = claimed_prefix(presented)
        await self._auditor.record(
            "api_key.auth_failed",
            meta,
            outcome="failure",
            subject=exc.owner,
            reason=exc.reason,
            key_prefix=prefix,
        )
        ip = meta.ip or "unknown"
        try:
            await self._limiter.hit(self.config.failures_per_ip, "api-key-failure-ip", ip)
        except RateLimited as exc:
            self._remember(self._blocked, ip, self._clock.now() + exc.retry_after)
            await self._auditor.record("api_key.throttled", meta, outcome="failure", scope="ip")
            raise
        if prefix is not None:
            await self._limiter.hit(self.config.failures_per_prefix, "api-key-failure-prefix", prefix)

    @staticmethod
    def _remember(memo: OrderedDict[str, float], key: str, value: float) -> None:
        memo[key] = value
        memo.move_to_end(key)
        while len(memo) > MEMO_SIZE:
            memo.popitem(last=False)
