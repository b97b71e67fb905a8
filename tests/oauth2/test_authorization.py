"""RFC 6749 §4.1.1 / §4.1.2.1: the authorization request's table of checks (SEC-24, 26, 27, 31, 34, 38, 69)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from ostiary.oauth2.authorization import (
    PAGE_CHECKS,
    REDIRECT_CHECKS,
    AuthorizationRequest,
    PageError,
    RedirectError,
    validate_authorization_request,
)
from ostiary.storage.memory.oauth_clients import MemoryClientStore

from ._support import CHALLENGE, ISSUER, WEB_CB, web_client
from .test_redirect_uris import SEC_24_VARIANTS

Params = dict[str, list[str]]


def good(**changes: str | list[str] | None) -> Params:
    params: dict[str, str | list[str] | None] = {
        "client_id": "web-app",
        "redirect_uri": WEB_CB,
        "response_type": "code",
        "scope": "openid items:read",
        "state": "st-123",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return {k: [v] if isinstance(v, str) else v for k, v in params.items() if v is not None}


async def validate(
    clients: MemoryClientStore, params: Params
) -> AuthorizationRequest | RedirectError | PageError:
    return await validate_authorization_request(params, clients, issuer=ISSUER)


def test_the_table_is_ordered_and_named() -> None:
    assert [c.__name__ for c in PAGE_CHECKS] == ["check_client", "check_redirect_uri"]
    assert REDIRECT_CHECKS[0].__name__ == "read_state"
    assert REDIRECT_CHECKS[1].__name__ == "check_response_mode"


async def test_a_good_request_validates(clients: MemoryClientStore) -> None:
    result = await validate(clients, good(prompt="login consent", max_age="300", login_hint="ann"))
    assert isinstance(result, AuthorizationRequest)
    assert result.redirect_uri == WEB_CB and result.redirect_uri_provided
    assert result.scope == ("openid", "items:read")
    assert (result.state, result.nonce, result.max_age) == ("st-123", "n-1", 300)
    assert result.prompt == frozenset({"login", "consent"})
    assert result.code_challenge == CHALLENGE and result.response_mode == "query"


@pytest.mark.sec("SEC-24")
@pytest.mark.rfc("RFC 6749 §4.1.2.1")
@pytest.mark.parametrize("redirect_uri", SEC_24_VARIANTS)
async def test_unregistered_redirect_uris_are_page_errors(
    clients: MemoryClientStore, redirect_uri: str
) -> None:
    result = await validate(clients, good(redirect_uri=redirect_uri or [""]))
    if redirect_uri == "":
        # blank means omitted (§3.1); with one registered URI that one is used, never the blank
        assert isinstance(result, AuthorizationRequest) and result.redirect_uri == WEB_CB
        return
    assert isinstance(result, PageError) and result.status == 400


@pytest.mark.sec("SEC-24")
@pytest.mark.parametrize(
    "params",
    [
        good(client_id="unknown"),
        good(client_id=None),
        good(client_id=["web-app", "web-app"]),
        good(redirect_uri=[WEB_CB, "https://evil.tld/cb"]),
        good(redirect_uri=[WEB_CB, WEB_CB]),
        good(client_id="unknown", response_type="token"),  # the later error must not win
    ],
    ids=["unknown", "missing", "dup-client", "dup-redirect", "dup-same-redirect", "unknown+token"],
)
async def test_errors_before_the_redirect_uri_is_trusted_never_redirect(
    clients: MemoryClientStore, params: Params
) -> None:
    assert isinstance(await validate(clients, params), PageError)


@pytest.mark.sec("SEC-24")
async def test_disabled_client_is_a_page_error(clients: MemoryClientStore) -> None:
    await clients.update(replace(web_client(), disabled=True))
    assert isinstance(await validate(clients, good()), PageError)


async def test_redirect_uri_may_be_omitted_only_with_one_registered(clients: MemoryClientStore) -> None:
    result = await validate(clients, good(redirect_uri=None))
    assert isinstance(result, AuthorizationRequest) and not result.redirect_uri_provided
    await clients.update(replace(web_client(), redirect_uris=(WEB_CB, "https://app.example.com/cb2")))
    assert isinstance(await validate(clients, good(redirect_uri=None)), PageError)


async def redirect_error(clients: MemoryClientStore, params: Params) -> RedirectError:
    result = await validate(clients, params)
    assert isinstance(result, RedirectError), result
    assert result.redirect_uri == WEB_CB
    return result


@pytest.mark.sec("SEC-31")
@pytest.mark.rfc("RFC 9700 §2.1.2")
@pytest.mark.parametrize(
    "response_type",
    [
        "token",
        "id_token token",
        "code token",
        "code id_token token",
        "id_token",
        "code id_token",
        "code code",
    ],
)
async def test_token_bearing_response_types_are_unsupported(
    clients: MemoryClientStore, response_type: str
) -> None:
    err = await redirect_error(clients, good(response_type=response_type))
    assert err.error.error == "unsupported_response_type"
    assert err.state == "st-123" and err.issuer == ISSUER


@pytest.mark.sec("SEC-31")
async def test_missing_response_type_and_clients_without_the_code_flow(clients: MemoryClientStore) -> None:
    assert (await redirect_error(clients, good(response_type=None))).error.error == "invalid_request"
    await clients.update(replace(web_client(), grant_types=("client_credentials",)))
    assert (await redirect_error(clients, good())).error.error == "unauthorized_client"


@pytest.mark.sec("SEC-31")
@pytest.mark.parametrize("mode", ["fragment", "form_post.jwt", "jwt", "query.jwt", "web_message"])
async def test_only_query_and_form_post_response_modes(clients: MemoryClientStore, mode: str) -> None:
    err = await redirect_error(clients, good(response_mode=mode))
    assert err.error.error == "invalid_request" and err.response_mode == "query"


async def test_form_post_mode_carries_later_errors(clients: MemoryClientStore) -> None:
    err = await redirect_error(clients, good(response_mode="form_post", scope="nothing-allowed"))
    assert err.response_mode == "form_post" and err.error.error == "invalid_scope"


@pytest.mark.sec("SEC-27")
@pytest.mark.rfc("RFC 7636 §4.4.1")
@pytest.mark.parametrize(
    "changes",
    [
        {"code_challenge": None},
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": "too-short"},
    ],
)
async def test_pkce_is_required_and_s256_only(
    clients: MemoryClientStore, changes: dict[str, str | None]
) -> None:
    assert (await redirect_error(clients, good(**changes))).error.error == "invalid_request"


@pytest.mark.sec("SEC-27")
async def test_pkce_is_required_for_confidential_clients_too(clients: MemoryClientStore) -> None:
    assert web_client().is_confidential
    assert (await redirect_error(clients, good(code_challenge=None))).error.error == "invalid_request"


@pytest.mark.sec("SEC-34")
@pytest.mark.rfc("RFC 6749 §3.3")
async def test_scopes_are_downscoped_to_the_client(clients: MemoryClientStore) -> None:
    result = await validate(clients, good(scope="openid admin:all items:read items:write"))
    assert isinstance(result, AuthorizationRequest)
    assert result.scope == ("openid", "items:read")


@pytest.mark.sec("SEC-34")
@pytest.mark.parametrize("scope", [None, "admin:all", 'bad"scope', "a\\b"])
async def test_no_grantable_or_malformed_scope_is_invalid_scope(
    clients: MemoryClientStore, scope: str | None
) -> None:
    assert (await redirect_error(clients, good(scope=scope))).error.error == "invalid_scope"


@pytest.mark.sec("SEC-69")
@pytest.mark.parametrize("name", ["scope", "response_type", "code_challenge", "nonce", "prompt"])
async def test_repeated_parameters_after_the_redirect_check(clients: MemoryClientStore, name: str) -> None:
    params = good()
    params[name] = [*params.get(name, ["x"]), "other"]
    err = await redirect_error(clients, params)
    assert err.error.error == "invalid_request" and err.state == "st-123"


@pytest.mark.sec("SEC-69")
async def test_a_repeated_state_is_not_echoed(clients: MemoryClientStore) -> None:
    err = await redirect_error(clients, good(state=["a", "b"]))
    assert err.error.error == "invalid_request" and err.state is None


@pytest.mark.parametrize(
    "changes",
    [{"prompt": "none login"}, {"prompt": "bogus"}, {"max_age": "-1"}, {"max_age": "soon"}],
)
async def test_bad_prompt_and_max_age(clients: MemoryClientStore, changes: dict[str, str]) -> None:
    assert (await redirect_error(clients, good(**changes))).error.error == "invalid_request"


@pytest.mark.parametrize(
    ("name", "code"), [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")]
)
async def test_request_objects_are_not_supported(clients: MemoryClientStore, name: str, code: str) -> None:
    assert (await redirect_error(clients, good(**{name: "eyJ..."}))).error.error == code


@pytest.mark.sec("SEC-26")
@pytest.mark.sec("SEC-38")
@pytest.mark.rfc("RFC 9207 §2")
async def test_redirect_errors_render_with_error_state_and_iss(clients: MemoryClientStore) -> None:
    err = await redirect_error(clients, good(scope="admin:all"))
    response = err.response()
    assert response.status == 303 and response.location is not None
    assert response.location.startswith(WEB_CB + "?")
    query = parse_qs(urlsplit(response.location).query)
    assert query["error"] == ["invalid_scope"]
    assert query["state"] == ["st-123"]
    assert query["iss"] == [ISSUER]
    assert "error_description" in query
