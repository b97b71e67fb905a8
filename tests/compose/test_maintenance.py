"""The background purge (compose/maintenance.py): every store purged each interval, a failing or
hanging store logged and skipped, the loop cancelled cleanly, and the server lifespan running it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from helpers import add_user, make_settings
from ostiary.compose.maintenance import Maintenance, PurgeTarget, build_maintenance, purge_targets
from ostiary.compose.services import Services, build_services
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.oauth_codes import AuthorizationCodeRecord
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization
from ostiary.storage.interfaces.oauth_grants import OpaqueAccessToken
from ostiary.web.server import ServerApp

NOW = 1_800_000_000.0
SQL_TARGETS = ["refresh_families", "authorization_codes", "device_codes", "revoked_grants", "opaque_tokens"]


class Recorded:
    """A purgeable store that records its calls; it may fail or hang instead."""

    def __init__(self, *, fails: bool = False, hangs: bool = False) -> None:
        self.calls: list[float] = []
        self._fails = fails
        self._hangs = hangs

    async def purge(self, *, before: float) -> int:
        self.calls.append(before)
        if self._fails:
            raise ConnectionError("database went away")
        if self._hangs:
            await asyncio.sleep(3600)
        return 2


async def test_run_once_purges_every_store_and_survives_failing_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stores = {"a": Recorded(), "broken": Recorded(fails=True), "stuck": Recorded(hangs=True), "b": Recorded()}
    maintenance = Maintenance(
        [PurgeTarget(name, store) for name, store in stores.items()],
        FrozenClock(NOW),
        interval=60,
        timeout=0.05,
    )
    with caplog.at_level(logging.ERROR, logger="ostiary.maintenance"):
        deleted = await maintenance.run_once()
    assert deleted == {"a": 2, "broken": None, "stuck": None, "b": 2}
    assert all(store.calls == [NOW] for store in stores.values())
    failed = sorted(r.getMessage() for r in caplog.records)
    assert failed == ["purging broken failed", "purging stuck failed"]


async def test_the_loop_runs_every_interval_until_closed() -> None:
    store, broken = Recorded(), Recorded(fails=True)
    maintenance = Maintenance(
        [PurgeTarget("a", store), PurgeTarget("b", broken)], FrozenClock(NOW), interval=0.01
    )
    maintenance.start()
    maintenance.start()  # idempotent: still one loop
    for _ in range(200):
        if len(store.calls) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(store.calls) >= 3 and len(broken.calls) == len(store.calls)  # a failure stops nothing
    await maintenance.close()
    calls = len(store.calls)
    await asyncio.sleep(0.05)
    assert len(store.calls) == calls  # stopped
    await maintenance.close()  # and closing twice is harmless
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "ostiary-purge"]


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        Maintenance([], FrozenClock(NOW), interval=0)


# ------------------------------------------------------------------------------- on real stores


@pytest.fixture
async def services(tmp_path: Path, database_url: str) -> AsyncIterator[Services]:
    services = await build_services(make_settings(tmp_path, database_url), clock=FrozenClock(NOW))
    try:
        yield services
    finally:
        await services.close()


async def test_the_sql_stores_are_purged_of_what_has_ended(services: Services) -> None:
    oauth = services.oauth
    assert oauth is not None
    user = await add_user(services, "alice")
    past = NOW - 3600
    await oauth.code_store.save(
        "c" * 64,
        AuthorizationCodeRecord(
            "app",
            user.id,
            "g-code",
            "https://app.example.com/cb",
            True,
            ("openid",),
            None,
            None,
            past,
            past + 60,
            past,
        ),
    )
    await oauth.devices.save(
        DeviceAuthorization("d" * 64, "u" * 64, "app", ("openid",), "g-dev", past, past + 600, 5)
    )
    await oauth.revoked_grants.revoke("g-old", at=past, remember_until=NOW - 1)
    await oauth.revoked_grants.revoke("g-new", at=NOW, remember_until=NOW + 3600)
    await oauth.opaque_tokens.save(
        OpaqueAccessToken("o" * 64, "app", user.id, ("openid",), "g-o", past, past + 60)
    )
    await services.tokens.refresh.start(user.id, "app", "phone", "openid", NOW, family_id="g-ended")
    await services.tokens.refresh.start(user.id, "app", "phone", "openid", NOW, family_id="g-live")
    assert await services.tokens.refresh.revoke_family("g-ended", reason="logout")
    services.clock.advance(1)  # type: ignore[attr-defined]

    maintenance = build_maintenance(services)
    assert maintenance is not None
    assert [t.name for t in maintenance.targets] == SQL_TARGETS
    assert await maintenance.run_once() == {
        "refresh_families": 1,
        "authorization_codes": 1,
        "device_codes": 1,
        "revoked_grants": 1,
        "opaque_tokens": 1,
    }
    assert await oauth.revoked_grants.is_revoked("g-new")
    assert [f.id for f in await services.tokens.refresh.families(user.id)] == ["g-live"]
    assert set((await maintenance.run_once()).values()) == {0}


async def test_redis_kinds_expire_by_themselves(tmp_path: Path, database_url: str, redis_url: str) -> None:
    services = await build_services(make_settings(tmp_path, database_url, redis_url=redis_url))
    try:
        assert [t.name for t in purge_targets(services)] == ["refresh_families"]
    finally:
        await services.close()


async def test_no_purge_when_the_interval_is_zero(tmp_path: Path, database_url: str) -> None:
    services = await build_services(make_settings(tmp_path, database_url, purge_interval_seconds=0))
    try:
        assert build_maintenance(services) is None
    finally:
        await services.close()


# ------------------------------------------------------------------------------ server lifespan


def _purge_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "ostiary-purge" and not t.done()]


async def test_the_server_runs_the_purge_between_startup_and_shutdown(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'server.db'}")
    app = ServerApp(settings)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    inbox.put_nowait({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))  # type: ignore[arg-type]
    for _ in range(500):
        if sent:
            break
        await asyncio.sleep(0.01)
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert len(_purge_tasks()) == 1
    inbox.put_nowait({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert _purge_tasks() == []
