"""HTTP: POST /authorize/decision — CSRF, Origin, the sealed request and re-validation (SEC-13, SEC-41)."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from oauth_browser import (
    Pkce,
    Registered,
    authorize_params,
    hidden_fields,
    query_of,
    register_client,
    signed_in_browser,
)

from helpers import Harness
from ostiary.core.clock import FrozenClock
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore


async def consent_of(h: Harness, username: str = "alice") -> tuple[httpx.AsyncClient, dict[str, str]]:
    if await SqlClientStore(h.services.db).get("web-app") is None:
        await register_client(h)
    client = Registered("web-app", None)
    browser = await signed_in_browser(h, username)
    page = await browser.get("/authorize", params=authorize_params(client, Pkce(), scope="openid profile"))
    assert page.status_code == 200 and 'action="/authorize/decision"' in page.text
    return browser, {**hidden_fields(page), "decision": "allow"}


async def consents_of(h: Harness, username: str) -> list[object]:
    user = await h.services.users.find_by_login(username)
    assert user is not None and h.services.oauth is not None
    return list(await h.services.oauth.consents.list_for_user(user.id))


@pytest.mark.sec("SEC-13")
async def test_decision_needs_the_session_csrf_token_and_our_origin(h: Harness) -> None:
    browser, form = await consent_of(h)
    cases = [
        ({**form, "csrf_token": ""}, {}),
        ({**form, "csrf_token": "A" * 43}, {}),
        (form, {"Origin": "https://evil.example"}),
        (form, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}),
    ]
    for data, headers in cases:
        answer = await browser.post("/authorize/decision", data=data, headers=headers)
        assert answer.status_code == 403, (data, headers)
        assert "location" not in answer.headers
    assert await consents_of(h, "alice") == []
    assert (await browser.get("/authorize/decision")).status_code == 405
    ok = await browser.post("/authorize/decision", data=form)
    assert ok.status_code == 303 and "code" in query_of(ok.headers["location"])


@pytest.mark.sec("SEC-13")
async def test_the_sealed_request_is_bound_to_the_session_and_the_scopes_shown(h: Harness) -> None:
    _browser, form = await consent_of(h)
    thief = await signed_in_browser(h, "alice")  # another session of the same user
    page = await thief.get("/")
    token = hidden_fields(page).get("csrf_token")
    assert token
    stolen = await thief.post("/authorize/decision", data={**form, "csrf_token": token})
    assert stolen.status_code == 400 and "location" not in stolen.headers

    browser, form = await consent_of(h, "alice")
    widened = await browser.post("/authorize/decision", data={**form, "scopes": form["scopes"] + " email"})
    assert widened.status_code == 400 and "location" not in widened.headers
    assert await consents_of(h, "alice") == []


async def test_the_request_is_validated_again_at_decision(h: Harness, clock: FrozenClock) -> None:
    browser, form = await consent_of(h)
    store = SqlClientStore(h.services.db)  # as another worker would: not through this one's cache
    client = await store.get("web-app")
    assert client is not None
    await store.update(replace(client, disabled=True))
    clock.advance(1.1)  # the client cache's bound (compose/client_cache.py)
    answer = await browser.post("/authorize/decision", data=form)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "invalid_client" in answer.text
    assert await consents_of(h, "alice") == []


async def test_an_old_consent_page_expires(h: Harness, clock: FrozenClock) -> None:
    browser, form = await consent_of(h)
    clock.advance(901)
    answer = await browser.post("/authorize/decision", data=form)
    assert answer.status_code == 400 and "expired" in answer.text


async def test_without_a_session_the_decision_is_401(h: Harness) -> None:
    _browser, form = await consent_of(h)
    answer = await h.client().post("/authorize/decision", data=form)
    assert answer.status_code == 401 and "location" not in answer.headers


async def test_a_bad_decision_value_is_refused(h: Harness) -> None:
    browser, form = await consent_of(h)
    answer = await browser.post("/authorize/decision", data={**form, "decision": "maybe"})
    assert answer.status_code == 400
    assert await consents_of(h, "alice") == []
