"""HTTP: a user lists their consents and revokes one; the client's refresh tokens die with it (SEC-41)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from oauth_browser import Pkce, Registered, code_flow, redeem, register_client, signed_in_browser

from helpers import Harness, audit_rows, cookie_value, csrf


async def tokens_for(h: Harness, browser: httpx.AsyncClient, client: Registered) -> dict[str, Any]:
    pkce = Pkce()
    code = (await code_flow(h, browser, client, pkce))["code"]
    response = await redeem(h, client, code, pkce)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(h: Harness, client: Registered, token: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    return await h.http.post("/token", data=form, auth=client.basic())


@pytest.mark.sec("SEC-41")
async def test_list_and_revoke_a_consent(h: Harness) -> None:
    web = await register_client(h)
    other = await register_client(h, "other-app", name="Other App")
    alice = await signed_in_browser(h, "alice")
    bob = await signed_in_browser(h, "bob")
    alice_web = await tokens_for(h, alice, web)
    alice_other = await tokens_for(h, alice, other)
    bob_web = await tokens_for(h, bob, web)

    listed = await alice.get("/auth/consents")
    assert listed.status_code == 200
    assert listed.headers["cache-control"] == "no-store"
    consents = listed.json()["consents"]
    assert [(c["client_id"], c["client_name"], c["scopes"]) for c in consents] == [
        ("other-app", "Other App", ["offline_access", "openid", "profile"]),
        ("web-app", "Web App", ["offline_access", "openid", "profile"]),
    ]

    token = cookie_value(alice, "csrftoken")
    assert token
    refused = await alice.delete("/auth/consents/web-app")
    assert refused.status_code == 403
    assert len((await alice.get("/auth/consents")).json()["consents"]) == 2
    revoked = await alice.delete("/auth/consents/web-app", headers=csrf(token))
    assert revoked.status_code == 204

    assert [c["client_id"] for c in (await alice.get("/auth/consents")).json()["consents"]] == ["other-app"]
    dead = await refresh(h, web, alice_web["refresh_token"])
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    assert h.services.oauth is not None
    assert await h.services.oauth.inspector.inspect(alice_web["access_token"]) is None
    assert (await refresh(h, other, alice_other["refresh_token"])).status_code == 200
    assert (await refresh(h, web, bob_web["refresh_token"])).status_code == 200  # bob's is his own

    page = await alice.get("/authorize", params={"client_id": "web-app", "response_type": "code"})
    assert page.status_code == 303  # missing PKCE: an error redirect, but the consent is what we check
    again = await alice.get(
        "/authorize",
        params={
            "client_id": "web-app",
            "response_type": "code",
            "scope": "openid",
            "code_challenge": Pkce().challenge,
            "code_challenge_method": "S256",
        },
    )
    assert again.status_code == 200 and 'action="/authorize/decision"' in again.text
    [event] = await audit_rows(h.services, "oauth.consent_revoked")
    assert event["client_id"] == "web-app"


@pytest.mark.sec("SEC-41")
@pytest.mark.sec("SEC-56")
async def test_revoking_what_is_not_yours_is_404(h: Harness) -> None:
    web = await register_client(h)
    bob = await signed_in_browser(h, "bob")
    await tokens_for(h, bob, web)
    alice = await signed_in_browser(h, "alice")
    token = cookie_value(alice, "csrftoken")
    assert token
    assert (await alice.delete("/auth/consents/web-app", headers=csrf(token))).status_code == 404
    assert (await alice.delete("/auth/consents/nobody", headers=csrf(token))).status_code == 404
    assert len((await bob.get("/auth/consents")).json()["consents"]) == 1
    assert (await h.client().get("/auth/consents")).status_code == 401
