"""HTTP: POST /token — media type, repeated parameters, client authentication, no-store, code replay
(SEC-29, SEC-33, SEC-40, SEC-69, RFC 6749 §3.2, §5)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest
from oauth_browser import Pkce, Registered, code_flow, redeem, register_client, signed_in_browser

from helpers import OTHER_PASSWORD, PASSWORD, Harness, add_user, login, make_app
from ostiary.compose.clients import client_secret_hasher
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta

NO_STORE = "no-store"


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == NO_STORE
    assert response.headers["pragma"] == "no-cache"


async def fresh_code(h: Harness, client: Registered, pkce: Pkce, **extra: str) -> str:
    browser = await signed_in_browser(h, "alice")
    return (await code_flow(h, browser, client, pkce, **extra))["code"]


@pytest.mark.sec("SEC-69")
@pytest.mark.sec("SEC-40")
async def test_only_form_bodies_are_accepted(h: Harness) -> None:
    client = await register_client(h, grant_types=("client_credentials",), scopes=("docs:read",))
    assert client.secret is not None
    form = {"grant_type": "client_credentials"}
    attempts = [
        h.http.post("/token", json=form, auth=client.basic()),
        h.http.post("/token", content=b"grant_type=client_credentials", auth=client.basic()),
        h.http.post(
            "/token",
            content=b"grant_type=client_credentials",
            headers={"content-type": "text/plain"},
            auth=client.basic(),
        ),
        h.http.post("/token", files={"grant_type": (None, "client_credentials")}, auth=client.basic()),
        h.http.post(
            "/token",
            content=b"grant_type=\xff",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=client.basic(),
        ),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
        assert_no_store(response)
    assert (await h.http.get("/token")).status_code == 405
    ok = await h.http.post("/token", data=form, auth=client.basic())
    assert ok.status_code == 200, ok.text
    assert_no_store(ok)
    assert "refresh_token" not in ok.json()


@pytest.mark.sec("SEC-69")
async def test_repeated_parameters_are_refused(h: Harness) -> None:
    client = await register_client(h)
    pkce = Pkce()
    code = await fresh_code(h, client, pkce)
    base = f"grant_type=authorization_code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_verifier={pkce.verifier}"
    form_headers = {"content-type": "application/x-www-form-urlencoded"}
    repeated_code = await h.http.post(
        "/token", content=f"{base}&code={code}&code={code}", headers=form_headers, auth=client.basic()
    )
    assert repeated_code.status_code == 400
    assert repeated_code.json()["error"] == "invalid_request"
    in_query_too = await h.http.post(
        f"/token?code={code}", content=f"{base}&code={code}", headers=form_headers, auth=client.basic()
    )
    assert in_query_too.status_code == 400
    assert in_query_too.json()["error"] == "invalid_request"
    two_headers = await h.http.post(
        "/token",
        content=f"{base}&code={code}",
        headers=[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", "Basic eA=="),
            ("authorization", "Basic eQ=="),
        ],
    )
    assert two_headers.status_code == 400
    # None of the refusals burned the code.
    assert (await redeem(h, client, code, pkce)).status_code == 200


@pytest.mark.sec("SEC-33")
async def test_client_authentication_failures_are_401_with_a_challenge(h: Harness) -> None:
    client = await register_client(h, grant_types=("client_credentials",), scopes=("docs:read",))
    form = {"grant_type": "client_credentials"}
    wrong = await h.http.post("/token", data=form, auth=httpx.BasicAuth(client.client_id, "wrong"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"] == 'Basic realm="ostiary"'
    assert_no_store(wrong)
    missing = await h.http.post("/token", data=form)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Basic realm="ostiary"'
    unknown = await h.http.post("/token", data=form, auth=httpx.BasicAuth("nobody", "x" * 43))
    assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == 'Basic realm="ostiary"'
    garbled = await h.http.post("/token", data=form, headers={"Authorization": "Basic !!!"})
    assert garbled.status_code == 401 and "www-authenticate" in garbled.headers
    posted = await h.http.post(
        "/token", data={**form, "client_id": client.client_id, "client_secret": "wrong"}
    )
    assert posted.status_code == 401 and posted.json()["error"] == "invalid_client"


@pytest.mark.sec("SEC-29")
async def test_a_replayed_code_revokes_what_it_produced(h: Harness, clock: FrozenClock) -> None:
    client = await register_client(h)
    pkce = Pkce()
    code = await fresh_code(h, client, pkce)
    first = await redeem(h, client, code, pkce)
    assert first.status_code == 200, first.text
    tokens = first.json()
    wiring = h.services.oauth
    assert wiring is not None
    assert await wiring.inspector.inspect(tokens["access_token"]) is not None

    replay = await redeem(h, client, code, pkce)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert_no_store(replay)
    assert await wiring.inspector.inspect(tokens["access_token"]) is None
    refreshed = await h.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=client.basic(),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    clock.advance(30)
    assert (await redeem(h, client, code, pkce)).status_code == 400


async def test_a_code_is_bound_to_its_client_verifier_and_redirect_uri(h: Harness) -> None:
    client = await register_client(h)
    other = await register_client(h, "other-app")
    pkce = Pkce()
    stolen = await fresh_code(h, client, pkce)
    assert (await redeem(h, other, stolen, pkce)).json()["error"] == "invalid_grant"
    code = await fresh_code(h, client, pkce)
    assert (await redeem(h, client, code, Pkce())).json()["error"] == "invalid_grant"
    code = await fresh_code(h, client, pkce)
    wrong_uri = await redeem(h, client, code, pkce, redirect_uri="https://app.example.com/other")
    assert wrong_uri.json()["error"] == "invalid_grant"


async def test_refresh_rotates_and_public_clients_use_pkce(h: Harness) -> None:
    spa = await register_client(h, "spa", public=True)
    pkce = Pkce()
    code = await fresh_code(h, spa, pkce)
    first = await redeem(h, spa, code, pkce)
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]
    rotated = await h.http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": spa.client_id}
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != refresh
    assert rotated.json()["scope"] == "openid profile offline_access"
    assert_no_store(rotated)


@pytest.mark.sec("SEC-32")
async def test_grants_a_client_is_not_registered_for_are_refused(h: Harness) -> None:
    client = await register_client(h)
    for grant_type in ("password", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"):
        answer = await h.http.post(
            "/token",
            data={"grant_type": grant_type, "username": "alice", "password": "x"},
            auth=client.basic(),
        )
        assert answer.status_code == 400, grant_type
        assert answer.json()["error"] == "unauthorized_client", grant_type
    unknown = await h.http.post("/token", data={"grant_type": "magic"}, auth=client.basic())
    assert unknown.json()["error"] == "unsupported_grant_type"


async def test_opaque_access_tokens_for_clients_that_ask_for_them(h: Harness) -> None:
    client = await register_client(
        h, "svc", grant_types=("client_credentials",), scopes=("docs:read",), access_token_format="opaque"
    )
    answer = await h.http.post("/token", data={"grant_type": "client_credentials"}, auth=client.basic())
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert token.startswith("oat_") and len(base64.urlsafe_b64decode(token[4:] + "==")) >= 16
    assert h.services.oauth is not None
    view = await h.services.oauth.inspector.inspect(token)
    assert view is not None and view.client_id == "svc" and view.scope == ("docs:read",)


async def test_concurrent_client_credentials_requests_each_get_their_own_signed_token(h: Harness) -> None:
    """Access tokens asked for together are signed in one batch (tokens/signing_batch.py): each
    request still gets its own token, valid, with its own jti and grant."""
    client = await register_client(h, "svc", grant_types=("client_credentials",), scopes=("docs:read",))
    form = {"grant_type": "client_credentials"}
    answers = await asyncio.gather(
        *(h.http.post("/token", data=form, auth=client.basic()) for _ in range(12))
    )
    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
    tokens = [a.json()["access_token"] for a in answers]
    assert h.services.oauth is not None
    views = [await h.services.oauth.inspector.inspect(token) for token in tokens]
    assert all(v is not None and v.client_id == "svc" and v.scope == ("docs:read",) for v in views)
    assert len({v.jti for v in views if v is not None}) == 12
    assert len({v.grant_id for v in views if v is not None}) == 12


USED = "The authorization code is invalid, expired or already used."


async def assert_one_consumer_and_nothing_survives(h: Harness, answers: list[httpx.Response]) -> None:
    """Exactly one request consumed the code; the others were replays, so the grant is revoked and
    the consumer either was refused while minting or got tokens that are already dead (SEC-29)."""
    bodies = [a.json() for a in answers]
    assert sum(b.get("error_description") == USED for b in bodies) == len(answers) - 1, bodies
    assert h.services.oauth is not None
    for answer, body in zip(answers, bodies, strict=True):
        if answer.status_code == 200:
            assert await h.services.oauth.inspector.inspect(body["access_token"]) is None
            assert await h.services.oauth.inspector.inspect(body["refresh_token"]) is None
        else:
            assert body["error"] == "invalid_grant"


@pytest.mark.sec("SEC-29")
async def test_concurrent_redemptions_one_consumer_no_surviving_tokens(h: Harness) -> None:
    client = await register_client(h)
    pkce = Pkce()
    code = await fresh_code(h, client, pkce)
    answers = await asyncio.gather(*(redeem(h, client, code, pkce) for _ in range(4)))
    await assert_one_consumer_and_nothing_survives(h, list(answers))


@pytest.mark.sec("SEC-29")
async def test_code_flow_on_redis_stores(tmp_path: Path, database_url: str, redis_url: str) -> None:
    async with make_app(tmp_path, database_url, redis_url=redis_url) as h:
        await add_user(h.services, "alice", roles=["viewer"])
        assert h.services.oauth is not None
        assert type(h.services.oauth.code_store).__module__ == "ostiary.storage.redis.oauth_codes"
        client = await register_client(h)
        pkce = Pkce()
        first = await redeem(h, client, await fresh_code(h, client, pkce), pkce)
        assert first.status_code == 200, first.text
        assert await h.services.oauth.inspector.inspect(first.json()["access_token"]) is not None
        code = await fresh_code(h, client, pkce)
        answers = await asyncio.gather(*(redeem(h, client, code, pkce) for _ in range(3)))
        await assert_one_consumer_and_nothing_survives(h, list(answers))


async def test_secrets_registered_by_the_admin_side_verify_at_the_token_endpoint(h: Harness) -> None:
    # compose/clients.py (admin API, CLI, realm import) and compose/oauth.py derive the same key.
    assert h.services.oauth is not None
    assert client_secret_hasher(h.services).digest("s" * 43) == h.services.oauth.client_secrets.digest(
        "s" * 43
    )


@pytest.mark.sec("SEC-04")
@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("event", ["password_change", "admin_sign_out", "disable"])
async def test_a_code_issued_before_the_users_tokens_were_revoked_mints_nothing(
    h: Harness, clock: FrozenClock, event: str
) -> None:
    """compose/not_before.py: the not-before also voids authorization codes issued before it, and a
    code of a user disabled since is refused; a code issued afterwards (from the session a password
    change keeps, or a new sign-in) works."""
    client = await register_client(h)
    browser = h.client()
    csrf = await login(browser, "alice")
    pkce = Pkce()
    code = (await code_flow(h, browser, client, pkce))["code"]
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None
    clock.advance(1)
    if event == "password_change":
        changed = await browser.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200, changed.text
    elif event == "admin_sign_out":
        await h.services.accounts.sign_out_everywhere(alice.id)
    else:
        await h.services.accounts.set_disabled(alice.id, True, "root", RequestMeta())
    refused = await redeem(h, client, code, pkce)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    if event == "disable":
        return
    clock.advance(1)
    if event == "admin_sign_out":
        browser = await signed_in_browser(h, "alice")
    later = Pkce()
    fresh = await code_flow(h, browser, client, later)
    assert (await redeem(h, client, fresh["code"], later)).status_code == 200
