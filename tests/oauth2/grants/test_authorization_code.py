"""RFC 6749 §4.1.3 + RFC 7636 §4.6: redeeming a code at the token endpoint (SEC-28..30, SEC-75)."""

from __future__ import annotations

import asyncio

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.codes import AuthorizationCodeIssuer
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.grants import AuthorizationCodeGrant
from ostiary.storage.interfaces.oauth_codes import AuthorizationCodeRecord
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.oauth_codes import MemoryAuthorizationCodeStore

from .._support import (
    HASHER,
    WEB_CB,
    MemoryTokenService,
    basic,
    code_request,
    form_request,
    issue_code,
    web_client,
)


async def test_a_code_is_exchanged_for_tokens(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer, tokens: MemoryTokenService
) -> None:
    resp = await endpoint.handle(code_request(await issue_code(code_issuer)))
    assert resp.status == 200, resp.body
    assert resp.body["token_type"] == "Bearer" and resp.body["scope"] == "openid items:read"
    assert "refresh_token" in resp.body  # web-app is registered for refresh_token
    (ctx,) = tokens.minted
    assert (ctx.subject, ctx.user_id, ctx.client.client_id, ctx.nonce) == ("u1", "u1", "web-app", "n1")
    assert ctx.amr == ("pwd",) and ctx.refresh_token_allowed


@pytest.mark.sec("SEC-29")
@pytest.mark.rfc("RFC 6749 §4.1.2")
async def test_a_replayed_code_is_refused_and_revokes_its_tokens(
    endpoint: TokenEndpoint,
    code_issuer: AuthorizationCodeIssuer,
    tokens: MemoryTokenService,
    clock: FrozenClock,
) -> None:
    code = await issue_code(code_issuer)
    first = await endpoint.handle(code_request(code))
    assert first.status == 200
    access, refresh = first.body["access_token"], first.body["refresh_token"]
    assert tokens.is_active(access) and tokens.is_active(refresh)

    again = await endpoint.handle(code_request(code))
    assert (again.status, again.body["error"]) == (400, "invalid_grant")
    assert tokens.revoked_grants == [tokens.minted[0].grant_id]
    assert not tokens.is_active(access) and not tokens.is_active(refresh)

    clock.advance(30)  # oidcc-codereuse-30seconds
    late = await endpoint.handle(code_request(code))
    assert late.body["error"] == "invalid_grant"
    assert len(tokens.minted) == 1


@pytest.mark.sec("SEC-29")
async def test_an_unknown_code_revokes_nothing(endpoint: TokenEndpoint, tokens: MemoryTokenService) -> None:
    resp = await endpoint.handle(code_request("never-issued"))
    assert resp.body["error"] == "invalid_grant" and tokens.revoked_grants == []


@pytest.mark.sec("SEC-75")
@pytest.mark.sec("SEC-29")
async def test_twenty_concurrent_redemptions_yield_one_token_set(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer, tokens: MemoryTokenService
) -> None:
    code = await issue_code(code_issuer)
    results = await asyncio.gather(*(endpoint.handle(code_request(code)) for _ in range(20)))
    assert sorted(r.status for r in results) == [200] + [400] * 19
    assert len(tokens.minted) == 1
    assert {r.body["error"] for r in results if r.status == 400} == {"invalid_grant"}
    (winner,) = [r for r in results if r.status == 200]
    assert not tokens.is_active(winner.body["access_token"])  # the losers were replays


class _YieldingCodeStore(MemoryAuthorizationCodeStore):
    """Suspends before each consume, as a networked store would, so 20 requests overlap there."""

    async def consume(self, code_digest: str) -> AuthorizationCodeRecord | None:
        await asyncio.sleep(0)
        return await super().consume(code_digest)


@pytest.mark.sec("SEC-75")
@pytest.mark.sec("SEC-29")
async def test_overlapping_redemptions_through_a_suspending_store(
    clients: MemoryClientStore, clock: FrozenClock, tokens: MemoryTokenService
) -> None:
    store = _YieldingCodeStore(clock)
    endpoint = TokenEndpoint(
        ClientAuthenticator(clients, HASHER), [AuthorizationCodeGrant(store, tokens, tokens, clock)]
    )
    code = await issue_code(AuthorizationCodeIssuer(store, clock))
    results = await asyncio.gather(*(endpoint.handle(code_request(code)) for _ in range(20)))
    assert [r.status for r in results].count(200) == 1
    assert len(tokens.minted) == 1
    # The replays were detected before the winner minted: revocation must stick to its tokens.
    (winner,) = [r for r in results if r.status == 200]
    assert not tokens.is_active(winner.body["access_token"])


@pytest.mark.sec("SEC-30")
@pytest.mark.rfc("RFC 6749 §4.1.3")
async def test_an_expired_code_is_invalid_grant(
    endpoint: TokenEndpoint,
    code_issuer: AuthorizationCodeIssuer,
    clock: FrozenClock,
    tokens: MemoryTokenService,
) -> None:
    code = await issue_code(code_issuer)
    clock.advance(60)
    resp = await endpoint.handle(code_request(code))
    assert resp.body["error"] == "invalid_grant" and tokens.minted == []


@pytest.mark.sec("SEC-30")
async def test_a_code_of_another_client_is_invalid_grant(
    endpoint: TokenEndpoint,
    clients: MemoryClientStore,
    code_issuer: AuthorizationCodeIssuer,
    tokens: MemoryTokenService,
) -> None:
    await clients.add(web_client(client_id="other-app", secret_digest=HASHER.digest("other-secret")))
    code = await issue_code(code_issuer)
    req = code_request(code)
    req = form_request(
        {k: v[0] for k, v in req.form.items()}, headers={"Authorization": basic("other-app", "other-secret")}
    )
    resp = await endpoint.handle(req)
    assert resp.body["error"] == "invalid_grant" and tokens.minted == []


@pytest.mark.sec("SEC-30")
@pytest.mark.rfc("RFC 6749 §4.1.3")
@pytest.mark.parametrize("redirect_uri", [None, WEB_CB + "/", "https://evil.tld/cb"])
async def test_redirect_uri_must_repeat_the_authorization_request(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer, redirect_uri: str | None
) -> None:
    resp = await endpoint.handle(code_request(await issue_code(code_issuer), redirect_uri=redirect_uri))
    assert resp.body["error"] == "invalid_grant"


async def test_redirect_uri_may_be_omitted_when_the_authorization_request_omitted_it(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer
) -> None:
    code = await issue_code(code_issuer, redirect_uri_provided=False)
    assert (await endpoint.handle(code_request(code, redirect_uri=None))).status == 200
    code = await issue_code(code_issuer, redirect_uri_provided=False)
    assert (await endpoint.handle(code_request(code, redirect_uri="https://evil.tld/cb"))).status == 400


@pytest.mark.sec("SEC-28")
@pytest.mark.rfc("RFC 7636 §4.6")
@pytest.mark.parametrize(
    ("verifier", "error"),
    [
        (None, "invalid_grant"),
        ("w" * 43, "invalid_grant"),
        ("w" * 42, "invalid_request"),
        ("w" * 129, "invalid_request"),
        ("w" * 42 + "!", "invalid_request"),
    ],
)
async def test_pkce_at_the_token_endpoint(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer, verifier: str | None, error: str
) -> None:
    resp = await endpoint.handle(code_request(await issue_code(code_issuer), code_verifier=verifier))
    assert resp.body["error"] == error


@pytest.mark.sec("SEC-28")
async def test_a_malformed_verifier_does_not_burn_the_code(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer
) -> None:
    code = await issue_code(code_issuer)
    assert (await endpoint.handle(code_request(code, code_verifier="short"))).body[
        "error"
    ] == "invalid_request"
    assert (await endpoint.handle(code_request(code))).status == 200


@pytest.mark.sec("SEC-28")
@pytest.mark.rfc("RFC 9700 §4.8.2")
async def test_a_verifier_for_a_code_without_challenge_is_refused(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer
) -> None:
    code = await issue_code(code_issuer, code_challenge=None, code_challenge_method=None)
    assert (await endpoint.handle(code_request(code))).body["error"] == "invalid_grant"


@pytest.mark.sec("SEC-69")
async def test_a_repeated_code_is_invalid_request(
    endpoint: TokenEndpoint, code_issuer: AuthorizationCodeIssuer
) -> None:
    code = await issue_code(code_issuer)
    req = code_request(code)
    req = form_request(
        {**{k: v[0] for k, v in req.form.items()}, "code": [code, code]}, headers=dict(req.headers)
    )
    assert (await endpoint.handle(req)).body["error"] == "invalid_request"
