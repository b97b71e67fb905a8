"""Wiring of the stateless-token side: signing keys, access tokens, refresh tokens, bearer auth.

The key ring is loaded once at start (keys are created on first start, encrypted at rest) and then
re-read by each process at most every `OSTIARY_SIGNING_KEY_RELOAD_SECONDS` (tokens/key_refresh.py),
so a rotation done by another worker or by `ostiary keys rotate` is seen without a restart. First
start creates an active key for the access-token algorithm and for RS256 (OIDC ID tokens); the
RSA-3072 generation takes ~0.1–0.5 s, once per deployment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ostiary.authn.audit import Auditor
from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import JwtVerifier
from ostiary.core.secrets import InstanceSecret
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.signing_keys import SigningKeyStore
from ostiary.tokens.access_tokens import AccessTokenIssuer
from ostiary.tokens.bearer import BearerAuthenticator
from ostiary.tokens.key_manager import KeyConfig, KeyManager
from ostiary.tokens.key_refresh import KeyRingRefresher
from ostiary.tokens.refresh import RefreshConfig, RefreshStore, RefreshTokens
from ostiary.tokens.service import TokenService, UserLookup

log = logging.getLogger("ostiary")
JWKS_MAX_AGE = 300  # Cache-Control of /.well-known/jwks.json
MAX_TOKEN_LIFETIME = 3600  # anything this server signs lives at most this long (SEC-40)
LEEWAY = 60


def required_algs(access_token_alg: str) -> tuple[str, ...]:
    """The algorithms that get an active key at first start: the access-token algorithm first, then
    RS256, which OIDC requires for ID tokens (OIDC Core §15.1) — also when access tokens use it."""
    return tuple(dict.fromkeys((access_token_alg, "RS256")))


@dataclass
class TokenWiring:
    audience: str
    keys: KeyManager
    key_refresher: KeyRingRefresher
    issuer: AccessTokenIssuer
    verifier: JwtVerifier
    refresh: RefreshTokens
    service: TokenService
    bearer: BearerAuthenticator

    async def close(self) -> None:
        await self.key_refresher.close()


async def build_tokens(
    settings: Settings,
    clock: Clock,
    secret: InstanceSecret,
    key_store: SigningKeyStore,
    refresh_store: RefreshStore,
    auditor: Auditor,
    users: UserLookup,
) -> TokenWiring:
    config = KeyConfig(
        required_algs=required_algs(settings.access_token_alg),
        publish_delay=float(settings.signing_key_publish_delay_seconds),
        max_token_lifetime=float(MAX_TOKEN_LIFETIME),
        clock_leeway=float(LEEWAY),
    )
    if 0 < settings.signing_key_publish_delay_seconds < settings.signing_key_reload_seconds + JWKS_MAX_AGE:
        log.warning(
            "OSTIARY_SIGNING_KEY_PUBLISH_DELAY_SECONDS (%s) is shorter than the key reload interval "
            "plus the JWKS max-age (%s): a rotated key may sign before every node and relying party "
            "has seen it",
            settings.signing_key_publish_delay_seconds,
            settings.signing_key_reload_seconds + JWKS_MAX_AGE,
        )
    keys = KeyManager(key_store, secret, clock, config)
    await keys.load()
    await keys.promote_due()
    audience = settings.access_token_audience or settings.issuer
    issuer = AccessTokenIssuer(
        settings.issuer, keys.ring, clock, settings.access_token_ttl, alg=settings.access_token_alg
    )
    verifier = JwtVerifier(
        settings.issuer, audience, lambda: keys.ring().verification_keys(), leeway=LEEWAY, clock=clock
    )
    refresh = RefreshTokens(
        refresh_store,
        secret,
        clock,
        auditor,
        RefreshConfig(
            idle_seconds=settings.refresh_idle_seconds,
            absolute_seconds=settings.refresh_absolute_seconds,
            retry_window=float(settings.refresh_retry_window_seconds),
            access_ttl=settings.access_token_ttl,
            early_leeway=float(settings.refresh_early_leeway_seconds),
        ),
    )
    return TokenWiring(
        audience=audience,
        keys=keys,
        key_refresher=KeyRingRefresher(keys, clock, settings.signing_key_reload_seconds),
        issuer=issuer,
        verifier=verifier,
        refresh=refresh,
        service=TokenService(issuer, refresh, users, audience),
        bearer=BearerAuthenticator(
            verifier,
            lambda: keys.ring().verification_keys(),
            clock,
            cache_size=settings.bearer_cache_size,
            leeway=LEEWAY,
        ),
    )
