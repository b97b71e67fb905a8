"""Wiring of the OAuth endpoints beside /authorize and /token (docs/oauth.md).

The device authorization endpoint and its verification step (RFC 8628), introspection (RFC 7662),
revocation (RFC 7009), UserInfo (OIDC Core §5.3) and the RP-initiated logout validator, all built on
the stores, token inspector and revoker of an `OAuthWiring` — nothing here owns a store of its own.

The device grant and its endpoints go together (SEC-42: discovery never names a grant no client
could complete): building these endpoints registers `DeviceCodeGrant` on the token endpoint unless
the wiring registered it already, so the grant is on exactly when the device pages are served.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.compose.oauth import OAuthWiring
from ostiary.core.secrets import InstanceSecret, constant_time_equals, hmac_sha256_hex
from ostiary.oauth2.device import DEVICE_CODE_GRANT_TYPE, DeviceAuthorizationEndpoint, DeviceVerification
from ostiary.oauth2.endpoints.introspection import IntrospectionEndpoint
from ostiary.oauth2.endpoints.revocation import RevocationEndpoint
from ostiary.oauth2.grants.device_code import DeviceCodeGrant
from ostiary.oidc.logout import LogoutValidator
from ostiary.oidc.userinfo import UserById, UserInfoEndpoint

DEVICE_CONFIRMATION_PURPOSE = "oauth2.device-confirmation"
# SEC-37 (RFC 8628 §5.1): user codes a browser may submit per minute, per IP and per signed-in
# user. Every submission counts, right or wrong, as at the login form: a limit checked only after
# a wrong code would still answer the guess that went past it.
USER_CODE_ATTEMPTS = "5/minute"


@dataclass(frozen=True)
class DeviceConfirmations:
    """Seals the confirmation page of a user code to the session and the scopes it showed.

    The Approve/Deny form must not become a second, unthrottled way to test user codes, nor be
    replayed from another browser: its decision is accepted only with this seal, which only the
    page shown after a (counted) successful look-up carries.
    """

    key: bytes

    def seal(self, session_digest: str, user_code: str, scopes: str) -> str:
        return hmac_sha256_hex(self.key, f"ostiary-device|{session_digest}|{user_code}|{scopes}")

    def valid(self, seal: str | None, session_digest: str, user_code: str, scopes: str) -> bool:
        return bool(seal) and constant_time_equals(seal or "", self.seal(session_digest, user_code, scopes))


@dataclass(frozen=True)
class OAuthEndpoints:
    device_authorization: DeviceAuthorizationEndpoint
    device_verification: DeviceVerification
    device_confirmations: DeviceConfirmations
    introspection: IntrospectionEndpoint
    revocation: RevocationEndpoint
    userinfo: UserInfoEndpoint
    logout: LogoutValidator
    user_code_attempts: str = USER_CODE_ATTEMPTS


def build_oauth_endpoints(
    wiring: OAuthWiring,
    *,
    users: UserById,
    secret: InstanceSecret,
    verification_uri: str,
    user_code_attempts: str = USER_CODE_ATTEMPTS,
) -> OAuthEndpoints:
    """`verification_uri` is the absolute URL of the device verification page (RFC 8628 §3.2)."""
    if DEVICE_CODE_GRANT_TYPE not in wiring.token_endpoint.grant_types_supported:
        wiring.token_endpoint.register(
            DeviceCodeGrant(wiring.devices, wiring.minter, wiring.users, wiring.clock)
        )
    keys = wiring.tokens.keys
    return OAuthEndpoints(
        device_authorization=DeviceAuthorizationEndpoint(
            wiring.authenticator, wiring.devices, wiring.clock, verification_uri=verification_uri
        ),
        device_verification=DeviceVerification(wiring.devices, wiring.clock, wiring.users),
        device_confirmations=DeviceConfirmations(secret.derive(DEVICE_CONFIRMATION_PURPOSE)),
        introspection=IntrospectionEndpoint(wiring.authenticator, wiring.inspector),
        revocation=RevocationEndpoint(wiring.authenticator, wiring.inspector, wiring.revoker),
        userinfo=UserInfoEndpoint(wiring.inspector, users),
        logout=LogoutValidator(
            wiring.issuer, lambda: keys.ring().verification_keys(), wiring.clients, wiring.clock
        ),
        user_code_attempts=user_code_attempts,
    )
