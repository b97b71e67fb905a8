"""Audit trail, route policies, error handling and store outages (SEC-55, 71, 72, 77)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from helpers import (
    OTHER_PASSWORD,
    PASSWORD,
    Harness,
    add_user,
    audit_rows,
    csrf,
    free_port,
    login,
    make_app,
)
from ostiary.core.clock import FrozenClock
from ostiary.web.policy_marks import endpoint_routes, route_policy

UA = {"User-Agent": "audit-test-agent/1.0"}


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=FrozenClock()) as harness:
        yield harness


def assert_attributed(row: dict, ip: str = "127.0.0.1") -> None:
    assert row["ip"] == ip, row
    assert row["user_agent"] == UA["User-Agent"], row
    assert row["request_id"] and re.fullmatch(r"[0-9a-f]{32}", row["request_id"]), row
    assert 1_800_000_000.0 <= row["at"] <= 1_800_000_060.0  # the injected clock, UTC epoch seconds


@pytest.mark.sec("SEC-72")
async def test_security_events_leave_attributed_audit_rows(h: Harness) -> None:
    browser = h.client(headers=UA)
    assert (
        await browser.post("/auth/register", json={"username": "alice", "password": PASSWORD})
    ).status_code == 202
    alice = await h.services.users.find_by_login("alice")
    await add_user(h.services, "root", roles=["admin"])
    for _ in range(5):
        await browser.post("/auth/login", json={"username": "alice", "password": "wrong wrong wrong wrong"})
    h.services.clock.advance(60)  # type: ignore[attr-defined]
    token = await login(browser, "alice")
    second = h.client(headers=UA)
    await login(second, "alice")
    handle = next(
        s["id"] for s in (await browser.get("/auth/sessions")).json()["sessions"] if not s["current"]
    )
    assert (await browser.post(f"/auth/sessions/{handle}/revoke", headers=csrf(token))).status_code == 204
    wrong_current = {"current_password": "not it at all, sorry", "new_password": OTHER_PASSWORD}
    assert (await browser.post("/auth/password", json=wrong_current, headers=csrf(token))).status_code == 400
    assert (await browser.get("/admin/users")).status_code == 403
    admin = h.client(headers=UA)
    admin_token = await login(admin, "root")
    assert (
        await admin.post(f"/admin/users/{alice.id}/sessions/revoke", headers=csrf(admin_token))
    ).status_code == 200
    third = h.client(headers=UA)
    third_token = await login(third, "alice")
    assert (await third.post("/auth/logout", headers=csrf(third_token))).status_code == 204

    rows = await audit_rows(h.services)
    by_event: dict[str, list[dict]] = {}
    for row in rows:
        by_event.setdefault(row["event"], []).append(row)
    expected = {
        "register": ("success", alice.id),
        "login.failure": ("failure", alice.id),
        "login.lockout": ("failure", alice.id),
        "login.success": ("success", alice.id),
        "session.revoke": ("success", alice.id),
        "password.change": ("failure", alice.id),
        "access.denied": ("failure", None),
        "admin.sessions_revoke": ("success", alice.id),
        "logout": ("success", alice.id),
    }
    for event, (outcome, subject) in expected.items():
        assert event in by_event, (event, sorted(by_event))
        row = by_event[event][0]
        assert row["outcome"] == outcome, row
        if subject is not None:
            assert row["subject"] == subject, row
        assert_attributed(row)
    assert len(by_event["login.failure"]) == 5
    assert by_event["login.failure"][0]["details"]["factor"] == "password"
    assert by_event["admin.sessions_revoke"][0]["actor"] != alice.id
    assert by_event["access.denied"][0]["actor"] == alice.id
    for row in rows:
        assert PASSWORD not in repr(row)


@pytest.mark.sec("SEC-72")
async def test_a_password_change_and_an_admin_disable_are_audited(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    await add_user(h.services, "root", roles=["admin"])
    browser, admin = h.client(headers=UA), h.client(headers=UA)
    token = await login(browser, "alice")
    change = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}
    assert (await browser.post("/auth/password", json=change, headers=csrf(token))).status_code == 200
    admin_token = await login(admin, "root")
    assert (
        await admin.post(f"/admin/users/{alice.id}/disable", headers=csrf(admin_token))
    ).status_code == 200
    changed = [r for r in await audit_rows(h.services, "password.change") if r["outcome"] == "success"]
    assert len(changed) == 1
    assert_attributed(changed[0])
    disabled = await audit_rows(h.services, "admin.disable")
    assert len(disabled) == 1
    assert disabled[0]["subject"] == alice.id
    assert_attributed(disabled[0])


# ------------------------------------------------------------------------------------------ policy


@pytest.mark.sec("SEC-55")
@pytest.mark.sec("SEC-56")
async def test_every_route_has_a_policy_and_protected_ones_refuse_strangers(h: Harness) -> None:
    routes = endpoint_routes(h.app.api.routes)
    assert len(routes) >= 15
    assert [r.path for r in routes if route_policy(r) is None] == []
    await add_user(h.services, "alice")
    user = h.client()
    token = await login(user, "alice")
    anonymous = h.client()
    checked = 0
    for route in routes:
        rule = route_policy(route)
        assert rule is not None
        if rule == "public":
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods:
            response = await anonymous.request(method, path, json={})
            if rule == "page":  # a stranger is sent to sign in, never shown the page
                assert response.status_code == 303, (method, route.path, response.status_code)
                assert response.headers["location"].startswith("/login"), (route.path, response.headers)
                continue
            assert response.status_code == 401, (method, route.path, response.status_code)
            if rule.startswith(("permission:", "require:")):
                denied = await user.request(method, path, headers=csrf(token), json={})
                assert denied.status_code == 403, (method, route.path, denied.status_code)
            checked += 1
    assert checked >= 10
    assert (await user.get("/auth/me")).status_code == 200


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.sec("SEC-71")
async def test_an_unexpected_exception_is_a_generic_500_and_the_app_keeps_serving(h: Harness) -> None:
    await add_user(h.services, "alice")
    real = h.services.users.find_by_login

    async def explode(login: str) -> None:
        raise RuntimeError("SELECT password_hash FROM users -- /srv/ostiary/secret.key")

    h.services.users.find_by_login = explode  # type: ignore[method-assign]
    response = await h.http.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "message": "An unexpected error occurred.",
        "request_id": response.headers["x-request-id"],
    }
    for leak in ("SELECT", "secret.key", "Traceback", "RuntimeError"):
        assert leak not in response.text
    h.services.users.find_by_login = real  # type: ignore[method-assign]
    await login(h.http, "alice")


# ----------------------------------------------------------------------------------------- outages


@pytest.mark.sec("SEC-77")
async def test_a_database_outage_mid_run_fails_closed_and_recovers_without_restart(
    h: Harness, tmp_path: Path
) -> None:
    await add_user(h.services, "alice")
    await login(h.http, "alice")
    assert (await h.http.get("/readyz")).status_code == 200
    db = h.services.db
    live_engine = db.engine
    dead_url = (
        f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'gone.db'}"
        if db.is_sqlite
        else f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone"
    )
    db.engine = create_async_engine(dead_url)
    try:
        me = await h.http.get("/auth/me")
        assert me.status_code == 503  # not 200 from a stale cache, not 401
        assert "retry-after" in me.headers
        fresh_login = await h.client().post("/auth/login", json={"username": "alice", "password": PASSWORD})
        assert fresh_login.status_code == 503
        assert "retry-after" in fresh_login.headers
        assert not any(c.name.endswith("ostiary_session") for c in fresh_login.cookies.jar)
        assert (await h.http.get("/readyz")).status_code == 503
    finally:
        await db.engine.dispose()
        db.engine = live_engine
    assert (await h.http.get("/readyz")).status_code == 200
    assert (await h.http.get("/auth/me")).status_code == 200
    await login(h.client(), "alice")
