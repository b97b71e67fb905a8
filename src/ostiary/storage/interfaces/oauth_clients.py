"""OAuth 2.0 clients at rest (RFC 6749 §2, RFC 7591 §2 metadata). A secret is only an HMAC digest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

TokenEndpointAuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
AccessTokenFormat = Literal["jwt", "opaque"]
ApplicationType = Literal["web", "native"]
IdTokenAlg = Literal["RS256", "ES256", "EdDSA"]


@dataclass(frozen=True)
class ClientLifetimes:
    """Per-client token lifetimes in seconds; the server caps them (access tokens ≤ 1 h, SEC-40)."""

    access_token: int = 600
    refresh_token: int = 30 * 24 * 3600  # absolute lifetime of a refresh-token family
    refresh_token_idle: int = 14 * 24 * 3600
    id_token: int = 600
    authorization_code: int = 60

    def __post_init__(self) -> None:
        if not 0 < self.access_token <= 3600:
            raise ValueError("access-token lifetime must be 1..3600 seconds (SEC-40)")
        if not 0 < self.authorization_code <= 600:
            raise ValueError("authorization-code lifetime must be 1..600 seconds (RFC 6749 §4.1.2)")
        if min(self.refresh_token, self.refresh_token_idle, self.id_token) <= 0:
            raise ValueError("lifetimes must be positive")


@dataclass(frozen=True)
class Client:
    """A registered client. `secret_digest` None ⇔ a public client authenticating with `none`."""

    client_id: str
    name: str
    secret_digest: str | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code",)
    response_types: tuple[str, ...] = ("code",)
    scopes: tuple[str, ...] = ()  # the scopes this client may ever be granted
    token_endpoint_auth_method: TokenEndpointAuthMethod = "client_secret_basic"
    access_token_format: AccessTokenFormat = "jwt"
    first_party: bool = False  # skips consent
    post_logout_redirect_uris: tuple[str, ...] = ()
    application_type: ApplicationType = "web"
    id_token_signed_response_alg: IdTokenAlg = "RS256"  # OIDC Registration §2; RS256 is the default
    lifetimes: ClientLifetimes = field(default_factory=ClientLifetimes)
    disabled: bool = False
    created_at: float = 0.0
    # Access tokens of this client issued before this instant are refused (set when the client is
    # disabled or its secret rotated; compose/not_before.py). None: never.
    tokens_not_before: float | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is required")
        if (self.secret_digest is None) != (self.token_endpoint_auth_method == "none"):
            raise ValueError("a public client has no secret and uses 'none'; a confidential one has both")

    @property
    def is_confidential(self) -> bool:
        return self.secret_digest is not None


class ClientStore(Protocol):
    async def get(self, client_id: str) -> Client | None: ...

    async def add(self, client: Client) -> None:
        """Insert a new client; a duplicate `client_id` raises `ostiary.core.errors.Conflict`."""
        ...

    async def update(self, client: Client) -> None:
        """Replace a client by `client_id`; a missing one raises `ostiary.core.errors.NotFound`."""
        ...

    async def list(self) -> list[Client]:
        """Every client, ordered by `client_id`."""
        ...
