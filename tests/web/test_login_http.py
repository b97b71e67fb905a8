"""POST /auth/login and GET /auth/me: generic failures, fixation, rehash, errors, logs (SEC-02, 05, 08, 64, 71, 73)."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import pytest

from helpers import PASSWORD, Harness, add_user, login, make_app

LOGIN = "/auth/login"


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        yield harness


async def test_login_sets_a_session_and_me_answers_with_roles(h: Harness) -> None:
    await add_user(h.services, "alice", roles=["viewer"])
    response = await h.http.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["roles"] == ["viewer"]
    assert "password_hash" not in response.text
    me = await h.http.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["permissions"] == ["docs:read"]
    assert me.json()["amr"] == ["pwd"]
    # Login by email, any case.
    assert (
        await h.client().post(LOGIN, json={"username": "ALICE@example.org", "password": PASSWORD})
    ).status_code == 200


async def test_me_without_a_session_is_401(h: Harness) -> None:
    response = await h.http.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.sec("SEC-64")
async def test_wrong_password_unknown_user_and_disabled_user_answer_byte_identically(h: Harness) -> None:
    await add_user(h.services, "alice")
    await add_user(h.services, "dora", disabled=True)
    rid = {"X-Request-ID": "fixed-request-id-42"}
    answers = [
        await h.client().post(LOGIN, json={"username": name, "password": password}, headers=rid)
        for name, password in (
            ("alice", "not the right password at all"),
            ("nobody", "not the right password at all"),
            ("dora", PASSWORD),
            ("", PASSWORD),
        )
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["error"] == "invalid_credentials"

    def shape(headers: object) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in headers.items() if k not in ("date",))  # type: ignore[attr-defined]

    assert shape(answers[0].headers) == shape(answers[1].headers) == shape(answers[2].headers)


@pytest.mark.sec("SEC-64")
async def test_unknown_users_cost_a_dummy_verify(h: Harness) -> None:
    calls: list[str] = []
    real_run = h.services.pool.run

    async def spy(fn, *args):  # type: ignore[no-untyped-def]
        calls.append(getattr(fn, "__name__", str(fn)))
        return await real_run(fn, *args)

    h.services.pool.run = spy  # type: ignore[method-assign]
    assert (await h.http.post(LOGIN, json={"username": "ghost", "password": PASSWORD})).status_code == 401
    assert calls == ["dummy_verify"]


@pytest.mark.sec("SEC-02")
async def test_a_huge_password_on_login_is_refused_fast_without_hashing(h: Harness) -> None:
    await add_user(h.services, "alice")
    calls = 0
    real_run = h.services.pool.run

    async def counting_run(fn, *args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await real_run(fn, *args)

    h.services.pool.run = counting_run  # type: ignore[method-assign]
    # 1 MiB is refused by the body limit; 4 KiB fits the body but not the password cap.
    for password in ("p" * (1024 * 1024), "long but legal " * 300):
        started = time.perf_counter()
        response = await h.http.post(LOGIN, json={"username": "alice", "password": password})
        elapsed = time.perf_counter() - started
        assert 400 <= response.status_code < 500, response.status_code
        assert response.status_code != 401 or calls == 0
        assert elapsed < 1.0
    assert calls == 0
    assert await h.services.lockout.state("login:alice") is None


@pytest.mark.sec("SEC-08")
async def test_a_planted_session_id_is_never_promoted(h: Harness) -> None:
    await add_user(h.services, "alice")
    planted = "attacker-chosen-session-id-aaaaaaaaaaaaaaaaaaaaaaaa"
    h.http.cookies.set(h.session_cookie_name, planted, domain="127.0.0.1")
    response = await h.http.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    issued = re.search(rf"{h.session_cookie_name}=([^;]+)", response.headers["set-cookie"])
    assert issued is not None
    assert issued.group(1) != planted
    assert await h.status_with(planted) == 401
    assert await h.status_with(issued.group(1)) == 200


@pytest.mark.sec("SEC-08")
async def test_login_on_top_of_a_live_session_issues_a_new_id_and_kills_the_old(h: Harness) -> None:
    await add_user(h.services, "alice")
    await add_user(h.services, "bob")
    await login(h.http, "alice")
    s0 = h.session_of(h.http)
    await login(h.http, "bob")
    s1 = h.session_of(h.http)
    assert s1 != s0
    assert await h.status_with(s0) == 401
    assert (await h.http.get("/auth/me")).json()["username"] == "bob"
    assert len(await h.services.sessions.list_user((await h.services.users.find_by_login("alice")).id)) == 0


def django_pbkdf2(password: str, iterations: int = 1000, salt: str = "c2FsdHNhbHQ") -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


@pytest.mark.sec("SEC-05")
@pytest.mark.parametrize("kind", ["bcrypt", "pbkdf2"])
async def test_an_imported_legacy_hash_is_upgraded_to_argon2id_on_login(h: Harness, kind: str) -> None:
    legacy = (
        bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        if kind == "bcrypt"
        else django_pbkdf2(PASSWORD)
    )
    await add_user(h.services, "alice", password_hash=legacy)
    assert (
        await h.http.post(LOGIN, json={"username": "alice", "password": "wrong wrong wrong wrong"})
    ).status_code == 401
    assert (await h.services.users.find_by_login("alice")).password_hash == legacy
    response = await h.http.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    upgraded = (await h.services.users.find_by_login("alice")).password_hash
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$")
    assert (await h.client().post(LOGIN, json={"username": "alice", "password": PASSWORD})).status_code == 200


@pytest.mark.sec("SEC-05")
async def test_raising_the_argon2_cost_rehashes_on_the_next_login(tmp_path: Path, database_url: str) -> None:
    async with make_app(tmp_path, database_url) as h1:
        await add_user(h1.services, "alice")
        before = (await h1.services.users.find_by_login("alice")).password_hash
    assert before is not None and ",t=1," in before
    async with make_app(tmp_path, database_url, argon2_time_cost=2) as h2:
        response = await h2.http.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200, response.text
        after = (await h2.services.users.find_by_login("alice")).password_hash
    assert after is not None and ",t=2," in after


@pytest.mark.sec("SEC-71")
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"username": "alice", "password": ', "application/json"),
        (b"\xff\xfe\xfa not utf-8", "application/json"),
        (b'{"username": ' + b"9" * 5000 + b"}", "application/json"),
        (b'["not", "an", "object"]', "application/json"),
        (b'{"username": {"$ne": null}, "password": 1}', "application/json"),
        (b"username=alice", "text/plain"),
    ],
)
async def test_malformed_bodies_get_a_generic_json_400_with_a_request_id(
    h: Harness, body: bytes, content_type: str
) -> None:
    response = await h.http.post(LOGIN, content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500
    assert response.status_code != 500
    data = response.json()
    assert set(data) == {"error", "message", "request_id"}
    assert data["request_id"] == response.headers["x-request-id"]
    for leak in ("Traceback", 'File "', ".py", "sqlalchemy", "json.decoder", "line "):
        assert leak not in response.text


@pytest.mark.sec("SEC-73")
async def test_passwords_never_reach_any_log(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    canary = "canary Tr0ub4dor zebra-42 plinth"
    caplog.set_level(logging.DEBUG)
    await h.http.post("/auth/register", json={"username": "alice", "password": canary})
    await h.http.post(LOGIN, json={"username": "alice", "password": canary + "x"})
    await h.http.post(LOGIN, json={"username": "nobody", "password": canary})
    token = await login(h.http, "alice", canary)
    await h.http.post(
        "/auth/password",
        json={"current_password": canary, "new_password": canary + " changed"},
        headers={"X-CSRF-Token": token},
    )
    await h.http.post(LOGIN, json={"username": "alice", "password": "x" * 5000 + canary})
    await h.http.post(
        LOGIN,
        content=b'{"password": "' + canary.encode() + b'", ',
        headers={"content-type": "application/json"},
    )
    assert caplog.records, "expected some log records (access log, audit)"
    for record in caplog.records:
        assert canary not in record.getMessage()
        assert canary not in repr(record.__dict__)
    assert canary not in caplog.text
