"""RFC 6749 §5.2 / §4.1.2.1: errors render themselves."""

from __future__ import annotations

import pytest

from ostiary.core.errors import OstiaryError
from ostiary.oauth2 import errors as e

CODES = {
    e.InvalidRequest: ("invalid_request", 400),
    e.InvalidClient: ("invalid_client", 401),
    e.InvalidGrant: ("invalid_grant", 400),
    e.UnauthorizedClient: ("unauthorized_client", 400),
    e.UnsupportedGrantType: ("unsupported_grant_type", 400),
    e.InvalidScope: ("invalid_scope", 400),
    e.AccessDenied: ("access_denied", 400),
    e.UnsupportedResponseType: ("unsupported_response_type", 400),
    e.ServerError: ("server_error", 500),
    e.TemporarilyUnavailable: ("temporarily_unavailable", 503),
    e.LoginRequired: ("login_required", 400),
    e.ConsentRequired: ("consent_required", 400),
    e.InteractionRequired: ("interaction_required", 400),
    e.AuthorizationPending: ("authorization_pending", 400),
    e.SlowDown: ("slow_down", 400),
    e.ExpiredToken: ("expired_token", 400),
}


@pytest.mark.rfc("RFC 6749 §5.2")
@pytest.mark.sec("SEC-40")
@pytest.mark.parametrize(("cls", "expected"), CODES.items(), ids=lambda v: getattr(v, "__name__", ""))
def test_each_error_renders_its_code_status_and_no_store(
    cls: type[e.OAuthError], expected: tuple[str, int]
) -> None:
    err = cls()
    assert (err.error, err.status) == expected
    body = err.to_json()
    assert body["error"] == expected[0]
    assert body["error_description"]
    assert err.headers["Cache-Control"] == "no-store"
    assert err.headers["Pragma"] == "no-cache"
    assert isinstance(err, OstiaryError)  # the global handler still renders a stray one


@pytest.mark.sec("SEC-33")
@pytest.mark.rfc("RFC 6749 §5.2")
def test_invalid_client_carries_the_basic_challenge_only_when_given() -> None:
    assert "WWW-Authenticate" not in e.InvalidClient().headers
    err = e.InvalidClient(www_authenticate='Basic realm="ostiary"')
    assert err.headers["WWW-Authenticate"] == 'Basic realm="ostiary"'
    assert err.status == 401


@pytest.mark.rfc("RFC 6749 §5.2")
def test_description_is_limited_to_the_allowed_characters() -> None:
    err = e.InvalidRequest('bad "quote" \\ and\nnewline é')
    assert set(err.error_description) <= {chr(c) for c in range(0x20, 0x7F)} - {'"', "\\"}
