"""RFC 6749 §5.1: what a grant hands to token issuance, and what it gets back.

The protocol core decides *whether* and *what* to issue; `TokenMinter` (bound by `compose` to the
RFC 9068 JWT issuer or opaque tokens, the refresh-token families and the OIDC ID-token signer)
decides *how*. `GrantRevoker` kills every token of a grant when a code is replayed (SEC-29).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ostiary.oauth2.scopes import format_scope
from ostiary.storage.interfaces.oauth_clients import Client

# A client acting for itself gets a subject in its own namespace, so it can never equal a user's
# `sub` (SEC-32). User subjects must therefore never start with this prefix.
CLIENT_SUBJECT_PREFIX = "client:"


def client_subject(client_id: str) -> str:
    return f"{CLIENT_SUBJECT_PREFIX}{client_id}"


@dataclass(frozen=True)
class GrantContext:
    """Everything issuance may depend on; built by a grant after all its checks passed."""

    client: Client
    grant_type: str
    grant_id: str  # every token minted for this context carries it, for revocation by grant
    subject: str  # the user id, or `client:<client_id>` for client_credentials
    scope: tuple[str, ...]  # the granted scopes, already intersected
    user_id: str | None = None  # None when the client acts for itself
    auth_time: float | None = None
    amr: tuple[str, ...] = ()
    acr: str | None = None
    nonce: str | None = None
    sid: str | None = None
    refresh_token_allowed: bool = False  # the minter may still decline (e.g. no offline_access)
    # The refresh_token grant has already rotated the presented token: hand this successor back
    # instead of starting a new family (RFC 9700 §4.14.2).
    rotated_refresh_token: str | None = None
    # When the user gave this authorization (an authorization code's issue, a device-flow approval's
    # decision): the minter refuses it if the user has since gone, been disabled or had their tokens
    # revoked (a not-before after it).
    authorized_at: float | None = None
    # The grant id was made by this very request (client_credentials, password): nobody can know
    # it, let alone have revoked it, so the minter may skip the revoked-grant reads (hot path).
    new_grant: bool = False


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: tuple[str, ...]  # the granted scope, always stated in the response (RFC 6749 §5.1)
    token_type: str = "Bearer"
    refresh_token: str | None = None
    id_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": format_scope(self.scope),
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body


class TokenMinter(Protocol):
    async def mint(self, ctx: GrantContext) -> TokenSet:
        """Issue (and persist the digests of) the tokens for `ctx`."""
        ...


class GrantRevoker(Protocol):
    async def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token issued under `grant_id`, and keep it revoked.

        It must also refuse tokens minted for this grant *after* the call: a replay can race
        the first redemption and be detected before that redemption has minted its tokens.
        """
        ...
