"""HTTP: GET and POST /userinfo — claims by scope and RFC 6750 errors (OIDC Core §5.3; SEC-45)."""

from __future__ import annotations

import math

import httpx
import jwt
import pytest
from endpoints_support import password_tokens, register_client, signed_in_browser

from helpers import Harness, add_user
from ostiary.core.clock import FrozenClock

pytestmark = pytest.mark.sec("SEC-45")
FORM = {"content-type": "application/x-www-form-urlencoded"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(answer: httpx.Response) -> str:
    value = answer.headers["www-authenticate"]
    assert value.startswith('Bearer realm="ostiary"'), value
    return value


async def test_claims_follow_the_granted_scopes_in_all_three_ways(h: Harness) -> None:
    app = await register_client(h, "app")
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None
    full = await password_tokens(h, app, scope="openid profile email")
    sub = jwt.decode(full["id_token"], options={"verify_signature": False})["sub"]
    expected = {
        "sub": alice.id,
        "preferred_username": "alice",
        "name": "alice",
        "updated_at": math.floor(alice.updated_at),
        "email": "alice@example.org",
        "email_verified": alice.email_verified,
    }
    token = full["access_token"]
    answers = [
        await h.http.get("/userinfo", headers=bearer(token)),
        await h.http.post("/userinfo", headers=bearer(token)),
        await h.http.post("/userinfo", data={"access_token": token}),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
        assert answer.headers["cache-control"] == "no-store"
    assert sub == alice.id

    only_openid = await password_tokens(h, app, scope="openid")
    answer = await h.http.get("/userinfo", headers=bearer(only_openid["access_token"]))
    assert answer.json() == {"sub": alice.id}
    profile = await password_tokens(h, app, scope="openid profile")
    answer = await h.http.get("/userinfo", headers=bearer(profile["access_token"]))
    assert set(answer.json()) == {"sub", "preferred_username", "name", "updated_at"}


async def test_missing_and_invalid_tokens_get_401_with_a_challenge(h: Harness, clock: FrozenClock) -> None:
    app = await register_client(h, "app")
    tokens = await password_tokens(h, app, scope="openid profile offline_access")

    bare = await h.http.get("/userinfo")
    assert bare.status_code == 401 and bare.json() == {}
    assert challenge(bare) == 'Bearer realm="ostiary"'  # RFC 6750 §3.1: no error code without a token
    assert bare.headers["cache-control"] == "no-store"

    for token in ["garbage", tokens["id_token"], tokens["refresh_token"], "oat_" + "Q" * 43]:
        answer = await h.http.get("/userinfo", headers=bearer(token))
        assert answer.status_code == 401, token
        assert answer.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in challenge(answer)

    clock.advance(601)
    expired = await h.http.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401 and 'error="invalid_token"' in challenge(expired)


async def test_a_token_without_openid_is_403_insufficient_scope(h: Harness) -> None:
    app = await register_client(h, "app")
    tokens = await password_tokens(h, app, scope="docs:read")
    answer = await h.http.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert answer.status_code == 403 and answer.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in challenge(answer)


async def test_malformed_requests_are_400_invalid_request(h: Harness) -> None:
    app = await register_client(h, "app")
    token = (await password_tokens(h, app, scope="openid"))["access_token"]
    cases = [
        # RFC 6750 §2.3 is refused: a token in the URI ends up in logs and histories.
        h.http.get(f"/userinfo?access_token={token}"),
        h.http.post(f"/userinfo?access_token={token}"),
        h.http.post("/userinfo", data={"access_token": token}, headers=bearer(token)),  # two ways
        h.http.post("/userinfo", content=f"access_token={token}&access_token={token}", headers=FORM),
        h.http.get("/userinfo", headers={"Authorization": f"Basic {token}"}),
        h.http.post("/userinfo", content=b"access_token=\xff", headers=FORM),  # not UTF-8
    ]
    for request in cases:
        answer = await request
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_request"
        assert 'error="invalid_request"' in challenge(answer)
    repeated = await h.http.get(
        "/userinfo", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    assert repeated.status_code == 400 and 'error="invalid_request"' in challenge(repeated)


async def test_a_disabled_user_and_a_browser_session_get_no_claims(h: Harness) -> None:
    app = await register_client(h, "app")
    token = (await password_tokens(h, app, username="bob", scope="openid email"))["access_token"]
    assert (await h.http.get("/userinfo", headers=bearer(token))).status_code == 200
    await add_user(h.services, "bob", email="bob@example.org", disabled=True)
    answer = await h.http.get("/userinfo", headers=bearer(token))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"

    browser = await signed_in_browser(h, "alice")  # a session cookie is not an access token
    assert (await browser.get("/userinfo")).status_code == 401
