"""The one place that turns Settings into wired services. Web routes and the CLI both use it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from ostiary.authn.accounts import AccountService
from ostiary.authn.api_keys import ApiKeyConfig, ApiKeys, build_api_keys
from ostiary.authn.api_keys_auth import ApiKeyAuthConfig
from ostiary.authn.audit import Auditor
from ostiary.authn.hashers import build_hashers
from ostiary.authn.hashing_pool import AsyncPasswordHashers, HashingPool
from ostiary.authn.lockout import Lockout, LockoutConfig
from ostiary.authn.login import PasswordLogin
from ostiary.authn.password_policy import PasswordPolicy, PasswordPolicyConfig
from ostiary.authn.principals import PrincipalResolver
from ostiary.authn.ratelimit import RateLimiter
from ostiary.authn.sessions import SessionConfig, SessionManager
from ostiary.compose.authorization import AUTHZ_MAX_STALENESS_SECONDS, PolicyEngineCache
from ostiary.compose.email import EmailWiring, build_email_flows, build_mail
from ostiary.compose.mfa import MfaWiring, build_mfa
from ostiary.compose.not_before import UserTokenRevoker
from ostiary.compose.oauth import OAuthWiring, build_oauth
from ostiary.compose.passkeys import PasskeyWiring, build_passkeys
from ostiary.compose.secret_file import load_instance_secret
from ostiary.compose.tokens import TokenWiring, build_tokens
from ostiary.core.clock import Clock, SystemClock
from ostiary.core.secrets import InstanceSecret
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.sessions import SessionStore, UserSessionIndex
from ostiary.storage.redis.session_cache import SessionCache
from ostiary.storage.redis.sessions import RedisSessionStore
from ostiary.storage.sqlalchemy.api_keys import SqlApiKeyStore
from ostiary.storage.sqlalchemy.attempts import SqlAttemptStore
from ostiary.storage.sqlalchemy.audit import SqlAuditLog
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.migrate import upgrade
from ostiary.storage.sqlalchemy.policies import SqlPolicyStore
from ostiary.storage.sqlalchemy.rbac import SqlRbacStore
from ostiary.storage.sqlalchemy.realm import SqlRealmWriter
from ostiary.storage.sqlalchemy.refresh_tokens import SqlRefreshTokenStore
from ostiary.storage.sqlalchemy.sessions import SqlSessionStore
from ostiary.storage.sqlalchemy.signing_keys import SqlSigningKeyStore
from ostiary.storage.sqlalchemy.users import SqlUserAccessStore, SqlUserStore
from ostiary.storage.sqlalchemy.versioning import local_rbac_version

log = logging.getLogger("ostiary")


@dataclass
class Services:
    settings: Settings
    clock: Clock
    secret: InstanceSecret
    db: Database
    redis: Redis | None
    users: SqlUserStore
    access: SqlUserAccessStore
    rbac: SqlRbacStore
    realm_writer: SqlRealmWriter
    auditor: Auditor
    policy: PasswordPolicy
    hashers: AsyncPasswordHashers
    pool: HashingPool
    lockout: Lockout
    limiter: RateLimiter
    sessions: SessionManager
    login: PasswordLogin
    accounts: AccountService
    rbac_models: PolicyEngineCache  # the same object as `authz` (its former name)
    principals: PrincipalResolver
    tokens: TokenWiring  # keys, access tokens, refresh tokens, bearer authentication
    policies: SqlPolicyStore  # ABAC rules, ACL tuples, RBAC deletions
    authz: PolicyEngineCache  # the policy engine, rebuilt when authorization data changes
    mfa: MfaWiring  # TOTP, recovery codes, the MFA step of a login (docs/mfa.md)
    email: EmailWiring  # mail sender, email links, reset, magic link, notices (docs/email.md)
    api_keys: ApiKeys  # stateful and stateless API keys (docs/api_keys.md)
    oauth: OAuthWiring | None = None  # the OAuth 2.0 / OIDC provider; None when switched off
    passkeys: PasskeyWiring | None = None  # WebAuthn (docs/passkeys.md); None when off or on an IP host
    redis_sessions: RedisSessionStore | None = None  # its invalidation listener stops in close()

    async def close(self) -> None:
        await self.email.close()  # mail jobs still use the database: let them finish first
        await self.tokens.close()
        self.pool.shutdown(wait=False)
        if self.redis_sessions is not None:
            await self.redis_sessions.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()

    async def ready(self) -> dict[str, bool]:
        checks = {"database": await self.db.ping()}
        if self.redis is not None:
            try:
                checks["redis"] = bool(await self.redis.ping())
            except Exception:
                checks["redis"] = False
        return checks


def password_policy(settings: Settings) -> PasswordPolicy:
    return PasswordPolicy(
        PasswordPolicyConfig(
            min_length=settings.password_min_length,
            min_length_with_mfa=settings.password_min_length_with_mfa,
            max_length=settings.password_max_length,
        )
    )


def api_key_config(settings: Settings) -> ApiKeyConfig:
    return ApiKeyConfig(
        default_ttl=settings.api_key_default_ttl_seconds,
        max_ttl=settings.api_key_max_ttl_seconds,
        max_per_user=settings.api_key_max_per_user,
        max_rotation_grace=settings.api_key_max_rotation_grace_seconds,
        reauth_window=settings.reauth_window_seconds,
        auth=ApiKeyAuthConfig(
            recheck_seconds=float(settings.api_key_recheck_seconds),
            cache_size=settings.api_key_cache_size,
            failures_per_ip=settings.rate_limit_api_key_failures_per_ip,
            failures_per_prefix=settings.rate_limit_api_key_failures_per_prefix,
        ),
    )


async def build_services(
    settings: Settings, *, clock: Clock | None = None, migrate: bool | None = None
) -> Services:
    clock = clock or SystemClock()
    if settings.is_plain_http:
        log.warning(
            "plain-HTTP issuer %s: cookies lose Secure and __Host-; development only", settings.issuer
        )
    secret = load_instance_secret(settings.data_dir, settings.secret_key)
    db = Database(settings.resolved_database_url)
    if migrate if migrate is not None else settings.auto_migrate:
        await upgrade(db)
    redis = (
        Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        if settings.redis_url
        else None
    )

    session_store: SessionStore
    session_index: UserSessionIndex
    redis_sessions = None
    if redis is not None:
        # A worker-local cache with push invalidation (storage/redis/session_cache.py); 0 turns it off.
        cache = (
            SessionCache(clock, ttl=settings.session_cache_seconds)
            if settings.session_cache_seconds
            else None
        )
        session_store = session_index = redis_sessions = RedisSessionStore(redis, cache=cache)
    else:
        session_store = session_index = SqlSessionStore(db)

    users = SqlUserStore(db)
    access = SqlUserAccessStore(db)
    rbac = SqlRbacStore(db)
    policies = SqlPolicyStore(db)
    rbac_models = PolicyEngineCache(
        rbac,
        policies,
        access,
        max_staleness=AUTHZ_MAX_STALENESS_SECONDS,
        clock=clock,
        local_version=lambda: local_rbac_version(db.engine),
    )
    auditor = Auditor(SqlAuditLog(db), clock)
    policy = password_policy(settings)
    pool = HashingPool(settings.hash_workers, settings.hash_queue_limit)
    hashers = AsyncPasswordHashers(
        build_hashers(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
        pool,
    )
    lockout = Lockout(
        SqlAttemptStore(db),
        clock,
        LockoutConfig(
            settings.lockout_free_attempts, settings.lockout_max_delay_seconds, settings.lockout_hard_limit
        ),
    )
    sessions = SessionManager(
        session_store,
        session_index,
        clock,
        SessionConfig(
            settings.session_idle_seconds,
            settings.session_absolute_seconds,
            settings.session_touch_interval_seconds,
        ),
    )
    principals = PrincipalResolver(users, access, rbac_models, versions=rbac_models)
    limiter = RateLimiter(settings.redis_url, enabled=settings.rate_limit_enabled)
    api_key_store = SqlApiKeyStore(db)
    tokens = await build_tokens(
        settings, clock, secret, SqlSigningKeyStore(db), SqlRefreshTokenStore(db), auditor, principals
    )
    mail = build_mail(settings, db, clock, users, auditor)
    # Bulk revocations set the user's not-before, then end the refresh families (compose/not_before.py).
    user_tokens = UserTokenRevoker(users, tokens.refresh, clock)
    accounts = AccountService(
        users, hashers, policy, sessions, auditor, clock, user_tokens, mail=mail.account_mail
    )
    services = Services(
        settings=settings,
        clock=clock,
        secret=secret,
        db=db,
        redis=redis,
        users=users,
        access=access,
        rbac=rbac,
        realm_writer=SqlRealmWriter(db),
        auditor=auditor,
        policy=policy,
        hashers=hashers,
        pool=pool,
        lockout=lockout,
        limiter=limiter,
        sessions=sessions,
        login=PasswordLogin(
            users,
            hashers,
            policy,
            lockout,
            auditor,
            on_lockout=user_tokens if settings.refresh_revoke_on_lockout else None,
        ),
        accounts=accounts,
        redis_sessions=redis_sessions,
        rbac_models=rbac_models,
        policies=policies,
        authz=rbac_models,
        principals=principals,
        tokens=tokens,
        mfa=build_mfa(settings, db, clock, secret, users, auditor, mail=mail.account_mail),
        email=build_email_flows(settings, mail, db, clock, secret, users, accounts, policy, auditor),
        api_keys=build_api_keys(
            api_key_store,
            api_key_store,
            principals=principals,
            versions=rbac_models,
            limiter=limiter,
            auditor=auditor,
            secret=secret,
            issuer=settings.issuer,
            clock=clock,
            config=api_key_config(settings),
        ),
    )
    services.passkeys = build_passkeys(
        settings, db, clock, secret, users, auditor, services.mfa, mail.account_mail
    )
    if settings.oauth_enabled:
        services.oauth = build_oauth(
            settings, clock, secret, db, redis, tokens, principals, users, services.login, auditor
        )
    return services
