"""A user's API keys: create, list, rotate, revoke (SEC-52..54, SEC-14; docs/api_keys.md).

A key is shown once, at creation or rotation; only its digest (stateful) or its `jti` (stateless)
is kept. Its scopes must be permissions the creator holds when creating it — and at every use they
are narrowed again to what the owner holds then (api_keys_auth.py). Every key expires.

Who may do what: creating, rotating and revoking need the account holder in a browser session with
a recent login (SEC-14: `require_recent_auth`, OSTIARY_REAUTH_WINDOW_SECONDS). A bearer token — maybe
a third-party client's, with a ten-minute delegated grant — cannot turn itself into a long-lived
credential, and an API key can neither mint nor manage keys (SEC-54). Listing works with any
credential of the user but an API key. Administrators list and revoke through `admin_revoke`.

Rotation makes a new key with the old one's name, scopes, kind and lifetime; the old key keeps
working for `grace` seconds (0 = stops now) so that deployments can switch over. Every change is
audited (`api_key.created`, `api_key.rotated`, `api_key.revoked`) without the secret.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ostiary.authn.api_keys_auth import ApiKeyAuthConfig, ApiKeyAuthenticator
from ostiary.authn.api_keys_format import display_prefix, key_digest, new_lookup_prefix, stateful_key
from ostiary.authn.api_keys_stateless import RevocationList, StatelessKeys
from ostiary.authn.audit import Auditor
from ostiary.authn.mfa import require_recent_auth
from ostiary.authn.principals import PrincipalResolver, VersionSource
from ostiary.authn.ratelimit import RateLimiter
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ostiary.core.principal import Principal
from ostiary.core.secrets import InstanceSecret, random_token
from ostiary.storage.interfaces.api_keys import ApiKeyKind, ApiKeyLookup, ApiKeyRecord, ApiKeyStore

NAME_MAX = 100
MAX_SCOPES = 100
MIN_TTL = 60
PREFIX_ATTEMPTS = 5  # a lookup-prefix collision is a ~47-bit event; five in a row is a broken RNG
KeyStatus = Literal["active", "rotating", "expired", "revoked"]


@dataclass(frozen=True)
class ApiKeyConfig:
    default_ttl: int = 90 * 86400
    max_ttl: int = 365 * 86400
    max_per_user: int = 50  # live keys per user
    max_rotation_grace: int = 7 * 86400
    reauth_window: int = 600
    auth: ApiKeyAuthConfig = field(default_factory=ApiKeyAuthConfig)


@dataclass(frozen=True)
class IssuedKey:
    key: str = field(repr=False)  # the secret: returned once, never stored
    record: ApiKeyRecord


def key_status(record: ApiKeyRecord, now: float) -> KeyStatus:
    if record.revoked_at is not None and now >= record.revoked_at:
        return "revoked"
    if now >= record.expires_at:
        return "expired"
    return "rotating" if record.replaced_by is not None else "active"


def key_json(record: ApiKeyRecord, now: float) -> dict[str, object]:
    """A key as listings show it: everything but the secret and its digest."""
    return {
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        "prefix": display_prefix(record.prefix),
        "scopes": sorted(record.scopes),
        "status": key_status(record, now),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "last_used_at": record.last_used_at,
        "last_used_ip": record.last_used_ip,
        "revoked_at": record.revoked_at,
        "rotated_from": record.rotated_from,
        "replaced_by": record.replaced_by,
    }


class ApiKeyService:
    def __init__(
        self,
        store: ApiKeyStore,
        stateless: StatelessKeys,
        auditor: Auditor,
        clock: Clock,
        config: ApiKeyConfig,
    ) -> None:
        self._store = store
        self._stateless = stateless
        self._audit = auditor
        self._clock = clock
        self.config = config

    def check_holder(self, principal: Principal, *, change: bool) -> None:
        """`change`: create, rotate, revoke — a browser session with a recent login."""
        if principal.kind != "user" or principal.method == "api_key":
            raise Forbidden(
                "API keys are managed by their owner, not with an API key.", code="api_key_not_allowed"
            )
        if change:
            if principal.method != "session":
                raise Forbidden("Manage API keys from a browser session.", code="session_required")
            require_recent_auth(principal, self._clock.now(), self.config.reauth_window)

    async def list_keys(self, user_id: str) -> list[ApiKeyRecord]:
        return await self._store.list_user(user_id)

    async def create(
        self,
        principal: Principal,
        *,
        name: str,
        scopes: Collection[str],
        kind: ApiKeyKind = "stateful",
        expires_in: int | None = None,
        meta: RequestMeta,
    ) -> IssuedKey:
        self.check_holder(principal, change=True)
        name, granted, ttl = _name(name), self._scopes(scopes, principal.permissions), self._ttl(expires_in)
        now = self._clock.now()
        for _ in range(PREFIX_ATTEMPTS):
            issued = self._new(kind, principal.subject, name, granted, now, now + ttl)
            outcome = await self._store.create(issued.record, max_live=self.config.max_per_user)
            if outcome == "limit_reached":
                raise Conflict(
                    f"You already have {self.config.max_per_user} active API keys; revoke one first.",
                    code="too_many_keys",
                )
            if outcome == "created":
                await self._audited("api_key.created", issued.record, principal.subject, meta)
                return issued
        raise RuntimeError("could not draw a free API-key prefix")

    async def rotate(self, principal: Principal, key_id: str, *, grace: int, meta: RequestMeta) -> IssuedKey:
        self.check_holder(principal, change=True)
        if not 0 <= grace <= self.config.max_rotation_grace:
            raise ValidationFailed(
                f"grace_seconds must be between 0 and {self.config.max_rotation_grace}.",
                field="grace_seconds",
            )
        old = await self._own(principal.subject, key_id)
        now = self._clock.now()
        lifetime = min(max(old.expires_at - old.created_at, MIN_TTL), self.config.max_ttl)
        for _ in range(PREFIX_ATTEMPTS):
            issued = self._new(old.kind, old.user_id, old.name, old.scopes, now, now + lifetime, old.id)
            outcome = await self._store.rotate(old.id, issued.record, now=now, grace=float(grace))
            if outcome == "not_live":
                raise Conflict("This key is revoked, expired or already rotated.", code="key_not_active")
            if outcome == "rotated":
                await self._audited(
                    "api_key.rotated", issued.record, principal.subject, meta, old_key_id=old.id, grace=grace
                )
                return issued
        raise RuntimeError("could not draw a free API-key prefix")

    async def revoke(self, principal: Principal, key_id: str, *, meta: RequestMeta) -> None:
        """The owner revokes one of their keys; an already dead key is left as it is."""
        self.check_holder(principal, change=True)
        await self._revoke(await self._own(principal.subject, key_id), principal.subject, "revoked", meta)

    async def admin_revoke(self, admin: Principal, user_id: str, key_id: str, *, meta: RequestMeta) -> None:
        """An administrator (the route checks `users:manage`) revokes a user's key."""
        await self._revoke(await self._own(user_id, key_id), admin.subject, "revoked_by_admin", meta)

    async def _revoke(self, record: ApiKeyRecord, actor: str, reason: str, meta: RequestMeta) -> None:
        revoked = await self._store.revoke(record.id, now=self._clock.now(), reason=reason)
        if revoked is not None:
            await self._audited("api_key.revoked", revoked, actor, meta, reason=reason)

    async def _own(self, user_id: str, key_id: str) -> ApiKeyRecord:
        record = await self._store.get(key_id)
        if record is None or record.user_id != user_id:  # another user's key is simply not found
            raise NotFound("No such API key.")
        return record

    def _new(
        self,
        kind: ApiKeyKind,
        user_id: str,
        name: str,
        scopes: frozenset[str],
        now: float,
        expires_at: float,
        rotated_from: str | None = None,
    ) -> IssuedKey:
        # Whole seconds: a stateless key carries `exp` as an integer and the row must agree with it.
        base = ApiKeyRecord(
            id=random_token(16),
            kind=kind,
            user_id=user_id,
            name=name,
            scopes=scopes,
            created_at=now,
            expires_at=float(int(expires_at)),
            rotated_from=rotated_from,
        )
        if kind == "stateless":
            return IssuedKey(self._stateless.sign(base), base)
        prefix = new_lookup_prefix()
        key = stateful_key(prefix)
        return IssuedKey(key, replace(base, prefix=prefix, digest=key_digest(key)))

    def _scopes(self, scopes: Collection[str], held: frozenset[str]) -> frozenset[str]:
        if isinstance(scopes, str) or not all(isinstance(s, str) for s in scopes):
            raise ValidationFailed("scopes must be a list of permission names.", field="scopes")
        granted = frozenset(scopes)
        if not granted or len(granted) > MAX_SCOPES:
            raise ValidationFailed(f"Give between 1 and {MAX_SCOPES} scopes.", field="scopes")
        missing = granted - held
        if missing:
            raise ValidationFailed(
                "A key can only get permissions you hold: " + " ".join(sorted(missing)[:10]),
                field="scopes",
                code="invalid_scope",
            )
        return granted

    def _ttl(self, expires_in: int | None) -> int:
        if expires_in is None:
            return self.config.default_ttl
        if isinstance(expires_in, bool) or not MIN_TTL <= expires_in <= self.config.max_ttl:
            raise ValidationFailed(
                f"expires_in must be between {MIN_TTL} and {self.config.max_ttl} seconds.", field="expires_in"
            )
        return expires_in

    async def _audited(
        self, event: str, record: ApiKeyRecord, actor: str, meta: RequestMeta, **details: Any
    ) -> None:
        await self._audit.record(
            event,
            meta,
            actor=actor,
            subject=record.user_id,
            key_id=record.id,
            kind=record.kind,
            prefix=display_prefix(record.prefix),
            scopes=sorted(record.scopes),
            expires_at=record.expires_at,
            **details,
        )


def _name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(cleaned) <= NAME_MAX or not cleaned.isprintable():
        raise ValidationFailed(f"name must be 1–{NAME_MAX} printable characters.", field="name")
    return cleaned


@dataclass
class ApiKeys:
    """Everything about API keys a request needs (wired by compose/services.py)."""

    manager: ApiKeyService
    authenticator: ApiKeyAuthenticator
    stateless: StatelessKeys
    revocations: RevocationList


def build_api_keys(
    store: ApiKeyStore,
    lookup: ApiKeyLookup,
    *,
    principals: PrincipalResolver,
    versions: VersionSource,
    limiter: RateLimiter,
    auditor: Auditor,
    secret: InstanceSecret,
    issuer: str,
    clock: Clock,
    config: ApiKeyConfig,
) -> ApiKeys:
    stateless = StatelessKeys(secret, issuer, clock, cache_size=config.auth.cache_size)
    revocations = RevocationList(lookup, versions, clock, max_age=config.auth.recheck_seconds)
    authenticator = ApiKeyAuthenticator(
        lookup, stateless, revocations, principals, versions, limiter, auditor, clock, config.auth
    )
    return ApiKeys(
        ApiKeyService(store, stateless, auditor, clock, config), authenticator, stateless, revocations
    )
