"""POST /auth/register: enumeration-safe answers and the NIST password policy (SEC-01..03, 05, 07, 64)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import OTHER_PASSWORD, PASSWORD, Harness, audit_rows, make_app
from ostiary.storage.interfaces.users import UserRecord


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        yield harness


async def register(h: Harness, username: str, password: str, email: str | None = None, **headers: str):
    body = {"username": username, "password": password}
    if email is not None:
        body["email"] = email
    return await h.http.post("/auth/register", json=body, headers=headers)


async def user(h: Harness, login: str) -> UserRecord:
    found = await h.services.users.find_by_login(login)
    assert found is not None
    return found


@pytest.mark.sec("SEC-64")
@pytest.mark.sec("SEC-76")
async def test_register_answers_identically_for_new_and_taken_names_and_emails(h: Harness) -> None:
    rid = {"X-Request-ID": "same-request-id-0001"}
    new = await register(h, "alice", PASSWORD, "alice@example.org", **rid)
    taken_name = await register(h, "ALICE", OTHER_PASSWORD, "other@example.org", **rid)
    taken_email = await register(h, "alice2", OTHER_PASSWORD, "Alice@Example.org", **rid)
    assert new.status_code == taken_name.status_code == taken_email.status_code == 202
    assert new.content == taken_name.content == taken_email.content
    assert new.headers.get_list("set-cookie") == taken_name.headers.get_list("set-cookie") == []
    assert len(await h.services.users.list()) == 1
    assert (await user(h, "alice")).email == "alice@example.org"  # not overwritten
    assert [r["event"] for r in await audit_rows(h.services) if r["event"].startswith("register")] == [
        "register",
        "register.duplicate",
        "register.duplicate",
    ]


@pytest.mark.sec("SEC-76")
async def test_10_parallel_registrations_of_one_email_make_one_account(h: Harness) -> None:
    import asyncio

    responses = await asyncio.gather(
        *(register(h, f"racer{i}", PASSWORD, "race@example.org") for i in range(10))
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.content for r in responses}) == 1
    assert len(await h.services.users.list()) == 1


@pytest.mark.sec("SEC-01")
async def test_14_characters_are_too_short_15_are_enough(h: Harness) -> None:
    short = await register(h, "alice", "plum river ink")  # 14
    assert short.status_code == 400
    assert short.json()["error"] == "password_too_short"
    assert await h.services.users.find_by_login("alice") is None
    ok = await register(h, "alice", "plum river inks")  # 15
    assert ok.status_code == 202
    assert await h.services.users.find_by_login("alice") is not None


@pytest.mark.sec("SEC-02")
async def test_long_unicode_passwords_work_and_are_neither_truncated_nor_case_folded(h: Harness) -> None:
    p64 = ("Grüße 🐢 мир 世界 and spaces " * 4)[:64]
    p128 = ("ζωή é 😀 naïve façade über " * 8)[:128]
    for name, password in (("u64", p64), ("u128", p128)):
        assert len(password) in (64, 128)
        assert (await register(h, name, password)).status_code == 202
        ok = await h.client().post("/auth/login", json={"username": name, "password": password})
        assert ok.status_code == 200, ok.text
    changed_73rd = p128[:72] + ("X" if p128[72] != "X" else "Y") + p128[73:]
    changed_last = p128[:-1] + ("X" if p128[-1] != "X" else "Y")
    for wrong in (changed_73rd, changed_last, p128.swapcase(), p128[:72]):
        bad = await h.client().post("/auth/login", json={"username": "u128", "password": wrong})
        assert bad.status_code == 401, wrong


@pytest.mark.sec("SEC-03")
@pytest.mark.parametrize(
    ("username", "email", "password", "code"),
    [
        ("alice", None, "password", "password_too_short"),
        ("alice", None, "passwordpassword", "password_common"),
        ("alice", None, "123456789012345678", "password_common"),
        ("alice", None, "abcdefghijklmnopq", "password_common"),
        ("alice", None, "aaaaaaaaaaaaaaaaaaaa", "password_common"),
        ("marmaduke", None, "my name is Marmaduke ok", "password_contains_identity"),
        ("alice", "zebedee@example.org", "hello zebedee my friend", "password_contains_identity"),
        ("alice", None, "I really love ostiary a lot", "password_contains_identity"),
    ],
)
async def test_guessable_passwords_are_refused_with_a_reason(
    h: Harness, username: str, email: str | None, password: str, code: str
) -> None:
    response = await register(h, username, password, email)
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert await h.services.users.find_by_login(username) is None


@pytest.mark.sec("SEC-03")
async def test_a_lowercase_only_passphrase_is_accepted(h: Harness) -> None:
    assert (await register(h, "alice", "qzvbtrxmwplkhgd")).status_code == 202


@pytest.mark.sec("SEC-02")
async def test_a_huge_password_on_register_is_refused_fast_without_hashing(h: Harness) -> None:
    import time

    calls = 0
    real_run = h.services.pool.run

    async def counting_run(fn, *args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return await real_run(fn, *args)

    h.services.pool.run = counting_run  # type: ignore[method-assign]
    for password in ("x" * (1024 * 1024), "long but legal chars " * 200):
        started = time.perf_counter()
        response = await register(h, "alice", password)
        elapsed = time.perf_counter() - started
        assert 400 <= response.status_code < 500
        assert elapsed < 1.0
    assert calls == 0
    assert await h.services.users.find_by_login("alice") is None


@pytest.mark.sec("SEC-05")
async def test_same_password_gives_different_salted_argon2id_hashes(h: Harness) -> None:
    await register(h, "alice", PASSWORD)
    await register(h, "bob", PASSWORD)
    a, b = (await user(h, "alice")).password_hash, (await user(h, "bob")).password_hash
    assert a and b and a != b
    for encoded in (a, b):
        assert encoded.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
        salt_b64 = encoded.split("$")[4]
        assert len(salt_b64) >= 22  # 16 bytes of salt, far above 32 bits
        assert PASSWORD not in encoded


@pytest.mark.sec("SEC-07")
async def test_a_fresh_install_has_no_accounts_and_no_default_credentials(h: Harness) -> None:
    assert await h.services.users.list() == []
    for username, password in (
        ("admin", "admin"),
        ("admin", "password"),
        ("root", "root"),
        ("ostiary", "ostiary"),
    ):
        response = await h.http.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 401
    assert (await h.http.get("/auth/me")).status_code == 401


async def test_form_registration_needs_the_page_token_and_redirects(h: Harness) -> None:
    page = await h.http.get("/register")
    assert page.status_code == 200
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)}
    response = await h.http.post("/auth/register", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?registered=1"
    no_token = await h.client().post("/auth/register", data={"username": "bob", "password": PASSWORD})
    assert no_token.status_code == 403
    assert await h.services.users.find_by_login("bob") is None
