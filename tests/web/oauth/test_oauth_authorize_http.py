"""HTTP: /authorize with login and consent, on SQLite and PostgreSQL (SEC-24, SEC-26, SEC-38, SEC-39,
SEC-41, OIDC Core §3.1.2)."""

from __future__ import annotations

import re

import jwt
import pytest
from oauth_browser import (
    REDIRECT_URI,
    Pkce,
    authorize_params,
    code_flow,
    decide,
    hidden_fields,
    query_of,
    redeem,
    register_client,
    sign_in,
    signed_in_browser,
)

from helpers import ISSUER, Harness
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.oauth_clients import ClientLifetimes


def is_consent_page(response: object) -> bool:
    text = getattr(response, "text", "")
    return getattr(response, "status_code", 0) == 200 and 'action="/authorize/decision"' in text


@pytest.mark.sec("SEC-38")
@pytest.mark.sec("SEC-39")
@pytest.mark.sec("SEC-41")
async def test_full_code_flow_with_login_consent_and_pkce(h: Harness) -> None:
    client = await register_client(h, lifetimes=ClientLifetimes(access_token=300))
    pkce = Pkce()
    browser = h.client()
    params = authorize_params(client, pkce, scope="openid profile offline_access docs:read items:read")

    first = await browser.get("/authorize", params=params)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/login?next=%2Fauthorize%2Fcontinue%3Frequest%3D")
    assert first.headers["cache-control"] == "no-store"
    back = await sign_in(browser, first, "alice")  # the login form's 303 (SEC-39)
    assert back.headers["location"].startswith("/authorize/continue?request=")

    consent = await browser.get(back.headers["location"])
    assert is_consent_page(consent)
    assert consent.headers["cache-control"] == "no-store"
    assert "Web App" in consent.text
    assert "alice" in consent.text
    assert "Confirm who you are" in consent.text and "See your profile" in consent.text
    assert "read documents" in consent.text  # docs:read described by its RBAC description
    assert "items:read" not in consent.text  # alice does not hold it: not shown, not granted
    assert "valid for 5 minutes" in consent.text and "up to 30 days" in consent.text  # SEC-41: lifetime
    # Allow/Deny end in a 303 to the client: the page's form-action must allow its origin.
    csp = consent.headers["content-security-policy"]
    assert "form-action 'self' https://app.example.com;" in csp
    assert "frame-ancestors 'none'" in csp

    answer = await decide(browser, consent, "allow")
    assert answer.status_code == 303
    assert answer.headers["cache-control"] == "no-store"
    result = query_of(answer.headers["location"])
    assert answer.headers["location"].startswith(REDIRECT_URI + "?")
    assert result["state"] == params["state"]
    assert result["iss"] == ISSUER

    tokens = await redeem(h, client, result["code"], pkce)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["expires_in"] == 300
    assert body["scope"] == "openid profile offline_access docs:read"
    assert body["refresh_token"].startswith("ort_")
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["aud"] == client.client_id
    assert claims["nonce"] == params["nonce"]
    assert claims["iss"] == ISSUER
    assert claims["amr"] == ["pwd"]
    assert isinstance(claims["sid"], str) and len(claims["sid"]) == 32
    session = h.session_of(browser)
    assert claims["sid"] != h.services.sessions.digest(session)[:32]  # not the store key
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"


@pytest.mark.sec("SEC-26")
@pytest.mark.sec("SEC-38")
@pytest.mark.sec("SEC-39")
async def test_deny_returns_access_denied_with_state_and_iss(h: Harness) -> None:
    client = await register_client(h)
    browser = await signed_in_browser(h, "alice")
    params = authorize_params(client, Pkce())
    consent = await browser.get("/authorize", params=params)
    answer = await decide(browser, consent, "deny")
    assert answer.status_code == 303
    result = query_of(answer.headers["location"])
    assert result == {
        "error": "access_denied",
        "error_description": "The user denied the request.",
        "state": params["state"],
        "iss": ISSUER,
    }
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None and h.services.oauth is not None
    assert await h.services.oauth.consents.get(alice.id, client.client_id) is None  # nothing remembered


@pytest.mark.sec("SEC-41")
async def test_remembered_consent_skips_the_page_until_a_new_scope_is_asked(h: Harness) -> None:
    client = await register_client(h)
    browser = await signed_in_browser(h, "alice")
    await code_flow(h, browser, client, Pkce(), scope="openid profile")

    again = await browser.get("/authorize", params=authorize_params(client, Pkce(), scope="openid"))
    assert again.status_code == 303  # covered by the remembered consent: no page
    assert "code" in query_of(again.headers["location"])

    wider = await browser.get("/authorize", params=authorize_params(client, Pkce(), scope="openid email"))
    assert is_consent_page(wider)
    forced = await browser.get(
        "/authorize", params=authorize_params(client, Pkce(), scope="openid", prompt="consent")
    )
    assert is_consent_page(forced)


async def test_first_party_client_skips_consent(h: Harness) -> None:
    client = await register_client(h, "portal", first_party=True)
    browser = await signed_in_browser(h, "alice")
    answer = await browser.get("/authorize", params=authorize_params(client, Pkce()))
    assert answer.status_code == 303
    assert "code" in query_of(answer.headers["location"])


@pytest.mark.sec("SEC-26")
@pytest.mark.sec("SEC-38")
@pytest.mark.sec("SEC-41")
async def test_prompt_none_never_shows_a_page(h: Harness) -> None:
    client = await register_client(h)
    anonymous = h.client()
    params = authorize_params(client, Pkce(), prompt="none")
    answer = await anonymous.get("/authorize", params=params)
    assert answer.status_code == 303
    assert query_of(answer.headers["location"]) == {
        "error": "login_required",
        "error_description": "The user must sign in.",
        "state": params["state"],
        "iss": ISSUER,
    }

    browser = await signed_in_browser(h, "alice")
    answer = await browser.get("/authorize", params=params)
    assert query_of(answer.headers["location"])["error"] == "consent_required"
    assert query_of(answer.headers["location"])["iss"] == ISSUER

    await code_flow(h, browser, client, Pkce(), scope="openid profile offline_access")
    silent = await browser.get("/authorize", params=authorize_params(client, Pkce(), prompt="none"))
    assert "code" in query_of(silent.headers["location"])


async def test_prompt_login_asks_again_and_does_not_loop(h: Harness) -> None:
    client = await register_client(h, first_party=True)
    browser = await signed_in_browser(h, "alice")
    old_session = h.session_of(browser)
    params = authorize_params(client, Pkce(), prompt="login")
    first = await browser.get("/authorize", params=params)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?")
    back = await sign_in(browser, first, "alice")
    assert h.session_of(browser) != old_session  # a real new sign-in

    # Right after the login form the last hop is a page, not a redirect (the login page's CSP
    # form-action would block a redirect chain that ends at the client).
    done = await browser.get(back.headers["location"])
    assert done.status_code == 200
    location = re.search(r'<a href="([^"]+)" id="continue">', done.text)
    assert location is not None
    target = location.group(1).replace("&amp;", "&")
    assert target.startswith(REDIRECT_URI + "?")
    assert f'content="0;url={location.group(1)}"' in done.text
    assert query_of(target)["state"] == params["state"]
    assert "code" in query_of(target)

    # The same request without the login mark still asks for a sign-in: prompt=login is per request.
    assert (await browser.get("/authorize", params=params)).headers["location"].startswith("/login?")


async def test_max_age(h: Harness, clock: FrozenClock) -> None:
    client = await register_client(h, first_party=True)
    browser = await signed_in_browser(h, "alice")
    clock.advance(120)
    fresh_enough = await browser.get("/authorize", params=authorize_params(client, Pkce(), max_age="300"))
    assert "code" in query_of(fresh_enough.headers["location"])

    params = authorize_params(client, Pkce(), max_age="0")
    too_old = await browser.get("/authorize", params=params)
    assert too_old.headers["location"].startswith("/login?")
    back = await sign_in(browser, too_old, "alice")
    clock.advance(1)  # max_age=0: no session is ever young enough, but the sign-in just made counts
    done = await browser.get(back.headers["location"])
    assert done.status_code == 200 and REDIRECT_URI in done.text

    silent = await browser.get(
        "/authorize", params=authorize_params(client, Pkce(), max_age="0", prompt="none")
    )
    assert query_of(silent.headers["location"])["error"] == "login_required"


@pytest.mark.sec("SEC-38")
async def test_form_post_escapes_values_and_carries_the_csp_nonce(h: Harness) -> None:
    client = await register_client(h, first_party=True)
    browser = await signed_in_browser(h, "alice")
    state = '"><script>alert(1)</script>'
    params = authorize_params(client, Pkce(), response_mode="form_post", state=state)
    page = await browser.get("/authorize", params=params)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "<script>alert(1)" not in page.text
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    fields = hidden_fields(page)
    assert fields["state"] == state
    assert fields["iss"] == ISSUER
    assert fields["code"]
    assert f'action="{REDIRECT_URI}"' in page.text
    nonce = re.search(r'<script nonce="([^"]+)">', page.text)
    assert nonce is not None
    csp = page.headers["content-security-policy"]
    assert f"script-src 'self' 'nonce-{nonce.group(1)}'" in csp
    assert "form-action 'self' https://app.example.com;" in csp

    error = await browser.get(
        "/authorize", params={**params, "state": "s1", "scope": "unknown", "response_mode": "form_post"}
    )
    assert error.status_code == 200
    assert hidden_fields(error) == {
        "error": "invalid_scope",
        "error_description": "None of the requested scopes is allowed for this client.",
        "state": "s1",
        "iss": ISSUER,
    }


SEC24_VARIANTS = [
    "https://app.example.com/cb/",
    "https://app.example.com/cb?x=1",
    "https://app.example.com/cb#f",
    "https://app.example.com/cb/../x",
    "https://app.example.com/cb/..;/x",
    "https://app.example.com/CB",
    "HTTPS://APP.example.com/cb",
    "%2Fcb",
    "https://app.example.com.evil.tld/cb",
    "https://appXexample.com/cb",
    "https://evil@app.example.com/cb",
    "https://app.example.com@evil.tld/cb",
    "https://a@b@app.example.com/cb",
]


@pytest.mark.sec("SEC-24")
async def test_bad_client_or_redirect_uri_is_an_error_page_never_a_redirect(h: Harness) -> None:
    client = await register_client(h)
    browser = await signed_in_browser(h, "alice")
    for uri in SEC24_VARIANTS:
        for method in ("GET", "POST"):
            params = authorize_params(client, Pkce(), redirect_uri=uri)
            if method == "GET":
                answer = await browser.get("/authorize", params=params)
            else:
                answer = await browser.post("/authorize", data=params)
            assert answer.status_code == 400, (uri, method)
            assert "location" not in answer.headers, (uri, method)
            assert answer.headers["content-type"].startswith("text/html")
            assert "invalid_request" in answer.text
            assert uri not in answer.text or uri == "%2Fcb"  # the page never offers the URI as a link
    unknown = await browser.get("/authorize", params=authorize_params(client, Pkce(), client_id="nobody"))
    assert unknown.status_code == 400 and "location" not in unknown.headers
    assert "invalid_client" in unknown.text
    repeated = await browser.get(
        "/authorize?" + "&".join(f"{k}={v}" for k, v in [("client_id", "web-app"), ("client_id", "other")])
    )
    assert repeated.status_code == 400 and "location" not in repeated.headers


@pytest.mark.sec("SEC-26")
@pytest.mark.sec("SEC-31")
@pytest.mark.sec("SEC-38")
async def test_errors_after_validation_go_to_the_client_with_state_and_iss(h: Harness) -> None:
    client = await register_client(h)
    browser = h.client()
    for changes, error in [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "admin:everything"}, "invalid_scope"),
        ({"request": "eyJ.x.y"}, "request_not_supported"),
    ]:
        params = authorize_params(client, Pkce(), **changes)
        answer = await browser.get("/authorize", params=params)
        assert answer.status_code == 303, changes
        result = query_of(answer.headers["location"])
        assert answer.headers["location"].startswith(REDIRECT_URI + "?")
        assert (result["error"], result["state"], result["iss"]) == (error, params["state"], ISSUER)


@pytest.mark.sec("SEC-39")
async def test_no_cors_headers_on_the_authorization_endpoint(h: Harness) -> None:
    client = await register_client(h)
    answer = await h.http.get(
        "/authorize", params=authorize_params(client, Pkce()), headers={"Origin": "https://evil.example"}
    )
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
    preflight = await h.http.options(
        "/authorize",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert not [name for name in preflight.headers if name.lower().startswith("access-control-")]


async def test_a_user_who_may_grant_nothing_gets_invalid_scope(h: Harness) -> None:
    client = await register_client(h, scopes=("items:read",))
    browser = await signed_in_browser(h, "bob")
    params = authorize_params(client, Pkce(), scope="items:read")
    answer = await browser.get("/authorize", params=params)
    result = query_of(answer.headers["location"])
    assert (result["error"], result["state"], result["iss"]) == ("invalid_scope", params["state"], ISSUER)


async def test_forged_or_expired_return_to_is_refused(h: Harness, clock: FrozenClock) -> None:
    client = await register_client(h)
    browser = h.client()
    first = await browser.get("/authorize", params=authorize_params(client, Pkce()))
    back = await sign_in(browser, first, "alice")
    sealed = query_of(back.headers["location"])["request"]
    body, issued, mac = sealed.split(".")
    forged = await browser.get("/authorize/continue", params={"request": f"{body}.{int(issued) + 1}.{mac}"})
    assert forged.status_code == 400 and "location" not in forged.headers
    clock.advance(901)
    expired = await browser.get(back.headers["location"])
    assert expired.status_code == 400 and "expired" in expired.text


async def test_login_hint_prefills_the_login_form(h: Harness) -> None:
    """OIDC Core §3.1.2.1: the hint travels to the login page and fills the identifier field."""
    client = await register_client(h)
    browser = h.client()
    params = authorize_params(client, Pkce(), login_hint="alice@example.org")
    first = await browser.get("/authorize", params=params)
    assert first.status_code == 303
    assert query_of(first.headers["location"])["login_hint"] == "alice@example.org"
    page = await browser.get(first.headers["location"])
    assert 'name="username" autocomplete="username" required value="alice@example.org"' in page.text
    back = await sign_in(browser, first, "alice")  # the hint changes nothing about signing in
    assert back.headers["location"].startswith("/authorize/continue?request=")


@pytest.mark.parametrize(
    ("hint", "shown"),
    [
        ('"><script>alert(1)</script>', 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'),
        ("bob\r\nSet-Cookie: x=1", 'value=""'),  # not printable: ignored
        ("a" * 321, 'value=""'),  # longer than any login identifier: ignored
        ("  carol  ", 'value="carol"'),
    ],
)
async def test_a_hostile_or_odd_login_hint_is_escaped_or_ignored(h: Harness, hint: str, shown: str) -> None:
    client = await register_client(h)
    first = await h.client().get("/authorize", params=authorize_params(client, Pkce(), login_hint=hint))
    assert first.status_code == 303
    page = await h.client().get(first.headers["location"])
    assert page.status_code == 200
    assert shown in page.text
    assert "<script>alert(1)" not in page.text
