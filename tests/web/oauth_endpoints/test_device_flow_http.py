"""HTTP: the device flow end to end — /device_authorization, polling /token, the verification pages
(RFC 8628 §3.1–3.5; SEC-37, SEC-40, SEC-13, SEC-33, SEC-69)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
from endpoints_support import (
    Registered,
    decide,
    enter_code,
    error_of,
    form_token,
    hidden_fields,
    poll,
    register_client,
    signed_in_browser,
    start_device,
)

from helpers import ISSUER, OTHER_PASSWORD, PASSWORD, Harness, add_user, audit_rows, csrf, login, make_app
from ostiary.compose.oauth_endpoints import USER_CODE_ATTEMPTS
from ostiary.core.clock import FrozenClock
from ostiary.oauth2.device import USER_CODE_ALPHABET

USER_CODE = re.compile(rf"[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}")
SCOPE = "openid profile offline_access docs:read"


async def cli_client(h: Harness, **changes: object) -> Registered:
    values: dict[str, object] = {
        "grant_types": ("urn:ietf:params:oauth:grant-type:device_code", "refresh_token")
    }
    values.update(changes)
    return await register_client(h, "cli", public=True, name="Ostiary CLI", **values)


async def started(h: Harness, client: Registered, scope: str = SCOPE) -> dict[str, object]:
    answer = await start_device(h, client, scope)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


@pytest.mark.sec("SEC-37")
@pytest.mark.sec("SEC-40")
async def test_device_flow_from_request_to_single_redemption(h: Harness, clock: FrozenClock) -> None:
    client = await cli_client(h)
    answer = await start_device(h, client, SCOPE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    user_code, device_code = body["user_code"], body["device_code"]
    assert USER_CODE.fullmatch(user_code)  # 8 characters from a 20-letter alphabet
    assert len(device_code) >= 43  # 256 bits, base64url
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={user_code}"
    assert body["expires_in"] == 600 and body["interval"] == 5

    pending = await poll(h, client, device_code)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    assert pending.headers["cache-control"] == "no-store"
    too_fast = await poll(h, client, device_code)
    assert too_fast.json()["error"] == "slow_down"
    clock.advance(5)
    assert (await poll(h, client, device_code)).json()["error"] == "authorization_pending"

    # The person opens verification_uri_complete, is sent to sign in, and comes back to the form.
    browser = h.client()
    complete = urlsplit(body["verification_uri_complete"])
    first = await browser.get(f"{complete.path}?{complete.query}")
    assert first.status_code == 303
    assert first.headers["location"] == f"/login?next=%2Fdevice%3Fuser_code%3D{user_code}"
    login_page = await browser.get(first.headers["location"])
    signed = await browser.post(
        "/auth/login", data={**hidden_fields(login_page), "username": "alice", "password": PASSWORD}
    )
    assert signed.status_code == 303 and signed.headers["location"] == f"/device?user_code={user_code}"
    page = await browser.get(signed.headers["location"])
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f'name="user_code" value="{user_code}"' in page.text

    confirmation = await browser.post(
        "/device", data={"csrf_token": form_token(page), "user_code": user_code.lower().replace("-", " ")}
    )
    assert confirmation.status_code == 200, confirmation.text
    assert "Ostiary CLI" in confirmation.text and user_code in confirmation.text
    assert "Confirm who you are" in confirmation.text and "read documents" in confirmation.text
    assert 'value="approve"' in confirmation.text and 'value="deny"' in confirmation.text

    done = await decide(browser, confirmation, "approve")
    assert done.status_code == 200 and "Device connected" in done.text

    clock.advance(5)
    tokens = await poll(h, client, device_code)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    granted = tokens.json()
    assert granted["scope"] == SCOPE
    assert granted["refresh_token"].startswith("ort_")
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None
    claims = jwt.decode(granted["id_token"], options={"verify_signature": False})
    assert claims["sub"] == alice.id and claims["aud"] == "cli"

    clock.advance(5)
    again = await poll(h, client, device_code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    wiring = h.services.oauth
    assert wiring is not None
    consents = await wiring.consents.list_for_user(alice.id)
    assert [(c.client_id, set(c.scopes)) for c in consents] == [("cli", set(SCOPE.split()))]
    approved = await audit_rows(h.services, "oauth.device_approved")
    assert [(r["actor"], r["client_id"]) for r in approved] == [(alice.id, "cli")]


@pytest.mark.sec("SEC-37")
async def test_a_denied_request_polls_access_denied(h: Harness, clock: FrozenClock) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    browser = await signed_in_browser(h, "alice")
    done = await decide(browser, await enter_code(browser, str(body["user_code"])), "deny")
    assert done.status_code == 200 and "Request denied" in done.text
    denied = await poll(h, client, str(body["device_code"]))
    assert denied.status_code == 400 and denied.json()["error"] == "access_denied"
    assert len(await audit_rows(h.services, "oauth.device_denied")) == 1
    again = await enter_code(browser, str(body["user_code"]))
    assert again.status_code == 400 and error_of(again) == "This code has already been used."


@pytest.mark.sec("SEC-37")
async def test_an_expired_code_is_refused_on_the_page_and_at_the_token_endpoint(
    h: Harness, clock: FrozenClock
) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    browser = await signed_in_browser(h, "alice")
    confirmation = await enter_code(browser, str(body["user_code"]))
    clock.advance(601)
    late = await enter_code(browser, str(body["user_code"]))
    assert late.status_code == 400 and "expired" in error_of(late)
    too_late = await decide(browser, confirmation, "approve")  # the page was open before expiry
    assert too_late.status_code == 400 and "expired" in error_of(too_late)
    expired = await poll(h, client, str(body["device_code"]))
    assert expired.status_code == 400 and expired.json()["error"] == "expired_token"


@pytest.mark.sec("SEC-37")
async def test_an_approved_code_is_redeemed_once_under_concurrent_polls(
    h: Harness, clock: FrozenClock
) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    browser = await signed_in_browser(h, "alice")
    await decide(browser, await enter_code(browser, str(body["user_code"])), "approve")
    answers = await asyncio.gather(*(poll(h, client, str(body["device_code"])) for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400, 400, 400], [a.text for a in answers]
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}


@pytest.mark.sec("SEC-37")
async def test_two_concurrent_decisions_have_exactly_one_winner(h: Harness) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    browser = await signed_in_browser(h, "alice")
    confirmation = await enter_code(browser, str(body["user_code"]))
    answers = await asyncio.gather(
        decide(browser, confirmation, "approve"), decide(browser, confirmation, "deny")
    )
    winners = [a for a in answers if a.status_code == 200]
    assert len(winners) == 1, [a.text for a in answers]
    loser = next(a for a in answers if a.status_code != 200)
    assert loser.status_code == 400 and error_of(loser) == "This code has already been used."


@pytest.mark.sec("SEC-37")
async def test_submitted_codes_are_limited_per_ip_and_audited(h: Harness) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    browser = await signed_in_browser(h, "alice", client_ip="203.0.113.7")
    page = await browser.get("/device")
    token = form_token(page)
    for guess in ("BCDF-GHJK", "BCDF-GHJL", "XXXX", "BCDF-GHJM", "bcdf ghjn"):
        wrong = await browser.post("/device", data={"csrf_token": token, "user_code": guess})
        assert wrong.status_code == 400, wrong.text
        assert error_of(wrong) == "This code is not valid. Check it and try again."
    # The sixth attempt within the minute is refused before the code is looked at, right or wrong.
    limited = await browser.post("/device", data={"csrf_token": token, "user_code": str(body["user_code"])})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "Too many attempts" in error_of(limited)
    rejected = await audit_rows(h.services, "oauth.device_code_rejected")
    assert len(rejected) == 5 and {r["outcome"] for r in rejected} == {"failure"}
    assert {r["ip"] for r in rejected} == {"203.0.113.7"}
    assert len(await audit_rows(h.services, "oauth.device_code_throttled")) == 1

    # Another signed-in user on the same IP is limited too: the limit is per IP, not per session.
    neighbour = await signed_in_browser(h, "bob", client_ip="203.0.113.7")
    blocked = await enter_code(neighbour, str(body["user_code"]))
    assert blocked.status_code == 429
    # Elsewhere the right code still works.
    elsewhere = await signed_in_browser(h, "bob", client_ip="198.51.100.9")
    confirmation = await enter_code(elsewhere, str(body["user_code"]))
    assert confirmation.status_code == 200 and 'action="/device/decision"' in confirmation.text


@pytest.mark.sec("SEC-37")
async def test_submitted_codes_are_limited_per_user_across_ips(h: Harness) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    for n in range(5):
        browser = await signed_in_browser(h, "alice", client_ip=f"198.51.100.{n + 1}")
        assert (await enter_code(browser, "BCDF-GHJK")).status_code == 400
    browser = await signed_in_browser(h, "alice", client_ip="198.51.100.99")
    assert (await enter_code(browser, str(body["user_code"]))).status_code == 429


@pytest.mark.sec("SEC-37")
async def test_a_user_without_access_to_the_application_cannot_approve(
    h: Harness, clock: FrozenClock
) -> None:
    client = await cli_client(h, scopes=("docs:read",))
    body = await started(h, client, "docs:read")
    browser = await signed_in_browser(h, "bob")  # bob does not hold docs:read
    refused = await enter_code(browser, str(body["user_code"]))
    assert refused.status_code == 403
    assert error_of(refused) == "Your account may not give this application access."
    assert 'action="/device/decision"' not in refused.text
    assert (await poll(h, client, str(body["device_code"]))).json()["error"] == "authorization_pending"


@pytest.mark.sec("SEC-37")
async def test_the_page_shows_only_what_the_user_can_grant(h: Harness, clock: FrozenClock) -> None:
    client = await cli_client(h)
    body = await started(h, client, "openid docs:read items:read")
    browser = await signed_in_browser(h, "alice")  # holds docs:read, not items:read
    confirmation = await enter_code(browser, str(body["user_code"]))
    assert "read documents" in confirmation.text and "items:read" not in confirmation.text
    await decide(browser, confirmation, "approve")
    tokens = await poll(h, client, str(body["device_code"]))
    assert tokens.status_code == 200 and tokens.json()["scope"] == "openid docs:read"


@pytest.mark.sec("SEC-13")
async def test_the_decision_needs_csrf_our_origin_and_the_confirmation_seal(
    h: Harness, clock: FrozenClock
) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    browser = await signed_in_browser(h, "alice")
    confirmation = await enter_code(browser, str(body["user_code"]))
    fields = {**hidden_fields(confirmation), "decision": "approve"}
    for data, headers in [
        ({**fields, "csrf_token": ""}, {}),
        ({**fields, "csrf_token": "A" * 43}, {}),
        (fields, {"Origin": "https://evil.example"}),
        (fields, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}),
    ]:
        assert (await browser.post("/device/decision", data=data, headers=headers)).status_code == 403
    # The seal binds the page to its session, code and scopes: another session, a widened scope
    # or another code does not pass, and the Approve form is no way to try codes.
    other = await signed_in_browser(h, "alice")
    other_token = form_token(await other.get("/device"))
    stolen = await other.post("/device/decision", data={**fields, "csrf_token": other_token})
    assert stolen.status_code == 400 and "no longer valid" in error_of(stolen)
    for changed in ({"scopes": SCOPE + " items:read"}, {"user_code": "BCDF-GHJK"}, {"confirmation": ""}):
        tampered = await browser.post("/device/decision", data={**fields, **changed})
        assert tampered.status_code == 400, changed
    assert (await browser.post("/device/decision", data={**fields, "decision": "maybe"})).status_code == 400
    assert (await poll(h, client, str(body["device_code"]))).json()["error"] == "authorization_pending"
    assert (await browser.post("/device/decision", data=fields)).status_code == 200


@pytest.mark.sec("SEC-13")
async def test_the_code_form_needs_csrf_and_a_session(h: Harness) -> None:
    client = await cli_client(h)
    body = await started(h, client)
    anonymous = h.client()
    answer = await anonymous.post("/device", data={"user_code": str(body["user_code"])})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=%2Fdevice%3Fuser_code%3D")
    assert (await anonymous.get("/device?user_code=<script>")).headers["location"] == "/login?next=%2Fdevice"
    browser = await signed_in_browser(h, "alice")
    no_token = await browser.post("/device", data={"user_code": str(body["user_code"])})
    assert no_token.status_code == 403
    evil = await browser.post(
        "/device",
        data={"csrf_token": form_token(await browser.get("/device")), "user_code": str(body["user_code"])},
        headers={"Origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    junk = await browser.get("/device?user_code=%3Cscript%3E")
    assert junk.status_code == 200 and "<script>" not in junk.text
    empty = await browser.post("/device", data={"csrf_token": form_token(junk), "user_code": ""})
    assert empty.status_code == 400 and error_of(empty) == "Enter the code shown on your device."


@pytest.mark.sec("SEC-33")
@pytest.mark.sec("SEC-40")
@pytest.mark.sec("SEC-69")
async def test_device_authorization_request_errors(h: Harness) -> None:
    public = await cli_client(h)
    confidential = await register_client(
        h, "tv", grant_types=("urn:ietf:params:oauth:grant-type:device_code",)
    )
    no_device = await register_client(h, "web", grant_types=("authorization_code",))

    wrong_secret = await h.http.post(
        "/device_authorization", data={"scope": "openid"}, auth=("tv", "not-the-secret")
    )
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    assert wrong_secret.headers["www-authenticate"].startswith("Basic")
    assert wrong_secret.headers["cache-control"] == "no-store"
    assert (await start_device(h, confidential, "openid")).status_code == 200

    refused = await start_device(h, no_device, "openid")
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    bad_scope = await start_device(h, public, "admin:everything")
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    as_json = await h.http.post("/device_authorization", json={"client_id": "cli"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    repeated = await h.http.post(
        "/device_authorization",
        content="client_id=cli&scope=openid&scope=profile",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    assert (await h.http.get("/device_authorization")).status_code == 405


@pytest.mark.sec("SEC-37")
async def test_on_redis_two_workers_share_the_codes_and_the_limit(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    clock = FrozenClock()
    async with (
        make_app(tmp_path, database_url, clock=clock, redis_url=redis_url) as one,
        make_app(tmp_path, database_url, clock=clock, redis_url=redis_url) as two,  # same secret, DB
    ):
        alice = await add_user(one.services, "alice", roles=["viewer"])
        client = await cli_client(one)
        body = await started(one, client)  # issued by one worker, verified and redeemed at the other
        on_one = await signed_in_browser(one, "alice", client_ip="203.0.113.50")
        on_two = await signed_in_browser(two, "alice", client_ip="203.0.113.50")
        for browser in (on_one, on_two, on_one, on_two, on_one):
            assert (await enter_code(browser, "BCDF-GHJK")).status_code == 400
        assert (await enter_code(on_two, str(body["user_code"]))).status_code == 429  # one limit for both

        elsewhere = await signed_in_browser(two, "alice", client_ip="198.51.100.50")
        await two.services.limiter.clear(USER_CODE_ATTEMPTS, "device-code-user", alice.id)
        confirmation = await enter_code(elsewhere, str(body["user_code"]))
        assert (await decide(elsewhere, confirmation, "approve")).status_code == 200
        answers = await asyncio.gather(
            poll(one, client, str(body["device_code"])), poll(two, client, str(body["device_code"]))
        )
        assert sorted(a.status_code for a in answers) == [200, 400]


@pytest.mark.sec("SEC-37")
async def test_approval_never_grants_more_than_the_page_showed(h: Harness, clock: FrozenClock) -> None:
    client = await cli_client(h)
    body = await started(h, client, "openid docs:read")
    browser = await signed_in_browser(h, "alice")
    confirmation = await enter_code(browser, str(body["user_code"]))
    assert "read documents" in confirmation.text
    await add_user(h.services, "alice", roles=[])  # alice loses docs:read while the page is open
    shown_again = await decide(browser, confirmation, "approve")
    assert shown_again.status_code == 200 and 'action="/device/decision"' in shown_again.text
    assert "read documents" not in shown_again.text
    assert (await poll(h, client, str(body["device_code"]))).json()["error"] == "authorization_pending"
    assert "Device connected" in (await decide(browser, shown_again, "approve")).text
    clock.advance(5)
    tokens = await poll(h, client, str(body["device_code"]))
    assert tokens.status_code == 200 and tokens.json()["scope"] == "openid"


@pytest.mark.sec("SEC-37")
@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("event", ["password_change", "admin_sign_out"])
async def test_an_approval_given_before_the_users_tokens_were_revoked_mints_nothing(
    h: Harness, clock: FrozenClock, event: str
) -> None:
    """compose/not_before.py: the device flow's approval counts as the authorization, as a code's
    issue does — an approval older than the user's not-before mints nothing, and one given
    afterwards works, even from the session a password change keeps (signed in before it)."""
    client = await cli_client(h)
    browser = h.client()
    token = await login(browser, "alice")
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None
    first = await started(h, client)
    await decide(browser, await enter_code(browser, str(first["user_code"])), "approve")
    clock.advance(1)
    if event == "password_change":
        changed = await browser.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
            headers=csrf(token),
        )
        assert changed.status_code == 200, changed.text
    else:
        await h.services.accounts.sign_out_everywhere(alice.id)
        browser = h.client()
        await login(browser, "alice")
    clock.advance(5)
    refused = await poll(h, client, str(first["device_code"]))
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant"), refused.text

    clock.advance(1)
    second = await started(h, client)
    await decide(browser, await enter_code(browser, str(second["user_code"])), "approve")
    clock.advance(5)
    granted = await poll(h, client, str(second["device_code"]))
    assert granted.status_code == 200, granted.text
