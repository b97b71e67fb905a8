"""OpenID Connect RP-Initiated Logout 1.0 §2–3: validating a logout request at `end_session`.

- `id_token_hint` must be an ID token *we* signed (signature with one of our keys, algorithm pinned
  to the key, our `iss`, `typ` JWT or none). It may have expired — §2 asks the OP to accept those
  from a recent session — but a forged or foreign one is an error, never "no hint" (SEC-46).
- `client_id`, when sent with a hint, must be one of the hint's audiences.
- `post_logout_redirect_uri` is followed only if it is, byte for byte, one of the identified
  client's registered `post_logout_redirect_uris` (§3); otherwise the request is refused and
  nothing redirects. `state` goes back only with that redirect.
- Without a valid hint the logout may have been started by any page, so a signed-in user confirms
  it (`requires_confirmation`, SEC-46); with a hint whose subject is not the signed-in user, too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier, VerificationKey
from ostiary.oauth2.errors import InvalidRequest
from ostiary.oauth2.requests import (
    FORM_CONTENT_TYPE,
    OAuthRequest,
    Params,
    media_type,
    reject_overlap,
    reject_repeated,
    single,
)
from ostiary.storage.interfaces.oauth_clients import Client, ClientStore


@dataclass(frozen=True)
class LogoutRequest:
    """A valid logout request. The web layer ends the session (after confirmation if required)."""

    requires_confirmation: bool
    client: Client | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    subject: str | None = None  # the hint's `sub`
    sid: str | None = None  # the hint's `sid`, to end that session and notify its clients

    @property
    def redirect_to(self) -> str | None:
        """Where to send the browser after logout: the registered URI with `state` appended."""
        uri = self.post_logout_redirect_uri
        if uri is None or self.state is None:
            return uri
        separator = "&" if urlsplit(uri).query else "?"
        return f"{uri}{separator}{urlencode({'state': self.state})}"


def logout_params(request: OAuthRequest) -> Params:
    """§2: GET (query) or POST (form); no parameter repeated or sent both ways (SEC-69)."""
    method = request.method.upper()
    if method == "GET":
        reject_repeated(request.query)
        return request.query
    if method != "POST":
        raise InvalidRequest("The logout endpoint accepts GET and POST.")
    if media_type(request) != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"The request body must be {FORM_CONTENT_TYPE}.")
    reject_overlap(request.query, request.form)
    reject_repeated(request.form)
    return request.form


class LogoutValidator:
    def __init__(
        self,
        issuer: str,
        keys: Callable[[], Mapping[str, VerificationKey]],
        clients: ClientStore,
        clock: Clock,
    ) -> None:
        # Every check but expiry: a logout hint may be old, never forged.
        self._hints = JwtVerifier(issuer, None, keys, expected_typ=None, clock=clock, allow_expired=True)
        self._clients = clients

    async def validate(self, request: OAuthRequest, *, session_user_id: str | None) -> LogoutRequest:
        """The validated request, or `InvalidRequest` (shown on a page; nothing redirects).

        `session_user_id` is the signed-in user of the browser, None when there is no session (then
        there is nothing to end and nothing to confirm).
        """
        params = logout_params(request)
        hint = self._verified_hint(single(params, "id_token_hint"))
        client = await self._client(single(params, "client_id"), hint)
        redirect_uri = single(params, "post_logout_redirect_uri")
        if redirect_uri is not None:
            if client is None:
                raise InvalidRequest("post_logout_redirect_uri needs a client_id or an id_token_hint.")
            if redirect_uri not in client.post_logout_redirect_uris:
                raise InvalidRequest("post_logout_redirect_uri is not registered for this client.")
        subject = hint.get("sub") if hint is not None else None
        sid = hint.get("sid") if hint is not None else None
        return LogoutRequest(
            requires_confirmation=session_user_id is not None
            and (hint is None or subject != session_user_id),
            client=client,
            post_logout_redirect_uri=redirect_uri,
            state=single(params, "state") if redirect_uri is not None else None,
            subject=subject if isinstance(subject, str) else None,
            sid=sid if isinstance(sid, str) else None,
        )

    def _verified_hint(self, token: str | None) -> dict[str, Any] | None:
        if token is None:
            return None
        try:
            return self._hints.verify(token)
        except InvalidToken:
            raise InvalidRequest("The id_token_hint is not a valid ID token of this server.") from None

    async def _client(self, client_id: str | None, hint: Mapping[str, Any] | None) -> Client | None:
        if hint is not None:
            audiences = _audiences(hint.get("aud"))
            if client_id is None:
                azp = hint.get("azp")
                client_id = azp if isinstance(azp, str) else (audiences[0] if len(audiences) == 1 else None)
            if client_id is None or client_id not in audiences:
                raise InvalidRequest("The id_token_hint was issued to another client.")
        if client_id is None:
            return None
        client = await self._clients.get(client_id)
        if client is None or client.disabled:
            raise InvalidRequest("Unknown client_id.")
        return client


def _audiences(aud: object) -> list[str]:
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []
