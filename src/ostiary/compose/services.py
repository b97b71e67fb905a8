"""The one place that turns Settings into wired services. Web routes and the CLI both use it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from ostiary.authn.accounts import AccountService
from ostiary.authn.audit import Auditor
from ostiary.authn.hashers import build_hashers
from ostiary.authn.hashing_pool import AsyncPasswordHashers, HashingPool
from ostiary.authn.lockout import Lockout, LockoutConfig
from ostiary.authn.login import PasswordLogin
from ostiary.authn.password_policy import PasswordPolicy, PasswordPolicyConfig
from ostiary.authn.principals import PrincipalResolver
from ostiary.authn.ratelimit import RateLimiter
from ostiary.authn.sessions import SessionConfig, SessionManager
from ostiary.compose.authorization import PolicyEngineCache
from ostiary.compose.secret_file import load_instance_secret
from ostiary.compose.tokens import TokenWiring, build_tokens
from ostiary.core.clock import Clock, SystemClock
from ostiary.core.secrets import InstanceSecret
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.sessions import SessionStore, UserSessionIndex
from ostiary.storage.redis.sessions import RedisSessionStore
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

    async def close(self) -> None:
        await self.tokens.close()
        self.pool.shutdown(wait=False)
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
    if redis is not None:
        session_store = session_index = RedisSessionStore(redis)
    else:
        session_store = session_index = SqlSessionStore(db)

    users = SqlUserStore(db)
    access = SqlUserAccessStore(db)
    rbac = SqlRbacStore(db)
    policies = SqlPolicyStore(db)
    rbac_models = PolicyEngineCache(rbac, policies, access)
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
    principals = PrincipalResolver(users, access, rbac_models)
    tokens = await build_tokens(
        settings, clock, secret, SqlSigningKeyStore(db), SqlRefreshTokenStore(db), auditor, principals
    )
    return Services(
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
        limiter=RateLimiter(settings.redis_url, enabled=settings.rate_limit_enabled),
        sessions=sessions,
        login=PasswordLogin(
            users,
            hashers,
            policy,
            lockout,
            auditor,
            on_lockout=tokens.refresh if settings.refresh_revoke_on_lockout else None,
        ),
        accounts=AccountService(users, hashers, policy, sessions, auditor, clock, tokens.refresh),
        rbac_models=rbac_models,
        policies=policies,
        authz=rbac_models,
        principals=principals,
        tokens=tokens,
    )
