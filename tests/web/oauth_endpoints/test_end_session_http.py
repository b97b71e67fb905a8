"""HTTP: GET and POST /end_session — OpenID RP-Initiated Logout 1.0 §2–3 (SEC-46, SEC-13)."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
from endpoints_support import (
    LOGOUT_URI,
    Registered,
    form_token,
    hidden_fields,
    password_tokens,
    register_client,
    signed_in_browser,
)

from helpers import Harness, audit_rows

pytestmark = pytest.mark.sec("SEC-46")


async def id_token_of(h: Harness, client: Registered, username: str = "alice") -> str:
    token = (await password_tokens(h, client, username=username, scope="openid"))["id_token"]
    assert isinstance(token, str)
    return token


async def signed_in(h: Harness, browser: httpx.AsyncClient) -> bool:
    status = (await browser.get("/auth/me")).status_code
    assert status in (200, 401)
    return status == 200


def page_error(page: httpx.Response) -> str:
    found = re.search(r'id="logout-error">([^<]*)<', page.text)
    assert found is not None, page.text
    return unescape(found.group(1))


async def test_a_valid_hint_and_registered_uri_end_the_session_and_redirect_with_state(h: Harness) -> None:
    app = await register_client(h, "app")
    browser = await signed_in_browser(h, "alice")
    session_id = h.session_of(browser)
    params = {
        "id_token_hint": await id_token_of(h, app),
        "post_logout_redirect_uri": LOGOUT_URI,
        "state": "s 1&x",
    }
    answer = await browser.get("/end_session", params=params)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{LOGOUT_URI}?state=s+1%26x"
    assert answer.headers["cache-control"] == "no-store"
    assert await h.status_with(session_id) == 401  # deleted on the server, not just the cookie
    cleared = [c for c in answer.headers.get_list("set-cookie") if c.startswith(h.session_cookie_name + "=")]
    assert len(cleared) == 1 and "Max-Age=0" in cleared[0]
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None
    logouts = await audit_rows(h.services, "logout")
    assert [(r["actor"], r["client_id"]) for r in logouts] == [(alice.id, "app")]

    # The same by POST (§2 allows both), and without a post_logout_redirect_uri: our page.
    again = await signed_in_browser(h, "alice")
    answer = await again.post("/end_session", data={"id_token_hint": params["id_token_hint"]})
    assert answer.status_code == 200 and "You are signed out" in answer.text
    assert "location" not in answer.headers
    assert not await signed_in(h, again)


async def test_without_a_hint_the_user_confirms_first(h: Harness) -> None:
    await register_client(h, "app")
    browser = await signed_in_browser(h, "alice")
    params = {"client_id": "app", "post_logout_redirect_uri": LOGOUT_URI, "state": "xyz"}
    page = await browser.get("/end_session", params=params)
    assert page.status_code == 200 and "location" not in page.headers
    assert "Sign out?" in page.text and "App" in page.text and 'action="/end_session/confirm"' in page.text
    assert "form-action 'self' https://app.example.com;" in page.headers["content-security-policy"]
    assert await signed_in(h, browser)  # nothing happened yet: a GET alone never signs out
    fields = hidden_fields(page)
    assert fields == {**params, "csrf_token": form_token(page)}

    for data, headers in [
        ({**fields, "csrf_token": ""}, {}),
        ({**fields, "csrf_token": "A" * 43}, {}),
        (fields, {"Origin": "https://evil.example"}),
    ]:
        refused = await browser.post("/end_session/confirm", data=data, headers=headers)
        assert refused.status_code == 403 and "location" not in refused.headers
    assert await signed_in(h, browser)
    tampered = await browser.post(
        "/end_session/confirm", data={**fields, "post_logout_redirect_uri": "https://evil.example/"}
    )
    assert tampered.status_code == 400 and "location" not in tampered.headers
    assert await signed_in(h, browser)

    done = await browser.post("/end_session/confirm", data=fields)
    assert done.status_code == 303 and done.headers["location"] == f"{LOGOUT_URI}?state=xyz"
    assert not await signed_in(h, browser)


async def test_a_hint_for_another_user_also_asks_for_confirmation(h: Harness) -> None:
    app = await register_client(h, "app")
    bob_hint = await id_token_of(h, app, "bob")
    browser = await signed_in_browser(h, "alice")
    page = await browser.get("/end_session", params={"id_token_hint": bob_hint})
    assert page.status_code == 200 and 'action="/end_session/confirm"' in page.text
    assert await signed_in(h, browser)
    done = await browser.post("/end_session/confirm", data=hidden_fields(page))
    assert done.status_code == 200 and "You are signed out" in done.text
    assert not await signed_in(h, browser)


async def test_an_unregistered_post_logout_redirect_uri_is_never_followed(h: Harness) -> None:
    app = await register_client(h, "app")
    hint = await id_token_of(h, app)
    browser = await signed_in_browser(h, "alice")
    for uri in [
        f"{LOGOUT_URI}?next=1",  # query added
        f"{LOGOUT_URI}/",  # different path
        "https://app.example.com/other",
        "https://evil.example/signed-out",
        LOGOUT_URI.upper(),
        "javascript:alert(1)",
    ]:
        answer = await browser.get(
            "/end_session", params={"id_token_hint": hint, "post_logout_redirect_uri": uri, "state": "s"}
        )
        assert answer.status_code == 400, uri
        assert "location" not in answer.headers
        assert "not registered" in page_error(answer)
        assert uri not in answer.text
    assert await signed_in(h, browser)
    no_client = await browser.get("/end_session", params={"post_logout_redirect_uri": LOGOUT_URI})
    assert no_client.status_code == 400 and "location" not in no_client.headers


async def test_a_forged_or_foreign_hint_is_an_error(h: Harness) -> None:
    app = await register_client(h, "app")
    await register_client(h, "other", post_logout_redirect_uris=("https://other.example/bye",))
    hint = await id_token_of(h, app)
    header, payload, signature = hint.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    browser = await signed_in_browser(h, "alice")
    cases = [
        {"id_token_hint": forged},
        {"id_token_hint": "not-a-jwt"},
        {"id_token_hint": hint, "client_id": "other"},  # issued to app, not to other
        {
            "id_token_hint": hint,
            "client_id": "other",
            "post_logout_redirect_uri": "https://other.example/bye",
        },
        {"client_id": "nobody", "post_logout_redirect_uri": LOGOUT_URI},
    ]
    for params in cases:
        answer = await browser.get("/end_session", params=params)
        assert answer.status_code == 400, params
        assert "location" not in answer.headers and page_error(answer)
    repeated = await browser.get(f"/end_session?id_token_hint={hint}&id_token_hint={hint}")
    assert repeated.status_code == 400
    assert await signed_in(h, browser)


async def test_without_a_session_there_is_nothing_to_end(h: Harness) -> None:
    app = await register_client(h, "app")
    hint = await id_token_of(h, app)
    anonymous = h.client()
    answer = await anonymous.get(
        "/end_session", params={"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_URI, "state": "q"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"{LOGOUT_URI}?state=q"
    page = await anonymous.get("/end_session")
    assert page.status_code == 200 and "You are not signed in" in page.text
    assert await audit_rows(h.services, "logout") == []
