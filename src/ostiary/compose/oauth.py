"""Wiring of the OAuth 2.0 authorization server and OpenID provider (docs/oauth.md).

Stores: clients, consents and (without Redis) everything else live in SQL; with Redis the
short-lived, TTL-native records — codes, device authorizations, revoked-grant marks, opaque access
tokens — live there. Tokens are minted by `OAuthTokenMinter` on the same key ring, refresh-token
families and issuer as the first-party tokens; ID tokens by `IdTokenSigner`.

The token endpoint gets the code, refresh, client-credentials and password grants here (a client
uses only those its registration lists; `password` is listed by none by default, SEC-32). The device
grant is registered by compose/oauth_endpoints.py together with the device endpoints it needs, so
discovery never names a grant no client could complete (SEC-42).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ostiary.authn.audit import Auditor
from ostiary.authn.login import PasswordLogin
from ostiary.authn.principals import PrincipalResolver
from ostiary.compose.client_cache import CachedClientStore
from ostiary.compose.oauth_tokens import OAuthGrantRevoker, OAuthTokenMinter
from ostiary.compose.revoked_grant_cache import SyncedRevokedGrants
from ostiary.compose.token_inspector import ClientStatus, TokenInspector
from ostiary.compose.tokens import TokenWiring
from ostiary.core.clock import Clock
from ostiary.core.secrets import InstanceSecret, hmac_sha256_hex
from ostiary.core.settings import Settings
from ostiary.oauth2.clients import CLIENT_SECRET_PURPOSE, ClientAuthenticator, ClientSecretHasher
from ostiary.oauth2.codes import AuthorizationCodeIssuer
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from ostiary.oauth2.grants.password import PasswordGrant
from ostiary.oauth2.grants.refresh_token import RefreshTokenGrant
from ostiary.oidc.id_tokens import IdTokenSigner
from ostiary.storage.interfaces.oauth_codes import AuthorizationCodeStore
from ostiary.storage.interfaces.oauth_consents import ConsentStore
from ostiary.storage.interfaces.oauth_device import DeviceCodeStore
from ostiary.storage.interfaces.oauth_grants import OpaqueTokenStore, RevokedGrantStore
from ostiary.storage.redis.oauth_codes import RedisAuthorizationCodeStore
from ostiary.storage.redis.oauth_device import RedisDeviceCodeStore
from ostiary.storage.redis.oauth_grants import RedisOpaqueTokenStore, RedisRevokedGrantStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore
from ostiary.storage.sqlalchemy.oauth_codes import SqlAuthorizationCodeStore
from ostiary.storage.sqlalchemy.oauth_consents import SqlConsentStore
from ostiary.storage.sqlalchemy.oauth_device import SqlDeviceCodeStore
from ostiary.storage.sqlalchemy.oauth_grants import SqlOpaqueTokenStore, SqlRevokedGrantStore
from ostiary.storage.sqlalchemy.refresh_tokens import SqlRefreshTokenStore
from ostiary.storage.sqlalchemy.users import SqlUserStore
from ostiary.tokens.verified_cache import VerifiedTokenCache

PENDING_REQUEST_PURPOSE = "oauth2.pending-request"
SID_PURPOSE = "oidc.sid"
SID_LENGTH = 32
# OpenID Connect scopes (OIDC Core §5.4, §11): they name no permission and are granted to any live
# user; every other scope names a permission the user must hold.
PROTOCOL_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


class PolicyGrantUsers:
    """Implements `oauth2.users.GrantUsers` from the user store and the policy engine."""

    def __init__(self, principals: PrincipalResolver) -> None:
        self._principals = principals

    async def grantable_scopes(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...] | None:
        found = await self._principals.for_user(user_id)  # None: unknown or disabled
        if found is None:
            return None
        permissions = found[1].permissions
        return tuple(s for s in requested if s in PROTOCOL_SCOPES or s in permissions)

    async def user_scope_filter(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...]:
        """The `approve_authorization` view of the same answer: nothing for a disabled user."""
        return await self.grantable_scopes(user_id, requested) or ()


@dataclass
class OAuthWiring:
    issuer: str
    clock: Clock
    clients: CachedClientStore
    client_secrets: ClientSecretHasher  # keyed by secret.derive(CLIENT_SECRET_PURPOSE)
    authenticator: ClientAuthenticator
    codes: AuthorizationCodeIssuer
    code_store: AuthorizationCodeStore
    consents: ConsentStore
    devices: DeviceCodeStore
    revoked_grants: RevokedGrantStore  # the store itself, which maintenance purges
    opaque_tokens: OpaqueTokenStore
    id_tokens: IdTokenSigner
    minter: OAuthTokenMinter
    revoker: OAuthGrantRevoker
    inspector: TokenInspector
    token_endpoint: TokenEndpoint
    users: PolicyGrantUsers
    tokens: TokenWiring
    pending_key: bytes  # seals authorization requests carried through login and consent (web)
    sid_key: bytes

    def session_sid(self, session_digest: str) -> str:
        """The OIDC `sid` of a browser session: stable for the session, and not the store key."""
        return hmac_sha256_hex(self.sid_key, session_digest)[:SID_LENGTH]

    async def revoke_consent(self, user_id: str, client_id: str) -> bool:
        """Forget the consent and end the client's refresh-token families for the user (SEC-41).

        Each OAuth family is named after its grant, so the grant is revoked too: its opaque access
        tokens die and introspection refuses its JWTs. Returns True if anything was revoked.
        """
        revoked = await self.consents.revoke(user_id, client_id)
        for family in await self.tokens.refresh.families(user_id):
            if family.client_id == client_id:
                await self.revoker.revoke_grant(family.id)
                revoked = True
        return revoked


def build_oauth(
    settings: Settings,
    clock: Clock,
    secret: InstanceSecret,
    db: Database,
    redis: Redis | None,
    tokens: TokenWiring,
    principals: PrincipalResolver,
    user_store: SqlUserStore,
    login: PasswordLogin,
    auditor: Auditor,
) -> OAuthWiring:
    clients = CachedClientStore(SqlClientStore(db, clock), clock)
    hasher = ClientSecretHasher(secret.derive(CLIENT_SECRET_PURPOSE))
    authenticator = ClientAuthenticator(clients, hasher)
    code_store: AuthorizationCodeStore
    devices: DeviceCodeStore
    revoked: RevokedGrantStore
    checked: RevokedGrantStore  # what the tokens' checks go through
    opaque: OpaqueTokenStore
    if redis is not None:
        code_store = RedisAuthorizationCodeStore(redis)
        devices = RedisDeviceCodeStore(redis)
        revoked, opaque = RedisRevokedGrantStore(redis), RedisOpaqueTokenStore(redis)
        checked = revoked  # a check is one EXISTS, as cheap as a catch-up would be
    else:
        code_store, devices = SqlAuthorizationCodeStore(db, clock), SqlDeviceCodeStore(db)
        sql_revoked = SqlRevokedGrantStore(db, clock)
        revoked, opaque = sql_revoked, SqlOpaqueTokenStore(db, clock)
        # Grant checks answer from memory, caught up from the table every second
        # (compose/revoked_grant_cache.py).
        checked = SyncedRevokedGrants(sql_revoked, clock)
    id_tokens = IdTokenSigner(settings.issuer, tokens.keys.ring, clock)
    minter = OAuthTokenMinter(
        access_tokens=tokens.issuer,
        audience=tokens.audience,
        id_tokens=id_tokens,
        refresh=tokens.refresh,
        opaque=opaque,
        revoked=checked,
        users=user_store,
        clock=clock,
    )
    revoker = OAuthGrantRevoker(revoked=checked, refresh=tokens.refresh, opaque=opaque, clock=clock)
    # A family revoked on its own (reuse detected, a revoked token) ends its grant's access tokens.
    tokens.refresh.on_family_revoked = revoker.family_revoked
    users = PolicyGrantUsers(principals)
    endpoint = TokenEndpoint(
        authenticator,
        [
            AuthorizationCodeGrant(code_store, minter, revoker, clock),
            RefreshTokenGrant(tokens.refresh, minter, users),
            ClientCredentialsGrant(minter),
            # Refused unless a client lists `password` in its grant types (off by default, SEC-32).
            PasswordGrant(login, minter, users, clock, auditor),
        ],
    )
    return OAuthWiring(
        issuer=settings.issuer,
        clock=clock,
        clients=clients,
        client_secrets=hasher,
        authenticator=authenticator,
        codes=AuthorizationCodeIssuer(code_store, clock),
        code_store=code_store,
        consents=SqlConsentStore(db),
        devices=devices,
        revoked_grants=revoked,
        opaque_tokens=opaque,
        id_tokens=id_tokens,
        minter=minter,
        revoker=revoker,
        inspector=TokenInspector(
            issuer=settings.issuer,
            audience=tokens.audience,
            verifier=tokens.verifier,
            revoked=checked,
            opaque=opaque,
            refresh_store=SqlRefreshTokenStore(db),
            clock=clock,
            users=user_store,
            clients=ClientStatus(clients),
            verified=VerifiedTokenCache(
                lambda: tokens.keys.ring().verification_keys(), clock, size=settings.bearer_cache_size
            ),
        ),
        token_endpoint=endpoint,
        users=users,
        tokens=tokens,
        pending_key=secret.derive(PENDING_REQUEST_PURPOSE),
        sid_key=secret.derive(SID_PURPOSE),
    )
