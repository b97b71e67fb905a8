"""RFC 6749 §4.1.2: approving or refusing a validated request (SEC-26, SEC-34, SEC-38, SEC-41)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.authorization import AuthorizationRequest, validate_authorization_request
from ostiary.oauth2.authorization_decision import (
    approve_authorization,
    consent_required,
    deny_authorization,
    login_required,
)
from ostiary.oauth2.codes import AuthorizationCodeIssuer, code_digest
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.oauth_codes import MemoryAuthorizationCodeStore

from ._support import CHALLENGE, ISSUER, WEB_CB


async def valid_request(clients: MemoryClientStore, **extra: str) -> AuthorizationRequest:
    params = {
        "client_id": ["web-app"],
        "redirect_uri": [WEB_CB],
        "response_type": ["code"],
        "scope": ["openid items:read"],
        "state": ["s1"],
        "nonce": ["n1"],
        "code_challenge": [CHALLENGE],
        "code_challenge_method": ["S256"],
        **{k: [v] for k, v in extra.items()},
    }
    result = await validate_authorization_request(params, clients, issuer=ISSUER)
    assert isinstance(result, AuthorizationRequest)
    return result


def query_of(location: str | None) -> dict[str, list[str]]:
    assert location is not None and location.startswith(WEB_CB + "?")
    return parse_qs(urlsplit(location).query)


@pytest.mark.sec("SEC-38")
@pytest.mark.rfc("RFC 6749 §4.1.2")
async def test_approval_issues_a_bound_code(
    clients: MemoryClientStore,
    code_issuer: AuthorizationCodeIssuer,
    code_store: MemoryAuthorizationCodeStore,
    clock: FrozenClock,
) -> None:
    request = await valid_request(clients)
    resp = await approve_authorization(
        request,
        user_id="u1",
        auth_time=clock.now() - 5,
        codes=code_issuer,
        issuer=ISSUER,
        amr=("pwd",),
        sid="sid1",
    )
    query = query_of(resp.location)
    assert query["state"] == ["s1"] and query["iss"] == [ISSUER]
    record = await code_store.consume(code_digest(query["code"][0]))
    assert record is not None
    assert (record.client_id, record.user_id, record.redirect_uri) == ("web-app", "u1", WEB_CB)
    assert (record.code_challenge, record.code_challenge_method, record.nonce) == (CHALLENGE, "S256", "n1")
    assert record.scope == ("openid", "items:read") and record.amr == ("pwd",) and record.sid == "sid1"
    assert record.expires_at - record.issued_at == 60


@pytest.mark.sec("SEC-34")
async def test_user_scope_filter_narrows_the_grant(
    clients: MemoryClientStore, code_issuer: AuthorizationCodeIssuer, code_store: MemoryAuthorizationCodeStore
) -> None:
    seen: list[tuple[str, tuple[str, ...]]] = []

    async def only_openid(user_id: str, scopes: tuple[str, ...]) -> Iterable[str]:
        seen.append((user_id, scopes))
        return {"openid", "something-else"}

    request = await valid_request(clients)
    resp = await approve_authorization(
        request, user_id="u1", auth_time=0, codes=code_issuer, issuer=ISSUER, user_scope_filter=only_openid
    )
    assert seen == [("u1", ("openid", "items:read"))]
    record = await code_store.consume(code_digest(query_of(resp.location)["code"][0]))
    assert record is not None and record.scope == ("openid",)


@pytest.mark.sec("SEC-34")
async def test_nothing_grantable_to_the_user_is_invalid_scope(
    clients: MemoryClientStore, code_issuer: AuthorizationCodeIssuer
) -> None:
    async def nothing(user_id: str, scopes: tuple[str, ...]) -> Iterable[str]:
        return ()

    request = await valid_request(clients)
    resp = await approve_authorization(
        request, user_id="u1", auth_time=0, codes=code_issuer, issuer=ISSUER, user_scope_filter=nothing
    )
    query = query_of(resp.location)
    assert query["error"] == ["invalid_scope"] and "code" not in query


@pytest.mark.sec("SEC-26")
@pytest.mark.sec("SEC-41")
@pytest.mark.rfc("OIDC Core §3.1.2.6")
@pytest.mark.parametrize(
    ("decide", "code"),
    [
        (deny_authorization, "access_denied"),
        (login_required, "login_required"),
        (consent_required, "consent_required"),
    ],
)
async def test_refusals_go_to_the_validated_uri_with_state_and_iss(
    clients: MemoryClientStore, decide: object, code: str
) -> None:
    request = await valid_request(clients, response_mode="form_post")
    resp = decide(request, ISSUER)  # type: ignore[operator]
    assert resp.response_mode == "form_post" and resp.body is not None
    assert f'name="error" value="{code}"' in resp.body
    assert 'name="state" value="s1"' in resp.body
    assert f'name="iss" value="{ISSUER}"' in resp.body
    assert f'action="{WEB_CB}"' in resp.body
