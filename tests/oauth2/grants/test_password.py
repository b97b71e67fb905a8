"""RFC 6749 §4.3: the password grant through the real PasswordLogin (SEC-32, SEC-60, SEC-64).

The users live in a real SQLite user store; the lockout, hashing pool and audit are the ones the
sign-in form uses, so these tests show the grant gets no shortcut around them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import migrated_db
from ostiary.authn.audit import Auditor
from ostiary.authn.hashers import build_hashers
from ostiary.authn.hashing_pool import AsyncPasswordHashers, HashingPool
from ostiary.authn.lockout import Lockout, LockoutConfig
from ostiary.authn.login import PasswordLogin
from ostiary.authn.password_policy import PasswordPolicy
from ostiary.core.clock import FrozenClock
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.endpoints.token import TokenEndpoint, TokenResponse
from ostiary.oauth2.grants.password import PasswordGrant
from ostiary.oauth2.scopes import USER_ONLY_SCOPES
from ostiary.storage.interfaces.audit import AuditEvent
from ostiary.storage.interfaces.users import NewUser
from ostiary.storage.memory.attempts import MemoryAttemptStore
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.users import SqlUserStore

from .._support import HASHER, WEB_SECRET, MemoryTokenService, basic, form_request, web_client

PASSWORD = "violet kettle drums at midnight"
LEGACY_SECRET = "legacy-secret-" + "z" * 40
ALICE, BOB = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"


class ListAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def query(self, **_: Any) -> list[AuditEvent]:
        return list(self.events)

    def names(self) -> list[str]:
        return [e.event for e in self.events]


@dataclass
class PermissionUsers:
    """GrantUsers over a table of user → permissions; users absent from it are unknown/disabled."""

    permissions: dict[str, set[str]] = field(default_factory=dict)

    async def grantable_scopes(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...] | None:
        held = self.permissions.get(user_id)
        if held is None:
            return None
        return tuple(s for s in requested if s in USER_ONLY_SCOPES or s in held)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await migrated_db(f"sqlite+aiosqlite:///{tmp_path / 'users.db'}")
    yield database
    await database.dispose()


@pytest.fixture
def pool() -> Iterator[HashingPool]:
    hashing = HashingPool(workers=2, queue_limit=8)
    yield hashing
    hashing.shutdown()


@pytest.fixture
def audit() -> ListAudit:
    return ListAudit()


@pytest.fixture
def users() -> PermissionUsers:
    return PermissionUsers({ALICE: {"items:read"}, BOB: {"items:read"}})


@pytest.fixture
async def password_endpoint(
    db: Database,
    pool: HashingPool,
    audit: ListAudit,
    clock: FrozenClock,
    clients: MemoryClientStore,
    tokens: MemoryTokenService,
    users: PermissionUsers,
) -> TokenEndpoint:
    hashers = AsyncPasswordHashers(build_hashers(time_cost=1, memory_kib=8192), pool)
    store = SqlUserStore(db)
    for user_id, name, mfa in ((ALICE, "alice", False), (BOB, "bob", True)):
        digest = await hashers.hash(PASSWORD)
        await store.create(NewUser(user_id, name, f"{name}@example.org", digest, created_at=clock.now()))
        await store.update(user_id, mfa_enabled=mfa)
    auditor = Auditor(audit, clock)
    lockout = Lockout(MemoryAttemptStore(), clock, LockoutConfig(free_attempts=3))
    login = PasswordLogin(store, hashers, PasswordPolicy(), lockout, auditor)
    await clients.add(
        web_client(
            client_id="legacy",
            secret_digest=HASHER.digest(LEGACY_SECRET),
            grant_types=("password", "refresh_token"),
            scopes=("openid", "offline_access", "items:read", "items:write"),
        )
    )
    return TokenEndpoint(
        ClientAuthenticator(clients, HASHER), [PasswordGrant(login, tokens, users, clock, auditor)]
    )


async def ropc(
    endpoint: TokenEndpoint, username: str = "alice", password: str = PASSWORD, scope: str | None = None
) -> TokenResponse:
    params = {"grant_type": "password", "username": username, "password": password}
    if scope is not None:
        params["scope"] = scope
    headers = {"Authorization": basic("legacy", LEGACY_SECRET), "User-Agent": "legacy-app/1.0"}
    return await endpoint.handle(form_request(params, headers=headers))


@pytest.mark.rfc("RFC 6749 §4.3.2")
async def test_the_right_password_gets_tokens_for_the_user(
    password_endpoint: TokenEndpoint, tokens: MemoryTokenService, audit: ListAudit, clock: FrozenClock
) -> None:
    resp = await ropc(password_endpoint, scope="openid items:read")
    assert resp.status == 200, resp.body
    assert resp.body["scope"] == "openid items:read" and "refresh_token" in resp.body
    (ctx,) = tokens.minted
    assert (ctx.grant_type, ctx.subject, ctx.user_id, ctx.amr) == ("password", ALICE, ALICE, ("pwd",))
    assert ctx.auth_time == clock.now() and ctx.refresh_token_allowed and len(ctx.grant_id) >= 22
    (success,) = [e for e in audit.events if e.event == "login.success"]
    assert (success.ip, success.user_agent) == ("192.0.2.1", "legacy-app/1.0")


async def test_each_exchange_is_a_new_grant(
    password_endpoint: TokenEndpoint, tokens: MemoryTokenService
) -> None:
    await ropc(password_endpoint)
    await ropc(password_endpoint)
    assert tokens.minted[0].grant_id != tokens.minted[1].grant_id


@pytest.mark.sec("SEC-32")
@pytest.mark.sec("SEC-64")
async def test_wrong_password_and_unknown_user_get_the_same_generic_invalid_grant(
    password_endpoint: TokenEndpoint, tokens: MemoryTokenService, audit: ListAudit
) -> None:
    wrong = await ropc(password_endpoint, password="not the password at all")
    unknown = await ropc(password_endpoint, username="nobody")
    assert (wrong.status, wrong.body) == (unknown.status, unknown.body)
    assert wrong.body == {"error": "invalid_grant", "error_description": "Invalid username or password."}
    assert tokens.minted == [] and audit.names() == ["login.failure", "login.failure"]


@pytest.mark.sec("SEC-32")
@pytest.mark.sec("SEC-60")
async def test_the_form_logins_lockout_applies(
    password_endpoint: TokenEndpoint, tokens: MemoryTokenService, clock: FrozenClock
) -> None:
    for _ in range(4):  # 3 free attempts, then a delay of 2 s
        await ropc(password_endpoint, password="guess " * 3)
    throttled = await ropc(password_endpoint)  # even the right password must wait
    assert (throttled.status, throttled.body["error"]) == (400, "invalid_grant")
    assert int(throttled.headers["Retry-After"]) >= 1 and throttled.headers["Cache-Control"] == "no-store"
    assert tokens.minted == []
    clock.advance(int(throttled.headers["Retry-After"]))
    assert (await ropc(password_endpoint)).status == 200


@pytest.mark.sec("SEC-32")
@pytest.mark.rfc("RFC 9700 §2.4")
async def test_users_with_mfa_are_refused_with_a_clear_reason(
    password_endpoint: TokenEndpoint, tokens: MemoryTokenService, audit: ListAudit
) -> None:
    resp = await ropc(password_endpoint, username="bob")
    assert (resp.status, resp.body["error"]) == (400, "invalid_grant")
    assert "multi-factor" in resp.body["error_description"]
    assert tokens.minted == []
    (refused,) = [e for e in audit.events if e.event == "oauth.password_grant_refused"]
    assert (
        refused.subject == BOB
        and refused.client_id == "legacy"
        and refused.details["reason"] == "mfa_enrolled"
    )


@pytest.mark.sec("SEC-32")
async def test_a_wrong_password_for_an_mfa_user_reveals_nothing_about_mfa(
    password_endpoint: TokenEndpoint,
) -> None:
    resp = await ropc(password_endpoint, username="bob", password="not the password at all")
    assert resp.body["error_description"] == "Invalid username or password."


@pytest.mark.sec("SEC-32")
async def test_clients_without_the_password_grant_are_unauthorized_client(
    password_endpoint: TokenEndpoint, audit: ListAudit
) -> None:
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    resp = await password_endpoint.handle(
        form_request(params, headers={"Authorization": basic("web-app", WEB_SECRET)})
    )
    assert resp.body["error"] == "unauthorized_client" and audit.events == []


@pytest.mark.sec("SEC-34")
@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("items:read items:write admin:all", "items:read"),  # ∩ client (admin:all) ∩ user (items:write)
        (None, "openid offline_access items:read"),  # the client's scopes, then the user's
        ("openid", "openid"),
    ],
)
async def test_scope_is_requested_within_client_within_user(
    password_endpoint: TokenEndpoint, scope: str | None, granted: str
) -> None:
    assert (await ropc(password_endpoint, scope=scope)).body["scope"] == granted


async def test_nothing_the_client_may_have_is_invalid_scope_before_any_password_check(
    password_endpoint: TokenEndpoint, audit: ListAudit
) -> None:
    resp = await ropc(password_endpoint, scope="admin:all")
    assert resp.body["error"] == "invalid_scope" and audit.events == []


async def test_nothing_the_user_may_have_is_invalid_scope(password_endpoint: TokenEndpoint) -> None:
    assert (await ropc(password_endpoint, scope="items:write")).body["error"] == "invalid_scope"


@pytest.mark.sec("SEC-12")
async def test_a_user_the_grant_users_no_longer_know_gets_nothing(
    password_endpoint: TokenEndpoint, users: PermissionUsers, tokens: MemoryTokenService
) -> None:
    del users.permissions[ALICE]
    resp = await ropc(password_endpoint)
    assert resp.body["error"] == "invalid_grant" and tokens.minted == []


@pytest.mark.sec("SEC-12")
async def test_a_disabled_account_gets_the_generic_answer(
    password_endpoint: TokenEndpoint, db: Database, tokens: MemoryTokenService
) -> None:
    await SqlUserStore(db).update(ALICE, disabled=True)
    assert (await ropc(password_endpoint)).body["error_description"] == "Invalid username or password."
    assert tokens.minted == []


@pytest.mark.parametrize("missing", ["username", "password"])
async def test_missing_credentials_are_invalid_request(
    password_endpoint: TokenEndpoint, missing: str
) -> None:
    params = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    del params[missing]
    resp = await password_endpoint.handle(
        form_request(params, headers={"Authorization": basic("legacy", LEGACY_SECRET)})
    )
    assert resp.body["error"] == "invalid_request"


async def test_an_overlong_password_is_the_generic_answer(password_endpoint: TokenEndpoint) -> None:
    resp = await ropc(password_endpoint, password="x" * 10_000)
    assert resp.body["error_description"] == "Invalid username or password."
