"""RFC 8414 §2 and OpenID Connect Discovery 1.0 §3: server metadata, derived from what is enabled.

The same document is served at `/.well-known/oauth-authorization-server` and
`/.well-known/openid-configuration`. It is built from `ProviderFeatures`, which the wiring fills
from the handlers it actually constructed (`TokenEndpoint.grant_types_supported`, the routes it
mounted), so nothing is advertised that is not enabled (SEC-42): a switched-off endpoint has no
path, and no `*_supported` list names a thing the server would refuse. Inconsistent features (a code
grant without an authorization endpoint, ID tokens without RS256) are refused when built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary.oauth2.authorization_response import RESPONSE_MODES_SUPPORTED
from ostiary.oauth2.pkce import CODE_CHALLENGE_METHODS_SUPPORTED
from ostiary.oidc.claims import claims_supported

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ID_TOKEN_ALGS = ("RS256", "ES256", "EdDSA")
# Claims every ID token or UserInfo answer may carry besides the scope claims (OIDC Core §2, §5.1).
_ID_TOKEN_CLAIMS = ("iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr", "sid", "azp")


@dataclass(frozen=True)
class ProviderFeatures:
    """What this server has switched on. Paths are relative to the issuer; None means off."""

    issuer: str
    grant_types: tuple[str, ...]  # TokenEndpoint.grant_types_supported
    scopes: tuple[str, ...]  # every scope a client can be registered for
    jwks_path: str = "/.well-known/jwks.json"
    token_path: str = "/oauth2/token"
    authorization_path: str | None = None
    userinfo_path: str | None = None
    introspection_path: str | None = None
    revocation_path: str | None = None
    end_session_path: str | None = None
    device_authorization_path: str | None = None
    token_endpoint_auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post", "none")
    id_token_signing_algs: tuple[str, ...] = ID_TOKEN_ALGS

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")) or self.issuer.endswith("/"):
            raise ValueError("the issuer is an http(s) URL without a trailing slash (RFC 8414 §2)")
        for path in self.endpoint_paths().values():
            if path is not None and not path.startswith("/"):
                raise ValueError(f"endpoint paths start with '/': {path!r}")
        if ("authorization_code" in self.grant_types) != (self.authorization_path is not None):
            raise ValueError("the code grant and the authorization endpoint go together")
        if (DEVICE_CODE_GRANT in self.grant_types) != (self.device_authorization_path is not None):
            raise ValueError("the device grant and the device authorization endpoint go together")
        if not set(self.id_token_signing_algs) <= set(ID_TOKEN_ALGS):
            raise ValueError(f"ID tokens are signed with {ID_TOKEN_ALGS} only (never 'none')")
        if self.openid and "RS256" not in self.id_token_signing_algs:
            raise ValueError("an OpenID provider must support RS256 ID tokens (OIDC Core §15.1)")

    @property
    def openid(self) -> bool:
        return "openid" in self.scopes

    def url(self, path: str) -> str:
        return self.issuer + path

    def endpoint_paths(self) -> dict[str, str | None]:
        return {
            "jwks_uri": self.jwks_path,
            "token_endpoint": self.token_path,
            "authorization_endpoint": self.authorization_path,
            "userinfo_endpoint": self.userinfo_path if self.openid else None,
            "introspection_endpoint": self.introspection_path,
            "revocation_endpoint": self.revocation_path,
            "end_session_endpoint": self.end_session_path if self.openid else None,
            "device_authorization_endpoint": self.device_authorization_path,
        }


def build_metadata(features: ProviderFeatures) -> dict[str, Any]:
    """The metadata document: RFC 8414 members, plus the OpenID ones when `openid` is a scope."""
    meta: dict[str, Any] = {"issuer": features.issuer}
    meta.update({name: features.url(path) for name, path in features.endpoint_paths().items() if path})
    meta["scopes_supported"] = list(features.scopes)
    meta["grant_types_supported"] = list(features.grant_types)
    meta["token_endpoint_auth_methods_supported"] = list(features.token_endpoint_auth_methods)
    code_flow = features.authorization_path is not None
    # RFC 8414 §2 requires the member; without an authorization endpoint there is no response type.
    meta["response_types_supported"] = ["code"] if code_flow else []
    if code_flow:
        meta["response_modes_supported"] = list(RESPONSE_MODES_SUPPORTED)
        meta["code_challenge_methods_supported"] = list(CODE_CHALLENGE_METHODS_SUPPORTED)  # SEC-27
        meta["authorization_response_iss_parameter_supported"] = True  # RFC 9207, SEC-38
    confidential_methods = [m for m in features.token_endpoint_auth_methods if m != "none"]
    if features.introspection_path is not None:
        # RFC 7662 §2.1: only authenticated clients may introspect.
        meta["introspection_endpoint_auth_methods_supported"] = confidential_methods
    if features.revocation_path is not None:
        meta["revocation_endpoint_auth_methods_supported"] = list(features.token_endpoint_auth_methods)
    if features.openid:
        meta["subject_types_supported"] = ["public"]
        meta["id_token_signing_alg_values_supported"] = list(features.id_token_signing_algs)
        meta["claims_supported"] = list(claims_supported(features.scopes)) + list(_ID_TOKEN_CLAIMS)
        meta["claims_parameter_supported"] = False
        # OIDC Discovery §3 defaults request_uri_parameter_supported to true: say that we refuse it.
        meta["request_parameter_supported"] = False
        meta["request_uri_parameter_supported"] = False
    return meta
