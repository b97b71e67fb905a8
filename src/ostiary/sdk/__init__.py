"""Resource-server toolkit: accept ostiary access tokens in a FastAPI or Starlette API.

Verify JWT access tokens locally against the issuer's cached JWKS (`JwtAccessTokenVerifier`), or
ask the issuer about opaque ones (`IntrospectionClient`); guard routes with `OstiaryAuth.require`.
Depends on `ostiary.core` only (import-linter contract), plus httpx, PyJWT (JWK parsing), joserfc
(signature checks) and Starlette.
See docs/sdk.md.
"""

from ostiary.core.jwt_verify import InvalidToken
from ostiary.sdk.dependencies import OstiaryAuth
from ostiary.sdk.discovery import ProviderMetadata, from_discovery
from ostiary.sdk.errors import DiscoveryError, VerificationUnavailable
from ostiary.sdk.introspection import IntrospectionClient
from ostiary.sdk.jwks import JwksCache
from ostiary.sdk.token_info import TokenInfo, TokenValidator
from ostiary.sdk.verifier import JwtAccessTokenVerifier

__all__ = [
    "DiscoveryError",
    "IntrospectionClient",
    "InvalidToken",
    "JwksCache",
    "JwtAccessTokenVerifier",
    "OstiaryAuth",
    "ProviderMetadata",
    "TokenInfo",
    "TokenValidator",
    "VerificationUnavailable",
    "from_discovery",
]
