"""Shared builders for HTTP and storage tests: a wired app on a test database, users, logins.

`make_app(tmp_path, database_url, ...)` yields a `Harness`: the wired `Services`, the ASGI app and an
httpx client on it (`ASGITransport`, which runs no lifespan, so the harness closes the services).
`harness.client()` opens another client with its own cookie jar (another browser). Settings default
to cheap argon2 parameters and rate limits high enough not to interfere; pass overrides to test them.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ostiary.compose.services import Services, build_services
from ostiary.core.clock import Clock
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.rbac import RoleRow
from ostiary.storage.interfaces.realm import RealmPlan, RealmUser
from ostiary.storage.interfaces.users import NewUser, UserRecord
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.migrate import upgrade
from ostiary.storage.sqlalchemy.users import SqlUserStore
from ostiary.web.app import OstiaryApp, create_app

ISSUER = "http://127.0.0.1:8000"
HTTPS_ISSUER = "https://id.example.test"
# Long, not common, no identity part of the users below; used as "a good password".
PASSWORD = "violet kettle drums at midnight"
OTHER_PASSWORD = "seven amber lanterns over the bay"
FAST_ARGON2 = {"argon2_memory_kib": 8192, "argon2_time_cost": 1}
NO_LIMITS = {
    "rate_limit_login_per_ip": "10000/minute",
    "rate_limit_login_per_ip_user": "10000/minute",
    "rate_limit_register_per_ip": "10000/minute",
}
# The permission that guards /admin/users and a role that holds it.
ADMIN_PERMISSION = "users:manage"
ADMIN_ROLE = RoleRow("admin", "administrators", frozenset({ADMIN_PERMISSION}))
VIEWER_ROLE = RoleRow("viewer", "read only", frozenset({"docs:read"}))
PERMISSIONS = {ADMIN_PERMISSION: "manage users", "docs:read": "read documents"}


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "issuer": ISSUER,
        **FAST_ARGON2,
        **NO_LIMITS,
        **overrides,
    }
    # _env_file=None: a developer's .env must not change what a test runs against.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Harness:
    services: Services
    app: OstiaryApp
    base_url: str
    http: httpx.AsyncClient = field(init=False)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = self.client()

    def client(self, *, client_ip: str = "127.0.0.1", **kwargs: Any) -> httpx.AsyncClient:
        """A new client (own cookie jar) whose peer address is `client_ip`."""
        transport = httpx.ASGITransport(app=self.app, client=(client_ip, 50000))
        c = httpx.AsyncClient(transport=transport, base_url=self.base_url, timeout=30, **kwargs)
        self._clients.append(c)
        return c

    @property
    def session_cookie_name(self) -> str:
        return "ostiary_session" if self.services.settings.is_plain_http else "__Host-ostiary_session"

    async def status_with(self, session_id: str, path: str = "/auth/me") -> int:
        """GET `path` from a fresh client presenting only this session id; return the status."""
        probe = self.client(cookies={self.session_cookie_name: session_id})
        try:
            return (await probe.get(path)).status_code
        finally:
            await probe.aclose()
            self._clients.remove(probe)

    def session_of(self, client: httpx.AsyncClient) -> str:
        value = cookie_value(client, self.session_cookie_name)
        assert value, "no session cookie in the client's jar"
        return value

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()
        await self.services.close()


@asynccontextmanager
async def make_app(
    tmp_path: Path,
    database_url: str,
    *,
    clock: Clock | None = None,
    demo_users: list[dict[str, str]] | None = None,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, database_url, **overrides)
    services = await build_services(settings, clock=clock)
    harness = Harness(services, create_app(services, demo_users=demo_users), settings.issuer)
    try:
        yield harness
    finally:
        await harness.close()


async def add_user(
    services: Services,
    username: str,
    password: str | None = PASSWORD,
    *,
    email: str | None = None,
    roles: Iterable[str] = (),
    password_hash: str | None = None,
    disabled: bool = False,
) -> UserRecord:
    """Create (or update) a user through the realm writer, with the admin and viewer roles defined."""
    if password_hash is None and password is not None:
        password_hash = await services.hashers.hash(password)
    plan = RealmPlan(
        permissions=dict(PERMISSIONS),
        roles=[ADMIN_ROLE, VIEWER_ROLE],
        users=[
            RealmUser(
                username=username,
                email=email if email is not None else f"{username}@example.org",
                password_hash=password_hash,
                roles=frozenset(roles),
                groups=frozenset(),
                disabled=disabled,
            )
        ],
    )
    await services.realm_writer.apply(plan, now=services.clock.now(), new_user_id=lambda: str(uuid.uuid4()))
    user = await services.users.find_by_login(username)
    assert user is not None
    return user


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD, **headers: str) -> str:
    """Log in over JSON; assert 200; return the session's CSRF token."""
    response = await client.post(
        "/auth/login", json={"username": username, "password": password}, headers=headers
    )
    assert response.status_code == 200, response.text
    token = response.json()["csrf_token"]
    assert isinstance(token, str)
    assert token
    return token


def cookie_value(client: httpx.AsyncClient, name: str) -> str | None:
    for cookie in client.cookies.jar:
        if cookie.name == name:
            return cookie.value
    return None


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- storage


async def migrated_db(url: str) -> Database:
    """A Database on `url` with the schema at head."""
    db = Database(url)
    await upgrade(db)
    return db


async def add_user_rows(db: Database, *user_ids: str) -> None:
    """Bare user rows (for foreign keys of sessions and the like)."""
    users = SqlUserStore(db)
    for user_id in user_ids:
        await users.create(NewUser(user_id, f"user-{user_id}", None, None, created_at=1.0))


@asynccontextmanager
async def sql_database(request: Any, tmp_path: Path, kind: str) -> AsyncIterator[Database]:
    """A migrated database of `kind` ("sqlite" or "postgresql"), for fixtures with their own params."""
    server = None
    if kind == "sqlite":
        url = f"sqlite+ostiary:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = server.create_database()
        url = server.url(name)
    db = await migrated_db(url)
    try:
        yield db
    finally:
        await db.dispose()
        if server is not None:
            server.drop_database(name)


async def audit_rows(services: Services, event: str | None = None) -> list[dict[str, Any]]:
    """Rows of the audit_events table, oldest first, optionally of one event type."""
    from sqlalchemy import select

    from ostiary.storage.sqlalchemy import tables as t

    query = select(t.audit_events).order_by(t.audit_events.c.id)
    if event is not None:
        query = query.where(t.audit_events.c.event == event)
    async with services.db.read() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]


def csrf(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token}


async def schema_differences(db: Database, tables: Iterable[str]) -> list[Any]:
    """What Alembic's autogenerate finds between the migrated database and `tables.py`, for `tables`
    only (their columns, types, indexes and constraints): [] when the migrations build exactly what
    tables.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ostiary.storage.sqlalchemy import tables as t

    wanted = set(tables)

    def include(obj: Any, name: Any, kind: str, reflected: Any, compare_to: Any) -> bool:
        table = name if kind == "table" else getattr(getattr(obj, "table", obj), "name", "")
        return table in wanted

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "include_object": include}
        )
        return list(compare_metadata(context, t.metadata))

    async with db.read() as conn:
        return await conn.run_sync(diff)
