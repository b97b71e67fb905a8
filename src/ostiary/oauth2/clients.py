"""RFC 6749 §2.3: client secrets and client authentication at the token endpoint (SEC-33).

Secrets are 256-bit random strings, stored only as an HMAC-SHA256 digest under a server key: they
carry full entropy, so a password KDF would add cost and nothing else (DESIGN.md, hot paths), and
the keyed digest makes a stolen table useless without the key. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from ostiary.core.secrets import constant_time_equals, hmac_sha256_hex, random_token
from ostiary.oauth2.errors import InvalidClient, InvalidRequest
from ostiary.oauth2.requests import OAuthRequest, single
from ostiary.storage.interfaces.oauth_clients import (
    Client,
    ClientLifetimes,
    ClientStore,
    TokenEndpointAuthMethod,
)

__all__ = [
    "Client",
    "ClientAuthenticator",
    "ClientLifetimes",
    "ClientSecretHasher",
    "ClientStore",
    "parse_basic_credentials",
]

CLIENT_SECRET_BYTES = 32  # 256 bits
# What the hasher's key is derived for (`InstanceSecret.derive`): one name for every place that
# registers secrets (the registry) and every place that checks them (the token endpoint).
CLIENT_SECRET_PURPOSE = "oauth2.client-secret"


class ClientSecretHasher:
    """HMAC-SHA256 digests of client secrets under one server key (derive it: InstanceSecret)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the client-secret key must have at least 32 bytes")
        self._key = key

    def digest(self, secret: str) -> str:
        return hmac_sha256_hex(self._key, secret)

    def verify(self, secret: str, digest: str) -> bool:
        return constant_time_equals(self.digest(secret), digest)

    def generate(self) -> tuple[str, str]:
        """A new secret (shown once) and the digest to store."""
        secret = random_token(CLIENT_SECRET_BYTES)
        return secret, self.digest(secret)


@dataclass(frozen=True)
class _Credentials:
    client_id: str
    secret: str | None
    method: TokenEndpointAuthMethod


def parse_basic_credentials(header: str) -> tuple[str, str] | None:
    """§2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`; None if not Basic at all.

    Both halves are form-urlencoded before base64 (so a `:` in an id survives), hence decoded here.
    A Basic header that does not parse raises `InvalidClient` with the challenge.
    """
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("Malformed Basic credentials.", www_authenticate="Basic")
    return unquote_plus(client_id), unquote_plus(secret)


class ClientAuthenticator:
    """Authenticates the client of a token-endpoint request, or raises `InvalidClient` (401)."""

    def __init__(self, store: ClientStore, hasher: ClientSecretHasher, *, realm: str = "ostiary") -> None:
        self._store = store
        self._hasher = hasher
        self._challenge = f'Basic realm="{realm}"'
        # Compared against when the client is unknown, so unknown and known ids cost the same.
        self._decoy_digest = hasher.digest(random_token(CLIENT_SECRET_BYTES))

    async def authenticate(self, request: OAuthRequest, params: Mapping[str, list[str]]) -> Client:
        credentials = self._credentials(request, params)
        challenge = self._challenge if credentials.method != "client_secret_post" else None
        client = await self._store.get(credentials.client_id)
        if credentials.secret is not None:
            digest = client.secret_digest if client and client.secret_digest else self._decoy_digest
            secret_ok = self._hasher.verify(credentials.secret, digest)
        else:
            secret_ok = True  # method "none": checked below against the client's registration
        if (
            client is None
            or client.disabled
            or client.token_endpoint_auth_method != credentials.method
            or not secret_ok
        ):
            raise InvalidClient(www_authenticate=challenge)
        return client

    def _credentials(self, request: OAuthRequest, params: Mapping[str, list[str]]) -> _Credentials:
        body_id = single(params, "client_id")
        body_secret = single(params, "client_secret")
        header = request.header("authorization")
        basic = parse_basic_credentials(header) if header else None
        if basic is not None:
            if body_secret is not None:
                # §2.3: a client MUST NOT use more than one authentication method per request.
                raise InvalidRequest("Use one client authentication method, not several.")
            if body_id is not None and body_id != basic[0]:
                raise InvalidRequest("client_id does not match the authenticated client.")
            return _Credentials(basic[0], basic[1], "client_secret_basic")
        if body_id is None:
            raise InvalidClient("Client authentication is required.", www_authenticate=self._challenge)
        if body_secret is not None:
            return _Credentials(body_id, body_secret, "client_secret_post")
        return _Credentials(body_id, None, "none")
