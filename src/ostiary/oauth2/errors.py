"""RFC 6749 §5.2 and §4.1.2.1: OAuth 2.0 error responses, one class per error code.

Each error renders itself: `to_json()` is the §5.2 body, `status` the HTTP status and `headers` the
§5.1 cache headers (plus `WWW-Authenticate` for a Basic client-authentication failure, §5.2 / RFC 7235
§4.1). `to_redirect_params()` is the §4.1.2.1 query/form parameters; the caller adds `state` and `iss`.
Every class subclasses `OstiaryError` so that the global error handler still renders one that escapes.
"""

from __future__ import annotations

import re
from typing import ClassVar

from ostiary.core.errors import OstiaryError

NO_STORE_HEADERS: dict[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E (no `"`, no `\`, no controls).
_NOT_ALLOWED_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def _clean_description(text: str) -> str:
    return _NOT_ALLOWED_IN_DESCRIPTION.sub("?", text)[:500]


class OAuthError(OstiaryError):
    """Base of every protocol error; `code` is the RFC `error` value."""

    status: int = 400
    code: str = "invalid_request"
    description: ClassVar[str] = "The request is invalid."

    def __init__(self, description: str | None = None, *, error_uri: str | None = None) -> None:
        super().__init__(_clean_description(description or type(self).description))
        self.error_uri = error_uri

    @property
    def error(self) -> str:
        return self.code

    @property
    def error_description(self) -> str:
        return self.message

    @property
    def headers(self) -> dict[str, str]:
        return dict(NO_STORE_HEADERS)

    def to_json(self) -> dict[str, str]:
        body = {"error": self.code, "error_description": self.message}
        if self.error_uri:
            body["error_uri"] = self.error_uri
        return body

    def to_redirect_params(self) -> dict[str, str]:
        return self.to_json()


class InvalidRequest(OAuthError):
    code = "invalid_request"
    description = "The request is missing a parameter, repeats one, or is otherwise malformed."


class InvalidClient(OAuthError):
    """§5.2: client authentication failed. 401, with a Basic challenge when Basic was attempted."""

    status = 401
    code = "invalid_client"
    description = "Client authentication failed."

    def __init__(
        self,
        description: str | None = None,
        *,
        www_authenticate: str | None = None,
        error_uri: str | None = None,
    ) -> None:
        super().__init__(description, error_uri=error_uri)
        self.www_authenticate = www_authenticate

    @property
    def headers(self) -> dict[str, str]:
        headers = dict(NO_STORE_HEADERS)
        if self.www_authenticate:
            headers["WWW-Authenticate"] = self.www_authenticate
        return headers


class InvalidGrant(OAuthError):
    code = "invalid_grant"
    description = "The authorization grant is invalid, expired, revoked or was issued to another client."


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"
    description = "The client is not allowed to use this grant or response type."


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"
    description = "The grant type is not supported."


class InvalidScope(OAuthError):
    code = "invalid_scope"
    description = "The requested scope is invalid, unknown, malformed or not allowed."


class AccessDenied(OAuthError):
    code = "access_denied"
    description = "The resource owner or the server denied the request."


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"
    description = "Only response_type=code is supported."


class ServerError(OAuthError):
    status = 500
    code = "server_error"
    description = "The server could not complete the request."


class TemporarilyUnavailable(OAuthError):
    status = 503
    code = "temporarily_unavailable"
    description = "The server is temporarily unavailable. Try again shortly."


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a redirect URI refused at registration (admin API, DCR)."""

    code = "invalid_redirect_uri"
    description = "The redirect URI is not acceptable."


# OpenID Connect Core §3.1.2.6: errors of prompt handling, delivered to the redirect URI.
class LoginRequired(OAuthError):
    code = "login_required"
    description = "The user must sign in."


class ConsentRequired(OAuthError):
    code = "consent_required"
    description = "The user must consent."


class InteractionRequired(OAuthError):
    code = "interaction_required"
    description = "The user must interact with the server."


class RequestNotSupported(OAuthError):
    code = "request_not_supported"
    description = "Request objects are not supported."


class RequestUriNotSupported(OAuthError):
    code = "request_uri_not_supported"
    description = "request_uri is not supported."


# RFC 8628 §3.5: device-grant polling errors.
class AuthorizationPending(OAuthError):
    code = "authorization_pending"
    description = "The user has not yet approved the request."


class SlowDown(OAuthError):
    code = "slow_down"
    description = "Polling too fast; increase the interval by 5 seconds."


class ExpiredToken(OAuthError):
    code = "expired_token"
    description = "The device code has expired."
