"""RFC 6749 §4.1.1 / §4.1.2.1: validating the authorization request, as one ordered table of checks.

The table has two halves (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2, SEC-24/26): until the client and its
redirect URI are known good, an error is a `PageError` — shown on the server's own page and never
redirected, because redirecting to an unvalidated URI is an open redirect that leaks codes. After
that, an error is a `RedirectError` for the validated URI, carrying `error`, `state` and `iss`.
Each check is a small named step that reads parameters and fills the draft; the first to raise wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ostiary.oauth2.authorization_response import (
    RESPONSE_MODES_SUPPORTED,
    AuthorizationResponse,
    ResponseMode,
    build_authorization_response,
)
from ostiary.oauth2.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from ostiary.oauth2.pkce import check_code_challenge
from ostiary.oauth2.redirect_uris import find_redirect_uri
from ostiary.oauth2.requests import Params, reject_repeated, single
from ostiary.oauth2.scopes import intersect, parse_scope
from ostiary.storage.interfaces.oauth_clients import Client, ClientStore

PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})


@dataclass(frozen=True)
class AuthorizationRequest:
    """A valid request, ready for login and consent. `scope` is requested ∩ client-allowed."""

    client: Client
    redirect_uri: str
    redirect_uri_provided: bool
    response_mode: ResponseMode
    scope: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    state: str | None = None
    nonce: str | None = None
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None


@dataclass(frozen=True)
class PageError:
    """Show `error` on an HTML page with `status`; never redirect (SEC-24)."""

    error: OAuthError
    status: int = 400


@dataclass(frozen=True)
class RedirectError:
    """Send `error` to the validated redirect URI with `state` and `iss` (SEC-26, SEC-38)."""

    error: OAuthError
    redirect_uri: str
    response_mode: ResponseMode
    issuer: str
    state: str | None = None

    def response(self, *, script_nonce: str | None = None) -> AuthorizationResponse:
        params = {**self.error.to_redirect_params(), "state": self.state}
        return build_authorization_response(
            self.redirect_uri, params, self.response_mode, self.issuer, script_nonce=script_nonce
        )


@dataclass
class _Draft:
    params: Params
    clients: ClientStore
    client: Client | None = None
    redirect_uri: str | None = None
    redirect_uri_provided: bool = False
    response_mode: ResponseMode = "query"
    state: str | None = None
    scope: tuple[str, ...] = ()
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    prompt: frozenset[str] = field(default_factory=frozenset)
    max_age: int | None = None


Check = Callable[[_Draft], Awaitable[None]]


# ---------------------------------------------------------------- before the redirect URI is trusted


async def check_client(d: _Draft) -> None:
    single(d.params, "redirect_uri")  # repeated → refused here too, before anything is trusted
    client_id = single(d.params, "client_id")
    if client_id is None:
        raise InvalidRequest("The client_id parameter is missing.")
    client = await d.clients.get(client_id)
    if client is None or client.disabled:
        raise InvalidClient("Unknown client.")
    d.client = client


async def check_redirect_uri(d: _Draft) -> None:
    client = _client(d)
    requested = single(d.params, "redirect_uri")
    if requested is None:
        # RFC 6749 §3.1.2.3: optional only when exactly one URI is registered.
        if len(client.redirect_uris) != 1:
            raise InvalidRequest("The redirect_uri parameter is missing.")
        d.redirect_uri = client.redirect_uris[0]
        return
    found = find_redirect_uri(requested, client.redirect_uris, client.application_type)
    if found is None:
        raise InvalidRequest("The redirect_uri is not registered for this client.")
    d.redirect_uri, d.redirect_uri_provided = found, True


# ------------------------------------------------------------------ after: errors go to the client


async def read_state(d: _Draft) -> None:
    d.state = single(d.params, "state")


async def check_response_mode(d: _Draft) -> None:
    mode = single(d.params, "response_mode") or "query"
    if mode not in RESPONSE_MODES_SUPPORTED:
        raise InvalidRequest("response_mode must be query or form_post.")
    d.response_mode = mode


async def check_no_repeated_params(d: _Draft) -> None:
    reject_repeated(d.params)  # SEC-69: e.g. two `scope`s, one validated and the other used


async def check_no_request_object(d: _Draft) -> None:
    if single(d.params, "request") is not None:
        raise RequestNotSupported()
    if single(d.params, "request_uri") is not None:
        raise RequestUriNotSupported()


async def check_response_type(d: _Draft) -> None:
    value = single(d.params, "response_type")
    if value is None:
        raise InvalidRequest("The response_type parameter is missing.")
    if value.split(" ") != ["code"]:
        raise UnsupportedResponseType()  # SEC-31: no token ever goes through the front channel
    client = _client(d)
    if "code" not in client.response_types or "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("This client may not use the authorization code flow.")


async def check_pkce(d: _Draft) -> None:
    challenge = single(d.params, "code_challenge")
    d.code_challenge_method = check_code_challenge(challenge, single(d.params, "code_challenge_method"))
    d.code_challenge = challenge


async def check_scope(d: _Draft) -> None:
    requested = parse_scope(single(d.params, "scope"))
    if not requested:
        raise InvalidScope("The scope parameter is missing.")
    d.scope = intersect(requested, _client(d).scopes)  # SEC-34: downscoped, shown at consent
    if not d.scope:
        raise InvalidScope("None of the requested scopes is allowed for this client.")


async def check_prompt(d: _Draft) -> None:
    values = frozenset(parse_scope(single(d.params, "prompt")))  # same space-delimited grammar
    if not values <= PROMPT_VALUES:
        raise InvalidRequest("Unsupported prompt value.")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")  # OIDC §3.1.2.1
    d.prompt = values


async def check_max_age(d: _Draft) -> None:
    value = single(d.params, "max_age")
    if value is None:
        return
    if not value.isdigit() or len(value) > 10:
        raise InvalidRequest("max_age must be a non-negative integer.")
    d.max_age = int(value)


PAGE_CHECKS: tuple[Check, ...] = (check_client, check_redirect_uri)
REDIRECT_CHECKS: tuple[Check, ...] = (
    read_state,
    check_response_mode,
    check_no_repeated_params,
    check_no_request_object,
    check_response_type,
    check_pkce,
    check_scope,
    check_prompt,
    check_max_age,
)


def _client(d: _Draft) -> Client:
    if d.client is None:
        raise RuntimeError("check_client must run first")
    return d.client


async def validate_authorization_request(
    params: Params, clients: ClientStore, *, issuer: str
) -> AuthorizationRequest | RedirectError | PageError:
    """Run the table in order. Parameters come from `requests.authorization_request_params`."""
    d = _Draft(params=params, clients=clients)
    for check in PAGE_CHECKS:
        try:
            await check(d)
        except OAuthError as exc:
            return PageError(exc)
    client, redirect_uri = _client(d), d.redirect_uri
    assert redirect_uri is not None  # check_redirect_uri set it or raised
    for check in REDIRECT_CHECKS:
        try:
            await check(d)
        except OAuthError as exc:
            return RedirectError(exc, redirect_uri, d.response_mode, issuer, d.state)
    assert d.code_challenge is not None  # check_pkce set both or raised
    assert d.code_challenge_method is not None
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_provided=d.redirect_uri_provided,
        response_mode=d.response_mode,
        scope=d.scope,
        code_challenge=d.code_challenge,
        code_challenge_method=d.code_challenge_method,
        state=d.state,
        nonce=single(params, "nonce"),
        prompt=d.prompt,
        max_age=d.max_age,
        login_hint=single(params, "login_hint"),
    )
