"""Builders of the API-key unit tests: wired services, session principals, and a spy on the key store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import event

from helpers import Harness
from ostiary.authn.api_keys import ApiKeyService, IssuedKey
from ostiary.authn.api_keys_auth import ApiKeyAuthenticated, ApiKeyAuthenticator
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.principal import Principal
from ostiary.storage.interfaces.users import UserRecord
from ostiary.storage.sqlalchemy.database import Database

META = RequestMeta(ip="192.0.2.10", user_agent="pytest", request_id="req-1")


@dataclass
class Keys:
    h: Harness
    clock: FrozenClock
    alice: UserRecord
    bob: UserRecord

    @property
    def manager(self) -> ApiKeyService:
        return self.h.services.api_keys.manager

    @property
    def auth(self) -> ApiKeyAuthenticator:
        return self.h.services.api_keys.authenticator

    async def session_of(self, user: UserRecord, *, age: float = 0.0) -> Principal:
        """The principal of `user`'s browser session, logged in `age` seconds ago."""
        found = await self.h.services.principals.for_user(user.id)
        assert found is not None
        return replace(found[1], auth_time=self.clock.now() - age, amr=("pwd",))

    async def issue(
        self, user: UserRecord | None = None, scopes: tuple[str, ...] = ("docs:read",), **kw: Any
    ) -> IssuedKey:
        owner = user or self.alice
        return await self.manager.create(
            await self.session_of(owner), name=kw.pop("name", "ci"), scopes=scopes, meta=META, **kw
        )

    async def use(self, key: str, meta: RequestMeta = META) -> ApiKeyAuthenticated:
        return await self.auth.authenticate(key, meta)


@contextmanager
def sql_statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement `db` runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
