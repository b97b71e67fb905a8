"""Browser sessions over HTTP: cookies, logout, timeouts, revocation, roles (SEC-04, 09..12, 14, 56, 58)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from helpers import (
    HTTPS_ISSUER,
    OTHER_PASSWORD,
    PASSWORD,
    Harness,
    add_user,
    audit_rows,
    csrf,
    login,
    make_app,
    make_settings,
)
from ostiary.authn.sessions import SessionConfig, SessionManager
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.storage.interfaces.users import UserAccess
from ostiary.storage.memory.sessions import MemorySessionStore


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        yield harness


def session_set_cookie(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    found = [c for c in headers if c.startswith(name + "=")]
    assert len(found) == 1, headers
    return found[0]


# ----------------------------------------------------------------------------------------- cookies


@pytest.mark.sec("SEC-09")
async def test_over_https_the_session_cookie_is_host_prefixed_secure_httponly_lax(
    tmp_path: Path, database_url: str
) -> None:
    async with make_app(tmp_path, database_url, issuer=HTTPS_ISSUER) as h:
        await add_user(h.services, "alice")
        response = await h.http.post("/auth/login", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200
        cookie = session_set_cookie(response, "__Host-ostiary_session")
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "secure" in attributes
        assert "httponly" in attributes
        assert "path=/" in attributes
        assert "samesite=lax" in attributes
        assert not any(a.startswith("domain") for a in attributes)
        value = cookie.split(";")[0].split("=", 1)[1]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", value)  # opaque, >= 256 bits
        assert "alice" not in cookie
        csrf_cookie = session_set_cookie(response, "csrftoken")
        assert "secure" in csrf_cookie.lower() and "httponly" not in csrf_cookie.lower()
        assert (await h.http.get("/auth/me")).status_code == 200
        assert "strict-transport-security" in response.headers


@pytest.mark.sec("SEC-09")
async def test_over_loopback_http_the_cookie_drops_secure_and_the_prefix(h: Harness) -> None:
    await add_user(h.services, "alice")
    response = await h.http.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    cookie = session_set_cookie(response, "ostiary_session")
    attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "secure" not in attributes
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert not any(c.startswith("__Host-") for c in response.headers.get_list("set-cookie"))


@pytest.mark.sec("SEC-09")
def test_a_plain_http_issuer_off_loopback_refuses_to_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ValidationError, match="plain http"):
        make_settings(tmp_path, url, issuer="http://id.example.test")
    settings = make_settings(tmp_path, url, issuer="http://id.example.test", allow_insecure_http=True)
    assert settings.secure_cookies is False
    for loopback in ("http://127.0.0.1:9000", "http://localhost:8000", "http://[::1]:8000"):
        assert make_settings(tmp_path, url, issuer=loopback).secure_cookies is False
    assert make_settings(tmp_path, url, issuer=HTTPS_ISSUER).secure_cookies is True


@pytest.mark.sec("SEC-09")
async def test_10k_session_ids_are_unique_and_long() -> None:
    manager = SessionManager(MemorySessionStore(), MemorySessionStore(), FrozenClock(), SessionConfig())
    ids = [(await manager.create("u", RequestMeta())).session_id for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    assert min(len(i) for i in ids) >= 43


@pytest.mark.sec("SEC-09")
async def test_session_ids_in_the_query_string_are_ignored(h: Harness) -> None:
    await add_user(h.services, "alice")
    await login(h.http, "alice")
    sid = h.session_of(h.http)
    anonymous = h.client()
    for param in ("session", "ostiary_session", "session_id", "sid", "access_token"):
        response = await anonymous.get(f"/auth/me?{param}={sid}")
        assert response.status_code == 401, param
        assert sid not in response.headers.get("location", "")
    home = await anonymous.get(f"/?session={sid}")
    assert home.status_code == 303
    assert sid not in home.headers["location"]


# ------------------------------------------------------------------------------ logout, revocation


@pytest.mark.sec("SEC-10")
async def test_logout_kills_the_session_on_the_server(h: Harness) -> None:
    await add_user(h.services, "alice")
    token = await login(h.http, "alice")
    sid = h.session_of(h.http)
    response = await h.http.post("/auth/logout", headers=csrf(token))
    assert response.status_code == 204
    cleared = session_set_cookie(response, "ostiary_session")
    assert "max-age=0" in cleared.lower() or "expires=" in cleared.lower()
    assert await h.status_with(sid) == 401  # the old cookie replayed
    assert (await h.http.get("/auth/me")).status_code == 401


@pytest.mark.sec("SEC-10")
async def test_an_admin_revoking_a_users_sessions_ends_them(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    await add_user(h.services, "root", roles=["admin"])
    victim_a, victim_b, admin = h.client(), h.client(), h.client()
    await login(victim_a, "alice")
    await login(victim_b, "alice")
    token = await login(admin, "root")
    phone = await h.http.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert phone.status_code == 200
    response = await admin.post(f"/admin/users/{alice.id}/sessions/revoke", headers=csrf(token))
    assert response.status_code == 200
    assert response.json() == {"revoked": 2, "token_families": 1}
    assert (await victim_a.get("/auth/me")).status_code == 401
    assert (await victim_b.get("/auth/me")).status_code == 401
    assert (await admin.get("/auth/me")).status_code == 200
    # The phone's tokens end too: its refresh token is refused, its family is gone from the user's.
    refreshed = await h.http.post(
        "/auth/token/refresh", json={"refresh_token": phone.json()["refresh_token"]}
    )
    assert refreshed.status_code == 400
    user = await h.services.users.get(alice.id)
    assert user is not None and user.tokens_not_before is not None  # access tokens: introspect inactive
    [event] = await audit_rows(h.services, "admin.sessions_revoke")
    assert event["actor"] != event["subject"] == alice.id
    assert (event["details"]["count"], event["details"]["token_families"]) == (2, 1)
    missing = await admin.post("/admin/users/no-such-user/sessions/revoke", headers=csrf(token))
    assert missing.status_code == 404


@pytest.mark.sec("SEC-14")
async def test_a_user_lists_sessions_and_revokes_one(h: Harness) -> None:
    await add_user(h.services, "alice")
    laptop, phone, tablet = h.client(), h.client(client_ip="198.51.100.2"), h.client()
    token = await login(laptop, "alice", **{"User-Agent": "laptop-browser"})
    await login(phone, "alice")
    await login(tablet, "alice")
    listed = (await laptop.get("/auth/sessions")).json()["sessions"]
    assert len(listed) == 3
    assert [s["current"] for s in listed].count(True) == 1
    current = next(s for s in listed if s["current"])
    assert current["user_agent"] == "laptop-browser"
    assert {s["ip"] for s in listed} == {"127.0.0.1", "198.51.100.2"}
    for s in listed:
        assert set(s) == {"id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"}
        assert h.session_of(laptop) not in s["id"]  # handles are not session ids
    phone_handle = next(s["id"] for s in listed if s["ip"] == "198.51.100.2")
    assert (
        await laptop.post(f"/auth/sessions/{phone_handle}/revoke", headers=csrf(token))
    ).status_code == 204
    assert (await phone.get("/auth/me")).status_code == 401
    assert (await tablet.get("/auth/me")).status_code == 200
    again = await laptop.post(f"/auth/sessions/{phone_handle}/revoke", headers=csrf(token))
    assert again.status_code == 404
    others = await laptop.post("/auth/sessions/revoke-others", headers=csrf(token))
    assert others.json() == {"revoked": 1}
    assert (await tablet.get("/auth/me")).status_code == 401
    assert (await laptop.get("/auth/me")).status_code == 200


@pytest.mark.sec("SEC-56")
async def test_users_cannot_touch_each_others_sessions_or_admin_endpoints(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    await add_user(h.services, "bob")
    a, b = h.client(), h.client()
    token_a = await login(a, "alice")
    await login(b, "bob")
    bob_handle = (await b.get("/auth/sessions")).json()["sessions"][0]["id"]
    assert (await a.post(f"/auth/sessions/{bob_handle}/revoke", headers=csrf(token_a))).status_code == 404
    assert (await b.get("/auth/me")).status_code == 200
    assert [s["id"] for s in (await a.get("/auth/sessions")).json()["sessions"]] != [bob_handle]
    assert (await a.get("/admin/users")).status_code == 403
    for path in (f"/admin/users/{alice.id}/sessions/revoke", f"/admin/users/{alice.id}/disable"):
        assert (await a.post(path, headers=csrf(token_a))).status_code == 403
    anonymous = h.client()
    assert (await anonymous.get("/admin/users")).status_code == 401
    assert (await anonymous.get("/auth/sessions")).status_code == 401
    assert (await anonymous.post(f"/auth/sessions/{bob_handle}/revoke")).status_code == 401
    assert (await b.get("/auth/me")).status_code == 200


# ------------------------------------------------------------------------------------- timeouts


@pytest.mark.sec("SEC-11")
async def test_an_idle_session_expires_and_activity_slides_it(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock()
    async with make_app(tmp_path, database_url, clock=clock, session_idle_seconds=600) as h:
        await add_user(h.services, "alice")
        await login(h.http, "alice")
        clock.advance(590)
        assert (await h.http.get("/auth/me")).status_code == 200  # activity slides the idle window
        clock.advance(590)
        assert (await h.http.get("/auth/me")).status_code == 200
        clock.advance(601)
        assert (await h.http.get("/auth/me")).status_code == 401
        clock.advance(-601)  # going back does not revive it: it was deleted on sight
        assert (await h.http.get("/auth/me")).status_code == 401


@pytest.mark.sec("SEC-11")
async def test_continuous_activity_stops_at_the_absolute_limit(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock()
    settings = {"session_idle_seconds": 600, "session_absolute_seconds": 1800}
    async with make_app(tmp_path, database_url, clock=clock, **settings) as h:
        await add_user(h.services, "alice")
        await login(h.http, "alice")
        for _ in range(3):  # t = 500, 1000, 1500
            clock.advance(500)
            assert (await h.http.get("/auth/me")).status_code == 200
        clock.advance(301)  # t = 1801
        assert (await h.http.get("/auth/me")).status_code == 401


# ------------------------------------------------------------------------- disable, roles, password


@pytest.mark.sec("SEC-12")
async def test_a_disabled_user_is_out_at_once(h: Harness) -> None:
    await add_user(h.services, "alice")
    await login(h.http, "alice")
    await add_user(h.services, "alice", disabled=True)  # the realm re-applied with the user disabled
    assert (await h.http.get("/auth/me")).status_code == 401
    denied = await h.client().post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert denied.status_code == 401
    assert denied.json()["error"] == "invalid_credentials"


@pytest.mark.sec("SEC-12")
async def test_an_admin_disabling_a_user_ends_their_sessions(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    await add_user(h.services, "root", roles=["admin"])
    victim, admin = h.client(), h.client()
    await login(victim, "alice")
    token = await login(admin, "root")
    assert (await admin.post(f"/admin/users/{alice.id}/disable", headers=csrf(token))).status_code == 200
    assert (await victim.get("/auth/me")).status_code == 401
    assert await h.services.sessions.list_user(alice.id) == []
    assert (await admin.post(f"/admin/users/{alice.id}/enable", headers=csrf(token))).status_code == 200
    assert (
        await victim.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    ).status_code == 200


@pytest.mark.sec("SEC-58")
async def test_a_role_change_is_seen_on_the_next_request(h: Harness) -> None:
    alice = await add_user(h.services, "alice", roles=["viewer"])
    await login(h.http, "alice")
    assert (await h.http.get("/auth/me")).json()["permissions"] == ["docs:read"]
    assert (await h.http.get("/admin/users")).status_code == 403
    await h.services.access.set_access(alice.id, UserAccess(roles=frozenset({"admin"})))
    me = (await h.http.get("/auth/me")).json()
    assert me["roles"] == ["admin"] and me["permissions"] == ["users:manage"]
    assert (await h.http.get("/admin/users")).status_code == 200
    await add_user(h.services, "alice", roles=[])  # a realm re-apply removes the role
    assert (await h.http.get("/auth/me")).json()["permissions"] == []
    assert (await h.http.get("/admin/users")).status_code == 403


@pytest.mark.sec("SEC-04")
async def test_a_wrong_or_missing_current_password_changes_nothing(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    token = await login(h.http, "alice")
    for body in (
        {"current_password": "not my password at all", "new_password": OTHER_PASSWORD},
        {"new_password": OTHER_PASSWORD},
        {"current_password": "", "new_password": OTHER_PASSWORD},
    ):
        response = await h.http.post("/auth/password", json=body, headers=csrf(token))
        assert response.status_code in (400, 403), response.text
    assert (await h.services.users.get(alice.id)).password_hash == alice.password_hash
    assert (await h.http.get("/auth/me")).status_code == 200


@pytest.mark.sec("SEC-01")
async def test_a_new_password_of_14_characters_is_refused(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    token = await login(h.http, "alice")
    response = await h.http.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "plum river ink"},
        headers=csrf(token),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "password_too_short"
    assert (await h.services.users.get(alice.id)).password_hash == alice.password_hash


@pytest.mark.sec("SEC-01")
async def test_a_new_password_of_15_characters_is_accepted(h: Harness) -> None:
    await add_user(h.services, "alice")
    token = await login(h.http, "alice")
    response = await h.http.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "plum river inks"},
        headers=csrf(token),
    )
    assert response.status_code == 200, response.text


@pytest.mark.sec("SEC-04")
async def test_a_password_change_ends_other_sessions_and_rotates_this_one(h: Harness) -> None:
    alice = await add_user(h.services, "alice")
    other = h.client()
    await login(other, "alice")
    token = await login(h.http, "alice")
    old_sid = h.session_of(h.http)
    response = await h.http.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers=csrf(token),
    )
    assert response.status_code == 200, response.text
    new_token = response.json()["csrf_token"]
    assert new_token and new_token != token
    new_sid = h.session_of(h.http)
    assert new_sid != old_sid
    assert await h.status_with(old_sid) == 401
    assert await h.status_with(new_sid) == 200
    assert (await other.get("/auth/me")).status_code == 401
    assert len(await h.services.sessions.list_user(alice.id)) == 1
    assert (await h.services.users.get(alice.id)).password_hash != alice.password_hash
    fresh = h.client()
    assert (
        await fresh.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    ).status_code == 401
    await login(fresh, "alice", OTHER_PASSWORD)
