"""OpenID Connect Core §2 and §3.1.3.6: signing ID tokens.

The token is a JWS signed by PyJWT with the key ring's active key for the client's registered
`id_token_signed_response_alg` (RS256 unless the client asked for ES256 or EdDSA; OIDC Core §15.1
makes RS256 mandatory to support). Header `typ: JWT` with the key's `kid`, so a relying party finds
the key in the JWKS and an ID token can never pass where an `at+jwt` access token is expected.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt

from ostiary.core.clock import Clock
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.tokens.keys import KeyRing

ID_TOKEN_TYP = "JWT"
# Claims the signer owns; `extra_claims` may add others (user claims) but never replace these.
RESERVED_ID_TOKEN_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "at_hash", "c_hash", "amr", "acr"}
    | {"sid", "azp", "jti"}
)

# §3.1.3.6: the hash of the JOSE algorithm. For EdDSA the OpenID errata and the EdDSA registration
# settled on the curve's hash: SHA-512 for Ed25519 (the only EdDSA curve we generate).
_HASH_OF_ALG: dict[str, Callable[[bytes], Any]] = {
    "RS256": hashlib.sha256,
    "ES256": hashlib.sha256,
    "PS256": hashlib.sha256,
    "EdDSA": hashlib.sha512,
}


def token_hash(value: str, alg: str) -> str:
    """`at_hash` / `c_hash`: base64url of the left half of the hash of the ASCII value."""
    try:
        digest = _HASH_OF_ALG[alg](value.encode("ascii")).digest()
    except KeyError:
        raise ValueError(f"no token hash is defined here for {alg!r}") from None
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


class IdTokenSigner:
    def __init__(self, issuer: str, keyring: Callable[[], KeyRing], clock: Clock) -> None:
        if not issuer:
            raise ValueError("an issuer is required")
        self._issuer = issuer
        self._keyring = keyring
        self._clock = clock

    def sign(
        self,
        *,
        client: Client,
        subject: str,
        lifetime: int,
        auth_time: float | None = None,
        nonce: str | None = None,
        amr: Sequence[str] = (),
        acr: str | None = None,
        sid: str | None = None,
        access_token: str | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """The signed ID token for `client`. Raises LookupError when no key signs its algorithm."""
        if not subject:
            raise ValueError("a subject is required")
        if lifetime <= 0:
            raise ValueError("the ID-token lifetime must be positive")
        extra = dict(extra_claims or {})
        clash = RESERVED_ID_TOKEN_CLAIMS.intersection(extra)
        if clash:
            raise ValueError(f"extra_claims may not set {sorted(clash)}")
        alg = client.id_token_signed_response_alg
        key = self._keyring().signing_key_for(alg)
        iat = math.floor(self._clock.now())
        claims: dict[str, Any] = {
            **extra,
            "iss": self._issuer,
            "sub": subject,
            "aud": client.client_id,
            "exp": iat + lifetime,
            "iat": iat,
            # §2: azp is the party the token was issued to; with a single audience it is optional,
            # but stating it costs nothing and helps RPs that always check it.
            "azp": client.client_id,
        }
        if auth_time is not None:
            claims["auth_time"] = math.floor(auth_time)
        if nonce is not None:
            claims["nonce"] = nonce  # echoed byte for byte (SEC-43)
        if access_token is not None:
            claims["at_hash"] = token_hash(access_token, alg)
        if amr:
            claims["amr"] = list(amr)
        if acr is not None:
            claims["acr"] = acr
        if sid is not None:
            claims["sid"] = sid
        return jwt.encode(
            claims, key.private_key, algorithm=key.alg, headers={"typ": ID_TOKEN_TYP, "kid": key.kid}
        )
