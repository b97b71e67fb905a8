"""The real OAuth token side over memory stores, for core tests of oidc, compose and the endpoints.

`build_world(clock)` wires what compose wires in production — KeyManager (RS256, ES256 and EdDSA
keys, encrypted at rest), the RFC 9068 issuer and verifier, refresh-token families, opaque tokens,
revoked grants, the ID-token signer, `OAuthTokenMinter`, `OAuthGrantRevoker` and `TokenInspector` —
with the memory stores. Key generation (RSA-3072) is slow, so the private keys are generated once
and loaded (decrypting RSA keys costs ~0.3 s) once per test session: every world shares that key
manager, so a test must not rotate or retire its keys.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from ostiary.authn.audit import Auditor
from ostiary.compose.oauth_tokens import OAuthGrantRevoker, OAuthTokenMinter
from ostiary.compose.token_inspector import TokenInspector
from ostiary.core.clock import Clock, FrozenClock
from ostiary.core.jwt_verify import JwtVerifier
from ostiary.core.secrets import InstanceSecret
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.minting import GrantContext, client_subject
from ostiary.oidc.id_tokens import IdTokenSigner
from ostiary.storage.interfaces.audit import AuditEvent
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.interfaces.signing_keys import StoredSigningKey
from ostiary.storage.interfaces.users import UserRecord
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.oauth_grants import MemoryOpaqueTokenStore, MemoryRevokedGrantStore
from ostiary.storage.memory.refresh_tokens import MemoryRefreshTokenStore
from ostiary.storage.memory.signing_keys import MemorySigningKeyStore
from ostiary.tokens.access_tokens import AccessTokenIssuer
from ostiary.tokens.key_manager import KeyConfig, KeyManager
from ostiary.tokens.key_material import encrypt_private_key, generate_private_key, jwk_thumbprint, public_jwk
from ostiary.tokens.refresh import RefreshConfig, RefreshTokens
from ostiary.tokens.verified_cache import VerifiedTokenCache

ISSUER = "https://id.example.com"
AUDIENCE = "https://api.example.com"
SECRET = InstanceSecret(b"w" * 32)
ALGS = ("RS256", "ES256", "EdDSA")


class ListAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def query(self, **_: Any) -> list[AuditEvent]:
        return list(self.events)


class DictUsers:
    """`get` and `update` of a UserStore over a dict (the token side reads users; `update` is for
    `UserTokenRevoker`, which sets a user's not-before)."""

    def __init__(self, *users: UserRecord) -> None:
        self.by_id = {u.id: u for u in users}

    async def get(self, user_id: str) -> UserRecord | None:
        return self.by_id.get(user_id)

    def disable(self, user_id: str) -> None:
        self.by_id[user_id] = replace(self.by_id[user_id], disabled=True)

    async def update(self, user_id: str, **changes: Any) -> bool:
        if user_id not in self.by_id:
            return False
        self.by_id[user_id] = replace(self.by_id[user_id], **changes)
        return True


def user(user_id: str = "u1", **changes: Any) -> UserRecord:
    base: dict[str, Any] = {
        "id": user_id,
        "username": f"name-{user_id}",
        "email": f"{user_id}@example.com",
        "password_hash": None,
        "disabled": False,
        "mfa_enabled": False,
        "created_at": 1_700_000_000.0,
        "updated_at": 1_700_000_123.9,
        "email_verified": True,
    }
    base.update(changes)
    return UserRecord(**base)


class Yielding:
    """A store whose every call lets other tasks run before and after it: memory stores never
    suspend, so without this two `gather`ed coroutines could not interleave at all."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            result = await attr(*args, **kwargs)
            await asyncio.sleep(0)
            return result

        return call


@cache
def _sealed_keys() -> tuple[StoredSigningKey, ...]:
    records = []
    for alg in ALGS:
        private_key = generate_private_key(alg)
        kid = jwk_thumbprint(private_key.public_key())
        records.append(
            StoredSigningKey(
                kid=kid,
                alg=alg,
                encrypted_private_key=encrypt_private_key(private_key, kid=kid, alg=alg, secret=SECRET),
                public_jwk=json.dumps(public_jwk(private_key.public_key(), kid=kid, alg=alg)),
                state="active",
                created_at=1_000_000_000.0,
                activated_at=1_000_000_000.0,
            )
        )
    return tuple(records)


_shared_keys: list[KeyManager] = []


async def shared_keys() -> KeyManager:
    if not _shared_keys:
        store = MemorySigningKeyStore()
        for record in _sealed_keys():
            await store.add(record)
        # Its own clock: the keys are active, so nothing in the ring depends on the time.
        keys = KeyManager(
            store, SECRET, FrozenClock(), KeyConfig(required_algs=ALGS, max_token_lifetime=3600)
        )
        await keys.load()
        _shared_keys.append(keys)
    return _shared_keys[0]


@dataclass
class World:
    clock: Clock
    keys: KeyManager
    clients: MemoryClientStore
    users: DictUsers
    access_tokens: AccessTokenIssuer
    verifier: JwtVerifier
    refresh_store: Any  # the memory stores, or `Yielding` wrappers of them
    refresh: RefreshTokens
    opaque: Any
    revoked: Any
    id_tokens: IdTokenSigner
    minter: OAuthTokenMinter
    revoker: OAuthGrantRevoker
    inspector: TokenInspector
    audit: ListAudit = field(default_factory=ListAudit)

    def authenticator(self, hasher: Any) -> ClientAuthenticator:
        return ClientAuthenticator(self.clients, hasher)


async def build_world(
    clock: Clock, clients: list[Client], users: list[UserRecord] | None = None, *, yielding: bool = False
) -> World:
    keys = await shared_keys()
    audit = ListAudit()
    refresh_store: Any = MemoryRefreshTokenStore()
    opaque: Any = MemoryOpaqueTokenStore(clock)
    revoked: Any = MemoryRevokedGrantStore(clock)
    if yielding:
        refresh_store, opaque, revoked = Yielding(refresh_store), Yielding(opaque), Yielding(revoked)
    refresh = RefreshTokens(
        refresh_store,
        SECRET,
        clock,
        Auditor(audit, clock),
        RefreshConfig(idle_seconds=3600, absolute_seconds=7200, retry_window=10, access_ttl=600),
    )
    access_tokens = AccessTokenIssuer(ISSUER, keys.ring, clock, alg="ES256")
    verifier = JwtVerifier(ISSUER, AUDIENCE, lambda: keys.ring().verification_keys(), clock=clock)
    id_tokens = IdTokenSigner(ISSUER, keys.ring, clock)
    user_store = DictUsers(*(users if users is not None else [user("u1"), user("u2")]))
    return World(
        clock=clock,
        keys=keys,
        clients=MemoryClientStore(clients),
        users=user_store,
        access_tokens=access_tokens,
        verifier=verifier,
        refresh_store=refresh_store,
        refresh=refresh,
        opaque=opaque,
        revoked=revoked,
        id_tokens=id_tokens,
        minter=OAuthTokenMinter(
            access_tokens=access_tokens,
            audience=AUDIENCE,
            id_tokens=id_tokens,
            refresh=refresh,
            opaque=opaque,
            revoked=revoked,
            users=user_store,
            clock=clock,
        ),
        revoker=OAuthGrantRevoker(revoked=revoked, refresh=refresh, opaque=opaque, clock=clock),
        inspector=TokenInspector(
            issuer=ISSUER,
            audience=AUDIENCE,
            verifier=verifier,
            revoked=revoked,
            opaque=opaque,
            refresh_store=refresh_store,
            clock=clock,
            users=user_store,
            # As the server wires it: verified claims cached, so every test here also proves that a
            # cached token still ends with its grant, its user and its expiry.
            verified=VerifiedTokenCache(lambda: keys.ring().verification_keys(), clock),
        ),
        audit=audit,
    )


def user_context(client: Client, grant_id: str = "g-1", **changes: Any) -> GrantContext:
    """What the code grant hands the minter for user u1 (OIDC request, nonce, session)."""
    base: dict[str, Any] = {
        "client": client,
        "grant_type": "authorization_code",
        "grant_id": grant_id,
        "subject": "u1",
        "scope": ("openid", "profile", "offline_access", "items:read"),
        "user_id": "u1",
        "auth_time": 1_799_999_900.0,
        "amr": ("pwd", "otp"),
        "acr": "urn:ostiary:mfa",
        "nonce": "n-0S6_WzA2Mj",
        "sid": "sess-1",
        "refresh_token_allowed": True,
    }
    base.update(changes)
    return GrantContext(**base)


def client_context(client: Client, grant_id: str = "g-cc", **changes: Any) -> GrantContext:
    base: dict[str, Any] = {
        "client": client,
        "grant_type": "client_credentials",
        "grant_id": grant_id,
        "subject": client_subject(client.client_id),
        "scope": ("items:read",),
    }
    base.update(changes)
    return GrantContext(**base)


async def yield_times(n: int) -> None:
    """Let the event loop run other tasks `n` times (to place a racing step between awaits)."""
    for _ in range(n):
        await asyncio.sleep(0)
